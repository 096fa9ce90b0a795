"""eoscheck processor for aiokafka: the pipeline's loop (eosprocessor, on a
thread of its own) with an AIOKafkaConsumer and an AIOKafkaProducer, which
live on an asyncio loop in another thread; each library call is run there and
waited for.

aiokafka's send_offsets_to_transaction takes a group id, not the consumer's
group metadata: its TxnOffsetCommit is version 0, without the generation and
member id KIP-447 fences a stale member's offsets with.
"""

import asyncio
import concurrent.futures
import inspect
import threading

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from aiokafka_driver import FENCED, options, txn_state
from eosdriver import (START_TIMEOUT_S, Rejected, as_text, error_name, keyword_arguments,
                       parse_like)
from eosprocessor import BATCH, CALL_S, POLL_S, Input, serve

CONSUMER_DEFAULTS = {name: p.default for name, p
                     in inspect.signature(AIOKafkaConsumer).parameters.items()}
# Options whose default is None but whose value is a number.
CONSUMER_PARSERS = {"rebalance_timeout_ms": parse_like(0), "max_poll_records": parse_like(0)}
# The member id aiokafka resets when the group has dropped the member.
UNKNOWN_MEMBER_ID = ""
# A call that did not return in time (concurrent.futures' is the builtin
# TimeoutError only from Python 3.11).
TIMEOUTS = (concurrent.futures.TimeoutError, asyncio.TimeoutError, TimeoutError)


def consumer_options(setup):
    """The AIOKafkaConsumer keyword arguments: the processor's, `consumer` on top."""
    kwargs = {"client_id": setup.client_id + "-consumer", "group_id": setup.group,
              "isolation_level": "read_committed", "enable_auto_commit": False,
              "auto_offset_reset": "earliest"}
    kwargs.update(keyword_arguments("aiokafka", aiokafka.__version__, setup.consumer,
                                    CONSUMER_DEFAULTS, {}, CONSUMER_PARSERS, role="consumer"))
    kwargs["bootstrap_servers"] = setup.bootstrap.split(",")
    return kwargs


async def _call(fn, *args):
    """A synchronous library call, made on the library's loop."""
    return fn(*args)


def _reported(fut, failed):
    """failed(exc) once the send's future fails."""
    def done(f):
        if f.cancelled():
            failed(asyncio.CancelledError("send cancelled"))
        elif f.exception() is not None:
            failed(f.exception())
    fut.add_done_callback(done)


class Listener(ConsumerRebalanceListener):
    """The loop's assigned/revoked/lost. aiokafka calls it on its own loop,
    from the group coordinator's task, while the processor's loop may be in a
    batch: the loop's revoked() (which waits for that batch, and may commit
    through this same asyncio loop) runs in a worker thread meanwhile."""

    def __init__(self, client, loop):
        self._client, self._loop = client, loop

    async def on_partitions_revoked(self, revoked):
        # aiokafka has no lost callback: a member the group dropped has had
        # its member id reset by the time it revokes.
        dropped = self._client.member_id() == UNKNOWN_MEMBER_ID
        handler = self._loop.lost if dropped else self._loop.revoked
        await asyncio.get_running_loop().run_in_executor(
            None, handler, self._client.mine(revoked))

    async def on_partitions_assigned(self, assigned):
        self._loop.assigned(self._client.mine(assigned))


class Client:
    config_source = "driver"  # aiokafka keeps no record of its settings

    def __init__(self, setup, loop):
        self._input, self._output, self._group, self._loop = (
            setup.input, setup.output, setup.group, loop)
        kwargs = {"client_id": setup.client_id}
        kwargs.update(options(setup.with_tuning(options)))
        kwargs["bootstrap_servers"] = setup.bootstrap.split(",")
        self.config = {name: as_text(value) for name, value in kwargs.items()}
        consumer_kwargs = consumer_options(setup)
        self._aio = asyncio.new_event_loop()
        threading.Thread(target=self._aio.run_forever, daemon=True).start()
        # start() bootstraps and, when transactional, retries InitProducerId
        # with no bound of its own.
        self._run(self._start(kwargs, consumer_kwargs), START_TIMEOUT_S)

    def _run(self, coro, timeout=CALL_S):
        """coro on the library's loop, waited for up to timeout (then
        cancelled: TimeoutError)."""
        fut = asyncio.run_coroutine_threadsafe(coro, self._aio)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    async def _start(self, producer_kwargs, consumer_kwargs):
        try:
            self._p = AIOKafkaProducer(**producer_kwargs)
            self._c = AIOKafkaConsumer(**consumer_kwargs)
        except (ValueError, TypeError, AssertionError, RuntimeError) as e:
            raise Rejected(error_name(e)) from None
        await self._p.start()
        self._check_session()
        await self._c.start()

    def _check_session(self):
        # The producer id lives in the (private) transaction manager.
        tm = self._p._txn_manager
        if tm is not None:
            self._loop.events.session(tm.producer_id, tm.producer_epoch)

    def member_id(self):
        return self._c._coordinator.member_id

    def mine(self, tps):
        return [tp.partition for tp in tps if tp.topic == self._input]

    def _tps(self, offsets):
        return {TopicPartition(self._input, p): o for p, o in offsets.items()}

    def subscribe(self):
        self._run(_call(self._c.subscribe, [self._input], None, Listener(self, self._loop)))

    def poll(self):
        got = self._run(self._c.getmany(timeout_ms=int(POLL_S * 1000), max_records=BATCH))
        batch = [Input(r.partition, r.offset, r.key, r.value)
                 for records in got.values() for r in records]
        # getmany may return records fetched before a revocation began.
        return batch if batch and self._loop.hold() else []

    def produce(self, outputs, failed):
        self._run(self._produce(outputs, failed))

    async def _produce(self, outputs, failed):
        for o in outputs:
            fut = await self._p.send(self._output, o.value, key=o.key, partition=o.partition)
            _reported(fut, failed)

    def flush(self):
        self._run(self._p.flush())

    def begin(self):
        self._run(self._p.begin_transaction())

    def send_offsets(self, next):
        self._run(self._p.send_offsets_to_transaction(self._tps(next), self._group))

    def commit_txn(self):
        self._end(self._p.commit_transaction)

    def abort_txn(self):
        self._end(self._p.abort_transaction)

    def _end(self, call):
        # aiokafka's commit and abort wait with no bound: the processor's.
        try:
            self._run(call())
        finally:
            self._check_session()

    def ending(self, exc, committing):
        state, cause = txn_state(self._p)
        if state == "FATAL_ERROR":
            return "fenced" if isinstance(exc, FENCED) or isinstance(cause, FENCED) else "fatal"
        if state == "ABORTABLE_ERROR":
            return "aborted"
        if isinstance(exc, FENCED):
            return "fenced"
        if committing:
            return "unknown" if isinstance(exc, TIMEOUTS) else "fatal"
        return "aborted"

    def is_fencing(self, exc):
        return isinstance(exc, FENCED) or isinstance(txn_state(self._p)[1], FENCED)

    def commit_offsets(self, next):
        self._run(self._c.commit(self._tps(next)))

    def assignment(self):
        return self.mine(self._run(_call(self._c.assignment)))

    def committed(self, partitions):
        return {p: self._run(self._c.committed(TopicPartition(self._input, p)))
                for p in partitions}

    def beginning(self, partitions):
        tps = [TopicPartition(self._input, p) for p in partitions]
        return {tp.partition: o for tp, o in self._run(self._c.beginning_offsets(tps)).items()}

    def seek(self, partition, offset):
        self._run(_call(self._c.seek, TopicPartition(self._input, partition), offset))

    def describe(self, exc):
        return error_name(exc)

    def close(self):
        # aiokafka's stop() leaves the group without calling the listener.
        self._run(self._c.stop())
        self._run(self._p.stop())


if __name__ == "__main__":
    serve("aiokafka", aiokafka.__version__, Client)
