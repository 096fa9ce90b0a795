//! The proof that the test bites, on a real cluster: under one-way ack loss an
//! at-least-once producer writes duplicates, and an idempotent producer under the
//! same fault schedule writes none. Also checks the run directory is complete.

mod common;

use std::time::Duration;

use checker::{Kind, Results, Validity};
use harness::{
    clients::{self, Preset},
    cluster::{self, BrokerImage},
    commands::run::{self, Site},
    run_dir::{self, RunDir},
};
use nemesis::Fault;

async fn run_preset(
    docker: &bollard::Docker,
    image: &BrokerImage,
    preset: Preset,
) -> (Results, RunDir) {
    let config = run::RunConfig {
        preset,
        transactions: Default::default(),
        client: clients::resolve(&"rdkafka".parse().unwrap()).unwrap(),
        guarantees: preset.guarantees(),
        faults: vec![Fault::AckLoss],
        time_limit: Duration::from_secs(40),
        rate: 1000,
        producers: 2,
        partitions: 3,
        message_size: "100".parse().unwrap(),
        keys: None,
        processors: 0,
        mutation: None,
        user: Default::default(),
        seed: 7,
        image: image.clone(),
        bootstrap: None,
    };
    let dir = common::run_dir(&format!("{preset}-"));
    let path = dir.path.clone();
    let code = cluster::with_teardown(
        docker,
        run::run_at(Site::Fresh(docker.clone()), config, dir),
    )
    .await
    .expect("the run completes");
    let results: Results =
        serde_json::from_str(&std::fs::read_to_string(path.join("results.json")).unwrap()).unwrap();
    assert_eq!(code, results.exit_code());
    assert_eq!(common::recheck_differs(&path, &results), None);
    (
        results,
        RunDir {
            id: String::new(),
            path,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_loss_duplicates_at_least_once_writes_but_not_idempotent_ones() {
    let (docker, image) = common::engine_and_image().await;

    let (loose, dir) = run_preset(&docker, &image, Preset::AtLeastOnce).await;
    let duplicates = loose.anomalies.count(Kind::Duplicate);
    eprintln!("at-least-once under ack-loss: {duplicates} duplicates");
    assert!(duplicates > 0, "retries after lost acks wrote duplicates");
    assert_eq!(
        loose.valid,
        Validity::Valid,
        "at-least-once promises no-loss only: {:?}",
        loose.violated
    );
    assert!(
        loose.stats.sends.ok > 20_000,
        "thousands of acknowledged sends"
    );
    for file in [
        "run.json",
        "history.jsonl",
        "results.json",
        "log/manifest.json",
        "nodes/kafka-1.log",
    ] {
        assert!(dir.join(file).is_file(), "{file} in the run directory");
    }
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(
        history.contains("\"type\":\"nemesis-start\",")
            && history.contains("\"fault\":\"ack-loss\"")
    );
    // The same run judged against what idempotence promises fails.
    let strict = run_dir::check_dir(
        &dir.path,
        Some(checker::Guarantee::parse_list("exactly-once").unwrap()),
    )
    .unwrap();
    assert_eq!(strict.exit_code(), 1);

    let (idempotent, _) = run_preset(&docker, &image, Preset::Idempotent).await;
    eprintln!(
        "idempotent under ack-loss: {}",
        run_dir::verdict_line(&idempotent)
    );
    assert_eq!(idempotent.anomalies.count(Kind::Duplicate), 0);
    assert_eq!(idempotent.valid, Validity::Valid);
}
