//! The workload: N producer instances sending unique messages at a target rate.
//!
//! Producer `p` numbers its messages 0, 1, 2, … in the order it hands them over.
//! Without keys it sends message `i` to partition `i mod P` explicitly, so
//! per-partition order is well defined whatever the library's partitioner;
//! with `--keys N` each message carries the key `checker::payload::key_of`
//! gives it and no partition, so the library's default partitioner places it,
//! as it would in the application. A restarted producer (the `client-crash`
//! fault) keeps its number and its count, and comes back with a new producer id.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use anyhow::{bail, Result};
use checker::{
    ids::{Partition, Producer},
    payload, MessageId, SendKey,
};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    clients::{Client, Launcher, Record, Refused, Sinks},
    recording::Recorder,
};

/// How often the rate limiter hands out sends.
const TICK: Duration = Duration::from_millis(10);
/// How soon an unthrottled producer tries again when its client is busy.
const BUSY_RETRY: Duration = Duration::from_millis(1);
/// At most this many invokes are recorded together (see `send_loop`).
const BATCH: usize = 64;
/// The application gives a message this many attempts in the `app-resend` preset.
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    pub topic: String,
    pub producers: u32,
    pub partitions: i32,
    /// Messages per second over all producers; 0 sends as fast as the clients take them.
    pub rate: u32,
    pub message_size: MessageSize,
    /// Keys the messages are spread over; None sends to explicit partitions.
    pub keys: Option<u32>,
    pub launcher: Launcher,
    pub app_resend: bool,
}

/// How big each message's value is: one size, or sizes spread evenly over a
/// range, each message's its own (and the same for every resend of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSize {
    pub least: usize,
    pub most: usize,
}

impl MessageSize {
    /// `message`'s size: Fibonacci hashing of its index spreads consecutive
    /// messages over the whole range.
    pub fn of(self, message: MessageId) -> usize {
        let span = (self.most - self.least) as u64 + 1;
        let spread = message.index.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        self.least + (spread % span) as usize
    }
}

impl std::fmt::Display for MessageSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.least == self.most {
            write!(f, "{}", self.least)
        } else {
            write!(f, "{}..{}", self.least, self.most)
        }
    }
}

impl std::str::FromStr for MessageSize {
    type Err = String;

    /// `N` or `LEAST..MOST`, in bytes.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = |t: &str| {
            t.trim().parse::<usize>().map_err(|_| {
                format!("{text:?} is not a size in bytes, N or LEAST..MOST (e.g. 100..50000)")
            })
        };
        let (least, most) = match text.split_once("..") {
            Some((least, most)) => (number(least)?, number(most)?),
            None => (number(text)?, number(text)?),
        };
        if least > most {
            return Err(format!("{text:?}: the least size is more than the most"));
        }
        Ok(MessageSize { least, most })
    }
}

/// The record key of `message` among `keys` keys, as eoscheck writes keys.
fn key(message: MessageId, keys: Option<u32>) -> Option<payload::KeyBytes> {
    keys.map(|n| payload::key_bytes(payload::key_of(message, n)))
}

/// Where each producer's current client lives (None when the library refused it);
/// `client-crash` swaps it.
type Slot = Mutex<Option<Arc<dyn Client>>>;

/// The run's producers, shared by their send loops, the resender and the
/// crasher.
struct Producers {
    config: WorkloadConfig,
    slots: Vec<Slot>,
    stop: AtomicBool,
    sinks: Sinks,
}

impl Producers {
    /// Starts producer `producer` off the async threads: a driver takes seconds.
    async fn create(self: &Arc<Self>, producer: Producer) -> Option<Arc<dyn Client>> {
        let producers = self.clone();
        tokio::task::spawn_blocking(move || {
            let config = &producers.config;
            config
                .launcher
                .create(producer, &config.topic, &producers.sinks)
        })
        .await
        .ok()
        .flatten()
    }
}

pub struct Workload {
    producers: Arc<Producers>,
    senders: Vec<JoinHandle<()>>,
    resender: Option<JoinHandle<()>>,
}

impl Workload {
    pub async fn start(config: WorkloadConfig, recorder: Arc<Recorder>) -> Workload {
        let (resend, resends) = if config.app_resend {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let slots = (0..config.producers).map(|_| Mutex::new(None)).collect();
        let producers = Arc::new(Producers {
            config,
            slots,
            stop: AtomicBool::new(false),
            sinks: Sinks {
                recorder,
                resend,
                effective: Default::default(),
            },
        });
        let clients =
            futures::future::join_all((0..producers.config.producers).map(|p| producers.create(p)))
                .await;
        for (slot, client) in producers.slots.iter().zip(clients) {
            *slot.lock().unwrap() = client;
        }
        let senders = (0..producers.config.producers)
            .map(|p| tokio::spawn(send_loop(producers.clone(), p)))
            .collect();
        let resender = resends.map(|rx| tokio::spawn(resend_loop(producers.clone(), rx)));
        Workload {
            producers,
            senders,
            resender,
        }
    }

    /// The first producer's effective configuration, once one has started.
    pub fn effective(&self) -> Option<crate::clients::Effective> {
        self.producers.sinks.effective.get().cloned()
    }

    /// How many producers the client library accepted.
    pub fn running(&self) -> usize {
        self.producers
            .slots
            .iter()
            .filter(|s| s.lock().unwrap().is_some())
            .count()
    }

    /// A handle that restarts producers while the workload runs (`client-crash`).
    pub fn crasher(&self) -> Crasher {
        Crasher {
            producers: self.producers.clone(),
        }
    }

    /// Stops handing out sends, then gives every client up to `bound` to complete
    /// what it holds; whatever is still open stays indeterminate in the history.
    pub async fn stop(self, bound: Duration) {
        self.producers.stop.store(true, Ordering::Relaxed);
        for sender in self.senders {
            let _ = sender.await;
        }
        let clients: Vec<Arc<dyn Client>> = self
            .producers
            .slots
            .iter()
            .filter_map(|s| s.lock().unwrap().take())
            .collect();
        // Closed side by side: each gets the whole bound.
        let closing = clients
            .into_iter()
            .map(|client| tokio::task::spawn_blocking(move || client.close(bound)));
        futures::future::join_all(closing).await;
        if let Some(resender) = self.resender {
            resender.abort();
        }
        self.producers.sinks.recorder.flush();
    }
}

#[derive(Clone)]
pub struct Crasher {
    producers: Arc<Producers>,
}

impl Crasher {
    /// Restarts one producer: it abandons what it had queued or in flight and comes
    /// back as a new client, with a new producer id.
    pub async fn crash(&self, producer: Producer) -> Result<String> {
        let producers = self.producers.clone();
        let Some(slot) = producers.slots.get(producer as usize) else {
            bail!("no producer {producer}");
        };
        let Some(old) = slot.lock().unwrap().take() else {
            bail!("producer {producer} is not running");
        };
        tokio::task::spawn_blocking(move || old.crash()).await?;
        let new = producers.create(producer).await;
        *slot.lock().unwrap() = new;
        Ok(format!("producer {producer}"))
    }

    pub fn producers(&self) -> u32 {
        self.producers.config.producers
    }
}

async fn send_loop(producers: Arc<Producers>, producer: Producer) {
    let config = &producers.config;
    let per_second = f64::from(config.rate) / f64::from(config.producers);
    let started = tokio::time::Instant::now();
    let mut handed = 0u64;
    // Kept across client restarts: a restarted producer continues its numbering.
    let mut next_index = 0u64;
    // Unthrottled, the ticker only paces retries while the client is busy, as
    // often as a bare producer loop would retry.
    let tick = if config.rate == 0 { BUSY_RETRY } else { TICK };
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Invokes are recorded a batch at a time, under one clock read and one lock:
    // at full speed a lock and a clock read per message would be a good part of
    // what recording costs the producer. `batch[taken..]` are invoked but not yet
    // taken by the client.
    let mut batch: Vec<SendKey> = Vec::with_capacity(BATCH);
    let mut taken = 0;
    // Clients copy each value, so one buffer serves every send.
    let mut values = payload::Values::new(config.message_size.most);
    while !producers.stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        // Sends due by now at the target rate; after a stall at most one second's
        // worth is made up, so a fault is not followed by an unbounded burst.
        let due = if config.rate == 0 {
            u64::MAX
        } else {
            let due = (started.elapsed().as_secs_f64() * per_second) as u64;
            handed = handed.max(due.saturating_sub(per_second.ceil() as u64));
            due
        };
        let Some(client) = producers.slots[producer as usize].lock().unwrap().clone() else {
            continue;
        };
        while handed < due {
            if taken == batch.len() {
                if producers.stop.load(Ordering::Relaxed) {
                    break;
                }
                batch.clear();
                taken = 0;
                let count = (due - handed).min(BATCH as u64);
                batch.extend((next_index..next_index + count).map(|index| {
                    SendKey {
                        message: MessageId { producer, index },
                        attempt: 0,
                        partition: config
                            .keys
                            .is_none()
                            .then_some((index % config.partitions as u64) as Partition),
                    }
                }));
                next_index += count;
                producers.sinks.recorder.invoke_all(&batch);
            }
            let send = batch[taken];
            let size = config.message_size.of(send.message);
            let key = key(send.message, config.keys);
            let record = Record {
                key: key.as_ref().map(payload::KeyBytes::as_bytes),
                value: values.encode(send.message, send.attempt, size),
            };
            match client.send(send, record) {
                Ok(()) | Err(Refused::Rejected) => {
                    taken += 1;
                    handed += 1;
                }
                Err(Refused::Busy) => break,
            }
        }
    }
    // Invoked but never handed to the client: certainly not written.
    for &send in &batch[taken..] {
        let reason = "not sent: the workload stopped before the client took it";
        producers.sinks.recorder.fail(send, reason.to_owned(), true);
    }
}

/// The `app-resend` application: a send that failed or timed out is sent again as
/// a new attempt of the same message, which idempotence does not cover.
async fn resend_loop(producers: Arc<Producers>, mut failed: mpsc::UnboundedReceiver<SendKey>) {
    while let Some(f) = failed.recv().await {
        let send = SendKey {
            attempt: f.attempt + 1,
            ..f
        };
        if send.attempt >= MAX_ATTEMPTS || producers.stop.load(Ordering::Relaxed) {
            continue;
        }
        let slot = &producers.slots[send.message.producer as usize];
        let Some(client) = slot.lock().unwrap().clone() else {
            continue;
        };
        producers.sinks.recorder.invoke_all(&[send]);
        let config = &producers.config;
        let value = payload::encode(
            send.message,
            send.attempt,
            config.message_size.of(send.message),
        );
        let key = key(send.message, config.keys);
        let record = Record {
            key: key.as_ref().map(payload::KeyBytes::as_bytes),
            value: &value,
        };
        while let Err(Refused::Busy) = client.send(send, record) {
            tokio::time::sleep(TICK).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_sizes_parse_round_trip_and_spread_over_their_range() {
        let fixed: MessageSize = "100".parse().unwrap();
        assert_eq!((fixed.least, fixed.most), (100, 100));
        let range: MessageSize = " 100..50000".parse().unwrap();
        assert_eq!(range.to_string().parse::<MessageSize>(), Ok(range));
        assert!("500..100".parse::<MessageSize>().is_err());
        assert!("100..".parse::<MessageSize>().is_err());
        let sizes: Vec<usize> = (0..1000)
            .map(|index| range.of(MessageId { producer: 0, index }))
            .collect();
        assert!(sizes.iter().all(|s| (100..=50000).contains(s)));
        // Consecutive messages land all over the range, not in a ramp.
        let tenths = sizes.iter().map(|s| (s - 100) * 10 / 49901);
        let buckets = tenths.fold([0; 10], |mut b, t| {
            b[t] += 1;
            b
        });
        assert!(
            buckets.iter().all(|&n| (70..=130).contains(&n)),
            "{buckets:?}"
        );
        assert_eq!(
            fixed.of(MessageId {
                producer: 3,
                index: 7
            }),
            100
        );
    }
}
