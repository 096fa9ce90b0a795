//! A slow, lossy network on one broker: packets delayed and dropped both ways.
//!
//! Kernels built without `sch_netem` (this project's CI machines among them) get
//! the same two effects from parts they do have: a token-bucket qdisc whose queue
//! delays and finally drops what exceeds its rate (a congested link), and random
//! loss from iptables' `statistic` match. The event's detail says which was used.

use std::time::Duration;

use anyhow::Result;
use rand::Rng;

use super::{net, node_name, random_leader, Injection, Spec, Undo};
use crate::{Cluster, Fault};

pub(crate) const SPEC: Spec = Spec {
    name: "netem",
    label: "latency + loss",
    colour: "#bab0ac",
    duration: Duration::from_secs(15),
    recovery: Duration::from_secs(0),
    client_side: false,
};

/// Applied to a leader, where it slows both produce responses and replication.
const NETEM: &str = "delay 60ms 30ms distribution normal loss 5%";
const CONGESTED: &str = "tbf rate 1mbit burst 32kbit latency 200ms";
const LOSS: &str = "-m statistic --mode random --probability 0.05 -j DROP";

pub(crate) async fn inject<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
) -> Result<Injection> {
    let (partition, leader) = random_leader(cluster, rng).await?;
    let at = format!("on kafka-{leader} (leader of partition {partition})");
    if net::add_qdisc(cluster, leader, &format!("netem {NETEM}"))
        .await
        .is_ok()
    {
        return Ok(Injection {
            targets: vec![node_name(leader)],
            detail: format!("netem {NETEM} {at}"),
            undo: Undo::Qdisc(leader),
        });
    }
    net::add_qdisc(cluster, leader, CONGESTED).await?;
    let chain = net::chain(fault);
    if let Err(e) = net::install_chain(cluster, leader, &chain, &[LOSS.to_owned()]).await {
        net::clear_qdisc(cluster, leader).await?;
        return Err(e);
    }
    Ok(Injection {
        targets: vec![node_name(leader)],
        detail: format!("no sch_netem in this kernel: {CONGESTED} and 5% random loss {at}"),
        undo: Undo::Sequence(vec![
            Undo::Qdisc(leader),
            Undo::Rules {
                chain,
                nodes: vec![leader],
            },
        ]),
    })
}
