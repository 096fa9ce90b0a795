"""eoscheck driver for confluent-kafka-python (librdkafka underneath)."""

import json
import threading
import time

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from eosdriver import Rejected, note, serve

STATS_INTERVAL_MS = 500  # how soon a new producer id/epoch is noticed


def kafka_error(err):
    return "%s: %s" % (err.name(), err.str())


class Producer:
    def __init__(self, bootstrap, topic, s, events):
        self._topic = topic
        self._events = events
        conf = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": bool(s.idempotence),
            "acks": s.acks,
            "retries": s.retries,
            "max.in.flight.requests.per.connection": s.max_in_flight,
            "request.timeout.ms": s.request_timeout_ms,
            "delivery.timeout.ms": s.delivery_timeout_ms,
            "linger.ms": s.linger_ms,
            "statistics.interval.ms": STATS_INTERVAL_MS,
            "stats_cb": self._stats,
            "error_cb": self._error,
        }
        try:
            self._p = confluent_kafka.Producer(conf)
        except KafkaException as e:
            raise Rejected(kafka_error(e.args[0]))
        except (ValueError, TypeError) as e:
            raise Rejected("%s: %s" % (type(e).__name__, e))
        # Callbacks (delivery, stats, error) only fire from poll()/flush().
        self._polling = True
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self):
        while self._polling:
            self._p.poll(0.1)

    def send(self, id, partition, value):
        events = self._events

        def done(err, msg):
            if err is None:
                events.ok(id, msg.partition(), msg.offset())
            else:
                # The binding hides rd_kafka_message_status, so only a purge from
                # the local queue is known never to have been sent.
                events.fail(id, kafka_error(err), err.code() == KafkaError._PURGE_QUEUE)

        while True:
            try:
                self._p.produce(self._topic, value, partition=partition, on_delivery=done)
                return
            except BufferError:
                time.sleep(0.005)  # local queue full: the poll thread drains it
            except KafkaException as e:
                events.fail(id, kafka_error(e.args[0]), True)  # refused before queueing
                return

    def _stats(self, raw):
        eos = json.loads(raw).get("eos")
        if eos:
            self._events.session(eos.get("producer_id", -1), eos.get("producer_epoch", -1))

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
