//! `eoscheck report`: a run's report.html and junit.xml rendered again from its
//! stored files, or the index of runs folders, several gathered into one
//! (`run_dir::gather`).

use std::path::PathBuf;

use anyhow::Result;

use crate::{
    console::failure::Failure,
    run_dir::{gather, Gathered},
};

#[derive(clap::Args)]
pub struct Args {
    /// A run directory, e.g. runs/latest.
    #[arg(required_unless_present = "index")]
    run_dir: Option<PathBuf>,
    /// Rebuild DIR/index.html (DIR defaults to runs). Given several runs
    /// folders (other machines', CI artifacts), copy their runs into the
    /// first (or --out), put the shares of a sharded comparison back
    /// together, and index them all, with the verdicts over time.
    #[arg(long, value_name = "DIR", num_args = 0.., default_missing_value = "runs")]
    index: Option<Vec<PathBuf>>,
    /// Where the gathered runs folder goes [default: the first --index DIR].
    #[arg(long, value_name = "DIR", requires = "index")]
    out: Option<PathBuf>,
}

/// Whatever cannot be rendered is the stored files' fault: a usage error.
pub fn execute(args: Args) -> Result<i32> {
    let usage = |e: anyhow::Error| Failure::usage(format!("{e:#}"));
    if let Some(folders) = args.index {
        let into = args.out.clone().unwrap_or_else(|| folders[0].clone());
        let done = gather_all(&into, &folders, args.out.is_some())?;
        for compare in &done.comparisons {
            reports::write_compare(compare).map_err(usage)?;
        }
        if done.runs + done.present > 0 {
            println!(
                "gathered: {} runs copied, {} there already, {} comparisons",
                done.runs,
                done.present,
                done.comparisons.len()
            );
        }
        println!(
            "index: {}",
            reports::write_index(&into).map_err(usage)?.display()
        );
    }
    if let Some(dir) = args.run_dir {
        let written = reports::write_all(&dir).map_err(usage)?;
        println!("report: {}", written.report.display());
        println!("junit: {}", written.junit.display());
    }
    Ok(0)
}

/// Every folder but `into` itself gathered into `into`, which is made
/// first when `make` (`--out`).
fn gather_all(into: &PathBuf, folders: &[PathBuf], make: bool) -> Result<Gathered> {
    let mut done = Gathered::default();
    if make {
        std::fs::create_dir_all(into).map_err(|e| {
            Failure::usage(format!("--out {}: cannot make it ({e})", into.display()))
        })?;
    }
    let itself = std::fs::canonicalize(into).map_err(|e| {
        Failure::usage(format!(
            "{}: no runs folder there ({e}); name one `eoscheck run --out` wrote, or a new one with --out",
            into.display()
        ))
    })?;
    for folder in folders {
        if std::fs::canonicalize(folder).is_ok_and(|f| f == itself) {
            continue;
        }
        gather(into, folder, &mut done)?;
    }
    done.comparisons.sort();
    done.comparisons.dedup();
    Ok(done)
}
