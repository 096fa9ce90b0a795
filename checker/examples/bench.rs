//! Times the checker on a synthetic run the way `eoscheck bench checker`
//! does: generate (untimed), then replay the history and decode + analyse
//! every partition (timed), and print the same last line.
//!
//! `cargo run --release -p checker --example bench -- 10000000 [decode-threads]`

use checker::{synth, Checker, Guarantee, Options};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let messages: u64 = args.next().map_or(1_000_000, |a| a.parse().expect("messages: a number"));
    let threads: Option<usize> = args.next().map(|a| a.parse().expect("decode threads: a number"));
    let generated = Instant::now();
    let run = synth::generate(&synth::SynthConfig::benchmark(messages)).expect("generate");
    let bytes: usize = run.logs.iter().map(|l| l.len()).sum();
    eprintln!("generated {messages} messages, {} MiB of batches in {:.2?}", bytes >> 20, generated.elapsed());

    let started = Instant::now();
    let mut options = Options::new(Guarantee::ALL.to_vec());
    if let Some(t) = threads {
        options.decode_threads = t;
    }
    let mut checker = Checker::new(options);
    run.for_each_event(|e| checker.observe(e).expect("consistent history"));
    let history = started.elapsed();
    checker.begin_log(&run.manifest);
    for (entry, bytes) in run.manifest.partitions.iter().zip(&run.logs) {
        checker.read_partition(entry, bytes.clone()).expect("decodable log");
    }
    let log = started.elapsed();
    let results = checker.finish();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(results.exit_code(), 0, "{:?}", results.unknown_reasons);
    eprintln!("history {history:.2?}, log {:.2?}, finish {:.2?}", log - history, started.elapsed() - log);
    let records = results.stats.records_read;
    println!(
        "bench checker: records {records}, seconds {seconds:.3}, records/s {:.0}, peak RSS {} MiB",
        records as f64 / seconds,
        peak_rss_kib() / 1024
    );
}

/// The process's peak resident set (VmHWM), in KiB; 0 where /proc is absent.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
