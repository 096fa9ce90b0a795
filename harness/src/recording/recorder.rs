//! The history recorder: every event of the run appended to `history.jsonl` in the
//! checker's format, stamped with monotonic time since the run started.
//!
//! At hundreds of thousands of sends a second, what recording costs the client's
//! threads decides how fast a run goes, librdkafka's delivery-report thread above
//! all: every message waits in the producer's bounded queue until its report has
//! been through the callback that records it. So those threads only push an
//! unformatted event onto a list, and everything else happens on a writer thread
//! that every [`DRAIN_EVERY`] takes the lists, formats them and writes them:
//!
//! - Each producer has a lane of its own, pushed to by its sender and its
//!   client's completion thread and by nobody else. A list, lock or counter
//!   shared by all producers would have its cache line travel between cores on
//!   nearly every push, and a store that waits for a line stalls the thread at
//!   its next atomic operation: measured with `perf`, that cost the delivery
//!   thread more than the recording itself.
//! - Events are stamped with the CPU's time-stamp counter (via `quanta`), a few
//!   nanoseconds where the OS clock takes 25 on these VMs; the writer converts.
//! - An invoke or an ack is 32 bytes: the producer is the lane's, and index,
//!   attempt and partition share one word ([`SendKey::to_word`]).
//!
//! Order: a lane keeps its events in push order, so a completion always follows
//! its invoke (recorded before the send began). The writer merges the lanes by
//! time, since the checker takes a send's faults from the fault events before it
//! in the file. A run killed half-way loses only its last milliseconds: `eoscheck
//! check` can still analyse it, and a torn last line or the blank lines of a
//! direct write's padding ([`AppendFile`]) are tolerated.
//!
//! End: [`Recorder::close`] writes the `end` line once the producers have had
//! their time to answer, and nothing after it. A history without that line was
//! cut short (a killed run, a full disk), which the checker tells from a log
//! holding records nobody sent.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex, Weak,
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use checker::{
    decimal::Cursor,
    history::{Event, Nanos, NemesisPhase, PipelineHeader, TxnAction, FORMAT},
    ids::{Epoch, Partition, Producer, ProducerId, SendKey, Txn},
};
use tracing::warn;

use super::appendfile::{AppendFile, BlockBuf};

/// How often the writer thread moves pending events to the file.
const DRAIN_EVERY: Duration = Duration::from_millis(10);
/// Room for one lane's events of one drain at a million a second, so that no
/// list grows on the client's threads in a steady run.
const LANE_CAPACITY: usize = 1 << 14;

pub struct Recorder {
    clock: quanta::Clock,
    /// `clock.raw()` when the recorder was created, and the run's time then.
    created_raw: u64,
    created: Nanos,
    /// One per producer of the run, then one for every other event.
    lanes: Box<[Lane]>,
    /// Held while a drain takes the lanes and writes them, so that two drains
    /// cannot write their events out of order.
    file: Mutex<Output>,
    pub counts: Counts,
}

/// Events not yet in the file, in the order they were pushed. Two cache lines
/// wide, so that neighbouring lanes never share one (the CPU fetches lines in
/// pairs).
#[repr(align(128))]
struct Lane(Mutex<Vec<Pending>>);

/// An event waiting for the writer thread, stamped with the raw counter. Invokes
/// and acks, nearly every event of a history, wait as plain words.
enum Pending {
    Invoke {
        time: u64,
        /// [`SendKey::to_word`]; the producer is the lane's.
        send: u64,
    },
    Ok {
        time: u64,
        send: u64,
        offset: i64,
    },
    Other {
        time: u64,
        event: Box<Event>,
    },
}

impl Pending {
    fn time(&self) -> u64 {
        match *self {
            Pending::Invoke { time, .. }
            | Pending::Ok { time, .. }
            | Pending::Other { time, .. } => time,
        }
    }
}

struct Output {
    file: AppendFile,
    /// The lists being written, one per lane, swapped with the lanes' to reuse
    /// their memory; `heads` says how far the merge has taken each.
    lists: Vec<Vec<Pending>>,
    heads: Vec<usize>,
    failed: bool,
    /// The end line is written: events that come later are dropped.
    closed: bool,
}

impl Output {
    /// The lane whose next event is the earliest, and the earliest next event of
    /// the others: that lane's events up to then are next in time order.
    fn earliest(&self) -> Option<(usize, u64)> {
        let (mut best, mut others) = (None::<(usize, u64)>, u64::MAX);
        for (lane, list) in self.lists.iter().enumerate() {
            let Some(time) = list.get(self.heads[lane]).map(Pending::time) else {
                continue;
            };
            match best {
                Some((_, earliest)) if time >= earliest => others = others.min(time),
                _ => {
                    if let Some((_, earliest)) = best {
                        others = others.min(earliest);
                    }
                    best = Some((lane, time));
                }
            }
        }
        best.map(|(lane, _)| (lane, others))
    }
}

/// Warns of the first failed write; the run goes on and its check will find the
/// history short.
fn warn_once(failed: &mut bool, result: std::io::Result<()>) {
    if let Err(e) = result {
        if !*failed {
            warn!("could not append to the history: {e}");
            *failed = true;
        }
    }
}

/// Running totals for the progress line. Acks are counted by the writer thread,
/// so they lag by up to a drain.
#[derive(Default)]
pub struct Counts {
    pub invoked: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub indeterminate: AtomicU64,
}

impl Counts {
    pub fn summary(&self) -> String {
        format!(
            "sent {} acked {} failed {} indeterminate {}",
            self.invoked.load(Relaxed),
            self.ok.load(Relaxed),
            self.failed.load(Relaxed),
            self.indeterminate.load(Relaxed)
        )
    }
}

impl Recorder {
    /// Creates `history.jsonl` with its header, for a run of `producers`
    /// producers (0 to `producers - 1`), and of processors when it is a
    /// pipeline. `origin` is the run's time zero.
    pub fn create(
        path: &Path,
        topic: &str,
        origin: Instant,
        producers: u32,
        keys: Option<u32>,
        pipeline: Option<PipelineHeader>,
    ) -> Result<Arc<Recorder>> {
        let file =
            AppendFile::create(path).with_context(|| format!("creating {}", path.display()))?;
        let lanes = producers as usize + 1;
        let clock = quanta::Clock::new();
        let recorder = Arc::new(Recorder {
            created_raw: clock.raw(),
            created: origin.elapsed().as_nanos() as Nanos,
            clock,
            lanes: (0..lanes)
                .map(|_| Lane(Mutex::new(Vec::with_capacity(LANE_CAPACITY))))
                .collect(),
            file: Mutex::new(Output {
                file,
                lists: (0..lanes)
                    .map(|_| Vec::with_capacity(LANE_CAPACITY))
                    .collect(),
                heads: vec![0; lanes],
                failed: false,
                closed: false,
            }),
            counts: Counts::default(),
        });
        let weak = Arc::downgrade(&recorder);
        std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || drain_loop(weak))?;
        recorder.write(None, |_| Event::Header {
            format: FORMAT,
            topic: topic.to_owned(),
            producers: Some(producers),
            keys,
            pipeline,
        });
        recorder.flush();
        Ok(recorder)
    }

    pub fn now(&self) -> Nanos {
        self.nanos(self.clock.raw())
    }

    fn nanos(&self, raw: u64) -> Nanos {
        self.created + self.clock.delta_as_nanos(self.created_raw, raw)
    }

    /// The producer's lane; None for a producer beyond the run's count, whose
    /// events go to the last lane as full events.
    fn lane(&self, producer: Producer) -> Option<&Lane> {
        self.lanes[..self.lanes.len() - 1].get(producer as usize)
    }

    /// The last lane: events of no producer, or of one beyond the run's count.
    fn other_lane(&self) -> &Lane {
        &self.lanes[self.lanes.len() - 1]
    }

    /// Records an event other than an invoke or ack, on its producer's lane.
    fn write(&self, producer: Option<Producer>, event: impl FnOnce(Nanos) -> Event) {
        let time = self.clock.raw();
        let event = Box::new(event(self.nanos(time)));
        let lane = producer
            .and_then(|p| self.lane(p))
            .unwrap_or(self.other_lane());
        lane.0.lock().unwrap().push(Pending::Other { time, event });
    }

    /// Returns once everything recorded so far is in the file, and the file is
    /// exactly the history (no padding behind it).
    pub fn flush(&self) {
        let mut out = self.file.lock().unwrap();
        self.drain(&mut out);
        let result = out.file.sync_len();
        warn_once(&mut out.failed, result);
    }

    /// Writes the `end` line after everything recorded so far, and closes the
    /// history: an event recorded later (an answer that came after the
    /// producers' time was up) is dropped, and its send stays unanswered.
    pub fn close(&self) {
        let mut out = self.file.lock().unwrap();
        if out.closed {
            return;
        }
        self.drain(&mut out);
        stage_event(out.file.staged(), &Event::End { time: self.now() });
        out.closed = true;
        let result = out.file.sync_len();
        warn_once(&mut out.failed, result);
    }

    /// Moves the pending events to the file, the lanes merged by time; once
    /// the history is closed, drops them.
    fn drain(&self, out: &mut Output) {
        for (lane, list) in self.lanes.iter().zip(&mut out.lists) {
            std::mem::swap(&mut *lane.0.lock().unwrap(), list);
        }
        if out.closed {
            out.lists.iter_mut().for_each(Vec::clear);
            return;
        }
        let mut acked = 0;
        // The start of the last invoke line, and the stamp and producer it was
        // made for: a batch's invokes share both.
        let mut invoke: Option<(u64, Producer, LineStart)> = None;
        while let Some((lane, until)) = out.earliest() {
            let producer = lane as Producer;
            let Output {
                file,
                lists,
                heads,
                failed,
                ..
            } = &mut *out;
            let (list, head) = (&lists[lane], &mut heads[lane]);
            while let Some(event) = list.get(*head).filter(|e| e.time() <= until) {
                *head += 1;
                let staged = file.staged();
                match *event {
                    Pending::Invoke { time, send } => {
                        let start = match &invoke {
                            Some((t, p, start)) if (*t, *p) == (time, producer) => start,
                            _ => {
                                let start = LineStart::new(b"invoke", self.nanos(time), producer);
                                &invoke.insert((time, producer, start)).2
                            }
                        };
                        hot_line(staged, start, SendKey::from_word(producer, send), None)
                    }
                    Pending::Ok { time, send, offset } => {
                        acked += 1;
                        let start = LineStart::new(b"ok", self.nanos(time), producer);
                        let send = SendKey::from_word(producer, send);
                        hot_line(staged, &start, send, Some(offset))
                    }
                    Pending::Other { ref event, .. } => {
                        acked += u64::from(matches!(**event, Event::Ok { .. }));
                        stage_event(staged, event);
                    }
                }
                // Only after a stall: a drain at full speed is a megabyte or two.
                if file.full() {
                    warn_once(failed, file.write());
                }
            }
        }
        for (list, head) in out.lists.iter_mut().zip(&mut out.heads) {
            list.clear();
            *head = 0;
        }
        self.counts.ok.fetch_add(acked, Relaxed);
        let result = out.file.write();
        warn_once(&mut out.failed, result);
    }

    /// A batch of invokes shares one time: the sender's, just before it hands the
    /// first of them to the client.
    pub fn invoke_all(&self, sends: &[SendKey]) {
        self.counts.invoked.fetch_add(sends.len() as u64, Relaxed);
        let time = self.clock.raw();
        for run in sends.chunk_by(|a, b| a.message.producer == b.message.producer) {
            let lane = self.lane(run[0].message.producer);
            let mut list = lane.unwrap_or(self.other_lane()).0.lock().unwrap();
            list.extend(run.iter().map(|&send| {
                // Words only on a producer's lane, where the producer is implied.
                match send.to_word().filter(|_| lane.is_some()) {
                    Some(send) => Pending::Invoke { time, send },
                    None => Pending::Other {
                        time,
                        event: Box::new(Event::Invoke {
                            time: self.nanos(time),
                            message: send.message,
                            attempt: send.attempt,
                            partition: send.partition,
                        }),
                    },
                }
            }));
        }
    }

    /// The send acknowledged at `partition` (the partitioner's choice when
    /// the send named none) and `offset`.
    pub fn ok(&self, send: SendKey, partition: Partition, offset: i64) {
        let send = SendKey {
            partition: Some(partition),
            ..send
        };
        match (self.lane(send.message.producer), send.to_word()) {
            (Some(lane), Some(word)) => {
                let time = self.clock.raw();
                lane.0.lock().unwrap().push(Pending::Ok {
                    time,
                    send: word,
                    offset,
                });
            }
            _ => self.write(Some(send.message.producer), |time| Event::Ok {
                time,
                message: send.message,
                attempt: send.attempt,
                partition,
                offset,
            }),
        }
    }

    pub fn fail(&self, send: SendKey, error: String, definite: bool) {
        let SendKey {
            message, attempt, ..
        } = send;
        let count = if definite {
            &self.counts.failed
        } else {
            &self.counts.indeterminate
        };
        count.fetch_add(1, Relaxed);
        self.write(Some(message.producer), |time| Event::Fail {
            time,
            message,
            attempt,
            error,
            definite,
        });
    }

    pub fn info(&self, send: SendKey, error: String) {
        let SendKey {
            message, attempt, ..
        } = send;
        self.counts.indeterminate.fetch_add(1, Relaxed);
        self.write(Some(message.producer), |time| Event::Info {
            time,
            message,
            attempt,
            error,
        });
    }

    pub fn session(&self, producer: Producer, pid: ProducerId, epoch: Epoch) {
        self.write(Some(producer), |time| Event::ProducerSession {
            time,
            producer,
            pid,
            epoch,
        });
    }

    /// `producer`'s transactional init returned: it owns `transactional_id`.
    pub fn txn_init(&self, producer: Producer, transactional_id: String) {
        self.write(Some(producer), |time| Event::TxnInit {
            time,
            producer,
            transactional_id,
        });
    }

    /// `producer` begins transaction `txn`: the sends it invokes from now until
    /// [`Recorder::txn_end`] belong to it.
    pub fn txn_begin(&self, producer: Producer, txn: Txn) {
        self.write(Some(producer), |time| Event::TxnBegin {
            time,
            producer,
            txn,
        });
    }

    /// The application asks to commit or abort `txn`.
    pub fn txn_end(&self, producer: Producer, txn: Txn, end: TxnAction) {
        self.write(Some(producer), |time| Event::TxnEnd {
            time,
            producer,
            txn,
            end,
        });
    }

    /// The call ending `txn` succeeded.
    pub fn txn_ok(&self, producer: Producer, txn: Txn, end: TxnAction) {
        self.write(Some(producer), |time| Event::TxnOk {
            time,
            producer,
            txn,
            end,
        });
    }

    /// The call ending `txn` failed; `definite` if the transaction certainly
    /// did not commit.
    pub fn txn_fail(
        &self,
        producer: Producer,
        txn: Txn,
        end: TxnAction,
        error: String,
        definite: bool,
    ) {
        self.write(Some(producer), |time| Event::TxnFail {
            time,
            producer,
            txn,
            end,
            error,
            definite,
        });
    }

    /// The call ending `txn` has no known outcome.
    pub fn txn_info(&self, producer: Producer, txn: Txn, end: TxnAction, error: String) {
        self.write(Some(producer), |time| Event::TxnInfo {
            time,
            producer,
            txn,
            end,
            error,
        });
    }

    pub fn fatal(&self, producer: Producer, error: String) {
        self.write(Some(producer), |time| Event::ProducerFatal {
            time,
            producer,
            error,
        });
    }

    /// An event of a pipeline's processor (`Event::Proc*`), stamped now.
    pub fn processor(&self, event: impl FnOnce(Nanos) -> Event) {
        self.write(None, event);
    }

    pub fn config_rejected(&self, producer: Producer, reason: String) {
        self.write(Some(producer), |time| Event::ConfigRejected {
            time,
            producer,
            reason,
        });
    }

    pub fn nemesis(&self, event: &nemesis::FaultEvent) {
        let fault = fault_name(event.fault);
        let (targets, detail) = (event.targets.clone(), event.detail.clone());
        self.write(None, |time| match event.phase {
            nemesis::Phase::Start => Event::NemesisStart {
                time,
                fault,
                targets,
                detail,
            },
            nemesis::Phase::Stop | nemesis::Phase::Heal => Event::NemesisStop {
                time,
                fault,
                targets,
                detail,
            },
        });
    }

    /// A step of the fault schedule the nemesis could not carry out.
    pub fn nemesis_failed(
        &self,
        fault: Option<nemesis::Fault>,
        phase: nemesis::Phase,
        error: String,
    ) {
        let fault = fault_name(fault);
        let phase = match phase {
            nemesis::Phase::Start => NemesisPhase::Start,
            nemesis::Phase::Stop => NemesisPhase::Stop,
            nemesis::Phase::Heal => NemesisPhase::Heal,
        };
        self.write(None, |time| Event::NemesisFail {
            time,
            fault,
            phase,
            error,
        });
    }

    /// What the nemesis made of one step of its schedule.
    pub fn kept(&self, kept: &nemesis::Kept) {
        match kept {
            nemesis::Kept::Applied(event) => self.nemesis(event),
            nemesis::Kept::Failed {
                fault,
                phase,
                error,
            } => self.nemesis_failed(*fault, *phase, error.clone()),
        }
    }
}

/// Appends an event other than a hot line, as serde writes it.
fn stage_event(out: &mut BlockBuf, event: &Event) {
    serde_json::to_writer(&mut *out, event).expect("events serialise");
    out.extend_from_slice(b"\n");
}

/// A fault as the history names it; `all` for a heal of everything.
fn fault_name(fault: Option<nemesis::Fault>) -> String {
    fault.map_or_else(|| "all".to_owned(), |f| f.to_string())
}

/// Appends an `invoke` or `ok` line exactly as serde would write it, several times
/// faster: invokes and acks are nearly every line of a history. The fields are
/// numbers and a fixed kind, so nothing needs escaping, and the line is built in
/// place ([`Cursor`]).
fn hot_line(out: &mut BlockBuf, start: &LineStart, send: SendKey, offset: Option<i64>) {
    out.append(LINE_MAX, |buf| {
        let mut line = Cursor::new(buf, b' ');
        line.text_of(&start.bytes, start.len);
        line.number(send.message.index);
        line.text(b"]");
        if send.attempt != 0 {
            line.text(b",\"a\":");
            line.number(send.attempt.into());
        }
        if let Some(partition) = send.partition {
            line.text(b",\"p\":");
            line.number(partition as u64);
        }
        if let Some(offset) = offset {
            line.text(b",\"o\":");
            if offset < 0 {
                line.text(b"-");
            }
            line.number(offset.unsigned_abs());
        }
        line.text(b"}\n");
        line.len()
    });
}

/// A hot line up to its message index, `{"type":…,"t":…,"m":[producer,`.
/// An invoke batch's lines share it, and making it once for them all saves
/// most of the cost of their time stamps.
struct LineStart {
    bytes: [u8; LineStart::MAX],
    len: usize,
}

impl LineStart {
    /// Past the longest (58 bytes, every number at its widest), and a number's
    /// last store.
    const MAX: usize = 72;

    fn new(kind: &[u8], time: Nanos, producer: Producer) -> LineStart {
        let mut bytes = [0; LineStart::MAX];
        let mut line = Cursor::new(&mut bytes, b' ');
        line.text(b"{\"type\":\"");
        line.text(kind);
        line.text(b"\",\"t\":");
        line.number(time);
        line.text(b",\"m\":[");
        line.number(producer.into());
        line.text(b",");
        let len = line.len();
        LineStart { bytes, len }
    }
}

/// Longer than the longest hot line (117 bytes, every number at its widest),
/// plus a number's last store past its end.
const LINE_MAX: usize = 128;

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The writer thread: drains every [`DRAIN_EVERY`] until the recorder is gone
/// (its last owner's drop drains the rest).
fn drain_loop(recorder: Weak<Recorder>) {
    loop {
        std::thread::sleep(DRAIN_EVERY);
        match recorder.upgrade() {
            Some(recorder) => recorder.drain(&mut recorder.file.lock().unwrap()),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use checker::MessageId;

    use super::*;

    /// An `invoke` or `ok` line as `hot_line` writes it, and as serde does.
    fn both_ways(event: &Event, send: SendKey) -> (String, String) {
        let (kind, time, producer, offset) = match *event {
            Event::Invoke { time, message, .. } => (&b"invoke"[..], time, message.producer, None),
            Event::Ok {
                time,
                message,
                offset,
                ..
            } => (&b"ok"[..], time, message.producer, Some(offset)),
            _ => unreachable!(),
        };
        let mut buf = BlockBuf::with_capacity(0);
        let start = LineStart::new(kind, time, producer);
        hot_line(&mut buf, &start, send, offset);
        (
            String::from_utf8(buf.as_bytes().to_vec()).unwrap(),
            format!("{}\n", serde_json::to_string(event).unwrap()),
        )
    }

    proptest::proptest! {
        #[test]
        fn hand_formatted_lines_are_what_serde_writes(
            time: u64,
            producer: u32,
            index in 0..1u64 << 40,
            // Half first attempts, which format 2 leaves out.
            attempt in proptest::prop_oneof![proptest::strategy::Just(0u32), 1..256u32],
            partition in proptest::option::of(0..65_535i32),
            offset: Option<i64>,
            digits in 0..20u32,
        ) {
            // Every length of number, not only the long ones random values are.
            let time = time % 10u64.pow(digits).max(1);
            let message = MessageId { producer, index };
            let send = SendKey { message, attempt, partition };
            let event = match (offset, partition) {
                (Some(offset), Some(partition)) => Event::Ok { time, message, attempt, partition, offset },
                _ => Event::Invoke { time, message, attempt, partition },
            };
            let (hot, serde) = both_ways(&event, send);
            proptest::prop_assert_eq!(hot, serde);
        }
    }

    #[test]
    fn hand_formatted_lines_hold_the_extremes() {
        let message = MessageId {
            producer: u32::MAX,
            index: (1 << 40) - 1,
        };
        let (attempt, partition) = (255, 65_534);
        let send = SendKey {
            message,
            attempt,
            partition: Some(partition),
        };
        assert!(send.to_word().is_some(), "the widest send that fits a word");
        for (time, offset) in [
            (u64::MAX, None),
            (0, Some(-1001)),
            (7, Some(i64::MAX)),
            (u64::MAX, Some(i64::MIN)),
            (9, Some(0)),
        ] {
            let event = match offset {
                None => Event::Invoke {
                    time,
                    message,
                    attempt,
                    partition: Some(partition),
                },
                Some(offset) => Event::Ok {
                    time,
                    message,
                    attempt,
                    partition,
                    offset,
                },
            };
            let (hot, serde) = both_ways(&event, send);
            assert_eq!(hot, serde);
        }
    }

    /// A closed history lists the run's producers in its header and ends with
    /// the end line, after everything recorded before the close; an answer
    /// recorded later is left out, so the end line stays last and the checker
    /// takes the history for a whole one.
    #[test]
    fn a_closed_history_ends_with_the_end_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let recorder = Recorder::create(&path, "t", Instant::now(), 1, None, None).unwrap();
        let send = |index| SendKey {
            message: MessageId { producer: 0, index },
            attempt: 0,
            partition: None,
        };
        recorder.invoke_all(&[send(0), send(1)]);
        recorder.ok(send(0), 0, 0);
        recorder.close();
        recorder.ok(send(1), 0, 1);
        drop(recorder);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(matches!(
            checker::history::parse_header(lines[0]).unwrap(),
            Event::Header {
                format: FORMAT,
                producers: Some(1),
                ..
            }
        ));
        let kinds: Vec<&str> = lines[1..]
            .iter()
            .enumerate()
            .map(
                |(i, line)| match checker::history::parse_line(i + 2, line).unwrap() {
                    Event::Invoke { .. } => "invoke",
                    Event::Ok { .. } => "ok",
                    Event::End { .. } => "end",
                    other => panic!("unexpected {other:?}"),
                },
            )
            .collect();
        assert_eq!(kinds, ["invoke", "invoke", "ok", "end"]);
        let mut checker = checker::Checker::new(checker::Options::new(vec![]));
        checker.read_history(&text).unwrap();
        let reasons = checker.finish().unknown_reasons;
        assert!(
            !reasons.iter().any(|r| r.contains("end line")),
            "{reasons:?}"
        );
    }

    /// Whatever lane an event goes through, and whether it waits as a word or as
    /// a full event, the file has every event once, in time order, and the acks
    /// are counted.
    #[test]
    fn the_file_merges_the_lanes_in_time_order() {
        let dir = std::env::temp_dir().join(format!("eoscheck-recorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let recorder = Recorder::create(&path, "t", Instant::now(), 2, None, None).unwrap();
        let mut expected = Vec::new();
        for first in (0..300u64).step_by(6) {
            // Producer 2 is beyond the run's count; partition 70,000 does not
            // fit in a word.
            let batch: Vec<_> = (first..first + 6)
                .map(|index| {
                    let message = MessageId {
                        producer: (index % 3) as Producer,
                        index,
                    };
                    SendKey {
                        message,
                        attempt: 0,
                        partition: Some(if index % 7 == 0 { 70_000 } else { 1 }),
                    }
                })
                .collect();
            recorder.invoke_all(&batch);
            expected.extend(
                batch
                    .iter()
                    .map(|s| format!("invoke {} {}", s.message.producer, s.message.index)),
            );
            for &send in &batch {
                let message = send.message;
                recorder.ok(send, send.partition.unwrap(), message.index as i64);
                expected.push(format!("ok {} {}", message.producer, message.index));
            }
            if first % 48 == 0 {
                recorder.nemesis(&nemesis::FaultEvent {
                    phase: nemesis::Phase::Start,
                    fault: None,
                    targets: vec![],
                    detail: String::new(),
                });
                expected.push("nemesis-start".to_owned());
            }
        }
        recorder.flush();
        assert_eq!(recorder.counts.ok.load(Relaxed), 300);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let mut times = Vec::new();
        let found: Vec<String> = text
            .lines()
            .enumerate()
            .skip(1)
            .map(
                |(i, line)| match checker::history::parse_line(i + 1, line).unwrap() {
                    Event::Invoke { time, message, .. } => {
                        times.push(time);
                        format!("invoke {} {}", message.producer, message.index)
                    }
                    Event::Ok { time, message, .. } => {
                        times.push(time);
                        format!("ok {} {}", message.producer, message.index)
                    }
                    Event::NemesisStart { time, .. } => {
                        times.push(time);
                        "nemesis-start".to_owned()
                    }
                    other => panic!("unexpected {other:?}"),
                },
            )
            .collect();
        // Each producer's events, and the nemesis's, in the order recorded;
        // events of one time (a batch's invokes) in any order between lanes.
        for who in ["0", "1", "2", "nemesis"] {
            let of = |lines: &[String]| -> Vec<String> {
                lines
                    .iter()
                    .filter(|l| l.split(' ').nth(1).unwrap_or("nemesis") == who)
                    .cloned()
                    .collect()
            };
            assert_eq!(of(&found), of(&expected), "{who}");
        }
        assert_eq!(found.len(), expected.len());
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    }
}
