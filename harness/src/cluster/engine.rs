//! The container engine: find a Docker engine that answers, or install and start one.
//!
//! Machines that run eoscheck (CI runners, fresh VMs) often have no engine running.
//! Setting one up is part of every command that needs it, so it must be idempotent
//! and quiet when everything is already there.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use bollard::Docker;
use tracing::info;

use crate::console::failure::Failure;

const DOCKERD_LOG: &str = "/var/log/eoscheck-dockerd.log";
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A client for a Docker engine that answers, installing Debian's `docker.io` and
/// starting `dockerd` first when none does.
pub async fn connect() -> Result<Docker> {
    if let Some(docker) = try_connect().await {
        return Ok(docker);
    }
    if std::env::var_os("DOCKER_HOST").is_some() {
        return Err(Failure::infrastructure(
            "DOCKER_HOST is set but no Docker engine answers there; start it, or unset DOCKER_HOST to let eoscheck start a local one",
        ));
    }
    if which("dockerd").is_none() {
        install_packages(&["docker.io", "iptables"])?;
    }
    start_dockerd()?;
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(docker) = try_connect().await {
            info!("docker engine is up");
            return Ok(docker);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(Failure::infrastructure(format!(
        "dockerd was started but did not answer within {}s; see {DOCKERD_LOG}",
        START_TIMEOUT.as_secs()
    )))
}

/// Connects and negotiates the API version: Debian's engine speaks at most API 1.41,
/// older than the client library's default.
async fn try_connect() -> Option<Docker> {
    let docker = Docker::connect_with_defaults().ok()?;
    let docker = docker.negotiate_version().await.ok()?;
    docker.ping().await.ok()?;
    Some(docker)
}

fn start_dockerd() -> Result<()> {
    require_root("start dockerd")?;
    info!("starting dockerd (log: {DOCKERD_LOG})");
    let log = File::create(DOCKERD_LOG).with_context(|| format!("creating {DOCKERD_LOG}"))?;
    let mut dockerd = Command::new("dockerd");
    dockerd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group, so Ctrl-C in this terminal does not stop the engine
        // that later commands (and the cleanup) still need.
        .process_group(0);
    // The engine outlives eoscheck: it must not keep a descriptor eoscheck
    // was handed open without close-on-exec (seen: `flock LOCK cmd`'s lock,
    // held by dockerd for good, so every later `flock` waited forever).
    // SAFETY: close_range is a system call, safe between fork and exec.
    unsafe {
        dockerd.pre_exec(|| {
            libc::close_range(3, libc::c_uint::MAX, 0);
            Ok(())
        });
    }
    dockerd
        .spawn()
        .map_err(|e| Failure::infrastructure(format!("could not start dockerd: {e}")))?;
    Ok(())
}

/// Installs Debian packages (as root: the engine needs it anyway).
pub(super) fn install_packages(packages: &[&str]) -> Result<()> {
    require_root(&format!("install {}", packages.join(" ")))?;
    crate::tools::apt_install(packages).map_err(|e| Failure::infrastructure(format!("{e:#}")))
}

fn require_root(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::infrastructure(format!(
            "eoscheck needs to {what}, which needs root; run it as root or set up Docker yourself"
        )));
    }
    Ok(())
}

pub(super) fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
