//! What a run is asked to do, and where its cluster comes from.

use std::{sync::Arc, time::Duration};

use bollard::Docker;
use checker::Guarantee;
use nemesis::{Fault, Schedule, ScheduleConfig};

use crate::{
    clients::{Library, Mutation, Preset, Processing, ProducerConfig, Resolved, UserSettings},
    cluster::{BrokerImage, Cluster},
    workload::{MessageSize, Transactions},
};

/// The topic a run on a cluster of its own writes to.
pub const TOPIC: &str = "eoscheck";
/// Mean quiet time between two faults.
pub const QUIET: Duration = Duration::from_secs(5);

/// Everything a run was asked for, checked before anything slow starts.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub preset: Preset,
    /// How the producers run their transactions, when the preset is
    /// transactional ([`RunConfig::transactions`]).
    pub transactions: Transactions,
    /// The user's producer settings (over the preset's: see [`RunConfig::producer`]).
    pub user: UserSettings,
    /// The client library under test, at an exact release.
    pub client: Resolved,
    pub guarantees: Vec<Guarantee>,
    pub faults: Vec<Fault>,
    pub time_limit: Duration,
    pub rate: u32,
    pub producers: u32,
    pub partitions: i32,
    pub message_size: MessageSize,
    /// Record keys the messages are spread over (the library partitions them).
    pub keys: Option<u32>,
    /// Processor instances of a pipeline run (its preset says it is one).
    pub processors: u32,
    /// The mistake rdkafka's processors make on purpose (`--mutate`).
    pub mutation: Option<Mutation>,
    pub seed: u64,
    pub image: BrokerImage,
    /// The cluster to test when it is not eoscheck's own (`--bootstrap`):
    /// `image` then names nothing that runs.
    pub bootstrap: Option<String>,
}

impl RunConfig {
    /// The preset's settings, the user's over them, eoscheck's timeouts: the
    /// producers', or in a pipeline the processors'.
    pub fn producer(&self) -> ProducerConfig {
        ProducerConfig::layer(self.preset, self.client.library, &self.user)
    }

    /// How the producers run their transactions; None unless the preset is
    /// transactional or a pipeline's (whose feeder always sends in
    /// transactions, aborting some on purpose).
    pub fn transactions(&self) -> Option<Transactions> {
        let feeds = self.preset.transactional() || self.pipeline().is_some();
        feeds.then_some(Transactions {
            resend: self.preset.resends_transactions(),
            ..self.transactions
        })
    }

    /// The pipeline's processors and how they commit, when the preset is a
    /// pipeline's: the producers then feed its input.
    pub fn pipeline(&self) -> Option<(u32, Processing)> {
        Some((self.processors, self.preset.processing()?))
    }

    /// Producer numbers kept after the run's own for zombies: each newcomer
    /// writes under one of its own, and the keeper may try a failed start
    /// once more, so two for every zombie the schedule starts.
    /// The producers': a pipeline's are its feeder, eoscheck's own
    /// transactional producers (librdkafka in process), whatever the
    /// library under test.
    pub fn feeder(&self) -> ProducerConfig {
        match self.pipeline() {
            Some(_) => ProducerConfig::layer(
                Preset::Transactional,
                Library::Rdkafka,
                &UserSettings::default(),
            ),
            None => self.producer(),
        }
    }

    pub fn spare_producers(&self) -> u32 {
        let starts = self.schedule().steps.into_iter().filter(|s| {
            s.fault == nemesis::Fault::Zombie && s.action == nemesis::StepAction::Start
        });
        2 * starts.count() as u32
    }

    pub fn schedule(&self) -> Schedule {
        Schedule::generate(&ScheduleConfig {
            faults: self.faults.clone(),
            seed: self.seed,
            time_limit: self.time_limit,
            quiet: QUIET,
        })
    }
}

/// Where a run's cluster comes from.
pub enum Site {
    /// A fresh cluster of the run's own (what `eoscheck run` does).
    Fresh(Docker),
    /// A cluster the caller keeps, shared by several runs (the driver tests): the
    /// run works on its own topic there, and the broker logs are not its own.
    Shared {
        cluster: Arc<Cluster>,
        topic: String,
    },
    /// A cluster eoscheck does not run (`eoscheck run --bootstrap`): the
    /// run works on topics of its own there, named after the run
    /// ([`Site::external`]), which it deletes after the final read; it
    /// touches nothing else, and no broker.
    External {
        cluster: Arc<Cluster>,
        topic: String,
    },
}

impl Site {
    /// A run `run_id` on `cluster`, one eoscheck does not run.
    pub fn external(cluster: Cluster, run_id: &str) -> Site {
        Site::External {
            cluster: Arc::new(cluster),
            topic: format!("{TOPIC}-{run_id}"),
        }
    }

    pub(super) fn topic(&self) -> &str {
        match self {
            Site::Fresh(_) => TOPIC,
            Site::Shared { topic, .. } | Site::External { topic, .. } => topic,
        }
    }

    /// What run.json says the brokers run: the image and its Kafka release
    /// when eoscheck knows them, or the cluster it was pointed at.
    pub(super) fn image(&self, config: &RunConfig) -> (String, Option<String>) {
        match self {
            Site::External { cluster, .. } => (
                format!("external cluster {}", cluster.bootstrap_servers()),
                None,
            ),
            _ => (
                config.image.reference(),
                config.image.version().map(str::to_owned),
            ),
        }
    }
}
