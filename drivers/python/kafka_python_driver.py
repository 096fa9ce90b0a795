"""eoscheck driver for kafka-python."""

import time

import kafka
from kafka import KafkaProducer
from kafka.errors import KafkaConfigurationError, KafkaError

from eosdriver import Rejected, error_name, note, serve

# Both arrived in 2.2.0; before it the producer refuses them as unknown configs.
HAS_IDEMPOTENCE = "enable_idempotence" in KafkaProducer.DEFAULT_CONFIG
HAS_DELIVERY_TIMEOUT = "delivery_timeout_ms" in KafkaProducer.DEFAULT_CONFIG

ACKS = {"all": "all", "1": 1, "0": 0}


class Producer:
    def __init__(self, bootstrap, topic, s, events):
        self._topic = topic
        self._events = events
        conf = dict(
            bootstrap_servers=bootstrap.split(","),
            acks=ACKS.get(s.acks, s.acks),
            retries=s.retries,
            max_in_flight_requests_per_connection=s.max_in_flight,
            request_timeout_ms=s.request_timeout_ms,
            linger_ms=s.linger_ms,
        )
        if HAS_IDEMPOTENCE:
            conf["enable_idempotence"] = bool(s.idempotence)
        elif s.idempotence:
            raise Rejected("idempotence: kafka-python %s has no idempotent producer"
                           " (enable_idempotence arrived in 2.2.0)" % kafka.__version__)
        if HAS_DELIVERY_TIMEOUT:
            conf["delivery_timeout_ms"] = s.delivery_timeout_ms
        else:
            note("delivery_timeout_ms: no such setting in kafka-python %s; a batch"
                 " expires request_timeout_ms after it is ready or last tried"
                 % kafka.__version__)
        try:
            self._p = KafkaProducer(**conf)
        except (KafkaConfigurationError, ValueError, TypeError, AssertionError) as e:
            raise Rejected(error_name(e))
        self._tm = getattr(self._p, "_transaction_manager", None)
        self._fatal = False

    def _check_session(self):
        # The producer id lives in the (private) transaction manager; it is
        # read at each completion, which is when it can matter to the history.
        pe = self._tm.producer_id_and_epoch
        self._events.session(pe.producer_id, pe.epoch)

    def send(self, id, partition, value):
        try:
            future = self._p.send(self._topic, value=value, partition=partition)
        except Exception as e:  # raised before the record was queued
            self._events.fail(id, error_name(e), True)
            return
        future.add_callback(self._ok, id)
        future.add_errback(self._fail, id)

    def _ok(self, id, md):
        if self._tm is not None:
            self._check_session()
        self._events.ok(id, md.partition, md.offset)

    def _fail(self, id, exc):
        if self._tm is not None:
            self._check_session()
            if self._tm.has_fatal_error() and not self._fatal:
                self._fatal = True
                self._events.fatal(error_name(self._tm.last_error))
        # kafka-python does not say whether a failed batch was ever sent, so no
        # failure after send() returned is definite.
        self._events.fail(id, error_name(exc), False)

    def flush(self, deadline):
        try:
            self._p.flush(timeout=max(0.0, deadline - time.monotonic()))
        except KafkaError as e:
            note("flush: " + error_name(e))

    def close(self, deadline):
        self._p.close(timeout=max(0.0, deadline - time.monotonic()))


if __name__ == "__main__":
    serve("kafka-python", kafka.__version__, Producer)
