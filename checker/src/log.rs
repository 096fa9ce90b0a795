//! The run directory's `log/`: the final read of every partition, kept as the
//! raw RecordBatch v2 bytes the brokers returned, so a run can be re-checked
//! offline with exactly the bytes the original check saw.
//!
//! `log/manifest.json` ([`Manifest`]) says what was read and whether each
//! read completed; `log/partition-<P>.bin` holds that partition's complete
//! batches, concatenated in offset order. Decoding goes batch by batch and
//! keeps only what the analysis needs ([`Chunk`]), never a whole log of
//! `kafka-protocol` records.

use crate::ids::{
    Attempt, Epoch, MessageId, Offset, Partition, ProducerId, Sequence, NO_PRODUCER_ID,
};
use crate::payload;
use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The `log/manifest.json` layout this crate reads and writes.
pub const FORMAT: u32 = 1;

/// `log/manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub topic: String,
    /// Whether the reader believes it read every partition to its high
    /// watermark; `false` makes the verdict at best unknown.
    pub complete: bool,
    pub partitions: Vec<PartitionLog>,
}

/// What was read of one partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionLog {
    pub partition: Partition,
    /// The first offset the broker still had when the read began.
    pub log_start_offset: Offset,
    /// The high watermark the read reached (one past the last offset read).
    pub high_watermark: Offset,
    /// Whether the read got from `log_start_offset` to `high_watermark`.
    pub complete: bool,
    /// File name within `log/`, normally [`file_name`].
    pub file: String,
}

impl Manifest {
    /// Parses `manifest.json`, refusing layouts this crate does not know.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if manifest.format != FORMAT {
            return Err(format!(
                "log manifest format {} is not supported (this checker reads format {FORMAT})",
                manifest.format
            ));
        }
        Ok(manifest)
    }
}

/// The file name of `partition`'s batches within `log/`.
pub fn file_name(partition: Partition) -> String {
    format!("partition-{partition}.bin")
}

/// A log file that could not be decoded; the harness adds the file name.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("byte {byte}: {problem}")]
pub struct LogError {
    /// Where the offending batch starts in the file.
    pub byte: usize,
    pub problem: String,
}

/// Bytes before a batch's length field ends: base offset (8) + length (4).
const FRAME: usize = 12;
/// Bytes a batch header takes after the length field.
const HEADER_AFTER_LENGTH: usize = 49;
/// Where the record count sits, from the start of the batch.
const RECORD_COUNT_AT: usize = 57;

/// Cuts a partition file into runs of whole batches of about `target` bytes,
/// checking only the framing, so the runs can be decoded in parallel.
pub(crate) fn split(bytes: &[u8], target: usize) -> Result<Vec<Range<usize>>, LogError> {
    let mut chunks = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        let fail = |problem: String| LogError { byte: at, problem };
        let Some(frame) = bytes.get(at..at + FRAME) else {
            return Err(fail(format!(
                "truncated batch: {} bytes left, a batch header needs {}",
                bytes.len() - at,
                FRAME + HEADER_AFTER_LENGTH
            )));
        };
        let length = i32::from_be_bytes(frame[8..12].try_into().expect("4 bytes"));
        let length = usize::try_from(length)
            .ok()
            .filter(|&l| l >= HEADER_AFTER_LENGTH)
            .ok_or_else(|| {
                fail(format!(
                    "batch length {length} is too small for a RecordBatch v2"
                ))
            })?;
        let end = at + FRAME + length;
        if end > bytes.len() {
            return Err(fail(format!(
                "truncated batch: it claims {} bytes, the file has {} left",
                FRAME + length,
                bytes.len() - at
            )));
        }
        // The decoder reserves room for the claimed record count before it
        // reads any record; a count larger than the batch could hold is
        // corrupt and must not reach it.
        let count = i32::from_be_bytes(
            bytes[at + RECORD_COUNT_AT..at + RECORD_COUNT_AT + 4]
                .try_into()
                .expect("4 bytes"),
        );
        if count < 0 || count as usize > length {
            return Err(fail(format!(
                "batch claims {count} records in {length} bytes"
            )));
        }
        at = end;
        if at - start >= target {
            chunks.push(start..at);
            start = at;
        }
    }
    if start < at {
        chunks.push(start..at);
    }
    Ok(chunks)
}

/// The transaction marker a control batch carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    Commit,
    Abort,
}

/// One decoded batch: what all its records share.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    pub pid: ProducerId,
    pub epoch: Epoch,
    pub transactional: bool,
    /// `Some` for a control batch, which holds no messages.
    pub control: Option<Option<Marker>>,
    /// How many of the chunk's records belong to this batch.
    pub records: usize,
    /// The offsets of its first and last record (control records included).
    pub first_offset: Offset,
    pub last_offset: Offset,
    /// Where the batch starts in the partition file.
    pub byte: usize,
}

/// One decoded data record, reduced to what the analysis uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record {
    pub offset: Offset,
    pub sequence: Sequence,
    pub index: u64,
    pub producer: u32,
    pub attempt: Attempt,
    pub decoded: bool,
}

impl Record {
    pub fn message(&self) -> Option<(MessageId, Attempt)> {
        self.decoded.then_some((
            MessageId {
                producer: self.producer,
                index: self.index,
            },
            self.attempt,
        ))
    }
}

/// A run of decoded batches, in log order.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub batches: Vec<Batch>,
    pub records: Vec<Record>,
    /// Values that are not eoscheck payloads: (record position in `records`,
    /// start of the value), kept for the phantom examples.
    pub foreign: Vec<(usize, String)>,
}

/// How much of a foreign value an example shows.
const FOREIGN_PREVIEW: usize = 48;

/// Decodes the whole batches in `bytes`, which start at byte `start` of the
/// partition file.
pub(crate) fn decode_chunk(mut bytes: Bytes, start: usize) -> Result<Chunk, LogError> {
    let total = bytes.len();
    let mut chunk = Chunk::default();
    while !bytes.is_empty() {
        let byte = start + total - bytes.len();
        let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| LogError {
            byte,
            problem: format!("undecodable batch: {e:#}"),
        })?;
        let (Some(first), Some(last)) = (set.records.first(), set.records.last()) else {
            continue;
        };
        if set.records.windows(2).any(|w| w[1].offset <= w[0].offset) {
            return Err(LogError {
                byte,
                problem: damaged("its records' offsets do not increase"),
            });
        }
        chunk.batches.push(Batch {
            pid: first.producer_id,
            epoch: first.producer_epoch,
            transactional: first.transactional,
            control: first.control.then(|| marker(first.key.as_deref())),
            records: if first.control { 0 } else { set.records.len() },
            first_offset: first.offset,
            last_offset: last.offset,
            byte,
        });
        if first.control {
            continue;
        }
        for r in &set.records {
            let value = r.value.as_deref().unwrap_or_default();
            let message = payload::decode(value);
            if message.is_none() {
                let shown = &value[..value.len().min(FOREIGN_PREVIEW)];
                chunk.foreign.push((
                    chunk.records.len(),
                    String::from_utf8_lossy(shown).into_owned(),
                ));
            }
            let (id, attempt) = message.unwrap_or((
                MessageId {
                    producer: 0,
                    index: 0,
                },
                0,
            ));
            chunk.records.push(Record {
                offset: r.offset,
                // A batch without a producer id has base sequence -1, and the
                // decoder adds offset deltas to it anyway; keep the -1.
                sequence: if first.producer_id == NO_PRODUCER_ID {
                    -1
                } else {
                    r.sequence
                },
                index: id.index,
                producer: id.producer,
                attempt,
                decoded: message.is_some(),
            });
        }
    }
    Ok(chunk)
}

/// A structural fault of the log file, said so that nobody mistakes it for
/// something a client did: the file is damaged, and the checker will not judge
/// a client by it.
pub(crate) fn damaged(what: &str) -> String {
    format!(
        "the batch here is damaged: {what}. This is not a client anomaly: the log file is not \
         what the brokers served; copy the run directory again from its source, or run again"
    )
}

/// A control record's key is (version: i16, type: i16); type 0 aborts and 1
/// commits. Other types are not transaction markers.
fn marker(key: Option<&[u8]>) -> Option<Marker> {
    match key? {
        [_, _, 0, 0, ..] => Some(Marker::Abort),
        [_, _, 0, 1, ..] => Some(Marker::Commit),
        _ => None,
    }
}
