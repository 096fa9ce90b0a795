//! A pipeline's two logs, every data record with what the log did with it.
//!
//! The fate rule is the broker's and the Java consumer's: a record outside
//! any transaction counts as written; a transactional one takes the fate of
//! the next COMMIT or ABORT marker of its PID on its partition, and has none
//! (`no-marker`) when the read ends first.

use crate::anomaly::{Fate, PipelineOutput};
use crate::check::hashing::FastMap;
use crate::ids::{Epoch, MessageId, Offset, Partition, ProducerId};
use crate::log::{self, Batch, LogError, Marker, RawRecord};
use crate::payload::{self, OutputOf};
use bytes::Bytes;

/// One partition's data records in log order, each with its fate.
pub(crate) struct FateLog<T> {
    pub records: Vec<(T, Fate)>,
    /// Whether the final read reached the partition's end.
    pub complete: bool,
}

impl<T: Placed> FateLog<T> {
    /// Reads a partition file, making each data record a `T`.
    pub fn read(bytes: Bytes, complete: bool) -> Result<FateLog<T>, LogError> {
        let mut records: Vec<(T, Fate)> = Vec::new();
        let mut open: FastMap<ProducerId, Vec<usize>> = FastMap::default();
        log::visit(bytes, 0, |batch, data| match batch.control {
            Some(marker) => {
                let fate = match marker {
                    Some(Marker::Commit) => Fate::Committed,
                    Some(Marker::Abort) => Fate::Aborted,
                    None => return,
                };
                for at in open.remove(&batch.pid).unwrap_or_default() {
                    records[at].1 = fate;
                }
            }
            None => {
                for r in data {
                    if batch.transactional {
                        open.entry(batch.pid).or_default().push(records.len());
                        records.push((T::of(&batch, r), Fate::NoMarker));
                    } else {
                        records.push((T::of(&batch, r), Fate::Committed));
                    }
                }
            }
        })?;
        Ok(FateLog { records, complete })
    }

    /// The records at offsets `from..=to`, a slice found by binary search.
    pub fn between(&self, from: Offset, to: Offset) -> &[(T, Fate)] {
        let start = self.records.partition_point(|(r, _)| r.offset() < from);
        let end = self.records.partition_point(|(r, _)| r.offset() <= to);
        &self.records[start..end.max(start)]
    }

    /// The record at `offset`, if it is a data record.
    pub fn at(&self, offset: Offset) -> Option<&(T, Fate)> {
        self.between(offset, offset).first()
    }
}

/// A record that knows its offset.
pub(crate) trait Placed {
    fn of(batch: &Batch, record: &RawRecord) -> Self;
    fn offset(&self) -> Offset;
}

/// A data record of the input topic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InRecord {
    pub offset: Offset,
    pub pid: ProducerId,
    pub epoch: Epoch,
    pub message: Option<MessageId>,
}

impl Placed for InRecord {
    fn of(batch: &Batch, record: &RawRecord) -> InRecord {
        let value = record.value.as_deref().unwrap_or_default();
        InRecord {
            offset: record.offset,
            pid: batch.pid,
            epoch: batch.epoch,
            message: payload::decode(value).map(|(m, _)| m),
        }
    }

    fn offset(&self) -> Offset {
        self.offset
    }
}

/// A data record of the output topic, with the input it names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutRecord {
    pub offset: Offset,
    pub pid: ProducerId,
    pub epoch: Epoch,
    /// `None` when the value is no processor's output.
    pub of: Option<OutputOf>,
}

impl OutRecord {
    /// This output as an anomaly names it: where it is and who wrote it.
    pub fn named(&self, partition: Partition, of: OutputOf) -> PipelineOutput {
        PipelineOutput {
            partition,
            offset: self.offset,
            pid: self.pid,
            epoch: self.epoch,
            processor: of.processor,
            txn: of.txn,
        }
    }
}

impl Placed for OutRecord {
    fn of(batch: &Batch, record: &RawRecord) -> OutRecord {
        let value = record.value.as_deref().unwrap_or_default();
        OutRecord {
            offset: record.offset,
            pid: batch.pid,
            epoch: batch.epoch,
            of: OutputOf::decode(value).map(|(of, _)| of),
        }
    }

    fn offset(&self) -> Offset {
        self.offset
    }
}
