//! The final read: every partition from its first offset to the high watermark,
//! fetched raw from the leader and kept byte for byte.
//!
//! The checker decodes these bytes itself (`eoscheck check` must work on a copied
//! run directory years later), so the reader only frames complete RecordBatches and
//! never interprets records. Fetch v12 still names topics (v13+ wants topic ids) and
//! is served by Kafka 3.9 and 4.x alike. The fetch reads uncommitted
//! (isolation level 0): up to the high watermark, with every transaction's
//! records and markers, aborted and open ones too, never stopping at the last
//! stable offset. That offset, where a `read_committed` consumer would stop,
//! is asked for apart (ListOffsets) and kept in the manifest beside it.
//!
//! A run's read is stored as one zstd stream per partition ([`STORAGE`]),
//! written as it is fetched: the raw bytes of a 90 s run with 20 KB messages
//! are gigabytes, too many for a CI artifact, and repetitive (eoscheck's
//! payloads, record headers, batch after batch of the same producers).

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    time::Duration,
};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use checker::Storage;
use kafka_protocol::{
    messages::{
        fetch_request::{FetchPartition, FetchTopic},
        list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
        FetchRequest, ListOffsetsRequest, TopicName,
    },
    protocol::StrBytes,
};
use tracing::debug;

use super::{containers::Cluster, wire::Connection};

/// How long after its transaction timeout a transaction left open has been
/// aborted at the latest: the brokers look for such every second (see
/// `BROKER_SETTINGS`), and writing the markers takes a moment.
const ABORTED_WITHIN: Duration = Duration::from_secs(6);

/// How a run keeps its final read (`checker::Storage`).
pub const STORAGE: Storage = Storage::Zstd;
/// zstd's level for the final read: its default, fast enough to keep up
/// with a fetch from a local broker.
const ZSTD_LEVEL: i32 = 3;

/// Attempts at reading one partition before it is declared incomplete.
const READ_ATTEMPTS: usize = 6;
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads every partition of `topic` into `dir` (the run's `log/`) and writes
/// `manifest.json`. A partition is complete when its read reached a high watermark
/// that a second look confirmed did not move; one that could not be read after
/// several attempts (against whoever leads it by then) is marked incomplete, which
/// makes the verdict at best unknown.
pub async fn read_topic(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    dir: &Path,
) -> Result<TopicRead> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut entries = Vec::new();
    let (mut fetched, mut stored) = (0, 0);
    for partition in 0..partitions {
        let file = STORAGE.file_name(partition);
        let path = dir.join(&file);
        let mut outcome = None;
        for attempt in 1..=READ_ATTEMPTS {
            match read_stable(cluster, topic, partition, &path).await {
                Ok(read) => {
                    outcome = Some(read);
                    break;
                }
                Err(e) => {
                    tracing::warn!("final read of partition {partition}, attempt {attempt}: {e:#}");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
        entries.push(match outcome {
            Some(read) => {
                fetched += read.bytes;
                stored += std::fs::metadata(&path).map_or(0, |m| m.len());
                checker::PartitionLog {
                    partition,
                    log_start_offset: read.log_start_offset,
                    high_watermark: read.high_watermark,
                    last_stable_offset: read.last_stable_offset,
                    complete: true,
                    file,
                }
            }
            None => checker::PartitionLog {
                partition,
                log_start_offset: 0,
                high_watermark: 0,
                last_stable_offset: None,
                complete: false,
                file,
            },
        });
    }
    let manifest = checker::Manifest {
        format: checker::log::FORMAT,
        topic: topic.to_owned(),
        complete: entries.iter().all(|e| e.complete),
        partitions: entries,
        storage: STORAGE,
    };
    tracing::info!(
        "final read of {topic}: {} of batches kept in {} ({STORAGE:?})",
        megabytes(fetched),
        megabytes(stored)
    );
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    Ok(TopicRead {
        manifest,
        fetched_bytes: fetched,
        stored_bytes: stored,
    })
}

/// A topic's final read: its manifest, and how many bytes of batches were
/// fetched against how many its files keep.
pub struct TopicRead {
    pub manifest: checker::Manifest,
    pub fetched_bytes: u64,
    pub stored_bytes: u64,
}

/// One partition read from its leader into `out` as it was fetched, and
/// its bytes: for a look at the log that is no run's final read.
pub async fn read_raw(cluster: &Cluster, topic: &str, partition: i32, out: &Path) -> Result<Bytes> {
    let leader = cluster.leader_address(topic, partition).await?;
    read_partition(&leader, topic, partition, out, Storage::Raw, READ_TIMEOUT).await?;
    Ok(std::fs::read(out)?.into())
}

/// Reads a partition, then asks its leader for the last stable offset and the
/// high watermark again: the read counts only if nothing was committed
/// meanwhile.
async fn read_stable(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    path: &Path,
) -> Result<PartitionRead> {
    let leader = cluster.leader_address(topic, partition).await?;
    let mut read = read_partition(&leader, topic, partition, path, STORAGE, READ_TIMEOUT).await?;
    let mut conn = Connection::open(&leader, READ_TIMEOUT).await?;
    read.last_stable_offset =
        Some(latest_offset(&mut conn, topic, partition, Isolation::ReadCommitted).await?);
    let response = conn
        .call(
            FETCH_VERSION,
            &fetch_request(topic, partition, read.high_watermark),
        )
        .await?;
    let now = response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == partition)
        .map(|p| (p.error_code, p.high_watermark));
    match now {
        Some((0, hw)) if hw == read.high_watermark => Ok(read),
        Some((0, hw)) => bail!(
            "high watermark moved from {} to {hw} during the read",
            read.high_watermark
        ),
        other => bail!("could not confirm the high watermark: {other:?}"),
    }
}

/// Waits until no transaction holds any partition of `topic` open (every last
/// stable offset has reached its high watermark), at most until a transaction
/// `timeout` long, left open just now, would have been aborted by its
/// coordinator. Returns whether it settled; one that did not is left to the
/// checker, which finds what holds the last stable offset back.
pub async fn settle_transactions(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout + ABORTED_WITHIN;
    loop {
        match open_partitions(cluster, topic, partitions).await {
            Ok(open) if open.is_empty() => return true,
            Ok(open) => debug!(?open, "transactions still open"),
            Err(e) => debug!("asking for the last stable offsets: {e:#}"),
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The partitions whose last stable offset is behind their high watermark.
async fn open_partitions(cluster: &Cluster, topic: &str, partitions: i32) -> Result<Vec<i32>> {
    let mut open = Vec::new();
    for partition in 0..partitions {
        let leader = cluster.leader_address(topic, partition).await?;
        let mut conn = Connection::open(&leader, READ_TIMEOUT).await?;
        let stable = latest_offset(&mut conn, topic, partition, Isolation::ReadCommitted).await?;
        let high = latest_offset(&mut conn, topic, partition, Isolation::ReadUncommitted).await?;
        if stable < high {
            open.push(partition);
        }
    }
    Ok(open)
}

/// What a consumer reads up to.
#[derive(Clone, Copy, Debug)]
enum Isolation {
    /// Up to the high watermark.
    ReadUncommitted = 0,
    /// Up to the last stable offset: before the first record of a transaction
    /// still open.
    ReadCommitted = 1,
}

/// The offset a consumer at `isolation` reads up to, as the partition's leader
/// answers ListOffsets for the latest offset.
async fn latest_offset(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    isolation: Isolation,
) -> Result<i64> {
    const LATEST: i64 = -1;
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(isolation as i8)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(LATEST)])]);
    let response = conn.call(LIST_OFFSETS_VERSION, &request).await?;
    let answer = response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == partition)
        .map(|p| (p.error_code, p.offset));
    match answer {
        Some((0, offset)) => Ok(offset),
        Some((code, _)) => bail!(
            "ListOffsets ({isolation:?}) of partition {partition}: broker error {code} ({})",
            error_name(code)
        ),
        None => bail!("ListOffsets answered without partition {partition}"),
    }
}

const FETCH_VERSION: i16 = 12;
/// The first version with the isolation level is 2; 5 is served by Kafka 3.9
/// and 4.x alike.
const LIST_OFFSETS_VERSION: i16 = 5;
const PARTITION_MAX_BYTES: i32 = 8 << 20;
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// What reading one partition reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRead {
    pub partition: i32,
    pub log_start_offset: i64,
    /// The high watermark the read ended at: every offset below it was read.
    pub high_watermark: i64,
    /// Where a `read_committed` consumer would have stopped, asked for once
    /// the read ended.
    pub last_stable_offset: Option<i64>,
    pub batches: u64,
    pub bytes: u64,
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Where a partition's batches go: the file, or a zstd stream into it.
enum Sink {
    Raw(BufWriter<File>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

impl Sink {
    fn create(out: &Path, storage: Storage) -> Result<Sink> {
        let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let file = BufWriter::new(file);
        Ok(match storage {
            Storage::Raw => Sink::Raw(file),
            Storage::Zstd => {
                let mut stream = zstd::Encoder::new(file, ZSTD_LEVEL)?;
                // A damaged file is then found damaged, not misread.
                stream.include_checksum(true)?;
                Sink::Zstd(stream)
            }
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Raw(file) => file.write_all(bytes),
            Sink::Zstd(stream) => stream.write_all(bytes),
        }
    }

    /// Ends the zstd stream and flushes the file.
    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Raw(mut file) => file.flush(),
            Sink::Zstd(stream) => stream.finish()?.flush(),
        }
    }
}

/// Reads one partition from `leader` into `out`, stored as `storage` says,
/// from offset 0 (or the log start) to the high watermark. Any broker error
/// ends the read with an error; the caller decides whether to try again
/// against a new leader.
async fn read_partition(
    leader: &str,
    topic: &str,
    partition: i32,
    out: &Path,
    storage: Storage,
    timeout: Duration,
) -> Result<PartitionRead> {
    let mut conn = Connection::open(leader, timeout).await?;
    let mut sink = Sink::create(out, storage)?;
    let mut read = PartitionRead {
        partition,
        log_start_offset: 0,
        high_watermark: 0,
        last_stable_offset: None,
        batches: 0,
        bytes: 0,
    };
    let mut offset = 0i64;
    loop {
        let response = conn
            .call(FETCH_VERSION, &fetch_request(topic, partition, offset))
            .await?;
        let Some(data) = response
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
        else {
            bail!("fetch response from {leader} has no data for partition {partition}");
        };
        match data.error_code {
            0 => {}
            OFFSET_OUT_OF_RANGE if offset < data.log_start_offset => {
                offset = data.log_start_offset;
                continue;
            }
            code => bail!(
                "fetching partition {partition} at offset {offset} from {leader}: broker error {code} ({})",
                error_name(code)
            ),
        }
        read.log_start_offset = read.log_start_offset.max(data.log_start_offset);
        read.high_watermark = data.high_watermark;
        if offset >= data.high_watermark {
            break;
        }
        let records = data.records.unwrap_or_default();
        let mut progressed = false;
        for batch in complete_batches(records)? {
            // A fetch can start inside an older batch; keep each batch once.
            if batch.next_offset <= offset {
                continue;
            }
            sink.write_all(&batch.bytes)?;
            read.batches += 1;
            read.bytes += batch.bytes.len() as u64;
            offset = batch.next_offset;
            progressed = true;
        }
        if !progressed {
            bail!("partition {partition}: no complete batch at offset {offset} below the high watermark {}", data.high_watermark);
        }
    }
    sink.finish()?;
    debug!(?read, "partition read");
    Ok(read)
}

fn fetch_request(topic: &str, partition: i32, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(PARTITION_MAX_BYTES)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(offset)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(PARTITION_MAX_BYTES)])])
}

/// One RecordBatch exactly as the broker sent it.
struct RawBatch {
    bytes: Bytes,
    /// The offset after the batch's last record.
    next_offset: i64,
}

/// Splits fetched bytes into complete batches. A fetch may end inside a batch
/// (its size limit cuts it); that tail is dropped and fetched again next time.
fn complete_batches(mut records: Bytes) -> Result<Vec<RawBatch>> {
    // RecordBatch v2 header: baseOffset i64 @0, batchLength i32 @8, magic i8 @16,
    // lastOffsetDelta i32 @23.
    const HEADER: usize = 27;
    let mut batches = Vec::new();
    while records.len() >= HEADER {
        let base_offset = i64::from_be_bytes(records[0..8].try_into()?);
        let length = i32::from_be_bytes(records[8..12].try_into()?);
        let total = 12 + usize::try_from(length).context("negative batch length")?;
        if records.len() < total {
            break;
        }
        let magic = records[16];
        if magic != 2 {
            bail!(
                "batch at offset {base_offset} has magic {magic}; only RecordBatch v2 is supported"
            );
        }
        let last_delta = i32::from_be_bytes(records[23..27].try_into()?);
        let bytes = records.split_to(total);
        batches.push(RawBatch {
            bytes,
            next_offset: base_offset + i64::from(last_delta) + 1,
        });
    }
    Ok(batches)
}

fn error_name(code: i16) -> &'static str {
    match code {
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        6 => "NOT_LEADER_OR_FOLLOWER",
        74 => "FENCED_LEADER_EPOCH",
        75 => "UNKNOWN_LEADER_EPOCH",
        _ => "see Kafka's protocol error codes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base_offset: i64, records: i32, payload: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&base_offset.to_be_bytes());
        let length = (27 - 12 + payload) as i32;
        b.extend_from_slice(&length.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
        b.push(2); // magic
        b.extend_from_slice(&[0; 4]); // crc
        b.extend_from_slice(&[0; 2]); // attributes
        b.extend_from_slice(&(records - 1).to_be_bytes());
        b.extend(std::iter::repeat_n(0xab, payload));
        b
    }

    #[test]
    fn keeps_complete_batches_and_drops_a_cut_tail() {
        let mut bytes = batch(0, 3, 10);
        bytes.extend(batch(3, 2, 5));
        let cut = batch(5, 4, 40);
        bytes.extend(&cut[..cut.len() - 7]);
        let batches = complete_batches(Bytes::from(bytes)).unwrap();
        let next: Vec<i64> = batches.iter().map(|b| b.next_offset).collect();
        assert_eq!(next, vec![3, 5]);
        assert_eq!(batches[1].bytes.len(), 27 + 5);
    }

    #[test]
    fn rejects_old_message_formats() {
        let mut bytes = batch(0, 1, 4);
        bytes[16] = 1;
        let err = complete_batches(Bytes::from(bytes)).err().unwrap();
        assert!(err.to_string().contains("magic 1"), "{err}");
    }
}
