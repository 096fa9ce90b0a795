//! Every client library, newest release, through its driver (rdkafka in process)
//! against one shared cluster: a short idempotent run with one-way ack loss, the
//! fault that turns retries into duplicates. Every other library sends keyed,
//! placed by its own default partitioner, compressed with a codec in turn; the
//! rest send to explicit partitions uncompressed, so each driver's two ways of
//! sending are both exercised across the set. Each must install from its registry,
//! speak the protocol, and keep the idempotent promise (or break it only the way
//! it is known to); the run directory must hold the driver's log. One cluster
//! serves all, each run on its own topic.

mod common;

use std::{sync::Arc, time::Duration};

use checker::{Kind, Results, Validity};
use harness::{
    clients::{self, ClientSpec, Library, Preset, UserSettings},
    cluster::{self, Cluster},
    commands::run::{self, RunConfig, Site},
    run_dir::verdict_line,
};
use nemesis::Fault;

/// The preset each library is held to. sarama refuses idempotence with more than
/// one request in flight (its own config check), so it is held to the in-flight-1
/// variant, which promises the same.
fn preset_for(library: Library) -> Preset {
    match library {
        Library::Sarama => Preset::IdempotentInflight1,
        _ => Preset::Idempotent,
    }
}

/// Libraries known to break the idempotent promise under ack loss, and how. Their
/// runs must still complete and be judged, with nothing but these anomalies.
fn known_breakage(library: Library) -> Option<(&'static [Kind], &'static str)> {
    match library {
        // kafkajs rolls a partition's sequence back when a Produce request fails
        // (src/producer/sendMessages.js). A timed-out request that did land is
        // followed by a batch reusing its sequence numbers: the broker answers it
        // as a duplicate with the old offset (acknowledged, lost), and the retry
        // is written anew under new numbers (duplicate, reorder).
        Library::Kafkajs => Some((
            &[Kind::Lost, Kind::Duplicate, Kind::Reorder],
            "sequence numbers reused after a timed-out request",
        )),
        _ => None,
    }
}

/// Keys and a codec for every other library, in turn; none for the rest.
fn workload_for(turn: usize) -> (Option<u32>, UserSettings) {
    const CODECS: [&str; 4] = ["lz4", "zstd", "snappy", "gzip"];
    let mut user = UserSettings::default();
    if turn.is_multiple_of(2) {
        return (None, user);
    }
    user.compression(CODECS[(turn / 2) % CODECS.len()]);
    (Some(20), user)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_driver_keeps_the_idempotent_promise_under_ack_loss() {
    let (docker, image) = common::engine_and_image().await;
    let id = format!("drivers-{:04x}", rand::random::<u16>());
    let job = {
        let docker = docker.clone();
        let image = image.clone();
        async move {
            let cluster = Arc::new(Cluster::start(&docker, &id, &image.reference(), None).await?);
            let mut failures = Vec::new();
            let producers = Library::ALL.into_iter().filter(|l| l.has_producer());
            for (turn, library) in producers.enumerate() {
                let preset = preset_for(library);
                let (keys, user) = workload_for(turn);
                let codec = user.0.first().map(|(_, codec, _)| codec.clone());
                let client = clients::resolve(&ClientSpec {
                    library,
                    version: None,
                })?;
                let config = RunConfig {
                    preset,
                    transactions: Default::default(),
                    client: client.clone(),
                    guarantees: preset.guarantees(),
                    faults: vec![Fault::AckLoss],
                    time_limit: Duration::from_secs(25),
                    rate: 500,
                    producers: 2,
                    partitions: 3,
                    message_size: "100".parse().unwrap(),
                    keys,
                    processors: 0,
                    mutation: None,
                    user,
                    seed: 3,
                    image: image.clone(),
                    bootstrap: None,
                };
                let dir = common::run_dir(&format!("{library}-"));
                let path = dir.path.clone();
                let site = Site::Shared {
                    cluster: cluster.clone(),
                    topic: format!("t-{library}"),
                };
                let code = run::run_at(site, config, dir).await;
                let results: Option<Results> = std::fs::read_to_string(path.join("results.json"))
                    .ok()
                    .and_then(|s| serde_json::from_str(&s).ok());
                let Some(results) = results else {
                    failures.push(format!(
                        "{client}: no results ({code:?}), see {}",
                        path.display()
                    ));
                    continue;
                };
                eprintln!("{client} {preset}: {}", verdict_line(&results));
                if let Some(differs) = common::recheck_differs(&path, &results) {
                    failures.push(format!("{client}: {differs}"));
                }
                let history =
                    std::fs::read_to_string(path.join("history.jsonl")).unwrap_or_default();
                let verdict_ok = match known_breakage(library) {
                    None => results.valid == Validity::Valid,
                    Some((kinds, why)) => {
                        let others = Kind::ALL
                            .iter()
                            .filter(|&k| !kinds.contains(k))
                            .any(|&k| results.anomalies.count(k) > 0);
                        if results.valid == Validity::Invalid {
                            eprintln!("{client}: invalid as known: {why}");
                        }
                        results.valid != Validity::Unknown && !others
                    }
                };
                let problems = [
                    (
                        !verdict_ok,
                        "verdict is not what this library is known to give",
                    ),
                    (
                        results.stats.sends.ok < 2_000,
                        "fewer than 2,000 acknowledged sends",
                    ),
                    (
                        !history.contains("\"fault\":\"ack-loss\""),
                        "ack-loss never injected",
                    ),
                    (
                        codec.is_some_and(|codec| {
                            !results
                                .stats
                                .partitions
                                .iter()
                                .any(|p| p.batches_by_codec.contains_key(&codec))
                        }),
                        "the log holds no batch compressed with the codec asked for",
                    ),
                    (
                        keys.is_some_and(|n| results.keys.len() != n as usize),
                        "not every key is in the log",
                    ),
                    (
                        library != Library::Rdkafka
                            && !path.join("drivers/producer-0.log").is_file(),
                        "no driver log",
                    ),
                ];
                for (failed, what) in problems {
                    if failed {
                        failures.push(format!("{client}: {what}; see {}", path.display()));
                    }
                }
            }
            anyhow::Ok(failures)
        }
    };
    let failures = cluster::with_teardown(&docker, job)
        .await
        .expect("the cluster and every run start");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
