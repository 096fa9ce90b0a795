//! Checking a run directory: the files the run left, handed to the pure checker,
//! and `results.json` written back. `eoscheck run` ends with exactly this, and
//! `eoscheck check` repeats it offline on a copied directory.

use std::path::Path;

use anyhow::{Context, Result};
use checker::{Checker, Guarantee, Manifest, Options, Results};

use crate::{failure::Failure, runinfo::RunInfo};

/// Analyses `dir` and writes its `results.json`. `guarantees` overrides the
/// promise stored in run.json. Missing or damaged files are usage errors naming
/// the file (and line or byte): the run directory, not the cluster, is at fault.
pub fn check_dir(dir: &Path, guarantees: Option<Vec<Guarantee>>) -> Result<Results> {
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "{} is not a directory; give a run directory such as runs/latest",
            dir.display()
        )));
    }
    let guarantees = match guarantees {
        Some(g) => g,
        None => {
            RunInfo::read(dir)
                .map_err(|e| Failure::usage(format!("{e:#}")))?
                .guarantees
        }
    };
    let mut checker = Checker::new(Options::new(guarantees));

    let history_path = dir.join("history.jsonl");
    let history = std::fs::read_to_string(&history_path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", history_path.display())))?;
    checker
        .read_history(&history)
        .map_err(|e| Failure::usage(format!("{}: {e}", history_path.display())))?;

    let log_dir = dir.join("log");
    let manifest_path = log_dir.join("manifest.json");
    // A run that never got to its final read has no log: the answer is unknown.
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Manifest::parse(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", manifest_path.display())))?,
        Err(_) => Manifest {
            format: checker::log::FORMAT,
            topic: String::new(),
            complete: false,
            partitions: Vec::new(),
        },
    };
    checker.begin_log(&manifest);
    for entry in &manifest.partitions {
        let path = log_dir.join(&entry.file);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if !entry.complete => {
                tracing::debug!(
                    "{} unreadable ({e}); the read of that partition was incomplete anyway",
                    path.display()
                );
                Vec::new()
            }
            Err(e) => {
                return Err(Failure::usage(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        checker
            .read_partition(entry, bytes.into())
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    }
    let results = checker.finish();
    write_results(dir, &results)?;
    Ok(results)
}

pub fn write_results(dir: &Path, results: &Results) -> Result<()> {
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(results)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// One line per verdict for the terminal.
pub fn summary(results: &Results) -> String {
    let verdict = match results.valid {
        checker::Validity::Valid => "valid",
        checker::Validity::Invalid => "invalid",
        checker::Validity::Unknown => "unknown",
    };
    let anomalies: Vec<String> = checker::Kind::ALL
        .iter()
        .filter_map(|k| {
            let n = results.anomalies.count(*k);
            (n > 0).then(|| format!("{} {n}", k.name()))
        })
        .collect();
    format!(
        "verdict: {verdict}; anomalies: {}{}",
        if anomalies.is_empty() {
            "none".into()
        } else {
            anomalies.join(", ")
        },
        if results.unknown_reasons.is_empty() {
            String::new()
        } else {
            format!("; unknown because: {}", results.unknown_reasons.join("; "))
        }
    )
}
