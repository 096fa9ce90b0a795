//! Faults for eoscheck runs: what can go wrong between an idempotent producer and
//! a Kafka cluster, injected for real into the cluster's containers.
//!
//! Each fault kind is one module under `faults/` that owns everything about it,
//! Jepsen-style: its name, its plot label and colour, how long it lasts, how it is
//! injected and how it is undone. The crate knows nothing of Docker or Kafka
//! clients: the harness hands it a [`Cluster`], the narrow door through which a
//! fault reaches the brokers.
//!
//! The rules every fault keeps:
//! - targets are resolved when the fault starts, from live metadata (a leader now,
//!   not the leader at plan time);
//! - a fault starts only on a cluster that is whole again after the previous one
//!   ([`Keeper`]); one that cannot be injected or undone is reported, never
//!   silently skipped;
//! - [`Nemesis::heal_all`] undoes everything, whatever is active, and proves the
//!   cluster whole again before the final read.

mod cluster;
mod fault;
mod faults;
mod keeper;
mod nemesis;
mod schedule;

pub use cluster::{Cluster, Coordinator, NodeId, Zombie};
pub use fault::{Fault, FaultError, Workload};
pub use keeper::{Keeper, Kept, WHOLE_WITHIN};
pub use nemesis::{FaultEvent, Nemesis, Phase};
pub use schedule::{Schedule, ScheduleConfig, Step, StepAction};
