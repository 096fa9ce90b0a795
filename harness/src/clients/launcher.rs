//! How a run starts the producers of the library under test: in process or as
//! driver processes, the same [`Client`] either way.

use std::{path::PathBuf, sync::Arc};

use checker::ids::Producer;

use super::{
    client::{Client, Sinks},
    config::ProducerConfig,
    driver::{self, Driver},
    inprocess::InProcess,
    install::Installed,
};

/// How to start a producer of the library under test.
#[derive(Debug, Clone)]
pub enum Launcher {
    InProcess {
        bootstrap: String,
        settings: ProducerConfig,
    },
    Driver {
        installed: Installed,
        bootstrap: String,
        settings: ProducerConfig,
        /// Where each driver's stderr goes (`producer-<N>.log`).
        logs: PathBuf,
    },
}

impl Launcher {
    /// Starts producer `producer`. A configuration the library refuses is recorded
    /// as `config-rejected` and gives None: a result, not a crash. Blocks while a
    /// driver starts (a JVM takes seconds), so call it off the async threads.
    pub fn create(
        &self,
        producer: Producer,
        topic: &str,
        sinks: &Sinks,
    ) -> Option<Arc<dyn Client>> {
        match self {
            Launcher::InProcess {
                bootstrap,
                settings,
            } => InProcess::create(producer, bootstrap, &settings.values(), topic, sinks)
                .map(|c| Arc::new(c) as Arc<dyn Client>),
            Launcher::Driver {
                installed,
                bootstrap,
                settings,
                logs,
            } => Driver::start(
                installed,
                driver::Configure {
                    protocol: driver::PROTOCOL,
                    bootstrap,
                    topic,
                    producer,
                    config: &settings.given(),
                    tuning: &settings.tuning(),
                },
                logs,
                sinks,
            )
            .map(|c| Arc::new(c) as Arc<dyn Client>),
        }
    }
}
