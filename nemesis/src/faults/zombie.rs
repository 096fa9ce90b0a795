//! A zombie: a second instance of a transactional producer starts with the
//! first's `transactional.id` while the first is mid-transaction, as when an
//! application's instance is presumed dead and replaced but still runs. The
//! newcomer's init fences the first: none of the first's later writes may
//! commit, and it must stop; the newcomer goes on under a producer number of
//! its own.

use std::time::Duration;

use anyhow::Result;

use super::{Injection, Spec, Undo};
use crate::Cluster;

pub(crate) const SPEC: Spec = Spec {
    name: "zombie",
    label: "zombie producer fenced",
    colour: "#9467bd",
    duration: Duration::from_secs(5),
    recovery: Duration::from_secs(0),
    client_side: true,
};

pub(crate) async fn inject<C: Cluster>(cluster: &C) -> Result<Injection> {
    let zombie = cluster.start_zombie().await?;
    let when = if zombie.mid_transaction {
        "mid-transaction"
    } else {
        "between transactions (it reached none in time)"
    };
    Ok(Injection {
        targets: vec![zombie.victim.clone(), zombie.newcomer.clone()],
        detail: format!(
            "{} started with transactional.id {} of {}, {when}: {} is fenced",
            zombie.newcomer, zombie.transactional_id, zombie.victim, zombie.victim
        ),
        undo: Undo::Nothing,
    })
}
