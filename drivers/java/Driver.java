// eoscheck driver for org.apache.kafka:kafka-clients (KafkaProducer).
// Speaks drivers/PROTOCOL.md: JSON-lines commands on stdin, events on stdout.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TransactionAbortedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import static java.nio.charset.StandardCharsets.UTF_8;

public final class Driver {
    /** Sends accepted from stdin and not yet completed (queued ones included). */
    private static final AtomicLong pending = new AtomicLong();

    private static KafkaProducer<byte[], byte[]> producer;
    private static String topic;
    private static ProducerInternals internals;
    /** send() may block (metadata, buffer space), so it runs here, keeping stdin read. */
    private static ExecutorService sendExecutor;
    private static volatile Thread sendThread;
    /**
     * A transaction call answered `retriable` at its timeout_ms while it still ran. A
     * repeat of the same call waits for it, as kafka-clients itself re-awaits a timed-out
     * call; main thread only.
     */
    private static Running running;

    private record Running(String call, Future<RuntimeException> outcome) {}

    public static void main(String[] args) throws Exception {
        Common.quietLogging();
        boolean closed = Common.serve((type, cmd) -> {
            switch (type) {
                case "configure": configure(cmd); return false;
                case "send": send(cmd); return false;
                case "begin", "commit", "abort": txn(type, cmd); return false;
                case "close": close(cmd.path("timeout_ms").asLong(10_000)); return true;
                default: Common.fatal("protocol error: unknown command type: " + Common.abbreviate(type)); return false;
            }
        });
        if (!closed) close(10_000); // end of stdin means close with a 10 s bound
    }

    private static void configure(JsonNode cmd) {
        if (producer != null) {
            Common.fatal("protocol error: configure sent twice");
            return;
        }
        Common.checkProtocol(cmd, "driver", 2, 3);
        Common.checkMaps(cmd, "config", "tuning");
        JsonNode config = cmd.path("config");
        JsonNode tuning = cmd.path("tuning");
        topic = cmd.path("topic").asText();
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cmd.path("bootstrap").asText());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "eoscheck-java-" + cmd.path("producer").asText("0"));
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        // Every name is a ProducerConfig name, passed as text, unchecked (a client.id
        // replaces the driver's): the library's own validation is the finding.
        // eoscheck's tuning uses names every supported release has, so all of it
        // applies; the harness never sends a name in both.
        Common.putAll(p, tuning);
        Common.putAll(p, config);
        try {
            producer = new KafkaProducer<>(p);
        } catch (RuntimeException e) {
            Common.rejectConfig(e);
        }
        if (config.hasNonNull(ProducerConfig.TRANSACTIONAL_ID_CONFIG)) {
            // started means the init returned: this instance owns the transactional.id.
            try {
                producer.initTransactions();
            } catch (RuntimeException e) {
                Common.fatal("cannot initialise transactions: " + Common.describeWithCause(e));
                producer.close(Duration.ZERO);
                Common.flushAndExit();
            }
        }
        internals = ProducerInternals.of(producer);
        sendExecutor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "eoscheck-send");
            t.setDaemon(true);
            sendThread = t;
            return t;
        });
        ObjectNode ev = Common.event("started");
        ev.put("library", "kafka-clients");
        ev.put("version", Common.libraryVersion());
        Common.effectiveConfig(ev, producer, p);
        Common.emit(ev);
        if (internals != null) {
            internals.checkSession(); // known already after a transactional init
            Thread poller = new Thread(Driver::pollInternals, "eoscheck-session");
            poller.setDaemon(true);
            poller.start();
        }
    }

    private static void send(JsonNode cmd) {
        if (producer == null) {
            Common.fatal("protocol error: send before configure");
            return;
        }
        JsonNode id = cmd.get("id"), partition = cmd.path("partition"), key = cmd.path("key"),
                value = cmd.get("value");
        if (id == null || !id.canConvertToLong() || !(absent(partition) || partition.canConvertToInt())
                || !(absent(key) || key.isTextual()) || value == null || !value.isTextual()) {
            Common.fatal("protocol error: bad send command: " + Common.abbreviate(cmd.toString()));
            return;
        }
        Outcome outcome = new Outcome(id.asLong());
        // A null partition is ProducerRecord(topic, key, value): the default partitioner picks.
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic,
                absent(partition) ? null : partition.asInt(),
                absent(key) ? null : key.asText().getBytes(UTF_8),
                value.asText().getBytes(UTF_8));
        pending.incrementAndGet();
        sendExecutor.execute(() -> {
            try {
                producer.send(record, outcome);
            } catch (RuntimeException e) {
                outcome.complete(null, e, true);
            }
        });
    }

    private static boolean absent(JsonNode field) {
        return field.isMissingNode() || field.isNull();
    }

    /** The completion of one send; kafka-clients calls it once, or twice after a fatal error. */
    private static final class Outcome implements Callback {
        private final long id;
        private final AtomicBoolean done = new AtomicBoolean();

        Outcome(long id) {
            this.id = id;
        }

        @Override
        public void onCompletion(RecordMetadata md, Exception e) {
            // Only send()'s own pre-queue failure path calls back on the calling thread;
            // queued records complete on the producer's network thread.
            complete(md, e, Thread.currentThread() == sendThread);
        }

        void complete(RecordMetadata md, Exception e, boolean synchronous) {
            if (!done.compareAndSet(false, true)) return;
            if (internals != null) internals.checkSession(); // session before the ok it covers
            String line;
            if (e == null) {
                long offset = md.hasOffset() ? md.offset() : -1; // acks=0: unknown
                line = "{\"type\":\"ok\",\"id\":" + id + ",\"partition\":" + md.partition()
                        + ",\"offset\":" + offset + "}";
            } else {
                ObjectNode ev = Common.event("fail");
                ev.put("id", id);
                ev.put("error", Common.describe(e));
                ev.put("definite", synchronous ? syncFailureIsDefinite() : neverWritten(e));
                line = ev.toString();
            }
            Common.emitCompletion(line);
            pending.decrementAndGet();
        }
    }

    /**
     * A failure thrown or called back from inside send() happened before the record was
     * queued, except in one case: once the idempotent producer is in an error state,
     * send() queues the record and then throws. Without a readable state, assume the worst.
     */
    private static boolean syncFailureIsDefinite() {
        if (internals == null) return !ProducerInternals.hasTransactionManager(producer);
        return !internals.hasError();
    }

    /** Broker-side validation that fails the same way on every attempt, so no attempt was written. */
    private static boolean neverWritten(Exception e) {
        return e instanceof RecordTooLargeException
                || e instanceof RecordBatchTooLargeException
                || e instanceof InvalidRecordException
                // abortTransaction() fails the batches it never drained with this, and only those
                || e instanceof TransactionAbortedException;
    }

    /**
     * begin, commit or abort. The call runs on the send thread, after every send that came
     * before it (a commit flushes them: their outcomes are printed before its answer), and
     * is answered with one txn event within timeout_ms.
     */
    private static void txn(String call, JsonNode cmd) {
        if (producer == null) {
            Common.fatal("protocol error: " + call + " before configure");
            return;
        }
        long timeoutMs = cmd.path("timeout_ms").asLong(10_000);
        Future<RuntimeException> outcome;
        if (running != null && running.call().equals(call) && !timedOutInLibrary(running.outcome())) {
            outcome = running.outcome(); // still running, or done since its retriable answer
        } else {
            if (running != null) {
                System.err.println("eoscheck: " + running.call() + " answered retriable is not repeated; "
                        + call + " comes instead");
            }
            outcome = sendExecutor.submit(() -> {
                try {
                    switch (call) {
                        case "begin" -> producer.beginTransaction();
                        case "commit" -> producer.commitTransaction();
                        default -> producer.abortTransaction();
                    }
                    return null;
                } catch (RuntimeException e) {
                    return e;
                }
            });
        }
        running = null;
        RuntimeException error;
        try {
            error = outcome.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            running = new Running(call, outcome);
            answer(call, "retriable", "eoscheck: " + call + " did not return within " + timeoutMs + " ms");
            return;
        } catch (ExecutionException e) {
            answer(call, "fatal", Common.describe(e.getCause())); // an Error inside the library
            return;
        } catch (InterruptedException e) {
            answer(call, "fatal", Common.describe(e));
            return;
        }
        if (internals != null) internals.checkSession(); // a 4.x client's epoch moves with each end
        if (error == null) {
            answer(call, "ok", null);
        } else {
            answer(call, txnResult(error), Common.describeWithCause(error));
        }
    }

    /** A call that ended in kafka-clients' own max.block.ms timeout: a repeat calls again. */
    private static boolean timedOutInLibrary(Future<RuntimeException> outcome) {
        if (!outcome.isDone()) return false;
        try {
            return outcome.get() instanceof org.apache.kafka.common.errors.TimeoutException;
        } catch (InterruptedException | ExecutionException e) {
            return false;
        }
    }

    /**
     * What a failed transaction call leaves the application, from the TransactionManager's
     * state: fatal (fenced when the library's error is the fencing), abortable when the
     * library says the transaction must be aborted, retriable when the call timed out (a
     * repeat re-awaits the same result), and fatal for anything else, such as a call the
     * state does not allow (IllegalStateException).
     */
    private static String txnResult(RuntimeException e) {
        boolean fenced = Common.isFencing(e);
        if (internals != null && internals.hasFatalError()) {
            return fenced || Common.isFencing(internals.lastError()) ? "fenced" : "fatal";
        }
        // Before abortable: on a produce, InvalidProducerEpochException is abortable (KIP-588).
        if (internals != null && internals.hasAbortableError()) return "abortable";
        if (fenced) return "fenced";
        if (e instanceof org.apache.kafka.common.errors.TimeoutException || e instanceof InterruptException) {
            return "retriable";
        }
        return "fatal";
    }

    private static void answer(String call, String result, String error) {
        ObjectNode ev = Common.event("txn");
        ev.put("call", call);
        ev.put("result", result);
        if (error != null) ev.put("error", error);
        Common.emit(ev);
    }

    private static void pollInternals() {
        boolean fatalSent = false;
        while (true) {
            try {
                Thread.sleep(500);
                internals.checkSession();
                if (!fatalSent && internals.hasFatalError()) {
                    fatalSent = true;
                    RuntimeException last = internals.lastError();
                    Common.fatal(last == null ? "producer is in a fatal error state" : Common.describe(last));
                }
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static void close(long timeoutMs) throws InterruptedException {
        if (producer != null) {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            while (pending.get() > 0 && System.nanoTime() < deadline) Thread.sleep(5);
            Common.mute();
            long left = Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            // Open sends get aborted by a forced close; bound it in case it hangs.
            Duration closeWait = Duration.ofMillis(pending.get() > 0 ? 0 : left);
            Thread closer = new Thread(() -> producer.close(closeWait), "eoscheck-close");
            closer.setDaemon(true);
            closer.start();
            closer.join(left + 1000);
        }
        Common.closedAndExit();
    }
}
