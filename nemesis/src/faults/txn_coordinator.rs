//! Faults at a producer's transaction coordinator: the broker leading the
//! `__transaction_state` partition its `transactional.id` hashes to, which
//! answers its InitProducerId, AddPartitionsToTxn and EndTxn and writes the
//! COMMIT and ABORT markers. Killing it moves the transaction log's
//! leadership mid-commit; cutting it from the clients, or dropping only its
//! answers, leaves the client not knowing whether a commit took effect: the
//! indeterminate commits `transactional-resend` resends after, and the
//! delayed EndTxn of KAFKA-17754.

use std::time::Duration;

use anyhow::{Context, Result};
use rand::{seq::IndexedRandom, Rng};

use super::{
    against_clients, cut_from_clients, node_name, responses_dropped, Injection, Spec, Undo,
};
use crate::{Cluster, Fault};

pub(crate) const KILL: Spec = Spec {
    name: "kill-txn-coordinator",
    label: "transaction coordinator killed",
    colour: "#2ca02c",
    duration: Duration::from_secs(10),
    recovery: Duration::from_secs(12),
};

pub(crate) const PARTITION: Spec = Spec {
    name: "partition-txn-coordinator",
    label: "clients cut from a transaction coordinator",
    colour: "#d62790",
    duration: Duration::from_secs(12),
    recovery: Duration::from_secs(0),
};

pub(crate) const ACK_LOSS: Spec = Spec {
    name: "ack-loss-txn-coordinator",
    label: "transaction coordinator's answers lost",
    colour: "#17becf",
    duration: Duration::from_secs(15),
    recovery: Duration::from_secs(0),
};

/// Picks one producer's coordinator at random and does `fault` to it.
pub(crate) async fn inject<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
) -> Result<Injection> {
    let coordinators = cluster.txn_coordinators().await?;
    let (id, node) = coordinators
        .choose(rng)
        .cloned()
        .context("no producer has a transactional.id with a coordinator")?;
    let whose = format!("transaction coordinator of {id}");
    let client = cluster.client_ip();
    match fault {
        Fault::KillTxnCoordinator => {
            cluster.kill(node).await?;
            Ok(Injection {
                targets: vec![node_name(node)],
                detail: format!("SIGKILL of kafka-{node} ({whose})"),
                undo: Undo::Restart(node),
            })
        }
        Fault::PartitionTxnCoordinator => {
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
