//! Damage is not an anomaly: before the checker believes anything a batch
//! says, its bytes must hold together, so that a damaged file is refused as
//! damaged instead of being judged as what some client did.
//!
//! The batch CRC covers the attributes to the end, and `kafka-protocol`'s
//! decoder checks it; the base offset, length, partition leader epoch and
//! magic before it are not covered, so they are checked here. The decoder
//! also trusts two counts before reading what they count, reserving memory
//! for the batch's record count and for each record's header count; both
//! must first fit the (decompressed) bytes that carry them. Once decoded, the
//! records must sit where the header says: the first at the base offset, the
//! last at base + last offset delta, each offset once.
//!
//! A compressed batch's counts are judged against its decompressed records,
//! never its compressed length: the workload pads values with one repeated
//! byte, so a gzip batch of 10 MB of records takes a few kilobytes. What
//! decompression may allocate is bounded all the same, so that a crafted batch
//! of a few bytes cannot claim gigabytes: a batch whose records decompress to
//! more than [`MAX_DECOMPRESSED`] (64 MiB) is refused as damaged. Producers
//! compress a batch they built uncompressed, and cap that at about a megabyte
//! by default (Java's `max.request.size` and `batch.size`, librdkafka's
//! `batch.size` and `message.max.bytes`; eoscheck's own values stay below
//! 1 MB); 64 times that leaves room for any producer configuration a run
//! plausibly tests, and with one batch decompressing per decode thread, keeps
//! a crafted file to a few hundred megabytes. `kafka-protocol`'s decompressors
//! grow their output without any limit (its snappy one zero-fills whatever
//! length a block declares), so the checker runs the same codecs itself: gzip
//! (`flate2`), LZ4 frames (`lz4`) and zstd (`zstd`) read through a limit, and
//! the snappy blocks' declared lengths are added up before any is filled.

use super::layout::{
    BASE_OFFSET_AT, BASE_TIMESTAMP_AT, FRAME, HEADER, LAST_OFFSET_DELTA_AT, LENGTH_AT, MAGIC,
    MAGIC_AT, RECORD_COUNT_AT,
};
use super::{damaged, LogError};
use crate::ids::Offset;
use anyhow::{ensure, Context};
use bytes::Bytes;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordSet};
use std::io::Read;
use std::ops::Range;

/// The highest base offset whose records' offsets (base + an i32 delta)
/// cannot overflow.
const MAX_BASE_OFFSET: Offset = Offset::MAX - i32::MAX as Offset;

/// The most bytes one batch's records may decompress to (see the module doc).
pub(crate) const MAX_DECOMPRESSED: usize = 64 << 20;

/// zstd's window, as a power of two: no larger than the most a batch may
/// decompress to, since a window beyond the output is never needed.
const ZSTD_WINDOW_LOG: u32 = MAX_DECOMPRESSED.ilog2();

/// Cuts a partition file into runs of whole batches of about `target` bytes,
/// checking only their lengths, so the runs can be decoded in parallel.
pub(crate) fn split(bytes: &[u8], target: usize) -> Result<Vec<Range<usize>>, LogError> {
    let mut chunks = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        at += batch_end(&bytes[at..]).map_err(|problem| LogError {
            byte: at,
            problem: damaged(&problem),
        })?;
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

/// Where the batch at the start of `bytes` ends.
fn batch_end(bytes: &[u8]) -> Result<usize, String> {
    let Some(frame) = bytes.get(..FRAME) else {
        return Err(format!(
            "truncated batch: {} bytes left, a batch header needs {}",
            bytes.len(),
            HEADER
        ));
    };
    let length = i32::from_be_bytes(frame[LENGTH_AT..].try_into().expect("4 bytes"));
    let length = usize::try_from(length)
        .ok()
        .filter(|&l| l >= HEADER - FRAME)
        .ok_or_else(|| format!("batch length {length} is too small for a RecordBatch v2"))?;
    if FRAME + length > bytes.len() {
        return Err(format!(
            "truncated batch: it claims {} bytes, the file has {} left",
            FRAME + length,
            bytes.len()
        ));
    }
    Ok(FRAME + length)
}

/// Decodes the batch at the start of `bytes` (whole, as [`split`] cut them),
/// moving past it; `Err` says how it is damaged.
pub(crate) fn decode(bytes: &mut Bytes) -> Result<RecordSet, String> {
    let header = Header::read(bytes)?;
    let framed = |records: &mut Bytes, compression| {
        let records = decompress(records, compression, MAX_DECOMPRESSED)?;
        let count = count_records(&records, header.base_timestamp)?;
        anyhow::ensure!(
            count == header.record_count,
            "it claims {} records, its bytes hold {count}",
            header.record_count
        );
        Ok(records)
    };
    let set = RecordBatchDecoder::decode_with_custom_compression(bytes, Some(framed))
        .map_err(|e| format!("it does not decode: {e:#}"))?;
    header.holds(&set.records)?;
    Ok(set)
}

/// What the checker reads of a batch header before the decoder does.
struct Header {
    base_offset: Offset,
    last_offset_delta: i32,
    base_timestamp: i64,
    record_count: u64,
}

impl Header {
    /// The header of the whole batch at the start of `bytes`, if the fields
    /// the CRC does not cover make sense and its record count is not
    /// negative.
    fn read(bytes: &[u8]) -> Result<Header, String> {
        let int = |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let long = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let base_offset = long(BASE_OFFSET_AT);
        if bytes[MAGIC_AT] != MAGIC {
            return Err(format!(
                "its magic byte is {}, where a RecordBatch v2 has {MAGIC}",
                bytes[MAGIC_AT]
            ));
        }
        if !(0..=MAX_BASE_OFFSET).contains(&base_offset) {
            return Err(format!("its base offset {base_offset} is not an offset"));
        }
        let records = int(RECORD_COUNT_AT);
        Ok(Header {
            base_offset,
            last_offset_delta: int(LAST_OFFSET_DELTA_AT),
            base_timestamp: long(BASE_TIMESTAMP_AT),
            record_count: u64::try_from(records)
                .map_err(|_| format!("it claims {records} records"))?,
        })
    }

    /// Whether the decoded records sit where the header says.
    fn holds(&self, records: &[Record]) -> Result<(), String> {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        let end = self.base_offset + Offset::from(self.last_offset_delta);
        if first.offset != self.base_offset || last.offset != end {
            return Err(format!(
                "its records run from offset {} to {}, its header says {} to {end}",
                first.offset, last.offset, self.base_offset
            ));
        }
        if records.windows(2).any(|w| w[1].offset <= w[0].offset) {
            return Err("its records' offsets do not increase".into());
        }
        Ok(())
    }
}

/// A batch's records, decompressed to at most `limit` bytes; `Err` if they
/// do not decompress, or to more.
fn decompress(
    records: &mut Bytes,
    compression: Compression,
    limit: usize,
) -> anyhow::Result<Bytes> {
    let compressed = std::mem::take(records);
    let input = &compressed[..];
    match compression {
        Compression::None => Ok(compressed),
        Compression::Gzip => bounded(flate2::read::MultiGzDecoder::new(input), limit),
        Compression::Lz4 => bounded(lz4::Decoder::new(input)?, limit),
        Compression::Zstd => {
            let mut zstd = zstd::stream::read::Decoder::with_buffer(input)?;
            zstd.window_log_max(ZSTD_WINDOW_LOG)?;
            bounded(zstd, limit)
        }
        Compression::Snappy => snappy(input, limit),
    }
    .with_context(|| format!("its {compression:?} records"))
}

/// Everything `reader` gives, if that is at most `limit` bytes.
fn bounded(reader: impl Read, limit: usize) -> anyhow::Result<Bytes> {
    let mut out = Vec::new();
    let mut limited = reader.take(limit as u64);
    limited.read_to_end(&mut out)?;
    let more = limited.into_inner().read(&mut [0])?;
    ensure!(
        more == 0,
        "they decompress to more than {limit} bytes, the most a batch may"
    );
    Ok(out.into())
}

/// snappy-java's framing, which Kafka's snappy batches use: this magic, a
/// version and a compatible version (4 bytes each), then blocks, each its
/// compressed length (u32, big-endian) and a raw snappy block. Without the
/// magic the records are one raw snappy block, which snappy-java reads too.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER: usize = 16;

/// Snappy records, their blocks' declared lengths added up and held to
/// `limit` before any output is made.
fn snappy(input: &[u8], limit: usize) -> anyhow::Result<Bytes> {
    let blocks = match input.starts_with(XERIAL_MAGIC) {
        true => xerial_blocks(input.get(XERIAL_HEADER..).context("a cut snappy header")?)?,
        false => vec![input],
    };
    let mut sizes = Vec::with_capacity(blocks.len());
    for block in &blocks {
        sizes.push(snap::raw::decompress_len(block)?);
    }
    let total = sizes.iter().try_fold(0usize, |sum, &n| sum.checked_add(n));
    ensure!(
        total.is_some_and(|total| total <= limit),
        "they decompress to more than {limit} bytes, the most a batch may"
    );
    let mut out = vec![0; total.unwrap_or_default()];
    let mut at = 0;
    let mut decoder = snap::raw::Decoder::new();
    for (block, size) in blocks.into_iter().zip(sizes) {
        decoder.decompress(block, &mut out[at..at + size])?;
        at += size;
    }
    Ok(out.into())
}

/// The raw blocks of snappy-java's framing, after its header.
fn xerial_blocks(mut rest: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    let mut blocks = Vec::new();
    while !rest.is_empty() {
        let (length, after) = rest
            .split_first_chunk::<4>()
            .context("a cut snappy block length")?;
        let length = u32::from_be_bytes(*length) as usize;
        let (block, after) = after
            .split_at_checked(length)
            .context("a snappy block longer than its batch")?;
        blocks.push(block);
        rest = after;
    }
    Ok(blocks)
}

/// How many records `records` holds, each framed by its length; `Err` if
/// they do not fill it exactly. `base_timestamp` is the batch's.
fn count_records(mut records: &[u8], base_timestamp: i64) -> anyhow::Result<u64> {
    let mut count = 0;
    while !records.is_empty() {
        records = after_record(records, base_timestamp)
            .ok_or_else(|| anyhow::anyhow!("its record {count} is malformed"))?;
        count += 1;
    }
    Ok(count)
}

/// The bytes after the first record of `records`, if that record is well
/// formed up to its header count, its timestamp (the batch's plus its delta)
/// is a number, and the count fits the bytes left (a header takes at least
/// two).
fn after_record(mut records: &[u8], base_timestamp: i64) -> Option<&[u8]> {
    let size = usize::try_from(varint(&mut records, 32)?).ok()?;
    let (mut record, rest) = records.split_at_checked(size)?;
    record = record.get(1..)?; // attributes
    base_timestamp.checked_add(varint(&mut record, 64)?)?;
    varint(&mut record, 32)?; // offset delta
    for _key_then_value in 0..2 {
        match varint(&mut record, 32)? {
            -1 => {}
            length => record = record.get(usize::try_from(length).ok()?..)?,
        }
    }
    let headers = varint(&mut record, 32)?;
    (0..=record.len() as i64 / 2)
        .contains(&headers)
        .then_some(rest)
}

/// Reads one zigzag varint of a `bits`-bit field (32 or 64), moving `bytes`
/// past it; `None` unless it ends within the bytes such a field may take and
/// its value fits the field, so the decoder reads it exactly so.
fn varint(bytes: &mut &[u8], bits: u32) -> Option<i64> {
    let mut byte = 0x80;
    let (mut zigzag, mut shift) = (0u64, 0);
    while byte >= 0x80 {
        let (&next, rest) = bytes.split_first()?;
        (byte, *bytes) = (next, rest);
        let part = u64::from(byte & 0x7f);
        if shift >= bits || part.checked_shr(bits - shift).unwrap_or(0) != 0 {
            return None;
        }
        zigzag |= part << shift;
        shift += 7;
    }
    Some((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};

    /// `data` compressed by `kafka-protocol`'s own codec `C`, as producers
    /// of every library write it.
    fn compressed<C: Compressor<BytesMut>>(data: &[u8]) -> Bytes
    where
        C::BufMut: BufMut,
    {
        let mut out = BytesMut::new();
        C::compress(&mut out, |buf| {
            buf.put_slice(data);
            Ok(())
        })
        .unwrap();
        out.freeze()
    }

    /// Every codec decompresses what it made up to the limit, and refuses
    /// one byte more, having made no more than the limit.
    #[test]
    fn decompression_is_held_to_its_limit() {
        let data = [b'.'; 100_000];
        for (compression, bytes) in [
            (Compression::Gzip, compressed::<Gzip>(&data)),
            (Compression::Snappy, compressed::<Snappy>(&data)),
            (Compression::Lz4, compressed::<Lz4>(&data)),
            (Compression::Zstd, compressed::<Zstd>(&data)),
            (
                Compression::Snappy,
                snap::raw::Encoder::new()
                    .compress_vec(&data)
                    .unwrap()
                    .into(),
            ),
        ] {
            assert!(bytes.len() < data.len() / 10, "{compression:?}");
            let whole = decompress(&mut bytes.clone(), compression, data.len()).unwrap();
            assert_eq!(whole, &data[..], "{compression:?}");
            let refused = decompress(&mut bytes.clone(), compression, data.len() - 1).unwrap_err();
            assert!(
                format!("{refused:#}").contains("more than 99999 bytes"),
                "{compression:?}: {refused:#}"
            );
        }
    }

    /// Snappy-java framing that does not hold together is refused before any
    /// block is decompressed.
    #[test]
    fn cut_snappy_framing_is_refused() {
        let whole = compressed::<Snappy>(&[b'.'; 1000]);
        for cut in [XERIAL_HEADER - 1, XERIAL_HEADER + 2, whole.len() - 1] {
            let mut bytes = whole.slice(..cut);
            assert!(
                decompress(&mut bytes, Compression::Snappy, 1 << 20).is_err(),
                "{cut}"
            );
        }
    }

    fn read(mut bytes: &[u8], bits: u32) -> Option<(i64, usize)> {
        varint(&mut bytes, bits).map(|value| (value, bytes.len()))
    }

    /// A varint is read as the decoder reads it, or refused.
    #[test]
    fn varints_are_read_as_the_decoder_reads_them_or_refused() {
        assert_eq!(read(&[0x00], 32), Some((0, 0)));
        assert_eq!(read(&[0x01, 0x7f], 32), Some((-1, 1)));
        assert_eq!(
            read(&[0xfe, 0xff, 0xff, 0xff, 0x0f], 32),
            Some((i32::MAX.into(), 0))
        );
        assert_eq!(
            read(&[0xfe, 0xff, 0xff, 0xff, 0x1f], 64),
            Some((u32::MAX.into(), 0))
        );
        // Too big for an int field, longer than the decoder reads, cut off.
        assert_eq!(read(&[0xfe, 0xff, 0xff, 0xff, 0x1f], 32), None);
        assert_eq!(read(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 32), None);
        assert_eq!(read(&[0x80], 64), None);
    }
}
