//! The user's own producer, on one shared real cluster: what idempotence
//! really did, read from the log (`library-defaults` leaves librdkafka's
//! idempotence off, and the finding says so without any fault); a key split
//! across partitions by a partitioner that ignores keys; and a keyed,
//! compressed workload of varied sizes that keeps its promise under ack loss,
//! whose log really holds batches of that codec.

mod common;

use std::{path::Path, sync::Arc, time::Duration};

use checker::{results::InEffect, Idempotence, Kind, Results, Validity};
use harness::{
    clients::{self, Preset, UserSettings},
    cluster::{self, BrokerImage, Cluster},
    commands::run::{self, RunConfig, Site},
    run_dir::verdict_line,
};
use nemesis::Fault;

/// One run of rdkafka on `cluster`, on a topic of its own.
struct Case {
    name: &'static str,
    preset: Preset,
    settings: &'static [&'static str],
    keys: Option<u32>,
    message_size: &'static str,
    faults: Vec<Fault>,
    seconds: u64,
}

async fn run_case(
    cluster: &Arc<Cluster>,
    image: &BrokerImage,
    case: Case,
) -> (Results, std::path::PathBuf) {
    let flags: Vec<String> = case.settings.iter().map(|s| s.to_string()).collect();
    let config = RunConfig {
        preset: case.preset,
        transactions: Default::default(),
        user: UserSettings::parse(&flags, None).unwrap(),
        client: clients::resolve(&"rdkafka".parse().unwrap()).unwrap(),
        guarantees: case.preset.guarantees(),
        faults: case.faults,
        time_limit: Duration::from_secs(case.seconds),
        rate: 500,
        producers: 2,
        partitions: 3,
        message_size: case.message_size.parse().unwrap(),
        keys: case.keys,
        processors: 0,
        mutation: None,
        seed: 5,
        image: image.clone(),
        bootstrap: None,
    };
    let dir = common::run_dir(&format!("{}-", case.name));
    let path = dir.path.clone();
    let site = Site::Shared {
        cluster: cluster.clone(),
        topic: format!("t-{}", case.name),
    };
    let code = run::run_at(site, config, dir)
        .await
        .expect("the run completes");
    let results: Results =
        serde_json::from_str(&std::fs::read_to_string(path.join("results.json")).unwrap()).unwrap();
    eprintln!("{}: {}", case.name, verdict_line(&results));
    assert_eq!(code, results.exit_code());
    assert_eq!(common::recheck_differs(&path, &results), None);
    (results, path)
}

/// The run is invalid with `count` anomalies of `kind`.
fn assert_finds(results: &Results, kind: Kind, count: u64) {
    let verdict = verdict_line(results);
    assert_eq!(results.valid, Validity::Invalid, "{verdict}");
    assert_eq!(results.anomalies.count(kind), count, "{kind}: {verdict}");
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_producer_really_did_is_read_from_the_log() {
    let (docker, image) = common::engine_and_image().await;
    let id = format!("config-{:04x}", rand::random::<u16>());
    let job = {
        let docker = docker.clone();
        async move {
            let cluster = Arc::new(Cluster::start(&docker, &id, &image.reference(), None).await?);

            // librdkafka leaves idempotence off by default: nothing else is
            // needed for the finding, no fault, no duplicate.
            let (results, dir) = run_case(
                &cluster,
                &image,
                Case {
                    name: "defaults",
                    preset: Preset::LibraryDefaults,
                    settings: &[],
                    keys: None,
                    message_size: "100",
                    faults: vec![],
                    seconds: 6,
                },
            )
            .await;
            assert_finds(&results, Kind::IdempotenceOff, 2); // one per producer
            assert_eq!(results.anomalies.count(Kind::Duplicate), 0);
            for producer in &results.idempotence {
                assert_eq!(
                    (producer.asked, producer.in_effect),
                    (Idempotence::LeftToLibrary, InEffect::No)
                );
            }
            let info = run_json(&dir);
            assert_eq!(
                info["producer_settings"],
                serde_json::json!({}),
                "nothing set"
            );
            assert_eq!(info["effective_config_source"], "library");
            assert_eq!(info["effective_config"]["enable.idempotence"], "false");

            // A partitioner that ignores keys splits them.
            let (results, _) = run_case(
                &cluster,
                &image,
                Case {
                    name: "split",
                    preset: Preset::Idempotent,
                    settings: &["partitioner=random"],
                    keys: Some(20),
                    message_size: "100",
                    faults: vec![],
                    seconds: 6,
                },
            )
            .await;
            assert_finds(&results, Kind::KeySplit, 20); // every key, with 3,000 sends
            assert_eq!(results.anomalies.count(Kind::IdempotenceOff), 0);

            // Keys placed by librdkafka's own partitioner, zstd, sizes from
            // 100 bytes to 20 KB, under ack loss: the promise holds.
            let (results, dir) = run_case(
                &cluster,
                &image,
                Case {
                    name: "keyed-zstd",
                    preset: Preset::Idempotent,
                    settings: &["compression.type=zstd", "linger.ms=20"],
                    keys: Some(50),
                    message_size: "100..20000",
                    faults: vec![Fault::AckLoss],
                    seconds: 25,
                },
            )
            .await;
            assert_eq!(results.valid, Validity::Valid, "{}", verdict_line(&results));
            assert!(results.stats.sends.ok > 5_000, "{:?}", results.stats.sends);
            assert_eq!(results.keys.len(), 50, "every key placed");
            assert!(results.keys.iter().all(|k| k.partitions.len() == 1));
            let codecs = results
                .stats
                .partitions
                .iter()
                .flat_map(|p| &p.batches_by_codec);
            let zstd: u64 = codecs.filter(|(c, _)| *c == "zstd").map(|(_, n)| n).sum();
            assert!(
                zstd > 0,
                "the raw log holds zstd batches: {:?}",
                results.stats.partitions
            );
            let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
            assert!(
                history.contains("\"fault\":\"ack-loss\""),
                "ack loss injected"
            );
            anyhow::Ok(())
        }
    };
    cluster::with_teardown(&docker, job)
        .await
        .expect("the cluster and every run");
}
