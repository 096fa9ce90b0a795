//! A producer process restarts: whatever it had in flight is the application's
//! problem, and it comes back with a new producer id, so idempotence no longer
//! covers its earlier sends (seeds: "idempotence is per producer instance").
//! In a pipeline a processor is killed instead, mid-batch or between two,
//! and a new one takes its slot: what the dead one wrote but never committed
//! offsets for is processed again, which only a transaction makes harmless.

use std::time::Duration;

use anyhow::Result;

use super::{Injection, Spec, Undo};
use crate::Cluster;

pub(crate) const SPEC: Spec = Spec {
    name: "client-crash",
    label: "client restarted",
    colour: "#72b7b2",
    duration: Duration::from_secs(5),
    recovery: Duration::from_secs(0),
    client_side: true,
};

pub(crate) async fn inject<C: Cluster>(cluster: &C) -> Result<Injection> {
    let producer = cluster.crash_client().await?;
    Ok(Injection {
        targets: vec![producer.clone()],
        detail: format!(
            "{producer} killed and started again (a producer comes back with a new producer id)"
        ),
        undo: Undo::Nothing,
    })
}
