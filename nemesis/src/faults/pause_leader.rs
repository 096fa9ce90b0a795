//! A leader frozen mid-flight: a long GC pause or a stalled VM, as the cluster sees it.

use std::time::Duration;

use anyhow::Result;
use rand::Rng;

use super::{node_name, random_leader, Injection, Spec, Undo};
use crate::Cluster;

pub(crate) const SPEC: Spec = Spec {
    name: "pause-leader",
    label: "leader paused",
    colour: "#9d755d",
    duration: Duration::from_secs(10),
    recovery: Duration::from_secs(2),
    client_side: false,
};

pub(crate) async fn inject<C: Cluster>(cluster: &C, rng: &mut impl Rng) -> Result<Injection> {
    let (partition, leader) = random_leader(cluster, rng).await?;
    cluster.pause(leader).await?;
    Ok(Injection {
        targets: vec![node_name(leader)],
        detail: format!("kafka-{leader} (leader of partition {partition}) frozen"),
        undo: Undo::Resume(leader),
    })
}
