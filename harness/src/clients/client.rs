//! The door every producer under test goes through, whatever its library:
//! librdkafka in process ([`super::inprocess`]) and every other library through a
//! driver process ([`super::driver`]) both record their completions in the
//! history themselves, so the history means the same for all.

use std::{
    collections::BTreeMap,
    sync::{Arc, OnceLock},
    time::Duration,
};

use checker::{
    history::TxnAction,
    ids::{Producer, Txn},
    SendKey,
};
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

    /// Begins a transaction, for a producer made with a `transactional.id`
    /// (which was initialised when the client was made). Blocks.
    fn begin(&self) -> Result<(), TxnAnswer> {
        Err(TxnAnswer::not_transactional())
    }

    /// Commits or aborts the open transaction, waiting up to `bound`; a
    /// commit first waits for the transaction's sends. Blocks.
    fn end(&self, end: TxnAction, bound: Duration) -> TxnAnswer {
        let _ = (end, bound);
        TxnAnswer::not_transactional()
    }
}

/// How the library answered a transaction call, in the terms an application
/// acts on: go on, abort and go on, try the same call again, or stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnAnswer {
    Ok,
    /// The transaction cannot commit: the application aborts it and goes on.
    Abortable(String),
    /// The outcome is not known; the same call may be made again.
    Retriable(String),
    /// The producer can do nothing more. `fenced`: another instance has
    /// taken its `transactional.id`.
    Fatal {
        error: String,
        fenced: bool,
    },
}

impl TxnAnswer {
    fn not_transactional() -> TxnAnswer {
        TxnAnswer::Fatal {
            error: "this client was not made transactional".into(),
            fenced: false,
        }
    }

    /// Writes the answer to a call ending `txn` into the history. Only an
    /// abortable error says the transaction did not commit; a fatal error,
    /// fencing included, may come after the commit took effect (its first
    /// answer lost, the coordinator completing it when the fencing instance
    /// began), so it is as open as a timeout.
    pub fn record(&self, recorder: &Recorder, producer: Producer, txn: Txn, end: TxnAction) {
        match self {
            TxnAnswer::Ok => recorder.txn_ok(producer, txn, end),
            TxnAnswer::Abortable(error) => {
                recorder.txn_fail(producer, txn, end, error.clone(), true)
            }
            TxnAnswer::Retriable(error) => recorder.txn_info(producer, txn, end, error.clone()),
            TxnAnswer::Fatal { error, .. } => {
                recorder.txn_fail(producer, txn, end, error.clone(), false)
            }
        }
    }
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
