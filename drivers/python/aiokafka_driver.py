"""eoscheck driver for aiokafka.

The protocol loop in eosdriver reads stdin on the main thread; the producer
lives on an asyncio loop in a second thread. Sends cross over in order through
one queue and are handed to the library one at a time, in that order, so a
send() that waits for buffer space cannot let a later record overtake it.
"""

import asyncio
import collections
import concurrent.futures
import inspect
import threading
import time

import aiokafka
import aiokafka.errors
from aiokafka import AIOKafkaProducer

from eosdriver import (START_TIMEOUT_S, DidNotReturn, as_text, error_name, keyword_arguments,
                       note, read_acks, read_compression, rejected, Rejected, serve)

DEFAULTS = {name: p.default for name, p in inspect.signature(AIOKafkaProducer).parameters.items()}

# Kafka's standard names spelled differently here (the rest: dots to underscores).
RENAMED = {"batch.size": "max_batch_size"}  # per partition, also its buffer limit
PARSERS = {"acks": read_acks, "compression_type": read_compression}

# Kafka's standard names aiokafka has no option for, and why.
UNSUPPORTED = {
    "delivery.timeout.ms": "aiokafka has no delivery timeout: a batch expires"
    " request_timeout_ms after it was created, and with idempotence only while"
    " its partition has no leader",
    "max.block.ms": "aiokafka has no such setting: send() waits for metadata and"
    " for buffer space up to request_timeout_ms each",
    "buffer.memory": "aiokafka has no producer buffer limit, only max_batch_size"
    " per partition (batch.size)",
}
# Standard names for what aiokafka always does, accepted with that value only.
FIXED = {
    "retries": ("2147483647", "aiokafka has no retries setting: it retries every"
                " retriable error until the batch expires"),
}
# "Another instance has this transactional.id" (aiokafka raises the
# coordinator's INVALID_PRODUCER_EPOCH as ProducerFenced).
FENCED = (aiokafka.errors.ProducerFenced, aiokafka.errors.InvalidProducerEpoch)
# aiokafka sends one produce request per broker at a time: any limit of at
# least one request in flight is met, none can be raised.
IN_FLIGHT = "max.in.flight.requests.per.connection"


def options(config):
    """The AIOKafkaProducer keyword arguments for `config`."""
    config = dict(config)
    if "transactional.id" in config and "transactional_id" not in DEFAULTS:
        raise rejected("transactional.id", "aiokafka %s has no transactional producer"
                       % aiokafka.__version__)
    for name, why in UNSUPPORTED.items():
        if name in config:
            raise rejected(name, why)
    for name, (value, why) in FIXED.items():
        if name in config and config.pop(name) != value:
            raise rejected(name, why + " (only %s can be honoured)" % value)
    if IN_FLIGHT in config:
        limit = config.pop(IN_FLIGHT)
        if not limit.isdigit() or int(limit) < 1:
            raise rejected(IN_FLIGHT, "not a count of at least 1: %r" % limit)
        note("%s=%s: aiokafka sends one request per broker at a time, within the limit"
            % (IN_FLIGHT, limit))
    return keyword_arguments("aiokafka", aiokafka.__version__, config, DEFAULTS,
                             RENAMED, PARSERS)


def sender_error(producer):
    """Why the producer's sender task died (None while it runs, or if it was
    cancelled). A dead sender fails what it holds and never sends again: the
    fatal state."""
    task = producer._sender.sender_task
    if task is None or not task.done() or task.cancelled():
        return None
    return task.exception()


def txn_state(producer):
    """The (private) transaction manager's state name (None without one)
    and, in its fatal state, what put it there (a later call raises an
    invalid transition instead)."""
    tm = producer._txn_manager
    if tm is None:
        return None, None
    if tm.state.name != "FATAL_ERROR":
        return tm.state.name, None
    end = tm.wait_for_transaction_end()
    if end is not None and end.done() and not end.cancelled() and end.exception() is not None:
        return tm.state.name, end.exception()
    return tm.state.name, sender_error(producer)


class Chosen:
    """aiokafka's default partitioner, remembering its last choice: with acks 0
    the library reports no partition, and sends are handed over one at a time."""

    def __init__(self, partitioner):
        self._partitioner = partitioner
        self.last = None

    def __call__(self, key, all_partitions, available):
        self.last = self._partitioner(key, all_partitions, available)
        return self.last


class Producer:
    config_source = "driver"  # aiokafka keeps no record of its settings

    def __init__(self, configure, events):
        self._topic = configure.topic
        self._events = events
        kwargs = {"client_id": configure.client_id}
        kwargs.update(options(configure.with_tuning(options)))
        kwargs["bootstrap_servers"] = configure.bootstrap.split(",")
        self.config = {name: as_text(value) for name, value in kwargs.items()}
        self._chosen = Chosen(DEFAULTS["partitioner"])
        kwargs["partitioner"] = self._chosen
        self._kwargs = kwargs
        self._fatal = False
        self._pending = collections.deque()  # (id, value, key, partition) or a flush marker
        self._wake = None
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        # start() bootstraps and, when idempotent or transactional, retries
        # InitProducerId with no bound of its own (that is a transactional
        # producer's init); the harness gives configure 120 s.
        self._call(self._start(), time.monotonic() + START_TIMEOUT_S)

    def _call(self, coro, deadline):
        """Runs coro on the producer's loop, waiting for it until deadline."""
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:  # not the builtin before 3.11
            fut.cancel()
            raise

    async def _start(self):
        try:
            self._p = AIOKafkaProducer(**self._kwargs)
        except (ValueError, TypeError, AssertionError, RuntimeError) as e:
            raise Rejected(error_name(e))
        try:
            await self._p.start()
        except BaseException:
            await self._p.stop()
            raise
        self._wake = asyncio.Event()
        self._pump_task = asyncio.ensure_future(self._pump())
        self._check_session()

    def send(self, id, value, key, partition):
        # deque.append is thread-safe; the loop is only woken when it may be idle.
        self._pending.append((id, value, key, partition))
        if len(self._pending) == 1:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _pump(self):
        p, topic, events, pending = self._p, self._topic, self._events, self._pending
        while True:
            if not pending:
                self._wake.clear()
                if not pending:  # re-check: a send may have come before clear()
                    await self._wake.wait()
                continue
            item = pending.popleft()
            if isinstance(item, asyncio.Future):
                item.set_result(None)
                continue
            id, value, key, partition = item
            try:
                fut = await p.send(topic, value, key=key, partition=partition)
            except Exception as e:  # raised before the record was queued
                events.fail(id, error_name(e), True)
                continue
            if partition is None:
                partition = self._chosen.last
            fut.add_done_callback(lambda f, id=id, partition=partition: self._done(id, partition, f))

    def _done(self, id, partition, fut):
        self._check_session()
        if fut.cancelled():
            self._events.fail(id, "CancelledError: send cancelled", False)
        elif fut.exception() is not None:
            # aiokafka does not say whether a failed batch was ever sent.
            self._events.fail(id, error_name(fut.exception()), False)
            self._check_fatal()
        else:
            md = fut.result()  # None with acks 0
            self._events.ok(id, partition, None if md is None else md.offset)

    def _check_fatal(self):
        task = self._p._sender.sender_task
        if not self._fatal and task is not None and task.done():
            self._fatal = True
            exc = sender_error(self._p)
            self._events.fatal("sender stopped: " + (error_name(exc) if exc else "cancelled"))

    def _check_session(self):
        # The producer id lives in the (private) transaction manager.
        tm = self._p._txn_manager
        if tm is not None:
            self._events.session(tm.producer_id, tm.producer_epoch)

    async def _handed_over(self):
        """Returns once every send before it is handed to the library."""
        marker = self._loop.create_future()
        self._pending.append(marker)
        self._wake.set()
        await marker

    async def _flush(self):
        await self._handed_over()
        await self._p.flush()

    async def _transact(self, call):
        # In order with the sends: none of them may reach the library after the
        # transaction they belong to has ended (or before it began).
        await self._handed_over()
        await getattr(self._p, call + "_transaction")()

    def transact(self, call, deadline):
        # aiokafka's commit and abort wait with no bound (shielded, so the
        # driver's deadline only stops the wait): the driver's.
        try:
            self._call(self._transact(call), deadline)
        except concurrent.futures.TimeoutError:
            raise DidNotReturn() from None
        finally:
            self._check_session()

    def txn_error(self, exc):
        state, cause = txn_state(self._p)
        error = error_name(exc)
        if cause is not None and cause is not exc:
            # A call in the fatal state fails as an invalid transition.
            error += " (in the fatal state after %s)" % error_name(cause)
        if state == "ABORTABLE_ERROR":
            result = "abortable"
        elif isinstance(exc, FENCED) or isinstance(cause, FENCED):
            result = "fenced"
        else:  # the fatal state, or a call the library refuses in this state
            result = "fatal"
        return result, error

    def flush(self, deadline):
        try:
            self._call(self._flush(), deadline)
        except Exception as e:
            note("flush: " + error_name(e))

    def close(self, deadline):
        try:
            self._call(self._p.stop(), deadline)
        except Exception as e:
            note("close: " + error_name(e))


if __name__ == "__main__":
    serve("aiokafka", aiokafka.__version__, Producer)
