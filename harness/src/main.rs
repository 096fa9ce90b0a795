//! The `eoscheck` command line: parses flags, sets exit codes, and makes sure
//! clusters are torn down however a command ends. The work is in the library.

use std::{future::Future, path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use tracing::info;

use harness::{cluster, engine, failure::Failure, images, images::BrokerImage, rundir::RunDir, smoke};

#[derive(Parser)]
#[command(name = "eoscheck", version, about = "Jepsen-style checker for Kafka idempotent producers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
            Some(reference) => Ok(BrokerImage::External { reference: reference.clone() }),
            None => {
                images::validate_version(&self.kafka_version)?;
                Ok(BrokerImage::Local { version: self.kafka_version.clone() })
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
    let cli = Cli::parse();
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
        Command::Smoke { cluster, messages, out } => {
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

async fn smoke(docker: bollard::Docker, run: RunDir, image: BrokerImage, messages: u64) -> Result<i32> {
    let started = std::time::Instant::now();
    let cluster = cluster::Cluster::start(&docker, &run.id, &image.reference(), Some(&run.join("nodes"))).await?;
    info!("cluster ready after {:.1}s", started.elapsed().as_secs_f64());
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
