// eoscheck driver for org.apache.kafka:kafka-clients (KafkaProducer).
// Speaks drivers/PROTOCOL.md: JSON-lines commands on stdin, events on stdout.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.reflect.AccessibleObject;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
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
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TransactionAbortedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.stream.Collectors.joining;

public final class Driver {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final OutputStream OUT =
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16);
    /** Sends accepted from stdin and not yet completed (queued ones included). */
    private static final AtomicLong pending = new AtomicLong();
    /** Set at the close deadline, under the OUT lock: sends still open then get no event. */
    private static boolean muted;

    private static KafkaProducer<byte[], byte[]> producer;
    private static String topic;
    private static Internals internals;
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
        // Before any logger exists: kafka's logging goes to stderr at WARN, and
        // nothing but protocol lines may ever reach stdout.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.setOut(System.err);

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) continue;
            JsonNode cmd;
            try {
                cmd = JSON.readTree(line);
            } catch (IOException e) {
                cmd = null;
            }
            if (cmd == null || !cmd.isObject()) {
                fatal("protocol error: not a JSON object: " + abbreviate(line));
                continue;
            }
            String type = cmd.path("type").asText();
            switch (type) {
                case "configure": configure(cmd); break;
                case "send": send(cmd); break;
                case "begin", "commit", "abort": txn(type, cmd); break;
                case "close": close(cmd.path("timeout_ms").asLong(10_000)); return;
                default: fatal("protocol error: unknown command type: " + abbreviate(type));
            }
        }
        close(10_000); // end of stdin means close with a 10 s bound
    }

    private static void configure(JsonNode cmd) {
        if (producer != null) {
            fatal("protocol error: configure sent twice");
            return;
        }
        int protocol = cmd.path("protocol").asInt();
        if (protocol != 2 && protocol != 3) {
            fatal("protocol error: this driver speaks protocols 2 and 3, not " + cmd.get("protocol"));
            flushAndExit();
        }
        JsonNode config = cmd.path("config");
        JsonNode tuning = cmd.path("tuning");
        for (JsonNode map : new JsonNode[] {config, tuning}) {
            if (!map.isMissingNode() && !map.isObject()) {
                fatal("protocol error: config and tuning must be objects: " + abbreviate(map.toString()));
                flushAndExit();
            }
        }
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
        tuning.fields().forEachRemaining(e -> p.put(e.getKey(), e.getValue().asText()));
        config.fields().forEachRemaining(e -> p.put(e.getKey(), e.getValue().asText()));
        try {
            producer = new KafkaProducer<>(p);
        } catch (RuntimeException e) {
            // The constructor wraps the real refusal (a ConfigException) in a KafkaException.
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            ObjectNode ev = event("config-rejected");
            ev.put("reason", describe(cause));
            emit(ev);
            flushAndExit();
        }
        if (config.hasNonNull(ProducerConfig.TRANSACTIONAL_ID_CONFIG)) {
            // started means the init returned: this instance owns the transactional.id.
            try {
                producer.initTransactions();
            } catch (RuntimeException e) {
                fatal("cannot initialise transactions: " + describeWithCause(e));
                producer.close(Duration.ZERO);
                flushAndExit();
            }
        }
        internals = Internals.of(producer);
        sendExecutor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "eoscheck-send");
            t.setDaemon(true);
            sendThread = t;
            return t;
        });
        ObjectNode ev = event("started");
        ev.put("library", "kafka-clients");
        ev.put("version", libraryVersion());
        effectiveConfig(ev, p);
        emit(ev);
        if (internals != null) {
            internals.checkSession(); // known already after a transactional init
            Thread poller = new Thread(Driver::pollInternals, "eoscheck-session");
            poller.setDaemon(true);
            poller.start();
        }
    }

    /**
     * The producer's ProducerConfig after the library's own post-processing (private
     * field KafkaProducer.producerConfig); failing that, the properties the driver gave.
     */
    private static void effectiveConfig(ObjectNode ev, Properties given) {
        Map<?, ?> values;
        String source = "library";
        try {
            Field f = KafkaProducer.class.getDeclaredField("producerConfig");
            f.setAccessible(true);
            values = ((AbstractConfig) f.get(producer)).values();
        } catch (ReflectiveOperationException | RuntimeException e) {
            System.err.println("eoscheck: producer config unreadable, reporting the driver's: " + e);
            values = given;
            source = "driver";
        }
        ObjectNode config = ev.putObject("config");
        new TreeMap<Object, Object>(values).forEach((name, value) -> {
            if (value != null) config.put(name.toString(), configText(value));
        });
        ev.put("config_source", source);
    }

    /** A config value as Kafka's own docs spell it; a Password prints as [hidden]. */
    private static String configText(Object value) {
        if (value instanceof Class) return ((Class<?>) value).getName();
        if (value instanceof List) {
            return ((List<?>) value).stream().map(Driver::configText).collect(joining(","));
        }
        return value.toString();
    }

    private static void send(JsonNode cmd) {
        if (producer == null) {
            fatal("protocol error: send before configure");
            return;
        }
        JsonNode id = cmd.get("id"), partition = cmd.path("partition"), key = cmd.path("key"),
                value = cmd.get("value");
        if (id == null || !id.canConvertToLong() || !(absent(partition) || partition.canConvertToInt())
                || !(absent(key) || key.isTextual()) || value == null || !value.isTextual()) {
            fatal("protocol error: bad send command: " + abbreviate(cmd.toString()));
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
                ObjectNode ev = event("fail");
                ev.put("id", id);
                ev.put("error", describe(e));
                ev.put("definite", synchronous ? syncFailureIsDefinite() : neverWritten(e));
                line = ev.toString();
            }
            emitCompletion(line);
            pending.decrementAndGet();
        }
    }

    /**
     * A failure thrown or called back from inside send() happened before the record was
     * queued, except in one case: once the idempotent producer is in an error state,
     * send() queues the record and then throws. Without a readable state, assume the worst.
     */
    private static boolean syncFailureIsDefinite() {
        if (internals == null) return !Internals.hasTransactionManager(producer);
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
            fatal("protocol error: " + call + " before configure");
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
            answer(call, "fatal", describe(e.getCause())); // an Error inside the library
            return;
        } catch (InterruptedException e) {
            answer(call, "fatal", describe(e));
            return;
        }
        if (internals != null) internals.checkSession(); // a 4.x client's epoch moves with each end
        if (error == null) {
            answer(call, "ok", null);
        } else {
            answer(call, txnResult(error), describeWithCause(error));
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
        boolean fenced = isFencing(e);
        if (internals != null && internals.hasFatalError()) {
            return fenced || isFencing(internals.lastError()) ? "fenced" : "fatal";
        }
        // Before abortable: on a produce, InvalidProducerEpochException is abortable (KIP-588).
        if (internals != null && internals.hasAbortableError()) return "abortable";
        if (fenced) return "fenced";
        if (e instanceof org.apache.kafka.common.errors.TimeoutException || e instanceof InterruptException) {
            return "retriable";
        }
        return "fatal";
    }

    private static boolean isFencing(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) return true;
        }
        return false;
    }

    private static void answer(String call, String result, String error) {
        ObjectNode ev = event("txn");
        ev.put("call", call);
        ev.put("result", result);
        if (error != null) ev.put("error", error);
        emit(ev);
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
                    fatal(last == null ? "producer is in a fatal error state" : describe(last));
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
            synchronized (OUT) {
                muted = true;
            }
            long left = Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            // Open sends get aborted by a forced close; bound it in case it hangs.
            Duration closeWait = Duration.ofMillis(pending.get() > 0 ? 0 : left);
            Thread closer = new Thread(() -> producer.close(closeWait), "eoscheck-close");
            closer.setDaemon(true);
            closer.start();
            closer.join(left + 1000);
        }
        emit(event("closed"));
        flushAndExit();
    }

    /**
     * The producer id and epoch live in the producer's TransactionManager, which has no
     * public getter; read them by reflection. Any failure just means no session events.
     */
    private static final class Internals {
        private final Object tm;
        private final Field pidAndEpoch;
        private final Method hasError, hasFatalError, hasAbortableError, lastError;
        private Field pidField, epochField; // of ProducerIdAndEpoch, whose package varies by version
        private long lastPid = -1;
        private short lastEpoch = -1;
        private boolean broken;

        private Internals(Object tm) throws ReflectiveOperationException {
            this.tm = tm;
            Class<?> c = tm.getClass();
            pidAndEpoch = c.getDeclaredField("producerIdAndEpoch");
            hasError = c.getDeclaredMethod("hasError");
            hasFatalError = c.getDeclaredMethod("hasFatalError");
            hasAbortableError = c.getDeclaredMethod("hasAbortableError");
            lastError = c.getDeclaredMethod("lastError");
            AccessibleObject.setAccessible(
                    new AccessibleObject[] {pidAndEpoch, hasError, hasFatalError, hasAbortableError, lastError},
                    true);
        }

        private static Object transactionManager(KafkaProducer<?, ?> p) throws ReflectiveOperationException {
            Field f = KafkaProducer.class.getDeclaredField("transactionManager");
            f.setAccessible(true);
            return f.get(p);
        }

        /** True when unknown: a caller must not call a failure definite on a guess. */
        static boolean hasTransactionManager(KafkaProducer<?, ?> p) {
            try {
                return transactionManager(p) != null;
            } catch (ReflectiveOperationException | RuntimeException e) {
                return true;
            }
        }

        /** Null when the producer has no TransactionManager (idempotence off) or it cannot be read. */
        static Internals of(KafkaProducer<?, ?> p) {
            try {
                Object tm = transactionManager(p);
                return tm == null ? null : new Internals(tm);
            } catch (ReflectiveOperationException | RuntimeException e) {
                System.err.println("eoscheck: producer internals unreadable, no session events: " + e);
                return null;
            }
        }

        synchronized void checkSession() {
            if (broken) return;
            try {
                Object pe = pidAndEpoch.get(tm);
                if (pe == null) return;
                if (pidField == null) {
                    pidField = pe.getClass().getField("producerId");
                    epochField = pe.getClass().getField("epoch");
                }
                long pid = pidField.getLong(pe);
                short epoch = epochField.getShort(pe);
                if (pid < 0 || (pid == lastPid && epoch == lastEpoch)) return;
                lastPid = pid;
                lastEpoch = epoch;
                ObjectNode ev = event("session");
                ev.put("pid", pid);
                ev.put("epoch", epoch);
                emitCompletion(ev.toString());
            } catch (ReflectiveOperationException | RuntimeException e) {
                broken = true;
                System.err.println("eoscheck: cannot read producer id and epoch, no session events: " + e);
            }
        }

        boolean hasError() {
            return callBoolean(hasError, true);
        }

        boolean hasFatalError() {
            return callBoolean(hasFatalError, false);
        }

        boolean hasAbortableError() {
            return callBoolean(hasAbortableError, false);
        }

        RuntimeException lastError() {
            try {
                return (RuntimeException) lastError.invoke(tm);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null;
            }
        }

        private boolean callBoolean(Method m, boolean onFailure) {
            try {
                return (Boolean) m.invoke(tm);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return onFailure;
            }
        }
    }

    /** The kafka-clients version actually loaded, from the jar's own version file. */
    private static String libraryVersion() {
        try (InputStream in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            Properties p = new Properties();
            if (in != null) p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static String describe(Throwable e) {
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    /** describe(e), and its cause where kafka-clients wraps the real error in a KafkaException. */
    private static String describeWithCause(Throwable e) {
        Throwable cause = e.getCause();
        return cause == null || cause == e ? describe(e) : describe(e) + " (caused by " + describe(cause) + ")";
    }

    private static String abbreviate(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    private static ObjectNode event(String type) {
        return JSON.createObjectNode().put("type", type);
    }

    private static void fatal(String error) {
        emit(event("fatal").put("error", error));
    }

    private static void emit(ObjectNode ev) {
        writeLine(ev.toString(), false);
    }

    /** Send outcomes and session changes, silenced once close has given up on open sends. */
    private static void emitCompletion(String line) {
        writeLine(line, true);
    }

    private static void writeLine(String line, boolean mutable) {
        byte[] bytes = (line + "\n").getBytes(UTF_8);
        synchronized (OUT) {
            if (mutable && muted) return;
            try {
                OUT.write(bytes);
                OUT.flush();
            } catch (IOException e) {
                // The harness is gone; nobody is left to report to.
                Runtime.getRuntime().halt(1);
            }
        }
    }

    private static void flushAndExit() {
        synchronized (OUT) {
            try {
                OUT.flush();
            } catch (IOException ignored) {
                // exiting anyway
            }
        }
        System.exit(0);
    }
}
