//! What the checker remembers while it walks one partition in log order:
//! the sequence state of every (PID, epoch), the latest-sent message of every
//! producer session (for order), and transactions still waiting for their
//! COMMIT or ABORT marker.

use super::hashing::FastMap;
use super::keys::KeyNumber;
use crate::anomaly::{Anomalies, SequenceBreak, SequenceGap, SequenceRegress, SequenceRepeat};
use crate::consumed::ConsumedPartition;
use crate::ids::{Epoch, MessageId, Offset, Producer, ProducerId, Sequence, NO_PRODUCER_ID};
use crate::log::{Batch, Record};
use crate::results::{PartitionStats, SessionStats};
use crate::PartitionLog;
use std::collections::BTreeMap;

/// Sequences live in 0..=i32::MAX and wrap from i32::MAX to 0.
const SEQUENCE_SPACE: i64 = 1 << 31;

/// A data record of a transaction whose outcome is not read yet.
pub(crate) struct Pending {
    pub epoch: Epoch,
    pub record: Record,
    pub foreign: Option<String>,
    pub key: Option<KeyNumber>,
}

/// The latest-sent message a producer session has in this partition so far.
#[derive(Clone, Copy)]
pub(crate) struct Latest {
    pub message: MessageId,
    pub offset: Offset,
}

pub(crate) struct Scan {
    pub stats: PartitionStats,
    /// Whether the read began at offset 0, so every (PID, epoch) must begin
    /// at sequence 0 here.
    from_start: bool,
    session_of: FastMap<(ProducerId, Epoch), usize>,
    previous: Vec<Option<Sequence>>,
    latest_of: FastMap<(Producer, ProducerId), Latest>,
    pub open: BTreeMap<ProducerId, Vec<Pending>>,
    /// What a `read_committed` consumer delivered from this partition, when
    /// the run has it.
    pub delivery: Option<ConsumedPartition>,
}

impl Scan {
    pub fn new(entry: &PartitionLog) -> Self {
        Scan {
            stats: PartitionStats {
                partition: entry.partition,
                log_start_offset: entry.log_start_offset,
                high_watermark: entry.high_watermark,
                complete: entry.complete,
                ..PartitionStats::default()
            },
            from_start: entry.log_start_offset == 0,
            session_of: FastMap::default(),
            previous: Vec::new(),
            latest_of: FastMap::default(),
            open: BTreeMap::new(),
            delivery: None,
        }
    }

    /// Checks the sequences of one data batch (transactional ones too: an
    /// aborted record still took its sequence number) and counts it.
    pub fn sequences(
        &mut self,
        batch: &Batch,
        records: &[Record],
        anomalies: &mut Anomalies,
        limit: usize,
    ) {
        let Some(last) = records.last() else { return };
        let key = (batch.pid, batch.epoch);
        let at = *self.session_of.entry(key).or_insert_with(|| {
            let idempotent = batch.pid != NO_PRODUCER_ID;
            self.stats.sessions.push(SessionStats {
                pid: batch.pid,
                epoch: batch.epoch,
                producers: Vec::new(),
                first_sequence: if idempotent { records[0].sequence } else { -1 },
                last_sequence: -1,
                records: 0,
            });
            self.previous
                .push((idempotent && self.from_start).then_some(-1));
            self.stats.sessions.len() - 1
        });
        let session = &mut self.stats.sessions[at];
        session.records += records.len() as u64;
        let mut producer = None;
        for r in records.iter().filter(|r| r.decoded) {
            if producer != Some(r.producer) && !session.producers.contains(&r.producer) {
                session.producers.push(r.producer);
            }
            producer = Some(r.producer);
        }
        if batch.pid == NO_PRODUCER_ID {
            return;
        }
        session.last_sequence = last.sequence;
        let previous = &mut self.previous[at];
        for r in records {
            if let Some(p) = *previous {
                let step = (i64::from(r.sequence) - i64::from(p)).rem_euclid(SEQUENCE_SPACE);
                if step != 1 {
                    let seen = (p != -1).then_some(p);
                    let found = || SequenceBreak {
                        partition: self.stats.partition,
                        offset: r.offset,
                        pid: batch.pid,
                        epoch: batch.epoch,
                        previous: seen,
                        sequence: r.sequence,
                        message: r.message().map(|(m, _)| m),
                    };
                    // Forward within half the space is a skip, else a step
                    // back; a first record other than 0 always skipped some.
                    match step {
                        0 if seen.is_some() => anomalies
                            .sequence_repeat
                            .add(limit, || SequenceRepeat(found())),
                        s if s < SEQUENCE_SPACE / 2 || seen.is_none() => {
                            anomalies.sequence_gap.add(limit, || SequenceGap(found()))
                        }
                        _ => anomalies
                            .sequence_regress
                            .add(limit, || SequenceRegress(found())),
                    }
                }
            }
            // Resynchronise on every record, so one break is reported once.
            *previous = Some(r.sequence);
        }
    }

    /// Notes that `message` (attempt 0, first copy) landed at `offset` in the
    /// session (`producer`, `pid`); returns the later-sent message it landed
    /// after, if any.
    pub fn order(&mut self, pid: ProducerId, message: MessageId, offset: Offset) -> Option<Latest> {
        let latest = self
            .latest_of
            .entry((message.producer, pid))
            .or_insert(Latest { message, offset });
        if message.index < latest.message.index {
            return Some(*latest);
        }
        *latest = Latest { message, offset };
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::Kind;

    fn record(offset: Offset, sequence: Sequence) -> Record {
        Record {
            offset,
            sequence,
            index: offset as u64,
            producer: 0,
            attempt: 0,
            decoded: true,
        }
    }

    fn run(from: Offset, batches: &[(Epoch, &[Sequence])]) -> Anomalies {
        let entry = PartitionLog {
            partition: 0,
            log_start_offset: from,
            high_watermark: 0,
            last_stable_offset: None,
            complete: true,
            file: String::new(),
        };
        let mut scan = Scan::new(&entry);
        let mut anomalies = Anomalies::new();
        let mut offset = from;
        for &(epoch, seqs) in batches {
            let records: Vec<Record> = seqs
                .iter()
                .map(|&s| {
                    offset += 1;
                    record(offset - 1, s)
                })
                .collect();
            let batch = Batch {
                pid: 7,
                epoch,
                transactional: false,
                control: None,
                records: records.len(),
                first_offset: offset - records.len() as Offset,
                last_offset: offset - 1,
                byte: 0,
                codec: "none",
            };
            scan.sequences(&batch, &records, &mut anomalies, 10);
        }
        anomalies
    }

    fn counts(a: &Anomalies) -> [u64; 3] {
        [
            a.count(Kind::SequenceGap),
            a.count(Kind::SequenceRepeat),
            a.count(Kind::SequenceRegress),
        ]
    }

    #[test]
    fn contiguous_wrapping_and_epoch_resets_are_clean() {
        assert_eq!(
            counts(&run(0, &[(0, &[0, 1, 2]), (0, &[3]), (1, &[0, 1])])),
            [0, 0, 0]
        );
        assert_eq!(
            counts(&run(5, &[(0, &[i32::MAX - 1, i32::MAX]), (0, &[0, 1])])),
            [0, 0, 0]
        );
    }

    #[test]
    fn breaks_are_classified_once_each() {
        assert_eq!(counts(&run(0, &[(0, &[0, 1]), (0, &[3, 4])])), [1, 0, 0]);
        assert_eq!(counts(&run(0, &[(0, &[0, 1]), (0, &[1, 2])])), [0, 1, 0]);
        assert_eq!(
            counts(&run(0, &[(0, &[0, 1, 2]), (0, &[0, 1, 2])])),
            [0, 0, 1]
        );
        // An epoch that does not start at 0 is a gap when the read saw the
        // partition from its beginning, and unjudgeable otherwise.
        assert_eq!(counts(&run(0, &[(0, &[4, 5])])), [1, 0, 0]);
        assert_eq!(counts(&run(10, &[(0, &[4, 5])])), [0, 0, 0]);
    }
}
