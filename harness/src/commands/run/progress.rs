//! What a run shows and keeps while its workload goes: a progress line, and
//! every change of partition leadership into `leaders.jsonl`.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use nemesis::{Fault, Nemesis};
use reports::LeaderLine;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::{
    cluster::{Cluster, Target},
    console::logging,
    recording::Recorder,
};

/// Records every change of partition leadership, as the cluster reports it, into
/// `leaders.jsonl` ([`LeaderLine`]), for the report's per-partition view.
pub async fn watch_leaders(
    cluster: Arc<Cluster>,
    topic: String,
    partitions: i32,
    recorder: Arc<Recorder>,
    path: PathBuf,
) {
    let Ok(mut file) = std::fs::File::create(&path) else {
        warn!("cannot create {}", path.display());
        return;
    };
    let mut known = vec![None; partitions as usize];
    loop {
        for partition in 0..partitions {
            let leader = cluster.leader(&topic, partition).await.unwrap_or(-1);
            if known[partition as usize] != Some(leader) {
                known[partition as usize] = Some(leader);
                let line = LeaderLine {
                    time: recorder.now(),
                    partition,
                    leader,
                };
                let line = serde_json::to_string(&line).expect("a leader line serialises");
                let _ = writeln!(file, "{line}").and_then(|_| file.flush());
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The faults as a comma-separated list, `none` for none.
pub fn fault_names(faults: &[Fault]) -> String {
    if faults.is_empty() {
        "none".into()
    } else {
        faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Progress during the workload: a live bar on a terminal (log lines are
/// written above it: `logging::bars`), a plain line every ten seconds
/// elsewhere (CI logs).
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn start(
        recorder: Arc<Recorder>,
        nemesis: Arc<Mutex<Nemesis<Target>>>,
        limit: Duration,
    ) -> Progress {
        let terminal = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = terminal.then(|| {
            let bar = logging::bars().add(indicatif::ProgressBar::new(limit.as_secs()));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "workload {elapsed_precise} [{bar:30}] {pos}/{len}s {msg}",
                )
                .expect("a valid template"),
            );
            bar
        });
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(if terminal { 1 } else { 10 })).await;
                let active = match nemesis.try_lock() {
                    Ok(n) => fault_names(&n.active()),
                    Err(_) => "(changing)".into(),
                };
                let line = format!("{}; faults: {active}", recorder.counts.summary());
                match &shown {
                    Some(bar) => {
                        bar.set_position(started.elapsed().as_secs().min(limit.as_secs()));
                        bar.set_message(line);
                    }
                    None => info!("workload {:>3}s: {line}", started.elapsed().as_secs()),
                }
            }
        });
        Progress { task, bar }
    }

    pub fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
            logging::bars().remove(&bar);
        }
    }
}
