//! The in-process client under test: librdkafka through the `rdkafka` crate.
//!
//! Completions are written to the history from librdkafka's delivery callback, with
//! librdkafka's own verdict on each failed message (`rd_kafka_message_status`):
//! NOT_PERSISTED is a definite failure, anything else is indeterminate.

use std::{
    collections::BTreeMap,
    ffi::CStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use checker::{ids::Producer, SendKey};
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

use super::client::{Client, Effective, Record, Refused, Sinks};
use crate::recording::Recorder;

/// The librdkafka release linked in: the in-process client's version.
pub fn version() -> String {
    rdkafka::util::get_rdkafka_version().1
}

/// The run's configuration as librdkafka gets it, plus what only the
/// in-process client needs: the bootstrap servers, and statistics, which
/// carry the producer id and epoch. librdkafka takes Kafka's standard names
/// (`delivery.timeout.ms` as an alias of its `message.timeout.ms`) and its own.
pub fn librdkafka_settings(
    bootstrap: &str,
    config: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut all = vec![
        ("bootstrap.servers".to_owned(), bootstrap.to_owned()),
        ("statistics.interval.ms".to_owned(), "1000".to_owned()),
    ];
    all.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// The producer's whole configuration, defaults included, as librdkafka
/// dumps it.
fn effective(producer: &ThreadedProducer<Context>) -> Effective {
    // SAFETY: the client's configuration lives as long as the client.
    let config = unsafe {
        let conf = rdkafka::bindings::rd_kafka_conf(producer.client().native_ptr());
        dump(conf.cast_mut())
    };
    Effective {
        source: "library".into(),
        config,
    }
}

/// Every property of a fresh librdkafka configuration: what the linked
/// librdkafka takes by name.
pub fn default_properties() -> BTreeMap<String, String> {
    use rdkafka::bindings as rd;
    // SAFETY: a fresh configuration, freed once dumped.
    unsafe {
        let conf = rd::rd_kafka_conf_new();
        let all = dump(conf);
        rd::rd_kafka_conf_destroy(conf);
        all
    }
}

/// Every property of `conf` with its value, defaults included.
///
/// # Safety
/// `conf` must be a valid librdkafka configuration for the call.
unsafe fn dump(conf: *mut rdkafka::bindings::rd_kafka_conf_t) -> BTreeMap<String, String> {
    use rdkafka::bindings as rd;
    let mut count = 0usize;
    // SAFETY: the dump is 2 × count NUL-terminated strings (name, value, ...),
    // read here and freed.
    unsafe {
        let dump = rd::rd_kafka_conf_dump(conf, &mut count);
        let text = |i: usize| CStr::from_ptr(*dump.add(i)).to_string_lossy().into_owned();
        let all = (0..count)
            .step_by(2)
            .map(|i| (text(i), text(i + 1)))
            .collect();
        rd::rd_kafka_conf_dump_free(dump, count);
        all
    }
}

pub struct Context {
    producer: Producer,
    recorder: Arc<Recorder>,
    session: Mutex<Option<(i64, i64)>>,
    resend: Option<UnboundedSender<SendKey>>,
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
    type DeliveryOpaque = usize;

    /// The send comes back in the message's pointer-sized opaque word: no
    /// allocation per message (the producer is the context's).
    fn delivery(&self, result: &DeliveryResult<'_>, send: usize) {
        let send = SendKey::from_word(self.producer, send as u64);
        match result {
            Ok(m) => self.recorder.ok(send, m.partition(), m.offset()),
            Err((error, m)) => {
                // SAFETY: the message pointer is valid for the duration of the callback.
                let status = unsafe { rdkafka::bindings::rd_kafka_message_status(m.ptr()) };
                if status
                    == rdkafka::bindings::rd_kafka_msg_status_t::RD_KAFKA_MSG_STATUS_NOT_PERSISTED
                {
                    self.recorder.fail(send, error.to_string(), true);
                } else {
                    self.recorder.info(send, error.to_string());
                }
                if let Some(resend) = &self.resend {
                    let _ = resend.send(send);
                }
            }
        }
    }
}

/// One producer instance of the workload, in process.
pub struct InProcess {
    producer: ThreadedProducer<Context>,
    recorder: Arc<Recorder>,
    topic: String,
}

impl InProcess {
    pub fn create(
        producer: Producer,
        bootstrap: &str,
        settings: &BTreeMap<String, String>,
        topic: &str,
        sinks: &Sinks,
    ) -> Option<InProcess> {
        let mut config = ClientConfig::new();
        for (k, v) in librdkafka_settings(bootstrap, settings) {
            config.set(k, v);
        }
        let context = Context {
            producer,
            recorder: sinks.recorder.clone(),
            session: Mutex::new(None),
            resend: sinks.resend.clone(),
        };
        match config.create_with_context::<_, ThreadedProducer<Context>>(context) {
            Ok(p) => {
                let _ = sinks.effective.set(effective(&p));
                Some(InProcess {
                    producer: p,
                    recorder: sinks.recorder.clone(),
                    topic: topic.to_owned(),
                })
            }
            Err(e) => {
                sinks.recorder.config_rejected(producer, e.to_string());
                None
            }
        }
    }
}

impl Client for InProcess {
    fn send(&self, send: SendKey, record: Record<'_>) -> Result<(), Refused> {
        let Some(word) = send.to_word() else {
            let error = "the send does not fit the word librdkafka carries it in".to_owned();
            self.recorder.fail(send, error, true);
            return Err(Refused::Rejected);
        };
        let mut base = BaseRecord::<[u8], [u8], _>::with_opaque_to(&self.topic, word as usize)
            .payload(record.value);
        if let Some(key) = record.key {
            base = base.key(key);
        }
        if let Some(partition) = send.partition {
            base = base.partition(partition);
        }
        match self.producer.send(base) {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Err(Refused::Busy)
            }
            Err((error, _)) => {
                self.recorder.fail(send, error.to_string(), true);
                Err(Refused::Rejected)
            }
        }
    }

    fn close(&self, bound: Duration) {
        let _ = self.producer.flush(bound);
    }

    /// Purged messages complete as indeterminate: librdkafka cannot say whether
    /// an in-flight request landed.
    fn crash(&self) {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}
