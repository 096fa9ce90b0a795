//! A cluster of one's own, through the built binary: `eoscheck cluster up`
//! keeps one running, `eoscheck run --bootstrap` tests against it with no
//! containers of its own (client-side faults only, its topics deleted
//! after), `eoscheck cleanup` leaves it alone, `eoscheck cluster down`
//! removes it (also when an assertion fails on the way).

use std::{path::Path, process::Command, time::Duration};

use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    ClientConfig,
};

/// Exit code, stdout and stderr of `eoscheck args`.
fn eoscheck(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(args)
        .output()
        .expect("the eoscheck binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let code = out.status.code().expect("exited, not killed");
    (code, text(&out.stdout), text(&out.stderr))
}

/// `eoscheck cluster down` when the test ends, however it ends.
struct Down;

impl Drop for Down {
    fn drop(&mut self) {
        let (code, out, err) = eoscheck(&["cluster", "down"]);
        eprintln!("cluster down: exit {code}: {out}{err}");
    }
}

/// The address `cluster up` ends stdout with.
fn bootstrap(stdout: &str) -> String {
    let last = stdout.lines().last().unwrap_or_default();
    let address = last.strip_prefix("bootstrap: ");
    address
        .expect("stdout ends with the bootstrap line")
        .to_owned()
}

/// The topics the cluster at `bootstrap` has now.
fn topics(bootstrap: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("a client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    metadata.topics().iter().map(|t| t.name().into()).collect()
}

#[test]
fn a_kept_cluster_serves_runs_with_bootstrap_and_outlives_cleanup() {
    let _down = Down;
    let (code, out, err) = eoscheck(&["cluster", "up"]);
    assert_eq!(code, 0, "cluster up: {err}");
    assert!(err.contains("eoscheck run --bootstrap"), "{err}");
    let address = bootstrap(&out);

    let runs = tempfile::tempdir().unwrap();
    let runs_dir = runs.path().to_str().unwrap();
    let (code, out, err) = eoscheck(&[
        "run",
        "--bootstrap",
        &address,
        "--nemesis",
        "client-crash",
        "--time-limit",
        "15",
        "--rate",
        "300",
        "--seed",
        "5",
        "--out",
        runs_dir,
        "--json",
    ]);
    let last = out.lines().last().unwrap_or_default();
    let outcome: serde_json::Value = serde_json::from_str(last).expect("a JSON last line");
    assert_eq!(
        (code, outcome["verdict"].as_str()),
        (0, Some("valid")),
        "{err}"
    );
    let dir = Path::new(outcome["run_dir"].as_str().unwrap());
    assert!(!dir.join("nodes").exists(), "no broker logs of its own");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert!(info["kafka_version"].is_null(), "{info}");
    assert_eq!(info["image"], format!("external cluster {address}"));
    let topic = info["topic"].as_str().unwrap();
    assert!(topic.starts_with("eoscheck-"), "{topic}");
    assert!(
        !topics(&address).iter().any(|t| t == topic),
        "{topic} deleted"
    );

    let (code, _, err) = eoscheck(&["run", "--bootstrap", &address, "--nemesis", "kill-leader"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("kill-leader needs the brokers' containers"),
        "{err}"
    );

    let (code, _, err) = eoscheck(&["cleanup"]);
    assert_eq!(code, 0, "cleanup: {err}");
    let (code, out, err) = eoscheck(&["cluster", "up"]);
    assert_eq!(code, 0, "cluster up again: {err}");
    assert_eq!(bootstrap(&out), address, "the same cluster, still up");
    assert!(err.contains("already there"), "{err}");

    let (code, out, _) = eoscheck(&["cluster", "down"]);
    assert_eq!(code, 0);
    assert!(out.contains("removed 3 containers, 1 networks"), "{out}");
    let (code, out, _) = eoscheck(&["cluster", "down"]);
    assert_eq!(code, 0);
    assert!(out.contains("no cluster was up"), "{out}");
}
