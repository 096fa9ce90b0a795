"""The driver protocol (../PROTOCOL.md, versions 2 and 3), shared by the Python drivers.

A driver module supplies a `start(configure, events)` function (`configure` is
a `Configure`) returning a producer object with:

    config, config_source       the effective configuration (name -> text) and
                                "library" or "driver", for `started`
    send(id, value, key, partition)
                                hand one record to the library (value bytes, key
                                bytes or None, partition int or None = the
                                library's default partitioner); report its
                                outcome later through `events`
    flush(deadline)             wait until time.monotonic() >= deadline or the
                                library has completed everything handed to it
    close(deadline)             shut the library down, best effort by deadline
    transact(call, deadline)    the library's "begin", "commit" or "abort" (a
                                transactional producer's init is part of
                                `start`); returns once it succeeded, raises its
                                error, or raises DidNotReturn at deadline where
                                the library's call has no bound of its own
    txn_error(exc)              how a transaction call's error reads to the
                                application: (result, "NAME: text"), result
                                "abortable", "retriable", "fatal" or "fenced"

and calls `serve(library, version, start)`. `start` raises `Rejected` for a
configuration the library (or the driver) cannot use; any other exception is
reported as `fatal`.
"""

import json
import logging
import os
import sys
import threading
import time

PROTOCOLS = (2, 3)
EOF_CLOSE_MS = 10_000
BEGIN_TIMEOUT_MS = 10_000  # `begin` carries no bound; it is local in every library
# How long a producer may take to start, transactional init included (the
# harness gives `configure` 120 s).
START_TIMEOUT_S = 60
# Past a transaction call's own deadline, how long the driver still waits for a
# library that bounds the call itself before it gives the call up.
TXN_GRACE_S = 5
HERE = os.path.dirname(os.path.abspath(__file__))


class Rejected(Exception):
    """The configuration cannot be used: answered with `config-rejected`."""


class LibraryError(Exception):
    """An error a library reports as a code and text, not as an exception of its
    own: the message is already `NAME: text`."""


class DidNotReturn(Exception):
    """A library call still running at the deadline the driver gave it."""


def rejected(name, why):
    """A refusal of one setting: its name in backquotes, then why."""
    return Rejected("`%s`: %s" % (name, why))


class Settings:
    """What a driver's and a processor's `configure` share: the cluster, the
    producer configuration (standard Kafka names or the library's own, every
    value a string) and eoscheck's tuning."""

    def __init__(self, cmd, client_id, protocols, what):
        if cmd.get("protocol") not in protocols:
            raise ValueError("protocol: version %r, this %s speaks %s"
                             % (cmd.get("protocol"), what, " and ".join(map(str, protocols))))
        self.bootstrap = cmd["bootstrap"]
        self.client_id = client_id
        self.config, self.tuning = string_maps(cmd, "config", "tuning")

    def with_tuning(self, mapping):
        """`config` and each of eoscheck's tuning settings that `mapping` (the
        driver's config mapping, raising Rejected for a setting the library
        cannot express) takes on its own; the others are skipped, on stderr."""
        merged = dict(self.config)
        for name, text in self.tuning.items():
            try:
                mapping({name: text})
            except Rejected as refusal:
                note("eoscheck's %s=%s not applied: %s" % (name, text, refusal))
                continue
            merged[name] = text
        return merged


class Configure(Settings):
    """The `configure` command: where to produce, and the settings."""

    def __init__(self, cmd):
        super().__init__(cmd, "eoscheck-%d" % cmd.get("producer", 0), PROTOCOLS, "driver")
        self.topic = cmd["topic"]


def string_maps(cmd, *fields):
    """Each of `fields` of `cmd`: settings, name -> text ({} when absent)."""
    maps = tuple(cmd.get(field) or {} for field in fields)
    if not all(isinstance(m, dict) and all(isinstance(v, str) for v in m.values()) for m in maps):
        raise ValueError("protocol: %s must be objects of string values" % ", ".join(fields))
    return maps


def native_names(library, role="producer"):
    """The option names in `<library>.native` (a consumer's:
    `<library>.consumer.native`) beside the driver."""
    stem = library if role == "producer" else "%s.%s" % (library, role)
    with open(os.path.join(HERE, stem + ".native"), encoding="utf-8") as f:
        return {line.split("#")[0].strip() for line in f} - {""}


def parse_like(default):
    """How to read a setting's text for an option with this default: as the
    default's type; text where the default is None."""
    if isinstance(default, bool):
        return _boolean
    if isinstance(default, int):
        return _integer
    if isinstance(default, float):
        return _number
    return lambda name, text: text


def _boolean(name, text):
    if text not in ("true", "false"):
        raise rejected(name, "not true or false: %r" % text)
    return text == "true"


def _integer(name, text):
    try:
        return int(text)
    except ValueError:
        raise rejected(name, "not an integer: %r" % text) from None


def _number(name, text):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise rejected(name, "not a number: %r" % text) from None


ACKS = {"all": "all", "-1": -1, "1": 1, "0": 0}


def read_acks(name, text):
    """acks as kafka-python and aiokafka take it."""
    if text not in ACKS:
        raise rejected(name, "not all, -1, 1 or 0: %r" % text)
    return ACKS[text]


def read_compression(name, text):
    """compression.type as kafka-python and aiokafka take it (no codec: None)."""
    return None if text == "none" else text


def keyword_arguments(library, version, config, defaults, renamed, parsers, role="producer"):
    """`config` as keyword arguments of a library's producer (or consumer)
    constructor.

    A native name (listed in `<library>.native`, or `.consumer.native`) is
    that keyword; a standard name maps to `renamed[name]`, else to itself
    spelled with underscores, provided that is a native name. `defaults` are
    the loaded version's keywords and defaults: the value is read as the
    default's type unless `parsers` has a reader for the keyword.
    """
    native = native_names(library, role)
    setting = "setting" if role == "producer" else role + " setting"
    kwargs = {}
    for name, text in config.items():
        keyword = name if name in native else renamed.get(name, name.replace(".", "_"))
        if keyword not in native:
            raise rejected(name, "%s has no such %s" % (library, setting))
        if keyword not in defaults:
            raise rejected(name, "%s %s has no `%s`" % (library, version, keyword))
        parse = parsers.get(keyword) or parse_like(defaults[keyword])
        kwargs[keyword] = parse(name, text)
    return kwargs


def as_text(value):
    """A configuration value as `started` reports it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):  # bootstrap servers, ...
        return ",".join(map(as_text, value))
    return str(value)


def error_name(exc):
    """`Name: text` for an exception, as the protocol's `error` fields want."""
    name, text = type(exc).__name__, str(exc)
    if isinstance(exc, LibraryError):
        return text
    if not text or text.startswith(name):
        return text or name
    return "%s: %s" % (name, text)


def note(text):
    """A line for the driver's log (stderr)."""
    print("eosdriver: " + text, file=sys.stderr, flush=True)


class Events:
    """Writes events to the real stdout from any thread, whole lines only.

    Lines are queued under a lock and written by one writer thread in bursts:
    a write and flush per line, from the library's threads, costs more than the
    send itself (each syscall hands the GIL around). It also tracks the open
    sends, so each gets at most one completion and none after `seal` (the close
    deadline): late outcomes are left to the harness as indeterminate.
    """

    def __init__(self, out):
        self._out = out
        self._out_lock = threading.Lock()  # taken before _lock, keeps bursts in order
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._lines = []
        self._wake = threading.Event()
        self._open = set()
        self._sealed = False
        self._started = False
        self._session = None
        self.no_offsets = False  # acks 0: whatever a library reports is made up
        threading.Thread(target=self._writer, daemon=True).start()

    def _write(self, line):
        # Caller holds _lock.
        self._lines.append(line)
        if len(self._lines) == 1:
            self._wake.set()

    def _writer(self):
        while True:
            self._wake.wait()
            self.flush()

    def flush(self):
        """Writes every queued line now."""
        with self._out_lock:
            with self._lock:
                lines, self._lines = self._lines, []
                self._wake.clear()
            if lines:
                try:
                    self._out.write("".join(lines).encode())
                    self._out.flush()
                except OSError:
                    os._exit(1)  # the harness is gone: nobody to report to

    def _emit(self, event, sealable=False):
        with self._lock:
            if sealable and self._sealed:
                return
            self._write(json.dumps(event, separators=(",", ":")) + "\n")
        self.flush()

    def emit(self, event):
        """One of a processor's events; none once `seal`ed (the close deadline)."""
        self._emit(event, sealable=True)

    def begin(self, id):
        with self._lock:
            self._open.add(id)

    def _complete(self, id, line):
        with self._lock:
            if self._sealed or id not in self._open:
                return
            self._open.discard(id)
            self._write(line)
            if not self._open:
                self._idle.notify_all()

    def ok(self, id, partition, offset):
        if offset is None or offset < 0 or self.no_offsets:
            offset = -1  # unknown
        self._complete(id, '{"type":"ok","id":%d,"partition":%d,"offset":%d}\n'
                       % (id, partition, offset))

    def fail(self, id, error, definite):
        self._complete(id, json.dumps({"type": "fail", "id": id, "error": error,
                                       "definite": bool(definite)},
                                      separators=(",", ":")) + "\n")

    def started(self, library, version, config, config_source):
        with self._lock:
            self._write(json.dumps({"type": "started", "library": library, "version": version,
                                    "config": config, "config_source": config_source},
                                   separators=(",", ":")) + "\n")
            self._started = True
            if self._session:
                self._write_session()

    def session(self, pid, epoch):
        """Reports the producer id and epoch when they change; held back until
        `started` so that event stays the first."""
        if pid is None or pid < 0 or self._session == (pid, epoch):
            return  # the common case, without the lock
        with self._lock:
            if self._session == (pid, epoch):
                return
            self._session = (pid, epoch)
            if self._started:
                self._write_session()

    def _write_session(self):
        self._write('{"type":"session","pid":%d,"epoch":%d}\n' % self._session)

    def txn(self, call, result, error=None):
        """The answer to a `begin`, `commit` or `abort`."""
        event = {"type": "txn", "call": call, "result": result}
        if result != "ok":
            event["error"] = error
            note("%s: %s: %s" % (call, result, error))
        self._emit(event)

    def fatal(self, error):
        note("fatal: " + error)
        self._emit({"type": "fatal", "error": error})

    def config_rejected(self, reason):
        note("config-rejected: " + reason)
        self._emit({"type": "config-rejected", "reason": reason})

    def wait_idle(self, deadline):
        with self._lock:
            while self._open:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._idle.wait(left)

    def seal(self):
        with self._lock:
            self._sealed = True
            if self._open:
                note("%d send(s) still open at close: no event" % len(self._open))

    def closed(self):
        self._emit({"type": "closed"})


class NotStarted:
    """Stands in for a producer the library failed to create (already reported
    as `fatal`): nothing reaches the library, so every send definitely fails."""

    def __init__(self, events, reason):
        self._events, self._reason = events, reason

    def send(self, id, value, key, partition):
        self._events.fail(id, "NotStarted: " + self._reason, True)

    def flush(self, deadline):
        pass

    def close(self, deadline):
        pass

    def transact(self, call, deadline):
        raise LibraryError("NotStarted: " + self._reason)

    def txn_error(self, exc):
        return "fatal", error_name(exc)


def within(fn, deadline):
    """fn() in a daemon thread, waited for no longer than deadline: its result,
    or its exception raised here; DidNotReturn while it is still running (it
    goes on in the background)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as e:
            outcome["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(max(0.0, deadline - time.monotonic()))
    if t.is_alive():
        raise DidNotReturn()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def bounded(what, fn, deadline):
    """fn() no longer than deadline, so a library that hangs (on shutdown, say)
    cannot hold the driver up; whatever it raises goes to stderr."""
    try:
        within(fn, deadline)
    except DidNotReturn:
        note("%s: library still busy at the deadline; going on" % what)
    except Exception as e:
        note("%s: %s" % (what, error_name(e)))


def _protect_stdout():
    """Keeps the real stdout for events only: fd 1 and sys.stdout now go to
    stderr, so stray prints or C-level writes by a library cannot corrupt it."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def open_events():
    """The event writer on the real stdout, and library logging to stderr."""
    events = Events(_protect_stdout())
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return events


def commands(events):
    """The commands on stdin, each as (type, command, line), until its end; a
    line that is not a command is answered with fatal and skipped."""
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        try:
            cmd = json.loads(raw)
            kind = cmd["type"]
        except (ValueError, TypeError, KeyError):
            events.fatal("protocol: not a command: %r" % raw[:200])
            continue
        yield kind, cmd, raw


def serve(library, version, start):
    events = open_events()
    note("%s %s" % (library, version))
    producer = None
    abandoned = None  # a transaction call that did not return: the producer's state is unknown

    def close(timeout_ms):
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        if producer is not None:
            bounded("close", lambda: producer.flush(deadline), deadline)
            events.wait_idle(deadline)  # flush may return before the last callback
        events.seal()
        if producer is not None:
            # A short grace past the deadline for the library to let go of its
            # connections; whatever it still holds dies with the process.
            bounded("close", lambda: producer.close(deadline), max(deadline, time.monotonic() + 1))
        events.closed()
        os._exit(0)  # don't wait on library threads (atexit hooks, destructors)

    def transact(call, timeout_ms):
        """One `begin`, `commit` or `abort`, answered with exactly one `txn`."""
        nonlocal abandoned
        if producer is None:
            return events.txn(call, "fatal", "protocol: %s before configure" % call)
        if abandoned:
            return events.txn(call, "fatal", "eoscheck: producer abandoned: " + abandoned)
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        if call == "commit":
            # The transaction's sends complete, and are reported, first.
            bounded("commit", lambda: producer.flush(deadline), deadline)
            events.wait_idle(deadline)
        try:
            # A library that bounds the call itself gets a grace past the
            # deadline; one that does not is bounded by the driver's transact.
            within(lambda: producer.transact(call, deadline), deadline + TXN_GRACE_S)
            result, error = "ok", None
        except DidNotReturn:
            abandoned = "%s did not return within %d ms" % (call, timeout_ms)
            result, error = "fatal", "eoscheck: " + abandoned
        except Exception as e:
            result, error = producer.txn_error(e)
        if call != "begin":
            events.wait_idle(deadline)  # the sends the call completed (an abort's purged ones)
        events.txn(call, result, error)

    for kind, cmd, raw in commands(events):
        try:
            if kind == "send":
                id, value = cmd["id"], cmd["value"].encode()
                key = cmd.get("key")
                if producer is None:
                    events.fatal("protocol: send before configure")
                    continue
                events.begin(id)
                producer.send(id, value, None if key is None else key.encode(), cmd.get("partition"))
            elif kind == "configure":
                if producer is not None:
                    events.fatal("protocol: configure sent twice")
                    continue
                try:
                    configure = Configure(cmd)
                    events.no_offsets = configure.config.get("acks") == "0"
                    producer = start(configure, events)
                except Rejected as e:
                    events.config_rejected(str(e))
                    os._exit(0)
                except Exception as e:  # the library could not start: not a settings matter
                    events.fatal(error_name(e))
                    producer = NotStarted(events, error_name(e))
                    continue
                events.started(library, version, producer.config, producer.config_source)
            elif kind == "close":
                close(cmd.get("timeout_ms", EOF_CLOSE_MS))
            elif kind in ("begin", "commit", "abort"):
                transact(kind, cmd.get("timeout_ms", BEGIN_TIMEOUT_MS if kind == "begin" else EOF_CLOSE_MS))
            else:
                events.fatal("protocol: unknown command type %r" % (kind,))
        except (KeyError, TypeError, AttributeError) as e:
            events.fatal("protocol: malformed %s command (%s): %r" % (kind, error_name(e), raw[:200]))
    close(EOF_CLOSE_MS)
