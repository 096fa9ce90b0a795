//! Which release of a client library a run tests: `NAME[@VERSION]` resolved to
//! one exact release by asking the library's registry (Maven Central, the Go
//! module proxy, PyPI, npm), before anything slow starts. A release the
//! registry does not have is a usage error that lists recent ones.

use std::process::Command;

use anyhow::{bail, Context, Result};

use super::{
    inprocess,
    library::{ClientSpec, Library, Source},
};
use crate::{
    console::failure::Failure,
    tools::{maven_versions, output},
};

/// A library release, resolved to an exact version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub library: Library,
    pub version: String,
}

impl std::fmt::Display for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.library, self.version)
    }
}

/// Turns `NAME[@VERSION]` into an exact release: the one asked for, after checking
/// the registry has it, or the registry's newest. Unknown versions are usage errors.
pub fn resolve(spec: &ClientSpec) -> Result<Resolved> {
    let library = spec.library;
    let version = match (library.source(), &spec.version) {
        (Source::InProcess, None) => inprocess::version(),
        (Source::InProcess, Some(v)) => {
            let built = inprocess::version();
            if *v != built {
                return Err(Failure::usage(format!(
                    "rdkafka runs inside eoscheck, linked at build time: only rdkafka@{built} is available (to test another librdkafka, use confluent-kafka-python@VERSION)"
                )));
            }
            built
        }
        (source, Some(v)) => {
            check_published(source, v).map_err(|e| match e.downcast::<Failure>() {
                Ok(f) => anyhow::Error::new(f),
                Err(e) => e.context(format!("checking that {library}@{v} exists")),
            })?;
            v.clone()
        }
        (source, None) => newest(source).with_context(|| {
            format!(
                "finding the newest release of {library}; name one with --client {library}@VERSION"
            )
        })?,
    };
    Ok(Resolved { library, version })
}

/// Go module versions carry a `v`; users may write either.
pub(super) fn go_version(v: &str) -> String {
    if v.starts_with('v') {
        v.to_owned()
    } else {
        format!("v{v}")
    }
}

fn newest(source: Source) -> Result<String> {
    let version = match source {
        Source::Maven(group, artifact) => {
            let versions = maven_versions(group, artifact)?;
            versions
                .into_iter()
                .filter(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .max_by(|a, b| numeric(a).cmp(&numeric(b)))
                .context("no release found")?
        }
        Source::Go(module) => {
            let v = output(Command::new("go").args([
                "list",
                "-m",
                "-f",
                "{{.Version}}",
                &format!("{module}@latest"),
            ]))?;
            v.trim().trim_start_matches('v').to_owned()
        }
        Source::Pip(package) => pip_versions(package)?
            .into_iter()
            .next()
            .context("no release found")?,
        Source::Npm(package) => output(Command::new("npm").args(["view", package, "version"]))?
            .trim()
            .to_owned(),
        Source::InProcess => unreachable!("resolved without a registry"),
    };
    if version.is_empty() {
        bail!("the registry named no release");
    }
    Ok(version)
}

fn check_published(source: Source, version: &str) -> Result<()> {
    let (published, known): (bool, Vec<String>) = match source {
        Source::Maven(group, artifact) => {
            let all = maven_versions(group, artifact)?;
            (all.iter().any(|v| v == version), all)
        }
        Source::Go(module) => {
            let ok = output(Command::new("go").args([
                "list",
                "-m",
                &format!("{module}@{}", go_version(version)),
            ]))
            .is_ok();
            (ok, vec![])
        }
        Source::Pip(package) => {
            let mut all = pip_versions(package)?;
            all.reverse();
            (all.iter().any(|v| v == version), all)
        }
        Source::Npm(package) => {
            // npm answers an unknown version with E404 and a failing exit.
            match output(Command::new("npm").args([
                "view",
                &format!("{package}@{version}"),
                "version",
            ])) {
                Ok(out) => (out.trim() == version, vec![]),
                Err(e) if format!("{e:#}").contains("E404") => (false, vec![]),
                Err(e) => return Err(e),
            }
        }
        Source::InProcess => (true, vec![]),
    };
    if published {
        return Ok(());
    }
    let recent: Vec<&str> = known.iter().rev().take(8).map(String::as_str).collect();
    Err(Failure::usage(if recent.is_empty() {
        format!("release {version} is not published; check the name and version")
    } else {
        format!(
            "release {version} is not published; recent releases: {}",
            recent.join(", ")
        )
    }))
}

/// PyPI releases, newest first, as pip sees them.
fn pip_versions(package: &str) -> Result<Vec<String>> {
    let out = output(Command::new("python3").args([
        "-m",
        "pip",
        "index",
        "versions",
        "--disable-pip-version-check",
        package,
    ]))?;
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("Available versions:"))
        .context("pip listed no versions")?;
    Ok(line.split(',').map(|v| v.trim().to_owned()).collect())
}

fn numeric(version: &str) -> Vec<u64> {
    version.split('.').filter_map(|p| p.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_versions_get_their_v() {
        assert_eq!(go_version("1.18.0"), "v1.18.0");
        assert_eq!(go_version("v1.18.0"), "v1.18.0");
    }
}
