'use strict';
// eoscheck driver for kafkajs. kafkajs has no send queue of its own: every
// producer.send() is one Produce request, so sends arriving within linger_ms
// are grouped into one send() per partition here, and each record's offset is
// the partition's baseOffset plus its index in that request.

const { run, ConfigRejected, describe, log } = require('./eosdriver');
const { Kafka, logLevel } = require('kafkajs');

const ACKS = { all: -1, 1: 1, 0: 0 };
// Records per send() call: bounded because kafkajs groups messages per
// partition with a quadratic array copy, and Produce requests have a size cap.
const MAX_BATCH = 1000;
const MAX_BATCH_BYTES = 512 * 1024;

// Broker error codes that mean the partition refused to append the records.
const REJECTED = new Set([
  'NOT_LEADER_FOR_PARTITION', 'NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION',
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'CORRUPT_MESSAGE', 'INVALID_RECORD',
  'NOT_ENOUGH_REPLICAS', 'INVALID_REQUIRED_ACKS', 'TOPIC_AUTHORIZATION_FAILED',
  'INVALID_TOPIC_EXCEPTION', 'INVALID_TIMESTAMP', 'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID',
]);

// Messages of the errors kafkajs's sendBatch throws before touching the network.
const PRE_SEND = /^(Invalid topic|Not requiring ack|Invalid messages array|Invalid message without value|The producer is disconnect)/;

// True only when kafkajs guarantees nothing was written.
function isDefinite(e, retries) {
  // sendBatch's own checks, made before any request.
  if (!e.cause && PRE_SEND.test(e.message)) return true;
  // With retries 0 there was exactly one Produce attempt; a partition error in
  // its response means that partition appended nothing. With retries, an
  // earlier attempt may have been written (e.g. timed out after the append).
  if (retries !== 0) return false;
  const broker = e.name === 'KafkaJSNumberOfRetriesExceeded' ? e.cause : e;
  return !!broker && broker.name === 'KafkaJSProtocolError' && REJECTED.has(broker.type);
}

async function start(cmd, hooks) {
  const s = cmd.settings;
  if (!(String(s.acks) in ACKS)) throw new ConfigRejected(`acks: unsupported value ${s.acks}`);
  const acks = ACKS[String(s.acks)];

  // All kafkajs logging goes to stderr; the idempotent producer's id and epoch
  // are only visible in EosManager's debug line, so debug is on (and other
  // debug lines dropped) when idempotence is.
  const logCreator = () => ({ level, label, log: entry }) => {
    const { message, timestamp, logger, ...extra } = entry;
    if (message === 'Initialized producer id & epoch') {
      hooks.session(Number(extra.producerId), Number(extra.producerEpoch));
    }
    if (level === logLevel.DEBUG) return;
    log(`${timestamp} ${label} ${message}`, JSON.stringify(extra));
  };
  const kafka = new Kafka({
    clientId: `eoscheck-${cmd.producer}`,
    brokers: String(cmd.bootstrap).split(','),
    requestTimeout: s.request_timeout_ms,
    enforceRequestTimeout: true, // default false in 1.x
    logLevel: s.idempotence ? logLevel.DEBUG : logLevel.INFO,
    logCreator,
  });

  let producer;
  try {
    producer = kafka.producer({
      idempotent: s.idempotence,
      maxInFlightRequests: s.max_in_flight, // per broker connection
      retry: { retries: s.retries },
      createPartitioner: () => ({ message }) => message.partition,
    });
  } catch (e) {
    throw new ConfigRejected(describe(e));
  }
  await producer.connect();
  // An empty sendBatch runs kafkajs's setting checks (e.g. idempotence needs
  // acks -1) without writing anything, so a refusal shows up as config-rejected.
  try {
    await producer.sendBatch({ acks, timeout: s.request_timeout_ms, topicMessages: [] });
  } catch (e) {
    await producer.disconnect().catch(() => {});
    if (e.name === 'KafkaJSNonRetriableError') throw new ConfigRejected(describe(e));
    throw e;
  }
  log(`kafkajs: linger_ms ${s.linger_ms} applied by the driver; delivery_timeout_ms ` +
    `${s.delivery_timeout_ms} enforced by the driver (kafkajs has neither)`);

  const pending = new Map(); // partition -> [{id, value}] awaiting the linger timer
  let timer = null;

  function dispatch(partition, batch) {
    let done = false;
    // kafkajs has no delivery timeout: give up on the batch ourselves. A late
    // outcome from kafkajs is then ignored (the record may still be written).
    const deadline = setTimeout(() => {
      done = true;
      const err = `DeliveryTimeout: no outcome from kafkajs within delivery_timeout_ms ${s.delivery_timeout_ms}`;
      for (const m of batch) hooks.fail(m.id, err, false);
    }, s.delivery_timeout_ms);
    producer.send({
      topic: cmd.topic,
      acks,
      timeout: s.request_timeout_ms,
      messages: batch.map((m) => ({ partition, value: m.value })),
    }).then((meta) => {
      clearTimeout(deadline);
      if (done) return log(`late success for ${batch.length} records on partition ${partition}`);
      // acks 0: kafkajs gets no response and returns no metadata.
      if (acks === 0) return batch.forEach((m) => hooks.ok(m.id, partition, -1));
      const r = meta.find((x) => x.partition === partition);
      if (!r) {
        // kafkajs resolves without a result when it found no leader for the
        // partition (it then sends nothing for it); stay on the safe side.
        const err = `NoPartitionResult: kafkajs returned no result for partition ${partition}`;
        return batch.forEach((m) => hooks.fail(m.id, err, false));
      }
      const base = Number(r.baseOffset);
      batch.forEach((m, i) => hooks.ok(m.id, partition, base + i));
    }, (e) => {
      clearTimeout(deadline);
      if (done) return log(`late failure on partition ${partition}:`, describe(e));
      const definite = isDefinite(e, s.retries);
      for (const m of batch) hooks.fail(m.id, describe(e), definite);
    });
  }

  // One send() per partition per event-loop turn: kafkajs does not keep the
  // order of send() calls made in the same turn (a smaller call can overtake a
  // bigger one before the requests are written), so the rest of an oversized
  // batch waits for the next turn.
  function flush() {
    timer = null;
    for (const [partition, msgs] of pending) {
      let n = 0;
      let bytes = 0;
      while (n < msgs.length && n < MAX_BATCH && (n === 0 || bytes + msgs[n].value.length <= MAX_BATCH_BYTES)) {
        bytes += msgs[n].value.length;
        n += 1;
      }
      dispatch(partition, msgs.splice(0, n));
      if (msgs.length === 0) pending.delete(partition);
    }
    if (pending.size > 0) timer = setImmediate(flush);
  }

  return {
    version: require('kafkajs/package.json').version,
    send(id, partition, value) {
      if (!pending.has(partition)) pending.set(partition, []);
      pending.get(partition).push({ id, value });
      if (!timer) timer = setTimeout(flush, s.linger_ms);
    },
    async close() {
      await producer.disconnect();
    },
  };
}

run({ library: 'kafkajs', start });
