// eoscheck processor for org.apache.kafka:kafka-streams: the pipeline workload as
// a Streams topology (input -> tag -> output, Processor API), with
// processing.guarantee exactly_once_v2 or at_least_once.
// Speaks drivers/PROTOCOL.md (Processors). Streams owns its consumer and producer;
// the driver sees them through a client supplier whose proxies report the
// rebalances, seeks, transactions and offset commits the library makes.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.StreamPartitioner;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.processor.internals.DefaultKafkaClientSupplier;

import static java.nio.charset.StandardCharsets.UTF_8;

public final class StreamsProcessor {
    private static KafkaStreams streams;
    private static int slot;
    private static String input;
    private static volatile boolean closing;

    /**
     * The transaction (at least once: the offset commit) the records processed now go
     * into, from 1; it moves on when one ends. One stream thread, so one at a time.
     */
    private static long n = 1;
    /**
     * Records processed since the last commit, as runs of consecutive offsets in the
     * order processed: [partition, first, last]. What read_committed skips (aborted
     * records, markers) starts a new run.
     */
    private static final List<long[]> runs = new ArrayList<>();
    /** The offsets sent to the open transaction (exactly once). */
    private static Map<TopicPartition, OffsetAndMetadata> pendingOffsets = Map.of();
    /** Whether the open transaction's end has been reported already (a failed commit). */
    private static boolean ended;

    public static void main(String[] args) throws Exception {
        Common.quietLogging();
        Common.serveProcessor(new Common.ProcessorCommands() {
            @Override
            public void configure(JsonNode cmd) throws java.io.IOException {
                StreamsProcessor.configure(cmd);
            }

            @Override
            public void close(long timeoutMs) {
                shutDown(timeoutMs);
            }
        });
    }

    private static void configure(JsonNode cmd) throws java.io.IOException {
        if (streams != null) {
            Common.fatal("protocol error: configure sent twice");
            return;
        }
        Common.ProcessorSetup setup = Common.processorSetup(cmd);
        slot = setup.slot();
        input = setup.input();

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, setup.group());
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, setup.bootstrap());
        p.put(StreamsConfig.CLIENT_ID_CONFIG, "eoscheck-streams-proc-" + slot);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                setup.exactlyOnce() ? "exactly_once_v2" : "at_least_once");
        // Exactly once, output committed often (Streams' own default then is 100 ms),
        // so the run sees many transactions; at least once every second, as the Java
        // processor commits (Streams' default is 30 s). One thread, so the
        // transactions come one at a time.
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, setup.exactlyOnce() ? "100" : "1000");
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, "1");
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("eoscheck-streams-").toString());
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.ByteArray().getClass().getName());
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArray().getClass().getName());
        // At least once, Streams reads uncommitted input; the feeder's aborted
        // transactions are no input.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.ISOLATION_LEVEL_CONFIG), "read_committed");
        setup.tuning().fields().forEachRemaining(
                e -> p.put(StreamsConfig.producerPrefix(e.getKey()), e.getValue().asText()));
        setup.config().fields().forEachRemaining(
                e -> p.put(StreamsConfig.producerPrefix(e.getKey()), e.getValue().asText()));
        setup.consumer().fields().forEachRemaining(
                e -> p.put(StreamsConfig.consumerPrefix(e.getKey()), e.getValue().asText()));

        Topology topology = new Topology();
        topology.addSource("input", new ByteArrayDeserializer(), new ByteArrayDeserializer(), input);
        topology.addProcessor("tag", Tag::new, "input");
        topology.addSink("output", setup.output(), new ByteArraySerializer(), new ByteArraySerializer(),
                new SamePartition(), "tag");
        try {
            streams = new KafkaStreams(topology, p, new Supplier());
        } catch (RuntimeException e) {
            Common.rejectConfig(Common.describeWithCause(e));
        }
        streams.setUncaughtExceptionHandler((StreamsUncaughtExceptionHandler) e -> {
            if (!closing) Common.fatal(Common.describeWithCause(e));
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((now, before) -> {
            System.err.println("eoscheck: streams " + before + " -> " + now);
            if (!closing && (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING)) {
                new Thread(() -> shutDown(5_000), "eoscheck-close").start();
            }
        });
        ObjectNode ev = Common.event("started");
        ev.put("library", "kafka-streams");
        ev.put("version", Common.libraryVersion());
        ObjectNode given = ev.putObject("config");
        new TreeMap<Object, Object>(p).forEach((k, v) -> given.put(k.toString(), v.toString()));
        ev.put("config_source", "driver");
        Common.emit(ev);
        streams.start();
    }

    /** The transformation: the output value names its input's place, this processor, its transaction. */
    private static final class Tag implements org.apache.kafka.streams.processor.api.Processor<byte[], byte[], byte[], byte[]> {
        private ProcessorContext<byte[], byte[]> context;

        @Override
        public void init(ProcessorContext<byte[], byte[]> context) {
            this.context = context;
        }

        @Override
        public void process(Record<byte[], byte[]> record) {
            RecordMetadata md = context.recordMetadata().orElseThrow();
            int partition = md.partition();
            long offset = md.offset();
            synchronized (runs) {
                long[] run = null;
                for (int i = runs.size() - 1; i >= 0 && run == null; i--) {
                    if (runs.get(i)[0] == partition) run = runs.get(i);
                }
                if (run != null && run[2] + 1 == offset) run[2] = offset;
                else runs.add(new long[] {partition, offset, offset});
            }
            context.forward(record.withValue(Common.outputValue(partition, offset, slot, n, record.value())));
        }
    }

    /** The output partition is the input's, which the tagged value names. */
    private static final class SamePartition implements StreamPartitioner<byte[], byte[]> {
        // Both without @Override: 3.x has the first abstract, 4.x only the second.
        @SuppressWarnings("deprecation") // 3.x's abstract method, gone in 4.0
        public Integer partition(String topic, byte[] key, byte[] value, int numPartitions) {
            String text = new String(value, 0, Math.min(value.length, 40), UTF_8);
            return Integer.valueOf(text.split(":", 3)[1]);
        }

        @SuppressWarnings("removal") // 4.x deprecates it for the headers variant, which calls it
        public Optional<Set<Integer>> partitions(String topic, byte[] key, byte[] value, int numPartitions) {
            return Optional.of(Set.of(partition(topic, key, value, numPartitions)));
        }
    }

    /** Streams' clients, each behind a proxy that reports what the library does with it. */
    private static final class Supplier extends DefaultKafkaClientSupplier {
        @Override
        public Producer<byte[], byte[]> getProducer(Map<String, Object> config) {
            return observe(Producer.class, super.getProducer(config), StreamsProcessor::producerCall);
        }

        @Override
        public Consumer<byte[], byte[]> getConsumer(Map<String, Object> config) {
            return observe(Consumer.class, super.getConsumer(config), StreamsProcessor::consumerCall);
        }
    }

    /** What a proxy does around one call: the call itself is `call.run()`. */
    private interface Observer {
        Object around(Object target, Method method, Object[] args, Call call) throws Throwable;
    }

    private interface Call {
        Object run() throws Throwable;
    }

    @SuppressWarnings("unchecked")
    private static <T> T observe(Class<?> type, Object target, Observer observer) {
        InvocationHandler h = (proxy, method, args) -> observer.around(target, method, args, () -> {
            try {
                return method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
        return (T) Proxy.newProxyInstance(StreamsProcessor.class.getClassLoader(), new Class<?>[] {type}, h);
    }

    private static ProducerInternals internals;

    @SuppressWarnings("unchecked")
    private static Object producerCall(Object target, Method method, Object[] args, Call call) throws Throwable {
        switch (method.getName()) {
            case "initTransactions": {
                Object result = call.run();
                if (target instanceof KafkaProducer) internals = ProducerInternals.of((KafkaProducer<?, ?>) target);
                if (internals != null) internals.checkSession();
                return result;
            }
            case "beginTransaction":
                ended = false;
                return call.run();
            case "sendOffsetsToTransaction":
                pendingOffsets = inputOffsets((Map<TopicPartition, OffsetAndMetadata>) args[0]);
                return call.run();
            case "commitTransaction":
                try {
                    Object result = call.run();
                    if (internals != null) internals.checkSession();
                    ending("txn", "committed", pendingOffsets, null);
                    return result;
                } catch (Throwable e) {
                    ending("txn", txnResult(e), pendingOffsets, Common.describeWithCause(e));
                    throw e;
                }
            case "abortTransaction":
                try {
                    Object result = call.run();
                    if (!ended) ending("txn", "aborted", pendingOffsets, null);
                    return result;
                } catch (Throwable e) {
                    if (!ended) ending("txn", "fatal", pendingOffsets, Common.describeWithCause(e));
                    throw e;
                }
            default:
                return call.run();
        }
    }

    /** A failed commit: fenced and unknown as the Java processor names them, else fatal. */
    private static String txnResult(Throwable e) {
        if (Common.isFencing(e)) return "fenced";
        if (internals != null && internals.hasAbortableError()) return "aborted";
        if (e instanceof TimeoutException) return "unknown";
        return "fatal";
    }

    @SuppressWarnings("unchecked")
    private static Object consumerCall(Object target, Method method, Object[] args, Call call) throws Throwable {
        Consumer<byte[], byte[]> consumer = (Consumer<byte[], byte[]>) target;
        switch (method.getName()) {
            case "subscribe":
                if (args.length == 2 && args[1] instanceof ConsumerRebalanceListener) {
                    args[1] = new Listener((ConsumerRebalanceListener) args[1]);
                }
                return call.run();
            case "commitSync":
                if (args != null && args.length >= 1 && args[0] instanceof Map) {
                    Map<TopicPartition, OffsetAndMetadata> offsets =
                            inputOffsets((Map<TopicPartition, OffsetAndMetadata>) args[0]);
                    try {
                        Object result = call.run();
                        ending("commit", "ok", offsets, null);
                        return result;
                    } catch (Throwable e) {
                        ending("commit", "failed", offsets, Common.describeWithCause(e));
                        throw e;
                    }
                }
                return call.run();
            case "seek": {
                Object result = call.run();
                TopicPartition tp = (TopicPartition) args[0];
                long offset = args[1] instanceof OffsetAndMetadata
                        ? ((OffsetAndMetadata) args[1]).offset() : (Long) args[1];
                if (tp.topic().equals(input)) seek(tp.partition(), offset);
                return result;
            }
            case "seekToBeginning": {
                Object result = call.run();
                Collection<TopicPartition> tps = (Collection<TopicPartition>) args[0];
                consumer.beginningOffsets(tps).forEach((tp, o) -> {
                    if (tp.topic().equals(input)) seek(tp.partition(), o);
                });
                return result;
            }
            default:
                return call.run();
        }
    }

    private static Map<TopicPartition, OffsetAndMetadata> inputOffsets(Map<TopicPartition, OffsetAndMetadata> all) {
        Map<TopicPartition, OffsetAndMetadata> mine = new LinkedHashMap<>();
        all.forEach((tp, o) -> {
            if (tp.topic().equals(input)) mine.put(tp, o);
        });
        return mine;
    }

    private static void seek(int partition, long offset) {
        Common.emitCompletion(Common.seekEvent(partition, offset));
    }

    /**
     * The end of transaction n (at least once: its offset commit): first the poll event
     * with the runs it processed, then the end; the next records go into n + 1.
     */
    private static void ending(String type, String result, Map<TopicPartition, OffsetAndMetadata> offsets,
            String error) {
        flushRuns();
        Common.emitCompletion(Common.endingEvent(type, n, result, offsets, error));
        ended = true;
        n++;
        if (result.equals("fenced") && !closing) {
            // As the Java processor: a fenced instance stops, and the harness starts another.
            new Thread(() -> shutDown(5_000), "eoscheck-close").start();
        }
    }

    /** The records processed since the last poll event, as one poll event for transaction n. */
    private static void flushRuns() {
        ObjectNode ev = Common.event("poll");
        ev.put("n", n);
        ArrayNode list = ev.putArray("records");
        synchronized (runs) {
            if (runs.isEmpty()) return;
            for (long[] run : runs) list.addArray().add((int) run[0]).add(run[1]).add(run[2]);
            runs.clear();
        }
        Common.emitCompletion(ev);
    }

    /** Streams' own listener, with assigned, revoked and lost reported after it ran. */
    private static final class Listener implements ConsumerRebalanceListener {
        private final ConsumerRebalanceListener inner;

        Listener(ConsumerRebalanceListener inner) {
            this.inner = inner;
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            inner.onPartitionsAssigned(partitions);
            partitions("assigned", partitions);
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            inner.onPartitionsRevoked(partitions);
            partitions("revoked", partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            inner.onPartitionsLost(partitions);
            partitions("lost", partitions);
        }

        private static void partitions(String type, Collection<TopicPartition> partitions) {
            Common.emitCompletion(Common.partitionsEvent(type, partitions, input));
        }
    }


    /** Closes Streams within `timeoutMs`, reports what was processed, prints closed, exits. */
    private static void shutDown(long timeoutMs) {
        closing = true;
        if (streams != null && !streams.close(Duration.ofMillis(timeoutMs))) {
            System.err.println("eoscheck: streams did not close within " + timeoutMs + " ms");
            Common.mute();
        }
        Common.closedAndExit();
    }
}
