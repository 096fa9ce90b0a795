'use strict';
// Protocol handling shared by the Node drivers (../PROTOCOL.md, versions 2 and 3): reads
// JSON-lines commands from stdin, writes events to stdout, and tracks which
// sends are still open. A library module supplies only `start`. The
// processors (eosprocessor.js) share its output and settings helpers.

const readline = require('readline');

class ConfigRejected extends Error {}

// The driver's own refusal of one setting: the reason starts with its name.
const rejectSetting = (name, why) => new ConfigRejected(`\`${name}\`: ${why}`);

const log = (...parts) => process.stderr.write(parts.join(' ') + '\n');

const PROTOCOLS = [2, 3];
const BEGIN_TIMEOUT_MS = 10000; // `begin` carries no bound; it is local in both libraries
// Past a transaction call's own deadline, how long the driver still waits for a
// library that bounds the call itself before it gives the call up.
const TXN_GRACE_MS = 5000;
const GAVE_UP = Symbol('gave up');

// Events are batched per event-loop turn: one write per burst, whole lines only.
let outLines = [];
let outScheduled = false;
function flushOut() {
  outScheduled = false;
  if (outLines.length === 0) return;
  const text = outLines.join('\n') + '\n';
  outLines = [];
  process.stdout.write(text);
}

// Exit only once stdout has taken every line: a pipe's writes may be queued.
// Never resolves, so a caller awaiting it handles no further commands.
function exit(code) {
  flushOut();
  process.stdout.write('', () => process.exit(code));
  return new Promise(() => {});
}
/** One command line as an object, or what is wrong with it (a string). */
function parseCommand(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return `protocol error: not JSON: ${line.slice(0, 200)}`;
  }
  if (cmd === null || typeof cmd !== 'object') {
    return `protocol error: not an object: ${line.slice(0, 200)}`;
  }
  return cmd;
}

/**
 * Runs `start`, the library's client creation: a refused configuration is
 * answered `config-rejected` and ends the process (protocol: then exit 0);
 * any other failure is logged and returned as `{error}` for the caller's
 * `fatal`.
 */
async function startClient(start) {
  try {
    return { client: await start() };
  } catch (e) {
    if (e instanceof ConfigRejected) {
      emit({ type: 'config-rejected', reason: e.message });
      return exit(0);
    }
    log('start failed:', e && e.stack);
    return { error: describe(e) };
  }
}

function emit(event) {
  outLines.push(JSON.stringify(event));
  if (!outScheduled) {
    outScheduled = true;
    setImmediate(flushOut);
  }
}

// "NAME: text" with the library's own error name (and kafkajs-style `type`).
function describe(e) {
  if (!(e instanceof Error)) return `Error: ${String(e)}`;
  const name = e.type ? `${e.name}: ${e.type}` : e.name;
  const cause = e.cause && e.cause !== e ? ` (cause: ${describe(e.cause)})` : '';
  return `${name}: ${e.message}${cause}`;
}

/**
 * Runs the driver. `start(configure, hooks)` creates the producer from
 * configure's `config` and resolves to {version, config, configSource,
 * send(id, {partition, key, value}), close(ms)}: `config` is the effective
 * configuration (string values), `configSource` "library" or "driver"; a
 * send's partition and key are null when the command has none. It throws
 * ConfigRejected when the library (or the driver) refuses the settings.
 * hooks: ok(id, partition, offset), fail(id, error, definite),
 * session(pid, epoch), fatal(error).
 *
 * Transactions (protocol 3): a transactional producer's init is part of
 * `start`; the producer also has transact(call, deadline) for "begin",
 * "commit" and "abort" (deadline: a Date.now() time), resolving when the call
 * succeeded and rejecting with its error; txnError(e), how that error reads to
 * the application: [result, "NAME: text"], result "abortable", "retriable",
 * "fatal" or "fenced"; and boundsTxn, true when the library bounds commit and
 * abort itself (else the driver gives up on them at the deadline).
 */
function run({ library, start }) {
  const open = new Set(); // ids sent and not yet completed
  let producer = null;
  let configured = false;
  let closing = false;
  let drained = null; // resolve() of the wait for the open sends, called when `open` empties
  let abandoned = null; // a transaction call that did not return: the producer's state is unknown
  let lastSession = null;
  let heldSession = null; // a session seen before `started` is reported after it

  const complete = (id, event) => {
    if (!open.delete(id)) {
      log(`ignoring second outcome for id ${id}:`, JSON.stringify(event));
      return;
    }
    emit(event);
    if (open.size === 0 && drained) drained();
  };
  // Resolves once every open send has completed, or at deadline.
  const settled = (deadline) => {
    if (open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      drained = () => {
        clearTimeout(timer);
        drained = null;
        resolve();
      };
    });
  };
  const hooks = {
    ok: (id, partition, offset) => complete(id, { type: 'ok', id, partition, offset }),
    fail: (id, error, definite) => complete(id, { type: 'fail', id, error, definite }),
    session: (pid, epoch) => {
      if (!producer) {
        heldSession = [pid, epoch];
        return;
      }
      const key = `${pid}/${epoch}`;
      if (key === lastSession) return;
      lastSession = key;
      emit({ type: 'session', pid, epoch });
    },
    fatal: (error) => emit({ type: 'fatal', error }),
  };

  async function close(timeoutMs) {
    if (closing) return;
    closing = true;
    const deadline = Date.now() + timeoutMs;
    await settled(deadline);
    if (open.size > 0) log(`close: ${open.size} sends still open at the deadline`);
    if (producer) {
      // Closing the library must not hold `closed` back beyond the bound.
      const bound = Math.max(deadline - Date.now(), 2000);
      await Promise.race([
        producer.close(bound).catch((e) => log('close:', describe(e))),
        new Promise((resolve) => setTimeout(resolve, bound).unref()),
      ]);
    }
    emit({ type: 'closed' });
    return exit(0);
  }

  // One begin, commit or abort, answered with exactly one `txn` event.
  async function transact(call, timeoutMs) {
    const answer = (result, error) =>
      emit(result === 'ok' ? { type: 'txn', call, result } : { type: 'txn', call, result, error });
    if (!producer) return answer('fatal', 'NotStarted: the producer could not be started');
    if (abandoned) return answer('fatal', `eoscheck: producer abandoned: ${abandoned}`);
    const deadline = Date.now() + timeoutMs;
    // The transaction's sends complete, and are reported, first.
    if (call === 'commit') await settled(deadline);
    let timer;
    const bound = deadline + (producer.boundsTxn ? TXN_GRACE_MS : 0);
    const gaveUp = new Promise((resolve) => {
      timer = setTimeout(() => resolve(GAVE_UP), Math.max(0, bound - Date.now()));
    });
    const pending = Promise.resolve().then(() => producer.transact(call, deadline));
    let result = 'ok';
    let error;
    try {
      if ((await Promise.race([pending, gaveUp])) === GAVE_UP) {
        abandoned = `${call} did not return within ${timeoutMs} ms`;
        pending.then(() => log(`${call} returned late`), (e) => log(`${call} failed late:`, describe(e)));
        [result, error] = ['fatal', `eoscheck: ${abandoned}`];
      }
    } catch (e) {
      [result, error] = producer.txnError(e);
    } finally {
      clearTimeout(timer);
    }
    if (call !== 'begin') await settled(deadline); // the sends the call completed (an abort's purged ones)
    if (result !== 'ok') log(`${call}: ${result}: ${error}`);
    answer(result, error);
  }

  // A protocol violation: report it, then shut down in order.
  function protocolError(msg) {
    hooks.fatal(msg);
    return close(10000);
  }

  async function configure(cmd) {
    configured = true;
    if (!PROTOCOLS.includes(cmd.protocol)) {
      return protocolError(`protocol error: protocol ${JSON.stringify(cmd.protocol)}, this driver speaks ${PROTOCOLS.join(' and ')}`);
    }
    const { config } = cmd;
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      return protocolError('protocol error: configure needs a config object');
    }
    const { client, error } = await startClient(() => start(cmd, hooks));
    if (error) {
      // The producer could not be created (e.g. no broker reachable).
      hooks.fatal(error);
      return;
    }
    producer = client;
    emit({
      type: 'started',
      library,
      version: producer.version,
      config: producer.config,
      config_source: producer.configSource,
    });
    if (heldSession) hooks.session(...heldSession);
  }

  function send(cmd) {
    if (closing) {
      log(`send ${cmd.id} after close ignored`);
      return;
    }
    if (open.has(cmd.id)) return protocolError(`duplicate send id ${cmd.id}`);
    open.add(cmd.id);
    if (!producer) {
      hooks.fail(cmd.id, 'NotStarted: the producer could not be started', true);
      return;
    }
    try {
      producer.send(cmd.id, {
        partition: cmd.partition == null ? null : cmd.partition,
        key: cmd.key == null ? null : Buffer.from(String(cmd.key), 'utf8'),
        value: Buffer.from(String(cmd.value), 'utf8'),
      });
    } catch (e) {
      // A synchronous refusal: the record never left the process.
      hooks.fail(cmd.id, describe(e), true);
    }
  }

  async function handle(line) {
    if (line.trim() === '') return;
    const cmd = parseCommand(line);
    if (typeof cmd === 'string') return protocolError(cmd);
    if (!configured && cmd.type !== 'configure') {
      return protocolError(`protocol error: first command must be configure, got ${cmd.type}`);
    }
    switch (cmd.type) {
      case 'configure':
        if (configured) return protocolError('protocol error: configure sent twice');
        return configure(cmd);
      case 'send':
        return send(cmd);
      case 'close':
        return close(cmd.timeout_ms == null ? 10000 : cmd.timeout_ms);
      case 'begin':
      case 'commit':
      case 'abort':
        return transact(cmd.type, cmd.timeout_ms == null ? (cmd.type === 'begin' ? BEGIN_TIMEOUT_MS : 10000) : cmd.timeout_ms);
      default:
        return protocolError(`protocol error: unknown command type ${JSON.stringify(cmd.type)}`);
    }
  }

  process.on('uncaughtException', (e) => {
    log('uncaught:', e && e.stack);
    hooks.fatal(`driver crashed: ${describe(e)}`);
    exit(1);
  });

  (async () => {
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    // Only configure, close and the transaction calls are awaited, so sends
    // are handled as they arrive.
    for await (const line of rl) await handle(line);
    await close(10000); // EOF means close with a 10 s bound
  })();
}

/**
 * configure's `config` and each of eoscheck's `tuning` settings that `mapping`
 * (the driver's own config mapping, throwing ConfigRejected for a setting the
 * library cannot express) takes on its own; the others are skipped, on stderr.
 */
function withTuning(cmd, mapping) {
  const merged = { ...cmd.config };
  for (const [name, value] of Object.entries(cmd.tuning || {})) {
    try {
      mapping({ [name]: value });
    } catch (e) {
      if (!(e instanceof ConfigRejected)) throw e;
      log(`eoscheck's ${name}=${value} not applied: ${e.message}`);
      continue;
    }
    merged[name] = value;
  }
  return merged;
}

module.exports = { run, ConfigRejected, rejectSetting, describe, log, withTuning, emit, exit, startClient, parseCommand };
