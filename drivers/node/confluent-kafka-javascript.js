'use strict';
// eoscheck driver for @confluentinc/kafka-javascript, through its
// librdkafka-style Producer API: produce() per send, one delivery report per
// record with its own offset, and librdkafka's statistics for the producer id.

const { run, ConfigRejected, describe, log } = require('./eosdriver');
const Kafka = require('@confluentinc/kafka-javascript');

const CODES = Kafka.CODES.ERRORS;
const CODE_NAMES = new Map(Object.entries(CODES).map(([name, code]) => [code, name]));
// Delivery errors raised for records that never left librdkafka's queue. The
// binding does not expose librdkafka's per-message persistence status, so every
// other error (timeouts included) has to count as indeterminate.
const NEVER_SENT = new Set([CODES.ERR__PURGE_QUEUE, CODES.ERR__UNKNOWN_PARTITION, CODES.ERR__UNKNOWN_TOPIC]);

const errorText = (e) => `${CODE_NAMES.get(e.code) || e.code}: ${e.message}`;
// An Error named after librdkafka's error code, for the shared describe().
const named = (e) => Object.assign(new Error(e.message), { name: CODE_NAMES.get(e.code) || String(e.code) });

function start(cmd, hooks) {
  const s = cmd.settings;
  const acksZero = String(s.acks) === '0';
  const conf = {
    'bootstrap.servers': cmd.bootstrap,
    'client.id': `eoscheck-${cmd.producer}`,
    'enable.idempotence': s.idempotence,
    'acks': String(s.acks),
    'retries': s.retries,
    'max.in.flight.requests.per.connection': s.max_in_flight,
    'request.timeout.ms': s.request_timeout_ms,
    'delivery.timeout.ms': s.delivery_timeout_ms,
    'linger.ms': s.linger_ms,
    'statistics.interval.ms': 250, // the only place the producer id and epoch show
    'dr_cb': true,
  };

  let producer;
  try {
    producer = new Kafka.Producer(conf);
  } catch (e) {
    throw new ConfigRejected(describe(e)); // invalid property value
  }
  producer.on('event.log', (e) => log(`rdkafka ${e.severity} ${e.fac}: ${e.message}`));
  producer.on('event.error', (e) => {
    log('rdkafka error:', errorText(e));
    if (e.code === CODES.ERR__FATAL || e.isFatal) hooks.fatal(errorText(e));
  });
  producer.on('event.stats', ({ message }) => {
    const eos = JSON.parse(message).eos;
    if (eos && eos.producer_id >= 0) hooks.session(eos.producer_id, eos.producer_epoch);
  });
  producer.on('delivery-report', (err, report) => {
    const id = report.opaque;
    // acks 0: librdkafka knows no offset and reports -1001 (plus the index).
    if (!err) hooks.ok(id, report.partition, acksZero || report.offset < 0 ? -1 : report.offset);
    else hooks.fail(id, errorText(err), NEVER_SENT.has(err.code));
  });

  return new Promise((resolve, reject) => {
    // connect() creates the librdkafka handle, which is where librdkafka
    // validates the settings together, then waits for one metadata response.
    producer.connect({ timeout: s.delivery_timeout_ms }, (err) => {
      if (err) {
        const text = errorText(err);
        log('connect failed:', text);
        // The binding reports a refused rd_kafka_new() (librdkafka's checks
        // across settings) as ERR__STATE; metadata failures have other codes.
        return reject(err.code === CODES.ERR__STATE ? new ConfigRejected(text) : named(err));
      }
      producer.setPollInterval(5); // delivery reports are served by poll()
      log(`librdkafka ${Kafka.librdkafkaVersion}`);
      resolve({
        version: require('@confluentinc/kafka-javascript/package.json').version,
        send(id, partition, value) {
          try {
            producer.produce(cmd.topic, partition, value, null, null, id);
          } catch (e) {
            // Not enqueued (e.g. ERR__QUEUE_FULL): the record never left the process.
            hooks.fail(id, errorText(e), true);
          }
        },
        close(ms) {
          // disconnect() flushes first, then destroys the handle.
          return new Promise((done) => producer.disconnect(ms, () => done()));
        },
      });
    });
  });
}

run({ library: 'confluent-kafka-javascript', start });
