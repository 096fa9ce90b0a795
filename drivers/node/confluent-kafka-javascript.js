'use strict';
// eoscheck driver for @confluentinc/kafka-javascript, through its
// librdkafka-style Producer API: produce() per send, one delivery report per
// record with its own offset, and librdkafka's statistics for the producer id.

const { run, ConfigRejected, rejectSetting, describe, log, withTuning } = require('./eosdriver');
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

// Kafka's standard settings that librdkafka has under another name or unit.
// librdkafka takes every other standard name it has as it is.
const STANDARD = {
  'max.request.size': (v) => ({ 'message.max.bytes': v }),
  // Java blocks send() for max.block.ms when the buffer is full; librdkafka
  // fails the produce() at once (ERR__QUEUE_FULL). Its limit is in KiB.
  'buffer.memory': (v) => {
    if (!/^\d+$/.test(v)) throw rejectSetting('buffer.memory', `expected bytes, got ${JSON.stringify(v)}`);
    return { 'queue.buffering.max.kbytes': String(Math.ceil(Number(v) / 1024)) };
  },
  // The OS default is -1 in Java, 0 in librdkafka.
  'send.buffer.bytes': (v) => ({ 'socket.send.buffer.bytes': v === '-1' ? '0' : v }),
  'receive.buffer.bytes': (v) => ({ 'socket.receive.buffer.bytes': v === '-1' ? '0' : v }),
};

// Standard settings librdkafka has no way to express.
const MISSING = {
  'max.block.ms': "librdkafka's produce() never blocks: a full queue fails it at once (ERR__QUEUE_FULL)",
  'compression.gzip.level': 'librdkafka has one compression.level, for the compression.type in use',
  'compression.lz4.level': 'librdkafka has one compression.level, for the compression.type in use',
  'compression.zstd.level': 'librdkafka has one compression.level, for the compression.type in use',
};

/** `config` in librdkafka's names: standard names it lacks mapped or refused. */
function librdkafkaConfig(config) {
  const conf = {};
  for (const [name, value] of Object.entries(config)) {
    if (name in MISSING) throw rejectSetting(name, MISSING[name]);
    if (name in STANDARD) {
      const mapped = STANDARD[name](value);
      log(`${name}=${value} set as ${JSON.stringify(mapped)}`);
      Object.assign(conf, mapped);
    } else conf[name] = value;
  }
  return conf;
}

// The setting librdkafka refuses on its own (an unknown name or a bad value):
// its message names librdkafka's property, which may be an alias's target.
function refusedSetting(config) {
  return Object.keys(config).find((name) => {
    try {
      new Kafka.Producer(librdkafkaConfig({ [name]: config[name] })); // checks the properties only
      return false;
    } catch (e) {
      return true;
    }
  });
}

function start(cmd, hooks) {
  const conf = {
    'bootstrap.servers': cmd.bootstrap,
    'client.id': `eoscheck-${cmd.producer}`,
    'statistics.interval.ms': '250', // the only place the producer id and epoch show
    ...librdkafkaConfig(withTuning(cmd, librdkafkaConfig)),
    'dr_cb': true,
  };
  const acksZero = ['acks', 'request.required.acks'].some((name) => conf[name] === '0');

  let producer;
  try {
    producer = new Kafka.Producer(conf);
  } catch (e) {
    const name = refusedSetting(cmd.config);
    throw name ? rejectSetting(name, `librdkafka: ${e.message.trim()}`) : new ConfigRejected(describe(e));
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
    // validates the settings together, then waits for one metadata response
    // (the binding's default bound, 30 s).
    producer.connect({}, (err) => {
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
        // The binding shows no configuration dump: what the driver set.
        config: Object.fromEntries(Object.entries(conf).map(([name, value]) => [name, String(value)])),
        configSource: 'driver',
        send(id, { partition, key, value }) {
          try {
            // partition null: librdkafka's configured partitioner picks.
            producer.produce(cmd.topic, partition, value, key, null, id);
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
