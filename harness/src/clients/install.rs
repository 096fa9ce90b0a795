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

use anyhow::{Context, Result};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};
use tracing::info;

use super::{
    library::{Library, Source},
    registry::{go_version, Resolved},
};
use crate::tools::output;

/// The driver sources, built into the binary so it works from anywhere.
static DRIVERS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../drivers");

/// An installed driver: the command that starts one producer process (for a
/// library without a producer, kafka-streams, its processor's).
#[derive(Debug, Clone)]
pub struct Installed {
    pub resolved: Resolved,
    pub dir: PathBuf,
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl Installed {
    /// The program and arguments that start one processor process of the
    /// pipeline workload, run in [`Installed::dir`] (every library has one;
    /// rdkafka's, in process, is eoscheck itself).
    pub fn processor_command(&self) -> (PathBuf, Vec<String>) {
        let library = self.resolved.library;
        let name = library.name();
        match library.source() {
            Source::Maven(..) => ("java".into(), java_args(processor_class(library))),
            // The driver binary is the processor too.
            Source::Go(_) => (self.program.clone(), vec!["-processor".into()]),
            Source::Pip(_) => (
                self.program.clone(),
                vec![format!("{}_processor.py", name.replace('-', "_"))],
            ),
            Source::Npm(_) => ("node".into(), vec![format!("{name}-processor.js")]),
            Source::InProcess => unreachable!("in-process clients have no driver"),
        }
    }
}

/// The Java main class of a library's processor.
fn processor_class(library: Library) -> &'static str {
    match library {
        Library::KafkaStreams => "StreamsProcessor",
        _ => "Processor",
    }
}

fn java_args(class: &str) -> Vec<String> {
    vec!["-cp".into(), "classes:lib/*".into(), class.into()]
}

/// Installs the driver of `resolved` unless the cache has it. In-process clients
/// need nothing and return None.
pub fn install(resolved: &Resolved) -> Result<Option<Installed>> {
    let source = resolved.library.source();
    let folders = folders(resolved.library);
    if folders.is_empty() {
        return Ok(None);
    }
    let sources = folders
        .iter()
        .map(|&folder| {
            DRIVERS
                .get_dir(folder)
                .with_context(|| format!("the {folder} drivers are missing from this build"))
        })
        .collect::<Result<Vec<_>>>()?;
    let dir = cache_root().join(format!("{}-{}", resolved, &source_hash(&sources)[..12]));
    let installed = launch_command(resolved, source, &dir);
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
    for folder in &sources {
        write_sources(folder, &partial)?;
    }
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
fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("EOSCHECK_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("eoscheck").join("clients")
}

/// The `drivers/` folders a library's install is made of, copied in this order
/// (a later one's file replaces an earlier one's): kafka-streams builds on the
/// Java driver's shared classes (`Common.java`) with a `pom.xml` of its own.
fn folders(library: Library) -> &'static [&'static str] {
    match library.source() {
        Source::InProcess => &[],
        Source::Maven(..) if library == Library::KafkaStreams => &["java", "kafka-streams"],
        Source::Maven(..) => &["java"],
        Source::Go(_) => &["go"],
        Source::Pip(_) => &["python"],
        Source::Npm(_) => &["node"],
    }
}

/// The command that starts one producer of the install in `dir`.
fn launch_command(resolved: &Resolved, source: Source, dir: &Path) -> Installed {
    let name = resolved.library.name();
    let (program, args): (PathBuf, Vec<String>) = match source {
        Source::Maven(..) if !resolved.library.has_producer() => {
            ("java".into(), java_args(processor_class(resolved.library)))
        }
        Source::Maven(..) => ("java".into(), java_args("Driver")),
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
    let missing: Vec<&str> = resolved
        .library
        .build_packages()
        .iter()
        .filter(|(_, file)| !Path::new(file).exists())
        .map(|&(package, _)| package)
        .collect();
    if !missing.is_empty() {
        crate::tools::apt_install(&missing)?;
    }
    match source {
        Source::Maven(..) => {
            output(Command::new("mvn").current_dir(dir).args([
                "-q",
                "-B",
                "dependency:copy-dependencies",
                "-DoutputDirectory=lib",
                "-DincludeScope=runtime",
                &format!("-Dkafka.clients.version={v}"),
            ]))?;
            // Every main class with the shared ones: Driver, Processor, Common, ...
            let mut sources: Vec<String> = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".java"))
                .collect();
            sources.sort();
            output(
                Command::new("javac")
                    .current_dir(dir)
                    .args(["-cp", "lib/*", "-d", "classes"])
                    .args(&sources),
            )?;
        }
        Source::Go(module) => {
            let name = resolved.library.name();
            output(
                Command::new("go")
                    .current_dir(dir)
                    .args(["get", &format!("{module}@{}", go_version(v))]),
            )?;
            output(Command::new("go").current_dir(dir).args([
                "build",
                "-o",
                &format!("driver-{name}"),
                &format!("./{name}"),
            ]))?;
        }
        Source::Pip(package) => {
            output(
                Command::new("python3")
                    .current_dir(dir)
                    .args(["-m", "venv", "venv"]),
            )?;
            output(
                Command::new(dir.join("venv/bin/pip"))
                    .current_dir(dir)
                    .args([
                        "install",
                        "-q",
                        "--disable-pip-version-check",
                        &format!("{package}=={v}"),
                    ])
                    .args(resolved.library.codec_packages()),
            )?;
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
            output(
                npm.current_dir(dir)
                    .args([
                        "install",
                        "--no-save",
                        "--no-audit",
                        "--no-fund",
                        &format!("{package}@{v}"),
                    ])
                    .args(resolved.library.codec_packages()),
            )?;
        }
        Source::InProcess => {}
    }
    Ok(())
}

/// The installation prefix of the `node` on the PATH (its headers live under it).
fn node_prefix() -> Option<PathBuf> {
    let out = output(Command::new("node").args(["-p", "process.execPath"])).ok()?;
    Some(Path::new(out.trim()).parent()?.parent()?.to_owned())
}

fn source_hash(dirs: &[&Dir<'_>]) -> String {
    let mut hasher = Sha256::new();
    let mut files = Vec::new();
    for dir in dirs {
        collect(dir, &mut files);
    }
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

    /// The file each processor command runs is among the built-in drivers
    /// (Go's processor is its driver binary's `-processor` mode, built from
    /// `processor.go` in the library's package).
    #[test]
    fn every_processor_command_runs_a_built_in_file() {
        for library in Library::ALL {
            let source = library.source();
            if source == Source::InProcess {
                continue;
            }
            let resolved = Resolved {
                library,
                version: "1.0.0".into(),
            };
            let installed = launch_command(&resolved, source, Path::new("/x"));
            let (_, args) = installed.processor_command();
            let file = match source {
                Source::Go(_) => format!("{}/processor.go", library.name()),
                Source::Maven(..) => format!("{}.java", args[2]),
                _ => args[0].clone(),
            };
            let found = folders(library)
                .iter()
                .any(|folder| DRIVERS.get_file(format!("{folder}/{file}")).is_some());
            assert!(found, "{library}: {file} is not among the drivers");
        }
    }

    #[test]
    fn every_ecosystem_has_its_drivers_built_in() {
        for library in Library::ALL {
            for folder in folders(library) {
                assert!(DRIVERS.get_dir(folder).is_some(), "drivers/{folder}");
            }
        }
    }
}
