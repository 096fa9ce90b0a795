//! Pure analysis of an eoscheck run: a history (what clients were asked to
//! send and what they were told) and the final log (what the brokers kept)
//! in, anomalies and a verdict out.
//!
//! This crate owns the judgement and the formats it reads: the record
//! payload ([`payload`]), `history.jsonl` ([`history`]), `log/`
//! ([`log`]) and `results.json` ([`Results`]). It does no I/O, no async and
//! no networking: the harness reads and writes files and hands over their
//! contents. [`synth`] generates realistic runs with chosen anomalies, for
//! tests and the benchmark; [`decimal`] writes numbers for the two texts made
//! once per send, a value's identity and the harness's history lines.
//!
//! ```
//! use checker::{synth, Checker, Guarantee, Options};
//! let run = synth::generate(&synth::SynthConfig::clean(1, 2_000)).unwrap();
//! let mut checker = Checker::new(Options::new(Guarantee::parse_list("exactly-once,order").unwrap()));
//! run.for_each_event(|e| checker.observe(e).unwrap());
//! checker.begin_log(&run.manifest);
//! for (entry, bytes) in run.manifest.partitions.iter().zip(&run.logs) {
//!     checker.read_partition(entry, bytes.clone()).unwrap();
//! }
//! let results = checker.finish();
//! assert_eq!(results.exit_code(), 0);
//! ```

pub mod anomaly;
mod check;
pub mod decimal;
pub mod guarantee;
pub mod history;
pub mod ids;
pub mod log;
pub mod payload;
pub mod results;
pub mod synth;

pub use anomaly::{Anomalies, Kind};
pub use check::{Checker, Options};
pub use guarantee::Guarantee;
pub use history::{Event, HistoryError};
pub use ids::MessageId;
pub use log::{LogError, Manifest, PartitionLog};
pub use results::{Results, Validity};
