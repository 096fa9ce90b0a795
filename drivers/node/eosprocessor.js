'use strict';
// Protocol handling shared by the Node processors (../PROTOCOL.md, "Processors"):
// configure and close on stdin, events on stdout, and the pipeline's loop body,
// which is the same for every library: per batch of input records, one
// transaction with the records' outputs and the next input offsets (exactly
// once), or the outputs written and their offsets committed at most once a
// second (at least once); a batch that failed rewinds to the group's committed
// offsets. A library module supplies `start`: its consumer, producer and
// transaction calls.

const readline = require('readline');
const { describe, log, emit, exit, startClient, parseCommand } = require('./eosdriver');

const PROTOCOL = 3;
// At least once, how often at most the offsets of what was written are
// committed (as applications do: the consumer's own auto-commit runs every 5 s).
const ALO_COMMIT_MS = 1000;
const CLOSE_TIMEOUT_MS = 10000; // a close without timeout_ms, or the end of stdin

let muted = false; // set once `closed` is printed: nothing may follow it
const say = (event) => {
  if (!muted) emit(event);
};

class ProtocolError extends Error {}

/** configure, checked: what a processor needs of it. */
function setupOf(cmd) {
  if (cmd.protocol !== PROTOCOL) {
    throw new ProtocolError(`protocol error: protocol ${JSON.stringify(cmd.protocol)}, this processor speaks ${PROTOCOL}`);
  }
  if (cmd.role !== 'processor') {
    throw new ProtocolError(`protocol error: this is a processor; configure's role is ${cmd.role === undefined ? "absent (a producer's configure?)" : JSON.stringify(cmd.role)}`);
  }
  for (const field of ['config', 'consumer', 'tuning']) {
    const map = cmd[field];
    if (map != null && (typeof map !== 'object' || Array.isArray(map))) {
      throw new ProtocolError(`protocol error: config, consumer and tuning must be objects: ${field} is ${JSON.stringify(map).slice(0, 200)}`);
    }
  }
  if (!['exactly-once', 'at-least-once'].includes(cmd.guarantee)) {
    throw new ProtocolError(`protocol error: guarantee must be exactly-once or at-least-once, not ${JSON.stringify(cmd.guarantee)}`);
  }
  const exactlyOnce = cmd.guarantee === 'exactly-once';
  if (exactlyOnce && typeof cmd.transactional_id !== 'string') {
    throw new ProtocolError('protocol error: exactly-once needs a transactional_id');
  }
  return {
    bootstrap: String(cmd.bootstrap),
    slot: cmd.processor,
    input: cmd.input,
    output: cmd.output,
    group: cmd.group,
    exactlyOnce,
    transactionalId: exactlyOnce ? cmd.transactional_id : null,
    config: cmd.config || {},
    consumer: cmd.consumer || {},
    tuning: cmd.tuning || {},
  };
}

/**
 * A batch's records ({partition, offset, key, value}, in delivery order) as
 * runs [partition, first, last] of consecutive offsets: what read_committed
 * skips (an aborted record, a marker) ends a run.
 */
function runs(records) {
  const out = [];
  for (const { partition, offset } of records) {
    const run = out.findLast((r) => r[0] === partition);
    if (run && run[2] + 1 === offset) run[2] = offset;
    else out.push([partition, offset, offset]);
  }
  return out;
}

/** The next offset to read of every partition the records hold. */
const nextOffsets = (records) => new Map(records.map((r) => [r.partition, r.offset + 1]));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One processor instance: what the library's consumer hands it and tells it
 * of the group, turned into the pipeline's events and producer calls.
 */
class Pipeline {
  constructor(setup) {
    this.setup = setup;
    this.lib = null; // set once start() made the consumer and the producer
    // The transaction counter (from 1): exactly once, the batch being
    // processed; at least once, the offset commit the batches now go into.
    this.n = 0;
    this.pending = new Map(); // at least once: partition -> next offset written, not committed
    this.lastCommit = Date.now();
    this.assignment = new Set();
    this.queue = Promise.resolve();
    this.closing = false;
    this.lastSession = null;
    this.heldSession = null; // a session seen before `started` is printed after it
  }

  // Batches and idle commits one at a time: an asynchronous library could
  // otherwise start one while another awaits the broker.
  serial(task) {
    const run = this.queue.then(task);
    this.queue = run.catch(() => {});
    return run;
  }

  text(e) {
    return (this.lib && this.lib.describe ? this.lib.describe : describe)(e);
  }

  session(pid, epoch) {
    if (!this.lib) {
      this.heldSession = [pid, epoch];
      return;
    }
    const key = `${pid}/${epoch}`;
    if (key === this.lastSession) return;
    this.lastSession = key;
    say({ type: 'session', pid, epoch });
  }

  started(library, lib) {
    this.lib = lib;
    say({ type: 'started', library, version: lib.version, config: lib.config, config_source: lib.configSource });
    if (this.heldSession) this.session(...this.heldSession);
  }

  /** The input partitions held now. */
  get held() {
    return [...this.assignment];
  }

  assigned(partitions) {
    partitions.forEach((p) => this.assignment.add(p));
    say({ type: 'assigned', partitions: [...partitions].sort((a, b) => a - b) });
  }

  revoked(partitions) {
    this.release('revoked', partitions);
  }

  lost(partitions) {
    this.release('lost', partitions);
  }

  // Each partition given up is reported once, whoever notices first.
  release(type, partitions) {
    const mine = partitions.filter((p) => this.assignment.delete(p));
    if (mine.length > 0) say({ type, partitions: mine.sort((a, b) => a - b) });
  }

  /**
   * One batch the consumer delivered: true once it is done (committed, or
   * written at least once) or rewound, so the consumer goes on; false when
   * the processor stops (closing, or a transaction it cannot go on from).
   */
  batch(records) {
    return this.serial(async () => {
      if (this.closing) return false;
      if (this.setup.exactlyOnce || this.pending.size === 0) this.n++;
      say({ type: 'poll', n: this.n, records: runs(records) });
      const outputs = records.map((r) => this.outputOf(r));
      const next = nextOffsets(records);
      return this.setup.exactlyOnce ? this.transaction(outputs, next) : this.atLeastOnce(outputs, next);
    });
  }

  // The output record of an input record: same partition and key, the value
  // `eosp1:<partition>:<offset>:<processor>:<n>:` and the input's bytes.
  outputOf({ partition, offset, key, value }) {
    const head = Buffer.from(`eosp1:${partition}:${offset}:${this.setup.slot}:${this.n}:`, 'utf8');
    return { partition, key: key == null ? null : key, value: Buffer.concat([head, value || Buffer.alloc(0)]) };
  }

  /** At least once, when no input came: the pending offsets, if due. */
  idle() {
    return this.serial(() => this.commitDue(false));
  }

  /** At least once, before partitions are given up: what is pending, now. */
  commitPending() {
    return this.serial(() => this.commitDue(true));
  }

  // Exactly once: one transaction for the batch, its offsets in it.
  async transaction(outputs, next) {
    const lib = this.lib;
    let committing = false;
    try {
      await lib.begin();
      await lib.send(outputs);
      await lib.sendOffsets(next);
      committing = true;
      await lib.commit();
      this.ended('txn', 'committed', next);
      return true;
    } catch (e) {
      const result = lib.txnFailure(e, committing);
      if (result !== 'aborted') return this.stop('txn', result, next, this.text(e));
      try {
        await lib.abort();
      } catch (abortError) {
        // KIP-588: an abortable epoch error on a produce, and the abort then meets the fencing.
        const then = lib.fenced(abortError) ? 'fenced' : 'fatal';
        return this.stop('txn', then, next, `${this.text(e)}; then abort: ${this.text(abortError)}`);
      }
      this.ended('txn', 'aborted', next, this.text(e));
      return this.rewind([...next.keys()]);
    }
  }

  // A transaction this instance cannot go on from: reported, then closed.
  stop(type, result, offsets, error) {
    this.ended(type, result, offsets, error);
    this.close(CLOSE_TIMEOUT_MS); // waits for the batch in hand: this one
    return false;
  }

  // At least once: the outputs written; their offsets committed when due.
  async atLeastOnce(outputs, next) {
    try {
      await this.lib.produce(outputs);
    } catch (e) {
      // Not all of it written: none of what is pending is committed, and it is read again.
      next.forEach((offset, p) => this.pending.set(p, offset));
      const offsets = new Map(this.pending);
      this.pending.clear();
      this.ended('commit', 'failed', offsets, `send: ${this.text(e)}`);
      return this.rewind([...offsets.keys()]);
    }
    next.forEach((offset, p) => this.pending.set(p, offset));
    await this.commitDue(false);
    return true;
  }

  // At least once: commits what is pending once ALO_COMMIT_MS has passed
  // since the last commit, or `now`.
  async commitDue(now) {
    if (this.pending.size === 0 || (!now && Date.now() - this.lastCommit < ALO_COMMIT_MS)) return;
    const offsets = new Map(this.pending);
    this.pending.clear();
    this.lastCommit = Date.now();
    try {
      await this.lib.commitOffsets(offsets);
      this.ended('commit', 'ok', offsets);
    } catch (e) {
      this.ended('commit', 'failed', offsets, this.text(e));
    }
  }

  // The partitions read past their committed offset (the failed batch's; at
  // least once, all that was pending), those still held, back to the group's
  // committed offset (their start when none), so that it is processed again.
  // Every other partition held stands at its committed offset already: the
  // same as kafka-clients's processor, which rewinds all it holds.
  async rewind(partitions) {
    const held = partitions.filter((p) => this.assignment.has(p));
    try {
      const targets = held.length === 0 ? new Map() : await this.lib.committed(held);
      for (const [partition, offset] of targets) {
        await this.lib.seek(partition, offset);
        say({ type: 'seek', partition, offset });
      }
      return true;
    } catch (e) {
      this.fatal(`rewind: ${this.text(e)}`);
      return false;
    }
  }

  ended(type, result, offsets, error) {
    const event = { type, n: this.n, result, offsets: Object.fromEntries(offsets) };
    if (error !== undefined) event.error = error;
    say(event);
  }

  /** The processor cannot go on: fatal, then closed. */
  fatal(error) {
    say({ type: 'fatal', error });
    this.close(CLOSE_TIMEOUT_MS);
  }

  /**
   * Finishes the batch in hand (and, at least once, commits what is
   * pending), closes consumer and producer, prints `closed` and exits; at
   * the deadline `closed` is printed whatever is still running.
   */
  async close(timeoutMs) {
    if (this.closing) return;
    this.closing = true;
    const lib = this.lib;
    const done = lib && (async () => {
      if (lib.stop) await lib.stop();
      await this.commitPending();
      this.revoked(this.held);
      await lib.close();
    })().catch((e) => log('close:', this.text(e)));
    await Promise.race([done, sleep(timeoutMs)]);
    say({ type: 'closed' });
    muted = true;
    return exit(0);
  }
}

/**
 * Runs the processor. `start(setup, pipeline)` makes the library's consumer
 * and producer from configure's settings (a transactional producer
 * initialised) and resolves to the library's side, or throws ConfigRejected
 * (anything else is fatal). Its `consume()` then starts delivering batches to
 * pipeline.batch(records), records {partition, offset, key, value} (Buffers),
 * and telling pipeline.assigned/revoked/lost/idle/commitPending/fatal what
 * the group did; pipeline.session(pid, epoch) hears of the producer id.
 *
 * The library's side: {version, config, configSource, consume(),
 * stop() (optional: resolves once no batch is delivered any more), close(),
 * describe(e) (optional), and its calls, each resolving when done and
 * rejecting with the library's error:
 * exactly once, begin(), send(outputs) (outputs {partition, key, value}),
 * sendOffsets(next) (Map partition -> next offset), commit(), abort(),
 * txnFailure(e, committing) ("aborted", "fenced", "unknown" or "fatal": how a
 * transaction that threw e ended), fenced(e);
 * at least once, produce(outputs) (resolves once all are written),
 * commitOffsets(offsets);
 * and committed(partitions) (Map partition -> the group's committed offset,
 * the partition's start when none), seek(partition, offset)}.
 */
function serve({ library, start }) {
  let pipeline = null;

  async function configure(cmd) {
    let setup;
    try {
      setup = setupOf(cmd);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      say({ type: 'fatal', error: e.message });
      return exit(0);
    }
    pipeline = new Pipeline(setup);
    const { client: lib, error } = await startClient(() => start(setup, pipeline));
    if (error) {
      say({ type: 'fatal', error });
      return exit(0);
    }
    pipeline.started(library, lib);
    lib.consume();
  }

  const close = (timeoutMs) => (pipeline ? pipeline.close(timeoutMs) : exit(0));

  async function handle(line) {
    if (line.trim() === '') return;
    const cmd = parseCommand(line);
    if (typeof cmd === 'string') {
      say({ type: 'fatal', error: cmd });
      return;
    }
    if (!pipeline && cmd.type !== 'configure') {
      say({ type: 'fatal', error: `protocol error: the first command must be configure, not ${JSON.stringify(cmd.type)}` });
      return exit(0);
    }
    switch (cmd.type) {
      case 'configure':
        if (pipeline) return say({ type: 'fatal', error: 'protocol error: configure sent twice' });
        return configure(cmd);
      case 'close':
        return close(cmd.timeout_ms == null ? CLOSE_TIMEOUT_MS : cmd.timeout_ms);
      default:
        say({ type: 'fatal', error: `protocol error: unknown command type: ${JSON.stringify(cmd.type)}` });
    }
  }

  process.on('uncaughtException', (e) => {
    log('uncaught:', e && e.stack);
    if (!pipeline) {
      say({ type: 'fatal', error: `processor crashed: ${describe(e)}` });
      exit(1);
      return;
    }
    pipeline.fatal(`processor crashed: ${describe(e)}`);
  });

  (async () => {
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    // configure is awaited (the started line comes before anything else);
    // close never returns.
    for await (const line of rl) await handle(line);
    await close(CLOSE_TIMEOUT_MS); // the end of stdin means close with a 10 s bound
  })();
}

module.exports = { serve };
