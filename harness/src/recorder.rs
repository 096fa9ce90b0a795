//! The history recorder: every event of the run appended to `history.jsonl` in the
//! checker's format, stamped with monotonic time since the run started.
//!
//! Callers push their event, unformatted, onto a pending list under a lock held
//! for a few nanoseconds; a writer thread swaps the list out every
//! [`DRAIN_EVERY`], formats it and writes it. There is no per-event handoff (no
//! channel node, no wake-up), and no formatting on the client's threads, because
//! at hundreds of thousands of sends a second either would slow down the very
//! threads whose speed a run depends on. librdkafka's delivery-report thread
//! above all: every message waits in the producer's queue, which is bounded,
//! until its report has been through the callback that records it.
//!
//! The sender records its invokes a batch at a time, so the callback thread,
//! which records one completion at a time, rarely waits for the lock; one list
//! keeps every completion behind its invoke (recorded before the send began). A
//! run killed half-way loses only its last milliseconds: `eoscheck check` can
//! still analyse it, and a torn last line or the blank lines of a direct write's
//! padding ([`AppendFile`]) are tolerated.

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
    history::{Event, Nanos, FORMAT},
    ids::{Attempt, Epoch, Partition, Producer, ProducerId},
    MessageId,
};
use tracing::warn;

use crate::appendfile::{AppendFile, BlockBuf};

/// How often the writer thread moves pending events to the file.
pub const DRAIN_EVERY: Duration = Duration::from_millis(10);
/// Room for the events of one drain at a million a second, so that the pending
/// list never grows on the client's threads in a steady run.
const PENDING_CAPACITY: usize = 1 << 14;

pub struct Recorder {
    origin: Instant,
    /// Events not yet in the file, in the order they were recorded.
    pending: Mutex<Vec<Pending>>,
    /// Held while a drain takes `pending` and writes it, so that two drains
    /// cannot write their events out of order.
    file: Mutex<Output>,
    pub counts: Counts,
}

/// An event waiting for the writer thread. Invokes and acks, nearly every event
/// of a history, wait as plain fields, small and copied in a few nanoseconds.
enum Pending {
    Invoke(SendRecord),
    Ok(SendRecord, i64),
    Other(Box<Event>),
}

#[derive(Clone, Copy)]
struct SendRecord {
    time: Nanos,
    message: MessageId,
    attempt: Attempt,
    partition: Partition,
}

struct Output {
    file: AppendFile,
    /// The list being written, swapped with `pending` to reuse its memory.
    events: Vec<Pending>,
    failed: bool,
}

impl Output {
    /// Warns of the first failed write; the run goes on and its check will find
    /// the history short.
    fn check(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result {
            if !self.failed {
                warn!("could not append to the history: {e}");
                self.failed = true;
            }
        }
    }
}

/// Running totals for the progress line.
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
    /// Creates `history.jsonl` with its header. `origin` is the run's time zero.
    pub fn create(path: &Path, topic: &str, origin: Instant) -> Result<Arc<Recorder>> {
        let file =
            AppendFile::create(path).with_context(|| format!("creating {}", path.display()))?;
        let recorder = Arc::new(Recorder {
            origin,
            pending: Mutex::new(Vec::with_capacity(PENDING_CAPACITY)),
            file: Mutex::new(Output {
                file,
                events: Vec::with_capacity(PENDING_CAPACITY),
                failed: false,
            }),
            counts: Counts::default(),
        });
        let weak = Arc::downgrade(&recorder);
        std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || drain_loop(weak))?;
        recorder.write(Event::Header {
            format: FORMAT,
            topic: topic.to_owned(),
        });
        recorder.flush();
        Ok(recorder)
    }

    pub fn now(&self) -> Nanos {
        self.origin.elapsed().as_nanos() as Nanos
    }

    fn write(&self, event: Event) {
        self.pending
            .lock()
            .unwrap()
            .push(Pending::Other(Box::new(event)));
    }

    /// Returns once everything recorded so far is in the file, and the file is
    /// exactly the history (no padding behind it).
    pub fn flush(&self) {
        let mut out = self.file.lock().unwrap();
        self.drain(&mut out);
        let result = out.file.sync_len();
        out.check(result);
    }

    /// Moves the pending events to the file.
    fn drain(&self, out: &mut Output) {
        std::mem::swap(&mut *self.pending.lock().unwrap(), &mut out.events);
        let staged = out.file.staged();
        for event in out.events.drain(..) {
            match event {
                Pending::Invoke(send) => hot_line(staged, b"invoke", send, None),
                Pending::Ok(send, offset) => hot_line(staged, b"ok", send, Some(offset)),
                Pending::Other(event) => {
                    serde_json::to_writer(&mut *staged, &event).expect("events serialise");
                    staged.extend_from_slice(b"\n");
                }
            }
        }
        let result = out.file.write();
        out.check(result);
    }

    /// A batch of invokes shares one time: the sender's, just before it hands the
    /// first of them to the client.
    pub fn invoke_all(&self, sends: &[(MessageId, Attempt, Partition)]) {
        self.counts.invoked.fetch_add(sends.len() as u64, Relaxed);
        let time = self.now();
        self.pending
            .lock()
            .unwrap()
            .extend(sends.iter().map(|&(message, attempt, partition)| {
                Pending::Invoke(SendRecord {
                    time,
                    message,
                    attempt,
                    partition,
                })
            }));
    }

    pub fn ok(&self, message: MessageId, attempt: Attempt, partition: Partition, offset: i64) {
        self.counts.ok.fetch_add(1, Relaxed);
        let send = SendRecord {
            time: self.now(),
            message,
            attempt,
            partition,
        };
        self.pending.lock().unwrap().push(Pending::Ok(send, offset));
    }

    pub fn fail(&self, message: MessageId, attempt: Attempt, error: String, definite: bool) {
        let count = if definite {
            &self.counts.failed
        } else {
            &self.counts.indeterminate
        };
        count.fetch_add(1, Relaxed);
        self.write(Event::Fail {
            time: self.now(),
            message,
            attempt,
            error,
            definite,
        });
    }

    pub fn info(&self, message: MessageId, attempt: Attempt, error: String) {
        self.counts.indeterminate.fetch_add(1, Relaxed);
        self.write(Event::Info {
            time: self.now(),
            message,
            attempt,
            error,
        });
    }

    pub fn session(&self, producer: Producer, pid: ProducerId, epoch: Epoch) {
        self.write(Event::ProducerSession {
            time: self.now(),
            producer,
            pid,
            epoch,
        });
    }

    pub fn fatal(&self, producer: Producer, error: String) {
        self.write(Event::ProducerFatal {
            time: self.now(),
            producer,
            error,
        });
    }

    pub fn config_rejected(&self, producer: Producer, reason: String) {
        self.write(Event::ConfigRejected {
            time: self.now(),
            producer,
            reason,
        });
    }

    pub fn nemesis(&self, event: &nemesis::Event) {
        let fault = event
            .fault
            .map(|f| f.to_string())
            .unwrap_or_else(|| "all".to_owned());
        let (time, targets, detail) = (self.now(), event.targets.clone(), event.detail.clone());
        self.write(match event.phase {
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
}

/// Appends an `invoke` or `ok` line exactly as serde would write it, but several
/// times faster: invokes and acks are nearly every line of a history. The fields
/// are numbers and a fixed kind, so nothing needs escaping.
fn hot_line(out: &mut BlockBuf, kind: &[u8], send: SendRecord, offset: Option<i64>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind);
    out.extend_from_slice(b"\",\"time\":");
    out.extend_from_slice(n.format(send.time).as_bytes());
    out.extend_from_slice(b",\"message\":{\"producer\":");
    out.extend_from_slice(n.format(send.message.producer).as_bytes());
    out.extend_from_slice(b",\"index\":");
    out.extend_from_slice(n.format(send.message.index).as_bytes());
    out.extend_from_slice(b"},\"attempt\":");
    out.extend_from_slice(n.format(send.attempt).as_bytes());
    out.extend_from_slice(b",\"partition\":");
    out.extend_from_slice(n.format(send.partition).as_bytes());
    if let Some(offset) = offset {
        out.extend_from_slice(b",\"offset\":");
        out.extend_from_slice(n.format(offset).as_bytes());
    }
    out.extend_from_slice(b"}\n");
}

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
    use super::*;

    #[test]
    fn hand_formatted_lines_are_what_serde_writes() {
        let message = MessageId {
            producer: 4_000_000_000,
            index: u64::MAX,
        };
        let cases = [
            (
                Event::Invoke {
                    time: u64::MAX,
                    message,
                    attempt: u32::MAX,
                    partition: i32::MAX,
                },
                None,
                &b"invoke"[..],
            ),
            (
                Event::Ok {
                    time: 0,
                    message,
                    attempt: 0,
                    partition: 0,
                    offset: -1001,
                },
                Some(-1001),
                &b"ok"[..],
            ),
            (
                Event::Ok {
                    time: 7,
                    message,
                    attempt: 1,
                    partition: 2,
                    offset: i64::MAX,
                },
                Some(i64::MAX),
                &b"ok"[..],
            ),
            (
                Event::Ok {
                    time: u64::MAX,
                    message,
                    attempt: u32::MAX,
                    partition: i32::MIN,
                    offset: i64::MIN,
                },
                Some(i64::MIN),
                &b"ok"[..],
            ),
        ];
        for (event, offset, kind) in cases {
            let (time, attempt, partition) = match event {
                Event::Invoke {
                    time,
                    attempt,
                    partition,
                    ..
                }
                | Event::Ok {
                    time,
                    attempt,
                    partition,
                    ..
                } => (time, attempt, partition),
                _ => unreachable!(),
            };
            let mut buf = BlockBuf::with_capacity(0);
            let send = SendRecord {
                time,
                message,
                attempt,
                partition,
            };
            hot_line(&mut buf, kind, send, offset);
            let line = std::str::from_utf8(buf.as_bytes()).unwrap();
            assert_eq!(
                line,
                format!("{}\n", serde_json::to_string(&event).unwrap())
            );
        }
    }
}
