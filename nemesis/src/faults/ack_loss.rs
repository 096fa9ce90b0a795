//! The seeds' central case: the write lands and is replicated, the acknowledgement
//! never reaches the producer, the producer retries.

use std::time::Duration;

use anyhow::Result;
use rand::Rng;

use super::{on_a_leader_against_clients, responses_dropped, Injection, Spec};
use crate::{Cluster, Fault};

pub(crate) const SPEC: Spec = Spec {
    name: "ack-loss",
    label: "acks lost (leader -> client)",
    colour: "#4c78a8",
    duration: Duration::from_secs(15),
    recovery: Duration::from_secs(0),
    client_side: false,
};

/// On the leader of a random partition, drops every TCP segment that carries data
/// towards the clients. Bare ACKs and SYN-ACKs (at most 60 bytes) still pass, so
/// connections open and requests keep arriving and being written; only the
/// responses are lost.
pub(crate) async fn inject<C: Cluster>(
    cluster: &C,
    rng: &mut impl Rng,
    fault: Fault,
) -> Result<Injection> {
    on_a_leader_against_clients(
        cluster,
        rng,
        fault,
        responses_dropped,
        |partition, client| {
            format!(
                "responses from the leader of partition {partition} to clients ({client}) dropped"
            )
        },
    )
    .await
}
