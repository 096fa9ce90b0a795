//! The harness of eoscheck: everything that touches the outside world. It sets up
//! the container engine, builds broker images, runs the cluster, drives producers,
//! reads the final log and writes the run directory; the pure judgement lives in
//! the `checker` crate, the faults in `nemesis`, the rendering in `reports`.
//!
//! Rooms, from the bottom up (ARCHITECTURE.md has who may use whom, and
//! `tests/architecture.rs` holds the code to it):
//!
//! - [`console`]: how eoscheck speaks to whoever started it (exit codes,
//!   log lines, `--json`); [`tools`]: running external tools;
//! - [`recording`]: the history recorder and its append-only file;
//! - [`cluster`]: engine, images, containers, admin requests, the final raw read,
//!   the nemesis's door;
//! - [`clients`]: the producer libraries under test, their presets and installs;
//! - [`workload`]: the run's producers, sending at a rate;
//! - [`run_dir`]: the run directory, the contract with `check` and `report`;
//! - [`commands`]: one module per command, composing the rooms above.

pub mod clients;
pub mod cluster;
pub mod commands;
pub mod console;
pub mod recording;
pub mod run_dir;
pub mod tools;
pub mod workload;
