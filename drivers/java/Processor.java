// eoscheck processor for org.apache.kafka:kafka-clients: the pipeline workload's
// consume-transform-produce loop with a KafkaConsumer and a KafkaProducer.
// Speaks drivers/PROTOCOL.md (Processors): configure and close on stdin, what the
// loop did on stdout.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;


public final class Processor {
    private static KafkaConsumer<byte[], byte[]> consumer;
    private static KafkaProducer<byte[], byte[]> producer;
    private static ProducerInternals internals;
    private static String input, output;
    private static int slot;
    private static boolean exactlyOnce;
    /**
     * The transaction counter (from 1): exactly once, the poll batch being processed;
     * at least once, the offset commit the batches processed now go into.
     */
    private static long n;
    /**
     * At least once, the offsets of what was written and not yet committed. A real
     * at-least-once application commits now and then, not after every batch (the
     * consumer's auto-commit does so every 5 s); this one commits at most once per
     * ALO_COMMIT_MS, once the output is flushed, and before it gives partitions up.
     */
    private static final Map<TopicPartition, OffsetAndMetadata> pending = new LinkedHashMap<>();
    private static final long ALO_COMMIT_MS = 1_000;
    private static long lastCommit = System.nanoTime();
    private static volatile boolean closing;
    private static Thread loop;

    /** How a transaction ended, and whether this instance can go on after it. */
    private record Ending(String result, boolean goOn) {}

    public static void main(String[] args) throws Exception {
        Common.quietLogging();
        Common.serveProcessor(new Common.ProcessorCommands() {
            @Override
            public void configure(JsonNode cmd) {
                Processor.configure(cmd);
            }

            @Override
            public void close(long timeoutMs) throws InterruptedException {
                Processor.close(timeoutMs);
            }
        });
    }

    private static void configure(JsonNode cmd) {
        if (loop != null) {
            Common.fatal("protocol error: configure sent twice");
            return;
        }
        Common.ProcessorSetup setup = Common.processorSetup(cmd);
        exactlyOnce = setup.exactlyOnce();
        if (exactlyOnce && setup.transactionalId() == null) {
            Common.fatal("protocol error: exactly-once needs a transactional_id");
            Common.flushAndExit();
        }
        input = setup.input();
        output = setup.output();
        slot = setup.slot();
        String bootstrap = setup.bootstrap();

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.CLIENT_ID_CONFIG, "eoscheck-java-proc-" + slot);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        if (exactlyOnce) pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, setup.transactionalId());
        Common.putAll(pp, setup.tuning());
        Common.putAll(pp, setup.config());

        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.CLIENT_ID_CONFIG, "eoscheck-java-proc-" + slot + "-consumer");
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, setup.group());
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        // The input is filled before the processors start: a new group reads it all.
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        Common.putAll(cp, setup.consumer());

        try {
            producer = new KafkaProducer<>(pp);
        } catch (RuntimeException e) {
            Common.rejectConfig(e);
        }
        try {
            consumer = new KafkaConsumer<>(cp);
        } catch (RuntimeException e) {
            producer.close(Duration.ZERO);
            Common.rejectConfig(e);
        }
        if (exactlyOnce) {
            // started means the init returned: this instance owns the transactional.id.
            try {
                producer.initTransactions();
            } catch (RuntimeException e) {
                Common.fatal("cannot initialise transactions: " + Common.describeWithCause(e));
                producer.close(Duration.ZERO);
                consumer.close();
                Common.flushAndExit();
            }
        }
        internals = ProducerInternals.of(producer);
        ObjectNode ev = Common.event("started");
        ev.put("library", "kafka-clients");
        ev.put("version", Common.libraryVersion());
        Common.effectiveConfig(ev, producer, pp);
        Common.emit(ev);
        if (internals != null) internals.checkSession();
        loop = new Thread(Processor::run, "eoscheck-processor");
        loop.start();
    }

    /** The loop: poll, process the batch, commit it; until close or an end. */
    private static void run() {
        String why = null;
        try {
            consumer.subscribe(List.of(input), new Listener());
            while (!closing) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
                if (records.isEmpty()) {
                    if (!exactlyOnce) commitDue(false);
                    continue;
                }
                if (exactlyOnce || pending.isEmpty()) n++;
                Map<TopicPartition, OffsetAndMetadata> next = announce(records);
                if (exactlyOnce ? !transaction(records, next) : !atLeastOnce(records, next)) break;
            }
            if (!exactlyOnce) commitDue(true);
        } catch (RuntimeException e) {
            why = Common.describeWithCause(e);
        }
        if (why != null) Common.fatal(why);
        shutDown(Duration.ofSeconds(5));
    }

    /** The poll event; returns the next offset of each partition the batch holds. */
    private static Map<TopicPartition, OffsetAndMetadata> announce(ConsumerRecords<byte[], byte[]> records) {
        Map<TopicPartition, OffsetAndMetadata> next = new LinkedHashMap<>();
        ObjectNode ev = Common.event("poll");
        ev.put("n", n);
        ArrayNode runs = ev.putArray("records");
        // Runs of consecutive offsets only: what read_committed skips (aborted
        // records, markers) splits a partition's records into several.
        for (TopicPartition tp : records.partitions()) {
            long first = -1, last = -1;
            for (ConsumerRecord<byte[], byte[]> r : records.records(tp)) {
                if (first >= 0 && r.offset() == last + 1) {
                    last = r.offset();
                    continue;
                }
                if (first >= 0) runs.addArray().add(tp.partition()).add(first).add(last);
                first = last = r.offset();
            }
            runs.addArray().add(tp.partition()).add(first).add(last);
            next.put(tp, new OffsetAndMetadata(last + 1));
        }
        Common.emitCompletion(ev);
        return next;
    }

    private static ProducerRecord<byte[], byte[]> transform(ConsumerRecord<byte[], byte[]> r) {
        byte[] value = Common.outputValue(r.partition(), r.offset(), slot, n, r.value());
        return new ProducerRecord<>(output, r.partition(), r.key(), value);
    }

    /** One transaction of the batch; false when this instance cannot go on. */
    private static boolean transaction(
            ConsumerRecords<byte[], byte[]> records, Map<TopicPartition, OffsetAndMetadata> next) {
        boolean committing = false;
        try {
            producer.beginTransaction();
            for (ConsumerRecord<byte[], byte[]> r : records) producer.send(transform(r));
            producer.sendOffsetsToTransaction(next, consumer.groupMetadata());
            committing = true;
            producer.commitTransaction();
            if (internals != null) internals.checkSession(); // a 4.x client's epoch moves with each end
            txn("committed", next, null);
            return true;
        } catch (RuntimeException e) {
            Ending ending = failed(e, committing);
            if (internals != null) internals.checkSession();
            if (ending.result().equals("aborted")) {
                RuntimeException abortError = abort();
                if (abortError != null) {
                    // KIP-588: a produce's InvalidProducerEpoch is abortable, and the abort
                    // then meets the fencing.
                    String result = Common.isFencing(abortError) ? "fenced" : "fatal";
                    txn(result, next, Common.describeWithCause(e) + "; then abortTransaction: "
                            + Common.describeWithCause(abortError));
                    return false;
                }
                txn("aborted", next, Common.describeWithCause(e));
                rewind();
                return true;
            }
            txn(ending.result(), next, Common.describeWithCause(e));
            return ending.goOn();
        }
    }

    /**
     * What a failed transaction leaves, from the TransactionManager's state where it can
     * be read: fenced when another instance took the transactional.id, fatal when the
     * producer can do nothing more, aborted when the library says the transaction must be
     * aborted (a failed send, the group's refusal of the offsets, anything before the
     * commit was asked), unknown when the commit itself did not answer in time.
     */
    private static Ending failed(RuntimeException e, boolean committing) {
        boolean fenced = Common.isFencing(e);
        if (internals != null && internals.hasFatalError()) {
            return new Ending(fenced || Common.isFencing(internals.lastError()) ? "fenced" : "fatal", false);
        }
        // Before abortable: on a produce, InvalidProducerEpochException is abortable (KIP-588).
        if (internals != null && internals.hasAbortableError()) return new Ending("aborted", true);
        if (fenced) return new Ending("fenced", false);
        if (committing && (e instanceof TimeoutException || e instanceof InterruptException)) {
            return new Ending("unknown", false);
        }
        if (!committing) return new Ending("aborted", true);
        return new Ending("fatal", false);
    }

    /** abortTransaction; null when it did, else what it threw. */
    private static RuntimeException abort() {
        try {
            producer.abortTransaction();
            return null;
        } catch (RuntimeException e) {
            return e;
        }
    }

    /** Every assigned partition back to the group's committed offset (its start when none). */
    private static void rewind() {
        Set<TopicPartition> assigned = consumer.assignment();
        if (assigned.isEmpty()) return;
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(assigned);
        Set<TopicPartition> fresh = new HashSet<>();
        for (TopicPartition tp : assigned) {
            OffsetAndMetadata o = committed.get(tp);
            if (o == null) fresh.add(tp);
            else seek(tp, o.offset());
        }
        if (!fresh.isEmpty()) consumer.beginningOffsets(fresh).forEach(Processor::seek);
    }

    private static void seek(TopicPartition tp, long offset) {
        consumer.seek(tp, offset);
        Common.emitCompletion(Common.seekEvent(tp.partition(), offset));
    }

    /** Produce the batch and wait for all of it; its offsets are committed when due. False never (goes on). */
    private static boolean atLeastOnce(
            ConsumerRecords<byte[], byte[]> records, Map<TopicPartition, OffsetAndMetadata> next) {
        AtomicReference<Exception> sendError = new AtomicReference<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            try {
                producer.send(transform(r), (md, e) -> {
                    if (e != null) sendError.compareAndSet(null, e);
                });
            } catch (RuntimeException e) {
                sendError.compareAndSet(null, e);
            }
        }
        producer.flush();
        if (sendError.get() != null) {
            // Not all of the batch is written: commit none of what is pending, and read it again.
            pending.putAll(next);
            commit("failed", Map.copyOf(pending), "send: " + Common.describeWithCause(sendError.get()));
            pending.clear();
            rewind();
            return true;
        }
        pending.putAll(next);
        commitDue(false);
        return true;
    }

    /** At least once: commits what is pending once ALO_COMMIT_MS has passed since the last, or now. */
    private static void commitDue(boolean now) {
        if (pending.isEmpty()) return;
        if (!now && System.nanoTime() - lastCommit < ALO_COMMIT_MS * 1_000_000) return;
        Map<TopicPartition, OffsetAndMetadata> offsets = Map.copyOf(pending);
        pending.clear();
        lastCommit = System.nanoTime();
        try {
            consumer.commitSync(offsets);
            commit("ok", offsets, null);
        } catch (RuntimeException e) {
            commit("failed", offsets, Common.describeWithCause(e));
        }
    }

    private static void txn(String result, Map<TopicPartition, OffsetAndMetadata> offsets, String error) {
        ending("txn", result, offsets, error);
    }

    private static void commit(String result, Map<TopicPartition, OffsetAndMetadata> offsets, String error) {
        ending("commit", result, offsets, error);
    }

    private static void ending(String type, String result, Map<TopicPartition, OffsetAndMetadata> offsets,
            String error) {
        Common.emitCompletion(Common.endingEvent(type, n, result, offsets, error));
    }

    /** assigned, revoked and lost, as the consumer calls them inside poll(). */
    private static final class Listener implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            partitions("assigned", partitions);
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            // What was written of them is committed before they go (lost ones cannot be).
            if (!exactlyOnce) commitDue(true);
            partitions("revoked", partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            partitions("lost", partitions);
        }
    }

    private static void partitions(String type, Collection<TopicPartition> partitions) {
        Common.emitCompletion(Common.partitionsEvent(type, partitions, input));
    }


    /** Closes the consumer (its last revoked) and the producer; prints closed and exits. */
    @SuppressWarnings("deprecation") // close(CloseOptions) is 4.1's; 3.x has only this
    private static void shutDown(Duration bound) {
        try {
            consumer.close(bound);
        } catch (RuntimeException e) {
            System.err.println("eoscheck: consumer close: " + e);
        }
        try {
            producer.close(bound);
        } catch (RuntimeException e) {
            System.err.println("eoscheck: producer close: " + e);
        }
        Common.closedAndExit();
    }

    /**
     * Lets the loop finish its batch and close; at the deadline, closed is printed
     * whatever the loop is doing, and the process exits.
     */
    private static void close(long timeoutMs) throws InterruptedException {
        closing = true;
        if (loop != null) {
            loop.join(timeoutMs);
            Common.mute();
        }
        Common.closedAndExit();
    }
}
