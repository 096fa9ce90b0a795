//! Running the tools the harness builds and installs with (debootstrap, docker,
//! mvn, go, pip, npm, …).

use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Runs `cmd` to completion with no input and returns its stdout. On failure the
/// error carries the tail of what it printed, which is where these tools say what
/// went wrong.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {:?}; is it installed?", cmd.get_program()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = stderr
            .lines()
            .chain(stdout.lines())
            .rev()
            .take(15)
            .collect();
        bail!(
            "{cmd:?} exited with {}:\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
