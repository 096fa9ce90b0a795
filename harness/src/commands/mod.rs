//! One module per command of the `eoscheck` binary, each with its flags
//! (`Args`, a clap derive that `main.rs` mounts) and an `execute` that does the
//! command. Commands compose the rooms below them: the cluster, the clients, the
//! workload, recording and the run directory; `compare` runs `run`'s test once
//! per cell, and every command that starts a cluster names its image with
//! [`images::ImageArgs`].

pub mod bench;
pub mod check;
pub mod cleanup;
pub mod cluster;
pub mod compare;
pub mod images;
pub mod processor;
pub mod prune;
pub mod report;
pub mod run;
pub mod smoke;
