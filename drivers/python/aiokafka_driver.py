"""eoscheck driver for aiokafka.

The protocol loop in eosdriver reads stdin on the main thread; the producer
lives on an asyncio loop in a second thread. Sends cross over in order through
one queue and are handed to the library one at a time, in that order, so a
send() that waits for buffer space cannot let a later record overtake it.
"""

import asyncio
import collections
import concurrent.futures
import threading
import time

import aiokafka
from aiokafka import AIOKafkaProducer

from eosdriver import Rejected, error_name, note, serve

ACKS = {"all": "all", "1": 1, "0": 0}
START_TIMEOUT_S = 60


class Producer:
    def __init__(self, bootstrap, topic, s, events):
        self._topic = topic
        self._events = events
        # aiokafka has no retries setting: every retriable error is retried until
        # the batch expires (never, with idempotence). "Never retry" has no form.
        if s.retries == 0:
            raise Rejected("retries=0: aiokafka has no retries setting; it retries"
                           " every retriable error until the batch expires")
        note("max_in_flight=%s: aiokafka has no such setting and sends at most one"
             " produce request per broker at a time (in effect 1)" % s.max_in_flight)
        note("delivery_timeout_ms=%s: aiokafka has no such setting; a batch expires"
             " request_timeout_ms after it was created (with idempotence only while"
             " its partition has no leader)" % s.delivery_timeout_ms)
        self._conf = dict(
            bootstrap_servers=bootstrap.split(","),
            enable_idempotence=bool(s.idempotence),
            acks=ACKS.get(s.acks, s.acks),
            request_timeout_ms=s.request_timeout_ms,
            linger_ms=s.linger_ms,
        )
        self._fatal = False
        self._pending = collections.deque()  # (id, partition, value) or a flush marker
        self._wake = None
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        # start() bootstraps and, when idempotent, retries InitProducerId with no
        # bound of its own; the harness gives configure 120 s.
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
            self._p = AIOKafkaProducer(**self._conf)
        except (ValueError, TypeError, AssertionError) as e:
            raise Rejected(error_name(e))
        try:
            await self._p.start()
        except BaseException:
            await self._p.stop()
            raise
        self._wake = asyncio.Event()
        self._pump_task = asyncio.ensure_future(self._pump())
        self._check_session()

    def send(self, id, partition, value):
        # deque.append is thread-safe; the loop is only woken when it may be idle.
        self._pending.append((id, partition, value))
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
            id, partition, value = item
            try:
                fut = await p.send(topic, value, partition=partition)
            except Exception as e:  # raised before the record was queued
                events.fail(id, error_name(e), True)
                continue
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
        # A sender task that died fails what it holds and never sends again.
        task = self._p._sender.sender_task
        if not self._fatal and task is not None and task.done():
            self._fatal = True
            exc = None if task.cancelled() else task.exception()
            self._events.fatal("sender stopped: " + (error_name(exc) if exc else "cancelled"))

    def _check_session(self):
        # The producer id lives in the (private) transaction manager.
        tm = self._p._txn_manager
        if tm is not None:
            self._events.session(tm.producer_id, tm.producer_epoch)

    async def _flush(self):
        marker = self._loop.create_future()
        self._pending.append(marker)
        self._wake.set()
        await marker  # everything before it is handed to the library
        await self._p.flush()

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
