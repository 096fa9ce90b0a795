'use strict';
// eoscheck driver for kafkajs. kafkajs has no send queue of its own: every
// producer.send() is one Produce request, so each send command is one send()
// call with one message, and its offset is the partition's baseOffset.

const { run, ConfigRejected, rejectSetting, describe, log, withTuning } = require('./eosdriver');
const { Kafka, CompressionTypes, CompressionCodecs, Partitioners, logLevel } = require('kafkajs');

// Value parsers: each returns undefined for a string it cannot read, and
// says what it expects.
const expecting = (expects, parse) => Object.assign(parse, { expects });
const integer = expecting('an integer', (v) => (/^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : undefined));
const number = expecting('a number', (v) => (v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined));
const boolean = expecting('true or false', (v) => ({ true: true, false: false })[v]);
const text = expecting('text', (v) => v);
const acks = expecting('all, -1, 1 or 0', (v) => ({ all: -1, '-1': -1, 1: 1, 0: 0 })[v]);
// Kafka's codec names are kafkajs's CompressionTypes keys in lower case.
const compression = expecting('none, gzip, snappy, lz4 or zstd', (v) => {
  const key = Object.keys(CompressionTypes).find((k) => k.toLowerCase() === v.toLowerCase());
  return key === undefined ? undefined : CompressionTypes[key];
});

// The kafkajs options the driver sets (the names in kafkajs.native): where
// each goes (new Kafka(), kafka.producer(), every send()) and its type.
// `retry.x` is the producer's retry object.
const OPTIONS = {
  clientId: ['client', text],
  connectionTimeout: ['client', integer],
  authenticationTimeout: ['client', integer],
  reauthenticationThreshold: ['client', integer],
  requestTimeout: ['client', integer],
  enforceRequestTimeout: ['client', boolean],
  idempotent: ['producer', boolean],
  maxInFlightRequests: ['producer', integer],
  transactionalId: ['producer', text],
  transactionTimeout: ['producer', integer],
  allowAutoTopicCreation: ['producer', boolean],
  metadataMaxAge: ['producer', integer],
  'retry.retries': ['producer', integer],
  'retry.initialRetryTime': ['producer', integer],
  'retry.maxRetryTime': ['producer', integer],
  'retry.factor': ['producer', number],
  'retry.multiplier': ['producer', number],
  acks: ['send', acks],
  timeout: ['send', integer],
  compression: ['send', compression],
};

// Kafka's standard producer settings that kafkajs has, as kafkajs options.
const STANDARD = {
  'enable.idempotence': ['idempotent'],
  acks: ['acks'],
  retries: ['retry.retries'],
  'max.in.flight.requests.per.connection': ['maxInFlightRequests'],
  // Java uses request.timeout.ms both as its own wait and as the Produce
  // request's timeout; kafkajs has one option for each.
  'request.timeout.ms': ['requestTimeout', 'timeout'],
  'retry.backoff.ms': ['retry.initialRetryTime'],
  'retry.backoff.max.ms': ['retry.maxRetryTime'],
  'compression.type': ['compression'],
  'client.id': ['clientId'],
  'metadata.max.age.ms': ['metadataMaxAge'],
  'socket.connection.setup.timeout.ms': ['connectionTimeout'],
  'transactional.id': ['transactionalId'],
  'transaction.timeout.ms': ['transactionTimeout'],
};

// Standard settings kafkajs has no way to express.
const MISSING = {
  'linger.ms': 'kafkajs has no linger: each send() call is one Produce request, sent at once (only 0 is accepted)',
  'delivery.timeout.ms': 'kafkajs has no delivery timeout: a send() is retried until retry.retries runs out',
  'batch.size': 'kafkajs has no batch size: each send() call is one batch',
  'buffer.memory': 'kafkajs has no producer buffer limit',
  'max.block.ms': 'kafkajs send() never blocks: it waits for metadata within its retries',
  'max.request.size': 'kafkajs has no request size limit',
};

// The kafkajs options one setting of `config` sets.
function optionsFor(name, value) {
  if (name === 'linger.ms' && value === '0') return []; // kafkajs's own behaviour
  if (name in STANDARD) return STANDARD[name];
  if (name in MISSING) throw rejectSetting(name, MISSING[name]);
  if (name in OPTIONS) return [name];
  throw rejectSetting(name, 'no kafkajs producer or client option the driver maps it to');
}

/** `config` as kafkajs options: {client, producer, send, set} (set: option -> value). */
function kafkajsOptions(config) {
  const options = { client: {}, producer: {}, send: {}, set: {} };
  for (const [name, value] of Object.entries(config)) {
    for (const option of optionsFor(name, String(value))) {
      const [where, parse] = OPTIONS[option];
      const parsed = parse(String(value));
      if (parsed === undefined) throw rejectSetting(name, `expected ${parse.expects}, got ${JSON.stringify(value)}`);
      options.set[option] = parsed;
      const [head, field] = option.split('.');
      if (field) options[where][head] = { ...options[where][head], [field]: parsed };
      else options[where][option] = parsed;
    }
  }
  return options;
}

// zstd through the zstd library compiled to WebAssembly (the kafkajs codec
// @kafkajs/zstd needs a native module that no longer builds on current Node).
async function zstdCodec() {
  const zstd = require('@bokuweb/zstd-wasm');
  await zstd.init();
  return () => ({
    async compress(encoder) {
      return Buffer.from(zstd.compress(encoder.buffer));
    },
    async decompress(buffer) {
      return Buffer.from(zstd.decompress(buffer));
    },
  });
}

// kafkajs carries only gzip; the others come from the codec packages
// installed beside it (see README.md).
const CODECS = {
  [CompressionTypes.Snappy]: async () => require('kafkajs-snappy'),
  [CompressionTypes.LZ4]: async () => new (require('kafkajs-lz4'))().codec,
  [CompressionTypes.ZSTD]: zstdCodec,
};

// Broker error codes that mean the partition refused to append the records.
const REJECTED = new Set([
  'NOT_LEADER_FOR_PARTITION', 'NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION',
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'CORRUPT_MESSAGE', 'INVALID_RECORD',
  'NOT_ENOUGH_REPLICAS', 'INVALID_REQUIRED_ACKS', 'TOPIC_AUTHORIZATION_FAILED',
  'INVALID_TOPIC_EXCEPTION', 'INVALID_TIMESTAMP', 'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID',
]);

// Messages of the errors kafkajs's sendBatch throws before touching the network.
// (A transaction's send() after it ended is refused the same way.)
const PRE_SEND = /^(Invalid topic|Not requiring ack|Invalid messages array|Invalid message without value|The producer is disconnect|Cannot continue to use transaction once ended)/;

// The broker's "another instance has this transactional.id": kafkajs names no
// PRODUCER_FENCED, and speaks request versions whose answer is INVALID_PRODUCER_EPOCH.
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);
const fenced = (e) => !!e && (FENCED.has(e.type) || (e.cause !== e && fenced(e.cause)));

// What kafkajs's transactions need beyond transactionalId, as its docs say
// (maxInFlightRequests 1 and idempotent); set unless `config` sets them.
const TRANSACTIONAL = { idempotent: true, maxInFlightRequests: 1 };

// True only when kafkajs guarantees nothing was written.
function isDefinite(e, retries) {
  // sendBatch's own checks, made before any request.
  if (!e.cause && PRE_SEND.test(e.message)) return true;
  // With retries 0 there was exactly one Produce attempt; a partition error in
  // its response means that partition appended nothing. With retries (or
  // kafkajs's default), an earlier attempt may have been written.
  if (retries !== 0) return false;
  const broker = e.name === 'KafkaJSNumberOfRetriesExceeded' ? e.cause : e;
  return !!broker && broker.name === 'KafkaJSProtocolError' && REJECTED.has(broker.type);
}

// kafkajs's default partitioner (it keeps a message's own partition, else
// hashes the key, else round-robins), noting where it put each message: with
// acks 0 nothing else tells. A retry partitions again; the last choice counts.
function notingPartitioner(chosen) {
  return () => {
    const partition = Partitioners.DefaultPartitioner();
    return (args) => {
      const p = partition(args);
      chosen.set(args.message, p);
      return p;
    };
  };
}

// What the driver set, in kafkajs's names, every value a string.
function effectiveConfig(client, set) {
  const shown = Object.entries(set).map(([option, value]) => [
    option,
    option === 'compression' ? Object.keys(CompressionTypes).find((k) => CompressionTypes[k] === value) : String(value),
  ]);
  return {
    brokers: client.brokers.join(','),
    clientId: client.clientId,
    logLevel: client.logLevel === logLevel.DEBUG ? 'DEBUG' : 'INFO',
    createPartitioner: 'Partitioners.DefaultPartitioner',
    ...Object.fromEntries(shown),
  };
}

/**
 * A kafkajs producer from `config` (Kafka's standard names or kafkajs's own)
 * and eoscheck's `tuning`, connected and with kafkajs's checks of the
 * settings run (a refusal throws ConfigRejected). With a transactional.id it
 * is initialised: kafkajs's init is the first producer.transaction(), which
 * also begins a transaction (locally: the coordinator hears of it at its
 * first send), resolved as `firstTransaction`. `session(pid, epoch)` hears of
 * the producer id and epoch. Resolves to {producer, options, transactional,
 * firstTransaction, chosen (message -> partition), config (what was set, in
 * kafkajs's names)}.
 */
async function createProducer({ bootstrap, config, tuning, clientId }, session) {
  const options = kafkajsOptions(withTuning({ config, tuning }, kafkajsOptions));
  const transactional = options.producer.transactionalId != null;
  if (transactional) {
    for (const [option, value] of Object.entries(TRANSACTIONAL)) {
      if (!(option in options.producer)) options.producer[option] = options.set[option] = value;
    }
  }
  if (config['linger.ms'] === '0') log('kafkajs: linger.ms 0 is kafkajs\'s own behaviour; nothing to set');
  const codec = CODECS[options.send.compression];
  if (codec) CompressionCodecs[options.send.compression] = await codec();

  // All kafkajs logging goes to stderr; the idempotent producer's id and epoch
  // are only visible in EosManager's debug line, so debug is on (and other
  // debug lines dropped) when idempotence or transactions are. A transactional
  // producer that is also idempotent inits twice: at connect() for plain
  // sends, which the driver never makes, then its transactions' own id,
  // which is the one reported.
  let txnInit = false;
  const logCreator = () => ({ level, label, log: entry }) => {
    const { message, timestamp, logger, ...extra } = entry;
    if (message === 'Initialized producer id & epoch' && (!transactional || txnInit)) {
      session(Number(extra.producerId), Number(extra.producerEpoch));
    }
    if (level === logLevel.DEBUG) return;
    log(`${timestamp} ${label} ${message}`, JSON.stringify(extra));
  };
  const client = {
    clientId,
    ...options.client,
    brokers: String(bootstrap).split(','),
    logLevel: options.producer.idempotent || transactional ? logLevel.DEBUG : logLevel.INFO,
  };
  const chosen = new WeakMap(); // message -> partition
  let producer;
  try {
    producer = new Kafka({ ...client, logCreator })
      .producer({ ...options.producer, createPartitioner: notingPartitioner(chosen) });
  } catch (e) {
    throw new ConfigRejected(describe(e)); // e.g. idempotent with retry.retries 0
  }
  if (transactional && typeof producer.transaction !== 'function') {
    throw rejectSetting('transactional.id', `kafkajs ${version()} has no transactional producer`);
  }
  await producer.connect();
  // An empty sendBatch runs kafkajs's setting checks (e.g. idempotence needs
  // acks -1) without writing anything, so a refusal shows up as config-rejected.
  try {
    await producer.sendBatch({ ...options.send, topicMessages: [] });
  } catch (e) {
    await producer.disconnect().catch(() => {});
    if (e.name === 'KafkaJSNonRetriableError') throw new ConfigRejected(describe(e));
    throw e;
  }
  let firstTransaction = null;
  if (transactional) {
    txnInit = true;
    try {
      firstTransaction = await producer.transaction();
    } catch (e) {
      await producer.disconnect().catch(() => {});
      throw e;
    }
  }
  const shown = effectiveConfig(client, options.set);
  return { producer, options, transactional, firstTransaction, chosen, config: shown };
}

const version = () => require('kafkajs/package.json').version;

async function start(cmd, hooks) {
  const made = await createProducer({ ...cmd, clientId: `eoscheck-${cmd.producer}` }, hooks.session);
  const { producer, options, transactional, chosen } = made;
  // The transaction begun at init is the one the first `begin` answers with.
  let prepared = made.firstTransaction; // begun at init, not yet handed out by `begin`
  let current = null; // the transaction of the last `begin`, ended or not
  const noTransaction = (what) => Object.assign(new Error(`${what} outside a transaction: kafkajs sends and ends a transaction through the object producer.transaction() returned`), { name: 'eoscheck' });

  const retries = options.producer.retry && options.producer.retry.retries;
  return {
    version: version(),
    config: made.config,
    configSource: 'driver',
    send(id, { partition, key, value }) {
      const message = { partition, key, value };
      // A transactional producer sends through its transaction only (a plain
      // send() would write outside any transaction).
      if (transactional && !current) throw noTransaction('send');
      (transactional ? current : producer).send({ ...options.send, topic: cmd.topic, messages: [message] }).then((meta) => {
        const written = chosen.get(message);
        // acks 0: kafkajs gets no response and returns no metadata.
        if (options.send.acks === 0) return hooks.ok(id, written, -1);
        const r = meta.find((x) => x.partition === written);
        // kafkajs resolves without a result when it found no leader for the
        // partition (it then sends nothing for it); stay on the safe side.
        if (!r) return hooks.fail(id, `NoPartitionResult: kafkajs returned no result for partition ${written}`, false);
        hooks.ok(id, written, Number(r.baseOffset));
      }, (e) => hooks.fail(id, describe(e), isDefinite(e, retries)));
    },
    // kafkajs's transaction calls have no bound of their own (commit and
    // abort are one EndTxn, each request bounded by requestTimeout).
    boundsTxn: false,
    async transact(call) {
      if (call === 'begin') {
        [current, prepared] = [prepared || (await producer.transaction()), null];
      } else if (!current) {
        throw noTransaction(call);
      } else {
        await current[call]();
      }
    },
    // kafkajs classifies nothing: a failed EndTxn leaves the transaction
    // COMMITTING (or ABORTING), from which no call succeeds, so every error is
    // fatal, fencing apart.
    txnError: (e) => [fenced(e) ? 'fenced' : 'fatal', describe(e)],
    async close() {
      await producer.disconnect();
    },
  };
}

module.exports = { createProducer, version, fenced, expecting, integer, text };

if (require.main === module) run({ library: 'kafkajs', start });
