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
    /// A pipeline's processor frozen (SIGSTOP) for longer than its group
    /// session, then thawed: a zombie whose partitions went to another.
    PauseProcessor,
    /// SIGKILL of a pipeline's group coordinator (the leader of the
    /// `__consumer_offsets` partition its group hashes to), restarted later.
    KillGroupCoordinator,
    /// Clients cut from a pipeline's group coordinator, both ways.
    PartitionGroupCoordinator,
}

/// What the faults are injected into: which of them can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Producers that send without transactions.
    Produce,
    /// Producers that send in transactions.
    Transactional,
    /// A pipeline: processors in a consumer group, fed in transactions.
    Pipeline,
}

impl Fault {
    pub const ALL: [Fault; 19] = [
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
        Fault::PauseProcessor,
        Fault::KillGroupCoordinator,
        Fault::PartitionGroupCoordinator,
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

    /// Whether the fault acts on the clients alone, never on a broker: what
    /// a cluster eoscheck does not run allows.
    pub fn client_side(self) -> bool {
        self.spec().client_side
    }

    pub(crate) fn spec(self) -> &'static faults::Spec {
        faults::spec(self)
    }

    /// Whether the fault can be injected into `workload`.
    pub fn applies(self, workload: Workload) -> bool {
        match self {
            Fault::Zombie => workload == Workload::Transactional,
            Fault::KillTxnCoordinator
            | Fault::PartitionTxnCoordinator
            | Fault::AckLossTxnCoordinator => workload != Workload::Produce,
            Fault::PauseProcessor
            | Fault::KillGroupCoordinator
            | Fault::PartitionGroupCoordinator => workload == Workload::Pipeline,
            _ => true,
        }
    }

    /// What a workload needs for the fault to apply, for the error that
    /// refuses it.
    fn needs(self) -> &'static str {
        match self {
            Fault::Zombie => "producers that send in transactions (a transactional preset: transactional, transactional-resend); a pipeline's processors meet client-crash and pause-processor",
            Fault::PauseProcessor
            | Fault::KillGroupCoordinator
            | Fault::PartitionGroupCoordinator => "a pipeline (--workload pipeline)",
            _ => "producers that send in transactions (a transactional preset: transactional, transactional-resend, or a pipeline)",
        }
    }

    /// Parses `--nemesis`: a comma-separated list of names, `all` or `none`,
    /// for a workload whose producers are `transactional` or not: `all` means
    /// every fault that applies to it. A list that names nothing, `none` beside
    /// a fault, or a fault that cannot apply is refused: each would silently
    /// run something other than what was asked.
    pub fn parse_list(list: &str, workload: Workload) -> Result<Vec<Fault>, FaultError> {
        Self::parse(list, workload, true)
    }

    /// [`Fault::parse_list`] for a cluster eoscheck does not run, whose
    /// brokers it cannot touch: `all` means every client-side fault that
    /// applies, and a fault that acts on a broker is refused.
    pub fn parse_list_client_side(
        list: &str,
        workload: Workload,
    ) -> Result<Vec<Fault>, FaultError> {
        Self::parse(list, workload, false)
    }

    fn parse(list: &str, workload: Workload, brokers: bool) -> Result<Vec<Fault>, FaultError> {
        let reachable = |f: &Fault| f.applies(workload) && (brokers || f.client_side());
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
                "all" => faults.extend(Fault::ALL.into_iter().filter(reachable)),
                "none" => {}
                _ => {
                    let fault: Fault = name.parse()?;
                    if !fault.applies(workload) {
                        return Err(FaultError::DoesNotApply(fault));
                    }
                    if !reachable(&fault) {
                        return Err(FaultError::NeedsBrokers(fault));
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
    /// A fault named for a workload it cannot apply to.
    DoesNotApply(Fault),
    /// A fault that acts on a broker, named for a cluster eoscheck does not
    /// run.
    NeedsBrokers(Fault),
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
            FaultError::DoesNotApply(fault) => write!(f, "{fault} needs {}", fault.needs()),
            FaultError::NeedsBrokers(fault) => {
                let able: Vec<&str> = Fault::ALL
                    .iter()
                    .filter(|f| f.client_side())
                    .map(|f| f.name())
                    .collect();
                write!(
                    f,
                    "{fault} needs the brokers' containers; eoscheck can only crash, pause and fence clients on a cluster it does not run ({})",
                    able.join(", ")
                )
            }
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
        assert_eq!(
            Fault::parse_list("all", Workload::Transactional)
                .unwrap()
                .len(),
            16
        );
        assert!(Fault::parse_list("none", Workload::Produce)
            .unwrap()
            .is_empty());
        assert_eq!(
            Fault::parse_list("kill-leader, ack-loss,kill-leader", Workload::Produce).unwrap(),
            vec![Fault::AckLoss, Fault::KillLeader]
        );
        assert_eq!(
            Fault::parse_list(" , ", Workload::Produce),
            Err(FaultError::Empty)
        );
        assert_eq!(
            Fault::parse_list("", Workload::Produce),
            Err(FaultError::Empty)
        );
        assert_eq!(
            Fault::parse_list("all,none", Workload::Produce),
            Err(FaultError::NoneWith("all".into()))
        );
        assert_eq!(
            Fault::parse_list("none,kill-leader", Workload::Produce),
            Err(FaultError::NoneWith("kill-leader".into()))
        );
        let err = Fault::parse_list("ack-los", Workload::Produce)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"ack-los\"") && err.contains("ack-loss"),
            "{err}"
        );
    }

    #[test]
    fn a_cluster_eoscheck_does_not_run_takes_client_side_faults_only() {
        let client_side = |w| Fault::parse_list_client_side("all", w).unwrap();
        assert_eq!(client_side(Workload::Produce), vec![Fault::ClientCrash]);
        assert_eq!(
            client_side(Workload::Transactional),
            vec![Fault::ClientCrash, Fault::Zombie]
        );
        assert_eq!(
            client_side(Workload::Pipeline),
            vec![Fault::ClientCrash, Fault::PauseProcessor]
        );
        assert_eq!(
            Fault::parse_list_client_side("client-crash,kill-leader", Workload::Produce),
            Err(FaultError::NeedsBrokers(Fault::KillLeader))
        );
        // A fault that fits no such workload says so first.
        assert_eq!(
            Fault::parse_list_client_side("zombie", Workload::Produce),
            Err(FaultError::DoesNotApply(Fault::Zombie))
        );
        let err = FaultError::NeedsBrokers(Fault::KillLeader).to_string();
        assert!(
            err.contains("kill-leader needs the brokers' containers")
                && err.contains("client-crash, zombie, pause-processor"),
            "{err}"
        );
    }

    #[test]
    fn each_fault_applies_to_the_workloads_it_can_reach() {
        let plain = Fault::parse_list("all", Workload::Produce).unwrap();
        assert_eq!(plain.len(), 12);
        assert!(!plain.contains(&Fault::Zombie));
        let transactional = Fault::parse_list("all", Workload::Transactional).unwrap();
        assert!(transactional.contains(&Fault::Zombie));
        assert!(!transactional.contains(&Fault::PauseProcessor));
        let pipeline = Fault::parse_list("all", Workload::Pipeline).unwrap();
        assert_eq!(pipeline.len(), 18);
        assert!(!pipeline.contains(&Fault::Zombie));
        assert!(pipeline.contains(&Fault::KillTxnCoordinator));
        assert!(pipeline.contains(&Fault::KillGroupCoordinator));
        assert_eq!(
            Fault::parse_list("kill-leader,zombie", Workload::Produce),
            Err(FaultError::DoesNotApply(Fault::Zombie))
        );
        let err = FaultError::DoesNotApply(Fault::Zombie).to_string();
        assert!(err.contains("transactional preset"), "{err}");
        let err = Fault::parse_list("pause-processor", Workload::Transactional)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--workload pipeline"), "{err}");
        assert_eq!(
            Fault::parse_list("zombie", Workload::Transactional).unwrap(),
            vec![Fault::Zombie]
        );
    }
}
