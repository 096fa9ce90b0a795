//! Damage is not an anomaly: a log file that is not what the brokers served
//! is refused as damaged (the harness exits 64), naming the byte where the bad
//! batch starts, and never judged as something a client did. Arbitrary bytes
//! and mutations of a valid log never panic, and never pass as a valid run
//! unless they decode to exactly what the valid log held, compressed or not.
//! Compressed batches of every codec are read, however far they compress,
//! as long as what they decompress to stays within the bound.

mod common;

use bytes::Bytes;
use checker::log::layout::{
    CRC_AT, CRC_FROM, FRAME, HEADER, LAST_OFFSET_DELTA_AT, LENGTH_AT, MAGIC, MAGIC_AT,
    RECORD_COUNT_AT,
};
use checker::synth::{generate, BatchSpec, Compression, SynthConfig, SynthRun};
use checker::{payload, Checker, Guarantee, LogError, Results, Validity};
use common::{batch, msg, options, Run};
use kafka_protocol::records::{Record, RecordBatchDecoder};
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::OnceLock;

/// The codecs a broker may keep batches in, besides none.
const CODECS: [Compression; 4] = [
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// A clean run of one partition (data batches, committed and aborted
/// transactions with their markers, epoch bumps, a restart), made once.
fn run() -> &'static SynthRun {
    static RUN: OnceLock<SynthRun> = OnceLock::new();
    RUN.get_or_init(|| clean_run(Compression::None))
}

/// The same run with its data batches gzip-compressed, made once.
fn gzip_run() -> &'static SynthRun {
    static RUN: OnceLock<SynthRun> = OnceLock::new();
    RUN.get_or_init(|| clean_run(Compression::Gzip))
}

fn clean_run(compression: Compression) -> SynthRun {
    generate(&SynthConfig {
        partitions: 1,
        compression,
        ..SynthConfig::clean(3, 500)
    })
    .unwrap()
}

/// The run's log, as the brokers served it.
fn clean_log() -> Vec<u8> {
    run().logs[0].to_vec()
}

/// Checks the run's history against `log` as its partition's file.
fn check(log: Vec<u8>) -> Result<Results, LogError> {
    check_run(run(), log)
}

/// Checks `run`'s history against `log` as its partition's file.
fn check_run(run: &SynthRun, log: Vec<u8>) -> Result<Results, LogError> {
    let mut checker = Checker::new(options(&Guarantee::ALL));
    run.for_each_event(|e| checker.observe(e).unwrap());
    checker.begin_log(&run.manifest);
    checker.read_partition(&run.manifest.partitions[0], Bytes::from(log))?;
    Ok(checker.finish())
}

fn is_damage(err: &LogError) -> bool {
    err.problem.contains("damaged") && err.problem.contains("not a client anomaly")
}

/// The error reading `log` gives, which must call the file damaged.
fn damage(log: Vec<u8>) -> LogError {
    let err = check(log).expect_err("a damaged log is refused");
    assert!(is_damage(&err), "{err}");
    err
}

fn field<const N: usize>(log: &[u8], at: usize) -> [u8; N] {
    log[at..at + N].try_into().unwrap()
}

/// Writes `value` as the 4-byte field at `at`.
fn set_int(log: &mut [u8], at: usize, value: i32) {
    log[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// The byte length of the batch starting at `at`: its frame (base offset,
/// length) plus the length it gives.
fn batch_len(log: &[u8], at: usize) -> usize {
    FRAME + i32::from_be_bytes(field(log, at + LENGTH_AT)) as usize
}

/// Where each batch of a well-framed log starts.
fn batch_starts(log: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    while let Some(next) = starts.last().map(|&at| at + batch_len(log, at)) {
        if next >= log.len() {
            return starts;
        }
        starts.push(next);
    }
    starts
}

/// Gives the batch at `at` the CRC its bytes have: what a crafted file, not
/// a damaged copy, would hold.
fn seal(log: &mut [u8], at: usize) {
    let end = at + batch_len(log, at);
    let crc = crc32c::crc32c(&log[at + CRC_FROM..end]);
    log[at + CRC_AT..at + CRC_FROM].copy_from_slice(&crc.to_be_bytes());
}

/// What a log decodes to with `kafka-protocol` alone, but for the partition
/// leader epoch, which the checker does not read; `None` if it does not
/// decode.
fn records(log: &[u8]) -> Option<Vec<Record>> {
    let sets = RecordBatchDecoder::decode_all(&mut Bytes::copy_from_slice(log)).ok()?;
    let clean = |mut r: Record| {
        r.partition_leader_epoch = 0;
        r
    };
    Some(
        sets.into_iter()
            .flat_map(|s| s.records)
            .map(clean)
            .collect(),
    )
}

#[test]
fn the_clean_log_is_valid() {
    let results = check(clean_log()).unwrap();
    assert_eq!(results.valid, Validity::Valid, "{:?}", results.anomalies);
    assert!(batch_starts(&clean_log()).len() > 10);
}

/// Batches of every codec, of padded values as the workload writes them
/// (1000 records of 10 KB, mostly `.`): each compresses to a small part of
/// its records and is read whole, and the run is valid.
#[test]
fn compressed_batches_of_every_codec_are_read_and_judged() {
    const RECORDS: u64 = 1000;
    const SIZE: usize = 10_000;
    for compression in CODECS {
        let mut run = Run::new(1);
        run.compression = compression;
        let messages: Vec<_> = (0..RECORDS).map(|i| msg(0, i)).collect();
        let values: Vec<Vec<u8>> = messages
            .iter()
            .map(|&m| payload::encode(m, 0, SIZE))
            .collect();
        for &m in &messages {
            run.invoke(m, 0, 0);
        }
        let values = BatchSpec {
            values: &values,
            ..batch(7, 0, 0, false)
        };
        run.append(0, values);
        for &m in &messages {
            run.ok(m, 0, 0, m.index as i64);
        }
        let stored = run.logs[0].len();
        assert!(
            stored < RECORDS as usize * SIZE / 20,
            "{compression:?}: {stored} bytes"
        );
        let results = run.check(&Guarantee::ALL);
        assert_eq!(results.valid, Validity::Valid, "{compression:?}");
        assert_eq!(results.stats.records_read, RECORDS, "{compression:?}");
    }
}

/// A batch whose records decompress to more than 64 MiB is refused as
/// damage.
#[test]
fn a_batch_that_decompresses_past_the_bound_is_damage() {
    let mut run = Run::new(1);
    run.compression = Compression::Zstd;
    let huge = [payload::encode(msg(0, 0), 0, (64 << 20) + 1)];
    run.invoke(msg(0, 0), 0, 0);
    run.append(
        0,
        BatchSpec {
            values: &huge,
            ..batch(7, 0, 0, false)
        },
    );
    let mut checker = Checker::new(options(&Guarantee::ALL));
    for e in &run.closed() {
        checker.observe(e).unwrap();
    }
    checker.begin_log(&run.manifest());
    let log = Bytes::from(run.logs[0].to_vec());
    let err = checker
        .read_partition(&run.entries[0], log)
        .expect_err("refused");
    assert!(is_damage(&err), "{err}");
    assert!(err.problem.contains("more than 67108864 bytes"), "{err}");
}

#[test]
fn a_truncated_log_names_the_byte_where_the_bad_batch_starts() {
    let mut log = clean_log();
    let last = *batch_starts(&log).last().unwrap();
    log.truncate(log.len() - 10);
    let err = damage(log);
    assert!(err.problem.contains("truncated batch"), "{err}");
    assert_eq!(err.byte, last);
}

/// A byte the CRC covers, changed: the decoder's CRC check catches it, and it
/// is damage, not an anomaly.
#[test]
fn a_crc_mismatch_is_damage() {
    let mut log = clean_log();
    let second = batch_len(&log, 0);
    log[second + HEADER + 3] ^= 0x20;
    let err = damage(log);
    assert_eq!(err.byte, second);
    assert!(
        err.problem.contains("Cyclic redundancy check failed"),
        "{err}"
    );
}

#[test]
fn a_magic_other_than_2_is_damage() {
    for magic in [0, 1, 3, 0xff] {
        let mut log = clean_log();
        let second = batch_len(&log, 0);
        log[second + MAGIC_AT] = magic;
        let err = damage(log);
        assert_eq!(err.byte, second);
        assert!(
            err.problem.contains(&format!("magic byte is {magic}")),
            "{err}"
        );
    }
}

/// A record count is believed only as far as the bytes hold that many
/// records: more (up to i32::MAX, which the decoder would reserve room for),
/// fewer, or a negative count is damage, even under a CRC that matches.
#[test]
fn a_record_count_the_bytes_do_not_hold_is_damage() {
    let held = i32::from_be_bytes(field(&clean_log(), RECORD_COUNT_AT));
    for claimed in [held + 1, held - 1, i32::MAX, -1] {
        let mut log = clean_log();
        set_int(&mut log, RECORD_COUNT_AT, claimed);
        seal(&mut log, 0);
        let err = damage(log);
        assert_eq!(err.byte, 0);
        assert!(
            err.problem.contains(&format!("claims {claimed} records")),
            "{err}"
        );
    }
}

/// The header's last offset delta must land on the last record decoded.
#[test]
fn a_last_offset_delta_past_the_last_record_is_damage() {
    let mut log = clean_log();
    let delta = i32::from_be_bytes(field(&log, LAST_OFFSET_DELTA_AT));
    set_int(&mut log, LAST_OFFSET_DELTA_AT, delta + 1);
    seal(&mut log, 0);
    let err = damage(log);
    assert!(err.problem.contains("its header says"), "{err}");
}

/// Reads the log with its second batch's base offset replaced by `offset`
/// (the batch CRC does not cover it): the error, and where the batch starts.
fn with_second_base_offset(offset: impl Fn(i64) -> i64) -> (LogError, usize) {
    let mut log = clean_log();
    let second = batch_len(&log, 0);
    let base = i64::from_be_bytes(field(&log, second));
    log[second..second + 8].copy_from_slice(&offset(base).to_be_bytes());
    (damage(log), second)
}

/// A batch whose offsets are out of place is a damaged file, named with its
/// byte, never blamed on the client.
#[test]
fn a_batch_out_of_place_is_damage_not_an_anomaly() {
    for (what, offset) in [
        (
            "the first batch's offsets again",
            &(|_| 0i64) as &dyn Fn(i64) -> i64,
        ),
        ("a flipped high byte", &|base| base ^ (1 << 40)),
        ("below the log start", &|_| -5),
        ("past any record's reach", &|_| i64::MAX),
    ] {
        let (err, second) = with_second_base_offset(offset);
        assert_eq!(err.byte, second, "{what}: {err}");
    }
}

/// One batch appended twice at the same offsets is damage too, not a duplicate.
#[test]
fn a_batch_appended_twice_is_damage_not_a_duplicate() {
    let log = clean_log();
    let first = batch_len(&log, 0);
    let mut doubled = log[..first].to_vec();
    doubled.extend_from_slice(&log);
    let err = damage(doubled);
    assert_eq!(err.byte, first, "{err}");
    assert!(
        err.problem.contains("do not follow the previous batch"),
        "{err}"
    );
}

/// A change to a log: a byte anywhere, a byte of some batch's header (most of
/// which the CRC does not cover), or a cut.
#[derive(Clone, Debug)]
enum Mutation {
    Byte(Index, u8),
    HeaderByte(Index, usize, u8),
    Cut(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Mutation::Byte(at, b)),
        3 => (any::<Index>(), 0..HEADER, any::<u8>())
            .prop_map(|(batch, at, b)| Mutation::HeaderByte(batch, at, b)),
        1 => any::<Index>().prop_map(Mutation::Cut),
    ]
}

fn mutate(log: &mut Vec<u8>, starts: &[usize], mutation: &Mutation) {
    match *mutation {
        Mutation::Byte(at, b) if !log.is_empty() => {
            let at = at.index(log.len());
            log[at] = b;
        }
        Mutation::HeaderByte(batch, at, b) => {
            if let Some(byte) = log.get_mut(*batch.get(starts) + at) {
                *byte = b;
            }
        }
        Mutation::Cut(at) => log.truncate(at.index(log.len() + 1)),
        Mutation::Byte(..) => {}
    }
}

/// Appends `n` as a zigzag varint, as record fields are written.
fn put_varint(out: &mut Vec<u8>, n: i64) {
    let mut zigzag = ((n << 1) ^ (n >> 63)) as u64;
    while zigzag >= 0x80 {
        out.push(zigzag as u8 | 0x80);
        zigzag >>= 7;
    }
    out.push(zigzag as u8);
}

/// One record's fields, any of them arbitrary: a header count the bytes
/// cannot hold, a timestamp delta that overflows, an offset delta out of
/// place (`None` is the record's position, as a producer writes it).
#[derive(Clone, Debug)]
struct Fields {
    timestamp_delta: i64,
    offset_delta: Option<i32>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: i32,
    tail: Vec<u8>,
}

fn fields() -> impl Strategy<Value = Fields> {
    let bytes = |most| proptest::collection::vec(any::<u8>(), 0..most);
    (
        prop_oneof![3 => 0i64..1000, 1 => any::<i64>()],
        prop_oneof![3 => Just(None), 1 => any::<i32>().prop_map(Some)],
        proptest::option::of(bytes(8)),
        proptest::option::of(bytes(40)),
        prop_oneof![4 => Just(0), 1 => 0i32..3, 1 => any::<i32>()],
        bytes(12),
    )
        .prop_map(
            |(timestamp_delta, offset_delta, key, value, headers, tail)| Fields {
                timestamp_delta,
                offset_delta,
                key,
                value,
                headers,
                tail,
            },
        )
}

impl Fields {
    /// Appends the record, framed by its length, as the record at `position`.
    fn encode(&self, position: usize, out: &mut Vec<u8>) {
        let mut record = vec![0]; // attributes
        put_varint(&mut record, self.timestamp_delta);
        put_varint(
            &mut record,
            self.offset_delta.map_or(position as i64, i64::from),
        );
        for part in [&self.key, &self.value] {
            match part {
                None => put_varint(&mut record, -1),
                Some(bytes) => {
                    put_varint(&mut record, bytes.len() as i64);
                    record.extend(bytes);
                }
            }
        }
        put_varint(&mut record, self.headers.into());
        record.extend(&self.tail);
        put_varint(out, record.len() as i64);
        out.extend(record);
    }
}

/// One batch under a matching CRC: any header (mostly a plausible one) and
/// records of arbitrary fields.
fn sealed_batch() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![3 => 0i64..100, 1 => any::<i64>()],
        proptest::collection::vec(any::<u8>(), HEADER - FRAME),
        prop_oneof![3 => Just(MAGIC), 1 => any::<u8>()],
        prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
        proptest::collection::vec(fields(), 0..6),
        prop_oneof![3 => Just(None), 1 => any::<i32>().prop_map(Some)],
    )
        .prop_map(|(base, header, magic, attributes, records, count)| {
            let mut body = Vec::new();
            for (position, record) in records.iter().enumerate() {
                record.encode(position, &mut body);
            }
            let mut batch = base.to_be_bytes().to_vec();
            batch.extend(((HEADER - FRAME + body.len()) as i32).to_be_bytes());
            batch.extend(header);
            batch.extend(body);
            batch[MAGIC_AT] = magic;
            batch[CRC_FROM + 1] = attributes;
            let count = count.unwrap_or(records.len() as i32);
            set_int(&mut batch, RECORD_COUNT_AT, count);
            let last_delta = records.len().saturating_sub(1) as i32;
            set_int(&mut batch, LAST_OFFSET_DELTA_AT, last_delta);
            seal(&mut batch, 0);
            batch
        })
}

/// A record claiming i32::MAX headers, which the decoder would reserve room
/// for, under a matching CRC: damage, refused before any reservation.
#[test]
fn a_header_count_the_record_cannot_hold_is_damage() {
    let record = Fields {
        timestamp_delta: 0,
        offset_delta: None,
        key: None,
        value: Some(b"eos1:0:0:0".to_vec()),
        headers: i32::MAX,
        tail: vec![0; 4],
    };
    let mut log = clean_log();
    let first = batch_len(&log, 0);
    let mut body = Vec::new();
    record.encode(0, &mut body);
    let mut batch = log[..HEADER].to_vec();
    batch.extend(body);
    let length = (batch.len() - FRAME) as i32;
    set_int(&mut batch, LENGTH_AT, length);
    set_int(&mut batch, LAST_OFFSET_DELTA_AT, 0);
    set_int(&mut batch, RECORD_COUNT_AT, 1);
    seal(&mut batch, 0);
    log.splice(..first, batch);
    let err = damage(log);
    assert_eq!(err.byte, 0);
    assert!(err.problem.contains("its record 0 is malformed"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8000, ..ProptestConfig::default() })]

    /// Bytes that are no log at all: damage, never a panic, never valid (the
    /// history's acknowledged sends are nowhere in them).
    #[test]
    fn arbitrary_bytes_are_damage(log in proptest::collection::vec(any::<u8>(), 0..4096)) {
        match check(log) {
            Err(err) => prop_assert!(is_damage(&err), "{}", err),
            Ok(results) => prop_assert_ne!(results.valid, Validity::Valid),
        }
    }

    /// Batches that pass the CRC but hold anything: the counts they claim
    /// reserve nothing the bytes do not hold; damage or judged, never a
    /// panic, never valid.
    #[test]
    fn sealed_batches_of_arbitrary_bytes_are_damage_or_judged(
        batches in proptest::collection::vec(sealed_batch(), 1..4),
    ) {
        match check(batches.concat()) {
            Err(err) => prop_assert!(is_damage(&err), "{}", err),
            Ok(results) => prop_assert_ne!(results.valid, Validity::Valid),
        }
    }
}

/// `run`'s log with `mutations` applied: refused as damage or judged, and a
/// valid verdict only if it decodes to exactly the records of the valid log
/// (offsets, counts, every record field).
fn judged_unless_damaged(run: &SynthRun, mutations: &[Mutation]) -> Result<(), TestCaseError> {
    let clean = run.logs[0].to_vec();
    let mut log = clean.clone();
    let starts = batch_starts(&log);
    for m in mutations {
        mutate(&mut log, &starts, m);
    }
    let decoded = records(&log);
    match check_run(run, log) {
        Err(err) => prop_assert!(is_damage(&err), "{}", err),
        Ok(results) => {
            prop_assert!(decoded.is_some(), "read a log the decoder refuses");
            if results.valid == Validity::Valid {
                prop_assert!(decoded == records(&clean), "valid, yet decoded differently");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16000, ..ProptestConfig::default() })]

    /// A valid log with bytes changed or cut is damage or judged, never valid
    /// unless it decodes unchanged.
    #[test]
    fn mutated_logs_are_never_valid_unless_they_decode_unchanged(
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        judged_unless_damaged(run(), &mutations)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// The same of a gzip-compressed log, whose records the CRC covers only
    /// as compressed bytes.
    #[test]
    fn mutated_compressed_logs_are_never_valid_unless_they_decode_unchanged(
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        judged_unless_damaged(gzip_run(), &mutations)?;
    }
}
