//! `eoscheck cleanup`: every container and network an eoscheck process left
//! behind (a killed run, an interrupted image build), removed.

use anyhow::Result;

use crate::cluster::{self, engine};

pub async fn execute() -> Result<i32> {
    let docker = engine::connect().await?;
    let removed = cluster::remove(&docker, None, None).await?;
    println!(
        "cleanup: removed {} containers, {} networks",
        removed.containers, removed.networks
    );
    Ok(0)
}
