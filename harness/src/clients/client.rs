//! The door every producer under test goes through, whatever its library:
//! librdkafka in process ([`super::inprocess`]) and every other library through a
//! driver process ([`super::driver`]) both record their completions in the
//! history themselves, so the history means the same for all.

use std::{
    collections::BTreeMap,
    sync::{Arc, OnceLock},
    time::Duration,
};

use checker::SendKey;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::recording::Recorder;

/// One producer instance.
pub trait Client: Send + Sync {
    /// Hands one send over; its completion arrives in the history.
    fn send(&self, send: SendKey, record: Record<'_>) -> Result<(), Refused>;

    /// Waits up to `bound` for every handed-over message to complete, then shuts
    /// the producer down. Whatever is still open stays indeterminate.
    fn close(&self, bound: Duration);

    /// A crash as the application sees it: what was queued or in flight is
    /// abandoned and the producer is gone. A new one gets a new producer id.
    fn crash(&self);
}

/// What one send writes: the record's key (none for a null key) and value.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
}

/// The producer's effective configuration as its library reports it
/// (`source` "library") or as it was set (`source` "driver").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effective {
    pub source: String,
    pub config: BTreeMap<String, String>,
}

/// Why a send was not handed over.
pub enum Refused {
    /// The client's queue is full: try the same send again shortly.
    Busy,
    /// The client refused it outright; recorded as a definite failure.
    Rejected,
}

/// What every producer of a run reports to.
#[derive(Clone)]
pub struct Sinks {
    pub recorder: Arc<Recorder>,
    /// Failed sends go here when the application resends (`app-resend`).
    pub resend: Option<UnboundedSender<SendKey>>,
    /// The first producer's effective configuration, once it has started.
    pub effective: Arc<OnceLock<Effective>>,
}
