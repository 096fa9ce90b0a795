//! A slow, lossy network on one broker: delayed and dropped packets both ways.

use std::time::Duration;

use anyhow::Result;
use rand::Rng;

use super::{net, node_name, random_leader, Injection, Spec, Undo};
use crate::Cluster;

pub(crate) const SPEC: Spec = Spec {
    name: "netem",
    label: "latency + loss",
    colour: "#bab0ac",
    duration: Duration::from_secs(15),
};

/// Applied to a leader, where it slows both produce responses and replication.
const NETEM: &str = "delay 60ms 30ms distribution normal loss 5%";

pub(crate) async fn inject<C: Cluster>(cluster: &C, rng: &mut impl Rng) -> Result<Injection> {
    let (partition, leader) = random_leader(cluster, rng).await?;
    net::add_qdisc(cluster, leader, NETEM).await?;
    Ok(Injection {
        targets: vec![node_name(leader)],
        detail: format!("netem {NETEM} on kafka-{leader} (leader of partition {partition})"),
        undo: Undo::Qdisc(leader),
    })
}
