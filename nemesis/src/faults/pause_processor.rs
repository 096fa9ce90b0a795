//! A pipeline's processor frozen longer than its consumer group's session:
//! a long GC pause or a stalled container, as the group sees it. The group
//! gives its partitions to another processor; when it thaws it is a zombie
//! that still holds a transaction with output and consumed offsets, which
//! must be fenced (KIP-447: its offsets carry a stale group generation)
//! rather than committed beside the new owner's.

use std::time::Duration;

use anyhow::Result;

use super::{Injection, Spec, Undo};
use crate::Cluster;

/// Frozen for well over the processors' 6 s session, so the group has
/// rebalanced and the new owner has committed before the zombie wakes.
pub(crate) const SPEC: Spec = Spec {
    name: "pause-processor",
    label: "processor frozen",
    colour: "#bcbd22",
    duration: Duration::from_secs(15),
    recovery: Duration::from_secs(0),
    client_side: true,
};

pub(crate) async fn inject<C: Cluster>(cluster: &C) -> Result<Injection> {
    let processor = cluster.pause_client().await?;
    Ok(Injection {
        targets: vec![processor.clone()],
        detail: format!("{processor} frozen (SIGSTOP) past its group session"),
        undo: Undo::ResumeClient(processor),
    })
}
