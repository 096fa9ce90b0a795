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
}

impl Fault {
    pub const ALL: [Fault; 12] = [
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

    /// Parses `--nemesis`: a comma-separated list of names, `all` or `none`.
    /// A list that names nothing, or `none` beside a fault, is refused: either
    /// would silently run something other than what was asked.
    pub fn parse_list(list: &str) -> Result<Vec<Fault>, FaultError> {
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
                "all" => faults.extend(Fault::ALL),
                "none" => {}
                _ => faults.push(name.parse()?),
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
        assert_eq!(Fault::parse_list("all").unwrap().len(), 12);
        assert!(Fault::parse_list("none").unwrap().is_empty());
        assert_eq!(
            Fault::parse_list("kill-leader, ack-loss,kill-leader").unwrap(),
            vec![Fault::AckLoss, Fault::KillLeader]
        );
        assert_eq!(Fault::parse_list(" , "), Err(FaultError::Empty));
        assert_eq!(Fault::parse_list(""), Err(FaultError::Empty));
        assert_eq!(
            Fault::parse_list("all,none"),
            Err(FaultError::NoneWith("all".into()))
        );
        assert_eq!(
            Fault::parse_list("none,kill-leader"),
            Err(FaultError::NoneWith("kill-leader".into()))
        );
        let err = Fault::parse_list("ack-los").unwrap_err().to_string();
        assert!(
            err.contains("\"ack-los\"") && err.contains("ack-loss"),
            "{err}"
        );
    }
}
