//! Which nemesis faults were active when, so every example can say what the
//! cluster went through while its message was on the way.
//!
//! A send is exposed to every fault active at any moment between its invoke
//! and its completion: a duplicate whose send and ack straddle a leader's
//! kill on another broker was made by that kill, although the kill began
//! after the invoke and ended before the ack. So the history's start/stop
//! events are replayed in file order and numbered (change 0 is the start,
//! with nothing active); each distinct set of faults is interned as a small
//! number. A send stores, in two bytes, the change current at its invoke,
//! and at its completion that is replaced by the number of the union of the
//! sets active from that change to the current one. A send that never
//! completed keeps its invoke's change, and its examples name every fault
//! from there to the end of the history (the heal stops them all).

use super::hashing::FastMap;
use crate::anomaly::ActiveFault;

/// Interned sets of faults; set number 0 is "none".
pub(crate) struct Faults {
    active: Vec<ActiveFault>,
    sets: Vec<Vec<ActiveFault>>,
    /// The set active after each change, by change number.
    changes: Vec<u16>,
    /// The union set of each span of changes asked for so far.
    spans: FastMap<(u16, u16), u16>,
}

impl Faults {
    pub fn new() -> Self {
        Faults {
            active: Vec::new(),
            sets: vec![Vec::new()],
            changes: vec![0],
            spans: FastMap::default(),
        }
    }

    pub fn start(&mut self, fault: &str, targets: &[String]) {
        self.active.push(ActiveFault {
            fault: fault.to_string(),
            targets: targets.to_vec(),
        });
        self.changed();
    }

    /// Ends the matching active fault: same name and targets, or failing
    /// that the oldest of the same name (a stop may omit its targets).
    pub fn stop(&mut self, fault: &str, targets: &[String]) {
        let found = self
            .active
            .iter()
            .position(|a| a.fault == fault && a.targets == targets)
            .or_else(|| self.active.iter().position(|a| a.fault == fault));
        if let Some(at) = found {
            self.active.remove(at);
            self.changed();
        }
    }

    /// Whether any fault is active now.
    pub fn any_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// The number of the latest change, for a send invoked now. Past 65535
    /// changes, sends keep the last number there is; the sets only feed
    /// examples.
    pub fn change(&self) -> u16 {
        (self.changes.len() - 1) as u16
    }

    /// The number of the set of every fault active from change `since` until
    /// now, for a send completing now.
    #[inline]
    pub fn during(&mut self, since: u16) -> u16 {
        let now = self.change();
        if since >= now {
            return self.changes[usize::from(now)];
        }
        if let Some(&set) = self.spans.get(&(since, now)) {
            return set;
        }
        let union = self.union(since, now);
        let set = self.intern(union);
        self.spans.insert((since, now), set);
        set
    }

    /// Every fault active from change `since` to the end, for a send that
    /// never completed.
    pub fn since(&self, since: u16) -> Vec<ActiveFault> {
        self.union(since, self.change())
    }

    pub fn set(&self, number: u16) -> Vec<ActiveFault> {
        self.sets[usize::from(number)].clone()
    }

    /// The faults of the sets after changes `from..=to`, each once, in the
    /// order they first appear.
    fn union(&self, from: u16, to: u16) -> Vec<ActiveFault> {
        let mut union: Vec<ActiveFault> = Vec::new();
        for &set in &self.changes[usize::from(from)..=usize::from(to)] {
            for fault in &self.sets[usize::from(set)] {
                if !union.contains(fault) {
                    union.push(fault.clone());
                }
            }
        }
        union
    }

    fn changed(&mut self) {
        if self.changes.len() > usize::from(u16::MAX) {
            return;
        }
        let set = self.intern(self.active.clone());
        self.changes.push(set);
    }

    fn intern(&mut self, set: Vec<ActiveFault>) -> u16 {
        if let Some(known) = self.sets.iter().position(|s| *s == set) {
            return known as u16;
        }
        // Past 65536 distinct sets, the last one stands for the rest.
        if self.sets.len() <= usize::from(u16::MAX) {
            self.sets.push(set);
        }
        (self.sets.len() - 1) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: &[ActiveFault]) -> Vec<&str> {
        set.iter().map(|f| f.fault.as_str()).collect()
    }

    #[test]
    fn tracks_overlapping_faults() {
        let mut f = Faults::new();
        let n1 = vec!["n1".to_string()];
        f.start("ack-loss", &n1);
        let one = f.change();
        f.start("kill-leader", &[]);
        let now = f.during(f.change());
        assert_eq!(f.set(now).len(), 2);
        f.stop("kill-leader", &[]);
        let now = f.during(f.change());
        assert_eq!(names(&f.set(now)), ["ack-loss"]);
        let through = f.during(one);
        assert_eq!(
            names(&f.set(through)),
            ["ack-loss", "kill-leader"],
            "a send invoked before the kill and completed after it went through it"
        );
        f.stop("ack-loss", &[]);
        let now = f.during(f.change());
        assert!(f.set(now).is_empty() && !f.any_active());
    }

    #[test]
    fn a_fault_wholly_inside_a_send_is_named_and_one_after_it_is_not() {
        let mut f = Faults::new();
        let invoked = f.change();
        f.start("kill-leader", &[]);
        f.stop("kill-leader", &[]);
        let completed = f.during(invoked);
        f.start("netem", &[]);
        assert_eq!(names(&f.set(completed)), ["kill-leader"]);
        assert_eq!(
            names(&f.since(invoked)),
            ["kill-leader", "netem"],
            "a send never completed is exposed to everything until the end"
        );
        assert_eq!(f.during(invoked), f.during(invoked), "spans are interned");
    }
}
