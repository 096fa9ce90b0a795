//! Run directories: `<runs>/<id>/`, with `<runs>/latest` pointing at the newest.
//!
//! The run directory is the contract between the stages: the harness writes
//! `run.json` ([`RunRecord`]), `history.jsonl`, `leaders.jsonl` and `log/`;
//! [`check_dir`] hands them to the pure checker and writes `results.json`; the
//! reports crate renders from the directory alone. Nothing downstream reaches
//! back, so `eoscheck check` and `eoscheck report` work offline on a copied
//! run directory (ARCHITECTURE.md, "The run directory").

mod check;
mod gather;
mod record;

pub use check::{check_dir, outcome_json, print_verdict, verdict_line};
pub use gather::{gather, Gathered};
pub use record::{
    ClientInfo, KeptStep, Outcome, PhaseTime, RunRecord, StoredLog, FORMAT as RUN_FORMAT,
};

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::console::failure::Failure;

pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

impl RunDir {
    /// Fails, as a usage error, unless run directories can be made under `runs`
    /// (`--out`): checked before anything slow starts, so that a run is never
    /// lost at its end for want of a place to keep it.
    pub fn check_writable(runs: &Path) -> Result<()> {
        fs::create_dir_all(runs)
            .and_then(|()| tempfile::tempfile_in(runs).map(drop))
            .map_err(|e| {
                Failure::usage(format!(
                    "--out {}: cannot write run directories there ({e}); choose a folder you can write to",
                    runs.display()
                ))
            })
    }

    /// A new id: the time now, then four random hex digits, so ids sort by
    /// their start.
    pub fn fresh_id(prefix: &str) -> String {
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]"
            ))
            .expect("a fixed format always applies");
        format!("{prefix}{stamp}-{:04x}", rand::random::<u16>())
    }

    /// The directory `runs/<id>`, made if missing (a comparison's; its
    /// shares share one).
    pub fn named(runs: &Path, id: &str) -> Result<RunDir> {
        let path = runs.join(id);
        fs::create_dir_all(&path)
            .with_context(|| format!("creating directory {}", path.display()))?;
        Ok(RunDir {
            id: id.to_owned(),
            path,
        })
    }

    /// Creates a fresh run directory under `runs` and points `latest` at it.
    pub fn create(runs: &Path, prefix: &str) -> Result<RunDir> {
        let RunDir { id, path } = RunDir::named(runs, &RunDir::fresh_id(prefix))?;
        let latest = runs.join("latest");
        let _ = fs::remove_file(&latest);
        std::os::unix::fs::symlink(&id, &latest)
            .with_context(|| format!("pointing {} at {id}", latest.display()))?;
        Ok(RunDir { id, path })
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }
}
