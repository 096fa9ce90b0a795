//! The door every producer under test goes through, whatever its library:
//! librdkafka in process ([`super::inprocess`]) and every other library through a
//! driver process ([`super::driver`]) both record their completions in the
//! history themselves, so the history means the same for all.

use std::{sync::Arc, time::Duration};

use checker::SendKey;
use tokio::sync::mpsc::UnboundedSender;

use crate::recording::Recorder;

/// One producer instance.
pub trait Client: Send + Sync {
    /// Hands one send over; its completion arrives in the history.
    fn send(&self, send: SendKey, payload: &[u8]) -> Result<(), Refused>;

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

/// What every producer of a run reports to.
#[derive(Clone)]
pub struct Sinks {
    pub recorder: Arc<Recorder>,
    /// Failed sends go here when the application resends (`app-resend`).
    pub resend: Option<UnboundedSender<SendKey>>,
}
