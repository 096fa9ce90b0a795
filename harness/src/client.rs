//! The in-process client under test: librdkafka through the `rdkafka` crate.
//!
//! Completions are written to the history from librdkafka's delivery callback, with
//! librdkafka's own verdict on each failed message (`rd_kafka_message_status`):
//! NOT_PERSISTED is a definite failure, anything else is indeterminate.

use std::sync::{Arc, Mutex};

use checker::{
    ids::{Attempt, Partition, Producer},
    MessageId,
};
use rdkafka::{
    config::ClientConfig,
    error::{KafkaError, RDKafkaErrorCode},
    producer::{
        BaseRecord, DeliveryResult, Producer as _, ProducerContext, PurgeConfig, ThreadedProducer,
    },
    statistics::Statistics,
    ClientContext, Message,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::recorder::Recorder;

/// The name and version recorded in run.json.
pub fn version() -> String {
    let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
    format!("0.39 (librdkafka {librdkafka})")
}

/// A send that failed, handed back to the workload when the application resends.
#[derive(Debug, Clone, Copy)]
pub struct Failed {
    pub message: MessageId,
    pub attempt: Attempt,
    pub partition: Partition,
}

/// One send, carried through librdkafka to its delivery callback.
pub struct InFlight {
    message: MessageId,
    attempt: Attempt,
    partition: Partition,
}

pub struct Context {
    producer: Producer,
    recorder: Arc<Recorder>,
    session: Mutex<Option<(i64, i64)>>,
    resend: Option<UnboundedSender<Failed>>,
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        let Some(eos) = statistics.eos else { return };
        if eos.producer_id < 0 {
            return;
        }
        let now = (eos.producer_id, eos.producer_epoch);
        let mut session = self.session.lock().unwrap();
        if *session != Some(now) {
            *session = Some(now);
            self.recorder.session(self.producer, now.0, now.1 as i16);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            self.recorder.fatal(self.producer, reason.to_owned());
        } else {
            tracing::debug!(producer = self.producer, "librdkafka: {error}: {reason}");
        }
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = Box<InFlight>;

    fn delivery(&self, result: &DeliveryResult<'_>, send: Box<InFlight>) {
        match result {
            Ok(m) => self
                .recorder
                .ok(send.message, send.attempt, m.partition(), m.offset()),
            Err((error, m)) => {
                // SAFETY: the message pointer is valid for the duration of the callback.
                let status = unsafe { rdkafka::bindings::rd_kafka_message_status(m.ptr()) };
                if status
                    == rdkafka::bindings::rd_kafka_msg_status_t::RD_KAFKA_MSG_STATUS_NOT_PERSISTED
                {
                    self.recorder
                        .fail(send.message, send.attempt, error.to_string(), true);
                } else {
                    self.recorder
                        .info(send.message, send.attempt, error.to_string());
                }
                if let Some(resend) = &self.resend {
                    let _ = resend.send(Failed {
                        message: send.message,
                        attempt: send.attempt,
                        partition: send.partition,
                    });
                }
            }
        }
    }
}

/// One producer instance of the workload.
pub struct Client {
    producer: ThreadedProducer<Context>,
    recorder: Arc<Recorder>,
    topic: String,
}

/// Why a send was not handed over.
pub enum Refused {
    /// The client's queue is full: try the same send again shortly.
    Busy,
    /// The client refused it outright; recorded as a definite failure.
    Rejected,
}

impl Client {
    /// Creates the producer. A configuration the library refuses is recorded as
    /// `config-rejected` and returns None: a result, not a crash.
    pub fn create(
        producer: Producer,
        settings: &[(String, String)],
        topic: &str,
        recorder: Arc<Recorder>,
        resend: Option<UnboundedSender<Failed>>,
    ) -> Option<Client> {
        let mut config = ClientConfig::new();
        for (k, v) in settings {
            config.set(k, v);
        }
        let context = Context {
            producer,
            recorder: recorder.clone(),
            session: Mutex::new(None),
            resend,
        };
        match config.create_with_context::<_, ThreadedProducer<Context>>(context) {
            Ok(p) => Some(Client {
                producer: p,
                recorder,
                topic: topic.to_owned(),
            }),
            Err(e) => {
                recorder.config_rejected(producer, e.to_string());
                None
            }
        }
    }

    /// Hands one message to librdkafka; its completion arrives in the history.
    pub fn send(
        &self,
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
        payload: &[u8],
    ) -> Result<(), Refused> {
        let record = BaseRecord::<(), [u8], _>::with_opaque_to(
            &self.topic,
            Box::new(InFlight {
                message,
                attempt,
                partition,
            }),
        )
        .partition(partition)
        .payload(payload);
        match self.producer.send(record) {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Err(Refused::Busy)
            }
            Err((error, _)) => {
                self.recorder
                    .fail(message, attempt, error.to_string(), true);
                Err(Refused::Rejected)
            }
        }
    }

    /// Waits up to `timeout` for every handed-over message to complete.
    pub fn flush(&self, timeout: std::time::Duration) {
        let _ = self.producer.flush(timeout);
    }

    /// A crash as the application sees it: everything queued or in flight is
    /// abandoned (its completions say so), then the producer is gone.
    pub fn crash(&self) {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let _ = self.producer.flush(std::time::Duration::from_secs(5));
    }
}
