//! `eoscheck report`: a run's report.html and junit.xml rendered again from its
//! stored files, or the index of a runs folder.

use std::path::PathBuf;

use anyhow::Result;

use crate::console::failure::Failure;

#[derive(clap::Args)]
pub struct Args {
    /// A run directory, e.g. runs/latest.
    #[arg(required_unless_present = "index")]
    run_dir: Option<PathBuf>,
    /// Rebuild DIR/index.html instead (DIR defaults to runs).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "runs")]
    index: Option<PathBuf>,
}

/// Whatever cannot be rendered is the stored files' fault: a usage error.
pub fn execute(args: Args) -> Result<i32> {
    let usage = |e: anyhow::Error| Failure::usage(format!("{e:#}"));
    if let Some(runs) = args.index {
        println!(
            "index: {}",
            reports::write_index(&runs).map_err(usage)?.display()
        );
    }
    if let Some(dir) = args.run_dir {
        let written = reports::write_all(&dir).map_err(usage)?;
        println!("report: {}", written.report.display());
        println!("junit: {}", written.junit.display());
    }
    Ok(0)
}
