//! The history recorder: every event of the run appended to `history.jsonl` in the
//! checker's format, stamped with monotonic time since the run started.
//!
//! Lines are buffered and flushed every [`FLUSH_EVERY`] (and at the end), so a run
//! killed half-way leaves all but its last instants on disk: `eoscheck check` can
//! still analyse it, and a torn last line is tolerated there.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
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
    out: Mutex<BufWriter<File>>,
    pub counts: Counts,
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
        let recorder = Arc::new(Recorder {
            origin,
            out: Mutex::new(BufWriter::with_capacity(1 << 16, file)),
            counts: Counts::default(),
        });
        recorder.write(&Event::Header {
            format: FORMAT,
            topic: topic.to_owned(),
        });
        recorder.flush();
        let flusher = Arc::downgrade(&recorder);
        std::thread::spawn(move || {
            while let Some(recorder) = flusher.upgrade() {
                recorder.flush();
                drop(recorder);
                std::thread::sleep(FLUSH_EVERY);
            }
        });
        Ok(recorder)
    }

    pub fn now(&self) -> Nanos {
        self.origin.elapsed().as_nanos() as Nanos
    }

    fn write(&self, event: &Event) {
        let mut out = self.out.lock().unwrap();
        let written = serde_json::to_writer(&mut *out, event)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"));
        if let Err(e) = written {
            warn!("could not append to the history: {e}");
        }
    }

    pub fn flush(&self) {
        if let Err(e) = self.out.lock().unwrap().flush() {
            warn!("could not flush the history: {e}");
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
        kind: &[u8],
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
        offset: Option<i64>,
    ) {
        let mut line = [0u8; 192];
        let len = hot_line(
            &mut line,
            kind,
            self.now(),
            message,
            attempt,
            partition,
            offset,
        );
        let mut out = self.out.lock().unwrap();
        if let Err(e) = out.write_all(&line[..len]) {
            warn!("could not append to the history: {e}");
        }
    }

    pub fn fail(&self, message: MessageId, attempt: Attempt, error: String, definite: bool) {
        let count = if definite {
            &self.counts.failed
        } else {
            &self.counts.indeterminate
        };
        count.fetch_add(1, Relaxed);
        self.write(&Event::Fail {
            time: self.now(),
            message,
            attempt,
            error,
            definite,
        });
    }

    pub fn info(&self, message: MessageId, attempt: Attempt, error: String) {
        self.counts.indeterminate.fetch_add(1, Relaxed);
        self.write(&Event::Info {
            time: self.now(),
            message,
            attempt,
            error,
        });
    }

    pub fn session(&self, producer: Producer, pid: ProducerId, epoch: Epoch) {
        self.write(&Event::ProducerSession {
            time: self.now(),
            producer,
            pid,
            epoch,
        });
    }

    pub fn fatal(&self, producer: Producer, error: String) {
        self.write(&Event::ProducerFatal {
            time: self.now(),
            producer,
            error,
        });
    }

    pub fn config_rejected(&self, producer: Producer, reason: String) {
        self.write(&Event::ConfigRejected {
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
        self.write(&match event.phase {
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
