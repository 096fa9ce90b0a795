//! The checker: history in, log in, [`Results`] out.
//!
//! It reads the history first (what every client was asked to send and what
//! it was told), keeping 32 bytes per message, then walks each partition's log
//! once in offset order, and finally judges every send against what the log
//! holds. Partitions are decoded on helper threads in chunks of whole batches
//! while the calling thread analyses chunks strictly in log order, so the
//! results do not depend on thread timing.

mod faults;
mod hashing;
mod liveness;
mod scan;
mod sends;

use crate::anomaly::{
    Anomalies, Copy, Duplicate, DuplicateCause, FailedButPresent, Lost, OffsetMismatch, Outcome,
    Phantom, Reorder, Send,
};
use crate::guarantee::Guarantee;
use crate::history::{self, Event, HistoryError, Nanos};
use crate::ids::{Attempt, Epoch, MessageId, Offset, Partition, Producer, ProducerId};
use crate::log::{self, Chunk, LogError, Manifest, Marker, PartitionLog, Record};
use crate::results::{
    Findings, IndeterminateStats, PartitionStats, ProducerNote, ProducerStats, Results, SendStats,
    Session, Stats, Validity,
};
use bytes::Bytes;
use faults::Faults;
use hashing::FastMap;
use liveness::Liveness;
use scan::{Pending, Scan};
use sends::{flag, SendState, Sends, Slot};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;

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
    header_seen: bool,
    history_truncated: bool,
    faults: Faults,
    liveness: Liveness,
    sends: Sends,
    send_stats: SendStats,
    findings: Findings,
    reported: BTreeMap<Producer, Vec<Session>>,
    sent_to: BTreeSet<Partition>,
    /// From the manifest: whether the read completed, and what it listed.
    manifest: Option<(bool, BTreeSet<Partition>)>,
    places: Vec<(Partition, ProducerId, Epoch)>,
    place_of: FastMap<(Partition, ProducerId, Epoch), u32>,
    /// Every copy of each message that is in the log more than once.
    duplicates: BTreeMap<MessageId, Vec<Copy>>,
    partitions: BTreeMap<Partition, PartitionStats>,
    control_records: u64,
    aborted_records: u64,
    undecided_records: u64,
    anomalies: Anomalies,
}

impl Checker {
    pub fn new(options: Options) -> Checker {
        Checker {
            anomalies: Anomalies::new(),
            liveness: Liveness::new(options.stall_grace),
            options,
            header_seen: false,
            history_truncated: false,
            faults: Faults::new(),
            sends: Sends::default(),
            send_stats: SendStats::default(),
            findings: Findings::default(),
            reported: BTreeMap::new(),
            sent_to: BTreeSet::new(),
            manifest: None,
            places: Vec::new(),
            place_of: FastMap::default(),
            duplicates: BTreeMap::new(),
            partitions: BTreeMap::new(),
            control_records: 0,
            aborted_records: 0,
            undecided_records: 0,
        }
    }

    /// Reads a whole `history.jsonl`. A last line cut off mid-write (no
    /// final newline) marks the history truncated, which makes the verdict at
    /// best unknown; any other bad line is an error naming it.
    pub fn read_history(&mut self, text: &str) -> Result<(), HistoryError> {
        let mut lines = text.split_inclusive('\n').enumerate().peekable();
        while let Some((i, raw)) = lines.next() {
            let number = i + 1;
            let line = raw.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                continue;
            }
            let event = if self.header_seen {
                history::parse_line(number, line)
            } else {
                history::parse_header(line)
            };
            match event {
                Ok(event) => self.observe(&event).map_err(|problem| HistoryError {
                    line: number,
                    problem,
                })?,
                Err(_) if lines.peek().is_none() && !raw.ends_with('\n') && self.header_seen => {
                    self.history_truncated = true;
                }
                Err(e) => return Err(HistoryError { line: number, ..e }),
            }
        }
        if !self.header_seen {
            return Err(HistoryError {
                line: 1,
                problem: "the history is empty: it has no header line".into(),
            });
        }
        Ok(())
    }

    /// Takes one history event, in file order. `Err` says how the history
    /// contradicts itself (the caller knows the line).
    pub fn observe(&mut self, event: &Event) -> Result<(), String> {
        if let Event::Header { format, .. } = event {
            if self.header_seen {
                return Err("a second header line".into());
            }
            history::readable((*format).into())?;
            self.header_seen = true;
            return Ok(());
        }
        if !self.header_seen {
            return Err("the history must begin with a header line".into());
        }
        match event {
            Event::Header { .. } => unreachable!("handled above"),
            Event::Invoke {
                time,
                message,
                attempt,
                partition,
            } => {
                self.liveness.invoke(message.producer, *time);
                self.sends
                    .invoke(*message, *attempt, *partition, self.faults.current())?;
                self.send_stats.invoked += 1;
                self.send_stats.resends += u64::from(*attempt > 0);
                self.sent_to.insert(*partition);
            }
            Event::Ok {
                time,
                message,
                attempt,
                partition,
                offset,
            } => {
                let partition16 = u16::try_from(*partition)
                    .map_err(|_| format!("partition {partition} is outside 0..=65535"))?;
                self.send_stats.ok += 1;
                let state = self.completion(*time, *message, *attempt)?;
                if !state.has(flag::ACKED) {
                    state.flags |= flag::ACKED;
                    state.partition = partition16;
                    state.acked_offset = *offset;
                } else if (state.partition, state.acked_offset) != (partition16, *offset) {
                    state.flags |= flag::ACKED_AGAIN;
                    self.sends
                        .extra_acks
                        .entry((*message, *attempt))
                        .or_default()
                        .push((*partition, *offset));
                }
            }
            Event::Fail {
                time,
                message,
                attempt,
                error,
                definite,
            } => {
                let error = self.sends.error_number(error);
                let bit = if *definite {
                    flag::FAILED_DEFINITE
                } else {
                    flag::FAILED_MAYBE
                };
                if *definite {
                    self.send_stats.failed_definite += 1
                } else {
                    self.send_stats.failed_maybe += 1
                }
                let state = self.completion(*time, *message, *attempt)?;
                state.flags |= bit;
                state.error = error;
            }
            Event::Info {
                time,
                message,
                attempt,
                error,
            } => {
                let error = self.sends.error_number(error);
                self.send_stats.info += 1;
                let state = self.completion(*time, *message, *attempt)?;
                state.flags |= flag::INFO;
                state.error = error;
            }
            Event::NemesisStart {
                time,
                fault,
                targets,
                ..
            } => {
                self.faults.start(fault, targets);
                self.liveness
                    .faults_changed(self.faults.current() != 0, *time);
            }
            Event::NemesisStop {
                time,
                fault,
                targets,
                ..
            } => {
                self.faults.stop(fault, targets);
                self.liveness
                    .faults_changed(self.faults.current() != 0, *time);
            }
            Event::ProducerSession {
                producer,
                pid,
                epoch,
                ..
            } => {
                let sessions = self.reported.entry(*producer).or_default();
                let session = Session {
                    pid: *pid,
                    epoch: *epoch,
                };
                if !sessions.contains(&session) {
                    sessions.push(session);
                }
            }
            Event::ProducerFatal {
                time,
                producer,
                error,
            } => self.findings.producer_fatal.push(ProducerNote {
                time: *time,
                producer: *producer,
                message: error.clone(),
            }),
            Event::ConfigRejected {
                time,
                producer,
                reason,
            } => self.findings.config_rejected.push(ProducerNote {
                time: *time,
                producer: *producer,
                message: reason.clone(),
            }),
        }
        Ok(())
    }

    /// The send a completion is about; counts completions beyond the first.
    fn completion(
        &mut self,
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
    ) -> Result<&mut SendState, String> {
        let state = self.sends.send_mut(message, attempt).ok_or_else(|| {
            format!("completion of message {message} attempt {attempt}, which was never invoked")
        })?;
        if state.has(flag::ACKED | flag::FAILED_DEFINITE | flag::FAILED_MAYBE | flag::INFO) {
            self.send_stats.repeated_completions += 1;
        } else {
            self.liveness.complete(message.producer, time);
        }
        Ok(state)
    }

    /// Takes the log manifest before the partitions: which partitions the
    /// read covered and whether it completed.
    pub fn begin_log(&mut self, manifest: &Manifest) {
        let listed = manifest.partitions.iter().map(|p| p.partition).collect();
        self.manifest = Some((manifest.complete, listed));
    }

    /// Reads one partition's batches (the bytes of `log/partition-<P>.bin`).
    pub fn read_partition(&mut self, entry: &PartitionLog, bytes: Bytes) -> Result<(), LogError> {
        if self.partitions.contains_key(&entry.partition) {
            return Err(LogError {
                byte: 0,
                problem: format!("partition {} was already read", entry.partition),
            });
        }
        let chunks = log::split(&bytes, CHUNK_BYTES)?;
        let mut scan = Scan::new(entry);
        let threads = self.options.decode_threads.min(chunks.len());
        if threads <= 1 {
            for range in chunks {
                let chunk = log::decode_chunk(bytes.slice(range.clone()), range.start)?;
                self.analyse(&mut scan, &chunk);
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
                    self.analyse(&mut scan, &chunk);
                }
                Ok(())
            })?;
        }
        self.close(scan);
        Ok(())
    }

    /// Walks one decoded chunk in log order.
    fn analyse(&mut self, scan: &mut Scan, chunk: &Chunk) {
        let mut next = 0;
        let mut foreign = chunk.foreign.iter().peekable();
        for batch in &chunk.batches {
            scan.stats.last_offset = Some(batch.last_offset);
            if let Some(marker) = batch.control {
                self.control_records += 1;
                let pending = scan.open.remove(&batch.pid).unwrap_or_default();
                match marker {
                    Some(Marker::Commit) => {
                        for p in pending {
                            let place = self.place(scan.stats.partition, batch.pid, p.epoch);
                            self.message(scan, place, &p.record, p.foreign);
                        }
                    }
                    Some(Marker::Abort) => self.aborted_records += pending.len() as u64,
                    None => {
                        scan.open.insert(batch.pid, pending);
                    }
                }
                continue;
            }
            let records = &chunk.records[next..next + batch.records];
            scan.sequences(
                batch,
                records,
                &mut self.anomalies,
                self.options.max_examples,
            );
            let place = self.place(scan.stats.partition, batch.pid, batch.epoch);
            for (i, record) in records.iter().enumerate() {
                let value = foreign
                    .next_if(|(at, _)| *at == next + i)
                    .map(|(_, v)| v.clone());
                if batch.transactional {
                    scan.open.entry(batch.pid).or_default().push(Pending {
                        epoch: batch.epoch,
                        record: *record,
                        foreign: value,
                    });
                } else {
                    self.message(scan, place, record, value);
                }
            }
            next += batch.records;
        }
    }

    /// One data record that counts as written (not transactional, or
    /// committed): match it to its send and message.
    fn message(&mut self, scan: &mut Scan, place: u32, record: &Record, foreign: Option<String>) {
        let limit = self.options.max_examples;
        let (partition, pid, epoch) = self.places[place as usize];
        scan.stats.records += 1;
        let copy = Copy {
            partition,
            offset: record.offset,
            pid,
            epoch,
            sequence: record.sequence,
            attempt: record.attempt,
        };
        let phantom = |message: Option<MessageId>, value: Option<String>| Phantom {
            partition,
            offset: record.offset,
            pid,
            epoch,
            sequence: record.sequence,
            attempt: message.map(|_| record.attempt),
            message,
            value,
        };
        let Some((message, attempt)) = record.message() else {
            self.anomalies.phantom.add(limit, || phantom(None, foreign));
            return;
        };
        let Some(send) = self.sends.send_mut(message, attempt) else {
            self.anomalies
                .phantom
                .add(limit, || phantom(Some(message), None));
            return;
        };
        send.flags |= flag::LANDED;
        if send.has(flag::FAILED_DEFINITE) && !send.has(flag::FAILURE_REPORTED) {
            send.flags |= flag::FAILURE_REPORTED;
            let (sends, faults) = (&self.sends, &self.faults);
            self.anomalies
                .failed_but_present
                .add(limit, || FailedButPresent {
                    copy,
                    send: send_view(sends, faults, message, attempt),
                });
        }
        let slot = self
            .sends
            .slot_mut(message)
            .expect("an invoked send has a slot");
        if !slot.send.has(flag::FOUND) {
            slot.send.flags |= flag::FOUND;
            slot.first_offset = record.offset;
            slot.first_place = place;
            slot.first_sequence = record.sequence;
            if attempt != 0 {
                slot.send.flags |= flag::FIRST_IS_RESEND;
                self.sends.first_attempts.insert(message, attempt);
            } else if let Some(after) = scan.order(pid, message, record.offset) {
                let (sends, faults) = (&self.sends, &self.faults);
                self.anomalies.reorder.add(limit, || Reorder {
                    copy,
                    after: after.message,
                    after_offset: after.offset,
                    send: send_view(sends, faults, message, 0),
                });
            }
            return;
        }
        slot.send.flags |= flag::DUPLICATED;
        let first = first_copy(&self.sends, &self.places, message);
        self.duplicates
            .entry(message)
            .or_insert_with(|| vec![first])
            .push(copy);
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
    fn close(&mut self, scan: Scan) {
        self.undecided_records += scan.open.values().map(|p| p.len() as u64).sum::<u64>();
        self.partitions.insert(scan.stats.partition, scan.stats);
    }

    /// Judges every send against the log and gives the verdict.
    pub fn finish(mut self) -> Results {
        let mut unknown = Vec::new();
        let complete: BTreeSet<Partition> = self
            .partitions
            .values()
            .filter(|p| p.complete)
            .map(|p| p.partition)
            .collect();
        self.sends.sort_producers();
        let mut judge = Judge {
            sends: &self.sends,
            faults: &self.faults,
            places: &self.places,
            duplicates: &self.duplicates,
            complete: &complete,
            anomalies: &mut self.anomalies,
            limit: self.options.max_examples,
            indeterminate: IndeterminateStats::default(),
            no_completion: 0,
            unjudged_acks: 0,
        };
        for (producer, slots) in self.sends.producers() {
            for (index, slot) in slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.send.has(flag::INVOKED))
            {
                judge.send(
                    MessageId {
                        producer: *producer,
                        index: index as u64,
                    },
                    0,
                    &slot.send,
                    slot,
                );
            }
        }
        let mut resends: Vec<_> = self.sends.resends.iter().collect();
        resends.sort_by_key(|(key, _)| **key);
        for (&(message, attempt), state) in resends {
            judge.send(
                message,
                attempt,
                state,
                self.sends.slot(message).expect("a resend has an attempt 0"),
            );
        }
        let Judge {
            indeterminate,
            no_completion,
            unjudged_acks,
            limit,
            ..
        } = judge;
        self.send_stats.no_completion = no_completion;
        for (message, copies) in &self.duplicates {
            let (sends, faults) = (&self.sends, &self.faults);
            self.anomalies.duplicate.add(limit, || Duplicate {
                cause: DuplicateCause::of(copies),
                copies: copies.clone(),
                send: send_view(sends, faults, *message, 0),
            });
        }

        if unjudged_acks > 0 {
            unknown.push(format!(
                "{unjudged_acks} acknowledged sends are not in the log read so far, but their partitions were not read completely, so loss cannot be judged"
            ));
        }
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
        for p in self.partitions.values() {
            let reached = p.last_offset.map_or(p.log_start_offset, |o| o + 1);
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
        if self.history_truncated {
            unknown.push("history.jsonl ends in a partial line: the recorder stopped mid-write, so sends may be missing".into());
        }
        if self.undecided_records > 0 {
            unknown.push(format!(
                "{} transactional records have no COMMIT or ABORT marker in the log",
                self.undecided_records
            ));
        }
        if self.send_stats.invoked == 0 {
            unknown.push("the history has no sends, so nothing was tested".into());
        }

        let promised = &self.options.guarantees;
        let violated: Vec<Guarantee> = promised
            .iter()
            .copied()
            .filter(|g| {
                crate::anomaly::Kind::ALL
                    .iter()
                    .any(|k| self.anomalies.count(*k) > 0 && k.violates().contains(g))
            })
            .collect();
        let valid = if !violated.is_empty() {
            Validity::Invalid
        } else if !unknown.is_empty() {
            Validity::Unknown
        } else {
            Validity::Valid
        };
        let partitions: Vec<PartitionStats> = self.partitions.into_values().collect();
        let producers = producer_stats(&partitions, self.reported);
        Results {
            valid,
            guarantees: promised.clone(),
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
                undecided_records: self.undecided_records,
                partitions,
                producers,
            },
            unknown_reasons: unknown,
        }
    }
}

/// Judges sends, once the whole log has been read.
struct Judge<'a> {
    sends: &'a Sends,
    faults: &'a Faults,
    places: &'a [(Partition, ProducerId, Epoch)],
    duplicates: &'a BTreeMap<MessageId, Vec<Copy>>,
    /// Partitions read completely: only there does absence prove anything.
    complete: &'a BTreeSet<Partition>,
    anomalies: &'a mut Anomalies,
    /// Examples kept per kind.
    limit: usize,
    indeterminate: IndeterminateStats,
    no_completion: u64,
    unjudged_acks: u64,
}

impl Judge<'_> {
    /// Judges one send (`state`) of a message (`slot`).
    fn send(&mut self, message: MessageId, attempt: Attempt, state: &SendState, slot: &Slot) {
        let (partition, limit) = (Partition::from(state.partition), self.limit);
        let found = slot.send.has(flag::FOUND);
        if !state.has(flag::ACKED | flag::FAILED_DEFINITE | flag::FAILED_MAYBE | flag::INFO) {
            self.no_completion += 1;
        }
        if state.indeterminate() {
            if state.has(flag::LANDED) {
                self.indeterminate.landed += 1;
            } else if self.complete.contains(&partition) {
                self.indeterminate.not_landed += 1;
            } else {
                self.indeterminate.undetermined += 1;
            }
        }
        if !state.has(flag::ACKED) {
            return;
        }
        let (sends, faults) = (self.sends, self.faults);
        if !found {
            if self.complete.contains(&partition) {
                self.anomalies.lost.add(limit, || Lost {
                    send: send_view(sends, faults, message, attempt),
                });
            } else {
                self.unjudged_acks += 1;
            }
            return;
        }
        // The flags spare the common case (one ack, one copy) any map lookup.
        let extra = match state.has(flag::ACKED_AGAIN) {
            true => self.sends.extra_acks[&(message, attempt)].as_slice(),
            false => &[],
        };
        let mut acked =
            std::iter::once((partition, state.acked_offset)).chain(extra.iter().copied());
        // A negative offset is an ack that does not say where: it only names the
        // partition (librdkafka acks a retried batch the broker calls a duplicate so).
        let at = |p: Partition, o: Offset, copy_p: Partition, copy_o: Offset| {
            p == copy_p && (o < 0 || o == copy_o)
        };
        let misplaced = match slot.send.has(flag::DUPLICATED) {
            false => {
                let place = self.places[slot.first_place as usize].0;
                acked.any(|(p, o)| !at(p, o, place, slot.first_offset))
            }
            true => {
                let copies = &self.duplicates[&message];
                acked.any(|(p, o)| !copies.iter().any(|c| at(p, o, c.partition, c.offset)))
            }
        };
        if misplaced {
            let (places, duplicates) = (self.places, self.duplicates);
            self.anomalies
                .offset_mismatch
                .add(limit, || OffsetMismatch {
                    copies: duplicates
                        .get(&message)
                        .cloned()
                        .unwrap_or_else(|| vec![first_copy(sends, places, message)]),
                    send: send_view(sends, faults, message, attempt),
                });
        }
    }
}

/// Where the first copy of a found message sits.
fn first_copy(
    sends: &Sends,
    places: &[(Partition, ProducerId, Epoch)],
    message: MessageId,
) -> Copy {
    let slot = sends.slot(message).expect("a found message has a slot");
    let (partition, pid, epoch) = places[slot.first_place as usize];
    let attempt = if slot.send.has(flag::FIRST_IS_RESEND) {
        sends.first_attempts[&message]
    } else {
        0
    };
    Copy {
        partition,
        offset: slot.first_offset,
        pid,
        epoch,
        sequence: slot.first_sequence,
        attempt,
    }
}

/// The client's view of one send, for an example.
fn send_view(sends: &Sends, faults: &Faults, message: MessageId, attempt: Attempt) -> Send {
    let state = sends.send(message, attempt).copied().unwrap_or_default();
    let error = || sends.error_text(state.error).to_string();
    let outcome = if state.has(flag::ACKED) {
        Outcome::Ok {
            partition: Partition::from(state.partition),
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
    Send {
        message,
        attempt,
        outcome,
        faults: faults.set(state.faults),
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
