//! The transactional workload on one shared real cluster, read from the run
//! directory alone: rdkafka's producers initialise with a `transactional.id`
//! each, run transactions, abort about the share asked, and leave COMMIT and
//! ABORT markers in the log, which is read to a high watermark the last stable
//! offset has reached; a zombie with a producer's `transactional.id` fences
//! it, and goes on under a producer number of its own. The Java client, the
//! reference, runs through its driver while the broker coordinating its
//! transactions is killed.
//!
//! Each run is valid, and its results say how its transactions ended, what
//! protocol the markers show (librdkafka's classic one; KIP-890's for Java on
//! a cluster whose `transaction.version` is 2), and what a `read_committed`
//! consumer delivered of it.

mod common;

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use checker::history::{Event, TxnAction};
use harness::{
    clients::Preset,
    cluster::{self, final_read, BrokerImage, Cluster},
    commands::run::RunConfig,
};
use kafka_protocol::records::RecordBatchDecoder;
use nemesis::Fault;

const PRODUCERS: u32 = 2;
const PARTITIONS: i32 = 3;

/// One transactional run of `client` on `cluster`, on a topic of its own.
async fn run_case(
    cluster: &Arc<Cluster>,
    image: &BrokerImage,
    (name, client): (&str, &str),
    faults: Vec<Fault>,
    seconds: u64,
) -> std::path::PathBuf {
    let config = RunConfig {
        faults,
        time_limit: Duration::from_secs(seconds),
        producers: PRODUCERS,
        partitions: PARTITIONS,
        ..common::config(Preset::Transactional, client, image)
    };
    common::run_shared(cluster, name, config).await
}

fn history(dir: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    text.lines()
        .enumerate()
        .map(|(n, line)| checker::history::parse_line(n + 1, line).unwrap())
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Each transaction's first end, by (producer, txn): how the application
/// meant to end it.
fn meant(events: &[Event]) -> BTreeMap<(u32, u32), TxnAction> {
    let mut meant = BTreeMap::new();
    for event in events {
        if let Event::TxnEnd {
            producer, txn, end, ..
        } = event
        {
            meant.entry((*producer, *txn)).or_insert(*end);
        }
    }
    meant
}

/// COMMIT and ABORT markers in the raw log, over every partition.
fn markers(dir: &Path) -> (usize, usize) {
    let (mut commits, mut aborts) = (0, 0);
    for partition in 0..PARTITIONS {
        let file = dir
            .join("log")
            .join(final_read::STORAGE.file_name(partition));
        let stored = std::fs::File::open(file).unwrap();
        let mut bytes = bytes::Bytes::from(zstd::decode_all(stored).unwrap());
        for batch in RecordBatchDecoder::decode_all(&mut bytes).unwrap() {
            for record in batch.records.iter().filter(|r| r.control) {
                // A control record's key: version (i16), then type: 0 abort, 1 commit.
                match record.key.as_ref().map(|k| k[3]) {
                    Some(0) => aborts += 1,
                    Some(1) => commits += 1,
                    other => panic!("a control record of type {other:?}"),
                }
            }
        }
    }
    (commits, aborts)
}

/// Every partition was read to a high watermark that its last stable offset
/// had reached: nothing was left open.
fn assert_nothing_open(dir: &Path) {
    let manifest = json(&dir.join("log/manifest.json"));
    for p in manifest["partitions"].as_array().unwrap() {
        assert_eq!(p["complete"], true, "{p}");
        assert_eq!(p["last_stable_offset"], p["high_watermark"], "{p}");
    }
}

/// The protocol the COMMIT markers show.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Protocol {
    /// Markers at their records' epoch (librdkafka; any client before Kafka 4).
    Classic,
    /// Markers one epoch above (KIP-890, `transaction.version` 2).
    Kip890,
}

/// The checker's results: valid, the transactions as the history has them
/// (every one ended, none unknown left unresolved), the `protocol` in the
/// markers, and a consumer that read every partition and delivered exactly
/// the committed records.
fn assert_judged_valid(dir: &Path, begun: usize, protocol: Protocol) {
    let results = json(&dir.join("results.json"));
    assert_eq!(results["valid"], true, "{}", results["unknown_reasons"]);
    let anomalies = results["anomalies"].as_object().unwrap();
    assert!(anomalies.values().all(|a| a["count"] == 0), "{anomalies:?}");
    let t = &results["transactions"];
    assert_eq!(t["begun"], begun, "{t}");
    assert_eq!(t["unknown_unresolved"], 0, "{t}");
    let (at, above) = match protocol {
        Protocol::Classic => ("commits_at_data_epoch", "commits_above_data_epoch"),
        Protocol::Kip890 => ("commits_above_data_epoch", "commits_at_data_epoch"),
    };
    assert_eq!(t[above], 0, "{t}");
    assert!(t[at].as_u64().unwrap() > 0, "{t}");
    let consumer = &results["consumer"];
    assert_eq!(
        consumer["partitions"],
        serde_json::json!([0, 1, 2]),
        "{consumer}"
    );
    assert_eq!(consumer["incomplete"], serde_json::json!([]), "{consumer}");
    assert_eq!(
        consumer["delivered"], results["stats"]["records_read"],
        "every committed record, nothing else"
    );
}

/// A plain transactional run: inits, transactions, aborts at about the rate
/// asked, both markers in the log, and what run.json says of it.
fn assert_transactions_ran(dir: &Path) {
    let events = history(dir);
    let inits: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::TxnInit { .. }))
        .collect();
    assert_eq!(inits.len(), PRODUCERS as usize, "{inits:?}");
    let begun = events
        .iter()
        .filter(|e| matches!(e, Event::TxnBegin { .. }))
        .count();
    let committed = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::TxnOk {
                    end: TxnAction::Commit,
                    ..
                }
            )
        })
        .count();
    let meant = meant(&events);
    let aborted = meant.values().filter(|e| **e == TxnAction::Abort).count();
    eprintln!(
        "{begun} transactions begun, {} ended, {committed} committed, {aborted} aborted on purpose",
        meant.len()
    );
    assert!(
        begun > 100,
        "{begun} transactions in 10 s at 400 messages/s"
    );
    assert!(
        committed * 10 > meant.len() * 8,
        "{committed} of {}",
        meant.len()
    );
    let share = aborted as f64 / meant.len() as f64;
    assert!((0.04..=0.2).contains(&share), "{share} aborted, 0.1 asked");
    assert_judged_valid(dir, begun, Protocol::Classic);

    let (commits, aborts) = markers(dir);
    eprintln!("markers: {commits} COMMIT, {aborts} ABORT");
    assert!(
        commits > 0 && aborts > 0,
        "{commits} commits, {aborts} aborts"
    );
    assert_nothing_open(dir);

    let info = json(&dir.join("run.json"));
    let id = info["id"].as_str().unwrap();
    assert_eq!(
        info["producer_settings"]["transactional.id"],
        format!("eoscheck-{id}-<producer>")
    );
    assert_eq!(info["producer_origins"]["transactional.id"], "eoscheck");
    assert_eq!(info["producer_settings"]["transaction.timeout.ms"], "30000");
    assert_eq!(
        (info["txn_size"].as_str(), info["abort_rate"].as_f64()),
        (Some("1..10"), Some(0.1))
    );
    let effective = info["effective_config"]["transactional.id"]
        .as_str()
        .unwrap();
    assert!(
        effective.starts_with(&format!("eoscheck-{id}-")),
        "{effective}"
    );
}

/// The zombie fenced its victim, whose later commits all failed, and went on
/// under a producer number of its own with the victim's `transactional.id`.
fn assert_zombie_fenced(dir: &Path) {
    let events = history(dir);
    let Some(Event::Header { producers, .. }) = events.first() else {
        panic!("no header");
    };
    assert_eq!(
        *producers,
        Some(PRODUCERS + 2),
        "room for the zombie and a retry"
    );
    let started = events.iter().find_map(|e| match e {
        Event::NemesisStart {
            time,
            fault,
            targets,
            detail,
        } if fault == "zombie" => Some((*time, targets.clone(), detail.clone())),
        _ => None,
    });
    let (at, targets, detail) = started.expect("the zombie started");
    eprintln!("zombie: {detail}");
    let number = |t: &str| t.strip_prefix("producer ").unwrap().parse::<u32>().unwrap();
    let (victim, newcomer) = (number(&targets[0]), number(&targets[1]));
    assert!(newcomer >= PRODUCERS, "{targets:?}");
    assert!(detail.contains("mid-transaction"), "{detail}");
    let ids: BTreeMap<u32, &str> = events
        .iter()
        .filter_map(|e| match e {
            Event::TxnInit {
                producer,
                transactional_id,
                ..
            } => Some((*producer, transactional_id.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(ids.get(&newcomer), ids.get(&victim), "{ids:?}");

    let later = || events.iter().filter(|e| e.time().is_some_and(|t| t > at));
    let fenced = later().any(|e| match e {
        Event::TxnFail {
            producer, error, ..
        }
        | Event::ProducerFatal {
            producer, error, ..
        } => *producer == victim && error.to_ascii_lowercase().contains("fenced"),
        _ => false,
    });
    assert!(fenced, "producer {victim} was told it is fenced");
    let victim_committed = later().any(|e| {
        matches!(e, Event::TxnOk { producer, end: TxnAction::Commit, .. } if *producer == victim)
    });
    assert!(
        !victim_committed,
        "nothing of producer {victim} committed after"
    );
    let newcomer_committed = later()
        .filter(|e| {
            matches!(e, Event::TxnOk { producer, end: TxnAction::Commit, .. } if *producer == newcomer)
        })
        .count();
    assert!(
        newcomer_committed > 10,
        "{newcomer_committed} commits of producer {newcomer}"
    );
    assert_nothing_open(dir);
    let begun = events
        .iter()
        .filter(|e| matches!(e, Event::TxnBegin { .. }))
        .count();
    assert_judged_valid(dir, begun, Protocol::Classic);
}

/// Java's transactions while their coordinator was killed: the fault found
/// the coordinator and took effect, every transaction ended, and the cluster
/// (`transaction.version` 2) and the client ran KIP-890's protocol.
fn assert_coordinator_killed(dir: &Path) {
    let events = history(dir);
    let started = events.iter().find_map(|e| match e {
        Event::NemesisStart { fault, detail, .. } if fault == "kill-txn-coordinator" => {
            Some(detail)
        }
        _ => None,
    });
    let detail = started.expect("the coordinator was killed");
    eprintln!("kill-txn-coordinator: {detail}");
    assert!(detail.contains("transaction coordinator of"), "{detail}");
    let info = json(&dir.join("run.json"));
    assert_eq!(info["cluster_features"]["transaction.version"], 2, "{info}");
    let begun = events
        .iter()
        .filter(|e| matches!(e, Event::TxnBegin { .. }))
        .count();
    eprintln!("java: {begun} transactions begun");
    assert!(begun > 50, "{begun} transactions");
    assert_judged_valid(dir, begun, Protocol::Kip890);
    assert_nothing_open(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_abort_fence_a_zombie_and_outlast_their_coordinator() {
    let (docker, image) = common::engine_and_image().await;
    let id = format!("txn-{:04x}", rand::random::<u16>());
    let job = {
        let docker = docker.clone();
        async move {
            let cluster = Arc::new(Cluster::start(&docker, &id, &image.reference(), None).await?);
            let dir = run_case(&cluster, &image, ("txn", "rdkafka"), vec![], 10).await;
            assert_transactions_ran(&dir);
            // The first quiet is at most 7.5 s, and the zombie lasts 5.
            let zombie = vec![Fault::Zombie];
            let dir = run_case(&cluster, &image, ("zombie", "rdkafka"), zombie, 13).await;
            assert_zombie_fenced(&dir);
            let kill = vec![Fault::KillTxnCoordinator];
            let dir = run_case(&cluster, &image, ("coord", "java"), kill, 25).await;
            assert_coordinator_killed(&dir);
            anyhow::Ok(())
        }
    };
    cluster::with_teardown(&docker, job)
        .await
        .expect("the cluster and its three runs");
}
