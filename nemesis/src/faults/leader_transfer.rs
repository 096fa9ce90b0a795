//! A clean leadership move, as an operator's preferred-leader election makes one.

use std::time::Duration;

use anyhow::{Context, Result};
use rand::{seq::IndexedRandom, Rng};

use super::{node_name, random_leader, Injection, Spec, Undo};
use crate::{Cluster, NodeId};

pub(crate) const SPEC: Spec = Spec {
    name: "leader-transfer",
    label: "leadership moved",
    colour: "#ff9da6",
    duration: Duration::from_secs(5),
    recovery: Duration::from_secs(0),
    client_side: false,
};

pub(crate) async fn inject<C: Cluster>(cluster: &C, rng: &mut impl Rng) -> Result<Injection> {
    let (partition, leader) = random_leader(cluster, rng).await?;
    // Only an in-sync replica can take leadership cleanly; a move to one
    // still catching up would be an unclean election, another fault.
    let others: Vec<NodeId> = cluster
        .in_sync(partition)
        .await?
        .into_iter()
        .filter(|&n| n != leader)
        .collect();
    let to = *others.choose(rng).with_context(|| {
        format!("partition {partition} has no in-sync replica besides its leader kafka-{leader}")
    })?;
    cluster.transfer_leadership(partition, to).await?;
    Ok(Injection {
        targets: vec![node_name(leader), node_name(to)],
        detail: format!(
            "leadership of partition {partition} moved from kafka-{leader} to kafka-{to}"
        ),
        undo: Undo::Nothing,
    })
}
