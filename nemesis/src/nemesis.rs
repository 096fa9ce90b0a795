use std::{sync::Arc, time::Duration};

use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tracing::{info, warn};

use crate::{
    faults::{self, Injection},
    Cluster, Fault,
};

/// Starts, stops and heals faults in one cluster, remembering what is active.
pub struct Nemesis<C> {
    cluster: Arc<C>,
    /// Picks targets (which partition, which side); seeded apart from the schedule
    /// so that the same seed also aims at the same partitions.
    rng: ChaCha8Rng,
    active: Vec<(Fault, Injection)>,
}

/// What the nemesis did, for the history: the harness stamps the time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultEvent {
    pub phase: Phase,
    /// None for a heal of everything.
    pub fault: Option<Fault>,
    pub targets: Vec<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Start,
    Stop,
    Heal,
}

impl<C: Cluster> Nemesis<C> {
    pub fn new(cluster: Arc<C>, seed: u64) -> Self {
        Self {
            cluster,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_6d65_7369_7321),
            active: Vec::new(),
        }
    }

    pub fn active(&self) -> Vec<Fault> {
        self.active.iter().map(|(f, _)| *f).collect()
    }

    pub async fn start(&mut self, fault: Fault) -> Result<FaultEvent> {
        if self.active.iter().any(|(f, _)| *f == fault) {
            bail!("{fault} is already active");
        }
        let injection = faults::inject(fault, &*self.cluster, &mut self.rng)
            .await
            .with_context(|| format!("could not inject {fault}"))?;
        info!(%fault, detail = %injection.detail, "fault started");
        let event = FaultEvent {
            phase: Phase::Start,
            fault: Some(fault),
            targets: injection.targets.clone(),
            detail: injection.detail.clone(),
        };
        self.active.push((fault, injection));
        Ok(event)
    }

    /// Undoes `fault`. A fault whose undo fails stays active, so the undo can
    /// be tried again (or left to [`Nemesis::heal_all`]).
    pub async fn stop(&mut self, fault: Fault) -> Result<FaultEvent> {
        let Some(i) = self.active.iter().position(|(f, _)| *f == fault) else {
            bail!("{fault} is not active");
        };
        faults::undo(&*self.cluster, &self.active[i].1.undo)
            .await
            .with_context(|| format!("could not undo {fault}"))?;
        let (_, injection) = self.active.remove(i);
        info!(%fault, "fault stopped");
        Ok(FaultEvent {
            phase: Phase::Stop,
            fault: Some(fault),
            targets: injection.targets,
            detail: format!("undone: {}", injection.detail),
        })
    }

    /// Waits until every broker is registered and every partition has a leader
    /// and a full ISR, at most `within`; returns how long that took.
    pub async fn wait_whole(&self, within: Duration) -> Result<Duration> {
        let started = tokio::time::Instant::now();
        self.cluster.wait_whole(within).await?;
        Ok(started.elapsed())
    }

    /// Undoes every fault, on every node, whether or not this nemesis started it,
    /// checks that no rule or qdisc is left, and waits until all brokers are back
    /// and every partition has a full ISR.
    pub async fn heal_all(&mut self, timeout: Duration) -> Result<FaultEvent> {
        let started = tokio::time::Instant::now();
        let mut healed: Vec<String> = Vec::new();
        for (fault, injection) in std::mem::take(&mut self.active) {
            if let Err(e) = faults::undo(&*self.cluster, &injection.undo).await {
                // The sweep below still removes it; say why the targeted undo failed.
                warn!(%fault, "targeted undo failed: {e:#}");
            }
            healed.push(fault.to_string());
        }
        let mut left = Vec::new();
        for node in self.cluster.nodes() {
            left.extend(faults::heal_node(&*self.cluster, node).await?);
        }
        if !left.is_empty() {
            bail!("heal left faults in place: {}", left.join("; "));
        }
        self.cluster
            .wait_whole(timeout)
            .await
            .context("after healing, the cluster did not become whole again")?;
        let took = started.elapsed().as_secs_f64();
        info!("cluster healed and whole after {took:.1}s");
        Ok(FaultEvent {
            phase: Phase::Heal,
            fault: None,
            targets: self
                .cluster
                .nodes()
                .into_iter()
                .map(|n| format!("kafka-{n}"))
                .collect(),
            detail: if healed.is_empty() {
                format!("nothing was active; cluster whole after {took:.1}s")
            } else {
                format!(
                    "healed {}; cluster whole after {took:.1}s",
                    healed.join(", ")
                )
            },
        })
    }
}
