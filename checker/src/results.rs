//! `results.json`: the verdict, the anomalies, and the counts behind them.

use std::collections::BTreeMap;

use crate::anomaly::{Anomalies, KeyPlacement, TxnPart};
use crate::check::Idempotence;
use crate::guarantee::Guarantee;
use crate::history::{Nanos, NemesisPhase};
use crate::ids::{Epoch, Offset, Partition, Producer, ProducerId, Sequence, Txn};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The answer: `true`, `false`, or `"unknown"` in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Invalid,
    /// The run could not establish the answer (see `unknown_reasons`).
    Unknown,
}

impl Validity {
    /// The verdict as a word: `valid`, `invalid` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
            Validity::Unknown => "unknown",
        }
    }
}

impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(Validity::Valid),
            serde_json::Value::Bool(false) => Ok(Validity::Invalid),
            serde_json::Value::String(s) if s == "unknown" => Ok(Validity::Unknown),
            other => Err(serde::de::Error::custom(format!(
                "valid must be true, false or \"unknown\", not {other}"
            ))),
        }
    }
}

/// Everything the checker concluded about a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub valid: Validity,
    /// What the run promised; the verdict judges only these.
    pub guarantees: Vec<Guarantee>,
    /// Promised guarantees some anomaly broke.
    pub violated: Vec<Guarantee>,
    pub anomalies: Anomalies,
    /// Liveness and configuration findings; reported, not judged here.
    pub findings: Findings,
    pub stats: Stats,
    /// Why the verdict is not `true` although nothing promised was broken.
    pub unknown_reasons: Vec<String>,
    /// What the run really tested against what it asked for.
    #[serde(default)]
    pub tested: Tested,
    /// Where each record key landed, keys in numeric order (shorter first,
    /// then by their bytes); left out when no record had a key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyPlacement>,
    /// Each of the run's producers: the idempotence asked for and what the
    /// log shows was in effect.
    #[serde(default)]
    pub idempotence: Vec<ProducerIdempotence>,
    /// The run's transactions, when it ran any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<TxnStats>,
    /// What the `read_committed` consumer read, when the run has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<ConsumerStats>,
    /// What a pipeline run's processors made of its input, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineStats>,
}

/// A pipeline run: its input, its output and its processors, counted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineStats {
    pub input_topic: String,
    pub output_topic: String,
    /// Processor slots, and the instances started in them (restarts add).
    pub processors: u32,
    pub instances: u64,
    /// Assignments the processors received (each rebalance gives one per
    /// member), and partitions revoked as lost.
    pub assignments: u64,
    pub lost_assignments: u64,
    /// Data records of the input: committed, aborted, without a marker.
    pub inputs_committed: u64,
    pub inputs_aborted: u64,
    pub inputs_unmarked: u64,
    /// Data records of the output: committed, aborted, without a marker, and
    /// committed ones whose value is no processor's output.
    pub outputs_committed: u64,
    pub outputs_aborted: u64,
    pub outputs_unmarked: u64,
    pub outputs_foreign: u64,
    /// Committed inputs with exactly one committed output, with more, and
    /// with none that the processors had not reached by the end.
    pub processed_once: u64,
    pub processed_more: u64,
    pub unprocessed: u64,
    /// Outputs made from an input record that is not committed.
    pub outputs_of_uncommitted: u64,
    /// Records the processors' polls delivered.
    pub polled: u64,
    /// The processors' transactions (at least once: offset commits) by how
    /// they ended: `committed`, `aborted`, `fenced`, `unknown`, `fatal`.
    pub transactions: BTreeMap<String, u64>,
    /// Instance ends by why: `closed`, `crashed`, ...
    pub stops: BTreeMap<String, u64>,
    /// The group's committed offset per input partition at the end; absent
    /// when they were not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_offsets: Option<BTreeMap<Partition, Offset>>,
    /// Anomalies of the input producer (eoscheck's feeder): reported, not
    /// judged.
    pub feeder_anomalies: u64,
}

/// The `read_committed` consumer's read, as compared with the log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerStats {
    /// Its library and version.
    pub consumer: String,
    /// Records it delivered, over the partitions it read.
    pub delivered: u64,
    /// Partitions it read, and those where it stopped short of the last
    /// stable offset.
    pub partitions: Vec<Partition>,
    pub incomplete: Vec<Partition>,
}

/// How a run's transactions ended, by what the client was told and by what
/// the log shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TxnStats {
    pub begun: u64,
    /// The client was told the commit succeeded.
    pub committed: u64,
    /// Aborted by the application, or the commit definitely failed.
    pub aborted: u64,
    /// The commit's outcome was not known to the client.
    pub unknown: u64,
    /// Of those, how the log resolved them: every send committed, none, or
    /// some records still without a marker (or only partly committed, which
    /// `torn-transaction` reports).
    pub unknown_committed: u64,
    pub unknown_aborted: u64,
    pub unknown_unresolved: u64,
    /// Segments (one PID's records on one partition between two markers)
    /// that held records of more than one transaction.
    pub shared_segments: u64,
    /// Committed segments whose COMMIT marker carries their records' epoch
    /// (the classic transaction protocol) and one above it (KIP-890's, which
    /// bumps the epoch with every transaction): the protocol in effect, as
    /// the log shows it. ABORT markers do not tell: one that fences a
    /// producer is above its records' epoch under both.
    #[serde(default)]
    pub commits_at_data_epoch: u64,
    #[serde(default)]
    pub commits_above_data_epoch: u64,
}

/// One producer instance's idempotence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProducerIdempotence {
    pub producer: Producer,
    pub asked: Idempotence,
    pub in_effect: InEffect,
}

/// Whether a producer's records in the log carry a PID (whether their
/// sequences hold together is judged by `sequence-gap` and its kin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InEffect {
    /// Every record of the producer carries a PID (>= 0).
    Yes,
    /// None does.
    No,
    /// Some do, some do not.
    Mixed,
    /// The log holds no record of the producer.
    NoRecords,
}

/// The faults and the load a run asked for, against those it got: a fault
/// that never took effect, or a client far below the asked rate, tested less
/// than the command line says. Neither changes the verdict; both are shown.
/// A short run's schedule draws only some of the requested kinds (each kind
/// once before any repeats, so a longer run covers them all): those are
/// requested but not planned, which is no failure of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tested {
    /// Fault kinds the run asked for (none known when checked without run.json).
    pub faults_requested: Vec<String>,
    /// Requested kinds the seed's schedule drew, in the order it starts them.
    pub faults_planned: Vec<String>,
    /// Fault kinds that started at least once, in the order they first did.
    pub faults_exercised: Vec<String>,
    /// Planned kinds that never took effect.
    pub faults_not_exercised: Vec<String>,
    /// First attempts per second asked for over all producers; none
    /// for "as fast as possible" or when not known.
    pub rate_asked: Option<f64>,
    /// First attempts invoked per second while the producers were sending;
    /// none when that time is not known.
    pub rate_achieved: Option<f64>,
}

impl Results {
    /// The `eoscheck` exit code: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(&self) -> i32 {
        match self.valid {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }
}

impl Tested {
    /// One line for people: the planned fault kinds that took effect, and
    /// the send rate achieved against the one asked for. None when the run
    /// directory did not say what was asked.
    pub fn summary(&self) -> Option<String> {
        let achieved = self.rate_achieved?;
        let planned = self.faults_planned.len();
        let mut line = format!(
            "tested: {} of {planned} planned fault kinds took effect",
            planned - self.faults_not_exercised.len(),
        );
        if !self.faults_not_exercised.is_empty() {
            line += &format!(" (never: {})", self.faults_not_exercised.join(", "));
        }
        let unplanned = self.faults_requested.len().saturating_sub(planned);
        if unplanned > 0 {
            line += &format!(
                ", {unplanned} requested kinds not in this schedule (a longer --time-limit covers them)"
            );
        }
        line += &match self.rate_asked {
            Some(asked) => format!(
                "; {achieved:.0} sends/s of {asked:.0}/s asked ({:.0}%)",
                100.0 * achieved / asked
            ),
            None => format!("; {achieved:.0} sends/s (as fast as the client could)"),
        };
        Some(line)
    }
}

/// What clients said about themselves that is not about single messages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Findings {
    /// Producers that entered a fatal error state.
    pub producer_fatal: Vec<ProducerNote>,
    /// No progress for a whole stretch with no fault active (see `Options::stall_grace`).
    #[serde(default)]
    pub stalled: Vec<ProducerNote>,
    /// Producers that refused their configuration (e.g. in-flight > 5 with
    /// idempotence): they sent nothing, so they tested nothing.
    pub config_rejected: Vec<ProducerNote>,
    /// Steps of the fault schedule the nemesis could not carry out: a fault
    /// that did not take effect tested nothing of what it was asked to.
    #[serde(default)]
    pub nemesis_failed: Vec<NemesisNote>,
    /// Transactional records that no marker ended in a partition read to its
    /// end: their transaction hangs, holding the last stable offset back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hanging_transactions: Vec<HangingTransaction>,
}

/// One PID's records on one partition with no COMMIT or ABORT after them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HangingTransaction {
    #[serde(flatten)]
    pub part: TxnPart,
    /// The transactions its records belong to (at most 8).
    pub transactions: Vec<(Producer, Txn)>,
}

/// A step of the fault schedule that failed, as the history records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NemesisNote {
    pub time: Nanos,
    pub fault: String,
    pub phase: NemesisPhase,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProducerNote {
    pub time: Nanos,
    pub producer: Producer,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub sends: SendStats,
    pub indeterminate: IndeterminateStats,
    /// Data records read (committed or not transactional), all partitions.
    pub records_read: u64,
    pub control_records: u64,
    /// Records of aborted transactions, ignored as messages.
    pub aborted_records: u64,
    /// Transactional records with no COMMIT/ABORT marker in the log.
    pub undecided_records: u64,
    /// Records naming a send of the run's producers that a short history
    /// (no end line, or a last line cut off) does not hold: not judged.
    #[serde(default)]
    pub unrecorded_records: u64,
    pub partitions: Vec<PartitionStats>,
    pub producers: Vec<ProducerStats>,
}

/// Sends by what the client said. A send is one (message, attempt).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SendStats {
    pub invoked: u64,
    /// Invokes with attempt > 0: the application's own resends.
    pub resends: u64,
    pub ok: u64,
    pub failed_definite: u64,
    pub failed_maybe: u64,
    pub info: u64,
    /// Sends the history never completed.
    pub no_completion: u64,
    /// Completions beyond the first for one send (a buggy client).
    pub repeated_completions: u64,
}

/// Sends that may or may not have been written (`info`, a failure the client
/// does not call definite, or no completion): not anomalies, but each may
/// land at most once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IndeterminateStats {
    pub landed: u64,
    pub not_landed: u64,
    /// In a partition whose read did not complete.
    pub undetermined: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionStats {
    pub partition: Partition,
    /// Data records read (committed or not transactional).
    pub records: u64,
    pub log_start_offset: Offset,
    pub high_watermark: Offset,
    pub complete: bool,
    /// The last offset read, if any record was.
    pub last_offset: Option<Offset>,
    /// Every (PID, epoch) that wrote here, in order of first appearance.
    pub sessions: Vec<SessionStats>,
    /// How many of its batches (control batches included) the log holds
    /// compressed with each codec (`none` for uncompressed): what the
    /// producer's compression really did.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub batches_by_codec: BTreeMap<String, u64>,
}

/// One (PID, epoch) in one partition: its sequence range and which producer
/// instances its records name (learned from the log, so it works for
/// clients that never report their PID).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    pub pid: ProducerId,
    pub epoch: Epoch,
    pub producers: Vec<Producer>,
    pub first_sequence: Sequence,
    pub last_sequence: Sequence,
    /// Records including aborted transactional ones.
    pub records: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProducerStats {
    pub producer: Producer,
    /// (PID, epoch) pairs its records carry in the log.
    pub sessions_in_log: Vec<Session>,
    /// (PID, epoch) pairs the client reported.
    pub sessions_reported: Vec<Session>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Session {
    pub pid: ProducerId,
    pub epoch: Epoch,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rate written to results.json reads back as the same number, so a
    /// re-check compares equal to the run (measured: 999.8309924542583 came
    /// back one unit in the last place off without exact float parsing).
    #[test]
    fn rates_read_back_exactly() {
        let tested = Tested {
            rate_achieved: Some(999.8309924542583),
            ..Tested::default()
        };
        let back: Tested = serde_json::from_str(&serde_json::to_string(&tested).unwrap()).unwrap();
        assert_eq!(back, tested);
    }
}
