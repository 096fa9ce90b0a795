//! Faults at a coordinator: the broker leading the internal partition a key
//! hashes to.
//!
//! A producer's transaction coordinator (its `transactional.id` in
//! `__transaction_state`) answers its InitProducerId, AddPartitionsToTxn
//! and EndTxn and writes the COMMIT and ABORT markers. Killing it moves the
//! transaction log's leadership mid-commit; cutting it from the clients, or
//! dropping only its answers, leaves the client not knowing whether a commit
//! took effect: the indeterminate commits `transactional-resend` resends
//! after, and the delayed EndTxn of KAFKA-17754.
//!
//! A pipeline's group coordinator (its group in `__consumer_offsets`) runs
//! the group's rebalances and keeps its committed offsets, including those
//! a transaction sends (TxnOffsetCommit, made visible by the COMMIT marker
//! it is written too). Killing or cutting it mid-run stalls rebalances and
//! offset commits while transactions go on.

use std::time::Duration;

use anyhow::{Context, Result};
use rand::{seq::IndexedRandom, Rng};

use super::{
    against_clients, cut_from_clients, node_name, responses_dropped, Injection, Spec, Undo,
};
use crate::{Cluster, Coordinator, Fault};

pub(crate) const KILL_TXN: Spec = Spec {
    name: "kill-txn-coordinator",
    label: "transaction coordinator killed",
    colour: "#2ca02c",
    duration: Duration::from_secs(10),
    recovery: Duration::from_secs(12),
    client_side: false,
};

pub(crate) const PARTITION_TXN: Spec = Spec {
    name: "partition-txn-coordinator",
    label: "clients cut from a transaction coordinator",
    colour: "#d62790",
    duration: Duration::from_secs(12),
    recovery: Duration::from_secs(0),
    client_side: false,
};

pub(crate) const ACK_LOSS_TXN: Spec = Spec {
    name: "ack-loss-txn-coordinator",
    label: "transaction coordinator's answers lost",
    colour: "#17becf",
    duration: Duration::from_secs(15),
    recovery: Duration::from_secs(0),
    client_side: false,
};

/// As long as a broker kill's, for the same restart.
pub(crate) const KILL_GROUP: Spec = Spec {
    name: "kill-group-coordinator",
    label: "group coordinator killed",
    colour: "#8c564b",
    duration: Duration::from_secs(10),
    recovery: Duration::from_secs(12),
    client_side: false,
};

/// Longer than the processors' session (6 s): the group coordinator,
/// unreachable, cannot hear their heartbeats either way.
pub(crate) const PARTITION_GROUP: Spec = Spec {
    name: "partition-group-coordinator",
    label: "clients cut from the group coordinator",
    colour: "#e377c2",
    duration: Duration::from_secs(12),
    recovery: Duration::from_secs(0),
    client_side: false,
};

/// Picks one coordinator of the kind `fault` goes for at random, and does
/// `fault` to it.
pub(crate) async fn inject<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
) -> Result<Injection> {
    let kind = match fault {
        Fault::KillGroupCoordinator | Fault::PartitionGroupCoordinator => Coordinator::Group,
        _ => Coordinator::Transaction,
    };
    let coordinators = cluster.coordinators(kind).await?;
    let (key, node) = coordinators
        .choose(rng)
        .cloned()
        .context("nothing of the run has a coordinator of that kind")?;
    let whose = match kind {
        Coordinator::Transaction => format!("transaction coordinator of {key}"),
        Coordinator::Group => format!("coordinator of group {key}"),
    };
    let client = cluster.client_ip();
    match fault {
        Fault::KillTxnCoordinator | Fault::KillGroupCoordinator => {
            cluster.kill(node).await?;
            Ok(Injection {
                targets: vec![node_name(node)],
                detail: format!("SIGKILL of kafka-{node} ({whose})"),
                undo: Undo::Restart(node),
            })
        }
        Fault::PartitionTxnCoordinator | Fault::PartitionGroupCoordinator => {
            let detail = format!("clients ({client}) cut from kafka-{node}, the {whose}");
            against_clients(cluster, node, fault, &cut_from_clients(&client), detail).await
        }
        _ => {
            let detail =
                format!("answers of kafka-{node}, the {whose}, to clients ({client}) dropped");
            against_clients(cluster, node, fault, &responses_dropped(&client), detail).await
        }
    }
}
