//! How a run starts the producers of the library under test: in process or as
//! driver processes, the same [`Client`] either way.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

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
        self.start(producer, topic, None, sinks)
    }

    /// Starts producer `producer` as a transactional producer with
    /// `transactional_id`, initialised when this returns: it owns that id, and
    /// the `txn-init` is in the history. Otherwise as [`Launcher::create`].
    pub fn create_transactional(
        &self,
        producer: Producer,
        topic: &str,
        transactional_id: &str,
        sinks: &Sinks,
    ) -> Option<Arc<dyn Client>> {
        self.start(producer, topic, Some(transactional_id), sinks)
    }

    /// Either way the `transactional.id` goes into the producer's
    /// configuration, where every library takes it.
    fn start(
        &self,
        producer: Producer,
        topic: &str,
        transactional_id: Option<&str>,
        sinks: &Sinks,
    ) -> Option<Arc<dyn Client>> {
        let with_id = |mut config: BTreeMap<String, String>| {
            if let Some(id) = transactional_id {
                config.insert(driver::TRANSACTIONAL_ID.to_owned(), id.to_owned());
            }
            config
        };
        match self {
            Launcher::InProcess {
                bootstrap,
                settings,
            } => InProcess::create(
                producer,
                bootstrap,
                &with_id(settings.values()),
                topic,
                sinks,
            )
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
                    config: &with_id(settings.given()),
                    tuning: &settings.tuning(),
                },
                logs,
                sinks,
            )
            .map(|c| Arc::new(c) as Arc<dyn Client>),
        }
    }
}
