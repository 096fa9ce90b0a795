//! `eoscheck cleanup`: every container and network an eoscheck process left
//! behind (a killed run, an interrupted image build), removed. The cluster
//! `eoscheck cluster up` keeps is no leftover: it stays unless `--all` is
//! given.

use anyhow::Result;

use crate::cluster::{self, engine, Runs};

#[derive(clap::Args)]
pub struct Args {
    /// Remove the cluster `eoscheck cluster up` keeps as well (without it,
    /// cleanup leaves that cluster running).
    #[arg(long)]
    all: bool,
}

pub async fn execute(args: Args) -> Result<i32> {
    let docker = engine::connect().await?;
    let runs = if args.all { Runs::All } else { Runs::Leftovers };
    let removed = cluster::remove(&docker, runs, None).await?;
    println!(
        "cleanup: removed {} containers, {} networks",
        removed.containers, removed.networks
    );
    Ok(0)
}
