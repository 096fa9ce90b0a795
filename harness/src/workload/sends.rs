//! The plain application: each producer hands its messages over one after
//! another at its share of the run's rate, and under `app-resend` the
//! application sends a failed message again. What the transactional
//! application shares with it: the pace ([`Pace`]) and how a send becomes a
//! record ([`Hand`]).

use std::{sync::Arc, time::Duration};

use checker::{
    ids::{Partition, Producer},
    payload, MessageId, SendKey,
};
use tokio::sync::mpsc;

use super::{MessageSize, Producers};
use crate::clients::{Client, Record, Refused};

/// How often the rate limiter hands out sends.
const TICK: Duration = Duration::from_millis(10);
/// How soon an unthrottled producer tries again when its client is busy.
pub(super) const BUSY_RETRY: Duration = Duration::from_millis(1);
/// At most this many invokes are recorded together (see `send_loop`).
const BATCH: usize = 64;
/// The application gives a message this many attempts in the `app-resend` preset.
const MAX_ATTEMPTS: u32 = 5;

/// One producer's share of the run's rate: how many of its sends are due.
pub(super) struct Pace {
    per_second: f64,
    started: tokio::time::Instant,
    handed: u64,
    ticker: tokio::time::Interval,
    unthrottled: bool,
}

impl Pace {
    /// `rate` messages a second over `producers` producers; 0 as fast as
    /// the clients take them.
    pub fn new(rate: u32, producers: u32) -> Pace {
        // Unthrottled, the ticker only paces retries while the client is busy,
        // as often as a bare producer loop would retry.
        let tick = if rate == 0 { BUSY_RETRY } else { TICK };
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Pace {
            per_second: f64::from(rate) / f64::from(producers),
            started: tokio::time::Instant::now(),
            handed: 0,
            ticker,
            unthrottled: rate == 0,
        }
    }

    pub async fn tick(&mut self) {
        self.ticker.tick().await;
    }

    /// Sends due by now and not yet handed over; after a stall at most one
    /// second's worth is made up, so a fault is not followed by an unbounded
    /// burst.
    pub fn due(&mut self) -> u64 {
        if self.unthrottled {
            return u64::MAX;
        }
        let due = (self.started.elapsed().as_secs_f64() * self.per_second) as u64;
        let made_up = due.saturating_sub(self.per_second.ceil() as u64);
        self.handed = self.handed.max(made_up);
        due.saturating_sub(self.handed)
    }

    pub fn handed(&mut self, sends: u64) {
        self.handed += sends;
    }
}

/// Makes each send's record as the run writes it (its key, its value of its
/// size) and hands it to a client. Clients copy each value, so one buffer
/// serves every send.
pub(super) struct Hand {
    values: payload::Values,
    size: MessageSize,
    keys: Option<u32>,
}

impl Hand {
    pub fn new(size: MessageSize, keys: Option<u32>) -> Hand {
        Hand {
            values: payload::Values::new(size.most),
            size,
            keys,
        }
    }

    pub fn send(&mut self, client: &dyn Client, send: SendKey) -> Result<(), Refused> {
        let size = self.size.of(send.message);
        let key = self
            .keys
            .map(|n| payload::key_bytes(payload::key_of(send.message, n)));
        let record = Record {
            key: key.as_ref().map(payload::KeyBytes::as_bytes),
            value: self.values.encode(send.message, send.attempt, size),
        };
        client.send(send, record)
    }
}

/// Message `index` of `producer`, first attempt: for partition `index mod
/// partitions` unless the run is keyed.
pub(super) fn first_send(producer: Producer, index: u64, partitions: i32, keyed: bool) -> SendKey {
    SendKey {
        message: MessageId { producer, index },
        attempt: 0,
        partition: (!keyed).then_some((index % partitions as u64) as Partition),
    }
}

pub(super) async fn send_loop(producers: Arc<Producers>, producer: Producer) {
    let config = &producers.config;
    let mut pace = Pace::new(config.rate, config.producers);
    // Kept across client restarts: a restarted producer continues its numbering.
    let mut next_index = 0u64;
    // Invokes are recorded a batch at a time, under one clock read and one lock:
    // at full speed a lock and a clock read per message would be a good part of
    // what recording costs the producer. `batch[taken..]` are invoked but not yet
    // taken by the client.
    let mut batch: Vec<SendKey> = Vec::with_capacity(BATCH);
    let mut taken = 0;
    let mut hand = Hand::new(config.message_size, config.keys);
    while !producers.stopping() {
        pace.tick().await;
        let mut due = pace.due();
        let Some(client) = producers.slots[producer as usize].current() else {
            continue;
        };
        while due > 0 {
            if taken == batch.len() {
                if producers.stopping() {
                    break;
                }
                batch.clear();
                taken = 0;
                let count = due.min(BATCH as u64);
                batch.extend((next_index..next_index + count).map(|index| {
                    first_send(producer, index, config.partitions, config.keys.is_some())
                }));
                next_index += count;
                producers.sinks.recorder.invoke_all(&batch);
            }
            match hand.send(&*client, batch[taken]) {
                Ok(()) | Err(Refused::Rejected) => {
                    taken += 1;
                    due -= 1;
                    pace.handed(1);
                }
                Err(Refused::Busy) => break,
            }
        }
    }
    for &send in &batch[taken..] {
        not_sent(&producers, send, "the workload stopped");
    }
}

/// Records a send invoked but never handed to the client, because `why`:
/// certainly not written.
pub(super) fn not_sent(producers: &Producers, send: SendKey, why: &str) {
    let reason = format!("not sent: {why} before the client took it");
    producers.sinks.recorder.fail(send, reason, true);
}

/// The `app-resend` application: a send that failed or timed out is sent again as
/// a new attempt of the same message, which idempotence does not cover.
pub(super) async fn resend_loop(
    producers: Arc<Producers>,
    mut failed: mpsc::UnboundedReceiver<SendKey>,
) {
    let config = &producers.config;
    let mut hand = Hand::new(config.message_size, config.keys);
    while let Some(f) = failed.recv().await {
        let send = SendKey {
            attempt: f.attempt + 1,
            ..f
        };
        if send.attempt >= MAX_ATTEMPTS || producers.stopping() {
            continue;
        }
        let slot = &producers.slots[send.message.producer as usize];
        let Some(client) = slot.current() else {
            continue;
        };
        producers.sinks.recorder.invoke_all(&[send]);
        while let Err(Refused::Busy) = hand.send(&*client, send) {
            tokio::time::sleep(TICK).await;
        }
    }
}
