//! What people and CI read after an eoscheck run: `report.html` (one
//! self-contained page with plots), `junit.xml`, and `runs/index.html`;
//! after `eoscheck compare`, the matrix page of its cells ([`write_compare`],
//! from the [`RunSummary`] of each run).
//!
//! This crate renders; it does not judge. The checker's `results.json`
//! ([`checker::Results`]) is the verdict, the history is what happened and
//! when; the report lays both out on one clock so a red run can be understood
//! from one page. Rendering is pure ([`render_report`], [`render_junit`],
//! [`render_index`]: parsed inputs in, text out); [`write_all`] and
//! [`write_index`] are the thin file-system edges the harness calls, and they
//! read nothing but the run directory, so `eoscheck report DIR` works on a
//! copied run years later.
//!
//! Not here: the CLI and exit codes (harness), the verdict and
//! `results.json` itself (checker), fault names, labels and colours
//! (nemesis).

mod charts;
mod compare;
mod examples;
mod index;
mod junit;
mod markup;
mod page;
mod pipeline;
mod processors;
mod run_info;
mod timeline;
mod trend;

pub use compare::{render_compare, summarize, write_compare, Cell, Compare, RunSummary, Shard};
pub use index::{render_index, ComparisonEntry, IndexEntry};
pub use junit::render_junit;
pub use page::{render_report, Run};
pub use run_info::RunInfo;
pub use timeline::{CompletedSend, FaultInterval, LeaderChange, LeaderLine, SendOutcome, Timeline};
pub use trend::Series;

use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// The files [`write_all`] wrote.
#[derive(Debug)]
pub struct Written {
    pub report: PathBuf,
    pub junit: PathBuf,
}

/// Renders `report.html` and `junit.xml` of the run in `run_dir` from its
/// stored files: `run.json`, `history.jsonl`, `results.json`, and
/// `leaders.jsonl` and `nodes/*.log` where present.
pub fn write_all(run_dir: &Path) -> Result<Written> {
    let read = |name: &str, what_to_do: &str| read_file(run_dir, name, what_to_do);
    let info = read_info(run_dir)?;
    let results = read_results(run_dir)?;
    let history = read("history.jsonl", "the run directory is incomplete")?;
    let leaders = read("leaders.jsonl", "").ok();
    let timeline = Timeline::parse(&history, leaders.as_deref())
        .with_context(|| format!("in {}", run_dir.display()))?;
    let broker_logs = broker_logs(run_dir);
    let run = Run {
        info: &info,
        results: &results,
        timeline: &timeline,
        broker_logs: &broker_logs,
    };
    let written = Written {
        report: run_dir.join("report.html"),
        junit: run_dir.join("junit.xml"),
    };
    write(&written.report, &render_report(&run)?)?;
    write(&written.junit, &render_junit(&info, &results))?;
    Ok(written)
}

/// Renders `index.html` of the runs folder `runs_dir` and returns its path.
/// Every directory in it is a run (the `latest` link is skipped) or, named
/// `compare-*` or holding a `compare.json`, a comparison; a run whose files
/// are missing or unreadable is listed with the problem.
pub fn write_index(runs_dir: &Path) -> Result<PathBuf> {
    let listing = fs::read_dir(runs_dir).with_context(|| {
        format!(
            "cannot list the runs folder {}; pass the folder given to --out",
            runs_dir.display()
        )
    })?;
    let (mut entries, mut comparisons) = (Vec::new(), Vec::new());
    for dir in listing.flatten() {
        let is_dir = dir.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir {
            continue;
        }
        let path = dir.path();
        let name = dir.file_name().to_string_lossy().into_owned();
        if name.starts_with("compare-") || path.join("compare.json").is_file() {
            let compare = fs::read_to_string(path.join("compare.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            comparisons.push(ComparisonEntry {
                has_page: path.join("index.html").is_file(),
                dir: name,
                compare,
            });
            continue;
        }
        let info = fs::read_to_string(path.join("run.json"))
            .ok()
            .and_then(|t| RunInfo::parse(&t).ok());
        let (results, results_problem) = match fs::read_to_string(path.join("results.json")) {
            Err(_) => (None, Some("no results.json".to_string())),
            Ok(text) => match serde_json::from_str(&text) {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(format!("unreadable results.json ({e})"))),
            },
        };
        let has_report = path.join("report.html").is_file();
        entries.push(IndexEntry {
            dir: name,
            info,
            results,
            results_problem,
            has_report,
        });
    }
    let index = runs_dir.join("index.html");
    write(&index, &render_index(&mut entries, &mut comparisons))?;
    Ok(index)
}

fn read_file(run_dir: &Path, name: &str, what_to_do: &str) -> Result<String> {
    let path = run_dir.join(name);
    fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}; {what_to_do}", path.display()))
}

/// `run.json`; a missing one gives a run named after its directory, since a
/// report without the configuration is still worth having.
fn read_info(run_dir: &Path) -> Result<RunInfo> {
    match read_file(run_dir, "run.json", "") {
        Ok(text) => RunInfo::parse(&text).with_context(|| {
            format!(
                "{} is not a JSON object",
                run_dir.join("run.json").display()
            )
        }),
        Err(_) => Ok(unnamed(run_dir)),
    }
}

/// What is known of a run without its `run.json`: its directory's name.
fn unnamed(run_dir: &Path) -> RunInfo {
    RunInfo {
        id: run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        ..RunInfo::default()
    }
}

/// `results.json`, with what to do when it is missing or not ours.
fn read_results(run_dir: &Path) -> Result<checker::Results> {
    let text = read_file(
        run_dir,
        "results.json",
        "run `eoscheck check RUN_DIR` first",
    )?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a results file of this eoscheck; run `eoscheck check RUN_DIR` to rewrite it",
            run_dir.join("results.json").display()
        )
    })
}

/// `nodes/*.log`, relative to the run directory, sorted.
fn broker_logs(run_dir: &Path) -> Vec<String> {
    let Ok(listing) = fs::read_dir(run_dir.join("nodes")) else {
        return Vec::new();
    };
    let mut logs: Vec<String> = listing
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".log"))
        .map(|name| format!("nodes/{name}"))
        .collect();
    logs.sort();
    logs
}

/// Writes through a temporary file, so a reader never sees half a page.
fn write(path: &Path, text: &str) -> Result<()> {
    let partial = path.with_extension("partial");
    fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}
