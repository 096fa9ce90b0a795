"""eoscheck processor for kafka-python: the pipeline's loop (eosprocessor)
with a KafkaConsumer and a transactional (or idempotent) KafkaProducer.

kafka-python 3 runs the consumer's group membership on an IO thread of its
own, and calls the rebalance listener there; a listener that blocks on the
consumer (a commit) from that thread is refused ("Cannot block on net.run()
from the IO thread itself"). Its AsyncConsumerRebalanceListener is awaited
on that thread instead: the loop's revoked() (which may commit) runs in a
worker thread meanwhile, and the listener awaits its end.
"""

import threading
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaConfigurationError, KafkaTimeoutError
from kafka.future import Future

from eosdriver import (START_TIMEOUT_S, DidNotReturn, LibraryError, Rejected, as_text,
                       error_name, keyword_arguments, within)
from eosprocessor import BATCH, CALL_S, POLL_S, Input, serve
from kafka_python_driver import FENCED, options, socket_buffer

CONSTRUCTOR_ERRORS = (KafkaConfigurationError, ValueError, TypeError, AssertionError, RuntimeError)
# What the processor needs of the release beyond the driver's transactional
# producer, and where it is.
NEEDED = {"AsyncConsumerRebalanceListener": kafka, "group_metadata": KafkaConsumer}


CONSUMER_PARSERS = {"receive_buffer_bytes": socket_buffer, "send_buffer_bytes": socket_buffer}


def consumer_options(setup):
    """The KafkaConsumer keyword arguments: the processor's, `consumer` on top."""
    kwargs = {"client_id": setup.client_id + "-consumer", "group_id": setup.group,
              "isolation_level": "read_committed", "enable_auto_commit": False,
              "auto_offset_reset": "earliest", "max_poll_records": BATCH}
    kwargs.update(keyword_arguments("kafka-python", kafka.__version__, setup.consumer,
                                    KafkaConsumer.DEFAULT_CONFIG, {}, CONSUMER_PARSERS,
                                    role="consumer"))
    kwargs["bootstrap_servers"] = setup.bootstrap.split(",")
    return kwargs


def check_release():
    """Rejected when the loaded release lacks an API the processor needs (the
    producer's options() rejects a transactional.id without transactions)."""
    for name, owner in NEEDED.items():
        if not hasattr(owner, name):
            raise Rejected("kafka-python %s has no %s.%s: the processor needs it"
                           % (kafka.__version__, owner.__name__, name))


class Client:
    config_source = "library"  # KafkaProducer.config: its effective settings

    def __init__(self, setup, loop):
        check_release()
        self._input, self._output, self._loop = setup.input, setup.output, loop
        kwargs = {"client_id": setup.client_id}
        kwargs.update(options(setup.with_tuning(options)))
        kwargs["bootstrap_servers"] = setup.bootstrap.split(",")
        consumer_kwargs = consumer_options(setup)  # refused before anything connects
        try:
            self._p = KafkaProducer(**kwargs)
            self._c = KafkaConsumer(**consumer_kwargs)
        except CONSTRUCTOR_ERRORS as e:
            raise Rejected(error_name(e)) from None
        self.config = {name: as_text(value) for name, value in self._p.config.items()}
        self._tm = self._p._transaction_manager  # private: the producer id, the states
        if setup.exactly_once:
            # init_transactions waits up to max_block_ms; the processor bounds it too.
            self._bounded(self._p.init_transactions, START_TIMEOUT_S, "init_transactions")
            self._check_session()

    def _bounded(self, call, seconds, what):
        """kafka-python's transaction calls have no bound of their own."""
        try:
            within(call, time.monotonic() + seconds)
        except DidNotReturn:
            raise LibraryError("eoscheck: %s did not return within %d s" % (what, seconds)) from None

    def _check_session(self):
        pe = self._tm.producer_id_and_epoch
        self._loop.events.session(pe.producer_id, pe.epoch)

    def _tp(self, partition):
        return TopicPartition(self._input, partition)

    def _offsets(self, next):
        return {self._tp(p): OffsetAndMetadata(o, "", -1) for p, o in next.items()}

    def mine(self, tps):
        return [tp.partition for tp in tps if tp.topic == self._input]

    def off_io_thread(self, handler, tps):
        """handler(partitions) in a worker thread; a future the IO thread can
        await, completed on that thread (which it wakes)."""
        done = Future()
        net = self._c._net  # private: kafka-python's IO loop

        async def complete():
            done.success(None)

        def work():
            try:
                handler(self.mine(tps))
            finally:
                net.call_soon_threadsafe(complete)

        threading.Thread(target=work, daemon=True).start()
        return done

    def subscribe(self):
        self._c.subscribe([self._input], listener=Listener(self, self._loop))

    def poll(self):
        got = self._c.poll(timeout_ms=int(POLL_S * 1000), max_records=BATCH)
        batch = [Input(r.partition, r.offset, r.key, r.value)
                 for records in got.values() for r in records]
        # The listener runs on the IO thread: a revocation may have begun.
        return batch if batch and self._loop.hold() else []

    def produce(self, outputs, failed):
        for o in outputs:
            future = self._p.send(self._output, value=o.value, key=o.key, partition=o.partition)
            future.add_errback(failed)

    def flush(self):
        # A flush that runs out of time leaves sends open: not all was written.
        self._p.flush()

    def begin(self):
        self._p.begin_transaction()

    def send_offsets(self, next):
        self._p.send_offsets_to_transaction(self._offsets(next), self._c.group_metadata())

    def commit_txn(self):
        try:
            self._bounded(self._p.commit_transaction, CALL_S, "commit_transaction")
        finally:
            self._check_session()

    def abort_txn(self):
        try:
            self._bounded(self._p.abort_transaction, CALL_S, "abort_transaction")
        finally:
            self._check_session()

    def ending(self, exc, committing):
        tm = self._tm
        if tm.has_fatal_error():
            return "fenced" if self.is_fencing(exc) else "fatal"
        if tm.has_abortable_error():
            return "aborted"
        if isinstance(exc, FENCED):
            return "fenced"
        if committing:
            timeout = isinstance(exc, (KafkaTimeoutError, LibraryError))
            return "unknown" if timeout else "fatal"
        return "aborted"

    def is_fencing(self, exc):
        return isinstance(exc, FENCED) or (self._tm.has_fatal_error()
                                           and isinstance(self._tm.last_error, FENCED))

    def commit_offsets(self, next):
        self._c.commit(self._offsets(next), timeout_ms=CALL_S * 1000)

    def assignment(self):
        return self.mine(self._c.assignment())

    def committed(self, partitions):
        return {p: self._c.committed(self._tp(p), timeout_ms=CALL_S * 1000) for p in partitions}

    def beginning(self, partitions):
        got = self._c.beginning_offsets([self._tp(p) for p in partitions],
                                        timeout_ms=CALL_S * 1000)
        return {tp.partition: o for tp, o in got.items()}

    def seek(self, partition, offset):
        self._c.seek(self._tp(partition), offset)

    def describe(self, exc):
        return error_name(exc)

    def close(self):
        self._c.close()  # its listener's revoked commits what is pending, at least once
        self._p.close(timeout=1)


# Absent before kafka-python 3: check_release() rejects those.
class Listener(getattr(kafka, "AsyncConsumerRebalanceListener", object)):
    """The loop's assigned/revoked/lost, on kafka-python's IO thread."""

    def __init__(self, client, loop):
        self._client, self._loop = client, loop

    async def on_partitions_revoked(self, revoked):
        await self._client.off_io_thread(self._loop.revoked, revoked)

    async def on_partitions_assigned(self, assigned):
        self._loop.assigned(self._client.mine(assigned))

    async def on_partitions_lost(self, lost):
        self._loop.lost(self._client.mine(lost))


if __name__ == "__main__":
    serve("kafka-python", kafka.__version__, Client)
