//! What a configuration promises. The verdict judges only promised
//! guarantees; every anomaly names the guarantees it breaks.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One property of the final log that a producer configuration can promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guarantee {
    /// Every acknowledged message is in the log, where the acknowledgement said.
    NoLoss,
    /// No message is in the log more than once, and nothing is there that
    /// was never sent.
    NoDuplicates,
    /// Within one producer session and partition, the log keeps send order.
    Order,
    /// A transaction is all or nothing: every message of it is committed or
    /// none is, a transaction the client aborted commits nothing, and a
    /// producer fenced by another instance with its `transactional.id` gets
    /// nothing more committed.
    Atomicity,
}

impl Guarantee {
    pub const ALL: [Guarantee; 4] = [
        Guarantee::NoLoss,
        Guarantee::NoDuplicates,
        Guarantee::Order,
        Guarantee::Atomicity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Guarantee::NoLoss => "no-loss",
            Guarantee::NoDuplicates => "no-duplicates",
            Guarantee::Order => "order",
            Guarantee::Atomicity => "atomicity",
        }
    }

    /// Parses a comma-separated list of guarantees and aliases, e.g.
    /// `exactly-once,order`. Aliases:
    /// `exactly-once` = no-loss + no-duplicates (each message exactly once;
    /// order is a separate promise, named on its own, because a producer can
    /// keep every message exactly once and still reorder them);
    /// `at-least-once` = no-loss; `at-most-once` = no-duplicates.
    /// The result is sorted and without repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Guarantee>, String> {
        let mut out = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "exactly-once" => out.extend([Guarantee::NoLoss, Guarantee::NoDuplicates]),
                "at-least-once" => out.push(Guarantee::NoLoss),
                "at-most-once" => out.push(Guarantee::NoDuplicates),
                other => out.push(other.parse()?),
            }
        }
        if out.is_empty() {
            return Err("no guarantee given; name at least one of no-loss, no-duplicates, order, atomicity, exactly-once, at-least-once, at-most-once".into());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl FromStr for Guarantee {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Guarantee::ALL.into_iter().find(|g| g.name() == s).ok_or_else(|| {
            format!("unknown guarantee '{s}'; known: no-loss, no-duplicates, order, atomicity, exactly-once, at-least-once, at-most-once")
        })
    }
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Guarantee::*;

    #[test]
    fn aliases_expand_and_merge() {
        assert_eq!(
            Guarantee::parse_list("exactly-once,order").unwrap(),
            vec![NoLoss, NoDuplicates, Order]
        );
        assert_eq!(
            Guarantee::parse_list("at-least-once, no-loss").unwrap(),
            vec![NoLoss]
        );
        assert_eq!(
            Guarantee::parse_list("at-most-once").unwrap(),
            vec![NoDuplicates]
        );
        assert!(Guarantee::parse_list("exactly-twice")
            .unwrap_err()
            .contains("unknown guarantee 'exactly-twice'"));
        assert!(Guarantee::parse_list(" , ").is_err());
    }
}
