//! Where the fields of a RecordBatch v2 header sit, counted in bytes from
//! the start of the batch: the one statement of the wire layout for the
//! checks that do not trust the decoder with them, and for tests that build
//! damaged batches.

/// Base offset (i64), which the CRC does not cover.
pub const BASE_OFFSET_AT: usize = 0;
/// Batch length (i32): the bytes after this field.
pub const LENGTH_AT: usize = 8;
/// Where the length field ends: the bytes a batch has besides its length.
pub const FRAME: usize = 12;
pub const MAGIC_AT: usize = 16;
/// The CRC (u32) of the bytes from [`CRC_FROM`] to the end of the batch.
pub const CRC_AT: usize = 17;
/// Where the CRC's coverage starts: the attributes (i16).
pub const CRC_FROM: usize = 21;
pub const LAST_OFFSET_DELTA_AT: usize = 23;
pub const BASE_TIMESTAMP_AT: usize = 27;
pub const RECORD_COUNT_AT: usize = 57;
/// The whole header: the first record starts here.
pub const HEADER: usize = 61;
/// The magic byte of RecordBatch v2, the only layout Kafka writes since 0.11.
pub const MAGIC: u8 = 2;
