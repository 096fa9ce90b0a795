//! The workload: N producer instances sending unique messages at a target rate,
//! each message to an explicit partition so per-partition order is well defined.
//!
//! Producer `p` numbers its messages 0, 1, 2, … in the order it hands them over
//! and sends message `i` to partition `i mod P`; a restarted producer (the
//! `client-crash` fault) keeps its number and its count, and comes back with a new
//! producer id.

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
    clients::{Client, Launcher, Refused, Sinks},
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
    pub message_size: usize,
    pub launcher: Launcher,
    pub app_resend: bool,
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
            sinks: Sinks { recorder, resend },
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
    // librdkafka copies each value, so one buffer serves every send.
    let mut values = payload::Values::new(config.message_size);
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
                batch.extend((next_index..next_index + count).map(|index| SendKey {
                    message: MessageId { producer, index },
                    attempt: 0,
                    partition: Some((index % config.partitions as u64) as Partition),
                }));
                next_index += count;
                producers.sinks.recorder.invoke_all(&batch);
            }
            let send = batch[taken];
            let value = values.encode(send.message, send.attempt);
            match client.send(send, value) {
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
        let value = payload::encode(send.message, send.attempt, producers.config.message_size);
        while let Err(Refused::Busy) = client.send(send, &value) {
            tokio::time::sleep(TICK).await;
        }
    }
}
