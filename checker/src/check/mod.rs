//! The checker: history in, log in, [`Results`] out.
//!
//! It reads the history first (what every client was asked to send and what
//! it was told), keeping 32 bytes per message, then walks each partition's log
//! once in offset order, and finally judges every send against what the log
//! holds. Partitions are decoded on helper threads in chunks of whole batches
//! while the calling thread analyses chunks strictly in log order, so the
//! results do not depend on thread timing.

mod extent;
mod faults;
mod hashing;
mod idempotence;
mod keys;
mod liveness;
mod pipeline;
mod scan;
mod sends;
mod txns;

pub use idempotence::Idempotence;

use crate::anomaly::{
    AbortedRead, Anomalies, ClientSend, CommittedSkipped, ConsumerMiss, Duplicate, DuplicateCause,
    FailedButPresent, Fate, KeyPlacement, Kind, LogCopy, Lost, OffsetMismatch, Outcome, Phantom,
    Reorder,
};
use crate::consumed::{Consumed, ConsumedPartition};
use crate::guarantee::Guarantee;
use crate::history::{self, Event, HistoryError, Nanos, NemesisPhase, TxnAction};
use crate::ids::{Attempt, Epoch, MessageId, Offset, Partition, Producer, ProducerId};
use crate::log::{self, Chunk, LogError, Manifest, Marker, PartitionLog, Record};
use crate::results::{
    ConsumerStats, Findings, IndeterminateStats, NemesisNote, PartitionStats, ProducerIdempotence,
    ProducerNote, ProducerStats, Results, SendStats, Session, Stats, Tested, TxnStats, Validity,
};
use bytes::Bytes;
use extent::Extent;
use faults::Faults;
use hashing::FastMap;
use idempotence::PidUse;
use keys::{KeyNumber, Keys};
use liveness::Liveness;
use pipeline::Pipeline;
use scan::{Pending, Scan};
use sends::{flag, SendState, Sends, Slot};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use txns::{Segment, Told, Transactions, TxnJudge};

/// How the checker judges and how hard it works.
#[derive(Clone, Debug)]
pub struct Options {
    /// What the run promised; only these decide the verdict.
    pub guarantees: Vec<Guarantee>,
    /// Examples kept per anomaly kind (all are counted).
    pub max_examples: usize,
    /// Threads decoding batches while the caller's thread analyses; 1 decodes
    /// inline.
    pub decode_threads: usize,
    /// How long a producer with open sends may complete none, with no fault
    /// active, before it is reported `stalled`.
    pub stall_grace: Nanos,
    /// What the run asked for, when known (from run.json), to say what it
    /// really tested.
    pub asked: Option<Asked>,
    /// What the run's producer configuration asked of idempotence (from
    /// run.json); `idempotence-off` is judged against it.
    pub idempotence: Idempotence,
}

/// The faults and the load a run asked for.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    /// Fault kinds, by name.
    pub faults: Vec<String>,
    /// The kinds its schedule planned to start, in order, each once.
    pub planned: Vec<String>,
    /// First attempts per second over all producers; 0 for as fast as possible.
    pub rate: u32,
    /// How long the producers were sending.
    pub seconds: f64,
}

impl Options {
    /// Ten examples per kind, decoding on up to four threads.
    pub fn new(guarantees: Vec<Guarantee>) -> Options {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Options {
            guarantees,
            max_examples: 10,
            decode_threads: cores.min(4),
            // Reconnecting after a heal plus one request timeout, with room.
            stall_grace: 20_000_000_000,
            asked: None,
            idempotence: Idempotence::Unknown,
        }
    }
}

/// Bytes of a partition file decoded as one unit of work.
const CHUNK_BYTES: usize = 1 << 20;

/// Checks one run. Feed the history ([`Checker::read_history`] or
/// [`Checker::observe`] per event), then the log ([`Checker::begin_log`] and
/// [`Checker::read_partition`] per partition), then call [`Checker::finish`].
pub struct Checker {
    options: Options,
    extent: Extent,
    faults: Faults,
    liveness: Liveness,
    sends: Sends,
    send_stats: SendStats,
    findings: Findings,
    /// Fault kinds that started, in the order they first did.
    exercised: Vec<String>,
    reported: BTreeMap<Producer, Vec<Session>>,
    sent_to: BTreeSet<Partition>,
    /// From the manifest: whether the read completed, and what it listed.
    manifest: Option<(bool, BTreeSet<Partition>)>,
    places: Vec<(Partition, ProducerId, Epoch)>,
    place_of: FastMap<(Partition, ProducerId, Epoch), u32>,
    /// Every copy of each message that is in the log more than once.
    duplicates: BTreeMap<MessageId, Vec<LogCopy>>,
    partitions: BTreeMap<Partition, PartitionStats>,
    control_records: u64,
    aborted_records: u64,
    /// Transactional records still waiting for their marker when each
    /// partition's read ended.
    undecided_records: BTreeMap<Partition, u64>,
    /// The sends of those records: in the log, but neither written nor not.
    undecided: BTreeSet<(MessageId, Attempt)>,
    keys: Keys,
    pid_use: PidUse,
    txns: Transactions,
    /// What a `read_committed` consumer delivered, per partition not read yet.
    consumed: BTreeMap<Partition, ConsumedPartition>,
    consumer: Option<ConsumerStats>,
    /// Why the run's `read_committed` consumer read nothing, when it failed.
    consumer_failed: Option<String>,
    /// A pipeline run's processors, output and group offsets.
    pipeline: Option<Pipeline>,
    anomalies: Anomalies,
}

impl Checker {
    pub fn new(options: Options) -> Checker {
        Checker {
            anomalies: Anomalies::new(),
            liveness: Liveness::new(options.stall_grace),
            options,
            extent: Extent::new(),
            faults: Faults::new(),
            sends: Sends::default(),
            send_stats: SendStats::default(),
            findings: Findings::default(),
            exercised: Vec::new(),
            reported: BTreeMap::new(),
            sent_to: BTreeSet::new(),
            manifest: None,
            places: Vec::new(),
            place_of: FastMap::default(),
            duplicates: BTreeMap::new(),
            partitions: BTreeMap::new(),
            control_records: 0,
            aborted_records: 0,
            undecided_records: BTreeMap::new(),
            undecided: BTreeSet::new(),
            keys: Keys::default(),
            pid_use: PidUse::default(),
            txns: Transactions::default(),
            consumed: BTreeMap::new(),
            consumer: None,
            consumer_failed: None,
            pipeline: None,
        }
    }

    /// Reads a whole `history.jsonl`. A last line cut off mid-write (no
    /// final newline) is ignored and makes the history short, as a missing
    /// end line does; any other bad line is an error naming it.
    pub fn read_history(&mut self, text: &str) -> Result<(), HistoryError> {
        let mut lines = text.split_inclusive('\n').enumerate().peekable();
        while let Some((i, raw)) = lines.next() {
            let number = i + 1;
            let line = raw.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                continue;
            }
            let event = if self.extent.started() {
                history::parse_line(number, line)
            } else {
                history::parse_header(line)
            };
            match event {
                Ok(event) => self.observe(&event).map_err(|problem| HistoryError {
                    line: number,
                    problem,
                })?,
                Err(_) if lines.peek().is_none() && !raw.ends_with('\n') && self.extent.open() => {
                    self.extent.tear();
                }
                Err(e) => return Err(HistoryError { line: number, ..e }),
            }
        }
        if !self.extent.started() {
            return Err(HistoryError {
                line: 1,
                problem: "the history is empty: it has no header line".into(),
            });
        }
        Ok(())
    }

    /// Takes one history event, in file order. `Err` says how the history
    /// contradicts itself (the caller knows the line).
    ///
    /// Called once per line of a history that may hold tens of millions, so
    /// the send events (nearly all lines) go straight to their step, with
    /// their fields by value.
    pub fn observe(&mut self, event: &Event) -> Result<(), String> {
        match event {
            Event::Header {
                format,
                topic,
                producers,
                keys,
                pipeline,
            } => {
                self.pipeline = pipeline.clone().map(|h| Pipeline::new(topic, h));
                self.extent
                    .header(*format, *producers, *keys, pipeline.is_some())
            }
            Event::End { .. } => self.extent.end(),
            _ if !self.extent.open() => Err(self.extent.refusal()),
            Event::Invoke {
                time,
                message,
                attempt,
                partition,
            } => self.invoke(*time, *message, *attempt, *partition),
            Event::Ok {
                time,
                message,
                attempt,
                partition,
                offset,
            } => self.ok(*time, *message, *attempt, *partition, *offset),
            Event::Fail {
                time,
                message,
                attempt,
                error,
                definite,
            } => self.fail(*time, *message, *attempt, error, *definite),
            Event::Info {
                time,
                message,
                attempt,
                error,
            } => self.info(*time, *message, *attempt, error),
            _ => self.context(event),
        }
    }

    /// The rare events about the run rather than one send: faults, the
    /// sessions producers report, and what they say about themselves.
    fn context(&mut self, event: &Event) -> Result<(), String> {
        match event {
            Event::NemesisStart {
                time,
                fault,
                targets,
                ..
            } => {
                self.faults.start(fault, targets);
                if !self.exercised.contains(fault) {
                    self.exercised.push(fault.clone());
                }
                self.faults_changed(*time)
            }
            Event::NemesisStop {
                time,
                fault,
                targets,
                ..
            } => {
                self.faults.stop(fault, targets);
                self.faults_changed(*time)
            }
            Event::ProducerSession {
                producer,
                pid,
                epoch,
                ..
            } => self.session(*producer, *pid, *epoch),
            Event::TxnInit {
                time,
                producer,
                transactional_id,
            } => {
                self.txns.init(*time, *producer, transactional_id);
                Ok(())
            }
            Event::TxnBegin {
                time,
                producer,
                txn,
            } => self
                .txns
                .begin(*time, *producer, *txn, self.faults.change()),
            Event::TxnEnd {
                time,
                producer,
                txn,
                end,
            } => self.txns.end(*time, *producer, *txn, *end),
            Event::TxnOk {
                producer, txn, end, ..
            } => self.txn_answer(*producer, *txn, *end, None),
            Event::TxnFail {
                producer,
                txn,
                end,
                error,
                definite,
                ..
            } => self.txn_answer(*producer, *txn, *end, Some((*definite, error))),
            Event::TxnInfo {
                producer,
                txn,
                end,
                error,
                ..
            } => self.txn_answer(*producer, *txn, *end, Some((false, error))),
            Event::ProducerFatal {
                time,
                producer,
                error,
            } => note(&mut self.findings.producer_fatal, *time, *producer, error),
            Event::ConfigRejected {
                time,
                producer,
                reason,
            } => note(&mut self.findings.config_rejected, *time, *producer, reason),
            Event::NemesisFail {
                time,
                fault,
                phase,
                error,
            } => {
                self.findings.nemesis_failed.push(NemesisNote {
                    time: *time,
                    fault: fault.clone(),
                    phase: *phase,
                    error: error.clone(),
                });
                Ok(())
            }
            Event::ProcStart { .. }
            | Event::ProcAssign { .. }
            | Event::ProcRevoke { .. }
            | Event::ProcPoll { .. }
            | Event::ProcSeek { .. }
            | Event::ProcCommit { .. }
            | Event::ProcStop { .. } => match &mut self.pipeline {
                Some(pipeline) => pipeline.observe(event),
                None => Err("a processor event in a history whose header names no pipeline".into()),
            },
            Event::Header { .. }
            | Event::End { .. }
            | Event::Invoke { .. }
            | Event::Ok { .. }
            | Event::Fail { .. }
            | Event::Info { .. } => unreachable!("observe handles headers, ends and sends"),
        }
    }

    /// A send handed to the client: it now owes a completion, and the faults
    /// active from this moment until it completes are the ones its examples
    /// will name. With no partition the library chooses; its ack will say.
    #[inline]
    fn invoke(
        &mut self,
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        partition: Option<Partition>,
    ) -> Result<(), String> {
        if partition.is_none() {
            self.extent.partition_required().map_or(Ok(()), Err)?;
        }
        self.liveness.invoke(message.producer, time);
        self.sends
            .invoke(message, attempt, partition, self.faults.change())?;
        if self.txns.any() {
            self.txns.invoke(message, attempt);
        }
        self.send_stats.invoked += 1;
        self.send_stats.resends += u64::from(attempt > 0);
        self.sent_to.extend(partition);
        Ok(())
    }

    /// An acknowledgement. The first says where the send sits (and so where
    /// it was sent, when the invoke left that to the library); one naming
    /// another position is rare, so it goes to a side table, and the judge
    /// checks every position named against the log.
    #[inline]
    fn ok(
        &mut self,
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
        offset: Offset,
    ) -> Result<(), String> {
        let partition16 = sends::narrow(partition)?;
        self.send_stats.ok += 1;
        let state = self.completion(time, message, attempt)?;
        let first = !state.has(flag::ACKED);
        let elsewhere = state.partition != partition16;
        if first {
            state.flags |= flag::ACKED;
            state.partition = partition16;
            state.acked_offset = offset;
        } else if elsewhere || state.acked_offset != offset {
            state.flags |= flag::ACKED_AGAIN;
            self.sends
                .extra_acks
                .entry((message, attempt))
                .or_default()
                .push((partition, offset));
        }
        if first && elsewhere {
            self.sent_to.insert(partition);
        }
        Ok(())
    }

    /// A failure: `definite` if the client says the send was not written,
    /// which a copy in the log then contradicts.
    #[inline]
    fn fail(
        &mut self,
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        error: &str,
        definite: bool,
    ) -> Result<(), String> {
        let bit = if definite {
            self.send_stats.failed_definite += 1;
            flag::FAILED_DEFINITE
        } else {
            self.send_stats.failed_maybe += 1;
            flag::FAILED_MAYBE
        };
        self.failure(time, message, attempt, error, bit)
    }

    /// An indeterminate completion: the client cannot say whether the send
    /// was written, so only the log decides.
    #[inline]
    fn info(
        &mut self,
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        error: &str,
    ) -> Result<(), String> {
        self.send_stats.info += 1;
        self.failure(time, message, attempt, error, flag::INFO)
    }

    /// Marks a completion that was not an ack with `bit`, keeping its error
    /// text as a number (each distinct text is stored once).
    #[inline]
    fn failure(
        &mut self,
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        error: &str,
        bit: u16,
    ) -> Result<(), String> {
        let error = self.sends.error_number(error);
        let state = self.completion(time, message, attempt)?;
        state.flags |= bit;
        state.error = error;
        Ok(())
    }

    /// An answer to a call ending a transaction; its first closes the span of
    /// faults its examples name.
    fn txn_answer(
        &mut self,
        producer: Producer,
        txn: crate::ids::Txn,
        end: TxnAction,
        failure: Option<(bool, &str)>,
    ) -> Result<(), String> {
        let state = self.txns.answer(producer, txn, end, failure)?;
        if !state.ended {
            state.ended = true;
            state.faults = self.faults.during(state.faults);
        }
        Ok(())
    }

    /// A fault began or ended: a producer that completes nothing is only
    /// stalled while no fault explains it.
    fn faults_changed(&mut self, time: Nanos) -> Result<(), String> {
        self.liveness.faults_changed(self.faults.any_active(), time);
        Ok(())
    }

    /// A (PID, epoch) a producer reported, kept once each in the order first
    /// seen, to compare with the sessions the log shows.
    fn session(&mut self, producer: Producer, pid: ProducerId, epoch: Epoch) -> Result<(), String> {
        let session = Session { pid, epoch };
        let sessions = self.reported.entry(producer).or_default();
        if !sessions.contains(&session) {
            sessions.push(session);
        }
        Ok(())
    }

    /// The send a completion is about; counts completions beyond the first.
    /// The first fixes the faults the send went through.
    fn completion(
        &mut self,
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
    ) -> Result<&mut SendState, String> {
        let state = self.sends.send_mut(message, attempt).ok_or_else(|| {
            format!("completion of message {message} attempt {attempt}, which was never invoked")
        })?;
        if state.completed() {
            self.send_stats.repeated_completions += 1;
        } else {
            self.liveness.complete(message.producer, time);
            state.faults = self.faults.during(state.faults);
        }
        Ok(state)
    }

    /// Takes what a `read_committed` consumer delivered, before the log: each
    /// partition's records are compared with it as they are read.
    pub fn consumed(&mut self, consumed: Consumed) {
        self.consumer = Some(ConsumerStats {
            consumer: consumed.consumer,
            ..ConsumerStats::default()
        });
        for p in consumed.partitions {
            self.consumed.insert(p.partition, p);
        }
    }

    /// Takes why the run's `read_committed` consumer could not read: what a
    /// consumer delivers was then not seen, so the answer is unknown.
    pub fn consumer_failed(&mut self, error: String) {
        self.consumer_failed = Some(error);
    }

    /// Takes the log manifest before the partitions: which partitions the
    /// read covered and whether it completed.
    pub fn begin_log(&mut self, manifest: &Manifest) {
        let listed = manifest.partitions.iter().map(|p| p.partition).collect();
        self.manifest = Some((manifest.complete, listed));
    }

    /// Whether the history's header names a pipeline: its output log and
    /// group offsets are then wanted.
    pub fn is_pipeline(&self) -> bool {
        self.pipeline.is_some()
    }

    /// The manifest of a pipeline's output read (`output/manifest.json`).
    pub fn begin_output(&mut self, manifest: &Manifest) {
        if let Some(pipeline) = &mut self.pipeline {
            pipeline.begin_output(manifest);
        }
    }

    /// Reads one partition of a pipeline's output topic.
    pub fn read_output_partition(
        &mut self,
        entry: &PartitionLog,
        bytes: Bytes,
    ) -> Result<(), LogError> {
        match &mut self.pipeline {
            Some(pipeline) => pipeline.read_output(entry, bytes),
            None => Ok(()),
        }
    }

    /// A pipeline's consumer group's committed offsets at the end, per input
    /// partition (-1, or left out, where it committed none).
    pub fn group_offsets(&mut self, offsets: BTreeMap<Partition, Offset>) {
        if let Some(pipeline) = &mut self.pipeline {
            pipeline.group_offsets(offsets);
        }
    }

    /// Reads one partition's batches (the bytes of `log/partition-<P>.bin`).
    pub fn read_partition(&mut self, entry: &PartitionLog, bytes: Bytes) -> Result<(), LogError> {
        if self.partitions.contains_key(&entry.partition) {
            return Err(LogError {
                byte: 0,
                problem: format!("partition {} was already read", entry.partition),
            });
        }
        if let Some(pipeline) = &mut self.pipeline {
            pipeline.read_input(entry, bytes.clone())?;
        }
        let chunks = log::split(&bytes, CHUNK_BYTES)?;
        let mut scan = Scan::new(entry);
        scan.delivery = self.consumed.remove(&entry.partition);
        let threads = self.options.decode_threads.min(chunks.len());
        if threads <= 1 {
            for range in chunks {
                let chunk = log::decode_chunk(bytes.slice(range.clone()), range.start)?;
                self.analyse(&mut scan, &chunk)?;
            }
        } else {
            std::thread::scope(|threads_scope| -> Result<(), LogError> {
                let receivers: Vec<_> = (0..threads)
                    .map(|worker| {
                        // Two chunks of look-ahead per worker bound the memory.
                        let (sender, receiver) = mpsc::sync_channel(2);
                        let mine: Vec<_> = chunks
                            .iter()
                            .skip(worker)
                            .step_by(threads)
                            .cloned()
                            .collect();
                        let bytes = bytes.clone();
                        threads_scope.spawn(move || {
                            for range in mine {
                                let chunk =
                                    log::decode_chunk(bytes.slice(range.clone()), range.start);
                                let failed = chunk.is_err();
                                if sender.send(chunk).is_err() || failed {
                                    break;
                                }
                            }
                        });
                        receiver
                    })
                    .collect();
                for k in 0..chunks.len() {
                    let chunk = receivers[k % threads]
                        .recv()
                        .expect("a decoder thread panicked")?;
                    self.analyse(&mut scan, &chunk)?;
                }
                Ok(())
            })?;
        }
        self.close(scan);
        Ok(())
    }

    /// Walks one decoded chunk in log order.
    fn analyse(&mut self, scan: &mut Scan, chunk: &Chunk) -> Result<(), LogError> {
        let mut next = 0;
        let mut foreign = chunk.foreign.iter().peekable();
        let mut keys = chunk.keys.iter().peekable();
        for batch in &chunk.batches {
            in_place(&scan.stats, batch)?;
            scan.stats.last_offset = Some(batch.last_offset);
            *scan
                .stats
                .batches_by_codec
                .entry(batch.codec.into())
                .or_default() += 1;
            if let Some(marker) = batch.control {
                self.control_records += 1;
                let control = (batch.first_offset, batch.pid, batch.epoch);
                self.delivered(scan, control, None, None);
                let pending = scan.open.remove(&batch.pid).unwrap_or_default();
                let fate = match marker {
                    Some(Marker::Commit) => Fate::Committed,
                    Some(Marker::Abort) => Fate::Aborted,
                    None => {
                        scan.open.insert(batch.pid, pending);
                        continue;
                    }
                };
                let marker = (batch.first_offset, batch.epoch);
                self.settle(scan, batch.pid, Some(marker), fate, pending);
                continue;
            }
            let records = &chunk.records[next..next + batch.records];
            scan.sequences(
                batch,
                records,
                &mut self.anomalies,
                self.options.max_examples,
            );
            self.pid_use.batch(scan.stats.partition, batch.pid, records);
            let place = self.place(scan.stats.partition, batch.pid, batch.epoch);
            for (i, record) in records.iter().enumerate() {
                let value = foreign
                    .next_if(|(at, _)| *at == next + i)
                    .map(|(_, v)| v.clone());
                let key = keys
                    .next_if(|(at, _)| *at == next + i)
                    .map(|(_, key)| self.keys.number(key));
                if batch.transactional {
                    scan.open.entry(batch.pid).or_default().push(Pending {
                        epoch: batch.epoch,
                        record: *record,
                        foreign: value,
                        key,
                    });
                } else {
                    self.message(scan, place, record, key, value);
                }
            }
            next += batch.records;
        }
        Ok(())
    }

    /// One data record that counts as written (not transactional, or
    /// committed): match it to its send and message, and place its `key`. A
    /// send a short history does not hold leaves the record unrecorded, not
    /// judged ([`Extent`]).
    ///
    /// Runs once per record: the steps of the common case (a first copy of a
    /// send that was invoked) are `#[inline]`, and the record's [`LogCopy`]
    /// is only made where an anomaly needs it.
    fn message(
        &mut self,
        scan: &mut Scan,
        place: u32,
        record: &Record,
        key: Option<KeyNumber>,
        foreign: Option<String>,
    ) {
        scan.stats.records += 1;
        if scan.delivery.is_some() {
            let (_, pid, epoch) = self.places[place as usize];
            let message = record.message().map(|(m, _)| m);
            let at = (record.offset, pid, epoch);
            self.delivered(scan, at, message, Some(Fate::Committed));
        }
        if let Some(key) = key {
            let message = record.message().map(|(m, _)| m);
            self.keys.land(key, scan.stats.partition, message);
        }
        let Some((message, attempt)) = record.message() else {
            return self.phantom(place, record, None, foreign);
        };
        if !self.land(message, attempt, place, record) {
            if self.extent.unrecorded(message.producer) {
                return;
            }
            return self.phantom(place, record, Some(message), None);
        }
        if !self.sends.found(message, attempt, place, record) {
            return self.duplicate(message, place, record);
        }
        if attempt == 0 {
            self.check_order(scan, message, place, record, key);
        }
    }

    /// Compares a record at `at` (offset, PID, epoch) with what the
    /// `read_committed` consumer delivered, if the run has that: a
    /// committed one (`fate`) must have been delivered, anything else (a
    /// control record has no fate) must not. Only what the consumer covered
    /// is judged.
    fn delivered(
        &mut self,
        scan: &mut Scan,
        at: (Offset, ProducerId, Epoch),
        message: Option<MessageId>,
        fate: Option<Fate>,
    ) {
        let Some(delivery) = &scan.delivery else {
            return;
        };
        let (offset, pid, epoch) = at;
        if !delivery.covers(offset) {
            return;
        }
        let got = delivery.delivered(offset);
        let miss = || ConsumerMiss {
            partition: scan.stats.partition,
            offset,
            pid,
            epoch,
            message,
            fate,
        };
        let limit = self.options.max_examples;
        match (fate == Some(Fate::Committed), got) {
            (true, false) => self
                .anomalies
                .committed_skipped
                .add(limit, || CommittedSkipped(miss())),
            (false, true) => self
                .anomalies
                .aborted_read
                .add(limit, || AbortedRead(miss())),
            _ => {}
        }
    }

    /// Where `record` sits: its partition, PID and epoch (`place`), offset
    /// and sequence.
    #[inline]
    fn copy(&self, place: u32, record: &Record) -> LogCopy {
        let (partition, pid, epoch) = self.places[place as usize];
        LogCopy {
            partition,
            offset: record.offset,
            pid,
            epoch,
            sequence: record.sequence,
            attempt: record.attempt,
        }
    }

    /// A record no send explains: its value is not an eoscheck payload
    /// (`value` holds its start), or names a message never invoked (of a
    /// producer the run never had, when the history is short).
    fn phantom(
        &mut self,
        place: u32,
        record: &Record,
        message: Option<MessageId>,
        value: Option<String>,
    ) {
        let (partition, pid, epoch) = self.places[place as usize];
        self.anomalies
            .phantom
            .add(self.options.max_examples, || Phantom {
                partition,
                offset: record.offset,
                pid,
                epoch,
                sequence: record.sequence,
                attempt: message.map(|_| record.attempt),
                message,
                value,
            });
    }

    /// Marks the send of the record at `place` as landed; `false` when it
    /// was never invoked. A send the client was told definitely failed is
    /// reported once, however many of its copies land.
    #[inline]
    fn land(&mut self, message: MessageId, attempt: Attempt, place: u32, record: &Record) -> bool {
        let Some(send) = self.sends.send_mut(message, attempt) else {
            return false;
        };
        send.flags |= flag::LANDED;
        if send.has(flag::FAILED_DEFINITE) && !send.has(flag::FAILURE_REPORTED) {
            send.flags |= flag::FAILURE_REPORTED;
            let copy = self.copy(place, record);
            let (sends, faults) = (&self.sends, &self.faults);
            self.anomalies
                .failed_but_present
                .add(self.options.max_examples, || FailedButPresent {
                    copy,
                    send: send_view(sends, faults, message, attempt),
                });
        }
        true
    }

    /// A later copy of a message already found. Every copy is kept, the
    /// first included, because the duplicate's cause is judged over all of
    /// them once the log is read.
    fn duplicate(&mut self, message: MessageId, place: u32, record: &Record) {
        let first = first_copy(&self.sends, &self.places, message);
        let copy = self.copy(place, record);
        self.duplicates
            .entry(message)
            .or_insert_with(|| vec![first])
            .push(copy);
    }

    /// The first copy of an attempt 0: it must not sit after a message its
    /// producer sent later in the same session.
    #[inline]
    fn check_order(
        &mut self,
        scan: &mut Scan,
        message: MessageId,
        place: u32,
        record: &Record,
        key: Option<KeyNumber>,
    ) {
        let (_, pid, _) = self.places[place as usize];
        if let Some(after) = scan.order(pid, message, record.offset) {
            let copy = self.copy(place, record);
            let (sends, faults, keys) = (&self.sends, &self.faults, &self.keys);
            self.anomalies
                .reorder
                .add(self.options.max_examples, || Reorder {
                    copy,
                    after: after.message,
                    after_offset: after.offset,
                    key: key.map(|k| keys.text(k)),
                    send: send_view(sends, faults, message, 0),
                });
        }
    }

    /// Numbers a (partition, PID, epoch) so a slot can name it in 4 bytes.
    fn place(&mut self, partition: Partition, pid: ProducerId, epoch: Epoch) -> u32 {
        let places = &mut self.places;
        *self
            .place_of
            .entry((partition, pid, epoch))
            .or_insert_with(|| {
                places.push((partition, pid, epoch));
                (places.len() - 1) as u32
            })
    }

    /// Ends a partition: transactions still open are undecided.
    fn close(&mut self, mut scan: Scan) {
        for (pid, pending) in std::mem::take(&mut scan.open) {
            self.settle(&mut scan, pid, None, Fate::NoMarker, pending);
        }
        if let (Some(delivery), Some(stats)) = (&scan.delivery, &mut self.consumer) {
            stats.delivered += delivery.count();
            stats.partitions.push(delivery.partition);
            if !delivery.complete {
                stats.incomplete.push(delivery.partition);
            }
        }
        self.partitions.insert(scan.stats.partition, scan.stats);
    }

    /// One PID's transactional records met their marker at `marker` (its
    /// offset and epoch), or
    /// (None) the end of the read. Committed records count as written;
    /// aborted ones mark their sends; unmarked ones are undecided.
    fn settle(
        &mut self,
        scan: &mut Scan,
        pid: ProducerId,
        marker: Option<(Offset, Epoch)>,
        fate: Fate,
        pending: Vec<Pending>,
    ) {
        let partition = scan.stats.partition;
        if self.txns.any() {
            let records = pending.iter().filter_map(|p| {
                let (message, attempt) = p.record.message()?;
                Some((message, attempt, p.record.offset, p.epoch))
            });
            let segment = Segment {
                partition,
                pid,
                fate,
                marker,
            };
            self.txns.settle(segment, records);
        }
        // Committed records are compared as they count as written.
        if fate != Fate::Committed && scan.delivery.is_some() {
            for p in &pending {
                let message = p.record.message().map(|(m, _)| m);
                self.delivered(scan, (p.record.offset, pid, p.epoch), message, Some(fate));
            }
        }
        match fate {
            Fate::Committed => {
                for p in pending {
                    let place = self.place(partition, pid, p.epoch);
                    self.message(scan, place, &p.record, p.key, p.foreign);
                }
            }
            Fate::Aborted => {
                self.aborted_records += pending.len() as u64;
                for (message, attempt) in pending.iter().filter_map(|p| p.record.message()) {
                    if let Some(send) = self.sends.send_mut(message, attempt) {
                        send.flags |= flag::ABORTED;
                    }
                }
            }
            Fate::NoMarker => {
                if !pending.is_empty() {
                    *self.undecided_records.entry(partition).or_default() += pending.len() as u64;
                }
                self.undecided
                    .extend(pending.iter().filter_map(|p| p.record.message()));
            }
        }
    }

    /// Judges every send against the log and gives the verdict.
    ///
    /// The phases run in a fixed order over sorted tables, so the same input
    /// gives the same examples, reasons and numbers whatever the threads did.
    pub fn finish(mut self) -> Results {
        let tally = self.judge_sends();
        self.send_stats.no_completion = tally.no_completion;
        self.report_duplicates();
        let transactions = self.judge_transactions();
        let limit = self.options.max_examples;
        let keys = std::mem::take(&mut self.keys).finish(&mut self.anomalies, limit);
        let idempotence = std::mem::take(&mut self.pid_use).finish(
            self.run_producers().into_iter(),
            self.options.idempotence,
            &mut self.anomalies,
            limit,
        );
        let pipeline = self.judge_pipeline();
        let unknown = match &pipeline {
            Some(judged) => self.pipeline_unknown(&judged.unknown),
            None => self.unknown_reasons(tally.unjudged_acks),
        };
        let violated = self.violated(pipeline.is_some());
        let valid = verdict(&violated, &unknown);
        let mut results = self.results(
            valid,
            violated,
            tally.indeterminate,
            unknown,
            (keys, idempotence, transactions),
        );
        results.pipeline = pipeline.map(|judged| judged.stats);
        results
    }

    /// Judges a pipeline run's processors; counts its feeder's anomalies.
    fn judge_pipeline(&mut self) -> Option<pipeline::Judged> {
        let feeder: u64 = Kind::ALL
            .iter()
            .filter(|k| !Kind::PIPELINE.contains(k))
            .map(|k| self.anomalies.count(*k))
            .sum();
        let limit = self.options.max_examples;
        let mut judged = self.pipeline.take()?.finish(&mut self.anomalies, limit);
        judged.stats.feeder_anomalies = feeder;
        Some(judged)
    }

    /// A pipeline's answer rests on the data being whole (the input read,
    /// the history, the heals, the consumer) and on the pipeline's own
    /// reasons; what the feeder's sends leave open decides nothing.
    fn pipeline_unknown(&self, own: &[String]) -> Vec<String> {
        let mut unknown = Vec::new();
        self.unread_partitions(&mut unknown);
        self.partial_reads(&mut unknown);
        unknown.extend(self.extent.reason(self.send_stats.no_completion));
        self.failed_heals(&mut unknown);
        self.unconsumed(&mut unknown);
        unknown.extend(own.iter().cloned());
        unknown
    }

    /// Judges each transaction against the fates of its sends.
    fn judge_transactions(&mut self) -> Option<TxnStats> {
        let complete = self.complete_partitions();
        let judge = TxnJudge {
            txns: &self.txns,
            sends: &self.sends,
            faults: &self.faults,
            undecided: &self.undecided,
            whole_topic: self.whole_topic(&complete),
            short: self.extent.short(),
            complete: &complete,
            limit: self.options.max_examples,
        };
        judge.judge(&mut self.anomalies, &mut self.findings.hanging_transactions)
    }

    /// The run's producer instances: those its header lists, and any that
    /// sent (a history before format 4 lists none).
    fn run_producers(&self) -> BTreeSet<Producer> {
        let listed = 0..self.extent.producers().unwrap_or(0);
        let sent = self.sends.producers().iter().map(|(p, _)| *p);
        listed.chain(sent).collect()
    }

    /// Judges each send once the whole log is known: only then is a message
    /// that is nowhere in it lost rather than not read yet.
    fn judge_sends(&mut self) -> Tally {
        let complete = self.complete_partitions();
        let whole_topic = self.whole_topic(&complete);
        self.sends.sort_producers();
        let mut judge = Judge {
            sends: &self.sends,
            faults: &self.faults,
            places: &self.places,
            duplicates: &self.duplicates,
            complete: &complete,
            whole_topic,
            undecided: &self.undecided,
            txns: &self.txns,
            anomalies: &mut self.anomalies,
            limit: self.options.max_examples,
            tally: Tally::default(),
        };
        judge.first_attempts();
        judge.resends();
        judge.tally
    }

    /// Whether every partition of the topic was read completely: only then
    /// does absence prove anything of a send whose partition is not known.
    fn whole_topic(&self, complete: &BTreeSet<Partition>) -> bool {
        self.manifest
            .as_ref()
            .is_some_and(|(done, listed)| *done && listed.is_subset(complete))
    }

    /// Partitions read to their end: only there does absence prove anything.
    fn complete_partitions(&self) -> BTreeSet<Partition> {
        self.partitions
            .values()
            .filter(|p| p.complete && read_to(p) >= p.high_watermark)
            .map(|p| p.partition)
            .collect()
    }

    /// One anomaly per message in the log more than once, not per extra
    /// copy: its cause is judged over all copies together.
    fn report_duplicates(&mut self) {
        let (sends, faults) = (&self.sends, &self.faults);
        let limit = self.options.max_examples;
        let txns = &self.txns;
        for (message, copies) in &self.duplicates {
            self.anomalies.duplicate.add(limit, || Duplicate {
                cause: match txns.of(*message, 0) {
                    Some(_) => DuplicateCause::of_transaction(copies),
                    None => DuplicateCause::of(copies),
                },
                copies: copies.clone(),
                send: send_view(sends, faults, *message, 0),
            });
        }
    }

    /// Why a run with no anomaly is still not valid: each reason is a part of
    /// the evidence that was not seen, where an anomaly could hide.
    fn unknown_reasons(&self, unjudged_acks: u64) -> Vec<String> {
        let mut unknown = Vec::new();
        if unjudged_acks > 0 {
            unknown.push(format!(
                "{unjudged_acks} acknowledged sends are not in the log read so far, but their partitions were not read completely, so loss cannot be judged"
            ));
        }
        self.unread_partitions(&mut unknown);
        self.partial_reads(&mut unknown);
        self.undecided_input(&mut unknown);
        self.failed_heals(&mut unknown);
        self.unconsumed(&mut unknown);
        unknown
    }

    /// Partitions the `read_committed` consumer did not read to the last
    /// stable offset, or at all: what it may have got wrong beyond is not
    /// seen.
    fn unconsumed(&self, unknown: &mut Vec<String>) {
        if let Some(error) = &self.consumer_failed {
            unknown.push(format!(
                "the read_committed consumer's read failed ({error}), so whether a consumer delivers aborted records or skips committed ones was not seen"
            ));
        }
        let Some(stats) = &self.consumer else { return };
        let unread = self
            .partitions
            .keys()
            .filter(|p| !stats.partitions.contains(p));
        let listed = |p: &[Partition]| {
            p.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let unread: Vec<Partition> = unread.copied().collect();
        if !unread.is_empty() {
            unknown.push(format!(
                "the read_committed consumer did not read partitions {}",
                listed(&unread)
            ));
        }
        if !stats.incomplete.is_empty() {
            unknown.push(format!(
                "the read_committed consumer did not reach the last stable offset of partitions {}",
                listed(&stats.incomplete)
            ));
        }
    }

    /// A heal that failed may have left the cluster in a state the final read
    /// cannot be trusted in. A fault that was not injected or undone is a
    /// finding, not a reason: the data can still prove what happened.
    fn failed_heals(&self, unknown: &mut Vec<String>) {
        for note in &self.findings.nemesis_failed {
            if note.phase == NemesisPhase::Heal {
                unknown.push(format!(
                    "healing the cluster failed ({}): {}; the final read may not show what the brokers kept",
                    note.fault, note.error
                ));
            }
        }
    }

    /// The final read is missing, or left out partitions that the manifest
    /// lists or the history sent to.
    fn unread_partitions(&self, unknown: &mut Vec<String>) {
        match &self.manifest {
            None => unknown.push("no log manifest was given: the final read is missing".into()),
            Some((complete, listed)) => {
                if !complete {
                    unknown.push(
                        "the final log read did not complete (manifest \"complete\": false)".into(),
                    );
                }
                for p in listed.iter().filter(|p| !self.partitions.contains_key(p)) {
                    unknown.push(format!("partition {p} is in the manifest but was not read"));
                }
            }
        }
        for p in self
            .sent_to
            .iter()
            .filter(|p| !self.partitions.contains_key(p))
        {
            unknown.push(format!(
                "messages were sent to partition {p}, but its log was not read"
            ));
        }
    }

    /// Partitions read, but not to the end the broker reported.
    fn partial_reads(&self, unknown: &mut Vec<String>) {
        for p in self.partitions.values() {
            let reached = read_to(p);
            if !p.complete {
                unknown.push(format!(
                    "the read of partition {} did not complete",
                    p.partition
                ));
            } else if reached < p.high_watermark {
                unknown.push(format!(
                    "partition {} was read to offset {reached} only, below its high watermark {}",
                    p.partition, p.high_watermark
                ));
            }
        }
    }

    /// Input that was read but decides nothing: a short history,
    /// transactions with no outcome, or no sends at all.
    fn undecided_input(&self, unknown: &mut Vec<String>) {
        unknown.extend(self.extent.reason(self.send_stats.no_completion));
        self.undecided_transactions(unknown);
        if self.send_stats.invoked == 0 {
            unknown.push("the history has no sends, so nothing was tested".into());
        }
    }

    /// Transactional records with no COMMIT or ABORT marker. Where the read
    /// stopped short, the marker may lie beyond it, so those are named with
    /// their partitions; in a complete read the marker is missing from the log.
    fn undecided_transactions(&self, unknown: &mut Vec<String>) {
        let complete = self.complete_partitions();
        let (whole, short): (Vec<_>, Vec<_>) = self
            .undecided_records
            .iter()
            .partition(|(p, _)| complete.contains(p));
        let records = |list: &[(&Partition, &u64)]| list.iter().map(|(_, n)| **n).sum::<u64>();
        if !whole.is_empty() {
            unknown.push(format!(
                "{} transactional records have no COMMIT or ABORT marker in the log",
                records(&whole)
            ));
        }
        if !short.is_empty() {
            let partitions: Vec<String> = short.iter().map(|(p, _)| p.to_string()).collect();
            unknown.push(format!(
                "{} transactional records in partitions not read to their end ({}) have no COMMIT or ABORT marker in what was read: it may lie beyond the read",
                records(&short),
                partitions.join(", ")
            ));
        }
    }

    /// The promised guarantees that some anomaly found breaks. Anomalies
    /// against guarantees the run did not promise are reported but do not
    /// decide the verdict.
    fn violated(&self, pipeline: bool) -> Vec<Guarantee> {
        let judged = if pipeline { Kind::PIPELINE } else { Kind::ALL };
        self.options
            .guarantees
            .iter()
            .copied()
            .filter(|g| {
                judged
                    .iter()
                    .any(|k| self.anomalies.count(*k) > 0 && k.violates().contains(g))
            })
            .collect()
    }

    /// Puts the verdict, the anomalies, the statistics and the producers'
    /// keys and idempotence together.
    fn results(
        self,
        valid: Validity,
        violated: Vec<Guarantee>,
        indeterminate: IndeterminateStats,
        unknown_reasons: Vec<String>,
        (keys, idempotence, transactions): (
            Vec<KeyPlacement>,
            Vec<ProducerIdempotence>,
            Option<TxnStats>,
        ),
    ) -> Results {
        let partitions: Vec<PartitionStats> = self.partitions.into_values().collect();
        let producers = producer_stats(&partitions, self.reported);
        let first_attempts = self.send_stats.invoked - self.send_stats.resends;
        let tested = tested(self.options.asked.as_ref(), self.exercised, first_attempts);
        Results {
            valid,
            guarantees: self.options.guarantees,
            violated,
            anomalies: self.anomalies,
            findings: Findings {
                stalled: self.liveness.finish(),
                ..self.findings
            },
            stats: Stats {
                sends: self.send_stats,
                indeterminate,
                records_read: partitions.iter().map(|p| p.records).sum(),
                control_records: self.control_records,
                aborted_records: self.aborted_records,
                undecided_records: self.undecided_records.values().sum(),
                unrecorded_records: self.extent.unrecorded_records(),
                partitions,
                producers,
            },
            unknown_reasons,
            tested,
            keys,
            idempotence,
            transactions,
            consumer: self.consumer,
            pipeline: None,
        }
    }
}

/// What was tested against what was `asked`: fault kinds that started, and
/// the rate of `first_attempts` over the workload.
fn tested(asked: Option<&Asked>, exercised: Vec<String>, first_attempts: u64) -> Tested {
    let Some(asked) = asked else {
        return Tested {
            faults_exercised: exercised,
            ..Tested::default()
        };
    };
    Tested {
        faults_requested: asked.faults.clone(),
        faults_planned: asked.planned.clone(),
        faults_not_exercised: asked
            .planned
            .iter()
            .filter(|f| !exercised.contains(f))
            .cloned()
            .collect(),
        faults_exercised: exercised,
        rate_asked: (asked.rate > 0).then_some(f64::from(asked.rate)),
        rate_achieved: (asked.seconds > 0.0).then(|| first_attempts as f64 / asked.seconds),
    }
}

/// A batch must sit after the one before it and inside what the read covered
/// ([log start, high watermark)): offsets are the log's own structure, which
/// no client writes, so a batch out of place is a damaged file, never an
/// anomaly (the batch CRC does not cover the base offset).
fn in_place(partition: &PartitionStats, batch: &log::Batch) -> Result<(), LogError> {
    let problem = if partition
        .last_offset
        .is_some_and(|last| batch.first_offset <= last)
    {
        format!(
            "its offsets {}..={} do not follow the previous batch's last offset {}",
            batch.first_offset,
            batch.last_offset,
            partition.last_offset.unwrap_or_default()
        )
    } else if batch.first_offset < partition.log_start_offset
        || batch.last_offset >= partition.high_watermark
    {
        format!(
            "its offsets {}..={} are outside the partition's [log start {}, high watermark {})",
            batch.first_offset,
            batch.last_offset,
            partition.log_start_offset,
            partition.high_watermark
        )
    } else {
        return Ok(());
    };
    Err(LogError {
        byte: batch.byte,
        problem: log::damaged(&problem),
    })
}

/// The offset a partition's read reached: one past its last record.
fn read_to(p: &PartitionStats) -> Offset {
    p.last_offset.map_or(p.log_start_offset, |o| o + 1)
}

/// A broken promise makes the run invalid whatever else is missing; without
/// one, anything unseen makes it unknown rather than valid.
fn verdict(violated: &[Guarantee], unknown: &[String]) -> Validity {
    if !violated.is_empty() {
        Validity::Invalid
    } else if !unknown.is_empty() {
        Validity::Unknown
    } else {
        Validity::Valid
    }
}

/// What judging the sends counts besides anomalies.
#[derive(Default)]
struct Tally {
    indeterminate: IndeterminateStats,
    no_completion: u64,
    /// Acknowledged sends not found in partitions that were not read to the
    /// end: they may be lost or just unread.
    unjudged_acks: u64,
}

/// Judges sends, once the whole log has been read.
struct Judge<'a> {
    sends: &'a Sends,
    faults: &'a Faults,
    places: &'a [(Partition, ProducerId, Epoch)],
    duplicates: &'a BTreeMap<MessageId, Vec<LogCopy>>,
    /// Partitions read completely: only there does absence prove anything.
    complete: &'a BTreeSet<Partition>,
    /// Whether every partition of the topic was: only then does absence
    /// prove anything of a send whose partition is not known.
    whole_topic: bool,
    /// Sends whose records wait for their transaction's marker.
    undecided: &'a BTreeSet<(MessageId, Attempt)>,
    /// A send of a transaction its client was not told committed is judged
    /// with its transaction, not alone.
    txns: &'a Transactions,
    anomalies: &'a mut Anomalies,
    /// Examples kept per kind.
    limit: usize,
    tally: Tally,
}

impl Judge<'_> {
    /// Attempt 0 of every invoked message, in (producer, index) order.
    fn first_attempts(&mut self) {
        let sends = self.sends;
        for (producer, table) in sends.producers() {
            let invoked = table.slots().filter(|(_, s)| s.send.has(flag::INVOKED));
            invoked.for_each(|(index, slot)| {
                let message = MessageId {
                    producer: *producer,
                    index,
                };
                self.send(message, 0, &slot.send, slot);
            });
        }
    }

    /// The application's resends, sorted by (message, attempt) so their
    /// examples do not follow hash order.
    fn resends(&mut self) {
        let sends = self.sends;
        let mut resends: Vec<_> = sends.resends.iter().collect();
        resends.sort_by_key(|(key, _)| **key);
        for (&(message, attempt), state) in resends {
            let slot = sends.slot(message).expect("a resend has an attempt 0");
            self.send(message, attempt, state, slot);
        }
    }

    /// Judges one send (`state`) of a message (`slot`): only an ack promises
    /// anything, so only an acked send can be lost or misplaced.
    fn send(&mut self, message: MessageId, attempt: Attempt, state: &SendState, slot: &Slot) {
        self.count(state);
        if !state.has(flag::ACKED) {
            return;
        }
        if !slot.send.has(flag::FOUND) {
            self.missing(message, attempt, state, acked_partition(state));
        } else if state.has(flag::ABORTED) && !state.has(flag::LANDED) {
            // Acknowledged where its record sits, under an ABORT marker; the
            // message's copies elsewhere are other attempts'.
        } else if self.misplaced(message, attempt, state, slot) {
            let (sends, faults, places, duplicates) =
                (self.sends, self.faults, self.places, self.duplicates);
            self.anomalies
                .offset_mismatch
                .add(self.limit, || OffsetMismatch {
                    copies: duplicates
                        .get(&message)
                        .cloned()
                        .unwrap_or_else(|| vec![first_copy(sends, places, message)]),
                    send: send_view(sends, faults, message, attempt),
                });
        }
    }

    /// Counts sends with no completion, and where indeterminate ones ended.
    /// One that names no partition (the library chose, and no ack said which)
    /// and is not in the log did not land only if every partition was read
    /// completely; otherwise it may sit beyond the read, and is undetermined
    /// (the partial read already makes the verdict unknown).
    fn count(&mut self, state: &SendState) {
        let tally = &mut self.tally;
        if !state.has(flag::ACKED | flag::FAILED_DEFINITE | flag::FAILED_MAYBE | flag::INFO) {
            tally.no_completion += 1;
        }
        if state.indeterminate() {
            let read = match state.partition() {
                Some(partition) => self.complete.contains(&partition),
                None => self.whole_topic,
            };
            if state.has(flag::LANDED) {
                tally.indeterminate.landed += 1;
            } else if read {
                tally.indeterminate.not_landed += 1;
            } else {
                tally.indeterminate.undetermined += 1;
            }
        }
    }

    /// An acked message with no copy in the log: lost if its partition was
    /// read completely, else it cannot be judged.
    fn missing(
        &mut self,
        message: MessageId,
        attempt: Attempt,
        state: &SendState,
        partition: Partition,
    ) {
        let txns = self.txns;
        let uncommitted = || {
            txns.of(message, attempt)
                .is_some_and(|t| txns.txns[t as usize].told() != Told::Committed)
        };
        if self.undecided.contains(&(message, attempt)) {
            // In the log, its fate undecided: the verdict says so already.
        } else if state.has(flag::ABORTED) || uncommitted() {
            // Its transaction did not commit, or was aborted in the log:
            // judged with the transaction.
        } else if self.complete.contains(&partition) {
            let (sends, faults) = (self.sends, self.faults);
            self.anomalies.lost.add(self.limit, || Lost {
                send: send_view(sends, faults, message, attempt),
            });
        } else {
            self.tally.unjudged_acks += 1;
        }
    }

    /// Whether some ack of the send names a position where no copy of its
    /// message sits.
    fn misplaced(
        &self,
        message: MessageId,
        attempt: Attempt,
        state: &SendState,
        slot: &Slot,
    ) -> bool {
        // The flags spare the common case (one ack, one copy) any map lookup.
        let extra = match state.has(flag::ACKED_AGAIN) {
            true => self.sends.extra_acks[&(message, attempt)].as_slice(),
            false => &[],
        };
        let mut acked = std::iter::once((acked_partition(state), state.acked_offset))
            .chain(extra.iter().copied());
        // A negative offset is an ack that does not say where: it only names the
        // partition (librdkafka acks a retried batch the broker calls a duplicate so).
        let at = |p: Partition, o: Offset, copy_p: Partition, copy_o: Offset| {
            p == copy_p && (o < 0 || o == copy_o)
        };
        match slot.send.has(flag::DUPLICATED) {
            false => {
                let place = self.places[slot.first_place as usize].0;
                acked.any(|(p, o)| !at(p, o, place, slot.first_offset))
            }
            true => {
                let copies = &self.duplicates[&message];
                acked.any(|(p, o)| !copies.iter().any(|c| at(p, o, c.partition, c.offset)))
            }
        }
    }
}

/// Something a producer said about itself (a fatal error, a refused
/// configuration), passed on as a finding: it decides nothing, but explains
/// why a producer went quiet.
fn note(
    notes: &mut Vec<ProducerNote>,
    time: Nanos,
    producer: Producer,
    message: &str,
) -> Result<(), String> {
    notes.push(ProducerNote {
        time,
        producer,
        message: message.to_string(),
    });
    Ok(())
}

/// Where the first copy of a found message sits.
fn first_copy(
    sends: &Sends,
    places: &[(Partition, ProducerId, Epoch)],
    message: MessageId,
) -> LogCopy {
    let slot = sends.slot(message).expect("a found message has a slot");
    let (partition, pid, epoch) = places[slot.first_place as usize];
    let attempt = if slot.send.has(flag::FIRST_IS_RESEND) {
        sends.first_attempts[&message]
    } else {
        0
    };
    LogCopy {
        partition,
        offset: slot.first_offset,
        pid,
        epoch,
        sequence: slot.first_sequence,
        attempt,
    }
}

/// Where an acknowledged send was acknowledged: an ack always names the
/// partition, even when the invoke left it to the library.
fn acked_partition(state: &SendState) -> Partition {
    state
        .partition()
        .expect("an acknowledged send has the partition of its ack")
}

/// The client's view of one send, for an example.
fn send_view(sends: &Sends, faults: &Faults, message: MessageId, attempt: Attempt) -> ClientSend {
    let state = sends.send(message, attempt).copied().unwrap_or_default();
    let error = || sends.error_text(state.error).to_string();
    let outcome = if state.has(flag::ACKED) {
        Outcome::Ok {
            partition: acked_partition(&state),
            offset: state.acked_offset,
        }
    } else if state.has(flag::FAILED_DEFINITE) {
        Outcome::Fail {
            error: error(),
            definite: true,
        }
    } else if state.has(flag::FAILED_MAYBE) {
        Outcome::Fail {
            error: error(),
            definite: false,
        }
    } else if state.has(flag::INFO) {
        Outcome::Info { error: error() }
    } else {
        Outcome::None
    };
    let faults = if state.completed() {
        faults.set(state.faults)
    } else {
        faults.since(state.faults)
    };
    ClientSend {
        message,
        attempt,
        outcome,
        faults,
    }
}

/// Each producer's (PID, epoch) pairs as the log shows them (the PID to
/// producer mapping, learned from the payloads) and as the client reported.
fn producer_stats(
    partitions: &[PartitionStats],
    reported: BTreeMap<Producer, Vec<Session>>,
) -> Vec<ProducerStats> {
    let mut by_producer: BTreeMap<Producer, ProducerStats> = BTreeMap::new();
    for s in partitions.iter().flat_map(|p| &p.sessions) {
        for &producer in &s.producers {
            let stats = by_producer
                .entry(producer)
                .or_insert_with(|| ProducerStats {
                    producer,
                    ..Default::default()
                });
            stats.sessions_in_log.push(Session {
                pid: s.pid,
                epoch: s.epoch,
            });
        }
    }
    for (producer, sessions) in reported {
        by_producer
            .entry(producer)
            .or_insert_with(|| ProducerStats {
                producer,
                ..Default::default()
            })
            .sessions_reported = sessions;
    }
    by_producer
        .into_values()
        .map(|mut p| {
            p.sessions_in_log.sort();
            p.sessions_in_log.dedup();
            p
        })
        .collect()
}
