"""eoscheck driver for confluent-kafka-python (librdkafka underneath)."""

import json
import re
import threading
import time

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from eosdriver import (LibraryError, Rejected, START_TIMEOUT_S, error_name, note, rejected,
                       serve)

STATS_INTERVAL_MS = "500"  # how soon a new producer id/epoch is noticed
# librdkafka's codes for "another instance has this transactional.id": its own
# fatal _FENCED, and the broker's codes it may pass on.
FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


def _kib(name, text):
    """Bytes, rounded up to KiB (librdkafka's unit)."""
    try:
        return str((int(text) + 1023) // 1024)
    except ValueError:
        raise rejected(name, "not an integer: %r" % text) from None


def _system_default(name, text):
    """Java's -1 (the system default) is librdkafka's 0."""
    return "0" if text == "-1" else text


# Kafka's standard names that librdkafka spells differently: its name, and how
# the value converts. Every other name goes to librdkafka as it is (librdkafka
# takes most of Kafka's names as aliases of its own).
RENAMED = {
    "buffer.memory": ("queue.buffering.max.kbytes", _kib),
    "max.request.size": ("message.max.bytes", lambda name, text: text),
    "receive.buffer.bytes": ("socket.receive.buffer.bytes", _system_default),
    "send.buffer.bytes": ("socket.send.buffer.bytes", _system_default),
}
# Kafka's standard names librdkafka knows but cannot express, and why.
UNSUPPORTED = {
    "max.block.ms": "librdkafka's produce() never blocks: a full queue is refused"
    " at once (QUEUE_FULL, which the driver retries) and a record waits for"
    " metadata in the queue, bounded by delivery.timeout.ms",
}
UNKNOWN = re.compile(r'No such configuration property: "(.*)"')


def librdkafka_config(configure):
    """`config` (and the tuning librdkafka takes) in librdkafka's names, with
    what the driver needs."""
    conf = {"client.id": configure.client_id, "statistics.interval.ms": STATS_INTERVAL_MS}
    conf.update(renamed(configure.with_tuning(renamed)))
    conf["bootstrap.servers"] = configure.bootstrap
    return conf


def renamed(config):
    """`config` in librdkafka's own names."""
    conf = {}
    for name, text in config.items():
        if name in UNSUPPORTED:
            raise rejected(name, UNSUPPORTED[name])
        if name in RENAMED:
            own, convert = RENAMED[name]
            name, text = own, convert(name, text)
        conf[name] = text
    return conf


def init_transactions(producer):
    """init_transactions, called again while its error is retriable (it
    resumes where it timed out) for up to START_TIMEOUT_S."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            producer.init_transactions(max(0.001, deadline - time.monotonic()))
            return
        except KafkaException as e:
            err = e.args[0]
            if not err.retriable() or time.monotonic() >= deadline:
                raise LibraryError("init_transactions: " + kafka_error(err)) from None
            note("init_transactions: %s; calling again" % kafka_error(err))
            time.sleep(0.1)


def stats_session(raw, events):
    """The producer id and epoch in librdkafka's statistics JSON, to `events`;
    whether the id is known yet."""
    eos = json.loads(raw).get("eos") or {}
    events.session(eos.get("producer_id", -1), eos.get("producer_epoch", -1))
    return eos.get("producer_id", -1) >= 0


def kafka_error(err):
    return "%s: %s" % (err.name(), err.str())


def refusal(err):
    """librdkafka's refusal of a configuration as a `config-rejected` reason."""
    unknown = UNKNOWN.fullmatch(err.str())
    if unknown:
        return rejected(unknown.group(1), "librdkafka has no such property")
    return Rejected(kafka_error(err))


def create(kind, conf, **callbacks):
    """A librdkafka client (confluent_kafka.Producer or Consumer); Rejected
    when librdkafka or the binding refuses the configuration."""
    try:
        return kind(conf, **callbacks)
    except KafkaException as e:
        raise refusal(e.args[0]) from None
    except (ValueError, TypeError) as e:
        raise Rejected("%s: %s" % (type(e).__name__, e)) from None


class Producer:
    # The binding has no rd_kafka_conf_dump(): what the driver set, which
    # librdkafka takes as is.
    config_source = "driver"

    def __init__(self, configure, events):
        self._topic = configure.topic
        self._events = events
        self.config = librdkafka_config(configure)
        self._p = create(confluent_kafka.Producer, self.config, stats_cb=self._stats,
                         error_cb=self._error)
        # Callbacks (delivery, stats, error) only fire from poll()/flush().
        self._polling = True
        self._session_seen = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()
        if "transactional.id" in self.config:
            init_transactions(self._p)
            # The producer id shows in the next statistics; have it follow `started`.
            self._session_seen.wait(2 * int(self.config["statistics.interval.ms"]) / 1000)

    def _poll(self):
        while self._polling:
            self._p.poll(0.1)

    def send(self, id, value, key, partition):
        events = self._events
        # Without a partition, librdkafka's default partitioner picks.
        where = {} if partition is None else {"partition": partition}

        def done(err, msg):
            if err is None:
                events.ok(id, msg.partition(), msg.offset())
            else:
                # The binding hides rd_kafka_message_status, so only a purge from
                # the local queue is known never to have been sent.
                events.fail(id, kafka_error(err), err.code() == KafkaError._PURGE_QUEUE)

        while True:
            try:
                self._p.produce(self._topic, value, key, on_delivery=done, **where)
                return
            except BufferError:
                time.sleep(0.005)  # local queue full: the poll thread drains it
            except KafkaException as e:
                events.fail(id, kafka_error(e.args[0]), True)  # refused before queueing
                return

    def _stats(self, raw):
        if stats_session(raw, self._events):
            self._session_seen.set()

    def transact(self, call, deadline):
        # librdkafka bounds commit and abort itself; begin is local.
        if call == "begin":
            self._p.begin_transaction()
        else:
            end = self._p.commit_transaction if call == "commit" else self._p.abort_transaction
            end(max(0.001, deadline - time.monotonic()))

    def txn_error(self, exc):
        err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        if not isinstance(err, KafkaError):
            return "fatal", error_name(exc)
        if err.txn_requires_abort():
            result = "abortable"
        elif err.code() in FENCED:
            result = "fenced"
        elif err.fatal():
            result = "fatal"
        elif err.retriable():
            result = "retriable"
        else:  # _STATE, _NOT_CONFIGURED: a call the library refuses in this state
            result = "fatal"
        return result, kafka_error(err)

    def _error(self, err):
        if err.fatal():
            self._events.fatal(kafka_error(err))
        else:
            note("librdkafka: " + kafka_error(err))

    def flush(self, deadline):
        while self._p.flush(max(0.0, min(1.0, deadline - time.monotonic()))) > 0:
            if time.monotonic() >= deadline:
                return

    def close(self, deadline):
        self._polling = False
        # Nothing else to do: the process exits right after, which abandons
        # whatever librdkafka still holds (rd_kafka_destroy could block).


if __name__ == "__main__":
    note("librdkafka %s" % confluent_kafka.libversion()[0])
    serve("confluent-kafka-python", confluent_kafka.__version__, Producer)
