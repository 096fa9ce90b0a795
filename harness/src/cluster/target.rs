//! The nemesis's door into the cluster under test: one topic's partitions, the
//! brokers' containers, and the workload's producers. On a cluster eoscheck
//! does not run there are no containers: only the client-side faults can be
//! injected, the rest fail with the cluster's refusal.

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

/// Freezes one of a pipeline's processors and names it, or thaws the one
/// named. The pipeline provides it; without one, `pause-processor` cannot be
/// injected.
pub trait FreezeClient: Send + Sync {
    fn freeze(&self) -> Pin<Box<dyn Future<Output = Result<String>> + Send + '_>>;
    fn thaw(&self, which: &str) -> Result<()>;
}

pub struct Target {
    pub cluster: Arc<Cluster>,
    pub topic: String,
    pub partitions: i32,
    pub crash_client: Option<CrashClient>,
    pub start_zombie: Option<StartZombie>,
    pub freeze_client: Option<Arc<dyn FreezeClient>>,
    /// The `transactional.id` of each transactional producer of the run (in
    /// a pipeline, of each processor).
    pub transactional_ids: Vec<String>,
    /// A pipeline's consumer group.
    pub group: Option<String>,
}

impl nemesis::Cluster for Target {
    /// The brokers eoscheck runs: none on a cluster it does not run, so a
    /// heal there sweeps no broker (client-side faults undo themselves).
    fn nodes(&self) -> Vec<nemesis::NodeId> {
        let ours = self.cluster.nodes.iter().filter(|n| n.container.is_some());
        ours.map(|n| n.id).collect()
    }

    fn ip(&self, node: nemesis::NodeId) -> String {
        self.cluster
            .node(node)
            .map(|n| n.host.clone())
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

    async fn coordinators(
        &self,
        kind: nemesis::Coordinator,
    ) -> Result<Vec<(String, nemesis::NodeId)>> {
        let keys = match kind {
            nemesis::Coordinator::Transaction => self.transactional_ids.clone(),
            nemesis::Coordinator::Group => self.group.iter().cloned().collect(),
        };
        if keys.is_empty() {
            bail!("the run has no {kind:?} coordinator: no transactional.id, or no pipeline");
        }
        let nodes = self
            .cluster
            .ask_any("finding the coordinators", |a| {
                let keys = &keys;
                async move { admin::coordinators(&a, kind, keys).await }
            })
            .await?;
        Ok(keys.into_iter().zip(nodes).collect())
    }

    async fn pause_client(&self) -> Result<String> {
        let freeze = self
            .freeze_client
            .as_ref()
            .context("pause-processor needs a pipeline whose processors run")?;
        freeze.freeze().await
    }

    async fn resume_client(&self, which: &str) -> Result<()> {
        match &self.freeze_client {
            Some(freeze) => freeze.thaw(which),
            None => Ok(()),
        }
    }

    async fn wait_whole(&self, timeout: Duration) -> Result<()> {
        self.cluster
            .wait_whole(&self.topic, self.partitions, timeout)
            .await
    }
}
