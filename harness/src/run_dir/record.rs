//! `run.json`: what a run was asked to do and how it went, written at the start
//! (so a run killed half-way still says what it was) and rewritten at the end.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use checker::Guarantee;
use serde::{Deserialize, Serialize};

pub const FORMAT: u32 = 1;

/// Written by the harness and read back by `eoscheck check` (for the promise
/// to judge); the report reads the same file leniently (`reports::RunInfo`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: u32,
    pub id: String,
    /// Wall-clock start, UTC, RFC 3339.
    pub started: String,
    pub preset: String,
    /// The promise the verdict judges (the preset's, or `--guarantee`).
    pub guarantees: Vec<Guarantee>,
    pub client: ClientInfo,
    /// What the library was given, by name.
    pub producer_settings: BTreeMap<String, String>,
    /// Where each of `producer_settings` came from: `preset`, `user` or
    /// `eoscheck` (a short timeout of eoscheck's).
    #[serde(default)]
    pub producer_origins: BTreeMap<String, String>,
    /// What the configuration asked of idempotence; none in runs from before
    /// eoscheck recorded it.
    #[serde(default)]
    pub idempotence_asked: Option<checker::Idempotence>,
    /// The user's settings that contradict the promise, each in a sentence.
    #[serde(default)]
    pub contradictions: Vec<String>,
    /// The first producer's effective configuration, and whether the library
    /// reported it (`library`) or it is what was set (`driver`).
    #[serde(default)]
    pub effective_config: BTreeMap<String, String>,
    #[serde(default)]
    pub effective_config_source: Option<String>,
    /// Record keys the messages were spread over; none for explicit partitions.
    #[serde(default)]
    pub keys: Option<u32>,
    /// Messages per transaction (`N` or `LEAST..MOST`); none unless the
    /// producers were transactional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_size: Option<String>,
    /// The share of transactions the application aborted on purpose; none
    /// unless the producers were transactional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_rate: Option<f64>,
    /// Why the `read_committed` consumer's read failed, when it did: the run
    /// then has no `consumed.json`, and its verdict cannot be valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_read_error: Option<String>,
    /// A pipeline's processor instances (slots); none for a producer run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processors: Option<u32>,
    /// The mistake eoscheck's own processor made on purpose (`--mutate`, a
    /// sensitivity run); none for every other run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation: Option<String>,
    /// Why a pipeline's group offsets could not be read; the run then has
    /// no `group.json`, and its verdict cannot be valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_read_error: Option<String>,
    pub kafka_version: Option<String>,
    /// The cluster's finalized feature levels when the run began (e.g.
    /// `transaction.version`); a feature at level 0 is not listed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cluster_features: BTreeMap<String, i16>,
    pub image: String,
    pub topic: String,
    pub seed: u64,
    pub time_limit_s: f64,
    pub rate: u32,
    pub producers: u32,
    pub partitions: i32,
    /// Bytes per value; the least when sizes spread up to `message_size_max`.
    pub message_size: usize,
    #[serde(default)]
    pub message_size_max: Option<usize>,
    pub nemesis: nemesis::Schedule,
    /// What became of each step of `nemesis` that came due, in order: the
    /// planned times against the actual ones (faults wait for recovery).
    #[serde(default)]
    pub kept: Vec<KeptStep>,
    pub phases: Vec<PhaseTime>,
    /// How big the final read was and what its files keep of it; none
    /// before the read (or in runs from before eoscheck recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_read: Option<StoredLog>,
    pub outcome: Option<Outcome>,
}

/// The final read's size: the batches as fetched, and the bytes of
/// `log/` that keep them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredLog {
    pub fetched_bytes: u64,
    pub stored_bytes: u64,
    pub storage: checker::log::Storage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientInfo {
    pub name: String,
    pub version: String,
}

/// One phase of the run, in seconds since the run's time zero (the history's too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseTime {
    pub name: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// One step of the schedule as it was carried out, in seconds into the
/// workload like the plan's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeptStep {
    pub fault: nemesis::Fault,
    pub action: nemesis::StepAction,
    /// When the plan had it.
    pub planned_s: f64,
    /// When it was done; none when it could not be.
    pub done_s: Option<f64>,
    /// What did not go as planned (the error, or the heal that replaced an undo).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub exit_code: i32,
    /// `valid`, `invalid`, `unknown`, or `error` when the run broke down.
    pub verdict: String,
    pub error: Option<String>,
}

impl Outcome {
    /// The outcome of a run that reached its verdict.
    pub fn of(results: &checker::Results) -> Outcome {
        Outcome {
            exit_code: results.exit_code(),
            verdict: results.valid.name().into(),
            error: None,
        }
    }
}

impl RunRecord {
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join("run.json");
        std::fs::write(&path, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn read(dir: &Path) -> Result<RunRecord> {
        let path = dir.join("run.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a run.json eoscheck can read", path.display()))
    }
}
