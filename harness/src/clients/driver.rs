//! A producer in another language: a child process speaking the driver protocol
//! (`drivers/PROTOCOL.md`), JSON lines on its stdin and stdout.
//!
//! Two threads per driver keep the workload from ever waiting on the child:
//! the workload appends `send` lines to an outbox and returns; a writer thread
//! moves the outbox into the pipe in bulk (one write for many sends); a reader
//! thread turns events into history entries. A child that dies, hangs on
//! start-up or prints garbage is recorded as `producer-fatal` and never holds up
//! the run: its open sends stay indeterminate.
//!
//! A transactional producer's `begin`, `commit` and `abort` go through the same
//! outbox, so they reach the driver in order with the sends around them; the
//! caller then waits for that call's `txn` answer, which the reader thread
//! hands over. A driver that does not answer in time is killed, like one that
//! hangs on start-up, and the call is fatal.

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
    history::TxnAction,
    ids::{Epoch, Offset, Partition, Producer, ProducerId},
    SendKey,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::{
    client::{Client, Refused, Sinks},
    client::{Effective, Record, TxnAnswer},
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
/// How long a driver may take to answer `begin`: a local step in every library.
const BEGIN_BOUND: Duration = Duration::from_secs(30);
/// How long past its `timeout_ms` a driver gets to answer `commit` or `abort`.
const TXN_GRACE: Duration = Duration::from_secs(5);

/// The version of drivers/PROTOCOL.md this harness speaks.
pub const PROTOCOL: u32 = 3;

/// The configuration name that makes a producer transactional.
pub const TRANSACTIONAL_ID: &str = "transactional.id";

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
    /// The answer to `begin`, `commit` or `abort`.
    Txn {
        call: Call,
        result: TxnResult,
        #[serde(default)]
        error: Option<String>,
    },
    Closed,
}

/// A transaction call, as the protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Call {
    Begin,
    Commit,
    Abort,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Begin => "begin",
            Call::Commit => "commit",
            Call::Abort => "abort",
        }
    }
}

impl From<TxnAction> for Call {
    fn from(end: TxnAction) -> Call {
        match end {
            TxnAction::Commit => Call::Commit,
            TxnAction::Abort => Call::Abort,
        }
    }
}

/// How a driver answered a transaction call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum TxnResult {
    Ok,
    Abortable,
    Retriable,
    Fatal,
    Fenced,
}

impl TxnResult {
    /// The answer on the client door; `error` is required unless `ok`.
    fn answer(self, error: Option<String>) -> Result<TxnAnswer, String> {
        let error = match (self, error) {
            (TxnResult::Ok, _) => return Ok(TxnAnswer::Ok),
            (_, Some(error)) => error,
            (result, None) => return Err(format!("a `{result:?}` txn answer without `error`")),
        };
        Ok(match self {
            TxnResult::Ok => unreachable!("answered above"),
            TxnResult::Abortable => TxnAnswer::Abortable(error),
            TxnResult::Retriable => TxnAnswer::Retriable(error),
            TxnResult::Fatal => TxnAnswer::Fatal {
                error,
                fenced: false,
            },
            TxnResult::Fenced => TxnAnswer::Fatal {
                error,
                fenced: true,
            },
        })
    }
}

/// The transaction call waiting for its answer, if any: at most one at a time.
#[derive(Default)]
struct TxnSlot(Option<(Call, Option<TxnAnswer>)>);

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
    /// Set when the configuration holds one: `started` is then its init.
    transactional_id: Option<String>,
    txn: Mutex<TxnSlot>,
    /// Signalled when a call is answered, and when the driver ends.
    txn_changed: Condvar,
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
        let transactional_id = configure.config.get(TRANSACTIONAL_ID).cloned();
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
            transactional_id,
            txn: Mutex::new(TxnSlot::default()),
            txn_changed: Condvar::new(),
        });
        process.clone().start_threads(stdin, stdout)?;
        process.await_started(installed)
    }
}

/// The driver process, its stderr appended to `producer-<N>.log` in `logs`.
fn spawn(installed: &Installed, logs: &Path, producer: Producer) -> std::io::Result<Child> {
    let log = logs.join(format!("producer-{producer}.log"));
    spawn_piped(&installed.program, &installed.args, &installed.dir, &log)
}

/// A protocol child: `program` with `args` in `dir`, its stdin and stdout
/// piped to eoscheck and its stderr appended to `log` (a driver's or a
/// processor's).
pub(super) fn spawn_piped(
    program: &Path,
    args: &[String],
    dir: &Path,
    log: &Path,
) -> std::io::Result<Child> {
    if let Some(folder) = log.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let log = OpenOptions::new().create(true).append(true).open(log)?;
    Command::new(program)
        .args(args)
        .current_dir(dir)
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
        self.wake_txn();
    }

    /// Wakes a caller waiting for a `txn` answer, to look at the state again.
    /// Taking the slot's lock orders this after the caller's last look.
    fn wake_txn(&self) {
        let _slot = self.txn.lock().unwrap();
        self.txn_changed.notify_all();
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
        // After the record: a waiting call's outcome comes after the reason.
        self.wake_txn();
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
        self.wake_txn();
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
                if let Some(id) = &self.transactional_id {
                    // A transactional driver says `started` once its init returned.
                    self.recorder.txn_init(self.producer, id.clone());
                }
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
            DriverEvent::Txn {
                call,
                result,
                error,
            } => {
                let answer = result.answer(error)?;
                let mut slot = self.txn.lock().unwrap();
                match &mut slot.0 {
                    Some((asked, waiting @ None)) if *asked == call => *waiting = Some(answer),
                    Some((asked, None)) => {
                        return Err(format!(
                            "an answer to `{}` while `{}` was asked",
                            call.name(),
                            asked.name()
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "an answer to `{}`, which was not asked",
                            call.name()
                        ))
                    }
                }
                self.txn_changed.notify_all();
            }
            DriverEvent::Closed => self.set_state(State::Gone),
        }
        Ok(())
    }

    /// Hands `line` (the command for `call`) over and waits up to `bound` for
    /// its answer. A driver that ends first, or does not answer in time (then
    /// it is killed), gives a fatal answer: the call's outcome is unknown.
    fn call(&self, call: Call, line: String, bound: Duration) -> TxnAnswer {
        let fatal = |error: String| TxnAnswer::Fatal {
            error,
            fenced: false,
        };
        let mut slot = self.txn.lock().unwrap();
        if let Some((asked, _)) = slot.0 {
            return fatal(format!(
                "`{}` was asked while `{}` still waited for its answer",
                call.name(),
                asked.name()
            ));
        }
        if self.state() != State::Running {
            return fatal(format!(
                "the driver is not running; `{}` was never handed over",
                call.name()
            ));
        }
        {
            let mut outbox = self.outbox.lock().unwrap();
            if outbox.shut {
                return fatal(format!(
                    "the driver is stopping; `{}` was never handed over",
                    call.name()
                ));
            }
            outbox.bytes.extend_from_slice(line.as_bytes());
        }
        self.outbox_ready.notify_one();
        slot.0 = Some((call, None));
        let deadline = Instant::now() + bound;
        loop {
            if let Some((_, Some(_))) = slot.0 {
                let (_, answer) = slot.0.take().expect("answered");
                return answer.expect("answered");
            }
            if self.state() != State::Running {
                slot.0 = None;
                return fatal(format!(
                    "the driver ended before it answered `{}`; see drivers/producer-{}.log",
                    call.name(),
                    self.producer
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                slot.0 = None;
                drop(slot);
                let reason = format!(
                    "the driver did not answer `{}` within {}s",
                    call.name(),
                    bound.as_secs_f64()
                );
                self.kill(reason.clone());
                return fatal(reason);
            }
            slot = self.txn_changed.wait_timeout(slot, left).unwrap().0;
        }
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

    fn begin(&self) -> Result<(), TxnAnswer> {
        let line = "{\"type\":\"begin\"}\n".to_owned();
        match self.process.call(Call::Begin, line, BEGIN_BOUND) {
            TxnAnswer::Ok => Ok(()),
            failed => Err(failed),
        }
    }

    /// `bound` is the driver's `timeout_ms`; it gets a little more to answer.
    fn end(&self, end: TxnAction, bound: Duration) -> TxnAnswer {
        let call = Call::from(end);
        let line = format!(
            "{{\"type\":\"{}\",\"timeout_ms\":{}}}\n",
            call.name(),
            bound.as_millis()
        );
        self.process.call(call, line, bound + TXN_GRACE)
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
        start_with(name, script, None)
    }

    /// A transactional driver, with `transactional.id` `eoscheck-t-0`.
    fn start_transactional(name: &str, script: &str) -> Harnessed {
        start_with(name, script, Some("eoscheck-t-0"))
    }

    fn start_with(name: &str, script: &str, transactional_id: Option<&str>) -> Harnessed {
        let dir =
            std::env::temp_dir().join(format!("eoscheck-driver-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let history = dir.join("history.jsonl");
        let recorder = Recorder::create(&history, "t", Instant::now(), 1, None, None).unwrap();
        let installed = Installed {
            resolved: Resolved {
                library: Library::Java,
                version: "0".into(),
            },
            dir: dir.clone(),
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
        };
        let mut config = BTreeMap::from([("acks".to_owned(), "all".to_owned())]);
        if let Some(id) = transactional_id {
            config.insert(TRANSACTIONAL_ID.to_owned(), id.to_owned());
        }
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

    /// A `txn` answer line for a shell script.
    fn answer(call: &str, result: &str, error: Option<&str>) -> String {
        match error {
            None => format!(r#"echo '{{"type":"txn","call":"{call}","result":"{result}"}}'"#),
            Some(e) => format!(
                r#"echo '{{"type":"txn","call":"{call}","result":"{result}","error":"{e}"}}'"#
            ),
        }
    }

    #[test]
    fn a_transactional_start_is_its_init_and_calls_get_their_answers_in_order_with_the_sends() {
        let h = start_transactional(
            "txn",
            &format!(
                "read l; echo \"$l\" > configure; {STARTED}; \
                 read l; echo \"$l\" > lines; {begin}; \
                 read l; echo \"$l\" >> lines; read l; echo \"$l\" >> lines; \
                 echo '{{\"type\":\"ok\",\"id\":0,\"partition\":0,\"offset\":7}}'; {commit}; \
                 read l; echo \"$l\" >> lines; {abort_fenced}; sleep 30",
                begin = answer("begin", "ok", None),
                commit = answer(
                    "commit",
                    "abortable",
                    Some("TransactionAbortableException: x")
                ),
                abort_fenced = answer("abort", "fenced", Some("ProducerFencedException: y")),
            ),
        );
        let driver = h.driver.as_ref().expect("started");
        let history = h.history();
        assert!(
            history.contains(r#""type":"txn-init""#)
                && history.contains(r#""producer":0,"transactional_id":"eoscheck-t-0""#),
            "{history}"
        );
        assert_eq!(driver.begin(), Ok(()));
        assert!(h.send().is_ok());
        assert_eq!(
            driver.end(TxnAction::Commit, Duration::from_millis(1500)),
            TxnAnswer::Abortable("TransactionAbortableException: x".into())
        );
        assert_eq!(
            driver.end(TxnAction::Abort, Duration::from_secs(2)),
            TxnAnswer::Fatal {
                error: "ProducerFencedException: y".into(),
                fenced: true
            }
        );
        let dir = std::env::temp_dir().join(format!("eoscheck-driver-txn-{}", std::process::id()));
        let configure = std::fs::read_to_string(dir.join("configure")).unwrap();
        assert!(configure.contains(r#""protocol":3"#), "{configure}");
        assert!(
            configure.contains(r#""transactional.id":"eoscheck-t-0""#),
            "{configure}"
        );
        let lines = std::fs::read_to_string(dir.join("lines")).unwrap();
        let types: Vec<&str> = lines
            .lines()
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                r#"{"type":"begin"}"#,
                r#"{"type":"send""#,
                r#"{"type":"commit""#,
                r#"{"type":"abort""#
            ],
            "{lines}"
        );
        assert!(
            lines.contains(r#"{"type":"commit","timeout_ms":1500}"#),
            "{lines}"
        );
        assert!(
            h.history().contains(r#""o":7"#),
            "the send's ok is recorded"
        );
    }

    #[test]
    fn a_plain_start_is_no_init() {
        let h = start("plain", &format!("read l; {STARTED}; sleep 30"));
        assert!(h.driver.is_some());
        assert!(!h.history().contains("txn-init"));
    }

    #[test]
    fn answers_that_were_not_asked_or_lack_an_error_are_protocol_errors() {
        let h = start_transactional(
            "unasked",
            &format!(
                "read l; {STARTED}; {}; sleep 30",
                answer("commit", "ok", None)
            ),
        );
        let history = eventually(&h, "protocol error");
        assert!(
            history.contains("`commit`, which was not asked"),
            "{history}"
        );

        let h = start_transactional(
            "wrong-call",
            &format!(
                "read l; {STARTED}; read l; {}; sleep 30",
                answer("abort", "ok", None)
            ),
        );
        let answer_to_commit = h
            .driver
            .as_ref()
            .unwrap()
            .end(TxnAction::Commit, Duration::from_secs(5));
        assert!(
            matches!(&answer_to_commit, TxnAnswer::Fatal { fenced: false, error } if error.contains("ended before it answered `commit`")),
            "{answer_to_commit:?}"
        );
        assert!(h
            .history()
            .contains("an answer to `abort` while `commit` was asked"));

        let h = start_transactional(
            "no-error",
            &format!(
                "read l; {STARTED}; read l; {}; sleep 30",
                answer("begin", "fatal", None)
            ),
        );
        assert!(h.driver.as_ref().unwrap().begin().is_err());
        assert!(h.history().contains("without `error`"));
    }

    #[test]
    fn a_driver_that_dies_or_stays_silent_gives_a_fatal_answer() {
        let h = start_transactional(
            "dies-in-commit",
            &format!("read l; {STARTED}; read l; exit 3"),
        );
        let started = Instant::now();
        let answer = h
            .driver
            .as_ref()
            .unwrap()
            .end(TxnAction::Commit, Duration::from_secs(30));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no wait for the bound"
        );
        assert!(
            matches!(&answer, TxnAnswer::Fatal { fenced: false, error } if error.contains("ended before")),
            "{answer:?}"
        );

        let h = start_transactional("silent", &format!("read l; {STARTED}; cat > /dev/null"));
        let driver = h.driver.as_ref().unwrap();
        let started = Instant::now();
        let answer = driver.end(TxnAction::Abort, Duration::from_millis(200));
        assert!(
            started.elapsed() < Duration::from_millis(200) + TXN_GRACE + Duration::from_secs(2)
        );
        assert!(
            matches!(&answer, TxnAnswer::Fatal { fenced: false, error } if error.contains("did not answer `abort`")),
            "{answer:?}"
        );
        assert!(h.history().contains(r#""type":"producer-fatal""#));
        assert!(
            matches!(driver.begin(), Err(TxnAnswer::Fatal { error, .. }) if error.contains("not running")),
            "a killed driver takes no more calls"
        );
    }

    #[test]
    fn a_crash_ends_a_waiting_call() {
        let h = start_transactional("crash", &format!("read l; {STARTED}; cat > /dev/null"));
        let driver = Arc::new(h.driver.unwrap());
        let waiting = {
            let driver = driver.clone();
            std::thread::spawn(move || driver.end(TxnAction::Commit, Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(200));
        driver.crash();
        let answer = waiting.join().unwrap();
        assert!(matches!(answer, TxnAnswer::Fatal { .. }), "{answer:?}");
    }
}
