//! A producer in another language: a child process speaking the driver protocol
//! (`drivers/PROTOCOL.md`), JSON lines on its stdin and stdout.
//!
//! Two threads per driver keep the workload from ever waiting on the child:
//! the workload appends `send` lines to an outbox and returns; a writer thread
//! moves the outbox into the pipe in bulk (one write for many sends); a reader
//! thread turns events into history entries. A child that dies, hangs on
//! start-up or prints garbage is recorded as `producer-fatal` and never holds up
//! the run: its open sends stay indeterminate.

use std::{
    collections::{BTreeMap, HashMap},
    fs::OpenOptions,
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

use checker::{
    ids::{Epoch, Offset, Partition, Producer, ProducerId},
    SendKey,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::{
    client::{Client, Refused, Sinks},
    client::{Effective, Record},
    install::Installed,
};
use crate::recording::Recorder;

/// How long a driver may take to answer `configure` (a cold JVM, a Python import).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Sends handed to a driver and not yet completed, at most: a driver that stops
/// answering stops getting sends instead of growing a queue without bound.
const MAX_OPEN: usize = 20_000;
/// After `close`, how long past its own bound a driver gets to say `closed`.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The version of drivers/PROTOCOL.md this harness speaks.
pub const PROTOCOL: u32 = 2;

/// The first line a driver reads.
#[derive(Serialize)]
#[serde(tag = "type", rename = "configure")]
pub struct Configure<'a> {
    pub protocol: u32,
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub producer: Producer,
    /// The producer configuration, Kafka's names or the library's own.
    pub config: &'a BTreeMap<String, String>,
    /// eoscheck's own settings, applied where the library can express them.
    pub tuning: &'a BTreeMap<String, String>,
}

/// What a driver prints.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum DriverEvent {
    Started {
        library: String,
        version: String,
        #[serde(default)]
        config: BTreeMap<String, String>,
        #[serde(default)]
        config_source: Option<String>,
    },
    ConfigRejected {
        reason: String,
    },
    Ok {
        id: u64,
        partition: Partition,
        offset: Offset,
    },
    Fail {
        id: u64,
        error: String,
        definite: bool,
    },
    Session {
        pid: ProducerId,
        epoch: Epoch,
    },
    Fatal {
        error: String,
    },
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Running,
    /// The library refused the configuration.
    Rejected,
    /// Closed cleanly, crashed on purpose, or died.
    Gone,
}

#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    /// No more lines: the writer closes the child's stdin once the outbox is empty.
    shut: bool,
}

/// The child process and what the two threads and the workload share about it.
struct Process {
    producer: Producer,
    recorder: Arc<Recorder>,
    resend: Option<UnboundedSender<SendKey>>,
    effective: Arc<OnceLock<Effective>>,
    /// Sends handed over and not yet completed, by the id the driver knows them by.
    open: Mutex<HashMap<u64, SendKey>>,
    next_id: AtomicU64,
    outbox: Mutex<Outbox>,
    outbox_ready: Condvar,
    state: Mutex<State>,
    state_changed: Condvar,
    child: Mutex<Child>,
}

pub struct Driver {
    process: Arc<Process>,
}

impl Driver {
    /// Starts the driver and waits until it has a producer (or refused one).
    pub fn start(
        installed: &Installed,
        configure: Configure<'_>,
        logs: &Path,
        sinks: &Sinks,
    ) -> Option<Driver> {
        let producer = configure.producer;
        let mut child = match spawn(installed, logs, producer) {
            Ok(child) => child,
            Err(e) => {
                let reason = format!(
                    "could not start the {} driver ({}): {e}",
                    installed.resolved,
                    installed.program.display()
                );
                sinks.recorder.fatal(producer, reason);
                return None;
            }
        };
        let (stdin, stdout) = (child.stdin.take()?, child.stdout.take()?);
        let mut first = serde_json::to_vec(&configure).expect("serialisable");
        first.push(b'\n');
        let process = Arc::new(Process {
            producer,
            recorder: sinks.recorder.clone(),
            resend: sinks.resend.clone(),
            effective: sinks.effective.clone(),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            outbox: Mutex::new(Outbox {
                bytes: first,
                shut: false,
            }),
            outbox_ready: Condvar::new(),
            state: Mutex::new(State::Starting),
            state_changed: Condvar::new(),
            child: Mutex::new(child),
        });
        process.clone().start_threads(stdin, stdout)?;
        process.await_started(installed)
    }
}

/// The driver process, its stderr appended to `producer-<N>.log` in `logs`.
fn spawn(installed: &Installed, logs: &Path, producer: Producer) -> std::io::Result<Child> {
    std::fs::create_dir_all(logs)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("producer-{producer}.log")))?;
    Command::new(&installed.program)
        .args(&installed.args)
        .current_dir(&installed.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
}

impl Process {
    /// The writer and the reader thread.
    fn start_threads(self: Arc<Self>, stdin: ChildStdin, stdout: ChildStdout) -> Option<()> {
        let name = format!("driver-{}", self.producer);
        let writer = self.clone();
        std::thread::Builder::new()
            .name(format!("{name}-in"))
            .spawn(move || writer.write_loop(stdin))
            .ok()?;
        std::thread::Builder::new()
            .name(format!("{name}-out"))
            .spawn(move || self.read_loop(stdout))
            .ok()?;
        Some(())
    }

    /// Waits for `started`: a driver then, None if the library refused the
    /// configuration, died, or did not answer in time (then it is killed).
    fn await_started(self: Arc<Self>, installed: &Installed) -> Option<Driver> {
        match self.wait_while(State::Starting, START_TIMEOUT) {
            State::Running => Some(Driver { process: self }),
            State::Starting => {
                self.kill(format!(
                    "the {} driver did not answer `configure` within {}s; see drivers/producer-{}.log",
                    installed.resolved,
                    START_TIMEOUT.as_secs(),
                    self.producer
                ));
                None
            }
            State::Rejected | State::Gone => {
                self.stop_child();
                None
            }
        }
    }

    /// Waits while the state is `from`, at most `timeout`; returns the state then.
    fn wait_while(&self, from: State, timeout: Duration) -> State {
        let state = self.state.lock().unwrap();
        let (state, _) = self
            .state_changed
            .wait_timeout_while(state, timeout, |s| *s == from)
            .unwrap();
        *state
    }

    fn set_state(&self, to: State) {
        *self.state.lock().unwrap() = to;
        self.state_changed.notify_all();
    }

    fn state(&self) -> State {
        *self.state.lock().unwrap()
    }

    /// Ends the child for a reason worth recording (it broke the protocol, or hung).
    fn kill(&self, reason: String) {
        let was = {
            let mut state = self.state.lock().unwrap();
            std::mem::replace(&mut *state, State::Gone)
        };
        self.state_changed.notify_all();
        if was != State::Gone {
            warn!(producer = self.producer, "{reason}");
            self.recorder.fatal(self.producer, reason);
        }
        self.stop_child();
    }

    fn stop_child(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let mut outbox = self.outbox.lock().unwrap();
        outbox.shut = true;
        outbox.bytes.clear();
        self.outbox_ready.notify_all();
    }

    fn write_loop(&self, mut stdin: ChildStdin) {
        let mut batch = Vec::new();
        loop {
            {
                let mut outbox = self.outbox.lock().unwrap();
                while outbox.bytes.is_empty() && !outbox.shut {
                    outbox = self.outbox_ready.wait(outbox).unwrap();
                }
                if outbox.bytes.is_empty() {
                    return; // shut: dropping stdin is the driver's end of input
                }
                std::mem::swap(&mut outbox.bytes, &mut batch);
            }
            // A failed write means the child is gone; the reader reports that.
            if stdin
                .write_all(&batch)
                .and_then(|()| stdin.flush())
                .is_err()
            {
                return;
            }
            batch.clear();
        }
    }

    fn read_loop(&self, stdout: ChildStdout) {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let handled = serde_json::from_str::<DriverEvent>(&line)
                .map_err(|e| e.to_string())
                .and_then(|event| self.handle(event));
            if let Err(problem) = handled {
                let shown: String = line.chars().take(200).collect();
                self.kill(format!("protocol error: {problem} in line {shown:?}"));
                return;
            }
        }
        // End of output. After `closed` or a deliberate stop that is expected;
        // anything else is the driver dying under the run.
        let was = {
            let mut state = self.state.lock().unwrap();
            std::mem::replace(&mut *state, State::Gone)
        };
        self.state_changed.notify_all();
        if matches!(was, State::Starting | State::Running) {
            // A child that closed its output but lives on is killed, not waited
            // for: the run must not hang on it.
            let status = reap(&mut self.child.lock().unwrap(), Duration::from_secs(1));
            let reason = format!(
                "the driver exited unexpectedly ({status}); see drivers/producer-{}.log",
                self.producer
            );
            warn!(producer = self.producer, "{reason}");
            self.recorder.fatal(self.producer, reason);
        }
    }

    fn handle(&self, event: DriverEvent) -> Result<(), String> {
        match event {
            DriverEvent::Started {
                library,
                version,
                config,
                config_source,
            } => {
                if self.state() != State::Starting {
                    return Err("`started` twice".into());
                }
                let _ = self.effective.set(Effective {
                    source: config_source.unwrap_or_else(|| "driver".into()),
                    config,
                });
                info!(
                    producer = self.producer,
                    "driver started: {library} {version}"
                );
                self.set_state(State::Running);
            }
            DriverEvent::ConfigRejected { reason } => {
                self.recorder.config_rejected(self.producer, reason);
                self.set_state(State::Rejected);
            }
            DriverEvent::Ok {
                id,
                partition,
                offset,
            } => {
                let send = self.complete(id)?;
                self.recorder.ok(send, partition, offset);
            }
            DriverEvent::Fail {
                id,
                error,
                definite,
            } => {
                let send = self.complete(id)?;
                self.recorder.fail(send, error, definite);
                if let Some(resend) = &self.resend {
                    let _ = resend.send(send);
                }
            }
            DriverEvent::Session { pid, epoch } => self.recorder.session(self.producer, pid, epoch),
            DriverEvent::Fatal { error } => {
                self.recorder.fatal(self.producer, error);
                // Before `started` it means there is no producer (e.g. the library
                // could not bootstrap): nothing to wait for.
                let mut state = self.state.lock().unwrap();
                if *state == State::Starting {
                    *state = State::Gone;
                    self.state_changed.notify_all();
                }
            }
            DriverEvent::Closed => self.set_state(State::Gone),
        }
        Ok(())
    }

    fn complete(&self, id: u64) -> Result<SendKey, String> {
        self.open
            .lock()
            .unwrap()
            .remove(&id)
            .ok_or_else(|| format!("a completion for send {id}, which is not open"))
    }
}

/// Waits up to `grace` for the child to exit, then kills it; says how it ended.
fn reap(child: &mut Child, grace: Duration) -> String {
    let exit_by = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < exit_by => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return "it closed its output but did not exit, so it was killed".into();
            }
        }
    }
}

impl Client for Driver {
    fn send(&self, send: SendKey, record: Record<'_>) -> Result<(), Refused> {
        let process = &self.process;
        if process.state() != State::Running {
            process.recorder.fail(
                send,
                "the driver is not running; the send was never handed over".into(),
                true,
            );
            return Err(Refused::Rejected);
        }
        let id = process.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut open = process.open.lock().unwrap();
            if open.len() >= MAX_OPEN {
                return Err(Refused::Busy);
            }
            open.insert(id, send);
        }
        // Payloads and keys are ASCII without quotes or backslashes
        // (checker::payload), so they go into the JSON strings as they are.
        debug_assert!(record
            .value
            .iter()
            .chain(record.key.unwrap_or_default())
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'));
        let mut n = itoa::Buffer::new();
        let mut outbox = process.outbox.lock().unwrap();
        if outbox.shut {
            return Ok(()); // stopping: the send stays open, so indeterminate
        }
        let line = &mut outbox.bytes;
        line.extend_from_slice(b"{\"type\":\"send\",\"id\":");
        line.extend_from_slice(n.format(id).as_bytes());
        if let Some(partition) = send.partition {
            line.extend_from_slice(b",\"partition\":");
            line.extend_from_slice(n.format(partition).as_bytes());
        }
        if let Some(key) = record.key {
            line.extend_from_slice(b",\"key\":\"");
            line.extend_from_slice(key);
            line.push(b'"');
        }
        line.extend_from_slice(b",\"value\":\"");
        line.extend_from_slice(record.value);
        line.extend_from_slice(b"\"}\n");
        drop(outbox);
        process.outbox_ready.notify_one();
        Ok(())
    }

    fn close(&self, bound: Duration) {
        let process = &self.process;
        {
            let mut outbox = process.outbox.lock().unwrap();
            if !outbox.shut {
                let line = format!(
                    "{{\"type\":\"close\",\"timeout_ms\":{}}}\n",
                    bound.as_millis()
                );
                outbox.bytes.extend_from_slice(line.as_bytes());
                outbox.shut = true;
            }
        }
        process.outbox_ready.notify_all();
        let deadline = Instant::now() + bound + CLOSE_GRACE;
        if process.wait_while(
            State::Running,
            deadline.saturating_duration_since(Instant::now()),
        ) == State::Running
        {
            process.kill(format!(
                "the driver did not say `closed` within {}s of `close`",
                (bound + CLOSE_GRACE).as_secs()
            ));
        } else {
            // It said `closed` (or died): it gets a moment to exit on its own.
            reap(&mut process.child.lock().unwrap(), CLOSE_GRACE);
        }
    }

    /// A real crash: SIGKILL. Nothing the child held is reported; those sends stay
    /// indeterminate, as they would for an application that died.
    fn crash(&self) {
        self.process.set_state(State::Gone);
        self.process.stop_child();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.process.state() != State::Gone {
            self.process.set_state(State::Gone);
        }
        self.process.stop_child();
    }
}

#[cfg(test)]
mod tests {
    //! Misbehaving drivers, played by shell scripts: each must end up recorded,
    //! and none may hold the caller up.

    use checker::MessageId;

    use super::*;
    use crate::clients::{library::Library, registry::Resolved};

    const STARTED: &str = r#"echo '{"type":"started","library":"sh","version":"1"}'"#;

    struct Harnessed {
        driver: Option<Driver>,
        recorder: Arc<Recorder>,
        history: std::path::PathBuf,
    }

    impl Harnessed {
        fn history(&self) -> String {
            self.recorder.flush();
            std::fs::read_to_string(&self.history).unwrap()
        }

        fn send(&self) -> Result<(), Refused> {
            let send = SendKey {
                message: MessageId {
                    producer: 0,
                    index: 0,
                },
                attempt: 0,
                partition: Some(0),
            };
            let record = Record {
                key: None,
                value: b"eos1:0:0:0",
            };
            self.driver.as_ref().unwrap().send(send, record)
        }
    }

    fn start(name: &str, script: &str) -> Harnessed {
        let dir =
            std::env::temp_dir().join(format!("eoscheck-driver-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let history = dir.join("history.jsonl");
        let recorder = Recorder::create(&history, "t", Instant::now(), 1, None).unwrap();
        let installed = Installed {
            resolved: Resolved {
                library: Library::Java,
                version: "0".into(),
            },
            dir: dir.clone(),
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
        };
        let config = BTreeMap::from([("acks".to_owned(), "all".to_owned())]);
        let configure = Configure {
            protocol: PROTOCOL,
            bootstrap: "127.0.0.1:1",
            topic: "t",
            producer: 0,
            config: &config,
            tuning: &BTreeMap::new(),
        };
        let sinks = Sinks {
            recorder: recorder.clone(),
            resend: None,
            effective: Default::default(),
        };
        let driver = Driver::start(&installed, configure, &dir.join("drivers"), &sinks);
        Harnessed {
            driver,
            recorder,
            history,
        }
    }

    /// Waits for the reader thread to have recorded something.
    fn eventually(h: &Harnessed, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let history = h.history();
            if history.contains(text) || Instant::now() > deadline {
                return history;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_refusal_or_a_fatal_before_started_gives_no_producer() {
        let h = start(
            "rejected",
            r#"read l; echo '{"type":"config-rejected","reason":"in-flight 6"}'"#,
        );
        assert!(h.driver.is_none());
        assert!(h.history().contains(r#""type":"config-rejected""#));

        let h = start(
            "no-broker",
            r#"read l; echo '{"type":"fatal","error":"no broker"}'; sleep 30"#,
        );
        assert!(
            h.driver.is_none(),
            "a fatal before started ends the wait at once"
        );
        assert!(h.history().contains("no broker"));
    }

    #[test]
    fn garbage_on_stdout_is_a_protocol_error_and_later_sends_fail_definitely() {
        let h = start(
            "garbage",
            &format!("read l; {STARTED}; read l; echo 'hello'; sleep 30"),
        );
        assert!(h.send().is_ok());
        let history = eventually(&h, "protocol error");
        assert!(history.contains(r#""type":"producer-fatal""#), "{history}");
        assert!(history.contains("hello"), "the line is quoted: {history}");
        assert!(matches!(h.send(), Err(Refused::Rejected)));
        assert!(h.history().contains(r#""definite":true"#));
    }

    #[test]
    fn a_driver_that_dies_is_fatal_and_one_that_hangs_cannot_hold_up_close() {
        let h = start("dies", &format!("read l; {STARTED}; exit 3"));
        let history = eventually(&h, "exited unexpectedly");
        assert!(history.contains("exit status: 3"), "{history}");

        let h = start("mute", &format!("read l; {STARTED}; exec 1>&-; sleep 30"));
        let history = eventually(&h, "exited unexpectedly");
        assert!(
            history.contains("did not exit, so it was killed"),
            "{history}"
        );

        let h = start(
            "hangs",
            &format!("read l; {STARTED}; cat > /dev/null; sleep 30"),
        );
        assert!(h.send().is_ok());
        let started = Instant::now();
        h.driver.as_ref().unwrap().close(Duration::from_secs(1));
        assert!(started.elapsed() < Duration::from_secs(1) + CLOSE_GRACE + Duration::from_secs(2));
        assert!(h.history().contains("did not say `closed`"));
    }

    #[test]
    fn completions_are_recorded_and_unknown_ids_are_protocol_errors() {
        let h = start(
            "answers",
            &format!(
                r#"read l; {STARTED}; read l; echo '{{"type":"ok","id":0,"partition":0,"offset":41}}'; echo '{{"type":"ok","id":7,"partition":0,"offset":42}}'; sleep 30"#
            ),
        );
        assert!(h.send().is_ok());
        let history = eventually(&h, "protocol error");
        assert!(
            history.contains(r#""type":"ok""#) && history.contains(r#""o":41"#),
            "{history}"
        );
        assert!(history.contains("send 7, which is not open"), "{history}");
    }
}
