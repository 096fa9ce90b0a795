//! Network partitions between brokers, and between clients and a leader.

use std::time::Duration;

use anyhow::Result;
use rand::{seq::SliceRandom, Rng};

use super::{
    cut_from_clients, net, node_name, on_a_leader_against_clients, random_leader, Injection, Spec,
    Undo,
};
use crate::{Cluster, Fault, NodeId};

pub(crate) const LEADER: Spec = Spec {
    name: "partition-leader",
    label: "leader isolated",
    colour: "#e45756",
    duration: Duration::from_secs(15),
    recovery: Duration::from_secs(7),
    client_side: false,
};

pub(crate) const HALVES: Spec = Spec {
    name: "partition-halves",
    label: "brokers split in two",
    colour: "#f58518",
    duration: Duration::from_secs(15),
    recovery: Duration::from_secs(7),
    client_side: false,
};

pub(crate) const RING: Spec = Spec {
    name: "partition-ring",
    label: "overlapping majorities",
    colour: "#eeca3b",
    duration: Duration::from_secs(15),
    recovery: Duration::from_secs(7),
    client_side: false,
};

pub(crate) const CLIENT_LEADER: Spec = Spec {
    name: "partition-client-leader",
    label: "clients cut from a leader",
    colour: "#b279a2",
    duration: Duration::from_secs(12),
    recovery: Duration::from_secs(0),
    client_side: false,
};

/// The leader of a random partition loses every other broker. The majority elects a
/// new leader; the old one may still accept writes it can never commit.
pub(crate) async fn leader<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
) -> Result<Injection> {
    let (partition, leader) = random_leader(cluster, rng).await?;
    let others: Vec<NodeId> = cluster
        .nodes()
        .into_iter()
        .filter(|&n| n != leader)
        .collect();
    isolate(cluster, fault, &[(leader, others)])
        .await
        .map(|undo| Injection {
            targets: vec![node_name(leader)],
            detail: format!("leader of partition {partition} cut from the other brokers"),
            undo,
        })
}

/// A random split of the brokers into a minority and a majority.
pub(crate) async fn halves<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
) -> Result<Injection> {
    let mut nodes = cluster.nodes();
    nodes.shuffle(rng);
    let (minority, majority) = nodes.split_at(nodes.len() / 2);
    let cuts: Vec<(NodeId, Vec<NodeId>)> =
        minority.iter().map(|&n| (n, majority.to_vec())).collect();
    isolate(cluster, fault, &cuts).await.map(|undo| Injection {
        targets: nodes.iter().map(|&n| node_name(n)).collect(),
        detail: format!("{} | {}", names(minority), names(majority)),
        undo,
    })
}

/// One link between two brokers cut: each end still sees a majority through the
/// third, but not the same majority.
pub(crate) async fn ring<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
) -> Result<Injection> {
    let mut nodes = cluster.nodes();
    nodes.shuffle(rng);
    let (a, b) = (nodes[0], nodes[1]);
    isolate(cluster, fault, &[(a, vec![b])])
        .await
        .map(|undo| Injection {
            targets: vec![node_name(a), node_name(b)],
            detail: format!("link kafka-{a} <-> kafka-{b} cut; the others still connected"),
            undo,
        })
}

/// Clients can no longer reach the leader of a random partition, nor it them.
pub(crate) async fn client_leader<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
) -> Result<Injection> {
    on_a_leader_against_clients(
        cluster,
        rng,
        fault,
        cut_from_clients,
        |partition, client| {
            format!("clients ({client}) cut from the leader of partition {partition}")
        },
    )
    .await
}

/// Installs, on each listed node, rules cutting it from its peers.
async fn isolate<C: Cluster>(
    cluster: &C,
    fault: Fault,
    cuts: &[(NodeId, Vec<NodeId>)],
) -> Result<Undo> {
    let chain = net::chain(fault);
    let mut done = Vec::new();
    for (node, peers) in cuts {
        let installed =
            net::install_chain(cluster, *node, &chain, &net::cut_from(cluster, peers)).await;
        if let Err(e) = installed {
            // Leave no half-made partition behind.
            for &n in &done {
                let _ = net::remove_chain(cluster, n, &chain).await;
            }
            return Err(e);
        }
        done.push(*node);
    }
    Ok(Undo::Rules { chain, nodes: done })
}

fn names(nodes: &[NodeId]) -> String {
    nodes
        .iter()
        .map(|&n| node_name(n))
        .collect::<Vec<_>>()
        .join(",")
}
