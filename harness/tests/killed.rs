//! A run killed half-way, the way an out-of-memory killer or a cancelled CI
//! job ends it (SIGKILL: no handler runs, no teardown): `eoscheck cleanup`
//! leaves nothing of it in Docker, and `eoscheck check` on its directory says
//! `unknown` (exit 2) with a reason naming what is really missing, and writes
//! the outcome into run.json, which the killed run never got to.

mod common;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};

const EOSCHECK: &str = env!("CARGO_BIN_EXE_eoscheck");
/// Sends the history must hold before the kill: the workload is under way.
const LINES_BEFORE_KILL: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_is_cleaned_up_and_checks_unknown_for_what_is_missing() {
    let (docker, _) = common::engine_and_image().await;
    let runs = tempfile::tempdir().unwrap();
    let mut run = Command::new(EOSCHECK)
        .args([
            "run",
            "--time-limit",
            "60",
            "--nemesis",
            "none",
            "--seed",
            "3",
        ])
        .arg("--out")
        .arg(runs.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = wait_for_sends(runs.path(), &mut run);
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();

    let cleanup = Command::new(EOSCHECK).arg("cleanup").output().unwrap();
    assert!(cleanup.status.success(), "{cleanup:?}");
    assert_eq!(
        left_in_docker(&docker).await,
        (0, 0),
        "containers, networks"
    );

    let check = Command::new(EOSCHECK)
        .arg("check")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(2), "{stdout}\n{check:?}");
    assert!(
        stdout.contains("verdict: unknown") && stdout.contains("the final read is missing"),
        "{stdout}"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["outcome"]["verdict"], "unknown");
    assert_eq!(record["outcome"]["exit_code"], 2);
}

/// The run's directory once its history holds [`LINES_BEFORE_KILL`] lines.
fn wait_for_sends(runs: &Path, run: &mut std::process::Child) -> PathBuf {
    let started = Instant::now();
    loop {
        assert!(run.try_wait().unwrap().is_none(), "the run ended early");
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no sends within 300 s"
        );
        let history = runs.join("latest").join("history.jsonl");
        let lines = std::fs::read_to_string(&history).map_or(0, |h| h.lines().count());
        if lines >= LINES_BEFORE_KILL {
            return std::fs::canonicalize(runs.join("latest")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// eoscheck's containers and networks still in Docker.
async fn left_in_docker(docker: &bollard::Docker) -> (usize, usize) {
    let filters = HashMap::from([("label".to_string(), vec!["eoscheck".to_string()])]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap();
    (containers.len(), networks.len())
}
