//! The workload: N producer instances sending unique messages at a target rate.
//!
//! Producer `p` numbers its messages 0, 1, 2, … in the order it hands them over.
//! Without keys it sends message `i` to partition `i mod P` explicitly, so
//! per-partition order is well defined whatever the library's partitioner;
//! with `--keys N` each message carries the key `checker::payload::key_of`
//! gives it and no partition, so the library's default partitioner places it,
//! as it would in the application. A restarted producer (the `client-crash`
//! fault) keeps its number and its count, and comes back with a new producer id.
//!
//! - [`sends`]: the plain application, one send after another
//!   (and `app-resend`'s resends);
//! - [`txn`]: the transactional application, a transaction after another,
//!   and the `zombie` that fences one of its producers;
//! - [`sizes`]: how big messages and transactions are.

mod pipeline;
mod sends;
mod sizes;
mod txn;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use anyhow::{bail, Result};
use checker::ids::Producer;
use tokio::{sync::mpsc, task::JoinHandle};

pub use pipeline::{session_settings, Processors};
pub use sizes::{MessageSize, TxnSize};
pub use txn::{Transactions, ZombieStarted, Zombies};

use crate::clients::{Client, Launcher, Sinks};

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
    /// How the producers run transactions; None sends without.
    pub transactions: Option<Transactions>,
    /// Producer numbers after the run's own, kept for zombies: each writes
    /// under one of its own.
    pub spares: u32,
    /// The run's seed: the transactions' sizes and which ones are aborted.
    pub seed: u64,
}

/// One producer number: its current client (None when the library refused
/// it, while it restarts, or once it stopped for good), and for a
/// transactional producer its `transactional.id` and the zombie's hold.
#[derive(Default)]
struct Slot {
    client: Mutex<Option<Arc<dyn Client>>>,
    transactional_id: OnceLock<String>,
    /// Held while the client is replaced, so that a crash and the
    /// application's own replacement never start two instances at once.
    restarting: tokio::sync::Mutex<()>,
    hold: txn::Hold,
}

impl Slot {
    fn current(&self) -> Option<Arc<dyn Client>> {
        self.client.lock().unwrap().clone()
    }

    /// Whether `client` is still this producer's.
    fn holds(&self, client: &Arc<dyn Client>) -> bool {
        self.current().is_some_and(|c| Arc::ptr_eq(&c, client))
    }
}

/// The run's producers, shared by their loops, the resender, the crasher
/// and the zombies.
struct Producers {
    config: WorkloadConfig,
    /// The run's producers, then the spares.
    slots: Vec<Slot>,
    stop: AtomicBool,
    sinks: Sinks,
    /// Every producer's loop, zombies' included.
    loops: Mutex<Vec<JoinHandle<()>>>,
}

impl Producers {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Starts producer `producer` off the async threads: a driver takes seconds.
    async fn create(self: &Arc<Self>, producer: Producer) -> Option<Arc<dyn Client>> {
        let producers = self.clone();
        tokio::task::spawn_blocking(move || {
            let config = &producers.config;
            let id = producers.slots[producer as usize].transactional_id.get();
            config.launcher.create(
                producer,
                id.map(String::as_str),
                &config.topic,
                &producers.sinks,
            )
        })
        .await
        .ok()
        .flatten()
    }

    /// Replaces `producer`'s client with a new instance under the same number
    /// (and `transactional.id`, whose init fences the old one): the old one,
    /// if any, crashes first, abandoning what it holds. With `only`, nothing
    /// is done unless the slot still holds that client or none (a crash may
    /// have replaced it meanwhile). Returns the client now in place.
    async fn restart(
        self: &Arc<Self>,
        producer: Producer,
        only: Option<&Arc<dyn Client>>,
    ) -> Option<Arc<dyn Client>> {
        let slot = &self.slots[producer as usize];
        let _turn = slot.restarting.lock().await;
        let current = slot.current();
        if let (Some(only), Some(current)) = (only, &current) {
            if !Arc::ptr_eq(only, current) {
                return Some(current.clone());
            }
        }
        let old = slot.client.lock().unwrap().take();
        if let Some(old) = old {
            let _ = tokio::task::spawn_blocking(move || old.crash()).await;
        }
        if self.stopping() {
            return None;
        }
        let new = self.create(producer).await;
        slot.client.lock().unwrap().clone_from(&new);
        new
    }

    /// Runs `job` as one of the producers' loops, which [`Workload::stop`] waits for.
    fn spawn(&self, job: impl std::future::Future<Output = ()> + Send + 'static) {
        self.loops.lock().unwrap().push(tokio::spawn(job));
    }
}

pub struct Workload {
    producers: Arc<Producers>,
    resender: Option<JoinHandle<()>>,
}

impl Workload {
    pub async fn start(
        config: WorkloadConfig,
        recorder: Arc<crate::recording::Recorder>,
    ) -> Workload {
        let (resend, resends) = if config.app_resend {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let slots = (0..config.producers + config.spares)
            .map(|_| Slot::default())
            .collect();
        let producers = Arc::new(Producers {
            config,
            slots,
            stop: AtomicBool::new(false),
            sinks: Sinks {
                recorder,
                resend,
                effective: Default::default(),
            },
            loops: Mutex::new(Vec::new()),
        });
        let config = &producers.config;
        for p in 0..config.producers {
            if let Some(id) = config.launcher.transactional_id(p) {
                let _ = producers.slots[p as usize].transactional_id.set(id);
            }
        }
        let clients =
            futures::future::join_all((0..config.producers).map(|p| producers.create(p))).await;
        for (slot, client) in producers.slots.iter().zip(clients) {
            *slot.client.lock().unwrap() = client;
        }
        for p in 0..config.producers {
            match config.transactions {
                Some(_) => producers.spawn(txn::txn_loop(producers.clone(), p)),
                None => producers.spawn(sends::send_loop(producers.clone(), p)),
            }
        }
        let resender = resends.map(|rx| tokio::spawn(sends::resend_loop(producers.clone(), rx)));
        Workload {
            producers,
            resender,
        }
    }

    /// The first producer's effective configuration, once one has started.
    pub fn effective(&self) -> Option<crate::clients::Effective> {
        self.producers.sinks.effective.get().cloned()
    }

    /// How many producers the client library accepted.
    pub fn running(&self) -> usize {
        running(&self.producers).len()
    }

    /// A handle that restarts producers while the workload runs (`client-crash`).
    pub fn crasher(&self) -> Crasher {
        Crasher {
            producers: self.producers.clone(),
        }
    }

    /// A handle that starts zombies of transactional producers (`zombie`).
    pub fn zombies(&self) -> Zombies {
        Zombies::new(self.producers.clone())
    }

    /// Stops handing out sends and beginning transactions (one under way is
    /// ended, as the application meant to), then gives every client up to
    /// `bound` to complete what it holds; whatever is still open stays
    /// indeterminate in the history.
    pub async fn stop(self, bound: Duration) {
        self.producers.stop.store(true, Ordering::Relaxed);
        let loops = std::mem::take(&mut *self.producers.loops.lock().unwrap());
        let aborts: Vec<_> = loops.iter().map(JoinHandle::abort_handle).collect();
        if tokio::time::timeout(bound, futures::future::join_all(loops))
            .await
            .is_err()
        {
            tracing::warn!("a producer was still ending its transaction when its time was up");
            aborts.iter().for_each(|a| a.abort());
        }
        let clients: Vec<Arc<dyn Client>> = self
            .producers
            .slots
            .iter()
            .filter_map(|s| s.client.lock().unwrap().take())
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

/// The producers that have a client now, by number.
fn running(producers: &Producers) -> Vec<Producer> {
    (0..producers.slots.len() as Producer)
        .filter(|&p| producers.slots[p as usize].current().is_some())
        .collect()
}

#[derive(Clone)]
pub struct Crasher {
    producers: Arc<Producers>,
}

impl Crasher {
    /// Restarts one producer: it abandons what it had queued or in flight and comes
    /// back as a new client, with a new producer id (a transactional one
    /// initialises again with its `transactional.id`).
    pub async fn crash(&self, producer: Producer) -> Result<String> {
        let Some(slot) = self.producers.slots.get(producer as usize) else {
            bail!("no producer {producer}");
        };
        if slot.current().is_none() {
            bail!("producer {producer} is not running");
        }
        self.producers.restart(producer, None).await;
        Ok(format!("producer {producer}"))
    }

    /// The producers running now, zombies' newcomers included.
    pub fn running(&self) -> Vec<Producer> {
        running(&self.producers)
    }
}
