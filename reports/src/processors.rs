//! A pipeline's processors as the history tells them, for the report: each
//! slot's instances (started, and how each ended), the input partitions it
//! held and when, and the records its polls delivered and its committed
//! transactions (at least once: offset commits) covered, over time.
//!
//! What the processors *delivered* is the consumer's side; what they
//! *committed* is what a restart would not redo. The gap between the two
//! lines is input in flight; a crash shows as a step where the committed
//! line waits and the delivered one repeats.

use std::collections::HashMap;

use checker::history::ProcResult;
use checker::ids::{Partition, Processor, Txn};

use crate::timeline::seconds;
use checker::history::Nanos;

/// One processor instance in its slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub slot: Processor,
    pub start: f64,
    /// When it ended, and why (`closed`, `crashed: …`, `fatal: …`).
    pub end: Option<(f64, String)>,
}

/// A stretch of time a slot held a set of input partitions.
#[derive(Clone, Debug, PartialEq)]
pub struct Holding {
    pub slot: Processor,
    pub start: f64,
    pub end: Option<f64>,
    pub partitions: Vec<Partition>,
}

/// Records delivered by one poll, or covered by one committed transaction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Records {
    pub time: f64,
    pub count: u64,
}

/// Everything the report shows of the processors.
#[derive(Debug, Default)]
pub struct Processors {
    pub instances: Vec<Instance>,
    pub holdings: Vec<Holding>,
    pub delivered: Vec<Records>,
    pub committed: Vec<Records>,
    /// Records each open transaction's polls delivered.
    open: HashMap<(Processor, Txn), u64>,
}

impl Processors {
    pub fn start(&mut self, time: Nanos, slot: Processor) {
        self.instances.push(Instance {
            slot,
            start: seconds(time),
            end: None,
        });
    }

    pub fn stop(&mut self, time: Nanos, slot: Processor, why: &str) {
        let t = seconds(time);
        let running = self.instances.iter_mut().rev().find(|i| i.slot == slot);
        if let Some(instance) = running.filter(|i| i.end.is_none()) {
            instance.end = Some((t, why.to_owned()));
        }
        self.release(t, slot);
    }

    /// The slot now holds `partitions` (an assignment replaces what it had).
    pub fn assign(&mut self, time: Nanos, slot: Processor, partitions: &[Partition]) {
        let t = seconds(time);
        self.release(t, slot);
        if !partitions.is_empty() {
            self.holdings.push(Holding {
                slot,
                start: t,
                end: None,
                partitions: partitions.to_vec(),
            });
        }
    }

    /// The slot gave up `partitions`; it keeps the rest.
    pub fn revoke(&mut self, time: Nanos, slot: Processor, partitions: &[Partition]) {
        let held = self.held(slot);
        let kept: Vec<Partition> = held
            .into_iter()
            .filter(|p| !partitions.contains(p))
            .collect();
        self.assign(time, slot, &kept);
    }

    pub fn poll(&mut self, time: Nanos, slot: Processor, txn: Txn, count: u64) {
        *self.open.entry((slot, txn)).or_default() += count;
        self.delivered.push(Records {
            time: seconds(time),
            count,
        });
    }

    pub fn commit(&mut self, time: Nanos, slot: Processor, txn: Txn, result: ProcResult) {
        let count = self.open.remove(&(slot, txn)).unwrap_or(0);
        if result == ProcResult::Committed && count > 0 {
            self.committed.push(Records {
                time: seconds(time),
                count,
            });
        }
    }

    /// How many slots the history shows.
    pub fn slots(&self) -> Processor {
        let most = self.instances.iter().map(|i| i.slot + 1).max();
        most.unwrap_or(0)
    }

    fn held(&self, slot: Processor) -> Vec<Partition> {
        let open = self
            .holdings
            .iter()
            .rev()
            .find(|h| h.slot == slot && h.end.is_none());
        open.map(|h| h.partitions.clone()).unwrap_or_default()
    }

    fn release(&mut self, t: f64, slot: Processor) {
        for h in self.holdings.iter_mut().filter(|h| h.slot == slot) {
            h.end.get_or_insert(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    #[test]
    fn holdings_follow_assignments_revocations_and_the_end() {
        let mut p = Processors::default();
        p.start(S, 0);
        p.assign(2 * S, 0, &[0, 1, 2]);
        p.revoke(5 * S, 0, &[2]);
        p.stop(9 * S, 0, "crashed: killed by the nemesis");
        let spans: Vec<(f64, Option<f64>, Vec<Partition>)> = p
            .holdings
            .iter()
            .map(|h| (h.start, h.end, h.partitions.clone()))
            .collect();
        assert_eq!(
            spans,
            vec![
                (2.0, Some(5.0), vec![0, 1, 2]),
                (5.0, Some(9.0), vec![0, 1])
            ]
        );
        assert_eq!(
            p.instances[0].end.as_ref().unwrap().1,
            "crashed: killed by the nemesis"
        );
        assert_eq!(p.slots(), 1);
    }

    #[test]
    fn a_transaction_commits_what_its_polls_delivered_and_an_abort_nothing() {
        let mut p = Processors::default();
        p.poll(S, 1, 7, 10);
        p.poll(S, 1, 7, 5);
        p.poll(S, 0, 3, 4);
        p.commit(2 * S, 1, 7, ProcResult::Committed);
        p.commit(2 * S, 0, 3, ProcResult::Aborted);
        assert_eq!(p.delivered.iter().map(|r| r.count).sum::<u64>(), 19);
        assert_eq!(
            p.committed,
            vec![Records {
                time: 2.0,
                count: 15
            }]
        );
    }
}
