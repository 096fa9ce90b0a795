//! A report of a 100k-send run stays quick to render and to open: this
//! measures `write_all` (read, parse, render, write) and the size of
//! report.html at 10k and 100k sends. Run with `--nocapture` to see the
//! figures (a benchmark, not a timed assertion); the size bound guards
//! against a regression such as one SVG element per send.

mod common;

use common::{write_run, Spec};
use std::time::Instant;

#[test]
fn rendering_time_and_size_at_10k_and_100k_sends() {
    let runs = tempfile::tempdir().unwrap();
    for (id, messages) in [("10k", 10_000), ("100k", 100_000)] {
        let (dir, results) = write_run(runs.path(), &Spec::broken(id, messages));
        let start = Instant::now();
        let written = reports::write_all(&dir).unwrap();
        let took = start.elapsed();
        let size = std::fs::metadata(&written.report).unwrap().len();
        println!(
            "report of {} sends: rendered in {:.0} ms, report.html {} KiB",
            results.stats.sends.invoked,
            took.as_secs_f64() * 1e3,
            size / 1024
        );
        assert!(size < 1_500_000, "{id}: report.html is {size} bytes");
    }
}
