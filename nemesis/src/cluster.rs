use std::{future::Future, time::Duration};

use anyhow::Result;

/// A broker's node id (1, 2, 3 in a default cluster).
pub type NodeId = i32;

/// What [`Cluster::start_zombie`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zombie {
    /// The producer the newcomer fences, e.g. `producer 1`.
    pub victim: String,
    /// The newcomer, under its own producer number, e.g. `producer 3`.
    pub newcomer: String,
    /// The `transactional.id` they share.
    pub transactional_id: String,
    /// Whether the victim was held mid-transaction while the newcomer
    /// started (it may not reach one in time, when a fault stalls it).
    pub mid_transaction: bool,
}

/// Which coordinator a fault goes for: a producer's transactions', or a
/// pipeline's consumer group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coordinator {
    Transaction,
    Group,
}

/// What the nemesis may do to the cluster under test. The harness implements it
/// over Docker and Kafka's admin protocol; every address it hands out belongs to
/// the run's own containers.
pub trait Cluster: Send + Sync {
    /// The brokers the nemesis may act on (and a heal sweeps): none on a
    /// cluster the harness does not run, where only client-side faults go.
    fn nodes(&self) -> Vec<NodeId>;
    /// The node's address on the run's network.
    fn ip(&self, node: NodeId) -> String;
    /// The address host-side clients come from, as the brokers see it.
    fn client_ip(&self) -> String;
    /// Partitions of the topic under test.
    fn partitions(&self) -> i32;

    /// Runs a command inside a node's container and returns its output; a non-zero
    /// exit status is an error.
    fn exec(&self, node: NodeId, argv: &[&str]) -> impl Future<Output = Result<String>> + Send;
    /// SIGKILL of the broker process; the container stops with its data intact.
    fn kill(&self, node: NodeId) -> impl Future<Output = Result<()>> + Send;
    /// Starts a stopped node again.
    fn restart(&self, node: NodeId) -> impl Future<Output = Result<()>> + Send;
    /// Freezes every process of a node (SIGSTOP semantics).
    fn pause(&self, node: NodeId) -> impl Future<Output = Result<()>> + Send;
    fn resume(&self, node: NodeId) -> impl Future<Output = Result<()>> + Send;
    /// Whether the node's container is running and not paused.
    fn is_up(&self, node: NodeId) -> impl Future<Output = Result<bool>> + Send;

    /// The current leader of a partition of the topic under test.
    fn leader(&self, partition: i32) -> impl Future<Output = Result<NodeId>> + Send;
    /// The replicas of a partition of the topic under test that are in sync now.
    fn in_sync(&self, partition: i32) -> impl Future<Output = Result<Vec<NodeId>>> + Send;
    /// The active KRaft controller.
    fn controller(&self) -> impl Future<Output = Result<NodeId>> + Send;
    /// Moves a partition's leadership to another in-sync replica.
    fn transfer_leadership(
        &self,
        partition: i32,
        to: NodeId,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Restarts one producer of the workload so that it comes back with a new
    /// producer id; returns which producer.
    fn crash_client(&self) -> impl Future<Output = Result<String>> + Send;
    /// Starts a second instance of one transactional producer of the
    /// workload, with its `transactional.id`, under a producer number of its
    /// own, while the first is mid-transaction: its init fences the first.
    fn start_zombie(&self) -> impl Future<Output = Result<Zombie>> + Send;
    /// Each transactional producer's `transactional.id` (or the pipeline's
    /// consumer group) and the broker that coordinates it now.
    fn coordinators(
        &self,
        kind: Coordinator,
    ) -> impl Future<Output = Result<Vec<(String, NodeId)>>> + Send;
    /// Freezes one of the pipeline's processors (SIGSTOP); returns which.
    fn pause_client(&self) -> impl Future<Output = Result<String>> + Send;
    /// Thaws the processor [`Cluster::pause_client`] froze.
    fn resume_client(&self, which: &str) -> impl Future<Output = Result<()>> + Send;

    /// Waits until all brokers are registered and every partition has a leader
    /// and a full ISR.
    fn wait_whole(&self, timeout: Duration) -> impl Future<Output = Result<()>> + Send;
}
