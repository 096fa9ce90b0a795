//! The `eoscheck` command line: parses flags and calls a command
//! (`harness::commands`), then turns its outcome into the exit code.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use harness::{
    commands::{bench, check, cleanup, compare, images, processor, report, run, smoke},
    failure::{Failure, USAGE_EXIT},
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
    Run(run::Args),
    /// Every client × preset under one seed (one fault schedule), side by side:
    /// runs/compare-<id>/index.html and compare.json.
    Compare(compare::Args),
    /// Re-analyse a stored run directory and rewrite its results.json.
    Check(check::Args),
    /// Re-render a run's report.html and junit.xml from its stored files, or the
    /// index of a runs folder.
    Report(report::Args),
    /// Benchmarks.
    Bench(bench::Args),
    /// Start a cluster, send messages with an idempotent rdkafka producer, read
    /// them back raw, and check the counts agree.
    Smoke(smoke::Args),
    /// Build (or confirm cached) the broker images, without starting anything.
    Images(images::ImageArgs),
    /// Remove every container and network that eoscheck left behind.
    Cleanup,
    /// A pipeline's processor with librdkafka, speaking the driver protocol
    /// on stdin and stdout: what a run starts for `--client rdkafka`.
    #[command(hide = true)]
    Processor,
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
    let code = match runtime.block_on(execute(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("eoscheck: {err:#}");
            Failure::exit_code(&err)
        }
    };
    ExitCode::from(code as u8)
}

async fn execute(command: Command) -> Result<i32> {
    match command {
        Command::Run(args) => run::execute(args).await,
        Command::Processor => processor::execute().await,
        Command::Compare(args) => compare::execute(args).await,
        Command::Check(args) => check::execute(args),
        Command::Report(args) => report::execute(args),
        Command::Bench(args) => bench::execute(args),
        Command::Smoke(args) => smoke::execute(args).await,
        Command::Images(args) => images::execute(args).await,
        Command::Cleanup => cleanup::execute().await,
    }
}
