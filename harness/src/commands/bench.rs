//! `eoscheck bench checker`: the checker's speed and memory on a synthetic run of
//! N records, encoded as real RecordBatch v2 bytes so that decoding is measured too.
//! Generating the run is not timed; replaying its history and decoding and
//! analysing its log is.

use std::time::Instant;

use anyhow::{bail, Result};
use checker::{synth, Checker, Guarantee, Options};

use crate::{console::failure::Failure, run_dir::verdict_line};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: Bench,
}

#[derive(clap::Subcommand)]
enum Bench {
    /// Generate a synthetic run of N records (raw RecordBatch bytes), check it, and
    /// print records/s and peak memory.
    Checker {
        #[arg(long, default_value_t = 10_000_000)]
        records: u64,
        /// About four records in five in transactions (half of them
        /// aborted), judged transaction by transaction.
        #[arg(long)]
        transactional: bool,
    },
}

pub fn execute(args: Args) -> Result<i32> {
    let Bench::Checker {
        records,
        transactional,
    } = args.what;
    println!("{}", checker(records, transactional)?);
    Ok(0)
}

/// Runs the benchmark and returns its report line.
fn checker(records: u64, transactional: bool) -> Result<String> {
    if records == 0 {
        bail!(Failure::usage("--records must be at least 1"));
    }
    let config = match transactional {
        true => synth::SynthConfig::transactional_benchmark(records),
        false => synth::SynthConfig::benchmark(records),
    };
    let generated = Instant::now();
    let run = synth::generate(&config).map_err(anyhow::Error::msg)?;
    let bytes: usize = run.logs.iter().map(|l| l.len()).sum();
    eprintln!(
        "generated {records} records, {} MiB of batches, in {:.1?}",
        bytes >> 20,
        generated.elapsed()
    );

    let started = Instant::now();
    let mut checker = Checker::new(Options::new(Guarantee::ALL.to_vec()));
    let mut consistent = Ok(());
    run.for_each_event(|e| {
        if consistent.is_ok() {
            consistent = checker.observe(e);
        }
    });
    consistent.map_err(anyhow::Error::msg)?;
    checker.begin_log(&run.manifest);
    for (entry, log) in run.manifest.partitions.iter().zip(&run.logs) {
        checker.read_partition(entry, log.clone())?;
    }
    let results = checker.finish();
    let seconds = started.elapsed().as_secs_f64();
    if results.exit_code() != 0 {
        bail!(
            "the synthetic run should be valid, but: {}",
            verdict_line(&results)
        );
    }
    let stats = &results.stats;
    let read = stats.records_read + stats.aborted_records;
    let transactions = results.transactions.map_or(0, |t| t.begun);
    Ok(format!(
        "bench checker: records {read}, transactions {transactions}, seconds {seconds:.3}, records/s {:.0}, peak RSS {} MiB",
        read as f64 / seconds,
        peak_rss_kib() / 1024
    ))
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
