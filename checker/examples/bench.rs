//! Times the checker on a synthetic run, the way `eoscheck bench checker`
//! does: generate (untimed), then replay the history and decode + analyse
//! every partition (timed).
//!
//! `cargo run --release -p checker --example bench -- 10000000 [threads]`

use checker::{synth, Checker, Guarantee, Options};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let records: u64 = args.next().map_or(1_000_000, |a| a.parse().expect("records: a number"));
    let threads: Option<usize> = args.next().map(|a| a.parse().expect("threads: a number"));
    let mut config = synth::SynthConfig::clean(42, records);
    config.partitions = 6;
    config.producers = 8;
    let generated = Instant::now();
    let run = synth::generate(&config).expect("generate");
    let bytes: usize = run.logs.iter().map(|l| l.len()).sum();
    eprintln!("generated {records} messages, {} MiB of batches in {:.2?}", bytes >> 20, generated.elapsed());

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
    let read = results.stats.records_read;
    eprintln!("history {:.2?}, log {:.2?}, finish {:.2?}", history, log - history, started.elapsed() - log);
    println!(
        "bench checker: records {read}, seconds {seconds:.3}, records/s {:.0}",
        read as f64 / seconds
    );
}
