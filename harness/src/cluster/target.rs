//! The nemesis's door into the cluster under test: one topic's partitions, the
//! brokers' containers, and the workload's producers.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use anyhow::{bail, Context, Result};

use super::{admin, containers::Cluster};

/// Restarts one producer of the workload and names it. The workload provides it;
/// without a workload, `client-crash` cannot be injected.
pub type CrashClient =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String>> + Send>> + Send + Sync>;

/// Starts a zombie of one transactional producer of the workload. The
/// workload provides it when its producers are transactional.
pub type StartZombie =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<nemesis::Zombie>> + Send>> + Send + Sync>;

pub struct Target {
    pub cluster: Arc<Cluster>,
    pub topic: String,
    pub partitions: i32,
    pub crash_client: Option<CrashClient>,
    pub start_zombie: Option<StartZombie>,
    /// The `transactional.id` of each transactional producer of the run.
    pub transactional_ids: Vec<String>,
}

impl nemesis::Cluster for Target {
    fn nodes(&self) -> Vec<nemesis::NodeId> {
        self.cluster.nodes.iter().map(|n| n.id).collect()
    }

    fn ip(&self, node: nemesis::NodeId) -> String {
        self.cluster
            .node(node)
            .map(|n| n.ip.clone())
            .unwrap_or_default()
    }

    fn client_ip(&self) -> String {
        self.cluster.gateway.clone()
    }

    fn partitions(&self) -> i32 {
        self.partitions
    }

    async fn exec(&self, node: nemesis::NodeId, argv: &[&str]) -> Result<String> {
        self.cluster.exec(node, argv).await
    }

    async fn kill(&self, node: nemesis::NodeId) -> Result<()> {
        self.cluster.kill(node).await
    }

    async fn restart(&self, node: nemesis::NodeId) -> Result<()> {
        self.cluster.restart(node).await
    }

    async fn pause(&self, node: nemesis::NodeId) -> Result<()> {
        self.cluster.pause(node).await
    }

    async fn resume(&self, node: nemesis::NodeId) -> Result<()> {
        self.cluster.resume(node).await
    }

    async fn is_up(&self, node: nemesis::NodeId) -> Result<bool> {
        self.cluster.is_up(node).await
    }

    async fn leader(&self, partition: i32) -> Result<nemesis::NodeId> {
        self.cluster.leader(&self.topic, partition).await
    }

    async fn controller(&self) -> Result<nemesis::NodeId> {
        self.cluster
            .ask_any("finding the active controller", |a| async move {
                admin::active_controller(&a).await
            })
            .await
    }

    async fn in_sync(&self, partition: i32) -> Result<Vec<nemesis::NodeId>> {
        Ok(self
            .cluster
            .partition_state(&self.topic, partition)
            .await?
            .in_sync)
    }

    async fn transfer_leadership(&self, partition: i32, to: nemesis::NodeId) -> Result<()> {
        let mut replicas = self
            .cluster
            .partition_state(&self.topic, partition)
            .await?
            .replicas;
        let Some(i) = replicas.iter().position(|&r| r == to) else {
            bail!("kafka-{to} holds no replica of partition {partition}");
        };
        replicas[..=i].rotate_right(1);
        let topic = &self.topic;
        let replicas = &replicas;
        self.cluster
            .ask_any("moving leadership", |a| async move {
                admin::transfer_leadership(&a, topic, partition, replicas).await
            })
            .await?;
        // The election is asynchronous: the move is done when metadata shows it.
        for _ in 0..40 {
            if self.cluster.leader(topic, partition).await.ok() == Some(to) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bail!("leadership of partition {partition} did not move to kafka-{to} within 10s")
    }

    async fn crash_client(&self) -> Result<String> {
        let crash = self
            .crash_client
            .as_ref()
            .context("client-crash needs a running workload whose producers can be restarted")?;
        crash().await
    }

    async fn start_zombie(&self) -> Result<nemesis::Zombie> {
        let start = self
            .start_zombie
            .as_ref()
            .context("zombie needs a running workload whose producers are transactional")?;
        start().await
    }

    async fn txn_coordinators(&self) -> Result<Vec<(String, nemesis::NodeId)>> {
        if self.transactional_ids.is_empty() {
            bail!("the run's producers have no transactional.id");
        }
        let ids = &self.transactional_ids;
        let nodes = self
            .cluster
            .ask_any("finding the transaction coordinators", |a| async move {
                admin::txn_coordinators(&a, ids).await
            })
            .await?;
        Ok(ids.iter().cloned().zip(nodes).collect())
    }

    async fn wait_whole(&self, timeout: Duration) -> Result<()> {
        self.cluster
            .wait_whole(&self.topic, self.partitions, timeout)
            .await
    }
}
