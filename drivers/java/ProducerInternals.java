// A KafkaProducer's TransactionManager, read by reflection: the producer id and
// epoch (session events) and its error state (what a failed call leaves).

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.reflect.AccessibleObject;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import org.apache.kafka.clients.producer.KafkaProducer;

/**
 * The producer id and epoch live in the producer's TransactionManager, which has no
 * public getter; read them by reflection. Any failure just means no session events.
 */
final class ProducerInternals {
    private final Object tm;
    private final Field pidAndEpoch;
    private final Method hasError, hasFatalError, hasAbortableError, lastError;
    private Field pidField, epochField; // of ProducerIdAndEpoch, whose package varies by version
    private long lastPid = -1;
    private short lastEpoch = -1;
    private boolean broken;

    private ProducerInternals(Object tm) throws ReflectiveOperationException {
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
    static ProducerInternals of(KafkaProducer<?, ?> p) {
        try {
            Object tm = transactionManager(p);
            return tm == null ? null : new ProducerInternals(tm);
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
            ObjectNode ev = Common.event("session");
            ev.put("pid", pid);
            ev.put("epoch", epoch);
            Common.emitCompletion(ev.toString());
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
