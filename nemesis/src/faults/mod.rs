//! One module per kind of fault. Each owns its [`Spec`] (name, label, colour,
//! duration, recovery) and its `inject`; what an injection must undo is returned as data
//! ([`Undo`]) so that stopping one fault and healing everything share one path.

mod ack_loss;
mod client_crash;
mod coordinator;
mod kill;
mod leader_transfer;
mod net;
mod netem;
mod partition;
mod pause_leader;
mod pause_processor;
mod zombie;

use std::time::Duration;

use anyhow::Result;
use rand::Rng;

use crate::{Cluster, Fault, NodeId};

pub(crate) struct Spec {
    pub name: &'static str,
    pub label: &'static str,
    pub colour: &'static str,
    pub duration: Duration,
    /// How long the cluster takes to be whole again after the undo, which
    /// the schedule leaves free before the next fault. Measured on a 2-core
    /// machine over 20 default runs (Kafka 4.4.0): the keeper waited a median
    /// 9–12 s, at most 16 s, after a broker's kill (its restart, the quorum,
    /// its replicas back in sync); 7 s after a partition among brokers (one
    /// sample); under 2 s after every other kind. Kept short of the worst
    /// case: the keeper still waits for the rest.
    pub recovery: Duration,
    /// The fault acts on the workload's clients alone (restarts, freezes or
    /// fences them), never on a broker: the only kind that can be injected
    /// into a cluster eoscheck does not run (`eoscheck run --bootstrap`).
    pub client_side: bool,
}

pub(crate) fn spec(fault: Fault) -> &'static Spec {
    match fault {
        Fault::PartitionLeader => &partition::LEADER,
        Fault::PartitionHalves => &partition::HALVES,
        Fault::PartitionRing => &partition::RING,
        Fault::PartitionClientLeader => &partition::CLIENT_LEADER,
        Fault::AckLoss => &ack_loss::SPEC,
        Fault::KillLeader => &kill::LEADER,
        Fault::KillController => &kill::CONTROLLER,
        Fault::KillRandom => &kill::RANDOM,
        Fault::PauseLeader => &pause_leader::SPEC,
        Fault::Netem => &netem::SPEC,
        Fault::LeaderTransfer => &leader_transfer::SPEC,
        Fault::ClientCrash => &client_crash::SPEC,
        Fault::Zombie => &zombie::SPEC,
        Fault::KillTxnCoordinator => &coordinator::KILL_TXN,
        Fault::PartitionTxnCoordinator => &coordinator::PARTITION_TXN,
        Fault::AckLossTxnCoordinator => &coordinator::ACK_LOSS_TXN,
        Fault::PauseProcessor => &pause_processor::SPEC,
        Fault::KillGroupCoordinator => &coordinator::KILL_GROUP,
        Fault::PartitionGroupCoordinator => &coordinator::PARTITION_GROUP,
    }
}

/// What a started fault did, and what stopping it must do.
#[derive(Debug, Clone)]
pub(crate) struct Injection {
    pub targets: Vec<String>,
    pub detail: String,
    pub undo: Undo,
}

#[derive(Debug, Clone)]
pub(crate) enum Undo {
    /// Remove the fault's iptables chain from these nodes.
    Rules { chain: String, nodes: Vec<NodeId> },
    /// Remove the traffic-control qdisc of this node.
    Qdisc(NodeId),
    /// Start this killed node again.
    Restart(NodeId),
    /// Thaw this paused node.
    Resume(NodeId),
    /// Thaw this frozen processor.
    ResumeClient(String),
    /// The fault is over once done (a leadership move, a client restart, a
    /// zombie started).
    Nothing,
    /// Several undos, in order.
    Sequence(Vec<Undo>),
}

pub(crate) async fn inject<C: Cluster>(
    fault: Fault,
    cluster: &C,
    rng: &mut impl Rng,
) -> Result<Injection> {
    match fault {
        Fault::PartitionLeader => partition::leader(cluster, rng, fault).await,
        Fault::PartitionHalves => partition::halves(cluster, rng, fault).await,
        Fault::PartitionRing => partition::ring(cluster, rng, fault).await,
        Fault::PartitionClientLeader => partition::client_leader(cluster, rng, fault).await,
        Fault::AckLoss => ack_loss::inject(cluster, rng, fault).await,
        Fault::KillLeader => kill::inject(cluster, rng, kill::Target::Leader).await,
        Fault::KillController => kill::inject(cluster, rng, kill::Target::Controller).await,
        Fault::KillRandom => kill::inject(cluster, rng, kill::Target::Random).await,
        Fault::PauseLeader => pause_leader::inject(cluster, rng).await,
        Fault::Netem => netem::inject(cluster, rng, fault).await,
        Fault::LeaderTransfer => leader_transfer::inject(cluster, rng).await,
        Fault::ClientCrash => client_crash::inject(cluster).await,
        Fault::Zombie => zombie::inject(cluster).await,
        Fault::PauseProcessor => pause_processor::inject(cluster).await,
        Fault::KillTxnCoordinator
        | Fault::PartitionTxnCoordinator
        | Fault::AckLossTxnCoordinator
        | Fault::KillGroupCoordinator
        | Fault::PartitionGroupCoordinator => coordinator::inject(cluster, rng, fault).await,
    }
}

pub(crate) async fn undo<C: Cluster>(cluster: &C, undo: &Undo) -> Result<()> {
    match undo {
        Undo::Sequence(steps) => {
            for step in steps {
                Box::pin(self::undo(cluster, step)).await?;
            }
            Ok(())
        }
        Undo::Rules { chain, nodes } => {
            for &node in nodes {
                net::remove_chain(cluster, node, chain).await?;
            }
            Ok(())
        }
        Undo::Qdisc(node) => net::clear_qdisc(cluster, *node).await,
        Undo::Restart(node) => cluster.restart(*node).await,
        Undo::Resume(node) => cluster.resume(*node).await,
        Undo::ResumeClient(which) => cluster.resume_client(which).await,
        Undo::Nothing => Ok(()),
    }
}

/// Undoes every fault of every kind on one node, whatever this process knows of
/// it, and lists anything still left afterwards.
pub(crate) async fn heal_node<C: Cluster>(cluster: &C, node: NodeId) -> Result<Vec<String>> {
    // Paused and killed nodes first: a frozen container cannot run iptables.
    cluster.resume(node).await?;
    if !cluster.is_up(node).await? {
        cluster.restart(node).await?;
    }
    net::clear_all(cluster, node).await?;
    net::leftovers(cluster, node).await
}

/// A partition chosen at random, and its current leader.
async fn random_leader<C: Cluster>(cluster: &C, rng: &mut impl Rng) -> Result<(i32, NodeId)> {
    let partition = rng.random_range(0..cluster.partitions());
    Ok((partition, cluster.leader(partition).await?))
}

/// Installs client-facing rules (built from the clients' address) on the leader of
/// a random partition: what `ack-loss` and `partition-client-leader` share.
async fn on_a_leader_against_clients<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
    rules: impl FnOnce(&str) -> Vec<String>,
    detail: impl FnOnce(i32, &str) -> String,
) -> Result<Injection> {
    let (partition, leader) = random_leader(cluster, rng).await?;
    let client = cluster.client_ip();
    let detail = detail(partition, &client);
    against_clients(cluster, leader, fault, &rules(&client), detail).await
}

/// Installs client-facing `rules` on `node`.
async fn against_clients<C: Cluster>(
    cluster: &C,
    node: NodeId,
    fault: Fault,
    rules: &[String],
    detail: String,
) -> Result<Injection> {
    let chain = net::chain(fault);
    net::install_chain(cluster, node, &chain, rules).await?;
    Ok(Injection {
        targets: vec![node_name(node)],
        detail,
        undo: Undo::Rules {
            chain,
            nodes: vec![node],
        },
    })
}

/// The rules that drop every data-carrying segment from a broker to the
/// clients at `client`: requests arrive and take effect, answers never come
/// back (bare ACKs and SYN-ACKs, at most 60 bytes, still pass).
fn responses_dropped(client: &str) -> Vec<String> {
    vec![format!(
        "-d {client} -p tcp --sport 9092 -m length --length 61:65535 -j DROP"
    )]
}

/// The rules that cut the clients at `client` from a broker, both ways.
fn cut_from_clients(client: &str) -> Vec<String> {
    vec![
        format!("-s {client} -p tcp --dport 9092 -j DROP"),
        format!("-d {client} -p tcp --sport 9092 -j DROP"),
    ]
}

fn node_name(node: NodeId) -> String {
    format!("kafka-{node}")
}
