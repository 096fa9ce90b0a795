//! The run directory's `log/`: the final read of every partition, kept as the
//! raw RecordBatch v2 bytes the brokers returned, so a run can be re-checked
//! offline with exactly the bytes the original check saw.
//!
//! `log/manifest.json` ([`Manifest`]) says what was read and whether each
//! read completed; `log/partition-<P>.bin` holds that partition's complete
//! batches, concatenated in offset order, or from format 2 on
//! `partition-<P>.bin.zst` the same bytes as one zstd stream ([`Storage`]):
//! a long run's raw log shrinks several times over, enough to keep runs as
//! CI artifacts. The checker is given the decompressed bytes; every byte
//! position it names is one of those. Decoding goes batch by batch and
//! keeps only what the analysis needs ([`Chunk`]), never a whole log of
//! `kafka-protocol` records; `frame` refuses a batch whose bytes do not hold
//! together before anything it claims is believed.

use crate::ids::{
    Attempt, Epoch, MessageId, Offset, Partition, ProducerId, Sequence, NO_PRODUCER_ID,
};
use crate::payload;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

mod frame;
pub mod layout;
pub(crate) use frame::split;

/// The `log/manifest.json` layout this crate writes; it reads every one
/// since 1. Format 2 adds `storage`.
pub const FORMAT: u32 = 2;

/// `log/manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub topic: String,
    /// Whether the reader believes it read every partition to its high
    /// watermark; `false` makes the verdict at best unknown.
    pub complete: bool,
    pub partitions: Vec<PartitionLog>,
    /// How each partition's file holds its bytes; format 1 had only `raw`.
    #[serde(default)]
    pub storage: Storage,
}

/// How a partition's file holds its batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// The bytes as fetched.
    #[default]
    Raw,
    /// One zstd stream of them (`partition-<P>.bin.zst`).
    Zstd,
}

impl Storage {
    /// The file name of `partition`'s batches within `log/`.
    pub fn file_name(self, partition: Partition) -> String {
        match self {
            Storage::Raw => file_name(partition),
            Storage::Zstd => format!("{}.zst", file_name(partition)),
        }
    }
}

/// What was read of one partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionLog {
    pub partition: Partition,
    /// The first offset the broker still had when the read began.
    pub log_start_offset: Offset,
    /// The high watermark the read reached (one past the last offset read).
    pub high_watermark: Offset,
    /// Where a `read_committed` consumer stops: the first offset of the
    /// earliest transaction still open, or the high watermark when none is.
    /// Asked of the leader once the read ended; none in runs from before
    /// eoscheck recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stable_offset: Option<Offset>,
    /// Whether the read got from `log_start_offset` to `high_watermark`.
    pub complete: bool,
    /// File name within `log/`, normally [`file_name`].
    pub file: String,
}

impl Manifest {
    /// Parses `manifest.json`, refusing layouts this crate does not know.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if !(1..=FORMAT).contains(&manifest.format) {
            return Err(format!(
                "log manifest format {} is not supported (this checker reads formats 1 to {FORMAT})",
                manifest.format
            ));
        }
        if manifest.format < 2 && manifest.storage != Storage::Raw {
            return Err("a format 1 log manifest names a storage: format 2 added it".into());
        }
        Ok(manifest)
    }
}

/// The file name of `partition`'s batches within `log/`.
pub fn file_name(partition: Partition) -> String {
    format!("partition-{partition}.bin")
}

/// A log file the checker refuses, nearly always because it is damaged (see
/// `frame`): never judged, so never an anomaly. The harness adds the file
/// name and exits 64.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("byte {byte}: {problem}")]
pub struct LogError {
    /// Where the offending batch starts in the file.
    pub byte: usize,
    pub problem: String,
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
    /// The codec its records were compressed with, as Kafka names it.
    pub codec: &'static str,
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
    /// The keys of the records that have one: (record position in
    /// `records`, key).
    pub keys: Vec<(usize, Bytes)>,
}

/// How much of a foreign value an example shows.
const FOREIGN_PREVIEW: usize = 48;

/// A record as the frame decoder gives it.
pub(crate) type RawRecord = kafka_protocol::records::Record;

/// Calls `each` with every whole batch in `bytes`, which start at byte
/// `start` of the partition file, and its data records (none for a control
/// batch), in log order: the one walk over a partition file that the
/// producers' analysis and the pipeline's both take.
pub(crate) fn visit(
    mut bytes: Bytes,
    start: usize,
    mut each: impl FnMut(Batch, &[RawRecord]),
) -> Result<(), LogError> {
    let total = bytes.len();
    while !bytes.is_empty() {
        let byte = start + total - bytes.len();
        let set = frame::decode(&mut bytes).map_err(|problem| LogError {
            byte,
            problem: damaged(&problem),
        })?;
        let (Some(first), Some(last)) = (set.records.first(), set.records.last()) else {
            continue;
        };
        let batch = Batch {
            pid: first.producer_id,
            epoch: first.producer_epoch,
            transactional: first.transactional,
            control: first.control.then(|| marker(first.key.as_deref())),
            records: if first.control { 0 } else { set.records.len() },
            first_offset: first.offset,
            last_offset: last.offset,
            byte,
            codec: codec_name(set.compression),
        };
        let data = if first.control { &[][..] } else { &set.records };
        each(batch, data);
    }
    Ok(())
}

/// Decodes the whole batches in `bytes`, which start at byte `start` of the
/// partition file.
pub(crate) fn decode_chunk(bytes: Bytes, start: usize) -> Result<Chunk, LogError> {
    let mut chunk = Chunk::default();
    visit(bytes, start, |batch, records| {
        let no_producer = batch.pid == NO_PRODUCER_ID;
        chunk.batches.push(batch);
        for r in records {
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
            if let Some(key) = &r.key {
                chunk.keys.push((chunk.records.len(), key.clone()));
            }
            chunk.records.push(Record {
                offset: r.offset,
                // A batch without a producer id has base sequence -1, and the
                // decoder adds offset deltas to it anyway; keep the -1.
                sequence: if no_producer { -1 } else { r.sequence },
                index: id.index,
                producer: id.producer,
                attempt,
                decoded: message.is_some(),
            });
        }
    })?;
    Ok(chunk)
}

/// A codec as `compression.type` names it.
fn codec_name(compression: kafka_protocol::records::Compression) -> &'static str {
    use kafka_protocol::records::Compression;
    match compression {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const PARTITION: &str = r#"{"partition": 0, "log_start_offset": 0, "high_watermark": 5, "complete": true, "file": "partition-0.bin"}"#;

    fn manifest(format: u32, storage: Option<&str>) -> Result<Manifest, String> {
        let storage = storage.map_or(String::new(), |s| format!(r#", "storage": "{s}""#));
        Manifest::parse(&format!(
            r#"{{"format": {format}, "topic": "t", "complete": true, "partitions": [{PARTITION}]{storage}}}"#
        ))
    }

    /// Runs from before format 2 read as raw; format 2 names its storage;
    /// a layout this checker does not know is refused, never guessed at.
    #[test]
    fn every_manifest_format_reads_and_says_how_its_files_are_stored() {
        assert_eq!(manifest(1, None).unwrap().storage, Storage::Raw);
        assert_eq!(manifest(2, Some("zstd")).unwrap().storage, Storage::Zstd);
        assert_eq!(manifest(2, None).unwrap().storage, Storage::Raw);
        assert!(manifest(1, Some("zstd")).unwrap_err().contains("format 2"));
        assert!(manifest(3, None).unwrap_err().contains("formats 1 to 2"));
        assert!(manifest(2, Some("lz4")).is_err());
        assert_eq!(Storage::Zstd.file_name(4), "partition-4.bin.zst");
    }
}
