//! What happened when: every send's invoke and completion, the nemesis's
//! fault intervals and the leader changes, on the history's clock (seconds
//! since the run started, the origin `run.json`'s phases use too).
//!
//! The history is parsed with the checker's own types, so the report reads
//! exactly what the checker judged. A torn last line (the recorder stopped
//! mid-write) is skipped, as the checker does; damage anywhere else is an
//! error naming the line.

use anyhow::{bail, Context, Result};
use checker::history::{self, Event, Nanos, TxnAction};
use checker::ids::{Attempt, MessageId, Partition, Producer, Txn};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::processors::Processors;

/// How the client's answer to one send is drawn. `fail` is a definite
/// failure only: a failure the client does not call definite is as open as
/// an `info`, so both are indeterminate (as in the checker's statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendOutcome {
    Ok,
    Fail,
    Indeterminate,
}

impl SendOutcome {
    pub const ALL: [SendOutcome; 3] = [
        SendOutcome::Ok,
        SendOutcome::Fail,
        SendOutcome::Indeterminate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SendOutcome::Ok => "ok",
            SendOutcome::Fail => "fail",
            SendOutcome::Indeterminate => "indeterminate",
        }
    }

    /// A failure is drawn as `fail` only when the client calls it definite.
    fn of_failure(definite: bool) -> SendOutcome {
        match definite {
            true => SendOutcome::Fail,
            false => SendOutcome::Indeterminate,
        }
    }

    /// CSS colour of the outcome in every chart and legend.
    pub fn colour(self) -> &'static str {
        match self {
            SendOutcome::Ok => "#2f7ed8",
            SendOutcome::Fail => "#d62728",
            SendOutcome::Indeterminate => "#ff9f1c",
        }
    }
}

/// How a transaction ended, as its client was last told: committed,
/// aborted (by the application, or its commit definitely failed) or not
/// known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnEnding {
    Committed,
    Aborted,
    Indeterminate,
}

impl TxnEnding {
    pub const ALL: [TxnEnding; 3] = [
        TxnEnding::Committed,
        TxnEnding::Aborted,
        TxnEnding::Indeterminate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TxnEnding::Committed => "committed",
            TxnEnding::Aborted => "aborted",
            TxnEnding::Indeterminate => "indeterminate",
        }
    }

    /// CSS colour of the ending in the transactions chart and its legend.
    pub fn colour(self) -> &'static str {
        match self {
            TxnEnding::Committed => SendOutcome::Ok.colour(),
            TxnEnding::Aborted => "#7f7f7f",
            TxnEnding::Indeterminate => SendOutcome::Indeterminate.colour(),
        }
    }

    fn of(end: TxnAction, failure: Option<bool>) -> TxnEnding {
        match (end, failure) {
            (TxnAction::Commit, None) => TxnEnding::Committed,
            (TxnAction::Abort, None) | (TxnAction::Commit, Some(true)) => TxnEnding::Aborted,
            (_, Some(_)) => TxnEnding::Indeterminate,
        }
    }
}

/// A transaction's last answer: when, and how it ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EndedTxn {
    pub time: f64,
    pub ending: TxnEnding,
}

/// One completed send: when it was invoked, how long the client took to
/// answer, and what it answered. Only the first completion counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompletedSend {
    pub invoked: f64,
    pub latency: f64,
    pub outcome: SendOutcome,
}

impl CompletedSend {
    pub fn completed(&self) -> f64 {
        self.invoked + self.latency
    }
}

/// A fault the nemesis had active from `start` to `end` (`None`: never
/// healed in the history).
#[derive(Clone, Debug, PartialEq)]
pub struct FaultInterval {
    pub fault: String,
    pub targets: Vec<String>,
    pub start: f64,
    pub end: Option<f64>,
}

impl FaultInterval {
    pub fn covers(&self, t: f64) -> bool {
        self.start <= t && self.end.is_none_or(|end| t < end)
    }
}

/// A partition's leader as observed from `time` on; `None`: no leader.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeaderChange {
    pub time: f64,
    pub partition: Partition,
    pub leader: Option<i32>,
}

/// The run as a sequence of timed facts.
#[derive(Debug, Default)]
pub struct Timeline {
    /// Completed sends, in completion order of the file.
    pub sends: Vec<CompletedSend>,
    /// Sends the history never completed.
    pub uncompleted: u64,
    pub faults: Vec<FaultInterval>,
    pub leaders: Vec<LeaderChange>,
    /// Invoke time of every send, to place anomaly examples on the clock.
    invoked: HashMap<(MessageId, Attempt), f64>,
    /// The latest time any event carries.
    pub last_event: f64,
    /// Each transaction answered, by its last answer.
    pub txns: Vec<EndedTxn>,
    txn_at: HashMap<(Producer, Txn), usize>,
    /// A pipeline's processors.
    pub processors: Processors,
}

/// Each send invoked, by its invoke time while it is open; `None` once it
/// completed, so only a first completion counts and what stays `Some` was
/// never answered.
type OpenSends = HashMap<(MessageId, Attempt), Option<f64>>;

/// Seconds since the run started.
pub fn seconds(time: Nanos) -> f64 {
    time as f64 / 1e9
}

impl Timeline {
    /// Reads `history.jsonl` and, when the run has one, `leaders.jsonl`.
    pub fn parse(history_text: &str, leaders_text: Option<&str>) -> Result<Timeline> {
        let mut timeline = Timeline::default();
        let mut lines = history_text.split_inclusive('\n').enumerate();
        let Some((_, header)) = lines.next() else {
            bail!("history.jsonl is empty")
        };
        history::parse_header(header.trim_end()).context("history.jsonl")?;
        let mut open = OpenSends::new();
        for (n, line) in lines {
            let torn = !line.ends_with('\n');
            let text = line.trim_end();
            if text.is_empty() {
                continue;
            }
            match history::parse_line(n + 1, text) {
                Ok(event) => timeline.observe(&event, &mut open),
                Err(_) if torn => break,
                Err(e) => return Err(e).context("history.jsonl"),
            }
        }
        timeline.uncompleted = open.values().filter(|invoked| invoked.is_some()).count() as u64;
        if let Some(text) = leaders_text {
            timeline.leaders = parse_leaders(text)?;
        }
        let ends = timeline.faults.iter().filter_map(|f| f.end);
        let changes = timeline.leaders.iter().map(|l| l.time);
        timeline.last_event = ends.chain(changes).fold(timeline.last_event, f64::max);
        Ok(timeline)
    }

    /// Takes one history event, in file order.
    fn observe(&mut self, event: &Event, open: &mut OpenSends) {
        match event {
            Event::Invoke {
                time,
                message,
                attempt,
                ..
            } => self.invoke(*time, (*message, *attempt), open),
            Event::Ok {
                time,
                message,
                attempt,
                ..
            } => self.complete(*time, (*message, *attempt), SendOutcome::Ok, open),
            Event::Fail {
                time,
                message,
                attempt,
                definite,
                ..
            } => {
                let outcome = SendOutcome::of_failure(*definite);
                self.complete(*time, (*message, *attempt), outcome, open)
            }
            Event::Info {
                time,
                message,
                attempt,
                ..
            } => {
                let outcome = SendOutcome::Indeterminate;
                self.complete(*time, (*message, *attempt), outcome, open)
            }
            Event::NemesisStart {
                time,
                fault,
                targets,
                ..
            } => self.start_fault(*time, fault, targets),
            Event::NemesisStop {
                time,
                fault,
                targets,
                ..
            } => self.heal(seconds(*time), fault, targets),
            Event::TxnOk {
                time,
                producer,
                txn,
                end,
            } => self.txn_answer(*time, (*producer, *txn), TxnEnding::of(*end, None)),
            Event::TxnFail {
                time,
                producer,
                txn,
                end,
                definite,
                ..
            } => {
                let ending = TxnEnding::of(*end, Some(*definite));
                self.txn_answer(*time, (*producer, *txn), ending)
            }
            Event::TxnInfo {
                time,
                producer,
                txn,
                end,
                ..
            } => self.txn_answer(*time, (*producer, *txn), TxnEnding::of(*end, Some(false))),
            // Shown from results.json's findings, with the error.
            Event::NemesisFail { .. }
            | Event::Header { .. }
            | Event::End { .. }
            | Event::ProducerSession { .. }
            | Event::TxnInit { .. }
            | Event::TxnBegin { .. }
            | Event::TxnEnd { .. }
            | Event::ProducerFatal { .. }
            | Event::ConfigRejected { .. }
            | Event::ProcSeek { .. } => {}
            event => self.processor(event),
        }
    }

    /// An event of a pipeline's processor.
    fn processor(&mut self, event: &Event) {
        let p = &mut self.processors;
        match event {
            Event::ProcStart { time, proc, .. } => p.start(*time, *proc),
            Event::ProcStop { time, proc, why } => p.stop(*time, *proc, why),
            Event::ProcAssign {
                time,
                proc,
                partitions,
            } => p.assign(*time, *proc, partitions),
            Event::ProcRevoke {
                time,
                proc,
                partitions,
                ..
            } => p.revoke(*time, *proc, partitions),
            Event::ProcPoll {
                time,
                proc,
                txn,
                records,
            } => {
                let count = records
                    .iter()
                    .map(|(_, first, last)| (last - first + 1) as u64);
                p.poll(*time, *proc, *txn, count.sum())
            }
            Event::ProcCommit {
                time,
                proc,
                txn,
                result,
                ..
            } => p.commit(*time, *proc, *txn, *result),
            _ => {}
        }
    }

    /// A send handed to the client: it stays open until its first completion.
    fn invoke(&mut self, time: Nanos, send: (MessageId, Attempt), open: &mut OpenSends) {
        let t = seconds(time);
        self.invoked.insert(send, t);
        open.insert(send, Some(t));
        self.last_event = self.last_event.max(t);
    }

    /// The client's answer to a send. Only the first answer counts: `take`
    /// leaves `None`, so a repeated completion is not counted twice.
    fn complete(
        &mut self,
        time: Nanos,
        send: (MessageId, Attempt),
        outcome: SendOutcome,
        open: &mut OpenSends,
    ) {
        let completed = seconds(time);
        self.last_event = self.last_event.max(completed);
        if let Some(invoked) = open.get_mut(&send).and_then(Option::take) {
            self.sends.push(CompletedSend {
                invoked,
                latency: completed - invoked,
                outcome,
            });
        }
    }

    /// An answer to a call ending a transaction: its last answer decides.
    fn txn_answer(&mut self, time: Nanos, txn: (Producer, Txn), ending: TxnEnding) {
        let ended = EndedTxn {
            time: seconds(time),
            ending,
        };
        self.last_event = self.last_event.max(ended.time);
        match self.txn_at.get(&txn) {
            Some(&at) => self.txns[at] = ended,
            None => {
                self.txn_at.insert(txn, self.txns.len());
                self.txns.push(ended);
            }
        }
    }

    /// A fault the nemesis began; open until a stop heals it.
    fn start_fault(&mut self, time: Nanos, fault: &str, targets: &[String]) {
        self.faults.push(FaultInterval {
            fault: fault.to_string(),
            targets: targets.to_vec(),
            start: seconds(time),
            end: None,
        });
    }

    /// Ends the open interval of `fault` with the same targets, or failing
    /// that the oldest open one of the same name (the checker's rule).
    fn heal(&mut self, time: f64, fault: &str, targets: &[String]) {
        let open = |f: &FaultInterval| f.end.is_none() && f.fault == fault;
        let exact = self
            .faults
            .iter()
            .position(|f| open(f) && f.targets == targets);
        if let Some(i) = exact.or_else(|| self.faults.iter().position(open)) {
            self.faults[i].end = Some(time);
        }
    }

    /// When a send was invoked, if the history has it.
    pub fn invoked(&self, message: MessageId, attempt: Attempt) -> Option<f64> {
        self.invoked.get(&(message, attempt)).copied()
    }

    /// Latencies (seconds) of the sends answered with `outcome`, sorted.
    pub fn latencies(&self, outcome: SendOutcome) -> Vec<f64> {
        let mut l: Vec<f64> = self
            .sends
            .iter()
            .filter(|s| s.outcome == outcome)
            .map(|s| s.latency)
            .collect();
        l.sort_unstable_by(f64::total_cmp);
        l
    }

    /// The faults active at `t`.
    pub fn faults_at(&self, t: f64) -> impl Iterator<Item = &FaultInterval> {
        self.faults.iter().filter(move |f| f.covers(t))
    }
}

/// The `q` quantile (0..=1) of `sorted` by nearest rank; `None` if empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// One line of `leaders.jsonl`: a change of a partition's leader as the
/// harness saw it during the workload, at `time` on the history's clock; the
/// harness writes these and the report reads them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderLine {
    pub time: Nanos,
    pub partition: Partition,
    /// The leading broker's id, -1 for none.
    pub leader: i32,
}

/// `leaders.jsonl`: one observed leader change a line; leader -1 means none.
/// A torn last line is skipped like the history's.
fn parse_leaders(text: &str) -> Result<Vec<LeaderChange>> {
    let mut changes = Vec::new();
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<LeaderLine>(line.trim_end()) {
            Ok(l) => changes.push(LeaderChange {
                time: seconds(l.time),
                partition: l.partition,
                leader: (l.leader >= 0).then_some(l.leader),
            }),
            Err(_) if !line.ends_with('\n') => break,
            Err(e) => bail!("leaders.jsonl line {}: {e}", n + 1),
        }
    }
    changes.sort_by(|a, b| a.time.total_cmp(&b.time));
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = concat!(
        r#"{"type":"header","format":1,"topic":"eoscheck"}"#,
        "\n",
        r#"{"type":"nemesis-start","time":1000000000,"fault":"ack-loss","targets":["kafka-2"],"detail":""}"#,
        "\n",
        r#"{"type":"invoke","time":1500000000,"message":{"producer":0,"index":0},"attempt":0,"partition":2}"#,
        "\n",
        r#"{"type":"invoke","time":1600000000,"message":{"producer":0,"index":1},"attempt":0,"partition":2}"#,
        "\n",
        r#"{"type":"invoke","time":1700000000,"message":{"producer":0,"index":2},"attempt":0,"partition":2}"#,
        "\n",
        r#"{"type":"ok","time":1510000000,"message":{"producer":0,"index":0},"attempt":0,"partition":2,"offset":0}"#,
        "\n",
        r#"{"type":"ok","time":1520000000,"message":{"producer":0,"index":0},"attempt":0,"partition":2,"offset":0}"#,
        "\n",
        r#"{"type":"fail","time":1700000000,"message":{"producer":0,"index":1},"attempt":0,"error":"x","definite":false}"#,
        "\n",
        r#"{"type":"nemesis-stop","time":3000000000,"fault":"ack-loss","targets":["kafka-2"],"detail":""}"#,
        "\n",
        r#"{"type":"ok","time":3500"#,
    );

    #[test]
    fn sends_get_latency_from_their_first_completion_and_a_torn_line_is_skipped() {
        let t = Timeline::parse(HISTORY, None).unwrap();
        assert_eq!(t.sends.len(), 2);
        assert!((t.sends[0].latency - 0.01).abs() < 1e-9);
        assert_eq!(t.sends[1].outcome, SendOutcome::Indeterminate);
        assert_eq!(t.uncompleted, 1);
        assert_eq!(
            t.faults,
            vec![FaultInterval {
                fault: "ack-loss".into(),
                targets: vec!["kafka-2".into()],
                start: 1.0,
                end: Some(3.0)
            }]
        );
        assert_eq!(t.faults_at(2.0).count(), 1);
        assert_eq!(t.faults_at(3.0).count(), 0);
        assert_eq!(
            t.invoked(
                MessageId {
                    producer: 0,
                    index: 2
                },
                0
            ),
            Some(1.7)
        );
        assert_eq!(t.last_event, 3.0);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let l = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&l, 0.5), Some(2.0));
        assert_eq!(quantile(&l, 0.99), Some(4.0));
        assert_eq!(quantile(&l, 0.0), Some(1.0));
        assert_eq!(quantile(&[], 0.5), None);
        let t = Timeline::parse(HISTORY, None).unwrap();
        assert_eq!(t.latencies(SendOutcome::Ok).len(), 1);
    }

    #[test]
    fn damage_before_the_last_line_names_the_line() {
        let damaged = HISTORY.replacen(r#"{"type":"invoke","time":1600000000"#, "{oops", 1);
        let err = format!("{:#}", Timeline::parse(&damaged, None).unwrap_err());
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn leaders_are_sorted_and_minus_one_is_no_leader() {
        let text = "{\"time\":2000000000,\"partition\":0,\"leader\":-1}\n{\"time\":1000000000,\"partition\":0,\"leader\":2}\n{\"ti";
        let t = Timeline::parse(r#"{"type":"header","format":1,"topic":"t"}"#, Some(text)).unwrap();
        assert_eq!(
            t.leaders.iter().map(|l| l.leader).collect::<Vec<_>>(),
            vec![Some(2), None]
        );
        assert_eq!(t.last_event, 2.0);
        assert!(parse_leaders("{\"time\":1}\n").is_err());
    }
}
