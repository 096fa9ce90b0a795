'use strict';
// eoscheck processor for kafkajs: the pipeline's consume-transform-produce
// loop (eosprocessor.js) on a kafkajs consumer's eachBatch, one batch (one
// partition's fetched records) per transaction or offset commit, and the
// producer of the kafkajs driver (kafkajs.js).

const { serve } = require('./eosprocessor');
const { ConfigRejected, rejectSetting, describe, log } = require('./eosdriver');
const { createProducer, version, fenced, expecting, integer, text } = require('./kafkajs');
const { Kafka, logLevel } = require('kafkajs');

// kafkajs's commit and abort have no bound of their own; the processor's,
// after which a commit's outcome is unknown.
const CALL_MS = 10000;
// How often, at least once, a commit that fell due is looked for while no input comes.
const IDLE_MS = 100;

const readUncommitted = expecting('read_committed or read_uncommitted', (v) => ({ read_committed: false, read_uncommitted: true })[v]);

// Kafka's standard consumer settings that kafkajs has: where each goes
// (new Kafka() or kafka.consumer()), as which option, of which type.
const CONSUMER = {
  'session.timeout.ms': ['consumer', 'sessionTimeout', integer],
  'heartbeat.interval.ms': ['consumer', 'heartbeatInterval', integer],
  // The rebalance timeout a Java consumer sends is its max.poll.interval.ms.
  'max.poll.interval.ms': ['consumer', 'rebalanceTimeout', integer],
  'fetch.min.bytes': ['consumer', 'minBytes', integer],
  'fetch.max.bytes': ['consumer', 'maxBytes', integer],
  'max.partition.fetch.bytes': ['consumer', 'maxBytesPerPartition', integer],
  'fetch.max.wait.ms': ['consumer', 'maxWaitTimeInMs', integer],
  'metadata.max.age.ms': ['consumer', 'metadataMaxAge', integer],
  'client.rack': ['consumer', 'rackId', text],
  'isolation.level': ['consumer', 'readUncommitted', readUncommitted],
  'client.id': ['client', 'clientId', text],
  'request.timeout.ms': ['client', 'requestTimeout', integer],
};

/** `consumer` as kafkajs options: {client, consumer}. */
function consumerOptions(settings) {
  const options = { client: {}, consumer: {} };
  for (const [name, value] of Object.entries(settings)) {
    if (!(name in CONSUMER)) throw rejectSetting(name, 'no kafkajs consumer or client option the processor maps it to');
    const [where, option, parse] = CONSUMER[name];
    const parsed = parse(String(value));
    if (parsed === undefined) throw rejectSetting(name, `expected ${parse.expects}, got ${JSON.stringify(value)}`);
    options[where][option] = parsed;
  }
  return options;
}

// kafkajs's consumer has no revocation listener. What it shows: REBALANCING
// (it is about to rejoin; eager, so it gives up all it held), GROUP_JOIN
// (the new assignment), CRASH (it left the group, and may start again), and,
// only in its log, that the coordinator no longer knows the member (it was
// dropped from the group: its partitions are lost).
const DROPPED = 'The coordinator is not aware of this member, re-joining the group';

function watchGroup(consumer, pipeline, input) {
  const { REBALANCING, GROUP_JOIN, CRASH } = consumer.events;
  consumer.on(REBALANCING, () => pipeline.revoked(pipeline.held));
  consumer.on(GROUP_JOIN, ({ payload }) => {
    pipeline.revoked(pipeline.held); // a rejoin kafkajs made without a REBALANCING event
    pipeline.assigned(payload.memberAssignment[input] || []);
  });
  consumer.on(CRASH, ({ payload }) => {
    pipeline.revoked(pipeline.held);
    if (!payload.restart) pipeline.fatal(`kafkajs consumer crashed: ${describe(payload.error)}`);
  });
}

// The consumer's log to stderr, watching for the member being dropped.
const consumerLog = (pipeline) => () => ({ label, log: entry }) => {
  const { message, timestamp, logger, ...extra } = entry;
  if (message === DROPPED) pipeline.lost(pipeline.held);
  log(`${timestamp} ${label} ${message}`, JSON.stringify(extra));
};

class TimedOut extends Error {
  constructor(call) {
    super(`${call} did not return within ${CALL_MS} ms`);
    this.name = 'eoscheck';
  }
}

// A kafkajs call bounded by CALL_MS (it goes on in the background).
function within(call, promise) {
  let timer;
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new TimedOut(call)), CALL_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// consumer.commitOffsets() resolves without committing anything when
// kafkajs's runner is not running (stopping, crashed); its COMMIT_OFFSETS
// event is what says it committed.
async function commitOffsets(consumer, input, offsets) {
  let committed = false;
  const stopListening = consumer.on(consumer.events.COMMIT_OFFSETS, () => {
    committed = true;
  });
  try {
    await consumer.commitOffsets([...offsets].map(([partition, offset]) => ({ topic: input, partition, offset: String(offset) })));
  } finally {
    stopListening();
  }
  if (!committed) throw Object.assign(new Error('kafkajs committed nothing: its consumer is not running'), { name: 'eoscheck' });
}

async function start(setup, pipeline) {
  const { bootstrap, slot, input, output, group } = setup;
  const options = consumerOptions(setup.consumer);
  const config = setup.exactlyOnce ? { ...setup.config, 'transactional.id': setup.transactionalId } : setup.config;
  const kafka = new Kafka({
    clientId: `eoscheck-kafkajs-proc-${slot}-consumer`,
    ...options.client,
    brokers: bootstrap.split(','),
    logLevel: logLevel.INFO,
    logCreator: consumerLog(pipeline),
  });
  let consumer;
  try {
    // readUncommitted false (kafkajs's default too) is read_committed.
    consumer = kafka.consumer({ groupId: group, readUncommitted: false, ...options.consumer });
  } catch (e) {
    throw new ConfigRejected(describe(e)); // e.g. heartbeatInterval not below sessionTimeout
  }
  const made = await createProducer({ bootstrap, config, tuning: setup.tuning, clientId: `eoscheck-kafkajs-proc-${slot}` }, (pid, epoch) => pipeline.session(pid, epoch));
  const { producer } = made;
  const send = made.options.send; // acks, timeout, compression
  const admin = kafka.admin(); // the group's committed offsets, for a rewind
  await Promise.all([consumer.connect(), admin.connect()]);
  // fromBeginning: auto.offset.reset earliest (the input is there before the processors start).
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  watchGroup(consumer, pipeline, input);

  let heartbeat = null; // the batch in hand's
  let groupError = null; // what that heartbeat said: the group no longer has this member as it was
  let prepared = made.firstTransaction; // begun at init, the first batch's
  let current = null;
  return {
    version: version(),
    config: made.config,
    configSource: 'driver',
    consume() {
      // eachBatch comes only with records: the at-least-once commits that
      // fall due while no input comes are the timer's.
      if (!setup.exactlyOnce) setInterval(() => pipeline.idle(), IDLE_MS).unref();
      consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async (payload) => {
          [heartbeat, groupError] = [payload.heartbeat, null];
          const { batch } = payload;
          const records = batch.messages.map((m) => ({ partition: batch.partition, offset: Number(m.offset), key: m.key, value: m.value }));
          if (await pipeline.batch(records)) payload.resolveOffset(batch.messages[batch.messages.length - 1].offset);
          if (groupError) throw groupError; // kafkajs rejoins the group
        },
      }).catch((e) => pipeline.fatal(`kafkajs consumer: ${describe(e)}`));
    },
    async begin() {
      [current, prepared] = [prepared || (await producer.transaction()), null];
    },
    send: (outputs) => current.send({ ...send, topic: output, messages: outputs }),
    async sendOffsets(next) {
      const partitions = [...next].map(([partition, offset]) => ({ partition, offset: String(offset) }));
      await current.sendOffsets({ consumerGroupId: group, topics: [{ topic: input, partitions }] });
      // kafkajs's sendOffsets carries no group generation or member
      // (TxnOffsetCommit v0-1, before KIP-447): the group takes the offsets
      // even of a member it has dropped. The batch's heartbeat is the only
      // way kafkajs tells this member it was dropped (or that a rebalance
      // began) before the commit; between it and the commit, nothing fences.
      try {
        await heartbeat();
      } catch (e) {
        groupError = e;
        throw e;
      }
    },
    commit: () => within('commit', current.commit()),
    abort: () => within('abort', current.abort()),
    // kafkajs classifies nothing: before the commit, the transaction can be
    // aborted; a failed EndTxn leaves it COMMITTING, from which nothing succeeds.
    txnFailure(e, committing) {
      if (fenced(e)) return 'fenced';
      if (!committing) return 'aborted';
      return e instanceof TimedOut ? 'unknown' : 'fatal';
    },
    fenced,
    produce: (outputs) => producer.send({ ...send, topic: output, messages: outputs }),
    commitOffsets: (offsets) => commitOffsets(consumer, input, offsets),
    async committed(partitions) {
      // A transaction the group refused: kafkajs rejoins, and reads the
      // committed offsets then. A seek now would outlive the rejoin: kafkajs
      // keeps it until it next fetches the partition, in whatever later
      // assignment, and would then move back past what others committed.
      if (groupError) return new Map();
      const [{ partitions: offsets }] = await admin.fetchOffsets({ groupId: group, topics: [input] });
      const starts = await admin.fetchTopicOffsets(input);
      const of = (list, p) => list.find((x) => x.partition === p);
      return new Map(partitions.map((p) => {
        const committed = Number(of(offsets, p).offset);
        return [p, committed >= 0 ? committed : Number(of(starts, p).low)];
      }));
    },
    // Applied at the partition's next fetch, which waits for this batch.
    seek: async (partition, offset) => consumer.seek({ topic: input, partition, offset: String(offset) }),
    async close() {
      await consumer.disconnect(); // leaves the group
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    },
  };
}

serve({ library: 'kafkajs', start });
