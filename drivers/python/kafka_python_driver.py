"""eoscheck driver for kafka-python."""

import time

import kafka
from kafka import KafkaProducer
from kafka.errors import KafkaConfigurationError, KafkaError

from eosdriver import (START_TIMEOUT_S, DidNotReturn, LibraryError, as_text, error_name,
                       keyword_arguments, note, parse_like, read_acks, read_compression,
                       rejected, Rejected, serve, within)

# "Another instance has this transactional.id" (kafka-python turns the
# coordinator's INVALID_PRODUCER_EPOCH into ProducerFencedError).
FENCED = tuple(getattr(kafka.errors, name) for name in ("ProducerFencedError", "InvalidProducerEpochError")
               if hasattr(kafka.errors, name))

def socket_buffer(name, text):
    """Java's -1 (the system default) is kafka-python's None."""
    return None if text == "-1" else parse_like(0)(name, text)


PARSERS = {"acks": read_acks, "compression_type": read_compression,
           "receive_buffer_bytes": socket_buffer, "send_buffer_bytes": socket_buffer}


def options(config):
    """The KafkaProducer keyword arguments for `config`."""
    config = dict(config)
    kwargs = {}
    if "transactional.id" in config and not hasattr(KafkaProducer, "init_transactions"):
        raise rejected("transactional.id", "kafka-python %s has no transactional producer"
                       % kafka.__version__)
    if "buffer.memory" in config:
        # The buffer pool's limit in 2.0; 2.2 ignores buffer_memory, 3.x refuses it.
        text = config.pop("buffer.memory")
        if "buffer_memory" not in KafkaProducer.DEFAULT_CONFIG:
            raise rejected("buffer.memory", "kafka-python %s has no producer buffer"
                           " limit" % kafka.__version__)
        kwargs["buffer_memory"] = parse_like(0)("buffer.memory", text)
    kwargs.update(keyword_arguments("kafka-python", kafka.__version__, config,
                                    KafkaProducer.DEFAULT_CONFIG, {}, PARSERS))
    return kwargs


class Producer:
    config_source = "library"  # KafkaProducer.config: its effective settings

    def __init__(self, configure, events):
        self._topic = configure.topic
        self._events = events
        kwargs = {"client_id": configure.client_id}
        kwargs.update(options(configure.with_tuning(options)))
        kwargs["bootstrap_servers"] = configure.bootstrap.split(",")
        try:
            self._p = KafkaProducer(**kwargs)
        except (KafkaConfigurationError, ValueError, TypeError, AssertionError, RuntimeError) as e:
            raise Rejected(error_name(e))
        self.config = {name: as_text(value) for name, value in self._p.config.items()}
        self._tm = getattr(self._p, "_transaction_manager", None)
        self._fatal = False
        if self._p.config.get("transactional_id"):
            # init_transactions waits up to max_block_ms; the driver bounds it too.
            try:
                within(self._p.init_transactions, time.monotonic() + START_TIMEOUT_S)
            except DidNotReturn:
                raise LibraryError("eoscheck: init_transactions did not return within %d s"
                                   % START_TIMEOUT_S) from None
            self._check_session()

    def _check_session(self):
        # The producer id lives in the (private) transaction manager; it is
        # read at each completion, which is when it can matter to the history.
        pe = self._tm.producer_id_and_epoch
        self._events.session(pe.producer_id, pe.epoch)

    def send(self, id, value, key, partition):
        try:
            future = self._p.send(self._topic, value=value, key=key, partition=partition)
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

    def transact(self, call, deadline):
        # kafka-python's commit and abort wait with no bound: the driver's.
        try:
            within(getattr(self._p, call + "_transaction"), deadline)
        finally:
            if self._tm is not None:
                self._check_session()

    def txn_error(self, exc):
        tm = self._tm
        if tm is not None and tm.has_abortable_error():
            result = "abortable"
        elif isinstance(exc, FENCED) or (tm is not None and tm.has_fatal_error()
                                         and isinstance(tm.last_error, FENCED)):
            result = "fenced"
        else:  # the fatal state, or a call the library refuses in this state
            result = "fatal"
        return result, error_name(exc)

    def flush(self, deadline):
        try:
            self._p.flush(timeout=max(0.0, deadline - time.monotonic()))
        except KafkaError as e:
            note("flush: " + error_name(e))

    def close(self, deadline):
        self._p.close(timeout=max(0.0, deadline - time.monotonic()))


if __name__ == "__main__":
    serve("kafka-python", kafka.__version__, Producer)
