//! The `eoscheck` command line: parses flags, sets exit codes, and makes sure
//! clusters are torn down however a command ends. The work is in the library.

use std::{future::Future, path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use tracing::info;

use harness::{
    check, cluster,
    compare::CompareConfig,
    engine,
    failure::{Failure, USAGE_EXIT},
    images::{self, BrokerImage},
    install::{self, Resolved},
    library::{self, ClientSpec},
    preset::Preset,
    run::{self, RunConfig},
    rundir::RunDir,
    smoke,
};

#[derive(Parser)]
#[command(
    name = "eoscheck",
    version,
    about = "Jepsen-style checker for Kafka idempotent producers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole test: a cluster, producers under faults, heal, final read, check.
    Run(RunArgs),
    /// Every client × preset under one seed (one fault schedule), side by side:
    /// runs/compare-<id>/index.html and compare.json.
    Compare(CompareArgs),
    /// Re-analyse a stored run directory and rewrite its results.json.
    Check {
        /// A run directory, e.g. runs/latest.
        run_dir: PathBuf,
        /// Judge against these guarantees instead of the ones the run promised.
        #[arg(long)]
        guarantee: Option<String>,
    },
    /// Re-render a run's report.html and junit.xml from its stored files, or the
    /// index of a runs folder.
    Report {
        /// A run directory, e.g. runs/latest.
        #[arg(required_unless_present = "index")]
        run_dir: Option<PathBuf>,
        /// Rebuild DIR/index.html instead (DIR defaults to runs).
        #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "runs")]
        index: Option<PathBuf>,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
    /// Start a cluster, send messages with an idempotent rdkafka producer, read
    /// them back raw, and check the counts agree.
    Smoke {
        #[command(flatten)]
        cluster: ClusterArgs,
        /// How many messages to send.
        #[arg(long, default_value_t = 10_000)]
        messages: u64,
        /// The runs folder; this run goes to DIR/<id>/.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
    },
    /// Build (or confirm cached) the broker images, without starting anything.
    Images {
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Remove every container and network that eoscheck left behind.
    Cleanup,
}

#[derive(Subcommand)]
enum Bench {
    /// Generate a synthetic run of N records (raw RecordBatch bytes), check it, and
    /// print records/s and peak memory.
    Checker {
        #[arg(long, default_value_t = 10_000_000)]
        records: u64,
    },
    /// Acknowledged messages/s of a bare rdkafka loop versus eoscheck's workload,
    /// side by side against one cluster.
    Overhead {
        /// Seconds each turn sends.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
        seconds: u64,
        /// Turns of each, alternating.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        rounds: u32,
        /// Producers on each side, as `eoscheck run --producers`.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
        producers: u32,
        /// Run the bare loop on both sides: the ratios' spread is the bench's
        /// noise floor on this machine.
        #[arg(long)]
        control: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Producer configuration and its promise: idempotent, idempotent-inflight-1,
    /// at-least-once, at-least-once-ordered, at-most-once, inflight-6, app-resend.
    #[arg(long, default_value = "idempotent")]
    preset: String,
    /// The client library under test, NAME[@VERSION]: rdkafka (in process), java,
    /// franz-go, sarama, confluent-kafka-python, kafka-python, aiokafka, kafkajs,
    /// confluent-kafka-javascript. Without a version the newest release is used.
    #[arg(long, default_value = "rdkafka")]
    client: String,
    /// Judge against these guarantees instead of the preset's promise
    /// (no-loss, no-duplicates, order, exactly-once, at-least-once, at-most-once).
    #[arg(long)]
    guarantee: Option<String>,
    /// Print the resolved configuration and fault schedule, and start nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct CompareArgs {
    /// Clients to compare, NAME[@VERSION] separated by commas; one library may
    /// appear at several versions (e.g. java@3.7.2,java).
    #[arg(long)]
    clients: String,
    /// Presets to run each client with, separated by commas.
    #[arg(long, default_value = "idempotent,at-least-once")]
    presets: String,
    #[command(flatten)]
    common: CommonArgs,
}

/// What `run` and `compare` share: the workload, the faults and the cluster.
#[derive(Args)]
struct CommonArgs {
    /// Faults to inject: a comma-separated list of names, `all` or `none`.
    #[arg(long, default_value = "all")]
    nemesis: String,
    /// Seconds of workload (faults included).
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Messages per second over all producers; 0 sends as fast as possible.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    #[arg(long, default_value_t = 2)]
    producers: u32,
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Bytes per message value.
    #[arg(long, default_value_t = 100)]
    message_size: usize,
    /// Seed of the fault schedule and its targets (random when not given).
    #[arg(long)]
    seed: Option<u64>,
    /// The runs folder; this run goes to DIR/<id>/.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    #[command(flatten)]
    cluster: ClusterArgs,
}

impl RunArgs {
    /// Every flag checked before anything slow starts.
    fn config(&self) -> Result<RunConfig> {
        let preset: Preset = self.preset.parse().map_err(Failure::usage)?;
        let client: ClientSpec = self.client.parse().map_err(Failure::usage)?;
        let mut config = self.common.config(preset, install::resolve(&client)?)?;
        if let Some(list) = &self.guarantee {
            config.guarantees = checker::Guarantee::parse_list(list)
                .map_err(|e| Failure::usage(format!("--guarantee: {e}")))?;
        }
        Ok(config)
    }
}

impl CompareArgs {
    fn config(&self) -> Result<CompareConfig> {
        let presets: Vec<Preset> = self
            .presets
            .split(',')
            .map(|p| p.trim().parse().map_err(Failure::usage))
            .collect::<Result<_>>()?;
        let clients: Vec<Resolved> = library::parse_list(&self.clients)
            .map_err(Failure::usage)?
            .iter()
            .map(install::resolve)
            .collect::<Result<_>>()?;
        let (Some(&first_preset), Some(first_client)) = (presets.first(), clients.first()) else {
            return Err(Failure::usage("--presets names no preset"));
        };
        // The template's seed, given or drawn once, is every cell's: every cell
        // meets the same faults at the same times.
        let template = self.common.config(first_preset, first_client.clone())?;
        Ok(CompareConfig {
            clients,
            presets,
            template,
            out: self.common.out.clone(),
        })
    }
}

impl CommonArgs {
    fn config(&self, preset: Preset, client: Resolved) -> Result<RunConfig> {
        let faults =
            nemesis::Fault::parse_list(&self.nemesis).map_err(|e| Failure::usage(e.to_string()))?;
        for (flag, value) in [
            ("--time-limit", self.time_limit),
            ("--producers", self.producers.into()),
            ("--partitions", self.partitions.max(0) as u64),
        ] {
            if value == 0 {
                return Err(Failure::usage(format!("{flag} must be at least 1")));
            }
        }
        if self.message_size < 32 {
            return Err(Failure::usage(
                "--message-size must be at least 32 bytes (the message id lives in the value)",
            ));
        }
        let config = RunConfig {
            preset,
            client,
            guarantees: preset.guarantees(),
            faults,
            time_limit: std::time::Duration::from_secs(self.time_limit),
            rate: self.rate,
            producers: self.producers,
            partitions: self.partitions,
            message_size: self.message_size,
            seed: self.seed.unwrap_or_else(rand::random),
            image: self.cluster.broker_image()?,
        };
        // Faults asked for but none fits the time limit would be a run that
        // silently tests nothing of what was asked.
        if let Some(shortest) = config.faults.iter().map(|f| f.duration()).min() {
            if config.schedule().steps.is_empty() {
                let needed = (shortest + run::QUIET.mul_f64(1.5)).as_secs() + 1;
                return Err(Failure::usage(format!(
                    "--time-limit {} leaves no room for the faults asked for (the shortest lasts {}s, after up to {}s of quiet); use --time-limit {needed} or more, or --nemesis none",
                    self.time_limit,
                    shortest.as_secs(),
                    run::QUIET.mul_f64(1.5).as_secs()
                )));
            }
        }
        Ok(config)
    }
}

#[derive(Args, Clone)]
struct ClusterArgs {
    /// Kafka release to run (3.9.x or 4.x); its image is built from Maven Central jars.
    #[arg(long, default_value = images::DEFAULT_KAFKA_VERSION)]
    kafka_version: String,
    /// Use this broker image instead of building one (e.g. apache/kafka:4.1.0).
    #[arg(long, value_name = "REF")]
    image: Option<String>,
}

impl ClusterArgs {
    /// Validates the flags before anything slow starts.
    fn broker_image(&self) -> Result<BrokerImage> {
        match &self.image {
            Some(reference) => Ok(BrokerImage::External {
                reference: reference.clone(),
            }),
            None => {
                images::validate_version(&self.kafka_version)?;
                Ok(BrokerImage::Local {
                    version: self.kafka_version.clone(),
                })
            }
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,librdkafka=warn,rdkafka=warn".into()),
        )
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Not clap's own exit code 2 for bad flags: eoscheck's 2 is an
            // unknown verdict.
            return ExitCode::from(if e.use_stderr() { USAGE_EXIT as u8 } else { 0 });
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let code = match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("eoscheck: {err:#}");
            Failure::exit_code(&err)
        }
    };
    ExitCode::from(code as u8)
}

async fn dispatch(command: Command) -> Result<i32> {
    match command {
        Command::Run(args) => {
            let config = args.config()?;
            if args.dry_run {
                print_dry_run(&config);
                return Ok(0);
            }
            let docker = engine::connect().await?;
            images::ensure(&docker, &config.image).await?;
            let dir = RunDir::create(&args.common.out, "")?;
            guarded(&docker, run::run(docker.clone(), config, dir)).await
        }
        Command::Compare(args) => {
            let config = args.config()?;
            let docker = engine::connect().await?;
            images::ensure(&docker, &config.template.image).await?;
            guarded(&docker, harness::compare::compare(docker.clone(), config)).await
        }
        Command::Check { run_dir, guarantee } => {
            let guarantees = guarantee
                .map(|g| {
                    checker::Guarantee::parse_list(&g)
                        .map_err(|e| Failure::usage(format!("--guarantee: {e}")))
                })
                .transpose()?;
            let results = check::check_dir(&run_dir, guarantees)?;
            println!("{}", check::summary(&results));
            Ok(results.exit_code())
        }
        Command::Report { run_dir, index } => {
            if let Some(runs) = index {
                println!(
                    "index: {}",
                    reports::write_index(&runs)
                        .map_err(|e| Failure::usage(format!("{e:#}")))?
                        .display()
                );
            }
            if let Some(dir) = run_dir {
                let written =
                    reports::write_all(&dir).map_err(|e| Failure::usage(format!("{e:#}")))?;
                println!("report: {}", written.report.display());
                println!("junit: {}", written.junit.display());
            }
            Ok(0)
        }
        Command::Bench {
            what: Bench::Checker { records },
        } => {
            println!("{}", harness::bench::checker(records)?);
            Ok(0)
        }
        Command::Bench {
            what:
                Bench::Overhead {
                    producers,
                    seconds,
                    rounds,
                    control,
                    cluster,
                },
        } => {
            let image = cluster.broker_image()?;
            let docker = engine::connect().await?;
            images::ensure(&docker, &image).await?;
            let id = format!("bench-{:04x}", rand::random::<u16>());
            let job = {
                let docker = docker.clone();
                async move {
                    let config = harness::bench::OverheadConfig {
                        producers,
                        seconds,
                        rounds,
                        control,
                    };
                    let line =
                        harness::bench::overhead(&docker, &image.reference(), &id, &config).await?;
                    println!("{line}");
                    Ok(0)
                }
            };
            guarded(&docker, job).await
        }
        Command::Smoke {
            cluster,
            messages,
            out,
        } => {
            let image = cluster.broker_image()?;
            let docker = engine::connect().await?;
            images::ensure(&docker, &image).await?;
            let run = RunDir::create(&out, "smoke-")?;
            guarded(&docker, smoke(docker.clone(), run, image, messages)).await
        }
        Command::Images { cluster } => {
            let image = cluster.broker_image()?;
            let docker = engine::connect().await?;
            images::ensure(&docker, &image).await?;
            println!("images: {} ready", image.reference());
            Ok(0)
        }
        Command::Cleanup => {
            let docker = engine::connect().await?;
            let removed = cluster::remove(&docker, None, None).await?;
            println!(
                "cleanup: removed {} containers, {} networks",
                removed.containers, removed.networks
            );
            Ok(0)
        }
    }
}

fn print_dry_run(config: &RunConfig) {
    println!("preset: {}", config.preset);
    for (k, v) in config.preset.settings().kafka_names() {
        println!("  {k}={v}");
    }
    let guarantees: Vec<&str> = config.guarantees.iter().map(|g| g.name()).collect();
    println!("promised: {}", guarantees.join(", "));
    println!("client: {}", config.client);
    println!("broker image: {}", config.image.reference());
    println!(
        "workload: {} producers, {} partitions, {} msg/s, {} bytes, {}s",
        config.producers,
        config.partitions,
        config.rate,
        config.message_size,
        config.time_limit.as_secs()
    );
    println!("seed: {}", config.seed);
    println!("nemesis schedule:");
    print!("{}", config.schedule());
}

async fn smoke(
    docker: bollard::Docker,
    run: RunDir,
    image: BrokerImage,
    messages: u64,
) -> Result<i32> {
    let started = std::time::Instant::now();
    let cluster = cluster::Cluster::start(
        &docker,
        &run.id,
        &image.reference(),
        Some(&run.join("nodes")),
    )
    .await?;
    info!(
        "cluster ready after {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let report = smoke::run(&cluster, messages, &run.join("log")).await?;
    println!("run directory: {}", run.path.display());
    println!(
        "smoke: sent {} acked {} read {} producers {}",
        report.sent, report.acked, report.read, report.producers
    );
    Ok(if report.passed() { 0 } else { 1 })
}

/// Runs a job that owns clusters so that they are torn down on every way out:
/// success, error, panic, Ctrl-C and SIGTERM.
async fn guarded<F>(docker: &bollard::Docker, job: F) -> Result<i32>
where
    F: Future<Output = Result<i32>> + Send + 'static,
{
    tokio::select! {
        outcome = cluster::with_teardown(docker, job) => outcome,
        signal = shutdown_signal() => {
            cluster::teardown_live(docker).await;
            Err(Failure::interrupted(signal))
        }
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
