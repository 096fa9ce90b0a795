//! `eoscheck cluster up` and `eoscheck cluster down`: the 3-node cluster a
//! run starts, kept running between commands, so that runs against it
//! (`eoscheck run --bootstrap`) and other tools need no cluster start of
//! their own. It is labelled kept: no command's teardown takes it, and
//! `eoscheck cleanup` leaves it unless given `--all`.

use anyhow::Result;

use super::images::{ready_engine, ImageArgs};
use crate::{
    cluster::{self, engine, Cluster, Runs, KEPT_RUN, NODES},
    console::failure::Failure,
};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Start the 3-node cluster a run uses and leave it running (one already
    /// up is kept); the last line on stdout is its bootstrap address.
    Up(ImageArgs),
    /// Remove the cluster `eoscheck cluster up` left running.
    Down,
}

pub async fn execute(args: Args) -> Result<i32> {
    match args.action {
        Action::Up(image) => up(image).await,
        Action::Down => down().await,
    }
}

/// The kept cluster up (started, found, or woken after the engine
/// restarted), its bootstrap address the last line on stdout.
async fn up(args: ImageArgs) -> Result<i32> {
    let image = args.broker_image()?;
    let asked = image.reference();
    let docker = engine::connect().await?;
    let (cluster, running, how) = match Cluster::find_kept(&docker).await? {
        Some((_, running)) if args.given().is_some() && running != asked => {
            return Err(Failure::usage(format!(
                "the cluster up runs {running}, not {asked}; run `eoscheck cluster down` first"
            )))
        }
        Some((cluster, running)) => {
            cluster.wake().await?;
            (cluster, running, "already there")
        }
        None => {
            let docker = ready_engine(&image).await?;
            let cluster = Cluster::start_kept(&docker, &asked).await?;
            (cluster, asked, "started")
        }
    };
    let bootstrap = cluster.bootstrap_servers();
    eprintln!(
        "cluster up: {NODES} brokers of {running}, {how}; they stay up until `eoscheck cluster down`. Test against them with `eoscheck run --bootstrap {bootstrap}`"
    );
    println!("bootstrap: {bootstrap}");
    Ok(0)
}

/// The kept cluster removed, containers and network.
async fn down() -> Result<i32> {
    let docker = engine::connect().await?;
    let removed = cluster::remove(&docker, Runs::One(KEPT_RUN), None).await?;
    if removed.containers + removed.networks == 0 {
        println!("cluster down: no cluster was up");
    } else {
        println!(
            "cluster down: removed {} containers, {} networks",
            removed.containers, removed.networks
        );
    }
    Ok(0)
}
