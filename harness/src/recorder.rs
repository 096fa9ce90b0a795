//! The history recorder: every event of the run appended to `history.jsonl` in the
//! checker's format, stamped with monotonic time since the run started.
//!
//! Callers (the workload, librdkafka's delivery callback, the nemesis) only stamp
//! the time and hand the event to a writer thread over a channel: the client's
//! callback thread must never wait on a lock or a disk, or the recorder would slow
//! down the producer it measures. The writer formats, buffers, and flushes every
//! [`FLUSH_EVERY`], so a run killed half-way leaves all but its last instants on
//! disk: `eoscheck check` can still analyse it, and a torn last line is tolerated.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        mpsc, Arc,
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

pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

pub struct Recorder {
    origin: Instant,
    entries: mpsc::Sender<Entry>,
    pub counts: Counts,
}

/// What the writer thread is handed.
enum Entry {
    /// An invoke (no offset) or an ack: nearly every line, formatted by hand.
    Hot {
        kind: &'static [u8],
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
        offset: Option<i64>,
    },
    /// Boxed: rare, and it would make every entry in the channel as big as itself.
    Event(Box<Event>),
    /// Write out everything handed over so far, then answer.
    Flush(mpsc::SyncSender<()>),
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
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let (entries, received) = mpsc::channel();
        std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || write_loop(received, BufWriter::with_capacity(1 << 16, file)))?;
        let recorder = Arc::new(Recorder {
            origin,
            entries,
            counts: Counts::default(),
        });
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
        // A send fails only once the writer has gone, at the very end of a run.
        let _ = self.entries.send(Entry::Event(Box::new(event)));
    }

    /// Returns once everything recorded so far is on disk.
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.entries.send(Entry::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Invokes and acks are nearly every line of a history, written at the
    /// client's full speed: they are formatted by hand ([`hot_line`]) rather than
    /// through serde, which would cost the producer under test a good part of a core.
    pub fn invoke(&self, message: MessageId, attempt: Attempt, partition: Partition) {
        self.counts.invoked.fetch_add(1, Relaxed);
        self.write_hot(b"invoke", message, attempt, partition, None);
    }

    pub fn ok(&self, message: MessageId, attempt: Attempt, partition: Partition, offset: i64) {
        self.counts.ok.fetch_add(1, Relaxed);
        self.write_hot(b"ok", message, attempt, partition, Some(offset));
    }

    fn write_hot(
        &self,
        kind: &'static [u8],
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
        offset: Option<i64>,
    ) {
        let time = self.now();
        let _ = self.entries.send(Entry::Hot {
            kind,
            time,
            message,
            attempt,
            partition,
            offset,
        });
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

/// Formats an `invoke` or `ok` line exactly as serde would, into `buf`; returns
/// its length. The fields are numbers and a fixed kind, so nothing needs escaping.
fn hot_line(
    buf: &mut [u8; 192],
    kind: &[u8],
    time: Nanos,
    message: MessageId,
    attempt: Attempt,
    partition: Partition,
    offset: Option<i64>,
) -> usize {
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    let mut n = itoa::Buffer::new();
    put(b"{\"type\":\"");
    put(kind);
    put(b"\",\"time\":");
    put(n.format(time).as_bytes());
    put(b",\"message\":{\"producer\":");
    put(n.format(message.producer).as_bytes());
    put(b",\"index\":");
    put(n.format(message.index).as_bytes());
    put(b"},\"attempt\":");
    put(n.format(attempt).as_bytes());
    put(b",\"partition\":");
    put(n.format(partition).as_bytes());
    if let Some(offset) = offset {
        put(b",\"offset\":");
        put(n.format(offset).as_bytes());
    }
    put(b"}\n");
    at
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// How long the writer sleeps between draining the channel. It polls rather
/// than blocks so that a sender never has to wake it: at hundreds of thousands
/// of entries a second, a futex wake per entry would cost the producer under
/// test more than the formatting does.
const DRAIN_EVERY: Duration = Duration::from_millis(2);

/// The writer thread: formats and appends entries until every sender is gone.
fn write_loop(entries: mpsc::Receiver<Entry>, mut out: BufWriter<File>) {
    let mut flushed = Instant::now();
    let mut failed = false;
    loop {
        let written = match entries.try_recv() {
            Ok(Entry::Hot {
                kind,
                time,
                message,
                attempt,
                partition,
                offset,
            }) => {
                let mut line = [0u8; 192];
                let len = hot_line(&mut line, kind, time, message, attempt, partition, offset);
                out.write_all(&line[..len])
            }
            Ok(Entry::Event(event)) => serde_json::to_writer(&mut out, &*event)
                .map_err(std::io::Error::from)
                .and_then(|_| out.write_all(b"\n")),
            Ok(Entry::Flush(done)) => {
                let result = out.flush();
                flushed = Instant::now();
                let _ = done.send(());
                result
            }
            Err(mpsc::TryRecvError::Empty) => {
                if flushed.elapsed() >= FLUSH_EVERY {
                    flushed = Instant::now();
                    if let Err(e) = out.flush() {
                        warn!("could not flush the history: {e}");
                    }
                }
                std::thread::sleep(DRAIN_EVERY);
                Ok(())
            }
            Err(mpsc::TryRecvError::Disconnected) => break,
        };
        if let Err(e) = written {
            if !failed {
                warn!("could not append to the history: {e}");
                failed = true;
            }
        }
    }
    if let Err(e) = out.flush() {
        warn!("could not flush the history: {e}");
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
            let mut buf = [0u8; 192];
            let len = hot_line(&mut buf, kind, time, message, attempt, partition, offset);
            let line = std::str::from_utf8(&buf[..len]).unwrap();
            assert_eq!(
                line,
                format!("{}\n", serde_json::to_string(&event).unwrap())
            );
        }
    }
}
