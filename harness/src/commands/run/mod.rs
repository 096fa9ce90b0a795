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

use std::path::{Path, PathBuf};

use anyhow::Result;

pub use args::{parse_guarantees, Args, ClientParser, WorkloadArgs};
pub use config::{RunConfig, Site, QUIET, TOPIC};
pub use phases::run_at;

use super::images::ready_engine;
use crate::{
    clients::Mutation,
    cluster::{self, Cluster},
    console::logging,
    run_dir::RunDir,
};

/// `eoscheck run`: validates the flags, then runs the test on a fresh cluster
/// or the one `--bootstrap` names (or prints the plan with `--dry-run`).
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
    let (code, path) = match config.bootstrap.clone() {
        Some(bootstrap) => on_foreign(&bootstrap, config, &args.workload.out).await?,
        None => on_fresh(config, &args.workload.out).await?,
    };
    if logging::is_json() {
        let text = std::fs::read_to_string(path.join("results.json"))?;
        let results: checker::Results = serde_json::from_str(&text)?;
        logging::print_json(&crate::run_dir::outcome_json(&path, &results));
    }
    Ok(code)
}

/// The run on a fresh cluster of its own, torn down however it ends; its
/// exit code and directory.
async fn on_fresh(config: RunConfig, out: &Path) -> Result<(i32, PathBuf)> {
    let docker = ready_engine(&config.image).await?;
    let dir = RunDir::create(out, "")?;
    let path = dir.path.clone();
    let site = Site::Fresh(docker.clone());
    let code = cluster::guarded(&docker, run_at(site, config, dir)).await?;
    Ok((code, path))
}

/// The run on the cluster at `bootstrap`, which eoscheck does not run: no
/// engine, no image, nothing to tear down but the run's topics.
async fn on_foreign(bootstrap: &str, config: RunConfig, out: &Path) -> Result<(i32, PathBuf)> {
    let cluster = Cluster::foreign(bootstrap).await?;
    let dir = RunDir::create(out, "")?;
    let path = dir.path.clone();
    let site = Site::external(cluster, &dir.id);
    Ok((run_at(site, config, dir).await?, path))
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
    print!("{}", shared_plan(config));
}

/// [`print_shared_plan`]'s text.
pub fn shared_plan(config: &RunConfig) -> String {
    use std::fmt::Write;
    let mut plan = String::new();
    let mut line = |text: String| writeln!(plan, "{text}").expect("a String takes any text");
    line(match &config.bootstrap {
        Some(b) => format!("cluster: {b}, not eoscheck's (no containers; topics eoscheck-<id>, deleted after the final read)"),
        None => format!("broker image: {}", config.image.reference()),
    });
    let placement = match config.keys {
        Some(n) => format!("{n} keys placed by the library's partitioner"),
        None => "explicit partitions".into(),
    };
    line(format!(
        "workload: {} producers, {} partitions, {} msg/s, {} bytes, {placement}, {}s",
        config.producers,
        config.partitions,
        config.rate,
        config.message_size,
        config.time_limit.as_secs()
    ));
    if let Some(t) = config.transactions() {
        let resend = if t.resend {
            ", an unknown commit's messages resent"
        } else {
            ""
        };
        line(format!(
            "transactions: {} messages each, {} aborted on purpose{resend}",
            t.size, t.abort_rate
        ));
    }
    if let Some((processors, processing)) = config.pipeline() {
        let input = match config.bootstrap {
            Some(_) => "eoscheck-<id>",
            None => TOPIC,
        };
        line(format!(
            "pipeline: {processors} processors of the client, {}, input {input}, output {input}-out; the producers are eoscheck's feeder (librdkafka, transactional)",
            processing.name()
        ));
    }
    line(format!("seed: {}", config.seed));
    line("nemesis schedule:".into());
    plan + &config.schedule().to_string()
}
