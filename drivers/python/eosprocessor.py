"""The processor protocol (../PROTOCOL.md, Processors), shared by the Python
processors: the consume-transform-produce loop, its events and its commands.

A processor module supplies `start(setup, loop)`, which creates the library's
consumer and producer for a `Setup` (a transactional producer's init
included) and returns a client with:

    config, config_source    the producer's configuration, for `started`
    subscribe()              subscribe to the input, with `loop.assigned`,
                             `loop.revoked` and `loop.lost` as the listener
    poll()                   the next records as `Input`s in delivery order:
                             up to BATCH, the first waited for up to POLL_S;
                             none unless `loop.hold()` said they are the
                             loop's (else they are dropped)
    produce(outputs, failed) hand every `Output` to the producer; failed(exc)
                             (from any thread) for a send that fails later
    flush()                  wait until every send handed over has completed
    begin(), send_offsets(next), commit_txn(), abort_txn()
                             the transaction calls (`next`: partition -> the
                             next input offset); commit_txn and abort_txn
                             report a new producer id or epoch (`session`)
    commit_offsets(next)     the consumer's synchronous offset commit
    ending(exc, committing)  how a transaction ended that raised exc: aborted
                             (then abort_txn is called), fenced, fatal or
                             unknown (PROTOCOL.md's `txn` results)
    is_fencing(exc)          whether an abort's error is the fencing
    assignment(), committed(partitions), beginning(partitions), seek(p, o)
                             the input partitions assigned; their committed
                             offsets (None: none); their first offsets; a seek
    describe(exc)            an error as `NAME: text`
    close()                  close the consumer (its last revocation calls the
                             listener) and the producer

and calls `serve(library, version, start)`. `start` raises `Rejected` for a
setting the library cannot take; anything else it raises is `fatal`.
"""

import collections
import contextlib
import json
import os
import threading
import time

from eosdriver import EOF_CLOSE_MS, Rejected, Settings, bounded, commands, error_name, note, open_events, string_maps

BATCH = 500  # records one transaction (or one flush) takes at most
POLL_S = 0.1
CALL_S = 10  # how long a library call that takes a bound may take
ALO_COMMIT_S = 1.0  # at least once: how often at most offsets are committed
SHUTDOWN_S = 5  # how long the library gets to close, once the loop has ended

Input = collections.namedtuple("Input", "partition offset key value")
Output = collections.namedtuple("Output", "partition key value")


class Setup(Settings):
    """A processor's `configure`. The producer's `config` includes the
    `transactional.id` when exactly once; `consumer` holds consumer settings."""

    def __init__(self, cmd):
        self.slot = cmd.get("processor", 0)
        super().__init__(cmd, "eoscheck-proc-%d" % self.slot, (3,), "processor")
        if cmd.get("role") != "processor":
            raise ValueError("protocol: this is a processor; configure's role is %s"
                             % json.dumps(cmd.get("role")))
        guarantee = cmd.get("guarantee")
        if guarantee not in ("exactly-once", "at-least-once"):
            raise ValueError("protocol: guarantee must be exactly-once or at-least-once, not %r"
                             % (guarantee,))
        self.exactly_once = guarantee == "exactly-once"
        self.input, self.output, self.group = cmd["input"], cmd["output"], cmd["group"]
        (self.consumer,) = string_maps(cmd, "consumer")
        if self.exactly_once:
            if not isinstance(cmd.get("transactional_id"), str):
                raise ValueError("protocol: exactly-once needs a transactional_id")
            self.config = dict(self.config, **{"transactional.id": cmd["transactional_id"]})


def runs(batch):
    """The batch as runs `[partition, first, last]` of consecutive offsets, in
    delivery order: an offset read_committed skips ends a run."""
    out = []
    last_run = {}
    for r in batch:
        run = last_run.get(r.partition)
        if run is not None and run[2] + 1 == r.offset:
            run[2] = r.offset
        else:
            last_run[r.partition] = run = [r.partition, r.offset, r.offset]
            out.append(run)
    return out


def next_offsets(batch):
    """The next offset to read of every partition the batch holds."""
    return {r.partition: r.offset + 1 for r in batch}


class Loop:
    """The consume-transform-produce loop (the Java Processor's), on a thread
    of its own.

    kafka-clients calls its rebalance listener inside poll(), so a batch in
    hand is processed (and committed) before its partitions are given up.
    aiokafka and kafka-python 3 call theirs on a thread of their own while
    the loop may hold records: `_batch` is held from the moment the library
    hands records over (`hold`) until their transaction (or flush) ends, and
    revoked/lost wait for it; records handed over while a revocation holds
    it are dropped (the group's next assignment starts from the committed
    offsets)."""

    def __init__(self, setup, events):
        self.setup, self.events = setup, events
        self.client = None
        self.closing = False
        self._batch = threading.Lock()
        self._rebalancing = threading.Event()  # a revocation waits: hold() gives way
        # The transaction counter: exactly once, the batch being processed; at
        # least once, the offset commit the batches processed now go into.
        self.n = 0
        self._pending = {}  # at least once: written, not yet committed
        self._last_commit = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="eoscheck-processor", daemon=True)

    def start(self, client):
        self.client = client
        self._thread.start()

    def _run(self):
        why = None
        try:
            self.client.subscribe()
            while not self.closing and self._step():
                pass
            if not self.setup.exactly_once:
                with self._batch:
                    self._commit_due(True)
        except Exception as e:
            why = self.client.describe(e)
        if why is not None:
            self.events.fatal(why)
        bounded("close", self.client.close, time.monotonic() + SHUTDOWN_S)
        closed_and_exit(self.events)

    def hold(self):
        """Whether records the library hands over now become the loop's batch
        (False while a revocation waits or runs); from any thread."""
        return not self._rebalancing.is_set() and self._batch.acquire(blocking=False)

    @contextlib.contextmanager
    def _between_batches(self):
        """Once the batch in hand is done, and before the next is taken."""
        self._rebalancing.set()
        try:
            with self._batch:
                yield
        finally:
            self._rebalancing.clear()

    def _step(self):
        """One poll and its batch; False once this instance cannot go on."""
        batch = self.client.poll()
        if not batch:
            if not self.setup.exactly_once:
                with self._batch:
                    self._commit_due(False)
            return True
        try:
            if self.setup.exactly_once or not self._pending:
                self.n += 1
            self.events.emit({"type": "poll", "n": self.n, "records": runs(batch)})
            if self.setup.exactly_once:
                return self._transaction(batch)
            self._at_least_once(batch)
            return True
        finally:
            self._batch.release()

    def _outputs(self, batch):
        """Each input's output: same partition and key, value
        `eosp1:<partition>:<offset>:<slot>:<n>:` and the input's."""
        slot, n = self.setup.slot, self.n
        return [Output(r.partition, r.key,
                       b"eosp1:%d:%d:%d:%d:" % (r.partition, r.offset, slot, n) + (r.value or b""))
                for r in batch]

    def _transaction(self, batch):
        """The batch in one transaction with its offsets; False when this
        instance cannot go on."""
        c, next = self.client, next_offsets(batch)
        committing = False
        try:
            c.begin()
            # A failed send fails the commit, which reports it.
            c.produce(self._outputs(batch), lambda exc: None)
            c.send_offsets(next)
            committing = True
            c.commit_txn()
        except Exception as e:
            return self._failed(e, committing, next)
        self._ended("txn", "committed", next)
        return True

    def _failed(self, exc, committing, next):
        c = self.client
        result, error = c.ending(exc, committing), c.describe(exc)
        if result != "aborted":
            self._ended("txn", result, next, error)
            return False
        try:
            c.abort_txn()
        except Exception as abort_error:
            # KIP-588: an abortable InvalidProducerEpoch, and the abort meets the fencing.
            result = "fenced" if c.is_fencing(abort_error) else "fatal"
            self._ended("txn", result, next,
                        "%s; then abortTransaction: %s" % (error, c.describe(abort_error)))
            return False
        self._ended("txn", "aborted", next, error)
        self._rewind()
        return True

    def _at_least_once(self, batch):
        """The batch written and flushed; its offsets committed when due, or,
        when a send failed, none of what is pending, which is read again."""
        errors = []
        try:
            self.client.produce(self._outputs(batch), errors.append)
            self.client.flush()
        except Exception as e:
            errors.append(e)
        self._pending.update(next_offsets(batch))
        if not errors:
            self._commit_due(False)
            return
        offsets, self._pending = self._pending, {}
        self._ended("commit", "failed", offsets, "send: " + self.client.describe(errors[0]))
        self._rewind()

    def _commit_due(self, now):
        """At least once: commits what is pending once ALO_COMMIT_S has passed
        since the last commit, or now."""
        if not self._pending or not now and time.monotonic() - self._last_commit < ALO_COMMIT_S:
            return
        offsets, self._pending = self._pending, {}
        self._last_commit = time.monotonic()
        try:
            self.client.commit_offsets(offsets)
        except Exception as e:
            self._ended("commit", "failed", offsets, self.client.describe(e))
            return
        self._ended("commit", "ok", offsets)

    def _rewind(self):
        """Every assigned partition back to the group's committed offset (its
        first when none), so that what was not committed is read again."""
        c = self.client
        assigned = sorted(c.assignment())
        if not assigned:
            return
        offsets = c.committed(assigned)
        fresh = [p for p in assigned if offsets.get(p) is None]
        if fresh:
            offsets.update(c.beginning(fresh))
        for p in assigned:
            c.seek(p, offsets[p])
            self.events.emit({"type": "seek", "partition": p, "offset": offsets[p]})

    def _ended(self, kind, result, offsets, error=None):
        event = {"type": kind, "n": self.n, "result": result,
                 "offsets": {str(p): o for p, o in sorted(offsets.items())}}
        if error is not None:
            event["error"] = error
            note("%s %d %s: %s" % (kind, self.n, result, error))
        self.events.emit(event)

    # The rebalance listener's three calls; partitions are input partition
    # numbers. Like kafka-clients, nothing is said of giving up no partitions
    # (aiokafka calls its listener with none at the first join).

    def assigned(self, partitions):
        self._partitions("assigned", partitions)

    def revoked(self, partitions):
        if not partitions:
            return
        with self._between_batches():
            # What was written of them is committed before they go (lost ones cannot be).
            if not self.setup.exactly_once:
                self._commit_due(True)
            self._partitions("revoked", partitions)

    def lost(self, partitions):
        if not partitions:
            return
        with self._between_batches():
            self._partitions("lost", partitions)

    def _partitions(self, kind, partitions):
        self.events.emit({"type": kind, "partitions": sorted(partitions)})

    def close(self, timeout_ms):
        """Lets the loop finish its batch and close; at the deadline `closed`
        is printed whatever the loop is doing."""
        self.closing = True
        self._thread.join(max(0, timeout_ms) / 1000)
        self.events.seal()
        closed_and_exit(self.events)


_exiting = threading.Lock()


def closed_and_exit(events):
    """The last line, once, whichever thread gets here first; then exit
    (library threads and atexit hooks are not waited for)."""
    with _exiting:
        events.closed()
        os._exit(0)


def _configure(cmd, events, library, version, start):
    """The loop of a `configure`, started; exits after config-rejected or a
    fatal start."""
    try:
        setup = Setup(cmd)
    except ValueError as e:
        events.fatal(str(e))
        os._exit(0)
    except (KeyError, TypeError, AttributeError) as e:
        events.fatal("protocol: malformed configure (%s)" % error_name(e))
        os._exit(0)
    loop = Loop(setup, events)
    try:
        client = start(setup, loop)
    except Rejected as e:
        events.config_rejected(str(e))
        os._exit(0)
    except Exception as e:
        events.fatal(error_name(e))
        os._exit(0)
    events.started(library, version, client.config, client.config_source)
    loop.start(client)
    return loop


def serve(library, version, start):
    events = open_events()
    note("%s %s (processor)" % (library, version))
    loop = None

    def close(timeout_ms):
        if loop is None:
            closed_and_exit(events)
        loop.close(timeout_ms)

    for kind, cmd, _ in commands(events):
        if kind == "configure" and loop is None:
            loop = _configure(cmd, events, library, version, start)
        elif kind == "configure":
            events.fatal("protocol: configure sent twice")
        elif kind == "close":
            close(cmd.get("timeout_ms", EOF_CLOSE_MS))
        else:
            events.fatal("protocol: unknown command type %r" % (kind,))
    close(EOF_CLOSE_MS)
