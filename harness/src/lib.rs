//! The harness of eoscheck: everything that touches the outside world. It sets up
//! the container engine, builds broker images, runs the cluster, drives producers,
//! reads the final log and writes the run directory; the pure judgement lives in
//! the `checker` crate, the faults in `nemesis`, the rendering in `reports`.

mod admin;
mod appendfile;
pub mod bench;
pub mod check;
pub mod client;
pub mod cluster;
mod command;
pub mod compare;
pub mod driver;
pub mod engine;
pub mod failure;
pub mod images;
pub mod inprocess;
pub mod install;
pub mod library;
pub mod logread;
pub mod preset;
pub mod recorder;
pub mod run;
pub mod rundir;
pub mod runinfo;
pub mod smoke;
pub mod target;
mod wire;
pub mod workload;
