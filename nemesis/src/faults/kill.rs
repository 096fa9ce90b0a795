//! SIGKILL of a broker, restarted later from the same container and data.

use std::time::Duration;

use anyhow::{Context, Result};
use rand::{seq::IndexedRandom, Rng};

use super::{node_name, random_leader, Injection, Spec, Undo};
use crate::{Cluster, NodeId};

pub(crate) const LEADER: Spec = Spec {
    name: "kill-leader",
    label: "leader killed",
    colour: "#54a24b",
    duration: Duration::from_secs(10),
    recovery: Duration::from_secs(12),
    client_side: false,
};

pub(crate) const CONTROLLER: Spec = Spec {
    name: "kill-controller",
    label: "controller killed",
    colour: "#88d27a",
    duration: Duration::from_secs(10),
    recovery: Duration::from_secs(12),
    client_side: false,
};

pub(crate) const RANDOM: Spec = Spec {
    name: "kill-random",
    label: "broker killed",
    colour: "#439894",
    duration: Duration::from_secs(10),
    recovery: Duration::from_secs(12),
    client_side: false,
};

pub(crate) enum Target {
    Leader,
    Controller,
    Random,
}

pub(crate) async fn inject<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    target: Target,
) -> Result<Injection> {
    let (node, why) = match target {
        Target::Leader => {
            let (partition, leader) = random_leader(cluster, rng).await?;
            (leader, format!("leader of partition {partition}"))
        }
        Target::Controller => (cluster.controller().await?, "active controller".to_owned()),
        Target::Random => (
            serving(cluster)
                .await?
                .choose(rng)
                .copied()
                .context("no broker is up to kill")?,
            "random broker".to_owned(),
        ),
    };
    cluster.kill(node).await?;
    Ok(Injection {
        targets: vec![node_name(node)],
        detail: format!("SIGKILL of kafka-{node} ({why})"),
        undo: Undo::Restart(node),
    })
}

/// The nodes whose containers run now: a kill aims only at a broker that serves.
async fn serving<C: Cluster>(cluster: &C) -> Result<Vec<NodeId>> {
    let mut up = Vec::new();
    for node in cluster.nodes() {
        if cluster.is_up(node).await? {
            up.push(node);
        }
    }
    Ok(up)
}
