//! The cluster: everything between eoscheck and the Kafka brokers it tests.
//!
//! - [`engine`]: the container engine (Docker), installed and started when
//!   none answers; [`images`]: the broker images, built here because no image
//!   registry may be reachable.
//! - [`Cluster`]: three KRaft nodes in containers on a network of the run's
//!   own, torn down however a command ends ([`with_teardown`]); or the kept
//!   one of `eoscheck cluster up`, which outlives commands (`cleanup` spares
//!   it, [`Runs`]); or brokers eoscheck does not run (`run --bootstrap`),
//!   which it talks to but never enters, kills or freezes.
//! - Admin requests and the Kafka wire framing under them, and
//!   [`final_read`]: every partition fetched raw for the checker; then
//!   [`consumer`]: what a `read_committed` consumer is shown of it.
//! - [`Target`]: the nemesis's door into the cluster, which is how faults
//!   reach the brokers.
//!
//! Nothing here knows of producers, histories or verdicts.

mod admin;
pub mod consumer;
mod containers;
pub mod engine;
pub mod final_read;
pub mod images;
mod target;
mod wire;

pub use containers::{
    guarded, remove, teardown_live, with_teardown, Cluster, Node, Removed, Runs, KEPT_RUN, NODES,
};
pub use images::BrokerImage;
pub use target::{CrashClient, FreezeClient, StartZombie, Target};
