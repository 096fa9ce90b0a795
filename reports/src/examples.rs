//! Anomaly examples as the report shows them: every kind's example, whatever
//! its shape, reduced to the same facts (message, records in the log with
//! PID, epoch and sequence, the client's outcome, the faults), so one table
//! layout serves all kinds and a reader compares them at a glance.

use crate::markup::kebab;
use crate::timeline::Timeline;
use checker::anomaly::{
    AbortCommitted, AbortedRead, Anomalies, ClientSend, CommitLost, CommittedSkipped, ConsumerMiss,
    Duplicate, FailedButPresent, Finding, IdempotenceOff, KeySplit, LogCopy, Lost, OffsetAhead,
    OffsetBehind, OffsetGap, OffsetMismatch, Phantom, PipelineDuplicate, PipelineLost,
    PipelineOutput, PipelineReorder, PollRegress, PollSkip, PollStep, Reorder, SequenceBreak,
    SequenceGap, SequenceRegress, SequenceRepeat, TornTransaction, TxnOutcome, TxnStory,
    ZombieWrite,
};
use checker::ids::{Attempt, Epoch, MessageId, Offset, Partition, ProducerId, Sequence};
use checker::{Guarantee, Kind};

/// One anomaly kind as found in a run.
pub struct KindFinding<'a> {
    pub kind: Kind,
    pub count: u64,
    /// The kind's definition, as the checker wrote it into results.json.
    pub explanation: &'a str,
    pub violates: &'a [Guarantee],
    pub examples: Vec<Facts<'a>>,
}

/// What one example shows.
pub struct Facts<'a> {
    /// The example's own sentence.
    pub explanation: &'a str,
    pub message: Option<MessageId>,
    pub attempt: Option<Attempt>,
    /// The records concerned, as the log has them.
    pub records: Vec<LogRecord>,
    /// What the kind adds: the duplicate's cause, the sequence before, ...
    pub note: Option<String>,
    /// The client's view, for kinds about a send.
    pub send: Option<&'a ClientSend>,
}

impl Facts<'_> {
    /// When the example's send was invoked, where the history says.
    pub fn time(&self, timeline: &Timeline) -> Option<f64> {
        timeline.invoked(self.message?, self.attempt.unwrap_or(0))
    }
}

/// One record of the log, as examples show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogRecord {
    pub partition: Partition,
    pub offset: Offset,
    pub pid: ProducerId,
    pub epoch: Epoch,
    pub sequence: Sequence,
}

impl From<&LogCopy> for LogRecord {
    fn from(c: &LogCopy) -> Self {
        LogRecord {
            partition: c.partition,
            offset: c.offset,
            pid: c.pid,
            epoch: c.epoch,
            sequence: c.sequence,
        }
    }
}

/// An anomaly type whose examples the report can show.
trait Shown {
    fn facts(&self) -> Facts<'_>;
}

/// Every kind, in the checker's report order.
pub fn findings(anomalies: &Anomalies) -> Vec<KindFinding<'_>> {
    let a = anomalies;
    vec![
        finding(Kind::Lost, &a.lost),
        finding(Kind::CommitLost, &a.commit_lost),
        finding(Kind::CommittedSkipped, &a.committed_skipped),
        finding(Kind::Duplicate, &a.duplicate),
        finding(Kind::Reorder, &a.reorder),
        finding(Kind::KeySplit, &a.key_split),
        finding(Kind::TornTransaction, &a.torn_transaction),
        finding(Kind::AbortCommitted, &a.abort_committed),
        finding(Kind::ZombieWrite, &a.zombie_write),
        finding(Kind::AbortedRead, &a.aborted_read),
        finding(Kind::SequenceGap, &a.sequence_gap),
        finding(Kind::SequenceRepeat, &a.sequence_repeat),
        finding(Kind::SequenceRegress, &a.sequence_regress),
        finding(Kind::OffsetMismatch, &a.offset_mismatch),
        finding(Kind::FailedButPresent, &a.failed_but_present),
        finding(Kind::IdempotenceOff, &a.idempotence_off),
        finding(Kind::Phantom, &a.phantom),
        finding(Kind::PipelineLost, &a.pipeline_lost),
        finding(Kind::PipelineDuplicate, &a.pipeline_duplicate),
        finding(Kind::PipelineReorder, &a.pipeline_reorder),
        finding(Kind::OffsetAhead, &a.offset_ahead),
        finding(Kind::OffsetBehind, &a.offset_behind),
        finding(Kind::PollSkip, &a.poll_skip),
        finding(Kind::PollRegress, &a.poll_regress),
    ]
}

fn finding<A: Shown>(kind: Kind, f: &Finding<A>) -> KindFinding<'_> {
    let examples = f
        .examples
        .iter()
        .map(|e| Facts {
            explanation: &e.explanation,
            ..e.detail.facts()
        })
        .collect();
    KindFinding {
        kind,
        count: f.count,
        explanation: &f.explanation,
        violates: &f.violates,
        examples,
    }
}

/// Facts of an example about one send; the caller adds records and notes.
fn about(send: &ClientSend) -> Facts<'_> {
    Facts {
        explanation: "",
        message: Some(send.message),
        attempt: Some(send.attempt),
        records: Vec::new(),
        note: None,
        send: Some(send),
    }
}

/// Facts of an example found in the log alone, no send of which it tells.
fn in_log(
    message: Option<MessageId>,
    records: Vec<LogRecord>,
    note: Option<String>,
) -> Facts<'static> {
    Facts {
        explanation: "",
        message,
        attempt: None,
        records,
        note,
        send: None,
    }
}

fn sequence_break(b: &SequenceBreak) -> Facts<'_> {
    let note = match b.previous {
        Some(p) => format!("previous sequence {p}"),
        None => "first record of its epoch".to_string(),
    };
    let record = LogRecord {
        partition: b.partition,
        offset: b.offset,
        pid: b.pid,
        epoch: b.epoch,
        sequence: b.sequence,
    };
    in_log(b.message, vec![record], Some(note))
}

impl Shown for Lost {
    fn facts(&self) -> Facts<'_> {
        about(&self.send)
    }
}

impl Shown for Duplicate {
    fn facts(&self) -> Facts<'_> {
        Facts {
            records: self.copies.iter().map(LogRecord::from).collect(),
            note: Some(format!("cause {}", kebab(&self.cause))),
            ..about(&self.send)
        }
    }
}

impl Shown for Reorder {
    fn facts(&self) -> Facts<'_> {
        let mut note = format!(
            "landed after {} (offset {}), sent later",
            self.after, self.after_offset
        );
        if let Some(key) = &self.key {
            note += &format!("; key {key:?}");
        }
        Facts {
            records: vec![LogRecord::from(&self.copy)],
            note: Some(note),
            ..about(&self.send)
        }
    }
}

impl Shown for SequenceGap {
    fn facts(&self) -> Facts<'_> {
        sequence_break(&self.0)
    }
}

impl Shown for SequenceRepeat {
    fn facts(&self) -> Facts<'_> {
        sequence_break(&self.0)
    }
}

impl Shown for SequenceRegress {
    fn facts(&self) -> Facts<'_> {
        sequence_break(&self.0)
    }
}

impl Shown for OffsetMismatch {
    fn facts(&self) -> Facts<'_> {
        Facts {
            records: self.copies.iter().map(LogRecord::from).collect(),
            ..about(&self.send)
        }
    }
}

impl Shown for FailedButPresent {
    fn facts(&self) -> Facts<'_> {
        Facts {
            records: vec![LogRecord::from(&self.copy)],
            ..about(&self.send)
        }
    }
}

impl Shown for KeySplit {
    fn facts(&self) -> Facts<'_> {
        let places: Vec<String> = self
            .0
            .partitions
            .iter()
            .map(|p| format!("{} records in partition {}", p.records, p.partition))
            .collect();
        let note = format!("key {:?}: {}", self.0.key, places.join(", "));
        let message = self.0.partitions.iter().find_map(|p| p.message);
        in_log(message, Vec::new(), Some(note))
    }
}

impl Shown for IdempotenceOff {
    fn facts(&self) -> Facts<'_> {
        let record = LogRecord {
            partition: self.partition,
            offset: self.offset,
            pid: -1,
            epoch: -1,
            sequence: -1,
        };
        let note = format!(
            "producer {}: {} records without a PID; {}",
            self.producer,
            self.records,
            self.asked.describe()
        );
        in_log(None, vec![record], Some(note))
    }
}

impl Shown for Phantom {
    fn facts(&self) -> Facts<'_> {
        let record = LogRecord {
            partition: self.partition,
            offset: self.offset,
            pid: self.pid,
            epoch: self.epoch,
            sequence: self.sequence,
        };
        let note = self.value.as_ref().map(|v| format!("value {v:?}"));
        Facts {
            attempt: self.attempt,
            ..in_log(self.message, vec![record], note)
        }
    }
}

/// Facts of a transaction's example: its first message, the first record of
/// each of its segments, and a note telling the client's outcome, the fates
/// of its sends and where each segment ended.
fn transaction(story: &TxnStory) -> Facts<'_> {
    let records = story
        .parts
        .iter()
        .map(|p| LogRecord {
            partition: p.partition,
            offset: p.first_offset,
            pid: p.pid,
            epoch: p.epoch,
            sequence: -1,
        })
        .collect();
    let parts: Vec<String> = story
        .parts
        .iter()
        .map(|p| {
            let marker = p
                .marker
                .map_or("no marker".into(), |m| format!("marker at {m}"));
            format!(
                "partition {} offsets {}..={} ({} records) {}, {marker}",
                p.partition,
                p.first_offset,
                p.last_offset,
                p.records,
                kebab(&p.fate)
            )
        })
        .collect();
    let mut note = format!(
        "transaction {}/{}{}: {}; {} sends, {} committed, {} aborted, {} without a marker, {} not in the log; {}",
        story.producer,
        story.txn,
        story
            .transactional_id
            .as_ref()
            .map_or(String::new(), |id| format!(" ({id})")),
        outcome(&story.outcome),
        story.sends,
        story.committed,
        story.aborted,
        story.unmarked,
        story.absent,
        parts.join("; ")
    );
    if let Some((producer, txn)) = story.shared_segment_with {
        note += &format!("; a segment also held transaction {producer}/{txn}");
    }
    in_log(
        story.messages.first().map(|m| m.message),
        records,
        Some(note),
    )
}

/// What the client was told, in a few words.
fn outcome(outcome: &TxnOutcome) -> String {
    match outcome {
        TxnOutcome::Committed => "commit ok".into(),
        TxnOutcome::Aborted { abort_ok: true } => "aborted".into(),
        TxnOutcome::Aborted { abort_ok: false } => "abort asked, not confirmed".into(),
        TxnOutcome::CommitFailed { error } => format!("commit failed ({error})"),
        TxnOutcome::CommitUnknown { error } => format!("commit unknown ({error})"),
        TxnOutcome::NotEnded => "never ended".into(),
    }
}

impl Shown for CommitLost {
    fn facts(&self) -> Facts<'_> {
        transaction(&self.0)
    }
}

impl Shown for TornTransaction {
    fn facts(&self) -> Facts<'_> {
        transaction(&self.0)
    }
}

impl Shown for AbortCommitted {
    fn facts(&self) -> Facts<'_> {
        transaction(&self.0)
    }
}

impl Shown for ZombieWrite {
    fn facts(&self) -> Facts<'_> {
        let facts = transaction(&self.story);
        let fenced = format!(
            "; fenced by producer {}'s init at {:.3} s",
            self.fenced_by,
            self.fenced_at as f64 / 1e9
        );
        Facts {
            note: facts.note.map(|n| n + &fenced),
            ..facts
        }
    }
}

/// Facts of a consumer's miss: the record, and what the log did with it.
fn consumer_miss(miss: &ConsumerMiss) -> Facts<'_> {
    let record = LogRecord {
        partition: miss.partition,
        offset: miss.offset,
        pid: miss.pid,
        epoch: miss.epoch,
        sequence: -1,
    };
    let fate = miss.fate.map_or("a control record", |f| f.name());
    in_log(
        miss.message,
        vec![record],
        Some(format!("in the log: {fate}")),
    )
}

impl Shown for AbortedRead {
    fn facts(&self) -> Facts<'_> {
        consumer_miss(&self.0)
    }
}

impl Shown for CommittedSkipped {
    fn facts(&self) -> Facts<'_> {
        consumer_miss(&self.0)
    }
}

/// An output record of a pipeline, as examples show it (outputs carry no
/// sequence the report needs).
impl From<&PipelineOutput> for LogRecord {
    fn from(o: &PipelineOutput) -> LogRecord {
        LogRecord {
            partition: o.partition,
            offset: o.offset,
            pid: o.pid,
            epoch: o.epoch,
            sequence: -1,
        }
    }
}

/// Who wrote pipeline outputs: processor slots and their transactions.
fn writers(outputs: &[PipelineOutput]) -> String {
    let each = outputs
        .iter()
        .map(|o| format!("processor {} transaction {}", o.processor, o.txn));
    each.collect::<Vec<_>>().join(", ")
}

impl Shown for PipelineLost {
    fn facts(&self) -> Facts<'_> {
        let note = format!(
            "input {}@{} has no committed output; {}@{} after it has",
            self.input.partition, self.input.offset, self.input.partition, self.next_processed
        );
        in_log(self.input.message, Vec::new(), Some(note))
    }
}

impl Shown for PipelineDuplicate {
    fn facts(&self) -> Facts<'_> {
        let note = format!(
            "input {}@{}, written by {}",
            self.input.partition,
            self.input.offset,
            writers(&self.outputs)
        );
        let records = self.outputs.iter().map(LogRecord::from).collect();
        in_log(self.input.message, records, Some(note))
    }
}

impl Shown for PipelineReorder {
    fn facts(&self) -> Facts<'_> {
        let note = format!(
            "output of input {}@{} after that of {}@{}, by {}",
            self.input.partition,
            self.input.offset,
            self.input.partition,
            self.after,
            writers(std::slice::from_ref(&self.output))
        );
        let records = vec![LogRecord::from(&self.output)];
        in_log(self.input.message, records, Some(note))
    }
}

/// Facts of a group offset against the committed output.
fn offset_gap(gap: &OffsetGap) -> Facts<'static> {
    let note = format!(
        "group offset {} of input partition {}; {} inputs at {}..={}",
        gap.committed, gap.partition, gap.records, gap.first, gap.last
    );
    in_log(None, Vec::new(), Some(note))
}

impl Shown for OffsetAhead {
    fn facts(&self) -> Facts<'_> {
        offset_gap(&self.0)
    }
}

impl Shown for OffsetBehind {
    fn facts(&self) -> Facts<'_> {
        offset_gap(&self.0)
    }
}

/// Facts of one step of a processor's polls.
fn poll_step(step: &PollStep, what: &str) -> Facts<'static> {
    let note = format!(
        "processor {} got {}@{} after {}@{}{what}",
        step.processor, step.partition, step.delivered, step.partition, step.after
    );
    in_log(None, Vec::new(), Some(note))
}

impl Shown for PollSkip {
    fn facts(&self) -> Facts<'_> {
        let skipped = format!(", skipping {} from {}", self.skipped, self.first_skipped);
        poll_step(&self.step, &skipped)
    }
}

impl Shown for PollRegress {
    fn facts(&self) -> Facts<'_> {
        poll_step(&self.0, "")
    }
}
