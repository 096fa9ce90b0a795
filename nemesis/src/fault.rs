use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

use crate::faults;

/// A kind of fault, by its stable name (ARCHITECTURE.md, "Stable names").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// A partition leader cut off from the other brokers.
    PartitionLeader,
    /// The brokers split into two sides that cannot reach each other.
    PartitionHalves,
    /// One link between brokers cut, so two nodes each see a different majority.
    PartitionRing,
    /// Clients cut from one partition leader, both ways.
    PartitionClientLeader,
    /// A leader's responses to clients dropped, requests still arriving: writes
    /// land but their acknowledgements never come back.
    AckLoss,
    /// SIGKILL of a partition leader, restarted later with its data.
    KillLeader,
    /// SIGKILL of the active KRaft controller, restarted later.
    KillController,
    /// SIGKILL of a random broker, restarted later.
    KillRandom,
    /// A partition leader frozen (SIGSTOP semantics), then resumed.
    PauseLeader,
    /// Latency, jitter and packet loss on one broker's network interface.
    Netem,
    /// Leadership of a partition moved to another in-sync replica.
    LeaderTransfer,
    /// A producer of the workload restarted: it comes back with a new producer id.
    ClientCrash,
    /// A second instance of a transactional producer, with its
    /// `transactional.id`, started while the first is mid-transaction.
    Zombie,
    /// SIGKILL of the transaction coordinator of a producer's
    /// `transactional.id` (the leader of its `__transaction_state`
    /// partition), restarted later.
    KillTxnCoordinator,
    /// Clients cut from a producer's transaction coordinator, both ways.
    PartitionTxnCoordinator,
    /// A transaction coordinator's responses to clients dropped: EndTxn and
    /// AddPartitionsToTxn take effect, their answers never come back.
    AckLossTxnCoordinator,
}

impl Fault {
    pub const ALL: [Fault; 16] = [
        Fault::PartitionLeader,
        Fault::PartitionHalves,
        Fault::PartitionRing,
        Fault::PartitionClientLeader,
        Fault::AckLoss,
        Fault::KillLeader,
        Fault::KillController,
        Fault::KillRandom,
        Fault::PauseLeader,
        Fault::Netem,
        Fault::LeaderTransfer,
        Fault::ClientCrash,
        Fault::Zombie,
        Fault::KillTxnCoordinator,
        Fault::PartitionTxnCoordinator,
        Fault::AckLossTxnCoordinator,
    ];

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// How the report labels the fault's intervals.
    pub fn label(self) -> &'static str {
        self.spec().label
    }

    /// The colour of the fault's shaded intervals in plots (CSS colour).
    pub fn colour(self) -> &'static str {
        self.spec().colour
    }

    /// How long the fault stays active in a schedule.
    pub fn duration(self) -> Duration {
        self.spec().duration
    }

    /// How long the cluster takes to recover after the fault's undo.
    pub fn recovery(self) -> Duration {
        self.spec().recovery
    }

    pub(crate) fn spec(self) -> &'static faults::Spec {
        faults::spec(self)
    }

    /// Whether the fault needs producers that send in transactions.
    pub fn needs_transactions(self) -> bool {
        matches!(
            self,
            Fault::Zombie
                | Fault::KillTxnCoordinator
                | Fault::PartitionTxnCoordinator
                | Fault::AckLossTxnCoordinator
        )
    }

    /// Whether the fault can be injected into a workload whose producers are
    /// `transactional` or not.
    pub fn applies(self, transactional: bool) -> bool {
        transactional || !self.needs_transactions()
    }

    /// Parses `--nemesis`: a comma-separated list of names, `all` or `none`,
    /// for a workload whose producers are `transactional` or not: `all` means
    /// every fault that applies to it. A list that names nothing, `none` beside
    /// a fault, or a fault that cannot apply is refused: each would silently
    /// run something other than what was asked.
    pub fn parse_list(list: &str, transactional: bool) -> Result<Vec<Fault>, FaultError> {
        let names: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Err(FaultError::Empty);
        }
        if let Some(other) = names
            .iter()
            .find(|&&n| n != "none")
            .filter(|_| names.contains(&"none"))
        {
            return Err(FaultError::NoneWith((*other).to_owned()));
        }
        let mut faults = Vec::new();
        for name in names {
            match name {
                "all" => faults.extend(Fault::ALL.into_iter().filter(|f| f.applies(transactional))),
                "none" => {}
                _ => {
                    let fault: Fault = name.parse()?;
                    if !fault.applies(transactional) {
                        return Err(FaultError::NeedsTransactions(fault));
                    }
                    faults.push(fault);
                }
            }
        }
        faults.sort();
        faults.dedup();
        Ok(faults)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = FaultError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| FaultError::Unknown(name.to_owned()))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum FaultError {
    Unknown(String),
    /// The list names nothing.
    Empty,
    /// `none` beside a fault (or `all`).
    NoneWith(String),
    /// A fault named for producers that send no transactions.
    NeedsTransactions(Fault),
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultError::Unknown(name) => {
                let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                write!(
                    f,
                    "unknown fault {name:?}; known faults: {}, all, none",
                    names.join(", ")
                )
            }
            FaultError::Empty => f.write_str(
                "the fault list names no fault; give fault names, `all`, or `none` for a run without faults",
            ),
            FaultError::NoneWith(other) => write!(
                f,
                "`none` and {other:?} contradict each other; give `none` alone for a run without faults"
            ),
            FaultError::NeedsTransactions(fault) => write!(
                f,
                "{fault} needs producers that send in transactions (a transactional preset: transactional, transactional-resend)"
            ),
        }
    }
}

impl std::error::Error for FaultError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>().unwrap(), fault);
            assert_eq!(
                serde_json::to_string(&fault).unwrap(),
                format!("\"{}\"", fault.name())
            );
        }
    }

    #[test]
    fn lists_expand_all_and_none_and_reject_typos() {
        assert_eq!(Fault::parse_list("all", true).unwrap().len(), 16);
        assert!(Fault::parse_list("none", false).unwrap().is_empty());
        assert_eq!(
            Fault::parse_list("kill-leader, ack-loss,kill-leader", false).unwrap(),
            vec![Fault::AckLoss, Fault::KillLeader]
        );
        assert_eq!(Fault::parse_list(" , ", false), Err(FaultError::Empty));
        assert_eq!(Fault::parse_list("", false), Err(FaultError::Empty));
        assert_eq!(
            Fault::parse_list("all,none", false),
            Err(FaultError::NoneWith("all".into()))
        );
        assert_eq!(
            Fault::parse_list("none,kill-leader", false),
            Err(FaultError::NoneWith("kill-leader".into()))
        );
        let err = Fault::parse_list("ack-los", false).unwrap_err().to_string();
        assert!(
            err.contains("\"ack-los\"") && err.contains("ack-loss"),
            "{err}"
        );
    }

    #[test]
    fn the_zombie_applies_only_to_transactional_producers() {
        let plain = Fault::parse_list("all", false).unwrap();
        assert_eq!(plain.len(), 12);
        assert!(plain.iter().all(|f| !f.needs_transactions()));
        assert!(!plain.contains(&Fault::Zombie));
        assert!(Fault::parse_list("all", true)
            .unwrap()
            .contains(&Fault::Zombie));
        assert_eq!(
            Fault::parse_list("kill-leader,zombie", false),
            Err(FaultError::NeedsTransactions(Fault::Zombie))
        );
        let err = FaultError::NeedsTransactions(Fault::Zombie).to_string();
        assert!(err.contains("transactional preset"), "{err}");
        assert_eq!(
            Fault::parse_list("zombie", true).unwrap(),
            vec![Fault::Zombie]
        );
    }
}
