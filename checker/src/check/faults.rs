//! Which nemesis faults were active when, so every example can say what the
//! cluster was going through when its message was sent.
//!
//! The history's start/stop events are replayed in file order; each distinct
//! set of active faults gets a small number, and every send stores the number
//! current at its invoke (two bytes, not a list).

use crate::anomaly::ActiveFault;

/// Interned sets of simultaneously active faults; number 0 is "none".
pub(crate) struct Faults {
    active: Vec<ActiveFault>,
    sets: Vec<Vec<ActiveFault>>,
    current: u16,
}

impl Faults {
    pub fn new() -> Self {
        Faults {
            active: Vec::new(),
            sets: vec![Vec::new()],
            current: 0,
        }
    }

    pub fn start(&mut self, fault: &str, targets: &[String]) {
        self.active.push(ActiveFault {
            fault: fault.to_string(),
            targets: targets.to_vec(),
        });
        self.intern();
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
            self.intern();
        }
    }

    /// The number of the set active now.
    pub fn current(&self) -> u16 {
        self.current
    }

    pub fn set(&self, number: u16) -> Vec<ActiveFault> {
        self.sets[usize::from(number)].clone()
    }

    fn intern(&mut self) {
        let known = self.sets.iter().position(|s| *s == self.active);
        let at = known.unwrap_or_else(|| {
            // Past 65536 distinct sets, sends keep the last number there is;
            // the sets only feed examples.
            if self.sets.len() <= usize::from(u16::MAX) {
                self.sets.push(self.active.clone());
            }
            self.sets.len() - 1
        });
        self.current = at as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_overlapping_faults() {
        let mut f = Faults::new();
        let n1 = vec!["n1".to_string()];
        f.start("ack-loss", &n1);
        let one = f.current();
        f.start("kill-leader", &[]);
        assert_eq!(f.set(f.current()).len(), 2);
        f.stop("kill-leader", &[]);
        assert_eq!(f.current(), one);
        f.stop("ack-loss", &[]);
        assert_eq!(f.current(), 0);
        assert!(f.set(0).is_empty());
    }
}
