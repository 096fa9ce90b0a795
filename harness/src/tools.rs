//! Running the tools the harness builds and installs with (debootstrap, docker,
//! mvn, go, pip, npm, curl), for the cluster's images and the clients' installs
//! alike.

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Installs Debian packages with apt-get, running `apt-get update` first.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    tracing::info!("installing {} with apt-get", packages.join(" "));
    let update = Command::new("apt-get").args(["update", "-qq"]).status();
    if !matches!(update, Ok(s) if s.success()) {
        bail!(
            "apt-get update failed: Debian's package mirror must be reachable to install {}",
            packages.join(" ")
        );
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => bail!(
            "apt-get install {} failed; install them by hand and run again",
            packages.join(" ")
        ),
    }
}

/// How many lines of a failed tool's output its error keeps.
const TAIL_LINES: usize = 15;

/// Runs `cmd` to completion with no input and returns its stdout. On failure the
/// error carries the tail of what it printed, stdout first and stderr last: a
/// tool says what went wrong on stderr, at the end, and a long stdout must not
/// push that out of the tail.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {:?}; is it installed?", cmd.get_program()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        bail!(
            "{cmd:?} exited with {}:\n{}",
            out.status,
            tail(&stdout, &stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last [`TAIL_LINES`] lines of stdout followed by stderr.
fn tail(stdout: &str, stderr: &str) -> String {
    let lines: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// Every release of a Maven Central artifact, oldest first: the Kafka releases
/// a broker image can be built from, and the Java client's releases.
pub fn maven_versions(group: &str, artifact: &str) -> Result<Vec<String>> {
    let url = format!(
        "https://repo.maven.apache.org/maven2/{}/{artifact}/maven-metadata.xml",
        group.replace('.', "/")
    );
    let out = Command::new("curl")
        .args(["-fsSL", "--max-time", "15", &url])
        .output()?;
    if !out.status.success() {
        bail!("could not read {url}");
    }
    let xml = String::from_utf8_lossy(&out.stdout);
    Ok(xml
        .split("<version>")
        .skip(1)
        .filter_map(|s| s.split("</version>").next())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tool that prints a long stdout and then its error on stderr: the
    /// error is what the tail must keep.
    #[test]
    fn a_failed_tool_s_error_is_kept_after_a_long_stdout() {
        let script =
            "for i in $(seq 1 40); do echo progress $i; done; echo 'the real error' >&2; exit 3";
        let err = output(Command::new("sh").args(["-c", script])).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.ends_with("the real error"), "{text}");
        assert!(
            text.contains("progress 40") && !text.contains("progress 20\n"),
            "{text}"
        );
    }
}
