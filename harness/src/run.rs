//! `eoscheck run`: the whole test, composed in one readable sequence.
//!
//! set-up → workload under the nemesis schedule → heal-all → quiet (producers
//! flushed, with a bound) → final read → check → results, report → runs/latest.
//! The history is on disk as the run goes; if anything breaks after the workload
//! started, what was recorded is kept and the verdict says `unknown`.

use std::{
    collections::BTreeMap,
    io::IsTerminal,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Result;
use bollard::Docker;
use checker::{Guarantee, Results, Validity};
use nemesis::{Fault, Nemesis, Schedule, ScheduleConfig};
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::{
    check,
    client::Launcher,
    cluster::Cluster,
    failure::Failure,
    images::BrokerImage,
    install::{self, Resolved},
    logread,
    preset::Preset,
    recorder::Recorder,
    rundir::RunDir,
    runinfo::{ClientInfo, Outcome, PhaseTime, RunInfo},
    target::Target,
    workload::{Workload, WorkloadConfig},
};

pub const TOPIC: &str = "eoscheck";
const HEAL_TIMEOUT: Duration = Duration::from_secs(120);
const FLUSH_BOUND: Duration = Duration::from_secs(30);
/// Mean quiet time between two faults.
pub const QUIET: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub preset: Preset,
    /// The client library under test, at an exact release.
    pub client: Resolved,
    pub guarantees: Vec<Guarantee>,
    pub faults: Vec<Fault>,
    pub time_limit: Duration,
    pub rate: u32,
    pub producers: u32,
    pub partitions: i32,
    pub message_size: usize,
    pub seed: u64,
    pub image: BrokerImage,
}

impl RunConfig {
    pub fn schedule(&self) -> Schedule {
        Schedule::generate(&ScheduleConfig {
            faults: self.faults.clone(),
            seed: self.seed,
            time_limit: self.time_limit,
            quiet: QUIET,
        })
    }
}

/// The run's record of itself, kept current in run.json.
struct Record {
    dir: RunDir,
    info: RunInfo,
    origin: Instant,
}

impl Record {
    fn phase<T>(&mut self, name: &str, started: Instant, value: T) -> T {
        self.info.phases.push(PhaseTime {
            name: name.to_owned(),
            start_s: started.duration_since(self.origin).as_secs_f64(),
            end_s: self.origin.elapsed().as_secs_f64(),
        });
        if let Err(e) = self.info.write(&self.dir.path) {
            warn!("{e:#}");
        }
        value
    }
}

/// Where a run's cluster comes from.
pub enum Site {
    /// A fresh cluster of the run's own (what `eoscheck run` does).
    Fresh(Docker),
    /// A cluster the caller keeps, shared by several runs (the driver tests): the
    /// run works on its own topic there, and the broker logs are not its own.
    Shared {
        cluster: Arc<Cluster>,
        topic: String,
    },
}

impl Site {
    fn topic(&self) -> &str {
        match self {
            Site::Fresh(_) => TOPIC,
            Site::Shared { topic, .. } => topic,
        }
    }
}

/// Runs the whole test in `dir` on a fresh cluster and returns the exit code.
pub async fn run(docker: Docker, config: RunConfig, dir: RunDir) -> Result<i32> {
    run_at(Site::Fresh(docker), config, dir).await
}

/// Runs the whole test in `dir` at `site` and returns the exit code.
pub async fn run_at(site: Site, config: RunConfig, dir: RunDir) -> Result<i32> {
    let origin = Instant::now();
    let schedule = config.schedule();
    let mut record = Record {
        info: RunInfo {
            format: crate::runinfo::FORMAT,
            id: dir.id.clone(),
            started: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            preset: config.preset.to_string(),
            guarantees: config.guarantees.clone(),
            client: ClientInfo {
                name: config.client.library.name().into(),
                version: config.client.version.clone(),
            },
            producer_settings: config
                .preset
                .settings()
                .kafka_names()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
            kafka_version: config.image.version().map(str::to_owned),
            image: config.image.reference(),
            topic: site.topic().into(),
            seed: config.seed,
            time_limit_s: config.time_limit.as_secs_f64(),
            rate: config.rate,
            producers: config.producers,
            partitions: config.partitions,
            message_size: config.message_size,
            nemesis: schedule.clone(),
            phases: Vec::new(),
            outcome: None,
        },
        dir,
        origin,
    };
    record.info.write(&record.dir.path)?;
    info!(
        "run {}: preset {}, faults: {}",
        record.info.id,
        config.preset,
        fault_names(&config.faults)
    );

    let result = execute(&site, &config, &schedule, &mut record).await;
    let outcome = match &result {
        Ok(results) => Outcome {
            exit_code: results.exit_code(),
            verdict: verdict(results.valid).into(),
            error: None,
        },
        Err(e) => Outcome {
            exit_code: crate::failure::Failure::exit_code(e),
            verdict: "error".into(),
            error: Some(format!("{e:#}")),
        },
    };
    record.info.outcome = Some(outcome);
    record.info.write(&record.dir.path)?;
    let results = result?;
    println!("run directory: {}", record.dir.path.display());
    println!(
        "verdict: {} ({}){}",
        verdict(results.valid),
        results
            .guarantees
            .iter()
            .map(|g| g.name())
            .collect::<Vec<_>>()
            .join(", "),
        if results.violated.is_empty() {
            String::new()
        } else {
            format!(
                "; violated: {}",
                results
                    .violated
                    .iter()
                    .map(|g| g.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    println!("results: {}", record.dir.join("results.json").display());
    let written = reports::write_all(&record.dir.path)?;
    if let Some(runs) = record.dir.path.parent() {
        reports::write_index(runs)?;
    }
    println!("report: {}", written.report.display());
    Ok(results.exit_code())
}

async fn execute(
    site: &Site,
    config: &RunConfig,
    schedule: &Schedule,
    record: &mut Record,
) -> Result<Results> {
    let t = Instant::now();
    let client = config.client.clone();
    let installed = tokio::task::spawn_blocking(move || install::install(&client))
        .await?
        .map_err(|e| Failure::infrastructure(format!("{e:#}")))?;
    let topic = site.topic();
    let cluster = match site {
        Site::Fresh(docker) => Arc::new(
            Cluster::start(
                docker,
                &record.dir.id,
                &config.image.reference(),
                Some(&record.dir.join("nodes")),
            )
            .await?,
        ),
        Site::Shared { cluster, .. } => cluster.clone(),
    };
    cluster.create_topic(topic, config.partitions).await?;
    let recorder = Recorder::create(
        &record.dir.join("history.jsonl"),
        topic,
        record.origin,
        config.producers,
    )?;
    record.phase("setup", t, ());

    // Workload and nemesis.
    let t = Instant::now();
    let (bootstrap, settings) = (cluster.bootstrap_servers(), config.preset.settings());
    let launcher = match installed {
        None => Launcher::InProcess {
            bootstrap,
            settings,
        },
        Some(installed) => Launcher::Driver {
            installed,
            bootstrap,
            settings,
            logs: record.dir.join("drivers"),
        },
    };
    let workload = Workload::start(
        WorkloadConfig {
            topic: topic.into(),
            producers: config.producers,
            partitions: config.partitions,
            rate: config.rate,
            message_size: config.message_size,
            launcher,
            app_resend: config.preset.app_resends(),
        },
        recorder.clone(),
    )
    .await;
    let mut problems = Vec::new();
    let target = Arc::new(Target {
        cluster: cluster.clone(),
        topic: topic.into(),
        partitions: config.partitions,
        crash_client: Some(crash_client(workload.crasher(), config.seed)),
    });
    let nemesis = Arc::new(Mutex::new(Nemesis::new(target.clone(), config.seed)));
    if workload.running() == 0 {
        warn!("the client refused the configuration of every producer; nothing to send");
    } else {
        let progress = Progress::start(recorder.clone(), nemesis.clone(), config.time_limit);
        let leaders = tokio::spawn(watch_leaders(
            cluster.clone(),
            topic.to_owned(),
            config.partitions,
            recorder.clone(),
            record.dir.join("leaders.jsonl"),
        ));
        let faults = tokio::spawn(run_schedule(
            nemesis.clone(),
            schedule.clone(),
            recorder.clone(),
            t,
        ));
        tokio::time::sleep(config.time_limit).await;
        match faults.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.push(format!("the nemesis failed: {e:#}")),
            Err(e) => problems.push(format!("the nemesis task failed: {e}")),
        }
        progress.finish();
        leaders.abort();
    }
    record.phase("workload", t, ());

    let t = Instant::now();
    let mut nemesis = nemesis.lock().await;
    let still_active = nemesis.active();
    match nemesis.heal_all(HEAL_TIMEOUT).await {
        Ok(event) => {
            for fault in still_active {
                recorder.nemesis(&nemesis::Event {
                    fault: Some(fault),
                    ..event.clone()
                });
            }
        }
        Err(e) => problems.push(format!("healing the cluster failed: {e:#}")),
    }
    record.phase("heal", t, ());

    let t = Instant::now();
    workload.stop(FLUSH_BOUND).await;
    recorder.flush();
    record.phase("quiet", t, ());

    let t = Instant::now();
    let manifest =
        logread::read_topic(&cluster, topic, config.partitions, &record.dir.join("log")).await?;
    record.phase("final-read", t, ());
    if !manifest.complete {
        warn!("the final read did not complete for every partition");
    }

    let t = Instant::now();
    drop(recorder);
    let mut results = check::check_dir(&record.dir.path, Some(config.guarantees.clone()))?;
    if !problems.is_empty() {
        // A fault that could not be injected or healed leaves the run unproven.
        for p in &problems {
            warn!("{p}");
        }
        if results.valid == Validity::Valid {
            results.valid = Validity::Unknown;
        }
        results.unknown_reasons.extend(problems);
        check::write_results(&record.dir.path, &results)?;
    }
    Ok(record.phase("check", t, results))
}

/// Applies the schedule's steps at their times, recording each in the history.
async fn run_schedule(
    nemesis: Arc<Mutex<Nemesis<Target>>>,
    schedule: Schedule,
    recorder: Arc<Recorder>,
    start: Instant,
) -> Result<()> {
    for step in &schedule.steps {
        tokio::time::sleep_until((start + step.at).into()).await;
        let event = nemesis.lock().await.apply(step).await?;
        recorder.nemesis(&event);
    }
    Ok(())
}

/// Records every change of partition leadership, as the cluster reports it, into
/// `leaders.jsonl` (`{"time": ns, "partition": p, "leader": id}`, -1 for none),
/// for the report's per-partition view.
async fn watch_leaders(
    cluster: Arc<Cluster>,
    topic: String,
    partitions: i32,
    recorder: Arc<Recorder>,
    path: std::path::PathBuf,
) {
    use std::io::Write;
    let Ok(mut file) = std::fs::File::create(&path) else {
        warn!("cannot create {}", path.display());
        return;
    };
    let mut known = vec![None; partitions as usize];
    loop {
        for p in 0..partitions {
            let leader = cluster.leader(&topic, p).await.unwrap_or(-1);
            if known[p as usize] != Some(leader) {
                known[p as usize] = Some(leader);
                let line =
                    serde_json::json!({"time": recorder.now(), "partition": p, "leader": leader});
                let _ = writeln!(file, "{line}").and_then(|_| file.flush());
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `client-crash` restarts a producer chosen by the run's seed.
fn crash_client(crasher: crate::workload::Crasher, seed: u64) -> crate::target::CrashClient {
    let rng = Arc::new(std::sync::Mutex::new(
        rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xc1a5),
    ));
    Arc::new(move || {
        let crasher = crasher.clone();
        let producer = rng.lock().unwrap().random_range(0..crasher.producers());
        Box::pin(async move { crasher.crash(producer).await })
    })
}

fn verdict(valid: Validity) -> &'static str {
    match valid {
        Validity::Valid => "valid",
        Validity::Invalid => "invalid",
        Validity::Unknown => "unknown",
    }
}

fn fault_names(faults: &[Fault]) -> String {
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

/// Progress during the workload: a live line on a terminal, a plain line every
/// ten seconds elsewhere (CI logs).
struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(
        recorder: Arc<Recorder>,
        nemesis: Arc<Mutex<Nemesis<Target>>>,
        limit: Duration,
    ) -> Progress {
        let terminal = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let bar = terminal.then(|| {
                let bar = indicatif::ProgressBar::new(limit.as_secs());
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "workload {elapsed_precise} [{bar:30}] {pos}/{len}s {msg}",
                    )
                    .expect("a valid template"),
                );
                bar
            });
            loop {
                tokio::time::sleep(Duration::from_secs(if terminal { 1 } else { 10 })).await;
                let active = match nemesis.try_lock() {
                    Ok(n) => fault_names(&n.active()),
                    Err(_) => "(changing)".into(),
                };
                let line = format!("{}; faults: {active}", recorder.counts.summary());
                match &bar {
                    Some(bar) => {
                        bar.set_position(started.elapsed().as_secs().min(limit.as_secs()));
                        bar.set_message(line);
                    }
                    None => info!("workload {:>3}s: {line}", started.elapsed().as_secs()),
                }
            }
        });
        Progress { task }
    }

    fn finish(self) {
        self.task.abort();
    }
}
