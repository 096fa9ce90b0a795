//! The `eoscheck` command line: parses flags and calls a command
//! (`harness::commands`), then turns its outcome into the exit code.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use harness::{
    commands::{
        bench, check, cleanup, cluster, compare, images, processor, prune, report, run, smoke,
    },
    console::failure::{Failure, USAGE_EXIT},
    console::logging,
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
    /// Fewer log lines: warnings and errors only.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    quiet: u8,
    /// More log lines: -v debug, -vv trace (RUST_LOG overrides both).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
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
    /// Remove every container and network that eoscheck left behind (the
    /// cluster `eoscheck cluster up` keeps stays, unless --all).
    Cleanup(cleanup::Args),
    /// `up`: start a 3-node cluster that stays up, for `run --bootstrap`;
    /// `down`: remove it.
    Cluster(cluster::Args),
    /// Remove old runs and comparisons from a runs folder (the newest N, or
    /// those younger than DAYS, stay), keeping every run a kept comparison
    /// shows.
    Prune(prune::Args),
    /// Print a shell's completion script: `eoscheck completions bash >
    /// /etc/bash_completion.d/eoscheck` (zsh and fish alike).
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// A pipeline's processor with librdkafka, speaking the driver protocol
    /// on stdin and stdout: what a run starts for `--client rdkafka`.
    #[command(hide = true)]
    Processor,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Not clap's own exit code 2 for bad flags: eoscheck's 2 is an
            // unknown verdict.
            return ExitCode::from(if e.use_stderr() { USAGE_EXIT as u8 } else { 0 });
        }
    };
    logging::init(cli.verbose.min(4) as i8 - cli.quiet.min(4) as i8);
    let json = match &cli.command {
        Command::Run(args) => args.json,
        Command::Check(args) => args.json,
        Command::Compare(args) => args.json,
        _ => false,
    };
    if json {
        logging::json_output();
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let code = match runtime.block_on(execute(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("eoscheck: {err:#}");
            let code = Failure::exit_code(&err);
            if json {
                logging::print_json(&serde_json::json!({
                    "exit_code": code,
                    "error": format!("{err:#}"),
                }));
            }
            code
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
        Command::Cleanup(args) => cleanup::execute(args).await,
        Command::Cluster(args) => cluster::execute(args).await,
        Command::Prune(args) => prune::execute(args),
        Command::Completions { shell } => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cli, "eoscheck", &mut std::io::stdout());
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `--help` says what every flag and argument is for, in every command.
    #[test]
    fn every_flag_has_help_text() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for command in std::iter::once(&cli).chain(cli.get_subcommands()) {
            for arg in command.get_arguments() {
                let builtin = ["help", "version"].contains(&arg.get_id().as_str());
                if arg.get_help().is_none() && !builtin {
                    missing.push(format!("{} {}", command.get_name(), arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }

    /// Every eoscheck command line in the CI examples (`examples/ci/`)
    /// parses as this eoscheck's: a renamed flag, preset or fault breaks
    /// this test, not a user's first night.
    #[test]
    fn the_ci_examples_commands_parse() {
        let files = [
            include_str!("../../examples/ci/github-actions-nightly.yml"),
            include_str!("../../examples/ci/gitlab-ci.yml"),
            include_str!("../../examples/ci/github-actions-sharded.yml"),
        ];
        let mut commands = Vec::new();
        for text in files {
            let docs = yaml_rust2::YamlLoader::load_from_str(text).expect("valid YAML");
            let mut scripts = Vec::new();
            docs.iter().for_each(|doc| strings(doc, &mut scripts));
            commands.extend(scripts.iter().flat_map(|s| eoscheck_commands(s)));
        }
        assert!(commands.len() >= 6, "{commands:?}");
        for command in &commands {
            if let Err(e) = Cli::try_parse_from(command) {
                panic!("{command:?} does not parse: {e}");
            }
        }
    }

    /// Every string in a YAML document (keys aside).
    fn strings(yaml: &yaml_rust2::Yaml, out: &mut Vec<String>) {
        use yaml_rust2::Yaml;
        match yaml {
            Yaml::String(s) => out.push(s.clone()),
            Yaml::Array(items) => items.iter().for_each(|i| strings(i, out)),
            Yaml::Hash(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }

    /// What the examples' shell variables stand for on a night.
    const VARIABLES: [(&str, &str); 2] = [("\"$SEED\"", "20261202"), ("\"$SHARD/3\"", "2/3")];

    /// The eoscheck command lines of a shell script, as words, up to a
    /// redirection or the next command; a shell variable the examples use
    /// stands for a value it takes.
    fn eoscheck_commands(script: &str) -> Vec<Vec<String>> {
        let script = VARIABLES
            .iter()
            .fold(script.to_owned(), |s, (var, value)| s.replace(var, value));

        script
            .lines()
            .filter_map(|line| line.trim().strip_prefix("./eoscheck "))
            .map(|rest| {
                let end = [" > ", " | ", " && ", " 2>"]
                    .iter()
                    .filter_map(|stop| rest.find(stop))
                    .min()
                    .unwrap_or(rest.len());
                let mut words = vec!["eoscheck".to_owned()];
                words.extend(shlex::split(&rest[..end]).expect("shell words"));
                let unknown = words.iter().find(|w| w.contains('$'));
                assert!(unknown.is_none(), "a variable VARIABLES lacks: {unknown:?}");
                words
            })
            .collect()
    }
}
