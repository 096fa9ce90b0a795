//! `eoscheck check`: the checker again, offline, on a stored run directory.

use std::path::PathBuf;

use anyhow::Result;

use super::run::parse_guarantees;
use crate::{
    console::logging,
    run_dir::{check_dir, outcome_json, print_verdict, Outcome, RunRecord},
};

#[derive(clap::Args)]
pub struct Args {
    /// A run directory, e.g. runs/latest.
    run_dir: PathBuf,
    /// Judge against these guarantees instead of the ones the run promised.
    #[arg(long)]
    guarantee: Option<String>,
    /// End stdout with one JSON object (verdict, exit code, counts, paths);
    /// the verdict line goes to stderr.
    #[arg(long)]
    pub json: bool,
}

/// Re-analyses the run, rewrites its results.json and prints the verdict.
/// Judged against the run's own promise, the verdict is the run's: run.json's
/// outcome is brought up to date (a run killed half-way gets one). Judged
/// against another promise, only results.json changes.
pub fn execute(args: Args) -> Result<i32> {
    let guarantees = args
        .guarantee
        .as_deref()
        .map(parse_guarantees)
        .transpose()?;
    let own_promise = guarantees.is_none();
    let results = check_dir(&args.run_dir, guarantees)?;
    if own_promise {
        let mut record = RunRecord::read(&args.run_dir)?;
        record.outcome = Some(Outcome::of(&results));
        record.write(&args.run_dir)?;
    }
    print_verdict(&results);
    if logging::is_json() {
        logging::print_json(&outcome_json(&args.run_dir, &results));
    }
    Ok(results.exit_code())
}
