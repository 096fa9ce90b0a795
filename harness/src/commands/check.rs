//! `eoscheck check`: the checker again, offline, on a stored run directory.

use std::path::PathBuf;

use anyhow::Result;

use super::run::parse_guarantees;
use crate::run_dir::{check_dir, verdict_line};

#[derive(clap::Args)]
pub struct Args {
    /// A run directory, e.g. runs/latest.
    run_dir: PathBuf,
    /// Judge against these guarantees instead of the ones the run promised.
    #[arg(long)]
    guarantee: Option<String>,
}

/// Re-analyses the run, rewrites its results.json and prints the verdict.
pub fn execute(args: Args) -> Result<i32> {
    let guarantees = args
        .guarantee
        .as_deref()
        .map(parse_guarantees)
        .transpose()?;
    let results = check_dir(&args.run_dir, guarantees)?;
    println!("{}", verdict_line(&results));
    Ok(results.exit_code())
}
