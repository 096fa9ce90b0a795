// The parts every eoscheck Java main class shares (Driver: a producer;
// Processor: a consume-transform-produce loop; the kafka-streams driver): JSON
// lines in and out, the configure checks, config reporting, error naming.

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
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.stream.Collectors.joining;

final class Common {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final OutputStream OUT =
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16);
    /** Set at a close deadline, under the OUT lock: completions after it get no event. */
    private static boolean muted;
    private static boolean closedSent;

    private Common() {}

    /** One command from stdin; the loop ends at close (true) or end of stdin. */
    interface Commands {
        /** Handles one command; true when it was the last (close). */
        boolean handle(String type, JsonNode cmd) throws Exception;
    }

    /**
     * Before any logger exists: kafka's logging goes to stderr at WARN, and nothing but
     * protocol lines may ever reach stdout.
     */
    static void quietLogging() {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.setOut(System.err);
    }

    /**
     * Reads stdin a JSON object a line and hands each to `commands`; a line that is not
     * one is answered with fatal. Returns false at end of stdin (the caller closes with
     * a 10 s bound), true after the command that ended the loop.
     */
    static boolean serve(Commands commands) throws Exception {
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
            if (commands.handle(cmd.path("type").asText(), cmd)) return true;
        }
        return false;
    }

    /** A processor's two commands. */
    interface ProcessorCommands {
        void configure(JsonNode cmd) throws Exception;

        void close(long timeoutMs) throws Exception;
    }

    /** A processor's stdin: configure, then close (end of stdin: close with a 10 s bound). */
    static void serveProcessor(ProcessorCommands p) throws Exception {
        boolean closed = serve((type, cmd) -> {
            switch (type) {
                case "configure": p.configure(cmd); return false;
                case "close": p.close(cmd.path("timeout_ms").asLong(10_000)); return true;
                default: fatal("protocol error: unknown command type: " + abbreviate(type)); return false;
            }
        });
        if (!closed) p.close(10_000);
    }

    /** A processor's configure (PROTOCOL.md, Processors), checked. */
    record ProcessorSetup(String bootstrap, int slot, String input, String output, String group,
            boolean exactlyOnce, String transactionalId, JsonNode config, JsonNode consumer, JsonNode tuning) {}

    /**
     * The fields of a processor's configure; a protocol error is fatal and exits, a name
     * the loaded release does not have is config-rejected (kafka-clients only logs a
     * warning for it, and a pipeline silently run without a setting tests something else).
     */
    static ProcessorSetup processorSetup(JsonNode cmd) {
        checkProtocol(cmd, "processor", 3);
        if (!"processor".equals(cmd.path("role").asText())) {
            JsonNode role = cmd.path("role");
            fatal("protocol error: this is a processor; configure's role is "
                    + (role.isMissingNode() ? "absent (a producer's configure?)" : role.toString()));
            flushAndExit();
        }
        checkMaps(cmd, "config", "consumer", "tuning");
        String guarantee = cmd.path("guarantee").asText();
        if (!guarantee.equals("exactly-once") && !guarantee.equals("at-least-once")) {
            fatal("protocol error: guarantee must be exactly-once or at-least-once, not " + cmd.path("guarantee"));
            flushAndExit();
        }
        JsonNode config = cmd.path("config"), consumer = cmd.path("consumer"), tuning = cmd.path("tuning");
        String unknown = unknownName(config, ProducerConfig.configNames());
        if (unknown == null) unknown = unknownName(tuning, ProducerConfig.configNames());
        if (unknown != null) {
            rejectConfig("`" + unknown + "`: not a kafka-clients " + libraryVersion() + " producer setting");
        }
        unknown = unknownName(consumer, ConsumerConfig.configNames());
        if (unknown != null) {
            rejectConfig("`" + unknown + "`: not a kafka-clients " + libraryVersion() + " consumer setting");
        }
        JsonNode txnId = cmd.path("transactional_id");
        return new ProcessorSetup(cmd.path("bootstrap").asText(), cmd.path("processor").asInt(),
                cmd.path("input").asText(), cmd.path("output").asText(), cmd.path("group").asText(),
                guarantee.equals("exactly-once"), txnId.isTextual() ? txnId.asText() : null,
                config, consumer, tuning);
    }

    /** An output record's value: `eosp1:<partition>:<offset>:<processor>:<n>:` and the input's. */
    static byte[] outputValue(int partition, long offset, int slot, long n, byte[] input) {
        byte[] head = ("eosp1:" + partition + ":" + offset + ":" + slot + ":" + n + ":").getBytes(UTF_8);
        byte[] in = input == null ? new byte[0] : input;
        byte[] value = new byte[head.length + in.length];
        System.arraycopy(head, 0, value, 0, head.length);
        System.arraycopy(in, 0, value, head.length, in.length);
        return value;
    }

    /** assigned, revoked or lost: the partitions of `topic` among `partitions`, sorted. */
    static ObjectNode partitionsEvent(String type, Collection<TopicPartition> partitions, String topic) {
        List<Integer> mine = new ArrayList<>();
        for (TopicPartition tp : partitions) {
            if (tp.topic().equals(topic)) mine.add(tp.partition());
        }
        mine.sort(null);
        ObjectNode ev = event(type);
        mine.forEach(ev.putArray("partitions")::add);
        return ev;
    }

    /** txn or commit: how transaction (offset commit) n ended, with its next offsets. */
    static ObjectNode endingEvent(String type, long n, String result,
            Map<TopicPartition, OffsetAndMetadata> offsets, String error) {
        ObjectNode ev = event(type);
        ev.put("n", n);
        ev.put("result", result);
        ObjectNode o = ev.putObject("offsets");
        offsets.forEach((tp, om) -> o.put(Integer.toString(tp.partition()), om.offset()));
        if (error != null) ev.put("error", error);
        return ev;
    }

    static ObjectNode seekEvent(int partition, long offset) {
        ObjectNode ev = event("seek");
        ev.put("partition", partition);
        ev.put("offset", offset);
        return ev;
    }

    /** The protocol version is one of `accepted`, else fatal and exit. */
    static void checkProtocol(JsonNode cmd, String what, int... accepted) {
        int protocol = cmd.path("protocol").asInt();
        for (int a : accepted) {
            if (a == protocol) return;
        }
        fatal("protocol error: this " + what + " speaks protocol" + (accepted.length > 1 ? "s " : " ")
                + java.util.Arrays.stream(accepted).mapToObj(Integer::toString).collect(joining(" and "))
                + ", not " + cmd.get("protocol"));
        flushAndExit();
    }

    /** Each of `fields` of `cmd` is absent or an object of settings, else fatal and exit. */
    static void checkMaps(JsonNode cmd, String... fields) {
        for (String field : fields) {
            JsonNode map = cmd.path(field);
            if (!map.isMissingNode() && !map.isNull() && !map.isObject()) {
                fatal("protocol error: " + String.join(", ", fields) + " must be objects: "
                        + abbreviate(map.toString()));
                flushAndExit();
            }
        }
    }

    /** Every entry of the settings object `map` into `p`, as text. */
    static void putAll(Properties p, JsonNode map) {
        map.fields().forEachRemaining(e -> p.put(e.getKey(), e.getValue().asText()));
    }

    /** The first name of `map` that `known` lacks, or null. */
    static String unknownName(JsonNode map, Set<String> known) {
        var names = map.fieldNames();
        while (names.hasNext()) {
            String name = names.next();
            if (!known.contains(name)) return name;
        }
        return null;
    }

    /** A producer constructor's failure: the real refusal (a ConfigException) is its cause. */
    static void rejectConfig(RuntimeException e) {
        Throwable cause = e.getCause() != null ? e.getCause() : e;
        rejectConfig(describe(cause));
    }

    /** Answers config-rejected and exits. */
    static void rejectConfig(String reason) {
        ObjectNode ev = event("config-rejected");
        ev.put("reason", reason);
        emit(ev);
        flushAndExit();
    }

    /**
     * The producer's ProducerConfig after the library's own post-processing (private
     * field KafkaProducer.producerConfig) into ev's `config`; failing that, the
     * properties the driver gave.
     */
    static void effectiveConfig(ObjectNode ev, KafkaProducer<?, ?> producer, Properties given) {
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
    static String configText(Object value) {
        if (value instanceof Class) return ((Class<?>) value).getName();
        if (value instanceof List) {
            return ((List<?>) value).stream().map(Common::configText).collect(joining(","));
        }
        return value.toString();
    }

    /** The library's fencing (ProducerFenced, INVALID_PRODUCER_EPOCH) anywhere in the causes. */
    static boolean isFencing(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) return true;
        }
        return false;
    }

    /** The kafka-clients version actually loaded, from the jar's own version file. */
    static String libraryVersion() {
        try (InputStream in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            Properties p = new Properties();
            if (in != null) p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    static String describe(Throwable e) {
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    /** describe(e), and its cause where kafka-clients wraps the real error in a KafkaException. */
    static String describeWithCause(Throwable e) {
        Throwable cause = e.getCause();
        return cause == null || cause == e ? describe(e) : describe(e) + " (caused by " + describe(cause) + ")";
    }

    static String abbreviate(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    static ObjectNode event(String type) {
        return JSON.createObjectNode().put("type", type);
    }

    static void fatal(String error) {
        emit(event("fatal").put("error", error));
    }

    static void emit(ObjectNode ev) {
        writeLine(ev.toString(), false);
    }

    /** Completions and session changes, silenced once close has given up on what is open. */
    static void emitCompletion(String line) {
        writeLine(line, true);
    }

    static void emitCompletion(ObjectNode ev) {
        emitCompletion(ev.toString());
    }

    /** The last line, once, whichever thread gets here first; then exit. */
    static synchronized void closedAndExit() {
        if (!closedSent) {
            closedSent = true;
            emit(event("closed"));
        }
        flushAndExit();
    }

    /** From now on emitCompletion prints nothing. */
    static void mute() {
        synchronized (OUT) {
            muted = true;
        }
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

    static void flushAndExit() {
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
