//! The clients: the producer libraries under test and how a run gets them.
//!
//! - [`client`]: the door, [`Client`], that every producer goes through;
//!   [`inprocess`] (librdkafka, linked in) and [`driver`] (any other library, a
//!   child process speaking `drivers/PROTOCOL.md`) are its two implementations,
//!   and [`Launcher`] starts one or the other.
//! - [`library`]: the libraries by their stable names; [`registry`]: a
//!   `NAME[@VERSION]` resolved to an exact release; [`install`]: that release
//!   built with its driver into a cache.
//! - [`preset`]: the producer configurations and what each promises;
//!   [`config`]: a run's configuration in layers (preset, user, eoscheck's
//!   timeouts); [`names`]: the setting names each library takes.
//! - [`processor`]: a pipeline's processor, a child process speaking the
//!   protocol's processor part; the workload keeps its slots.
//!   [`rdkafka_processor`] is librdkafka's, eoscheck itself as that child;
//!   [`mutation`]: the mistakes it makes on purpose in sensitivity runs.
//!
//! Clients record their own completions through the recording room; they know
//! nothing of the cluster beyond its bootstrap address.

mod client;
mod config;
mod driver;
mod inprocess;
mod install;
mod launcher;
mod library;
mod mutation;
mod names;
mod preset;
mod processor;
mod rdkafka_processor;
mod registry;

pub use client::{Client, Effective, Record, Refused, Sinks, TxnAnswer};
pub use config::{ProducerConfig, UserSettings};
pub use inprocess::librdkafka_settings;
pub use install::{install, Installed};
pub use launcher::Launcher;
pub use library::{ClientSpec, Library};
pub use mutation::Mutation;
pub use preset::{Preset, Processing};
pub use processor::{ProcessorCommand, ProcessorProcess, ProcessorSpec};
pub use rdkafka_processor::serve as serve_rdkafka_processor;
pub use registry::{resolve, Resolved};
