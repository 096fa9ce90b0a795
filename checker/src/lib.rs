//! Pure analysis of an eoscheck run: a history (what clients were asked to
//! send and what they were told) and the final log (what the brokers kept)
//! in, anomalies and a verdict out.
//!
//! This crate owns the judgement and the formats it reads: the record
//! payload ([`payload`]), `history.jsonl` ([`history`]), `log/`
//! ([`log`]) and `results.json` ([`Results`]). It does no I/O, no async and
//! no networking: the harness reads and writes files and hands over their
//! contents. [`decimal`] writes numbers for the two texts made once per send,
//! a value's identity and the harness's history lines. With the `synth`
//! feature, `synth` generates realistic runs with chosen anomalies, for tests
//! and benchmarks; it is scaffolding, so it stays out of the default API.
//!
//! A send the client was told succeeded, missing from a partition that was
//! read completely, is lost, which breaks the run's no-loss promise:
//!
//! ```
//! use bytes::Bytes;
//! use checker::{log, Checker, Guarantee, Manifest, Options, PartitionLog, Validity};
//!
//! let history = concat!(
//!     r#"{"type":"header","format":2,"topic":"t"}"#, "\n",
//!     r#"{"type":"invoke","t":10,"m":[1,0],"p":0}"#, "\n",
//!     r#"{"type":"ok","t":20,"m":[1,0],"p":0,"o":0}"#, "\n",
//! );
//! let partition = PartitionLog {
//!     partition: 0,
//!     log_start_offset: 0,
//!     high_watermark: 0,
//!     last_stable_offset: None,
//!     complete: true,
//!     file: log::file_name(0),
//! };
//! let manifest = Manifest {
//!     format: log::FORMAT,
//!     topic: "t".into(),
//!     complete: true,
//!     partitions: vec![partition.clone()],
//!     storage: Default::default(),
//! };
//!
//! let mut checker = Checker::new(Options::new(Guarantee::parse_list("exactly-once,order").unwrap()));
//! checker.read_history(history).unwrap();
//! checker.begin_log(&manifest);
//! checker.read_partition(&partition, Bytes::new()).unwrap(); // the broker kept nothing
//! let results = checker.finish();
//!
//! assert_eq!(results.valid, Validity::Invalid);
//! assert_eq!(results.anomalies.lost.count, 1);
//! assert_eq!(results.violated, [Guarantee::NoLoss]);
//! assert_eq!(results.exit_code(), 1);
//! ```

pub mod anomaly;
mod check;
pub mod consumed;
pub mod decimal;
pub mod group;
pub mod guarantee;
pub mod history;
pub mod ids;
pub mod log;
pub mod payload;
pub mod results;
#[cfg(feature = "synth")]
pub mod synth;

pub use anomaly::{Anomalies, Kind};
pub use check::{Asked, Checker, Idempotence, Options};
pub use guarantee::Guarantee;
pub use history::{Event, HistoryError};
pub use ids::{MessageId, SendKey};
pub use log::{LogError, Manifest, PartitionLog, Storage};
pub use results::{Results, Tested, Validity};
