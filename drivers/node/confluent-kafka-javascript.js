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

// librdkafka's codes for "another instance has this transactional.id": its own
// fatal ERR__FENCED, and the broker's codes it may pass on.
const FENCED = new Set([CODES.ERR__FENCED, CODES.ERR_PRODUCER_FENCED, CODES.ERR_INVALID_PRODUCER_EPOCH]);
// How long a transactional producer's init may take (the harness gives
// `configure` 120 s); librdkafka's own default bound is 5 s.
const INIT_TIMEOUT_MS = 60000;

// How a transaction call's error reads to the application.
function txnResult(e) {
  if (e.isTxnRequiresAbort) return 'abortable';
  if (FENCED.has(e.code)) return 'fenced';
  if (e.isFatal) return 'fatal';
  if (e.isRetriable) return 'retriable';
  return 'fatal'; // ERR__STATE, ERR__NOT_CONFIGURED: a call librdkafka refuses in this state
}

// A callback API as a promise: resolves with its result, rejects with the library's error.
const called = (fn) => new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));

// initTransactions, called again while its error is retriable (it resumes
// where it timed out) until deadline.
async function initTransactions(producer, deadline) {
  for (;;) {
    try {
      return await called((cb) => producer.initTransactions(Math.max(1, deadline - Date.now()), cb));
    } catch (e) {
      if (!e.isRetriable || Date.now() >= deadline) throw named(e);
      log(`initTransactions: ${errorText(e)}; calling again`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

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

// The setting of `config` librdkafka refuses on its own (an unknown name or
// a bad value), tried one at a time in a `Client` (Kafka.Producer or
// Kafka.KafkaConsumer) whose constructor checks the properties only: its
// message names librdkafka's property, which may be an alias's target.
function refusedSetting(config, Client = Kafka.Producer) {
  return Object.keys(config).find((name) => {
    try {
      new Client(librdkafkaConfig({ [name]: config[name] }));
      return false;
    } catch (e) {
      return true;
    }
  });
}

// A refusal by librdkafka of `config`, as config-rejected naming the setting.
function rejected(e, config, Client) {
  const name = refusedSetting(config, Client);
  return name ? rejectSetting(name, `librdkafka: ${e.message.trim()}`) : new ConfigRejected(describe(e));
}

/**
 * A connected librdkafka producer from `config` (Kafka's standard names or
 * librdkafka's own) and eoscheck's `tuning` (a refusal throws
 * ConfigRejected), with `dr_cb` on and polled; with a transactional.id, its
 * transactions initialised. hooks: session(pid, epoch), fatal(error), and
 * delivery(err, report), each delivery report. Resolves to {producer, conf,
 * config}: conf as given to librdkafka, config the same as text (the binding
 * shows no configuration dump: what the driver set).
 */
async function createProducer({ bootstrap, config, tuning, clientId }, hooks) {
  const conf = {
    'bootstrap.servers': bootstrap,
    'client.id': clientId,
    'statistics.interval.ms': '250', // the only place the producer id and epoch show
    ...librdkafkaConfig(withTuning({ config, tuning }, librdkafkaConfig)),
    'dr_cb': true,
  };
  let producer;
  try {
    producer = new Kafka.Producer(conf);
  } catch (e) {
    throw rejected(e, config);
  }
  producer.on('event.log', (e) => log(`rdkafka ${e.severity} ${e.fac}: ${e.message}`));
  producer.on('event.error', (e) => {
    log('rdkafka error:', errorText(e));
    if (e.code === CODES.ERR__FATAL || e.isFatal) hooks.fatal(errorText(e));
  });
  let sessionSeen = () => {}; // called at the first statistics with a producer id
  producer.on('event.stats', ({ message }) => {
    const eos = JSON.parse(message).eos;
    if (eos && eos.producer_id >= 0) {
      hooks.session(eos.producer_id, eos.producer_epoch);
      sessionSeen();
    }
  });
  producer.on('delivery-report', hooks.delivery);
  await connect(producer);
  producer.setPollInterval(5); // delivery reports are served by poll()
  log(`librdkafka ${Kafka.librdkafkaVersion}`);
  if ('transactional.id' in conf) {
    await initTransactions(producer, Date.now() + INIT_TIMEOUT_MS);
    // The producer id shows in the next statistics; have it follow `started`.
    await new Promise((resolve) => {
      sessionSeen = resolve;
      setTimeout(resolve, 2 * Number(conf['statistics.interval.ms']) || 0);
    });
  }
  const shown = Object.fromEntries(Object.entries(conf).map(([name, value]) => [name, String(value)]));
  return { producer, conf, config: shown };
}

// connect() creates the librdkafka handle, which is where librdkafka
// validates the settings together, then waits for one metadata response
// (the binding's default bound, 30 s).
async function connect(client) {
  try {
    await called((cb) => client.connect({}, cb));
  } catch (err) {
    const text = errorText(err);
    log('connect failed:', text);
    // The binding reports a refused rd_kafka_new() (librdkafka's checks
    // across settings) as ERR__STATE; metadata failures have other codes.
    throw err.code === CODES.ERR__STATE ? new ConfigRejected(text) : named(err);
  }
}

const version = () => require('@confluentinc/kafka-javascript/package.json').version;

async function start(cmd, hooks) {
  let acksZero = false; // known once the producer is made, before any send
  const { producer, conf, config } = await createProducer({ ...cmd, clientId: `eoscheck-${cmd.producer}` }, {
    ...hooks,
    delivery(err, report) {
      const id = report.opaque;
      // acks 0: librdkafka knows no offset and reports -1001 (plus the index).
      if (!err) hooks.ok(id, report.partition, acksZero || report.offset < 0 ? -1 : report.offset);
      else hooks.fail(id, errorText(err), NEVER_SENT.has(err.code));
    },
  });
  acksZero = ['acks', 'request.required.acks'].some((name) => conf[name] === '0');
  return {
    version: version(),
    config,
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
    // librdkafka bounds commit and abort itself (commit flushes first);
    // begin is local.
    boundsTxn: true,
    transact(call, deadline) {
      if (call === 'begin') return called((cb) => producer.beginTransaction(cb));
      const end = call === 'commit' ? 'commitTransaction' : 'abortTransaction';
      return called((cb) => producer[end](Math.max(1, deadline - Date.now()), cb));
    },
    txnError: (e) => [txnResult(e), errorText(e)],
    close(ms) {
      // disconnect() flushes first, then destroys the handle.
      return new Promise((done) => producer.disconnect(ms, () => done()));
    },
  };
}

module.exports = { createProducer, connect, version, rejected, called, errorText, txnResult, librdkafkaConfig, FENCED, CODES, Kafka };

if (require.main === module) run({ library: 'confluent-kafka-javascript', start });
