//! The in-process client under test: librdkafka through the `rdkafka` crate.
//!
//! Completions are written to the history from librdkafka's delivery callback, with
//! librdkafka's own verdict on each failed message (`rd_kafka_message_status`):
//! NOT_PERSISTED is a definite failure, anything else is indeterminate.
//!
//! A producer given a `transactional.id` is initialised when it is made
//! (which fences any earlier instance with that id), and its transaction
//! calls' errors become [`TxnAnswer`]s by librdkafka's own flags on them.

use std::{
    collections::BTreeMap,
    ffi::CStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use checker::{history::TxnAction, ids::Producer, SendKey};
use rdkafka::{
    config::ClientConfig,
    error::{KafkaError, RDKafkaError, RDKafkaErrorCode},
    producer::{
        BaseRecord, DeliveryResult, Producer as _, ProducerContext, PurgeConfig, ThreadedProducer,
    },
    statistics::Statistics,
    ClientContext, Message,
};
use tokio::sync::mpsc::UnboundedSender;

use super::client::{Client, Effective, Record, Refused, Sinks, TxnAnswer};
use crate::recording::Recorder;

/// How long one call of the transactional init may take. The first init of
/// a cluster creates `__transaction_state` (50 partitions), which takes
/// seconds; a broker fault can take more.
const INIT_BOUND: Duration = Duration::from_secs(30);
/// Inits made while the answer is retriable (librdkafka resumes the same one).
const INIT_CALLS: u32 = 3;
/// The least a commit or abort call gets after its flush, however little of
/// its bound the flush left: a call without time only times out.
const LEAST_CALL: Duration = Duration::from_secs(1);

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
    /// A producer with `settings`, initialised as transactional when they
    /// hold its `transactional_id`.
    pub fn create(
        producer: Producer,
        bootstrap: &str,
        settings: &BTreeMap<String, String>,
        transactional_id: Option<&str>,
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
        let made = match config.create_with_context::<_, ThreadedProducer<Context>>(context) {
            Ok(p) => p,
            Err(e) => {
                sinks.recorder.config_rejected(producer, e.to_string());
                return None;
            }
        };
        if let Some(id) = transactional_id {
            init(&made, producer, id, &sinks.recorder)?;
        }
        let _ = sinks.effective.set(effective(&made));
        Some(InProcess {
            producer: made,
            recorder: sinks.recorder.clone(),
            topic: topic.to_owned(),
        })
    }

    /// Waits up to `bound` for every handed-over send to complete. librdkafka's
    /// own flush looks every 10 ms; the rdkafka crate's sleeps up to 100 ms at
    /// a time on a queue the producer's polling thread empties meanwhile.
    fn flush(&self, bound: Duration) -> Result<(), KafkaError> {
        let ms = i32::try_from(bound.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: the client lives as long as `self`; librdkafka's calls are
        // safe from any thread.
        let code =
            unsafe { rdkafka::bindings::rd_kafka_flush(self.producer.client().native_ptr(), ms) };
        match RDKafkaErrorCode::from(code) {
            RDKafkaErrorCode::NoError => Ok(()),
            error => Err(KafkaError::Flush(error)),
        }
    }
}

/// The transactional init of `made`, under `transactional_id`, tried again
/// while librdkafka says the same call may succeed. A configuration the
/// cluster refuses (a transaction timeout above the brokers' most, no
/// transactions at all) is `config-rejected`; any other failure leaves the
/// instance unusable (`producer-fatal`).
fn init(
    made: &ThreadedProducer<Context>,
    producer: Producer,
    transactional_id: &str,
    recorder: &Recorder,
) -> Option<()> {
    let mut calls = 0;
    let error = loop {
        calls += 1;
        match made.init_transactions(INIT_BOUND) {
            Ok(()) => {
                recorder.txn_init(producer, transactional_id.to_owned());
                return Some(());
            }
            Err(KafkaError::Transaction(e)) if e.is_retriable() && calls < INIT_CALLS => continue,
            Err(e) => break e,
        }
    };
    let refused = matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::InvalidTransactionTimeout | RDKafkaErrorCode::UnsupportedFeature)
    );
    let reason = format!(
        "init_transactions for {transactional_id}: {}",
        described(&error)
    );
    if refused {
        recorder.config_rejected(producer, reason);
    } else {
        recorder.fatal(producer, reason);
    }
    None
}

/// An error as librdkafka names and says it.
fn described(error: &KafkaError) -> String {
    match error {
        KafkaError::Transaction(e) => format!("{}: {e}", e.name()),
        other => other.to_string(),
    }
}

/// What the application makes of a transaction call's error: librdkafka's
/// own flags on it. The rdkafka crate flushes before it commits; a flush
/// that times out never reached the commit, whose outcome is then as open
/// as a commit that timed out.
pub(super) fn answer(error: KafkaError) -> TxnAnswer {
    let text = described(&error);
    match &error {
        KafkaError::Transaction(e) if e.txn_requires_abort() => TxnAnswer::Abortable(text),
        KafkaError::Transaction(e) if e.is_retriable() => TxnAnswer::Retriable(text),
        KafkaError::Flush(_) => TxnAnswer::Retriable(text),
        KafkaError::Transaction(e) => TxnAnswer::Fatal {
            fenced: fencing(e),
            error: text,
        },
        _ => TxnAnswer::Fatal {
            error: text,
            fenced: false,
        },
    }
}

/// Whether the error says another instance has taken the `transactional.id`.
fn fencing(error: &RDKafkaError) -> bool {
    matches!(
        error.code(),
        RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
    )
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
        let _ = self.flush(bound);
    }

    /// Purged messages complete as indeterminate: librdkafka cannot say whether
    /// an in-flight request landed.
    fn crash(&self) {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let _ = self.producer.flush(Duration::from_secs(5));
    }

    fn begin(&self) -> Result<(), TxnAnswer> {
        self.producer.begin_transaction().map_err(answer)
    }

    /// Both ends wait for the transaction's sends first, within the same
    /// bound: a commit must, and an abort then ends a transaction whose
    /// records are in the log, which is what its marker is there to hide (an
    /// abort right after the sends would purge them before any was sent).
    fn end(&self, end: TxnAction, bound: Duration) -> TxnAnswer {
        let deadline = Instant::now() + bound;
        let flushed = self.flush(bound);
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(LEAST_CALL);
        let result = match end {
            TxnAction::Commit => flushed.and_then(|()| self.producer.commit_transaction(left)),
            // A send that never completes is purged by the abort.
            TxnAction::Abort => self.producer.abort_transaction(left),
        };
        result.map_or_else(answer, |()| TxnAnswer::Ok)
    }
}
