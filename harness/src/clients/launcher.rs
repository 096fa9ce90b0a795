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
    /// Starts producer `producer`, transactional under `transactional_id` when
    /// given (a zombie shares another producer's): its `transactional.id` goes
    /// into the configuration, where every library takes it, and the producer
    /// is initialised when this returns. A configuration the library refuses
    /// is recorded as `config-rejected` and gives None: a result, not a crash.
    /// Blocks while a driver starts (a JVM takes seconds) or a transactional
    /// producer initialises, so call it off the async threads.
    pub fn create(
        &self,
        producer: Producer,
        transactional_id: Option<&str>,
        topic: &str,
        sinks: &Sinks,
    ) -> Option<Arc<dyn Client>> {
        match self {
            Launcher::InProcess {
                bootstrap,
                settings,
            } => {
                let settings = settings.instance(transactional_id).values();
                InProcess::create(
                    producer,
                    bootstrap,
                    &settings,
                    transactional_id,
                    topic,
                    sinks,
                )
                .map(|c| Arc::new(c) as Arc<dyn Client>)
            }
            Launcher::Driver {
                installed,
                bootstrap,
                settings,
                logs,
            } => {
                let settings = settings.instance(transactional_id);
                Driver::start(
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
                .map(|c| Arc::new(c) as Arc<dyn Client>)
            }
        }
    }

    /// The `transactional.id` producer `producer` of the run starts with;
    /// None unless the producers are transactional.
    pub fn transactional_id(&self, producer: Producer) -> Option<String> {
        match self {
            Launcher::InProcess { settings, .. } | Launcher::Driver { settings, .. } => {
                settings.transactional_id(producer)
            }
        }
    }
}
