//! A pipeline's processors: M slots, each running one processor instance
//! of the library under test, all in one consumer group reading the input
//! topic the feeder (the run's transactional producers) fills.
//!
//! A slot keeps its number and, under exactly-once, its `transactional.id`
//! across instances: the nemesis's `client-crash` kills the instance with
//! SIGKILL and starts the next one in its place, whose initialisation fences
//! whatever the dead one left open, and whose arrival makes the group
//! rebalance. A processor that ends on its own (fenced, failed) is started
//! again in its slot after [`RESTART_AFTER`], as its deployment would, at
//! most [`RESTARTS`] times. At the end the run gives them time to catch up
//! with the input; whatever they have not processed then is the checker's
//! to call unprocessed (unknown), never lost.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

use anyhow::{bail, Result};
use checker::ids::Processor;
use tracing::{info, warn};

use crate::{
    clients::{ProcessorCommand, ProcessorProcess, ProcessorSpec},
    recording::Recorder,
};

/// The consumer group's session: short, so that a crashed processor's
/// partitions move on within seconds (the brokers' least is 6 s).
const SESSION_MS: u64 = 6_000;
const HEARTBEAT_MS: u64 = 1_000;
/// How soon a processor that ended on its own starts again, and how often
/// per slot at most.
const RESTART_AFTER: Duration = Duration::from_secs(1);
const RESTARTS: u32 = 5;

/// The consumer settings eoscheck gives every processor.
pub fn session_settings() -> std::collections::BTreeMap<String, String> {
    [
        ("session.timeout.ms", SESSION_MS),
        ("heartbeat.interval.ms", HEARTBEAT_MS),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_string()))
    .collect()
}

/// The run's processor slots.
#[derive(Clone)]
pub struct Processors {
    inner: Arc<Inner>,
}

struct Inner {
    command: ProcessorCommand,
    spec: ProcessorSpec,
    recorder: Arc<Recorder>,
    logs: PathBuf,
    slots: Vec<Mutex<Option<ProcessorProcess>>>,
    /// Set once the processors are being closed: none is restarted then.
    closing: AtomicBool,
}

impl Processors {
    /// Starts `count` processors side by side; a slot whose processor could
    /// not start stays empty (its `proc-stop` says why).
    pub async fn start(
        command: ProcessorCommand,
        spec: ProcessorSpec,
        count: Processor,
        recorder: Arc<Recorder>,
        logs: PathBuf,
    ) -> Processors {
        let processors = Processors {
            inner: Arc::new(Inner {
                command,
                spec,
                recorder,
                logs,
                slots: (0..count).map(|_| Mutex::new(None)).collect(),
                closing: AtomicBool::new(false),
            }),
        };
        let starts = (0..count).map(|slot| processors.fill(slot));
        futures::future::join_all(starts).await;
        tokio::spawn(processors.clone().restart_ended());
        processors
    }

    /// Starts again, in its slot, a processor that ended on its own.
    async fn restart_ended(self) {
        let mut restarts = vec![0; self.inner.slots.len()];
        while !self.inner.closing.load(Relaxed) {
            tokio::time::sleep(RESTART_AFTER).await;
            for (slot, count) in restarts.iter_mut().enumerate() {
                let slot = slot as Processor;
                if self.inner.closing.load(Relaxed) || *count >= RESTARTS {
                    continue;
                }
                let ended = self.inner.slots[slot as usize]
                    .lock()
                    .unwrap()
                    .take_if(|p| p.ended());
                if let Some(ended) = ended {
                    drop(ended);
                    *count += 1;
                    info!("processor {slot} ended on its own; starting another");
                    self.fill(slot).await;
                }
            }
        }
    }

    /// A new instance in `slot`, off the async threads (a JVM takes seconds).
    async fn fill(&self, slot: Processor) {
        if self.inner.closing.load(Relaxed) {
            return;
        }
        let inner = self.inner.clone();
        let started = tokio::task::spawn_blocking(move || {
            ProcessorProcess::start(
                &inner.command,
                &inner.spec,
                slot,
                inner.recorder.clone(),
                &inner.logs,
            )
        })
        .await;
        match started {
            Ok(Ok(process)) => *self.inner.slots[slot as usize].lock().unwrap() = Some(process),
            Ok(Err(why)) => warn!("{why}"),
            Err(e) => warn!("processor {slot}: {e}"),
        }
    }

    /// The slots with a processor running now.
    pub fn running(&self) -> Vec<Processor> {
        let slots = self.inner.slots.iter().enumerate();
        let running = slots.filter(|(_, s)| s.lock().unwrap().is_some());
        running.map(|(i, _)| i as Processor).collect()
    }

    /// `client-crash`: the processor of `slot` is killed, and a new one
    /// takes its slot.
    pub async fn crash(&self, slot: Processor) -> Result<String> {
        let Some(process) = self.take(slot) else {
            bail!("processor {slot} is not running");
        };
        tokio::task::spawn_blocking(move || process.kill()).await?;
        self.fill(slot).await;
        Ok(format!("processor {slot}"))
    }

    /// `pause-processor`: freezes (SIGSTOP) the processor in `slot`, or
    /// thaws it.
    pub fn freeze(&self, slot: Processor, frozen: bool) -> Result<()> {
        let slots = &self.inner.slots;
        let held = slots.get(slot as usize).map(|s| s.lock().unwrap());
        match held.as_deref() {
            Some(Some(process)) => Ok(process.freeze(frozen)?),
            // A crash replaced it meanwhile: nothing is frozen any more.
            Some(None) if !frozen => Ok(()),
            _ => bail!("processor {slot} is not running"),
        }
    }

    fn take(&self, slot: Processor) -> Option<ProcessorProcess> {
        self.inner.slots.get(slot as usize)?.lock().unwrap().take()
    }

    /// Every processor asked to close within `timeout`, side by side.
    pub async fn close(self, timeout: Duration) {
        self.inner.closing.store(true, Relaxed);
        let slots = 0..self.inner.slots.len() as Processor;
        let processes: Vec<ProcessorProcess> = slots.filter_map(|s| self.take(s)).collect();
        let closing = processes
            .into_iter()
            .map(|p| tokio::task::spawn_blocking(move || p.close(timeout)));
        futures::future::join_all(closing).await;
        self.inner.recorder.flush();
    }
}
