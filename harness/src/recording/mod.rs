//! Recording: the history of a run as it happens. Every send's invoke and
//! completion, every fault, every producer session goes through one
//! [`Recorder`] into `history.jsonl`, in the checker's format and on the run's
//! clock, flushed as the run goes so that a run that breaks half-way keeps what
//! it recorded, and closed with an `end` line once the run's sends are answered,
//! so that a history without one is known to be cut short.
//!
//! The recorder sits on the producers' hot path, so it is hand-tuned (its
//! module doc has the measurements); the append-only file under it writes
//! with `O_DIRECT` and never reads back. Nothing here knows of clusters,
//! clients or commands: the clients and the workload call in, never the
//! other way round.

mod appendfile;
mod recorder;

pub use recorder::Recorder;
