//! `eoscheck run`: the whole test, composed as its phases.
//!
//! set-up → workload under the nemesis schedule → heal-all → quiet (producers
//! flushed, with a bound, then the history closed with its end line) → final
//! read → check → results, report → runs/latest.
//! Each phase is one function of [`phases`], timed into run.json as it ends.
//! The history is on disk as the run goes; if anything breaks after the
//! workload started, what was recorded is kept and the verdict says `unknown`.

mod args;
mod config;
mod phases;
mod pipeline;
mod progress;

use anyhow::Result;

pub use args::{parse_guarantees, Args, ClientParser, WorkloadArgs};
pub use config::{RunConfig, Site, QUIET, TOPIC};
pub use phases::run_at;

use super::images::ready_engine;
use crate::{clients::Mutation, cluster, console::logging, run_dir::RunDir};

/// `eoscheck run`: validates the flags, then runs the test on a fresh cluster
/// (or prints the plan with `--dry-run`).
pub async fn execute(args: Args) -> Result<i32> {
    let config = args.config()?;
    if args.dry_run {
        print_plan(&config);
        return Ok(0);
    }
    if let Some(m) = config.mutation {
        tracing::warn!("{}", mutation_warning(m));
    }
    RunDir::check_writable(&args.workload.out)?;
    let docker = ready_engine(&config.image).await?;
    let dir = RunDir::create(&args.workload.out, "")?;
    let path = dir.path.clone();
    let code = cluster::guarded(&docker, run_at(Site::Fresh(docker.clone()), config, dir)).await?;
    if logging::is_json() {
        let text = std::fs::read_to_string(path.join("results.json"))?;
        let results: checker::Results = serde_json::from_str(&text)?;
        logging::print_json(&crate::run_dir::outcome_json(&path, &results));
    }
    Ok(code)
}

/// What a run would do: its configuration and its fault schedule.
fn print_plan(config: &RunConfig) {
    println!("preset: {}", config.preset);
    for (name, setting) in &config.producer().0 {
        println!("  {name}={} ({})", setting.value, setting.origin.name());
    }
    let guarantees: Vec<&str> = config.guarantees.iter().map(|g| g.name()).collect();
    println!("promised: {}", guarantees.join(", "));
    for contradiction in config.producer().contradictions(&config.guarantees) {
        println!("warning: {contradiction}");
    }
    println!("client: {}", config.client);
    if let Some(m) = config.mutation {
        println!("warning: {}", mutation_warning(m));
    }
    print_shared_plan(config);
}

fn mutation_warning(m: Mutation) -> String {
    format!(
        "--mutate {}: eoscheck's processors make this mistake on purpose; expect {}",
        m.name(),
        m.shows()
    )
}

/// What every run with these workload and fault flags shares: the cluster,
/// the workload and the fault schedule (one seed, one schedule).
pub fn print_shared_plan(config: &RunConfig) {
    println!("broker image: {}", config.image.reference());
    let placement = match config.keys {
        Some(n) => format!("{n} keys placed by the library's partitioner"),
        None => "explicit partitions".into(),
    };
    println!(
        "workload: {} producers, {} partitions, {} msg/s, {} bytes, {placement}, {}s",
        config.producers,
        config.partitions,
        config.rate,
        config.message_size,
        config.time_limit.as_secs()
    );
    if let Some(t) = config.transactions() {
        let resend = if t.resend {
            ", an unknown commit's messages resent"
        } else {
            ""
        };
        println!(
            "transactions: {} messages each, {} aborted on purpose{resend}",
            t.size, t.abort_rate
        );
    }
    if let Some((processors, processing)) = config.pipeline() {
        println!(
            "pipeline: {processors} processors of the client, {}, input {TOPIC}, output {TOPIC}-out; the producers are eoscheck's feeder (librdkafka, transactional)",
            processing.name()
        );
    }
    println!("seed: {}", config.seed);
    println!("nemesis schedule:");
    print!("{}", config.schedule());
}
