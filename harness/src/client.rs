//! The producer under test, whatever library it is. The workload sees one door,
//! [`Client`]: librdkafka in process ([`crate::inprocess`]) and every other
//! library through a driver process ([`crate::driver`]) both record their
//! completions in the history themselves, so the history means the same for all.

use std::{path::PathBuf, sync::Arc, time::Duration};

use checker::{
    ids::{Attempt, Partition, Producer},
    MessageId,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::{driver, inprocess, install::Installed, preset::ProducerSettings, recorder::Recorder};

/// One producer instance.
pub trait Client: Send + Sync {
    /// Hands one message over; its completion arrives in the history.
    fn send(
        &self,
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
        payload: &[u8],
    ) -> Result<(), Refused>;

    /// Waits up to `bound` for every handed-over message to complete, then shuts
    /// the producer down. Whatever is still open stays indeterminate.
    fn close(&self, bound: Duration);

    /// A crash as the application sees it: what was queued or in flight is
    /// abandoned and the producer is gone. A new one gets a new producer id.
    fn crash(&self);
}

/// Why a send was not handed over.
pub enum Refused {
    /// The client's queue is full: try the same send again shortly.
    Busy,
    /// The client refused it outright; recorded as a definite failure.
    Rejected,
}

/// A send that failed, handed back to the workload when the application resends.
#[derive(Debug, Clone, Copy)]
pub struct Failed {
    pub message: MessageId,
    pub attempt: Attempt,
    pub partition: Partition,
}

/// What every producer of a run reports to.
#[derive(Clone)]
pub struct Sinks {
    pub recorder: Arc<Recorder>,
    /// Failed sends go here when the application resends (`app-resend`).
    pub resend: Option<UnboundedSender<Failed>>,
}

/// How to start a producer of the library under test.
#[derive(Debug, Clone)]
pub enum Launcher {
    InProcess {
        bootstrap: String,
        settings: ProducerSettings,
    },
    Driver {
        installed: Installed,
        bootstrap: String,
        settings: ProducerSettings,
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
            } => inprocess::InProcess::create(producer, bootstrap, settings, topic, sinks)
                .map(|c| Arc::new(c) as Arc<dyn Client>),
            Launcher::Driver {
                installed,
                bootstrap,
                settings,
                logs,
            } => driver::Driver::start(
                installed,
                driver::Configure {
                    bootstrap,
                    topic,
                    producer,
                    settings,
                },
                logs,
                sinks,
            )
            .map(|c| Arc::new(c) as Arc<dyn Client>),
        }
    }
}
