'use strict';
// eoscheck processor for @confluentinc/kafka-javascript, through its
// librdkafka-style API: the pipeline's consume-transform-produce loop
// (eosprocessor.js) on a KafkaConsumer's consume(n) batches, and the producer
// of the confluent driver (confluent-kafka-javascript.js), whose
// sendOffsetsToTransaction takes the consumer and sends its group metadata.

const { serve } = require('./eosprocessor');
const { describe, log } = require('./eosdriver');
const {
  createProducer, connect, version, rejected, called, errorText, txnResult, librdkafkaConfig, FENCED, CODES, Kafka,
} = require('./confluent-kafka-javascript');

/** Records one consume() hands to one batch, at most. */
const BATCH = 500;
/** How long consume() waits for a batch's first record (the rest only if already fetched). */
const POLL_MS = 100;
/** How long a transaction call, a seek or a committed-offsets query may take. */
const CALL_MS = 10000;
/** How often a commit whose outcome is open (a retriable error) is made at most. */
const COMMIT_CALLS = 3;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// The library's errors by their code's name; anything else (a bug) as itself.
const text = (e) => (e && typeof e.code === 'number' ? errorText(e) : describe(e));

// The delivery reports of one batch's records: produce() with it as opaque.
function deliveries() {
  const batch = { left: 0, error: null, wake: () => {} };
  batch.report = (err) => {
    batch.error = batch.error || err;
    if (--batch.left === 0) batch.wake();
  };
  batch.settled = () => (batch.left === 0 ? Promise.resolve() : new Promise((resolve) => { batch.wake = resolve; }));
  return batch;
}

async function start(setup, pipeline) {
  const { bootstrap, slot, input, output, group } = setup;
  const config = setup.exactlyOnce ? { ...setup.config, 'transactional.id': setup.transactionalId } : setup.config;
  // What the group did, as the binding hands it over (later, on the event
  // loop): applied by the loop between batches, as kafka-clients calls its
  // listener inside poll(); once the loop has ended (the consumer's close
  // revokes too), at once. librdkafka waits for the assign/unassign.
  const rebalances = [];
  let looping = null; // the loop, while it runs
  const conf = {
    'bootstrap.servers': bootstrap,
    'client.id': `eoscheck-cjs-proc-${slot}-consumer`,
    'group.id': group,
    'isolation.level': 'read_committed',
    'enable.auto.commit': 'false',
    'auto.offset.reset': 'earliest', // the input is there before the processors start
    ...librdkafkaConfig(setup.consumer),
    rebalance_cb(err, assignment) {
      // assignmentLost() holds until the unassign.
      rebalances.push({ assign: err.code === CODES.ERR__ASSIGN_PARTITIONS, assignment, lost: this.assignmentLost() });
      if (!looping) applyRebalances().catch((e) => log('rebalance:', text(e)));
    },
  };
  let consumer;
  try {
    consumer = new Kafka.KafkaConsumer(conf); // checks the properties only
  } catch (e) {
    throw rejected(e, setup.consumer, Kafka.KafkaConsumer);
  }
  const made = await createProducer({ bootstrap, config, tuning: setup.tuning, clientId: `eoscheck-cjs-proc-${slot}` }, {
    session: (pid, epoch) => pipeline.session(pid, epoch),
    fatal: (error) => pipeline.fatal(error),
    delivery: (err, report) => report.opaque && report.opaque.report(err),
  });
  const { producer } = made;
  consumer.on('event.log', (e) => log(`rdkafka consumer ${e.severity} ${e.fac}: ${e.message}`));
  consumer.on('event.error', (e) => {
    log('rdkafka consumer error:', errorText(e));
    if (e.isFatal) pipeline.fatal(`consumer: ${errorText(e)}`);
  });
  await connect(consumer);
  consumer.setDefaultConsumeTimeout(POLL_MS);
  consumer.setDefaultIsTimeoutOnlyForFirstMessage(true);
  consumer.subscribe([input]);

  async function applyRebalances() {
    for (const { assign, assignment, lost } of rebalances.splice(0)) {
      const partitions = assignment.map((tp) => tp.partition);
      const cooperative = consumer.rebalanceProtocol() === 'COOPERATIVE';
      if (assign) {
        if (cooperative) consumer.incrementalAssign(assignment);
        else consumer.assign(assignment);
        pipeline.assigned(partitions);
        continue;
      }
      if (lost) {
        pipeline.lost(partitions);
      } else {
        await pipeline.commitPending(); // what was written of them, before they go
        pipeline.revoked(partitions);
      }
      if (cooperative) consumer.incrementalUnassign(assignment);
      else consumer.unassign();
    }
  }

  // The loop: a batch, processed; then what the group did meanwhile. Until
  // the processor stops.
  async function loop() {
    for (;;) {
      let messages = [];
      try {
        messages = await called((cb) => consumer.consume(BATCH, cb));
      } catch (e) {
        log('consume:', errorText(e)); // the library's to retry, as kafka-clients's poll does
        await sleep(POLL_MS);
      }
      const records = messages.map(({ partition, offset, key, value }) => ({ partition, offset, key, value }));
      if (records.length > 0) {
        if (!(await pipeline.batch(records))) return;
      } else {
        if (pipeline.closing) return;
        await pipeline.idle();
      }
      await applyRebalances();
    }
  }

  // Each output handed to librdkafka, waiting while its queue is full.
  async function produceAll(outputs, opaque) {
    for (const { partition, key, value } of outputs) {
      for (;;) {
        try {
          producer.produce(output, partition, value, key, null, opaque);
          break;
        } catch (e) {
          if (e.code !== CODES.ERR__QUEUE_FULL) throw e;
          await sleep(5);
        }
      }
      if (opaque) opaque.left++;
    }
  }

  const toppars = (offsets) => [...offsets].map(([partition, offset]) => ({ topic: input, partition, offset }));
  return {
    version: version(),
    config: made.config,
    configSource: 'driver',
    consume() {
      looping = loop().catch((e) => pipeline.fatal(`loop: ${text(e)}`));
    },
    async stop() {
      await looping;
      looping = null;
      await applyRebalances();
    },
    describe: text,
    begin: () => called((cb) => producer.beginTransaction(cb)),
    send: (outputs) => produceAll(outputs, null), // commitTransaction flushes them
    sendOffsets: (next) => called((cb) => producer.sendOffsetsToTransaction(toppars(next), consumer, CALL_MS, cb)),
    // The commit, made again while its outcome stays open.
    async commit() {
      for (let calls = 1; ; calls++) {
        try {
          return await called((cb) => producer.commitTransaction(CALL_MS, cb));
        } catch (e) {
          if (!e.isRetriable || e.isTxnRequiresAbort || calls >= COMMIT_CALLS) throw e;
          log(`commitTransaction: ${errorText(e)}; calling again`);
        }
      }
    },
    abort: () => called((cb) => producer.abortTransaction(CALL_MS, cb)),
    txnFailure(e, committing) {
      const result = txnResult(e);
      if (result === 'abortable') return 'aborted';
      if (result === 'fenced') return 'fenced';
      if (e.isFatal) return 'fatal';
      if (!committing) return 'aborted';
      return result === 'retriable' ? 'unknown' : 'fatal';
    },
    fenced: (e) => FENCED.has(e.code),
    async produce(outputs) {
      const batch = deliveries();
      try {
        await produceAll(outputs, batch);
      } finally {
        await batch.settled(); // librdkafka reports each within message.timeout.ms
      }
      if (batch.error) throw batch.error;
    },
    commitOffsets: (offsets) => called((cb) => consumer.commitCb(toppars(offsets), cb)),
    async committed(partitions) {
      const list = await called((cb) => consumer.committed(partitions.map((partition) => ({ topic: input, partition })), CALL_MS, cb));
      const targets = new Map();
      for (const { partition, offset } of list) {
        const start = () => called((cb) => consumer.queryWatermarkOffsets(input, partition, CALL_MS, cb));
        targets.set(partition, offset >= 0 ? offset : (await start()).lowOffset);
      }
      return targets;
    },
    seek: (partition, offset) => called((cb) => consumer.seek({ topic: input, partition, offset }, CALL_MS, cb)),
    async close() {
      await new Promise((done) => consumer.disconnect(done)); // leaves the group
      await new Promise((done) => producer.disconnect(CALL_MS, done));
    },
  };
}

serve({ library: 'confluent-kafka-javascript', start });
