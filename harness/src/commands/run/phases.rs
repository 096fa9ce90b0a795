//! The phases of a run, one function each, in the order [`run_at`] calls them.
//!
//! A fault that could not be injected or undone, or a heal that did not finish,
//! is not an error of the run: it goes into the history like every other thing
//! the nemesis did, and the checker judges from there (a heal that failed makes
//! the verdict `unknown`; a fault not injected is a finding). So everything the
//! verdict depends on is in the run directory, and `eoscheck check` gives the
//! verdict the run gave. `results.json` is written once, by the check.

use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use checker::{Manifest, Results};
use nemesis::{Keeper, Kept, Nemesis, Schedule};
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::{
    config::{RunConfig, Site},
    pipeline::{output_topic, PipelineStage},
    progress::{fault_names, watch_leaders, Progress},
};
use crate::{
    clients::{self, Installed, Launcher, ProducerConfig},
    cluster::{final_read, Cluster, CrashClient, FreezeClient, StartZombie, Target},
    console::failure::Failure,
    console::logging::{self, LibraryChatter},
    recording::Recorder,
    run_dir::{self, ClientInfo, KeptStep, Outcome, PhaseTime, RunDir, RunRecord, StoredLog},
    workload::{Crasher, Processors, Workload, WorkloadConfig, Zombies},
};

/// How long the nemesis gets to undo every fault after the workload.
const HEAL_TIMEOUT: Duration = Duration::from_secs(120);

type SharedNemesis = Arc<Mutex<Nemesis<Target>>>;

/// Runs the whole test in `dir` at `site`, prints its outcome and returns the
/// exit code.
pub async fn run_at(site: Site, config: RunConfig, dir: RunDir) -> Result<i32> {
    let mut record = Record::begin(&site, &config, dir)?;
    if let Err(e) = logging::open_run_log(&record.dir.join(RUN_LOG)) {
        warn!("the run's log cannot be kept: {e}");
    }
    info!(
        "run {}: preset {}, faults: {}",
        record.info.id,
        config.preset,
        fault_names(&config.faults)
    );
    for contradiction in &record.info.contradictions {
        warn!("producer settings against the promise: {contradiction}");
    }
    let result = phases(&site, &config, &mut record).await;
    delete_own_topics(&site, &config).await;
    logging::close_run_log();
    record.end(&result)?;
    if let Some(spared) = LibraryChatter::summary(&record.dir.join(RUN_LOG)) {
        info!("{spared}");
    }
    print_outcome(&record.dir, &result?)
}

/// The run's own topics on a cluster eoscheck does not run, deleted once
/// the run has read them (or has failed): it leaves nothing of its own
/// there, and touches nothing else.
async fn delete_own_topics(site: &Site, config: &RunConfig) {
    let Site::External { cluster, topic } = site else {
        return;
    };
    let mut topics = vec![topic.clone()];
    if config.pipeline().is_some() {
        topics.push(output_topic(topic));
    }
    for topic in topics {
        match cluster.delete_topic(&topic).await {
            Ok(()) => info!("deleted the run's topic {topic}"),
            Err(e) => warn!("the run's topic {topic} was not deleted: {e:#}"),
        }
    }
}

/// The run's own log in its directory: every line eoscheck logged during
/// the run, the libraries' warnings with them.
const RUN_LOG: &str = "eoscheck.log";

/// The run from set-up to verdict.
async fn phases(site: &Site, config: &RunConfig, record: &mut Record) -> Result<Results> {
    let t = Instant::now();
    let stage = set_up(site, config, record).await?;
    match stage.cluster.finalized_features().await {
        Ok(features) => record.info.cluster_features = features,
        Err(e) => warn!("the cluster's feature levels could not be read: {e:#}"),
    }
    record.phase("setup", t);

    let t = Instant::now();
    let (running, nemesis, kept) = workload_under_schedule(&stage, config, record, t).await?;
    record.info.kept = kept;
    if let Some(effective) = running.workload.effective() {
        record.info.effective_config = effective.config;
        record.info.effective_config_source = Some(effective.source);
    }
    record.phase("workload", t);

    let t = Instant::now();
    heal(&nemesis, &stage.recorder).await;
    record.phase("heal", t);

    let t = Instant::now();
    quiet(&stage, running, config).await;
    record.phase("quiet", t);

    let t = Instant::now();
    let manifest = read_log(&stage, config.partitions, record).await?;
    if let Some(pipeline) = &stage.pipeline {
        let (cluster, partitions) = (&stage.cluster, config.partitions);
        record.info.group_read_error = pipeline.read(cluster, partitions, &record.dir).await?;
    }
    record.phase("final-read", t);
    if !manifest.complete {
        warn!("the final read did not complete for every partition");
    }
    if config.preset.transactional() {
        let t = Instant::now();
        record.info.consumer_read_error =
            read_committed(&stage, config.partitions, &record.dir).await;
        record.phase("consumer-read", t);
    }

    let t = Instant::now();
    drop(stage);
    let results = run_dir::check_dir(&record.dir.path, Some(config.guarantees.clone()))?;
    record.phase("check", t);
    Ok(results)
}

/// What the set-up made and the later phases use.
struct Stage {
    cluster: Arc<Cluster>,
    topic: String,
    recorder: Arc<Recorder>,
    /// The producers': in a pipeline, its feeder's.
    launcher: Launcher,
    pipeline: Option<PipelineStage>,
}

/// The client installed, the cluster up with the run's topic, the history open.
async fn set_up(site: &Site, config: &RunConfig, record: &Record) -> Result<Stage> {
    let client = config.client.clone();
    let installed = tokio::task::spawn_blocking(move || clients::install(&client))
        .await?
        .map_err(|e| Failure::infrastructure(format!("{e:#}")))?;
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
        Site::Shared { cluster, .. } | Site::External { cluster, .. } => cluster.clone(),
    };
    let topic = site.topic().to_owned();
    cluster.create_topic(&topic, config.partitions).await?;
    let pipeline = match config.pipeline() {
        Some(_) => {
            let (id, installed) = (&record.dir.id, installed.clone());
            Some(PipelineStage::set_up(&cluster, &topic, config, id, installed).await?)
        }
        None => None,
    };
    let recorder = Recorder::create(
        &record.dir.join("history.jsonl"),
        &topic,
        record.origin,
        config.producers + config.spare_producers(),
        config.keys,
        pipeline.as_ref().map(|p| p.header()),
    )?;
    let feeder = config.feeder().of_run(&record.dir.id);
    // A pipeline's producers are its feeder: in process, whatever the client.
    let installed = installed.filter(|_| pipeline.is_none());
    let launcher = launcher(installed, cluster.bootstrap_servers(), feeder, &record.dir);
    Ok(Stage {
        cluster,
        topic,
        recorder,
        launcher,
        pipeline,
    })
}

/// In process when the library is linked in, else through its installed driver.
fn launcher(
    installed: Option<Installed>,
    bootstrap: String,
    settings: ProducerConfig,
    dir: &RunDir,
) -> Launcher {
    match installed {
        None => Launcher::InProcess {
            bootstrap,
            settings,
        },
        Some(installed) => Launcher::Driver {
            installed,
            bootstrap,
            settings,
            logs: dir.join("drivers"),
        },
    }
}

/// What runs during the workload: the producers, and a pipeline's
/// processors.
struct Running {
    workload: Workload,
    processors: Option<Processors>,
}

/// The producers (and a pipeline's processors) started and working for the
/// time limit while the nemesis keeps the schedule, whose times count from
/// `started`. Returns them still running, the nemesis with whatever faults
/// are still active, and what became of the schedule's steps.
async fn workload_under_schedule(
    stage: &Stage,
    config: &RunConfig,
    record: &Record,
    started: Instant,
) -> Result<(Running, SharedNemesis, Vec<KeptStep>)> {
    let workload = Workload::start(
        WorkloadConfig {
            topic: stage.topic.clone(),
            producers: config.producers,
            partitions: config.partitions,
            rate: config.rate,
            message_size: config.message_size,
            keys: config.keys,
            launcher: stage.launcher.clone(),
            app_resend: config.preset.app_resends(),
            transactions: config.transactions(),
            spares: config.spare_producers(),
            seed: config.seed,
        },
        stage.recorder.clone(),
    )
    .await;
    let processors = match &stage.pipeline {
        Some(p) => Some(p.start(stage.recorder.clone(), &record.dir).await),
        None => None,
    };
    let crash = match &processors {
        Some(processors) => crash_client(processors.clone(), config.seed),
        None => crash_client(workload.crasher(), config.seed),
    };
    // The coordinator faults go for what is tested: a pipeline's
    // processors, or under at-least-once (no transactions of theirs) its
    // feeder's.
    let processor_ids = stage.pipeline.as_ref().map(|p| p.transactional_ids());
    let transactional_ids = match processor_ids {
        Some(ids) if !ids.is_empty() => ids,
        _ => (0..config.producers)
            .filter_map(|p| stage.launcher.transactional_id(p))
            .collect(),
    };
    let target = Arc::new(Target {
        cluster: stage.cluster.clone(),
        topic: stage.topic.clone(),
        partitions: config.partitions,
        crash_client: Some(crash),
        start_zombie: config
            .preset
            .transactional()
            .then(|| start_zombie(workload.zombies(), config.seed)),
        freeze_client: processors
            .as_ref()
            .map(|p| freeze_processor(p.clone(), config.seed)),
        transactional_ids,
        group: stage.pipeline.as_ref().map(|p| p.group().to_owned()),
    });
    let nemesis = Arc::new(Mutex::new(Nemesis::new(target, config.seed)));
    let idle = match &processors {
        Some(p) if p.running().is_empty() => Some("no processor started"),
        _ if workload.running() == 0 => {
            Some("the client refused the configuration of every producer")
        }
        _ => None,
    };
    let kept = match idle {
        Some(why) => {
            warn!("{why}; nothing to do");
            Vec::new()
        }
        None => apply_schedule(stage, config, record, started, &nemesis).await?,
    };
    let running = Running {
        workload,
        processors,
    };
    Ok((running, nemesis, kept))
}

/// The time limit, with the schedule kept, progress shown and leadership
/// watched. Err only when the nemesis itself broke down (a bug, not a fault).
async fn apply_schedule(
    stage: &Stage,
    config: &RunConfig,
    record: &Record,
    started: Instant,
    nemesis: &SharedNemesis,
) -> Result<Vec<KeptStep>> {
    let progress = Progress::start(stage.recorder.clone(), nemesis.clone(), config.time_limit);
    let leaders = tokio::spawn(watch_leaders(
        stage.cluster.clone(),
        stage.topic.clone(),
        config.partitions,
        stage.recorder.clone(),
        record.dir.join("leaders.jsonl"),
    ));
    let faults = tokio::spawn(keep_schedule(
        nemesis.clone(),
        record.info.nemesis.clone(),
        stage.recorder.clone(),
        started,
    ));
    tokio::time::sleep(config.time_limit).await;
    let kept = faults.await;
    progress.finish();
    leaders.abort();
    kept.context("the nemesis broke down")
}

/// Carries out the schedule's steps when they are due, recording what became
/// of each in the history, and returns them with their actual times for
/// run.json. No step is due after the time limit: a start that no longer fits
/// is reported there as not injected.
async fn keep_schedule(
    nemesis: SharedNemesis,
    schedule: Schedule,
    recorder: Arc<Recorder>,
    start: Instant,
) -> Vec<KeptStep> {
    let mut keeper = Keeper::new(&schedule);
    let mut steps = Vec::new();
    while let Some((step, due)) = keeper.next_step() {
        tokio::time::sleep_until((start + due).into()).await;
        let kept = keeper.keep(&step, &nemesis).await;
        let done_s = start.elapsed().as_secs_f64();
        for kept in &kept {
            recorder.kept(kept);
        }
        steps.push(kept_step(&step, done_s, &kept));
    }
    steps
}

/// A step for run.json: done at `done_s` unless its first outcome failed
/// (an undo that failed twice is done all the same, by the heal).
fn kept_step(step: &nemesis::Step, done_s: f64, kept: &[Kept]) -> KeptStep {
    let (done, note) = match kept {
        [Kept::Failed {
            error,
            phase: nemesis::Phase::Start,
            ..
        }, ..] => (false, Some(error.clone())),
        [Kept::Failed { error, .. }, ..] => (true, Some(error.clone())),
        _ => (true, None),
    };
    KeptStep {
        fault: step.fault,
        action: step.action,
        planned_s: step.at.as_secs_f64(),
        done_s: done.then_some(done_s),
        note,
    }
}

/// What `client-crash` restarts: the producers, or a pipeline's processors.
trait Restartable: Clone + Send + Sync + 'static {
    /// What one is called, when none is running.
    const WHAT: &'static str;
    fn running(&self) -> Vec<u32>;
    fn restart(&self, which: u32) -> impl std::future::Future<Output = Result<String>> + Send;
}

impl Restartable for Crasher {
    const WHAT: &'static str = "producer";
    fn running(&self) -> Vec<u32> {
        Crasher::running(self)
    }
    fn restart(&self, which: u32) -> impl std::future::Future<Output = Result<String>> + Send {
        self.crash(which)
    }
}

/// A processor is killed, and a new one takes its slot.
impl Restartable for Processors {
    const WHAT: &'static str = "processor";
    fn running(&self) -> Vec<u32> {
        Processors::running(self)
    }
    fn restart(&self, which: u32) -> impl std::future::Future<Output = Result<String>> + Send {
        self.crash(which)
    }
}

/// `client-crash` restarts one of the running producers (or processors),
/// chosen by the run's seed.
fn crash_client<R: Restartable>(restartable: R, seed: u64) -> CrashClient {
    let rng = seeded(seed ^ 0xc1a5);
    Arc::new(move || {
        let restartable = restartable.clone();
        let which = pick(&rng, restartable.running());
        Box::pin(async move {
            let which = which.with_context(|| format!("no {} is running", R::WHAT))?;
            restartable.restart(which).await
        })
    })
}

/// `pause-processor` freezes one of the running processors, chosen by the
/// run's seed, and thaws it when the fault stops.
struct FreezeProcessor {
    processors: Processors,
    rng: SharedRng,
}

fn freeze_processor(processors: Processors, seed: u64) -> Arc<dyn FreezeClient> {
    let rng = seeded(seed ^ 0xf2ee2e);
    Arc::new(FreezeProcessor { processors, rng })
}

/// How the fault names a processor: `processor N`.
const PROCESSOR: &str = "processor ";

impl FreezeClient for FreezeProcessor {
    fn freeze(&self) -> Pin<Box<dyn Future<Output = Result<String>> + Send + '_>> {
        let slot = pick(&self.rng, self.processors.running());
        Box::pin(async move {
            let slot = slot.context("no processor is running")?;
            self.processors.freeze(slot, true)?;
            Ok(format!("{PROCESSOR}{slot}"))
        })
    }

    fn thaw(&self, which: &str) -> Result<()> {
        let slot = which.strip_prefix(PROCESSOR).and_then(|n| n.parse().ok());
        let slot = slot.with_context(|| format!("{which:?} names no processor"))?;
        self.processors.freeze(slot, false)
    }
}

/// `zombie` fences one of the running transactional producers, chosen by
/// the run's seed.
fn start_zombie(zombies: Zombies, seed: u64) -> StartZombie {
    let rng = seeded(seed ^ 0x2011_b1e5);
    Arc::new(move || {
        let zombies = zombies.clone();
        let victim = pick(&rng, zombies.candidates());
        Box::pin(async move {
            let victim = victim.context("no transactional producer is running")?;
            let started = zombies.start(victim).await?;
            Ok(nemesis::Zombie {
                victim: format!("producer {}", started.victim),
                newcomer: format!("producer {}", started.newcomer),
                transactional_id: started.transactional_id,
                mid_transaction: started.mid_transaction,
            })
        })
    })
}

type SharedRng = Arc<std::sync::Mutex<rand_chacha::ChaCha8Rng>>;

fn seeded(seed: u64) -> SharedRng {
    Arc::new(std::sync::Mutex::new(
        rand_chacha::ChaCha8Rng::seed_from_u64(seed),
    ))
}

/// One of `among`, drawn from `rng`; None when there is none.
fn pick(rng: &SharedRng, among: Vec<u32>) -> Option<u32> {
    if among.is_empty() {
        return None;
    }
    let i = rng.lock().unwrap().random_range(0..among.len());
    Some(among[i])
}

/// Every fault undone, each still-active one recorded as stopped by the heal; a
/// heal that fails is recorded too, and makes the verdict `unknown`.
async fn heal(nemesis: &SharedNemesis, recorder: &Recorder) {
    let mut nemesis = nemesis.lock().await;
    let still_active = nemesis.active();
    match nemesis.heal_all(HEAL_TIMEOUT).await {
        Ok(event) => {
            for fault in still_active {
                recorder.nemesis(&nemesis::FaultEvent {
                    fault: Some(fault),
                    ..event.clone()
                });
            }
        }
        Err(e) => recorder.nemesis_failed(None, nemesis::Phase::Heal, format!("{e:#}")),
    }
}

/// No more sends; the producers get their delivery timeout (bounded) to
/// complete what they hold. Transactional producers may leave a transaction
/// open (a crashed or fenced instance's): the log is read once every
/// coordinator has ended them all, at most after their transaction timeout.
/// A pipeline's processors then catch up with the input and close. Then the
/// history is closed: its end line says nothing of the run is missing from
/// it. What is still open then stays indeterminate.
async fn quiet(stage: &Stage, running: Running, config: &RunConfig) {
    let producer = config.feeder();
    running.workload.stop(producer.delivery_bound()).await;
    if let Some(timeout) = producer.transaction_timeout() {
        let (topic, partitions) = (&stage.topic, config.partitions);
        if !final_read::settle_transactions(&stage.cluster, topic, partitions, timeout).await {
            warn!("a transaction was still open past its timeout when the log was read");
        }
    }
    if let (Some(processors), Some(pipeline)) = (running.processors, &stage.pipeline) {
        pipeline
            .finish(processors, &stage.cluster, config.partitions)
            .await;
    }
    stage.recorder.close();
}

/// The final read of every partition into the run's `log/`.
async fn read_log(stage: &Stage, partitions: i32, record: &mut Record) -> Result<Manifest> {
    let into = record.dir.join("log");
    let read = final_read::read_topic(&stage.cluster, &stage.topic, partitions, &into).await?;
    record.info.final_read = Some(StoredLog {
        fetched_bytes: read.fetched_bytes,
        stored_bytes: read.stored_bytes,
        storage: read.manifest.storage,
    });
    Ok(read.manifest)
}

/// What a `read_committed` consumer delivers of every partition, into the
/// run's `consumed.json`. A consumer that cannot read leaves no file, and
/// its error is returned for run.json: the run's answer is then unknown.
async fn read_committed(stage: &Stage, partitions: i32, dir: &RunDir) -> Option<String> {
    let (bootstrap, topic) = (stage.cluster.bootstrap_servers(), stage.topic.clone());
    let read = tokio::task::spawn_blocking(move || {
        crate::cluster::consumer::read(&bootstrap, &topic, partitions)
    })
    .await;
    let written = match read {
        Ok(Ok(consumed)) => serde_json::to_string(&consumed)
            .map_err(anyhow::Error::from)
            .and_then(|text| Ok(std::fs::write(dir.join(checker::consumed::FILE), text)?)),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(e.into()),
    };
    let error = format!("{:#}", written.err()?);
    warn!("the read_committed consumer's read failed: {error}");
    Some(error)
}

/// The end of a run on the terminal: where it is, its verdict, its report.
fn print_outcome(dir: &RunDir, results: &Results) -> Result<i32> {
    logging::say(&format!("run directory: {}", dir.path.display()));
    run_dir::print_verdict(results);
    logging::say(&format!("results: {}", dir.join("results.json").display()));
    let written = reports::write_all(&dir.path)?;
    if let Some(runs) = dir.path.parent() {
        reports::write_index(runs)?;
    }
    logging::say(&format!("report: {}", written.report.display()));
    Ok(results.exit_code())
}

/// The run's record of itself, kept current in run.json: written at the start,
/// after every phase, and with the outcome at the end.
struct Record {
    dir: RunDir,
    info: RunRecord,
    /// The run's time zero, the history's too.
    origin: Instant,
}

impl Record {
    fn begin(site: &Site, config: &RunConfig, dir: RunDir) -> Result<Record> {
        let producer = config.producer().of_run(&dir.id);
        let transactions = config.transactions();
        let (image, kafka_version) = site.image(config);
        let info = RunRecord {
            format: run_dir::RUN_FORMAT,
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
            producer_settings: producer.values(),
            producer_origins: producer
                .0
                .iter()
                .map(|(k, s)| (k.clone(), s.origin.name().to_owned()))
                .collect::<BTreeMap<_, _>>(),
            idempotence_asked: Some(producer.idempotence()),
            contradictions: producer.contradictions(&config.guarantees),
            effective_config: BTreeMap::new(),
            effective_config_source: None,
            keys: config.keys,
            txn_size: transactions.map(|t| t.size.to_string()),
            abort_rate: transactions.map(|t| t.abort_rate),
            consumer_read_error: None,
            processors: config.pipeline().map(|(n, _)| n),
            mutation: config.mutation.map(|m| m.name().to_owned()),
            group_read_error: None,
            cluster_features: BTreeMap::new(),
            kafka_version,
            image,
            topic: site.topic().into(),
            seed: config.seed,
            time_limit_s: config.time_limit.as_secs_f64(),
            rate: config.rate,
            producers: config.producers,
            partitions: config.partitions,
            message_size: config.message_size.least,
            message_size_max: (config.message_size.most != config.message_size.least)
                .then_some(config.message_size.most),
            nemesis: config.schedule(),
            kept: Vec::new(),
            phases: Vec::new(),
            final_read: None,
            outcome: None,
        };
        info.write(&dir.path)?;
        Ok(Record {
            dir,
            info,
            origin: Instant::now(),
        })
    }

    /// Records that phase `name`, begun at `started`, has ended.
    fn phase(&mut self, name: &str, started: Instant) {
        self.info.phases.push(PhaseTime {
            name: name.to_owned(),
            start_s: started.duration_since(self.origin).as_secs_f64(),
            end_s: self.origin.elapsed().as_secs_f64(),
        });
        if let Err(e) = self.info.write(&self.dir.path) {
            warn!("{e:#}");
        }
    }

    /// The outcome, a verdict or the error that ended the run.
    fn end(&mut self, result: &Result<Results>) -> Result<()> {
        self.info.outcome = Some(match result {
            Ok(results) => Outcome::of(results),
            Err(e) => Outcome {
                exit_code: Failure::exit_code(e),
                verdict: "error".into(),
                error: Some(format!("{e:#}")),
            },
        });
        self.info.write(&self.dir.path)
    }
}
