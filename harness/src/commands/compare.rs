//! `eoscheck compare`: every client × preset under one seed, and so under one
//! fault schedule, side by side in `runs/compare-<id>/`.
//!
//! Each cell is a whole `eoscheck run` with its own fresh cluster, so no cell
//! inherits another's broker state; its run directory sits in the runs folder
//! like any other and the matrix links to it. compare.json is rewritten after
//! every cell, so a comparison cut short keeps the cells it finished.
//!
//! `--shard I/N` runs one share of the cells, for N machines to run the
//! matrix between them: cell k of the matrix (rows first, from 0) is shard
//! `k % N + 1`'s. Every share needs the one `--seed`, so every cell meets
//! the same schedule wherever it runs, and a sharded comparison's id is
//! derived from the seed and everything else the cells share, so all shares
//! write the same `compare-<id>` and `eoscheck report --index` can put them
//! back together (`reports::Compare::merge`).

use std::path::PathBuf;

use anyhow::Result;
use bollard::Docker;
use tracing::{error, info};

use super::{
    images::ready_engine,
    run::{print_shared_plan, run_at, shared_plan, ClientParser, RunConfig, Site, WorkloadArgs},
};
use crate::{
    clients::{self, ClientSpec, Preset, Resolved},
    cluster,
    console::failure::Failure,
    console::logging,
    run_dir::RunDir,
};

#[derive(clap::Args)]
pub struct Args {
    /// Clients to compare, NAME[@VERSION] separated by commas; one library may
    /// appear at several versions (e.g. java@3.7.2,java).
    #[arg(long, value_name = "NAME[@VERSION],...", required = true, value_delimiter = ',', value_parser = ClientParser)]
    clients: Vec<ClientSpec>,
    /// Presets to run each client with, separated by commas.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "idempotent,at-least-once"
    )]
    presets: Vec<Preset>,
    /// Run only share I of N of the cells (cell k of the matrix, rows
    /// first and counted from 0, is share k % N + 1), e.g. one share per CI
    /// machine; needs --seed. `eoscheck report --index` merges the shares'
    /// runs folders into one comparison.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Print every cell and the fault schedule they share, and start nothing.
    #[arg(long)]
    dry_run: bool,
    /// End stdout with one JSON object (exit code, paths, every cell's
    /// verdict); the other lines go to stderr.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    workload: WorkloadArgs,
}

impl Args {
    fn config(&self) -> Result<CompareConfig> {
        let presets = self.presets.clone();
        named_once("--presets", &presets)?;
        let specs = &self.clients;
        named_once("--clients", specs)?;
        let libraries: Vec<_> = specs.iter().map(|s| s.library).collect();
        self.workload.fits(&presets, &libraries)?;
        let user = self.workload.user_settings(&libraries)?;
        let clients: Vec<Resolved> = specs.iter().map(clients::resolve).collect::<Result<_>>()?;
        // `java` and `java@<newest>` are the same release.
        named_once("--clients", &clients)?;
        let Some(first_client) = clients.first() else {
            return Err(Failure::usage("--clients names no client"));
        };
        // The template's seed, given or drawn once, is every cell's: every cell
        // meets the same faults at the same times.
        let template = self.workload.config(&presets, first_client.clone(), user)?;
        if self.shard.is_some() && !self.workload.has_seed() {
            return Err(Failure::usage(
                "--shard needs --seed: every share must draw the same fault schedule; \
                 give all of them one seed (e.g. the date, --seed 20261202)",
            ));
        }
        Ok(CompareConfig {
            clients,
            presets,
            template,
            shard: self.shard,
            out: self.workload.out.clone(),
        })
    }
}

/// One share of the matrix: `index` of `count`, 1-based.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Whether cell `k` of the matrix (rows first, from 0) is this share's.
    fn has(self, k: usize) -> bool {
        k % self.count as usize == (self.index - 1) as usize
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// `I/N` with 1 <= I <= N.
fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || format!("{text:?}: give I/N, share I of N, with 1 <= I <= N (e.g. 1/2)");
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let (index, count) = (
        index.parse().map_err(|_| bad())?,
        count.parse().map_err(|_| bad())?,
    );
    match 1 <= index && index <= count {
        true => Ok(Shard { index, count }),
        false => Err(bad()),
    }
}

/// Two cells of one client and preset would be one run twice: refused.
fn named_once<T: PartialEq + std::fmt::Display>(flag: &str, items: &[T]) -> Result<()> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(Failure::usage(format!(
                "{flag} names {item} twice; every cell is a whole run, name each once"
            )));
        }
    }
    Ok(())
}

/// Validates the flags, then runs the matrix (or prints it with `--dry-run`).
pub async fn execute(args: Args) -> Result<i32> {
    let config = args.config()?;
    if args.dry_run {
        print_plan(&config);
        return Ok(0);
    }
    RunDir::check_writable(&config.out)?;
    let docker = ready_engine(&config.template.image).await?;
    cluster::guarded(&docker, compare(docker.clone(), config)).await
}

/// A comparison: the matrix of clients × presets, and what every cell shares.
pub struct CompareConfig {
    pub clients: Vec<Resolved>,
    pub presets: Vec<Preset>,
    /// Everything but the client and the preset, the same for every cell.
    pub template: RunConfig,
    /// The share of the cells to run here; all of them when none.
    pub shard: Option<Shard>,
    pub out: PathBuf,
}

impl CompareConfig {
    /// The cells to run here, in the matrix's order.
    fn cells(&self) -> Vec<(&Resolved, Preset)> {
        let matrix = self
            .clients
            .iter()
            .flat_map(|c| self.presets.iter().map(move |&p| (c, p)));
        matrix
            .enumerate()
            .filter(|(k, _)| self.shard.is_none_or(|s| s.has(*k)))
            .map(|(_, cell)| cell)
            .collect()
    }

    /// A sharded comparison's id: the seed and a digest of the cells and of
    /// everything they share, the same on every machine that runs a share.
    /// None for a comparison run whole, which gets a fresh id.
    fn shared_id(&self) -> Option<String> {
        use sha2::{Digest, Sha256};
        self.shard?;
        let mut digest = Sha256::new();
        for client in &self.clients {
            digest.update(format!("client {client}\n"));
        }
        for preset in &self.presets {
            digest.update(format!("preset {preset}\n"));
        }
        for (name, setting) in &self.template.producer().0 {
            digest.update(format!("setting {name}={}\n", setting.value));
        }
        digest.update(shared_plan(&self.template));
        let hex: String = digest.finalize()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(format!("s{}-{hex}", self.template.seed))
    }
}

/// The cells, each a fresh cluster, then what they all share.
fn print_plan(config: &CompareConfig) {
    println!(
        "cells: {} ({} clients × {} presets), each a whole run on a fresh cluster:",
        config.clients.len() * config.presets.len(),
        config.clients.len(),
        config.presets.len()
    );
    if let (Some(shard), Some(id)) = (config.shard, config.shared_id()) {
        println!("shard {shard} of compare-{id} runs these:");
    }
    for (client, preset) in config.cells() {
        let promised: Vec<&str> = preset.guarantees().iter().map(|g| g.name()).collect();
        println!("  {client} × {preset} (promised: {})", promised.join(", "));
    }
    print_shared_plan(&config.template);
}

/// Runs the matrix and returns the exit code: 1 if any cell broke a promise,
/// else 3 if a cell could not run, else 2 if a cell stayed unknown for another
/// reason than the library refusing the preset (that refusal is a finding).
pub async fn compare(docker: Docker, config: CompareConfig) -> Result<i32> {
    let (dir, mut record) = open(&config)?;
    let cells = config.cells();
    let total = cells.len();
    for (k, (client, preset)) in cells.into_iter().enumerate() {
        info!("compare: cell {} of {total}: {client} × {preset}", k + 1);
        let cell = run_cell(&docker, &config, client, preset).await?;
        record.add(cell);
        std::fs::write(
            dir.join("compare.json"),
            serde_json::to_vec_pretty(&record)?,
        )?;
        reports::write_compare(&dir.path)?;
    }
    reports::write_index(&config.out)?;
    print_matrix(&record);
    logging::say(&format!("compare: {}", dir.join("index.html").display()));
    let code = exit_code(&record.cells);
    if logging::is_json() {
        logging::print_json(&compare_json(&dir, &record, code));
    }
    Ok(code)
}

/// The comparison's directory and record: new, or, for a share of a
/// comparison another share already wrote here, that one's with this share
/// added (refused when the directory holds another comparison).
fn open(config: &CompareConfig) -> Result<(RunDir, reports::Compare)> {
    let now = now_rfc3339();
    let id = config.shared_id().unwrap_or_else(|| RunDir::fresh_id(""));
    let dir = RunDir::named(&config.out, &format!("compare-{id}"))?;
    let mut record = reports::Compare {
        format: 1,
        id,
        started: now.clone(),
        seed: config.template.seed,
        nemesis: config
            .template
            .faults
            .iter()
            .map(|f| f.to_string())
            .collect(),
        time_limit_s: config.template.time_limit.as_secs_f64(),
        kafka_version: config.template.image.version().map(str::to_owned),
        clients: config.clients.iter().map(|c| c.to_string()).collect(),
        presets: config.presets.iter().map(|p| p.to_string()).collect(),
        cells: Vec::new(),
        shards: config
            .shard
            .map(|s| reports::Shard {
                index: s.index,
                count: s.count,
                started: now,
            })
            .into_iter()
            .collect(),
    };
    if let Ok(text) = std::fs::read_to_string(dir.join("compare.json")) {
        let mut earlier: reports::Compare = serde_json::from_str(&text).map_err(|e| {
            Failure::usage(format!(
                "{} is not a compare.json eoscheck can read ({e}); move that directory away",
                dir.join("compare.json").display()
            ))
        })?;
        earlier
            .merge(record)
            .map_err(|e| Failure::usage(format!("{e:#}; use another --out")))?;
        record = earlier;
    }
    Ok((dir, record))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `--json`'s object for a comparison.
fn compare_json(dir: &RunDir, record: &reports::Compare, exit_code: i32) -> serde_json::Value {
    let cells: Vec<serde_json::Value> = record
        .cells
        .iter()
        .map(|c| {
            serde_json::json!({
                "client": c.client,
                "preset": c.preset,
                "exit_code": c.exit_code,
                "verdict": c.summary.as_ref().map(|s| s.verdict.clone()),
                "run_dir": dir.path.join(&c.run),
            })
        })
        .collect();
    serde_json::json!({
        "exit_code": exit_code,
        "compare_dir": dir.path,
        "page": dir.join("index.html"),
        "junit": dir.join("junit.xml"),
        "cells": cells,
    })
}

/// One cell: a whole run of `client` with `preset` on a fresh cluster, in a
/// run directory of its own.
async fn run_cell(
    docker: &Docker,
    config: &CompareConfig,
    client: &Resolved,
    preset: Preset,
) -> Result<reports::Cell> {
    let run_dir = RunDir::create(&config.out, "")?;
    let (run_id, run_path) = (run_dir.id.clone(), run_dir.path.clone());
    let cell = RunConfig {
        preset,
        client: client.clone(),
        guarantees: preset.guarantees(),
        ..config.template.clone()
    };
    let exit_code = match run_at(Site::Fresh(docker.clone()), cell, run_dir).await {
        Ok(code) => code,
        Err(e) => {
            error!("{client} × {preset}: {e:#}");
            Failure::exit_code(&e)
        }
    };
    cluster::teardown_live(docker).await;
    Ok(reports::Cell {
        client: client.to_string(),
        preset: preset.to_string(),
        run: format!("../{run_id}"),
        exit_code,
        summary: reports::summarize(&run_path).ok(),
    })
}

fn exit_code(cells: &[reports::Cell]) -> i32 {
    let refused = |c: &reports::Cell| {
        c.summary
            .as_ref()
            .is_some_and(|s| s.verdict == "config-rejected")
    };
    if cells.iter().any(|c| c.exit_code == 1) {
        1
    } else if cells.iter().any(|c| c.exit_code == 3) {
        3
    } else if cells.iter().any(|c| c.exit_code == 2 && !refused(c)) {
        2
    } else {
        0
    }
}

/// The matrix as plain text, for the terminal and CI logs.
fn print_matrix(record: &reports::Compare) {
    let width = record.clients.iter().map(String::len).max().unwrap_or(6) + 2;
    let mut head = format!("{:width$}", "client");
    for preset in &record.presets {
        head += &format!("{preset:>24}");
    }
    logging::say(&head);
    for client in &record.clients {
        let mut row = format!("{client:width$}");
        for preset in &record.presets {
            let shown = record
                .cells
                .iter()
                .find(|c| &c.client == client && &c.preset == preset)
                .map(|c| match &c.summary {
                    Some(s) => s.verdict.clone(),
                    None => format!("exit {}", c.exit_code),
                })
                .unwrap_or_else(|| "-".into());
            row += &format!("{shown:>24}");
        }
        logging::say(&row);
    }
}
