"""eoscheck processor for confluent-kafka-python: the pipeline's loop
(eosprocessor) with a confluent_kafka Consumer and Producer (librdkafka)."""

import threading
import time

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from confluent_kafka_python_driver import (FENCED, create, init_transactions, kafka_error,
                                           librdkafka_config, stats_session)
from eosdriver import error_name, note
from eosprocessor import BATCH, CALL_S, POLL_S, Input, serve

# How often a commit_transaction whose error is retriable (its outcome still
# open; librdkafka resumes it) is called in all.
COMMIT_CALLS = 3


def consumer_config(setup):
    """The processor's consumer settings, the `consumer` ones on top (librdkafka
    takes Kafka's consumer names as they are)."""
    conf = {"bootstrap.servers": setup.bootstrap, "client.id": setup.client_id + "-consumer",
            "group.id": setup.group, "isolation.level": "read_committed",
            "enable.auto.commit": "false", "auto.offset.reset": "earliest"}
    conf.update(setup.consumer)
    return conf


def raise_for(partitions):
    """A per-partition error of a commit or an offset fetch, raised."""
    for tp in partitions:
        if tp.error is not None:
            raise KafkaException(tp.error)


class Client:
    # The binding has no rd_kafka_conf_dump(): what the processor set.
    config_source = "driver"

    def __init__(self, setup, loop):
        self._input, self._output, self._loop = setup.input, setup.output, loop
        self.config = librdkafka_config(setup)
        self._p = create(confluent_kafka.Producer, self.config, error_cb=self._error,
                         stats_cb=lambda raw: stats_session(raw, loop.events))
        self._c = create(confluent_kafka.Consumer, consumer_config(setup), error_cb=self._error)
        # Delivery reports and statistics only come from poll()/flush().
        self._polling = True
        threading.Thread(target=self._poll_producer, daemon=True).start()
        if setup.exactly_once:
            init_transactions(self._p)

    def _poll_producer(self):
        while self._polling:
            self._p.poll(0.1)

    def _error(self, err):
        # A fatal error also fails the next transaction call, which reports it.
        note("librdkafka: " + kafka_error(err))

    def _tp(self, partition, offset=None):
        if offset is None:
            return TopicPartition(self._input, partition)
        return TopicPartition(self._input, partition, offset)

    def _mine(self, partitions):
        return [tp.partition for tp in partitions if tp.topic == self._input]

    def subscribe(self):
        # The binding assigns (and unassigns) after each callback returns.
        loop = self._loop
        self._c.subscribe([self._input],
                          on_assign=lambda c, tps: loop.assigned(self._mine(tps)),
                          on_revoke=lambda c, tps: loop.revoked(self._mine(tps)),
                          on_lost=lambda c, tps: loop.lost(self._mine(tps)))

    def poll(self):
        batch = []
        for m in self._c.consume(BATCH, POLL_S):
            err = m.error()
            if err is None:
                batch.append(Input(m.partition(), m.offset(), m.key(), m.value()))
            elif err.fatal():
                raise KafkaException(err)
            else:
                note("consume: " + kafka_error(err))
        # The listener ran inside consume(): nothing holds the batch now.
        return batch if batch and self._loop.hold() else []

    def produce(self, outputs, failed):
        def done(err, msg):
            if err is not None:
                failed(KafkaException(err))

        for o in outputs:
            while True:
                try:
                    self._p.produce(self._output, o.value, o.key, partition=o.partition,
                                    on_delivery=done)
                    break
                except BufferError:
                    time.sleep(0.005)  # local queue full: the poll thread drains it

    def flush(self):
        # Bounded by delivery.timeout.ms: every record is reported by then.
        self._p.flush()

    def begin(self):
        self._p.begin_transaction()

    def send_offsets(self, next):
        self._p.send_offsets_to_transaction([self._tp(p, o) for p, o in next.items()],
                                            self._c.consumer_group_metadata(), CALL_S)

    def commit_txn(self):
        for call in range(1, COMMIT_CALLS + 1):
            try:
                self._p.commit_transaction(CALL_S)
                return
            except KafkaException as e:
                if not (e.args[0].retriable() and call < COMMIT_CALLS):
                    raise
                note("commit_transaction: %s; calling again" % kafka_error(e.args[0]))

    def abort_txn(self):
        self._p.abort_transaction(CALL_S)

    def ending(self, exc, committing):
        err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        if not isinstance(err, KafkaError):
            return "fatal" if committing else "aborted"
        if err.fatal():
            return "fenced" if err.code() in FENCED else "fatal"
        if err.txn_requires_abort():
            return "aborted"
        if err.code() in FENCED:
            return "fenced"
        if committing:
            # Still retriable after COMMIT_CALLS calls: it may yet commit.
            return "unknown" if err.retriable() else "fatal"
        return "aborted"

    def is_fencing(self, exc):
        err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        return isinstance(err, KafkaError) and err.code() in FENCED

    def commit_offsets(self, next):
        raise_for(self._c.commit(offsets=[self._tp(p, o) for p, o in next.items()],
                                 asynchronous=False))

    def assignment(self):
        return self._mine(self._c.assignment())

    def committed(self, partitions):
        tps = self._c.committed([self._tp(p) for p in partitions], timeout=CALL_S)
        raise_for(tps)
        # A partition without a committed offset has a logical one (OFFSET_INVALID).
        return {tp.partition: tp.offset if tp.offset >= 0 else None for tp in tps}

    def beginning(self, partitions):
        return {p: self._c.get_watermark_offsets(self._tp(p), timeout=CALL_S)[0]
                for p in partitions}

    def seek(self, partition, offset):
        self._c.seek(self._tp(partition, offset))

    def describe(self, exc):
        if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
            return kafka_error(exc.args[0])
        return error_name(exc)

    def close(self):
        self._c.close()  # its on_revoke commits what is pending, at least once
        self._polling = False


if __name__ == "__main__":
    note("librdkafka %s" % confluent_kafka.libversion()[0])
    serve("confluent-kafka-python", confluent_kafka.__version__, Client)
