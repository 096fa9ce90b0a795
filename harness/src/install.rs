//! Installs one exact release of a client library, with its driver, into a cache
//! outside the source tree, and reuses it on every later run.
//!
//! Each install lives in `<cache>/<name>@<version>-<driver hash>/`: a changed
//! driver gets a fresh directory instead of a stale build. The install happens in
//! a `.partial-<pid>` sibling that is renamed into place only when complete, so an
//! interrupted install is never mistaken for a finished one.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::{
    command::run,
    failure::Failure,
    images::maven_versions,
    library::{ClientSpec, Library, Source},
};

/// The driver sources, built into the binary so it works from anywhere.
static DRIVERS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../drivers");

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

/// An installed driver: the command that starts one producer process.
#[derive(Debug, Clone)]
pub struct Installed {
    pub resolved: Resolved,
    pub dir: PathBuf,
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Turns `NAME[@VERSION]` into an exact release: the one asked for, after checking
/// the registry has it, or the registry's newest. Unknown versions are usage errors.
pub fn resolve(spec: &ClientSpec) -> Result<Resolved> {
    let library = spec.library;
    let version = match (library.source(), &spec.version) {
        (Source::InProcess, None) => crate::inprocess::version(),
        (Source::InProcess, Some(v)) => {
            let built = crate::inprocess::version();
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

/// Installs the driver of `resolved` unless the cache has it. In-process clients
/// need nothing and return None.
pub fn install(resolved: &Resolved) -> Result<Option<Installed>> {
    let source = resolved.library.source();
    let Some(folder) = folder(source) else {
        return Ok(None);
    };
    let sources = DRIVERS
        .get_dir(folder)
        .with_context(|| format!("the {folder} drivers are missing from this build"))?;
    let dir = cache_root().join(format!("{}-{}", resolved, &source_hash(sources)[..12]));
    let installed = command(resolved, source, &dir);
    if dir.is_dir() {
        return Ok(Some(installed));
    }
    // One work directory per process, so two runs installing the same release at
    // once do not trip over each other; the first to finish wins.
    let partial = PathBuf::from(format!("{}.partial-{}", dir.display(), std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    info!("installing {resolved} into {}", dir.display());
    let started = std::time::Instant::now();
    write_sources(sources, &partial)?;
    build(resolved, source, &partial)
        .with_context(|| format!("installing {resolved} (work in {})", partial.display()))?;
    if let Err(e) = std::fs::rename(&partial, &dir) {
        let _ = std::fs::remove_dir_all(&partial);
        if !dir.is_dir() {
            return Err(e).with_context(|| format!("moving the install into {}", dir.display()));
        }
    }
    info!(
        "installed {resolved} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(Some(installed))
}

/// Where installs are kept: `$EOSCHECK_CACHE`, else `$XDG_CACHE_HOME/eoscheck/clients`,
/// else `~/.cache/eoscheck/clients`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("EOSCHECK_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("eoscheck").join("clients")
}

fn folder(source: Source) -> Option<&'static str> {
    match source {
        Source::InProcess => None,
        Source::Maven(..) => Some("java"),
        Source::Go(_) => Some("go"),
        Source::Pip(_) => Some("python"),
        Source::Npm(_) => Some("node"),
    }
}

fn command(resolved: &Resolved, source: Source, dir: &Path) -> Installed {
    let name = resolved.library.name();
    let (program, args): (PathBuf, Vec<String>) = match source {
        Source::Maven(..) => (
            "java".into(),
            vec!["-cp".into(), "classes:lib/*".into(), "Driver".into()],
        ),
        Source::Go(_) => (dir.join(format!("driver-{name}")), vec![]),
        Source::Pip(_) => (
            dir.join("venv/bin/python"),
            vec![format!("{}_driver.py", name.replace('-', "_"))],
        ),
        Source::Npm(_) => ("node".into(), vec![format!("{name}.js")]),
        Source::InProcess => unreachable!("in-process clients have no driver"),
    };
    Installed {
        resolved: resolved.clone(),
        dir: dir.to_owned(),
        program,
        args,
    }
}

fn build(resolved: &Resolved, source: Source, dir: &Path) -> Result<()> {
    let v = &resolved.version;
    match source {
        Source::Maven(..) => {
            run(Command::new("mvn").current_dir(dir).args([
                "-q",
                "-B",
                "dependency:copy-dependencies",
                "-DoutputDirectory=lib",
                "-DincludeScope=runtime",
                &format!("-Dkafka.clients.version={v}"),
            ]))?;
            run(Command::new("javac").current_dir(dir).args([
                "-cp",
                "lib/*",
                "-d",
                "classes",
                "Driver.java",
            ]))?;
        }
        Source::Go(module) => {
            let name = resolved.library.name();
            run(Command::new("go")
                .current_dir(dir)
                .args(["get", &format!("{module}@{}", go_version(v))]))?;
            run(Command::new("go").current_dir(dir).args([
                "build",
                "-o",
                &format!("driver-{name}"),
                &format!("./{name}"),
            ]))?;
        }
        Source::Pip(package) => {
            run(Command::new("python3")
                .current_dir(dir)
                .args(["-m", "venv", "venv"]))?;
            run(Command::new(dir.join("venv/bin/pip"))
                .current_dir(dir)
                .args([
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    &format!("{package}=={v}"),
                ]))?;
        }
        Source::Npm(package) => {
            let mut npm = Command::new("npm");
            // Native addons (the librdkafka one) cannot fetch prebuilt binaries or
            // Node headers here: build against the local headers and link the
            // system's zlib/OpenSSL instead of downloading their sources.
            if let Some(prefix) = node_prefix().filter(|p| p.join("include/node/node.h").is_file())
            {
                npm.env("npm_config_nodedir", prefix);
            }
            npm.env("CKJS_LINKING", "dynamic");
            run(npm.current_dir(dir).args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                &format!("{package}@{v}"),
            ]))?;
        }
        Source::InProcess => {}
    }
    Ok(())
}

/// The installation prefix of the `node` on the PATH (its headers live under it).
fn node_prefix() -> Option<PathBuf> {
    let out = run(Command::new("node").args(["-p", "process.execPath"])).ok()?;
    Some(Path::new(out.trim()).parent()?.parent()?.to_owned())
}

/// Go module versions carry a `v`; users may write either.
fn go_version(v: &str) -> String {
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
            let v = run(Command::new("go").args([
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
        Source::Npm(package) => run(Command::new("npm").args(["view", package, "version"]))?
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
            let ok = run(Command::new("go").args([
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
            match run(Command::new("npm").args([
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
    let out = run(Command::new("python3").args([
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

fn source_hash(dir: &Dir<'_>) -> String {
    let mut hasher = Sha256::new();
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort_by_key(|f| f.path());
    for file in files {
        hasher.update(file.path().to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(file.contents());
    }
    format!("{:x}", hasher.finalize())
}

fn collect<'a>(dir: &'a Dir<'a>, files: &mut Vec<&'a include_dir::File<'a>>) {
    files.extend(dir.files());
    for sub in dir.dirs() {
        collect(sub, files);
    }
}

fn write_sources(dir: &Dir<'_>, to: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect(dir, &mut files);
    for file in files {
        // Paths inside the embedded tree start with the ecosystem folder.
        let relative = file.path().strip_prefix(dir.path())?;
        let path = to.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, file.contents())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ecosystem_has_its_drivers_built_in() {
        for library in Library::ALL {
            if let Some(folder) = folder(library.source()) {
                assert!(DRIVERS.get_dir(folder).is_some(), "drivers/{folder}");
            }
        }
    }

    #[test]
    fn go_versions_get_their_v() {
        assert_eq!(go_version("1.18.0"), "v1.18.0");
        assert_eq!(go_version("v1.18.0"), "v1.18.0");
    }
}
