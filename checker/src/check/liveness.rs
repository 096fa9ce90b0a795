//! Stalls: a producer that holds open sends and completes none of them for a
//! whole stretch in which no fault was active.
//!
//! Faults are allowed to stop progress; a healthy cluster is not. A stretch
//! counts from the later of the producer's last progress (a completion, or its
//! first open send after having none) and the end of the last fault, and it is a
//! stall once it reaches the grace, which leaves room for reconnecting and for
//! one request timeout. Replayed in history order, so it costs a few compares
//! per event.

use std::collections::BTreeMap;

use crate::{history::Nanos, ids::Producer, results::ProducerNote};

#[derive(Default)]
struct Producing {
    open: u64,
    /// The last completion, or when the producer went from nothing open to
    /// something open.
    progress: Nanos,
}

pub(crate) struct Liveness {
    grace: Nanos,
    /// Since when no fault has been active; None while one is.
    healthy_since: Option<Nanos>,
    producers: BTreeMap<Producer, Producing>,
    stalls: Vec<ProducerNote>,
    last_time: Nanos,
}

impl Liveness {
    pub fn new(grace: Nanos) -> Self {
        Liveness {
            grace,
            healthy_since: Some(0),
            producers: BTreeMap::new(),
            stalls: Vec::new(),
            last_time: 0,
        }
    }

    pub fn invoke(&mut self, producer: Producer, time: Nanos) {
        self.last_time = self.last_time.max(time);
        let p = self.producers.entry(producer).or_default();
        if p.open == 0 {
            p.progress = time;
        }
        p.open += 1;
    }

    /// The first completion of a send (repeats are not progress).
    pub fn complete(&mut self, producer: Producer, time: Nanos) {
        self.last_time = self.last_time.max(time);
        self.check(producer, time);
        if let Some(p) = self.producers.get_mut(&producer) {
            p.open = p.open.saturating_sub(1);
            p.progress = time;
        }
    }

    /// `active` is whether any fault is active after the event at `time`.
    pub fn faults_changed(&mut self, active: bool, time: Nanos) {
        self.last_time = self.last_time.max(time);
        match (self.healthy_since, active) {
            (Some(_), true) => {
                let producers: Vec<Producer> = self.producers.keys().copied().collect();
                for producer in producers {
                    self.check(producer, time);
                }
                self.healthy_since = None;
            }
            (None, false) => self.healthy_since = Some(time),
            _ => {}
        }
    }

    /// Closes the open stretches at the end of the history and returns the stalls.
    pub fn finish(mut self) -> Vec<ProducerNote> {
        let producers: Vec<Producer> = self.producers.keys().copied().collect();
        for producer in producers {
            self.check(producer, self.last_time);
        }
        self.stalls
    }

    /// Records a stall if `producer` has gone without progress, with no fault
    /// active, from its stretch's start until `now`.
    fn check(&mut self, producer: Producer, now: Nanos) {
        let (Some(healthy), Some(p)) = (self.healthy_since, self.producers.get(&producer)) else {
            return;
        };
        let from = p.progress.max(healthy);
        if p.open == 0 || now.saturating_sub(from) < self.grace {
            return;
        }
        self.stalls.push(ProducerNote {
            time: from,
            producer,
            message: format!(
                "no send completed for {:.1}s ({:.1}s to {:.1}s into the run) with {} open and no fault active",
                secs(now - from),
                secs(from),
                secs(now),
                p.open
            ),
        });
    }
}

fn secs(ns: Nanos) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    #[test]
    fn a_producer_silent_while_healthy_is_stalled_and_one_silent_under_a_fault_is_not() {
        let mut l = Liveness::new(10 * S);
        l.invoke(0, S);
        l.invoke(1, S);
        l.complete(1, 2 * S);
        // A fault from 3 s to 30 s: producer 0's silence there is allowed.
        l.faults_changed(true, 3 * S);
        l.faults_changed(false, 30 * S);
        l.invoke(1, 31 * S);
        l.complete(1, 32 * S);
        // Producer 0 answers 9 s after the heal: within the grace.
        l.complete(0, 39 * S);
        assert!(l.stalls.is_empty());
        // Producer 1 then holds a send 15 s with nothing active.
        l.invoke(1, 40 * S);
        l.complete(1, 55 * S);
        let stalls = l.finish();
        assert_eq!(stalls.len(), 1, "{stalls:?}");
        assert_eq!((stalls[0].producer, stalls[0].time), (1, 40 * S));
    }

    #[test]
    fn sends_never_completed_are_a_stall_at_the_end() {
        let mut l = Liveness::new(10 * S);
        l.invoke(0, S);
        l.faults_changed(true, 2 * S);
        l.faults_changed(false, 3 * S);
        l.invoke(1, 20 * S);
        l.complete(1, 21 * S);
        let stalls = l.finish();
        assert_eq!(stalls.len(), 1);
        assert_eq!(stalls[0].time, 3 * S, "counted from the heal");
    }
}
