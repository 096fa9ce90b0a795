//! Synthetic runs: a seeded simulation of producers writing to partitions,
//! producing the same artefacts a real run leaves (history events, raw
//! RecordBatch v2 bytes per partition, a manifest), optionally with chosen
//! anomalies injected at known messages.
//!
//! It exists so the checker can be tested against every anomaly kind and
//! against clean runs, and benchmarked at ten million records. The
//! simulation keeps history compactly (one step per batch, expanded to events
//! on demand), so a ten-million-record run costs little more than its log.
//!
//! A clean run has several producers and partitions, batches of 1 to
//! `max_batch` records, epoch bumps, restarts with new PIDs, indeterminate
//! sends that did and did not land, definite failures, committed and aborted
//! transactions of an extra transactional producer, and a nemesis fault
//! spanning the middle third.
//!
//! A keyed run gives every record its message's key ([`payload::key_of`]),
//! names no partition in its invokes, and puts each message where a stand-in
//! for the library's default partitioner does: key number modulo the
//! partition count. Consecutive messages of a producer then rarely share a
//! partition, so its batches hold one message each; a message that must go
//! to a given partition (a second batch for a reorder, say) is the
//! producer's next one whose key the partitioner puts there, and the messages
//! skipped are never sent.

mod consumer;
mod pipeline;
mod txn;

pub use pipeline::{pipeline, PipelineInjection, PipelineRun};

use crate::anomaly::{DuplicateCause, Kind};
use crate::check::Idempotence;
use crate::consumed::Consumed;
use crate::history::{Event, Nanos, FORMAT};
use crate::ids::{
    Attempt, Epoch, MessageId, Offset, Partition, Producer, ProducerId, Sequence, Txn,
    NO_PRODUCER_ID,
};
use crate::log::{self, Manifest, PartitionLog};
use crate::payload;
use bytes::{Bytes, BytesMut};
pub use kafka_protocol::records::Compression;
use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use std::collections::BTreeSet;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    pub seed: u64,
    pub producers: u32,
    pub partitions: u32,
    /// First sends (attempt 0) of the ordinary producers.
    pub messages: u64,
    /// Records per batch are drawn from 1..=max_batch.
    pub max_batch: u32,
    /// Bytes per record value.
    pub value_size: usize,
    /// Idempotent producers have PIDs, epochs and sequences; others write -1.
    pub idempotent: bool,
    pub epoch_bumps: u32,
    /// Producer restarts, each with a new PID.
    pub restarts: u32,
    /// Batches whose sends end indeterminate; every other one lands.
    pub indeterminate: u32,
    /// Batches rejected with a definite failure (never written).
    pub failures: u32,
    /// Transactions of an extra producer, alternately committed and aborted.
    pub transactions: u32,
    /// Keys of a keyed run (see the module doc); 0 for records without keys.
    pub keys: u32,
    /// How data batches are compressed.
    pub compression: Compression,
    pub inject: Vec<Injection>,
}

impl SynthConfig {
    /// A clean idempotent run with every realistic complication.
    pub fn clean(seed: u64, messages: u64) -> SynthConfig {
        SynthConfig {
            seed,
            producers: 4,
            partitions: 3,
            messages,
            max_batch: 50,
            value_size: 32,
            idempotent: true,
            epoch_bumps: 2,
            restarts: 1,
            indeterminate: 4,
            failures: 2,
            transactions: 2,
            keys: 0,
            compression: Compression::None,
            inject: Vec::new(),
        }
    }

    /// Whether the run is keyed.
    fn keyed(&self) -> bool {
        self.keys > 0
    }
}

impl SynthConfig {
    /// The clean run `eoscheck bench checker` times: eight producers over
    /// six partitions, 32-byte values.
    pub fn benchmark(messages: u64) -> SynthConfig {
        SynthConfig {
            producers: 8,
            partitions: 6,
            ..SynthConfig::clean(42, messages)
        }
    }

    /// The benchmark with about four records in five transactional: about
    /// `records` in all, the transactional producer's in transactions of
    /// 1 to 50 (25.5 on average) over two partitions each, every other
    /// transaction aborted.
    pub fn transactional_benchmark(records: u64) -> SynthConfig {
        let in_transactions = records * 4 / 5;
        SynthConfig {
            transactions: u32::try_from(in_transactions * 2 / 51).unwrap_or(u32::MAX),
            ..SynthConfig::benchmark(records - in_transactions)
        }
    }
}

/// An anomaly the simulation can plant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    Lost,
    Duplicate(DuplicateCause),
    Reorder,
    SequenceGap,
    SequenceRepeat,
    SequenceRegress,
    OffsetMismatch,
    FailedButPresent,
    Phantom,
    /// A message written to another partition than the one its key's other
    /// messages go to.
    KeySplit,
    /// An extra producer of an idempotent run that writes without a PID.
    IdempotenceOff,
    /// A transaction whose commit ended unknown, committed on one partition
    /// and aborted on another.
    TornTransaction,
    /// A transaction told committed whose markers all abort it.
    CommitLost,
    /// A transaction the application aborted whose markers commit it.
    AbortCommitted,
    /// A transaction asked to commit after another instance took its
    /// `transactional.id`, committed all the same.
    ZombieWrite,
    /// The consumer delivers a record of an aborted transaction.
    AbortedRead,
    /// The consumer reads past a committed record without delivering it.
    CommittedSkipped,
}

impl Injection {
    pub const ALL: [Injection; 22] = [
        Injection::Lost,
        Injection::Duplicate(DuplicateCause::SamePidEpoch),
        Injection::Duplicate(DuplicateCause::EpochBump),
        Injection::Duplicate(DuplicateCause::NewPid),
        Injection::Duplicate(DuplicateCause::AppResend),
        Injection::Duplicate(DuplicateCause::TxnRetry),
        Injection::Duplicate(DuplicateCause::TxnResend),
        Injection::Reorder,
        Injection::SequenceGap,
        Injection::SequenceRepeat,
        Injection::SequenceRegress,
        Injection::OffsetMismatch,
        Injection::FailedButPresent,
        Injection::Phantom,
        Injection::KeySplit,
        Injection::IdempotenceOff,
        Injection::TornTransaction,
        Injection::CommitLost,
        Injection::AbortCommitted,
        Injection::ZombieWrite,
        Injection::AbortedRead,
        Injection::CommittedSkipped,
    ];

    pub fn kind(self) -> Kind {
        match self {
            Injection::Lost => Kind::Lost,
            Injection::Duplicate(_) => Kind::Duplicate,
            Injection::Reorder => Kind::Reorder,
            Injection::SequenceGap => Kind::SequenceGap,
            Injection::SequenceRepeat => Kind::SequenceRepeat,
            Injection::SequenceRegress => Kind::SequenceRegress,
            Injection::OffsetMismatch => Kind::OffsetMismatch,
            Injection::FailedButPresent => Kind::FailedButPresent,
            Injection::Phantom => Kind::Phantom,
            Injection::KeySplit => Kind::KeySplit,
            Injection::IdempotenceOff => Kind::IdempotenceOff,
            Injection::TornTransaction => Kind::TornTransaction,
            Injection::CommitLost => Kind::CommitLost,
            Injection::AbortCommitted => Kind::AbortCommitted,
            Injection::ZombieWrite => Kind::ZombieWrite,
            Injection::AbortedRead => Kind::AbortedRead,
            Injection::CommittedSkipped => Kind::CommittedSkipped,
        }
    }

    /// Whether `config` can have this anomaly planted.
    pub fn fits(self, config: &SynthConfig) -> bool {
        self.unmet_need(config).is_none()
    }

    /// What `config` lacks for this anomaly, if anything.
    fn unmet_need(self, config: &SynthConfig) -> Option<&'static str> {
        match self {
            Injection::Duplicate(DuplicateCause::EpochBump | DuplicateCause::NewPid)
            | Injection::SequenceGap
            | Injection::SequenceRepeat
            | Injection::SequenceRegress
            | Injection::IdempotenceOff
                if !config.idempotent =>
            {
                Some("needs idempotent producers (PIDs, epochs, sequences)")
            }
            Injection::KeySplit if !config.keyed() || config.partitions < 2 => {
                Some("needs keys and at least 2 partitions")
            }
            Injection::TornTransaction if config.partitions < 2 => {
                Some("needs at least 2 partitions")
            }
            _ => None,
        }
    }
}

/// Where an injected anomaly is, for tests to look for.
#[derive(Clone, Debug, PartialEq)]
pub struct Injected {
    pub injection: Injection,
    /// The message concerned (none for an undecodable phantom, and for
    /// idempotence-off, which is about a producer: its first record is at
    /// `offset`).
    pub message: Option<MessageId>,
    pub partition: Partition,
    /// The record concerned, when the anomaly is about a record.
    pub offset: Option<Offset>,
    /// How many anomalies of its kind it makes (one per message of a lost
    /// or duplicated batch, one per late message of a reordered one).
    pub count: u64,
    /// Kinds the injection necessarily brings along, one anomaly each (a
    /// batch written twice by an idempotent producer also breaks its
    /// sequence once).
    pub also: Vec<Kind>,
}

/// A generated run.
pub struct SynthRun {
    /// What the run asked of idempotence, for the checker's options.
    pub asked: Idempotence,
    pub manifest: Manifest,
    /// What a `read_committed` consumer delivered.
    pub consumed: Consumed,
    /// Each partition's batches, in manifest order.
    pub logs: Vec<Bytes>,
    pub injected: Vec<Injected>,
    steps: Vec<Step>,
}

impl SynthRun {
    /// Replays the history, header first, in file order.
    pub fn for_each_event(&self, mut f: impl FnMut(&Event)) {
        for step in &self.steps {
            match step {
                Step::Event(e) => f(e),
                Step::Batch(b) => b.for_each_event(&mut f),
            }
        }
    }
}

/// The history is stored per batch: a ten-million-message run has a few
/// hundred thousand of these instead of twenty million events.
enum Step {
    Event(Event),
    Batch(SentBatch),
}

struct SentBatch {
    time: Nanos,
    producer: Producer,
    first_index: u64,
    count: u32,
    attempt: Attempt,
    partition: Partition,
    /// Whether the invokes name the partition (else the library chose it).
    named: bool,
    completion: Completion,
}

#[derive(Clone, Copy)]
enum Completion {
    /// Acknowledged; message i at `first_offset + i`.
    Ok {
        first_offset: Offset,
    },
    Fail {
        error: &'static str,
        definite: bool,
    },
    Info {
        error: &'static str,
    },
}

impl Completion {
    /// Acknowledged, the batch's first message at `first_offset`.
    fn acked(first_offset: Offset) -> Completion {
        Completion::Ok { first_offset }
    }
}

/// Nanoseconds between an invoke and its completion.
const LATENCY: Nanos = 2_000_000;

impl SentBatch {
    fn for_each_event(&self, f: &mut impl FnMut(&Event)) {
        let message = |i: u32| MessageId {
            producer: self.producer,
            index: self.first_index + u64::from(i),
        };
        let (attempt, partition) = (self.attempt, self.partition);
        for i in 0..self.count {
            f(&Event::Invoke {
                time: self.time,
                message: message(i),
                attempt,
                partition: self.named.then_some(partition),
            });
        }
        let time = self.time + LATENCY;
        for i in 0..self.count {
            let message = message(i);
            f(&match self.completion {
                Completion::Ok { first_offset } => Event::Ok {
                    time,
                    message,
                    attempt,
                    partition,
                    offset: first_offset + i64::from(i),
                },
                Completion::Fail { error, definite } => Event::Fail {
                    time,
                    message,
                    attempt,
                    error: error.into(),
                    definite,
                },
                Completion::Info { error } => Event::Info {
                    time,
                    message,
                    attempt,
                    error: error.into(),
                },
            });
        }
    }
}

/// Generates a run; `Err` when the configuration cannot be simulated.
pub fn generate(config: &SynthConfig) -> Result<SynthRun, String> {
    if config.producers == 0 || config.partitions == 0 || config.max_batch == 0 {
        return Err("producers, partitions and max_batch must be at least 1".into());
    }
    if config.partitions >= 1 << 16 {
        return Err("at most 65535 partitions".into());
    }
    for i in &config.inject {
        if let Some(need) = i.unmet_need(config) {
            return Err(format!("{i:?} {need}"));
        }
    }
    let splits = config.inject.iter().filter(|&&i| i == Injection::KeySplit);
    if splits.count() as u64 > u64::from(config.keys) {
        return Err("each KeySplit needs a key of its own: at least as many keys as splits".into());
    }
    let mut sim = Simulation::new(config);
    sim.run();
    Ok(sim.finish())
}

/// The values of a batch of data records, with what they share.
pub struct BatchSpec<'a> {
    pub first_offset: Offset,
    pub pid: ProducerId,
    pub epoch: Epoch,
    pub base_sequence: Sequence,
    pub transactional: bool,
    pub values: &'a [Vec<u8>],
    /// The records' keys, by position; records past its end have none.
    pub keys: &'a [Bytes],
    pub compression: Compression,
}

/// Appends one RecordBatch v2 to `out`, as a broker would store it. Record
/// sequences follow offsets from `base_sequence`, wrapping after i32::MAX.
pub fn encode_batch(out: &mut BytesMut, spec: &BatchSpec) {
    let records: Vec<Record> = spec
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let sequence = match spec.pid {
                NO_PRODUCER_ID => -1,
                _ => wrap(spec.base_sequence, i as i64),
            };
            record(
                spec,
                spec.first_offset + i as i64,
                sequence,
                spec.keys.get(i).cloned(),
                Some(Bytes::from(v.clone())),
            )
        })
        .collect();
    encode(out, &records, spec.compression);
}

/// Appends a control batch with a COMMIT (or ABORT) marker of `pid`.
pub fn encode_marker(
    out: &mut BytesMut,
    offset: Offset,
    pid: ProducerId,
    epoch: Epoch,
    commit: bool,
) {
    let spec = BatchSpec {
        first_offset: offset,
        pid,
        epoch,
        base_sequence: -1,
        transactional: true,
        values: &[],
        keys: &[],
        compression: Compression::None,
    };
    let key = Bytes::from(vec![0, 0, 0, u8::from(commit)]);
    let value = Bytes::from(vec![0, 0, 0, 0, 0, 0]);
    let mut marker = record(&spec, offset, -1, Some(key), Some(value));
    marker.control = true;
    encode(out, &[marker], spec.compression);
}

fn record(
    spec: &BatchSpec,
    offset: Offset,
    sequence: Sequence,
    key: Option<Bytes>,
    value: Option<Bytes>,
) -> Record {
    Record {
        transactional: spec.transactional,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: spec.pid,
        producer_epoch: spec.epoch,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence,
        timestamp: 1_700_000_000_000 + offset,
        key,
        value,
        headers: Default::default(),
    }
}

fn encode(out: &mut BytesMut, records: &[Record], compression: Compression) {
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(out, records, &options)
        .expect("encoding an in-memory batch cannot fail");
}

/// `base + n` in sequence space (0..=i32::MAX, wrapping to 0).
fn wrap(base: Sequence, n: i64) -> Sequence {
    ((i64::from(base) + n).rem_euclid(1 << 31)) as Sequence
}

/// SplitMix64: small, fast, and the same everywhere, which is all a
/// reproducible simulation needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(payload::GOLDEN_GAMMA);
        payload::splitmix64(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct ProducerSim {
    pid: ProducerId,
    epoch: Epoch,
    next_index: u64,
    next_sequence: Vec<Sequence>,
}

/// Things that happen once during a run, spread evenly over it.
#[derive(Clone, Copy)]
enum Action {
    EpochBump,
    Restart,
    Indeterminate { lands: bool },
    Failure,
    Transaction { commit: bool },
    FaultStart,
    FaultStop,
    Inject(Injection),
}

/// Fate of one simulated batch.
#[derive(Clone, Copy)]
enum Fate {
    Acked,
    Lands(Completion),
    Vanishes(Completion),
}

/// What an injection planted, for its [`Injected`].
struct Planted {
    message: Option<MessageId>,
    offset: Option<Offset>,
    count: u32,
    also: Vec<Kind>,
}

impl Planted {
    /// An anomaly about `message` (and the record at `offset`) that brings
    /// no other kind along.
    fn at(message: MessageId, offset: Option<Offset>, count: u32) -> Planted {
        Planted {
            message: Some(message),
            offset,
            count,
            also: Vec::new(),
        }
    }
}

const FAULT: &str = "ack-loss";
const TIMEOUT: &str = "Local: Message timed out";
const REJECTED: &str = "Broker: Invalid record";

struct Simulation<'a> {
    config: &'a SynthConfig,
    rng: Rng,
    time: Nanos,
    producers: Vec<ProducerSim>,
    logs: Vec<BytesMut>,
    ends: Vec<Offset>,
    steps: Vec<Step>,
    injected: Vec<Injected>,
    next_pid: ProducerId,
    sent: u64,
    /// The producers kept for idempotence-off (writing without a PID) that
    /// have written so far; the next one is `end`.
    pidless: std::ops::Range<Producer>,
    /// Keys already split by an injection.
    split: BTreeSet<u32>,
    /// The transactional producer's next transaction.
    next_txn: Txn,
    /// The instances kept to fence it (zombie-write) that have initialised
    /// so far; the next one is `end`.
    fencers: std::ops::Range<Producer>,
    consumer: consumer::ConsumerView,
}

impl<'a> Simulation<'a> {
    fn new(config: &'a SynthConfig) -> Self {
        let partitions = config.partitions as usize;
        let off = config
            .inject
            .iter()
            .filter(|&&i| i == Injection::IdempotenceOff);
        // After the ordinary producers and the transactional one.
        let pidless = config.producers + 1..config.producers + 1 + off.count() as Producer;
        let zombies = config
            .inject
            .iter()
            .filter(|&&i| i == Injection::ZombieWrite)
            .count() as Producer;
        let mut sim = Simulation {
            config,
            rng: Rng(config.seed),
            time: 0,
            producers: Vec::new(),
            logs: vec![BytesMut::new(); partitions],
            ends: vec![0; partitions],
            steps: vec![Step::Event(Event::Header {
                format: FORMAT,
                topic: "eoscheck".into(),
                producers: Some(pidless.end + zombies),
                keys: config.keyed().then_some(config.keys),
                pipeline: None,
            })],
            injected: Vec::new(),
            next_pid: 1000,
            sent: 0,
            pidless: pidless.start..pidless.start,
            split: BTreeSet::new(),
            next_txn: 0,
            fencers: pidless.end..pidless.end,
            consumer: consumer::ConsumerView::new(partitions),
        };
        // The ordinary producers, the transactional one (always idempotent,
        // as transactions require), and those for idempotence-off.
        for p in 0..pidless.end {
            let pid = if (config.idempotent && p < config.producers) || p == config.producers {
                sim.new_pid()
            } else {
                NO_PRODUCER_ID
            };
            let epoch = if pid == NO_PRODUCER_ID { -1 } else { 0 };
            sim.producers.push(ProducerSim {
                pid,
                epoch,
                next_index: 0,
                next_sequence: vec![0; partitions],
            });
            sim.report_session(p);
        }
        sim.init_transactions(config.producers);
        sim
    }

    fn new_pid(&mut self) -> ProducerId {
        self.next_pid += 1;
        self.next_pid
    }

    fn report_session(&mut self, producer: Producer) {
        let p = &self.producers[producer as usize];
        if p.pid != NO_PRODUCER_ID {
            let event = Event::ProducerSession {
                time: self.time,
                producer,
                pid: p.pid,
                epoch: p.epoch,
            };
            self.steps.push(Step::Event(event));
        }
    }

    fn schedule(&mut self) -> Vec<Action> {
        let c = self.config;
        let repeat = |n: u32, a: Action| std::iter::repeat_n(a, n as usize);
        let mut actions: Vec<Action> = repeat(c.epoch_bumps, Action::EpochBump)
            .chain(repeat(c.restarts, Action::Restart))
            .chain((0..c.indeterminate).map(|i| Action::Indeterminate { lands: i % 2 == 0 }))
            .chain(repeat(c.failures, Action::Failure))
            .chain((0..c.transactions).map(|i| Action::Transaction { commit: i % 2 == 0 }))
            .chain(c.inject.iter().map(|&i| Action::Inject(i)))
            .collect();
        for i in (1..actions.len()).rev() {
            actions.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        // The fault spans the middle third of everything else.
        let third = actions.len() / 3;
        actions.insert(2 * third, Action::FaultStop);
        actions.insert(third, Action::FaultStart);
        actions
    }

    fn run(&mut self) {
        let actions = self.schedule();
        let messages = self.config.messages;
        let mut due = actions
            .iter()
            .enumerate()
            .map(|(k, a)| ((k as u64 + 1) * messages / (actions.len() as u64 + 1), *a));
        let mut next = due.next();
        while self.sent < messages || next.is_some() {
            match next {
                Some((at, action)) if at <= self.sent || self.sent >= messages => {
                    self.act(action);
                    next = due.next();
                }
                _ => {
                    let (p, q) = self.pick();
                    let k = self.batch_size().min(messages - self.sent) as u32;
                    self.send(p, q, k, Fate::Acked);
                }
            }
        }
    }

    /// An ordinary producer and the partition of its next batch.
    fn pick(&mut self) -> (Producer, Partition) {
        let p = self.rng.below(u64::from(self.config.producers)) as Producer;
        let q = match self.config.keyed() {
            true => self.partition_of(MessageId {
                producer: p,
                index: self.producers[p as usize].next_index,
            }),
            false => self.rng.below(u64::from(self.config.partitions)) as Partition,
        };
        (p, q)
    }

    /// Messages in the next batch: one in a keyed run (see the module doc).
    fn batch_size(&mut self) -> u64 {
        match self.config.keyed() {
            true => 1,
            false => 1 + self.rng.below(u64::from(self.config.max_batch)),
        }
    }

    /// The key number of `message` in a keyed run.
    fn key_of(&self, message: MessageId) -> u32 {
        payload::key_of(message, self.config.keys)
    }

    /// Where the stand-in for the default partitioner puts `message`.
    fn partition_of(&self, message: MessageId) -> Partition {
        (self.key_of(message) % self.config.partitions) as Partition
    }

    fn act(&mut self, action: Action) {
        let (p, q) = self.pick();
        let k = self.batch_size() as u32;
        match action {
            Action::EpochBump => self.bump_epoch(p),
            Action::Restart => self.restart(p),
            Action::Indeterminate { lands: true } => {
                self.send(p, q, k, Fate::Lands(Completion::Info { error: TIMEOUT }));
            }
            Action::Indeterminate { lands: false } => {
                self.send(p, q, k, Fate::Vanishes(Completion::Info { error: TIMEOUT }));
            }
            Action::Failure => {
                self.send(
                    p,
                    q,
                    k,
                    Fate::Vanishes(Completion::Fail {
                        error: REJECTED,
                        definite: true,
                    }),
                );
            }
            Action::Transaction { commit } => self.transaction(p, q, k, commit),
            Action::FaultStart | Action::FaultStop => {
                let time = self.tick();
                let started = matches!(action, Action::FaultStart);
                self.steps
                    .push(Step::Event(fault_event(started, time, FAULT, "kafka-2")));
            }
            Action::Inject(injection) => self.inject(injection, p, q, k),
        }
    }

    fn tick(&mut self) -> Nanos {
        self.time += 1_000 + self.rng.below(50_000);
        self.time
    }

    fn bump_epoch(&mut self, p: Producer) {
        let producer = &mut self.producers[p as usize];
        if producer.pid == NO_PRODUCER_ID {
            return;
        }
        producer.epoch += 1;
        producer.next_sequence.fill(0);
        self.report_session(p);
    }

    fn restart(&mut self, p: Producer) {
        if self.producers[p as usize].pid == NO_PRODUCER_ID {
            return;
        }
        let pid = self.new_pid();
        let producer = &mut self.producers[p as usize];
        producer.pid = pid;
        producer.epoch = 0;
        producer.next_sequence.fill(0);
        self.report_session(p);
    }

    /// Sends the next `k` messages of producer `p` to partition `q`; returns
    /// the first message and the offset of its first copy, if written.
    fn send(
        &mut self,
        p: Producer,
        q: Partition,
        k: u32,
        fate: Fate,
    ) -> (MessageId, Option<Offset>) {
        let first = self.invoke(p, q, k);
        let written = match fate {
            Fate::Vanishes(_) => None,
            _ => Some(self.write_next(p, q, first, k, 0, false)),
        };
        let completion = match fate {
            Fate::Acked => Completion::Ok {
                first_offset: written.expect("acked batches are written"),
            },
            Fate::Lands(c) | Fate::Vanishes(c) => c,
        };
        self.record(p, q, first.index, k, 0, completion);
        (first, written)
    }

    /// Takes the next `k` indexes of producer `p` for partition `q`: in a
    /// keyed run, the next one (`k` is 1) whose key goes to `q`.
    fn invoke(&mut self, p: Producer, q: Partition, k: u32) -> MessageId {
        let keyed = self.config.keyed();
        self.invoke_where(p, k, |sim, m| !keyed || sim.partition_of(m) == q)
    }

    /// Takes the next `k` indexes of producer `p` from the first message
    /// that is `wanted`; those skipped are never sent.
    fn invoke_where(
        &mut self,
        p: Producer,
        k: u32,
        wanted: impl Fn(&Self, MessageId) -> bool,
    ) -> MessageId {
        let mut first = MessageId {
            producer: p,
            index: self.producers[p as usize].next_index,
        };
        while !wanted(self, first) {
            first.index += 1;
        }
        self.producers[p as usize].next_index = first.index + u64::from(k);
        if p < self.config.producers {
            self.sent += u64::from(k);
        }
        first
    }

    /// Stores the history of one batch.
    fn record(
        &mut self,
        p: Producer,
        q: Partition,
        first_index: u64,
        count: u32,
        attempt: Attempt,
        completion: Completion,
    ) {
        let time = self.tick();
        self.steps.push(Step::Batch(SentBatch {
            time,
            producer: p,
            first_index,
            count,
            attempt,
            partition: q,
            named: !self.config.keyed(),
            completion,
        }));
    }

    /// Writes messages `first..first+k` under the producer's current session
    /// with its next sequences.
    fn write_next(
        &mut self,
        p: Producer,
        q: Partition,
        first: MessageId,
        k: u32,
        attempt: Attempt,
        transactional: bool,
    ) -> Offset {
        let base = self.take_sequences(p, q, k);
        self.write(p, q, first, k, attempt, base, transactional)
    }

    fn take_sequences(&mut self, p: Producer, q: Partition, k: u32) -> Sequence {
        let next = self.next_sequence(p, q);
        let base = *next;
        *next = wrap(base, i64::from(k));
        base
    }

    /// The sequence producer `p` gives its next record in partition `q`.
    fn next_sequence(&mut self, p: Producer, q: Partition) -> &mut Sequence {
        &mut self.producers[p as usize].next_sequence[q as usize]
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        p: Producer,
        q: Partition,
        first: MessageId,
        k: u32,
        attempt: Attempt,
        base: Sequence,
        transactional: bool,
    ) -> Offset {
        let size = self.config.value_size;
        let messages = (0..u64::from(k)).map(|i| MessageId {
            index: first.index + i,
            ..first
        });
        let values: Vec<Vec<u8>> = messages
            .clone()
            .map(|m| payload::encode(m, attempt, size))
            .collect();
        let keys: Vec<Bytes> = match self.config.keyed() {
            true => messages
                .map(|m| Bytes::copy_from_slice(payload::key_bytes(self.key_of(m)).as_bytes()))
                .collect(),
            false => Vec::new(),
        };
        let producer = &self.producers[p as usize];
        let (pid, epoch) = (producer.pid, producer.epoch);
        self.append(
            q,
            &BatchSpec {
                first_offset: 0,
                pid,
                epoch,
                base_sequence: base,
                transactional,
                values: &values,
                keys: &keys,
                compression: self.config.compression,
            },
        )
    }

    /// Appends a batch at the partition's end; returns its first offset.
    fn append(&mut self, q: Partition, spec: &BatchSpec) -> Offset {
        let offset = self.ends[q as usize];
        encode_batch(
            &mut self.logs[q as usize],
            &BatchSpec {
                first_offset: offset,
                ..*spec
            },
        );
        self.ends[q as usize] += spec.values.len() as i64;
        self.consumer
            .write(q, offset, spec.values.len(), spec.transactional);
        offset
    }

    /// Plants `injection` with producer `p` in partition `q`, on a batch of
    /// `k` messages where the anomaly is about a batch.
    fn inject(&mut self, injection: Injection, p: Producer, q: Partition, k: u32) {
        let planted = match injection {
            Injection::Lost => self.lose(p, q, k),
            Injection::Duplicate(cause) => self.duplicate(cause, p, q, k),
            Injection::Reorder => self.reorder(p, q, k),
            Injection::SequenceGap | Injection::SequenceRepeat | Injection::SequenceRegress => {
                self.break_sequence(injection, p, q, k)
            }
            Injection::OffsetMismatch => self.misplace_ack(p, q),
            Injection::FailedButPresent => self.fail_but_land(p, q),
            Injection::Phantom => self.phantom(q),
            Injection::KeySplit => self.split_key(p),
            Injection::IdempotenceOff => self.write_without_pid(q, k),
            Injection::TornTransaction
            | Injection::CommitLost
            | Injection::AbortCommitted
            | Injection::ZombieWrite => self.break_transaction(injection, p, q, k),
            Injection::AbortedRead => self.read_aborted(p, q, k),
            Injection::CommittedSkipped => {
                let (first, offset) = self.send(p, q, 1, Fate::Acked);
                self.consumer
                    .skip(q, offset.expect("an acked send is written"));
                Planted::at(first, offset, 1)
            }
        };
        self.injected.push(Injected {
            injection,
            message: planted.message,
            partition: q,
            offset: planted.offset,
            count: planted.count.into(),
            also: planted.also,
        });
    }

    /// A batch acknowledged at the offset it would have had, never written.
    fn lose(&mut self, p: Producer, q: Partition, k: u32) -> Planted {
        let first = self.invoke(p, q, k);
        let would_be = self.ends[q as usize];
        self.record(p, q, first.index, k, 0, Completion::acked(would_be));
        Planted::at(first, None, k)
    }

    /// A batch written twice though sent once, for `cause`.
    fn duplicate(&mut self, cause: DuplicateCause, p: Producer, q: Partition, k: u32) -> Planted {
        if let DuplicateCause::TxnRetry | DuplicateCause::TxnResend = cause {
            return self.duplicate_in_transaction(cause, p, q, k);
        }
        let first = self.invoke(p, q, k);
        let offset = self.write_next(p, q, first, k, 0, false);
        let also = match cause {
            DuplicateCause::SamePidEpoch => self.write_again(p, q, first, k),
            DuplicateCause::EpochBump | DuplicateCause::NewPid => {
                match cause {
                    DuplicateCause::EpochBump => self.bump_epoch(p),
                    _ => self.restart(p),
                }
                self.write_next(p, q, first, k, 0, false);
                Vec::new()
            }
            DuplicateCause::AppResend => {
                self.resend(p, q, first, k);
                return Planted::at(first, Some(offset), k);
            }
            DuplicateCause::TxnRetry | DuplicateCause::TxnResend => {
                unreachable!("a transaction's duplicates are planted before any write")
            }
        };
        self.record(p, q, first.index, k, 0, Completion::acked(offset));
        Planted {
            also,
            ..Planted::at(first, Some(offset), k)
        }
    }

    /// The batch again in the same session with the same sequences, as a
    /// broker that failed to deduplicate a retry keeps it. For an idempotent
    /// producer that is also a sequence repeat (one record) or regress.
    fn write_again(&mut self, p: Producer, q: Partition, first: MessageId, k: u32) -> Vec<Kind> {
        let base = wrap(*self.next_sequence(p, q), -i64::from(k));
        self.write(p, q, first, k, 0, base, false);
        if !self.config.idempotent {
            return Vec::new();
        }
        vec![match k {
            1 => Kind::SequenceRepeat,
            _ => Kind::SequenceRegress,
        }]
    }

    /// The application's own resend of a batch that landed: attempt 0 timed
    /// out, attempt 1 is written again and acknowledged.
    fn resend(&mut self, p: Producer, q: Partition, first: MessageId, k: u32) {
        self.record(p, q, first.index, k, 0, Completion::Info { error: TIMEOUT });
        let resent = self.write_next(p, q, first, k, 1, false);
        self.record(p, q, first.index, k, 1, Completion::acked(resent));
    }

    /// Two batches of one producer written in the opposite order to the one
    /// they were sent in.
    fn reorder(&mut self, p: Producer, q: Partition, k: u32) -> Planted {
        let later = self.batch_size() as u32;
        let early = self.invoke(p, q, k);
        let late = self.invoke(p, q, later);
        // The later batch lands first; sequences follow the log, as if the
        // client had numbered them after reordering.
        let late_at = self.write_next(p, q, late, later, 0, false);
        let early_at = self.write_next(p, q, early, k, 0, false);
        self.record(p, q, early.index, k, 0, Completion::acked(early_at));
        self.record(p, q, late.index, later, 0, Completion::acked(late_at));
        Planted::at(early, Some(early_at), k)
    }

    /// A batch whose base sequence skips ahead (gap), repeats the last one
    /// (repeat) or steps back further (regress).
    fn break_sequence(
        &mut self,
        injection: Injection,
        p: Producer,
        q: Partition,
        k: u32,
    ) -> Planted {
        // Repeat and regress step back from what this producer already
        // wrote here, so make sure there is something.
        while *self.next_sequence(p, q) < 2 {
            self.send(p, q, 1, Fate::Acked);
        }
        let next = *self.next_sequence(p, q);
        let base = match injection {
            Injection::SequenceGap => next + 1,
            Injection::SequenceRepeat => next - 1,
            _ => next - 2,
        };
        let first = self.invoke(p, q, k);
        let offset = self.write(p, q, first, k, 0, base, false);
        *self.next_sequence(p, q) = wrap(base, i64::from(k));
        self.record(p, q, first.index, k, 0, Completion::acked(offset));
        Planted::at(first, Some(offset), 1)
    }

    /// One message acknowledged at the offset after the one it got.
    fn misplace_ack(&mut self, p: Producer, q: Partition) -> Planted {
        let first = self.invoke(p, q, 1);
        let offset = self.write_next(p, q, first, 1, 0, false);
        self.record(p, q, first.index, 1, 0, Completion::acked(offset + 1));
        Planted::at(first, Some(offset), 1)
    }

    /// One message the client is told was rejected, written all the same.
    fn fail_but_land(&mut self, p: Producer, q: Partition) -> Planted {
        let rejected = Completion::Fail {
            error: REJECTED,
            definite: true,
        };
        let (first, offset) = self.send(p, q, 1, Fate::Lands(rejected));
        Planted::at(first, offset, 1)
    }

    /// A record nobody sent: a foreign value, or a payload naming a message
    /// of a producer that does not exist.
    fn phantom(&mut self, q: Partition) -> Planted {
        let foreign = self.rng.below(2) == 0;
        let stranger = MessageId {
            producer: u32::MAX - 1,
            index: self.rng.below(1000),
        };
        let value = match foreign {
            true => b"not an eoscheck record".to_vec(),
            false => payload::encode(stranger, 0, self.config.value_size),
        };
        let spec = BatchSpec {
            first_offset: 0,
            pid: NO_PRODUCER_ID,
            epoch: -1,
            base_sequence: -1,
            transactional: false,
            values: &[value],
            keys: &[],
            compression: self.config.compression,
        };
        let offset = self.append(q, &spec);
        Planted {
            message: (!foreign).then_some(stranger),
            offset: Some(offset),
            count: 1,
            also: Vec::new(),
        }
    }

    /// Producer `p`'s next message whose key no injection split yet, sent
    /// where its key goes; then its next message of the same key, written
    /// to the next partition over, as a partitioner that lost track of the
    /// key would.
    fn split_key(&mut self, p: Producer) -> Planted {
        let first = self.invoke_where(p, 1, |sim, m| !sim.split.contains(&sim.key_of(m)));
        let key = self.key_of(first);
        self.split.insert(key);
        let home = self.partition_of(first);
        let offset = self.write_next(p, home, first, 1, 0, false);
        self.record(p, home, first.index, 1, 0, Completion::acked(offset));
        let astray = self.invoke_where(p, 1, |sim, m| sim.key_of(m) == key);
        let elsewhere = (home + 1) % self.config.partitions as Partition;
        let offset = self.write_next(p, elsewhere, astray, 1, 0, false);
        self.record(p, elsewhere, astray.index, 1, 0, Completion::acked(offset));
        Planted {
            message: Some(astray),
            offset: Some(offset),
            count: 1,
            also: Vec::new(),
        }
    }

    /// `k` messages of the next producer kept for idempotence-off, which
    /// writes without a PID, acknowledged.
    fn write_without_pid(&mut self, q: Partition, k: u32) -> Planted {
        let p = self.pidless.end;
        self.pidless.end += 1;
        let (_, offset) = self.send(p, q, k, Fate::Acked);
        Planted {
            message: None,
            offset,
            count: 1,
            also: Vec::new(),
        }
    }

    fn finish(mut self) -> SynthRun {
        // After the last batch's answers: the recorder closes the history last.
        let end = Event::End {
            time: self.time + LATENCY + 1,
        };
        self.steps.push(Step::Event(end));
        let partitions = (0..self.config.partitions as Partition)
            .map(|q| PartitionLog {
                partition: q,
                log_start_offset: 0,
                high_watermark: self.ends[q as usize],
                last_stable_offset: None,
                complete: true,
                file: log::file_name(q),
            })
            .collect();
        SynthRun {
            consumed: self.consumer.finish(&self.ends),
            asked: match self.config.idempotent {
                true => Idempotence::ExplicitTrue,
                false => Idempotence::ExplicitFalse,
            },
            manifest: Manifest {
                format: log::FORMAT,
                topic: "eoscheck".into(),
                complete: true,
                partitions,
                storage: Default::default(),
            },
            logs: self.logs.into_iter().map(BytesMut::freeze).collect(),
            injected: self.injected,
            steps: self.steps,
        }
    }
}

/// A nemesis start (`started`) or stop of `fault` on one target, as the
/// harness records it.
pub fn fault_event(started: bool, time: Nanos, fault: &str, target: &str) -> Event {
    let (fault, targets, detail) = (fault.to_string(), vec![target.to_string()], String::new());
    match started {
        true => Event::NemesisStart {
            time,
            fault,
            targets,
            detail,
        },
        false => Event::NemesisStop {
            time,
            fault,
            targets,
            detail,
        },
    }
}
