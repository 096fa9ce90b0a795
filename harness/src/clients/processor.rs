//! A pipeline's processor: a child process speaking the processor part of
//! the driver protocol (`drivers/PROTOCOL.md`, "Processors"), JSON lines on
//! its stdin and stdout.
//!
//! The processor does the work on its own — poll, transform, produce, commit
//! — so the harness only configures it, reads what it says into the history
//! and ends it. One reader thread per process turns its events into
//! `proc-*` lines and, when the output ends, records how the instance ended
//! (`proc-stop`), once: closed when it said so, crashed when the nemesis
//! killed it, else how the process exited. A processor that cannot start is
//! recorded the same way and never holds up the run.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin},
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        mpsc, Arc, Mutex,
    },
    thread::JoinHandle,
    time::Duration,
};

use checker::{
    history::{Event, ProcResult},
    ids::{Offset, Partition, Processor, Txn},
};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::{
    driver::{spawn_piped, PROTOCOL},
    install::Installed,
    mutation::Mutation,
    preset::Processing,
};
use crate::recording::Recorder;

/// How long a processor may take to answer `configure` (a cold JVM).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// After `close`, how long past its own bound a processor gets to end.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// How a processor process starts.
#[derive(Debug, Clone)]
pub struct ProcessorCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Where it runs.
    pub dir: PathBuf,
}

/// The variable that names the eoscheck binary, for a process that is not
/// it (a test) and starts rdkafka's processors.
const EOSCHECK_EXE: &str = "EOSCHECK_EXE";

impl ProcessorCommand {
    /// The processor of the library `installed` is the driver of, or with
    /// none (rdkafka, linked in) eoscheck itself (`eoscheck processor`).
    pub fn of(installed: Option<&Installed>) -> std::io::Result<ProcessorCommand> {
        let Some(installed) = installed else {
            let program = match std::env::var_os(EOSCHECK_EXE) {
                Some(exe) => PathBuf::from(exe),
                None => std::env::current_exe()?,
            };
            return Ok(ProcessorCommand {
                program,
                args: vec!["processor".into()],
                dir: std::env::temp_dir(),
            });
        };
        let (program, args) = installed.processor_command();
        Ok(ProcessorCommand {
            program,
            args,
            dir: installed.dir.clone(),
        })
    }
}

/// What every processor of a run is given, the same for all slots.
#[derive(Debug, Clone)]
pub struct ProcessorSpec {
    pub bootstrap: String,
    pub input: String,
    pub output: String,
    pub group: String,
    pub processing: Processing,
    /// The producer settings (Kafka's names), and eoscheck's own.
    pub config: BTreeMap<String, String>,
    pub tuning: BTreeMap<String, String>,
    /// The consumer settings eoscheck sets (the group's session).
    pub consumer: BTreeMap<String, String>,
    /// Each slot's `transactional.id`, under exactly-once.
    pub transactional_ids: Vec<String>,
    /// The mistake eoscheck's own processor makes on purpose, if any.
    pub mutation: Option<Mutation>,
}

/// The first line a processor reads.
#[derive(Serialize)]
#[serde(tag = "type", rename = "configure")]
struct Configure<'a> {
    protocol: u32,
    role: &'static str,
    bootstrap: &'a str,
    processor: Processor,
    input: &'a str,
    output: &'a str,
    group: &'a str,
    transactional_id: Option<&'a str>,
    guarantee: &'static str,
    config: &'a BTreeMap<String, String>,
    consumer: &'a BTreeMap<String, String>,
    tuning: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mutation: Option<Mutation>,
}

/// What a processor prints.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum ProcessorEvent {
    Started {},
    ConfigRejected {
        reason: String,
    },
    Fatal {
        error: String,
    },
    Assigned {
        partitions: Vec<Partition>,
    },
    Revoked {
        partitions: Vec<Partition>,
    },
    Lost {
        partitions: Vec<Partition>,
    },
    Poll {
        n: Txn,
        records: Vec<(Partition, Offset, Offset)>,
    },
    Txn {
        n: Txn,
        result: ProcResult,
        #[serde(default)]
        offsets: Offsets,
        #[serde(default)]
        error: Option<String>,
    },
    /// At least once: the offset commit after the output was written.
    Commit {
        n: Txn,
        result: CommitResult,
        #[serde(default)]
        offsets: Offsets,
        #[serde(default)]
        error: Option<String>,
    },
    Seek {
        partition: Partition,
        offset: Offset,
    },
    Session {},
    Closed,
}

/// Next offsets by partition, as JSON has them: the keys are text (an
/// internally tagged enum cannot read them as numbers).
type Offsets = BTreeMap<String, Offset>;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum CommitResult {
    Ok,
    Failed,
}

/// An offset commit is the at-least-once processor's transaction: done, or
/// not (its output stays, its offsets do not).
impl From<CommitResult> for ProcResult {
    fn from(result: CommitResult) -> ProcResult {
        match result {
            CommitResult::Ok => ProcResult::Committed,
            CommitResult::Failed => ProcResult::Aborted,
        }
    }
}

/// One running processor instance.
pub struct ProcessorProcess {
    slot: Processor,
    child: Arc<Mutex<Child>>,
    stdin: Mutex<Option<ChildStdin>>,
    killed: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

/// What the reader thread needs besides the process's output.
struct Reading {
    slot: Processor,
    recorder: Arc<Recorder>,
    killed: Arc<AtomicBool>,
    child: Arc<Mutex<Child>>,
    transactional_id: Option<String>,
}

impl ProcessorProcess {
    /// Starts the processor of `slot` and waits until it says it started.
    /// Err says why it could not; the history has its `proc-stop` then.
    pub fn start(
        command: &ProcessorCommand,
        spec: &ProcessorSpec,
        slot: Processor,
        recorder: Arc<Recorder>,
        logs: &Path,
    ) -> Result<ProcessorProcess, String> {
        let mut child =
            spawn(command, logs, slot).map_err(|e| format!("starting processor {slot}: {e}"))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let transactional_id = spec.transactional_ids.get(slot as usize).cloned();
        let configure = Configure {
            protocol: PROTOCOL,
            role: "processor",
            bootstrap: &spec.bootstrap,
            processor: slot,
            input: &spec.input,
            output: &spec.output,
            group: &spec.group,
            transactional_id: transactional_id.as_deref(),
            guarantee: spec.processing.name(),
            config: &spec.config,
            consumer: &spec.consumer,
            tuning: &spec.tuning,
            mutation: spec.mutation,
        };
        // A processor that cannot read it says so on its output, or exits.
        let _ = write_line(&mut stdin, &configure);
        let child = Arc::new(Mutex::new(child));
        let killed = Arc::new(AtomicBool::new(false));
        let reading = Reading {
            slot,
            recorder,
            killed: killed.clone(),
            child: child.clone(),
            transactional_id,
        };
        let (started, on_start) = mpsc::channel();
        let reader = std::thread::Builder::new()
            .name(format!("processor-{slot}"))
            .spawn(move || reading.read(BufReader::new(stdout), started))
            .map_err(|e| e.to_string())?;
        let process = ProcessorProcess {
            slot,
            child,
            stdin: Mutex::new(Some(stdin)),
            killed,
            reader: Some(reader),
        };
        match on_start.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => Ok(process),
            Ok(Err(why)) => Err(why),
            Err(_) => {
                // Not the nemesis's doing: its end says how it exited.
                let _ = process.child.lock().unwrap().kill();
                drop(process);
                Err(format!(
                    "processor {slot} did not start within {}s",
                    START_TIMEOUT.as_secs()
                ))
            }
        }
    }

    /// Whether the instance has ended on its own (its output ended).
    pub fn ended(&self) -> bool {
        self.reader.as_ref().is_none_or(|r| r.is_finished())
    }

    fn send(&self, line: &impl Serialize) {
        let mut stdin = self.stdin.lock().unwrap();
        let Some(pipe) = stdin.as_mut() else { return };
        if let Err(e) = write_line(pipe, line) {
            debug!("processor {}: {e}", self.slot);
            *stdin = None;
        }
    }

    /// The nemesis's crash: SIGKILL, nothing flushed or committed.
    pub fn kill(mut self) {
        self.killed.store(true, Relaxed);
        let _ = self.child.lock().unwrap().kill();
        self.join();
    }

    /// Freezes (`true`) or thaws the process with SIGSTOP / SIGCONT.
    pub fn freeze(&self, frozen: bool) -> std::io::Result<()> {
        let mut child = self.child.lock().unwrap();
        // Only while it runs (held under the lock, so nothing reaps it
        // meanwhile): an exited child's pid may be another process's by now.
        // Thawing one that has exited is done already.
        if !matches!(child.try_wait(), Ok(None)) {
            return match frozen {
                true => Err(std::io::Error::other("the processor has exited")),
                false => Ok(()),
            };
        }
        let pid = child.id() as libc::pid_t;
        let signal = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) on our own running child's pid; no memory is involved.
        match unsafe { libc::kill(pid, signal) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    }

    /// Asks the processor to finish and close within `timeout`; kills it
    /// when it has not ended by then and a grace.
    pub fn close(mut self, timeout: Duration) {
        let _ = self.freeze(false);
        self.send(&serde_json::json!({
            "type": "close",
            "timeout_ms": timeout.as_millis() as u64,
        }));
        *self.stdin.lock().unwrap() = None;
        let deadline = std::time::Instant::now() + timeout + CLOSE_GRACE;
        while std::time::Instant::now() < deadline {
            if matches!(self.child.lock().unwrap().try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.lock().unwrap().kill();
        self.join();
    }

    fn join(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for ProcessorProcess {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.lock().unwrap().kill();
            self.join();
        }
    }
}

/// How an instance that ends itself after a transaction says why.
fn stopping(result: ProcResult) -> Option<&'static str> {
    match result {
        ProcResult::Fenced => Some("fenced"),
        ProcResult::Fatal => Some("fatal"),
        ProcResult::Unknown => Some("unknown"),
        ProcResult::Committed | ProcResult::Aborted => None,
    }
}

/// One protocol line into the processor's input.
fn write_line(pipe: &mut ChildStdin, line: &impl Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_string(line).expect("a protocol line serialises");
    text.push('\n');
    pipe.write_all(text.as_bytes())?;
    pipe.flush()
}

/// The processor process, its stderr appended to `processor-<N>.log` in
/// `logs`.
fn spawn(command: &ProcessorCommand, logs: &Path, slot: Processor) -> std::io::Result<Child> {
    let log = logs.join(format!("processor-{slot}.log"));
    spawn_piped(&command.program, &command.args, &command.dir, &log)
}

impl Reading {
    /// Every line into the history until the output ends, then the
    /// instance's end. `started` hears once whether it started.
    fn read(self, stdout: impl BufRead, started: mpsc::Sender<Result<(), String>>) {
        let mut closed = false;
        let mut fatal = None;
        let mut started = Some(started);
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            let event = match serde_json::from_str::<ProcessorEvent>(&line) {
                Ok(event) => event,
                Err(e) => {
                    warn!("processor {}: {e}: {line}", self.slot);
                    fatal = Some(format!("printed what the protocol does not know: {line}"));
                    break;
                }
            };
            match event {
                ProcessorEvent::Started {} => {
                    let transactional_id = self.transactional_id.clone();
                    let proc = self.slot;
                    self.recorder.processor(|time| Event::ProcStart {
                        time,
                        proc,
                        transactional_id,
                    });
                    if let Some(s) = started.take() {
                        let _ = s.send(Ok(()));
                    }
                }
                ProcessorEvent::ConfigRejected { reason } => {
                    fatal = Some(format!("config-rejected: {reason}"));
                }
                ProcessorEvent::Fatal { error } => {
                    fatal.get_or_insert(format!("fatal: {error}"));
                }
                ProcessorEvent::Closed => closed = true,
                event => {
                    // A processor whose transaction it cannot go on from
                    // ends itself: that, not its closing, is why.
                    if let ProcessorEvent::Txn { result, error, .. } = &event {
                        if let Some(word) = stopping(*result) {
                            let error = error.as_deref().unwrap_or_default();
                            fatal.get_or_insert(format!("{word}: {error}"));
                        }
                    }
                    self.record(event)
                }
            }
        }
        let why = self.ending(closed, fatal);
        if let Some(s) = started.take() {
            let _ = s.send(Err(format!("processor {}: {why}", self.slot)));
        }
        let proc = self.slot;
        self.recorder
            .processor(|time| Event::ProcStop { time, proc, why });
    }

    /// How the instance ended, once its output has.
    fn ending(&self, closed: bool, fatal: Option<String>) -> String {
        if self.killed.load(Relaxed) {
            return "crashed: killed by the nemesis".into();
        }
        if let Some(fatal) = fatal {
            return fatal;
        }
        if closed {
            return "closed".into();
        }
        let status = self.child.lock().unwrap().try_wait();
        match status {
            Ok(Some(status)) => format!("exited: {status}"),
            _ => "closed its output".into(),
        }
    }

    /// How a transaction (at least once: an offset commit) ended.
    fn ended(&self, txn: Txn, result: ProcResult, offsets: Offsets, error: Option<String>) {
        let proc = self.slot;
        let offsets = offsets.into_iter().filter_map(|(p, o)| match p.parse() {
            Ok(p) => Some((p, o)),
            Err(_) => {
                warn!("processor {proc}: offsets of {p:?}, which names no partition");
                None
            }
        });
        let offsets = offsets.collect();
        self.recorder.processor(|time| Event::ProcCommit {
            time,
            proc,
            txn,
            result,
            offsets,
            error,
        })
    }

    /// One event of a running processor into the history.
    fn record(&self, event: ProcessorEvent) {
        let proc = self.slot;
        let lost = matches!(event, ProcessorEvent::Lost { .. });
        match event {
            ProcessorEvent::Assigned { partitions } => {
                self.recorder.processor(|time| Event::ProcAssign {
                    time,
                    proc,
                    partitions,
                })
            }
            ProcessorEvent::Revoked { partitions } | ProcessorEvent::Lost { partitions } => {
                self.recorder.processor(|time| Event::ProcRevoke {
                    time,
                    proc,
                    partitions,
                    lost,
                })
            }
            ProcessorEvent::Poll { n, records } => {
                self.recorder.processor(|time| Event::ProcPoll {
                    time,
                    proc,
                    txn: n,
                    records,
                })
            }
            ProcessorEvent::Txn {
                n,
                result,
                offsets,
                error,
            } => self.ended(n, result, offsets, error),
            ProcessorEvent::Commit {
                n,
                result,
                offsets,
                error,
            } => self.ended(n, result.into(), offsets, error),
            ProcessorEvent::Seek { partition, offset } => {
                self.recorder.processor(|time| Event::ProcSeek {
                    time,
                    proc,
                    partition,
                    offset,
                })
            }
            ProcessorEvent::Session {}
            | ProcessorEvent::Started {}
            | ProcessorEvent::ConfigRejected { .. }
            | ProcessorEvent::Fatal { .. }
            | ProcessorEvent::Closed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line drivers/PROTOCOL.md shows a processor printing is read,
    /// the offsets' text keys included.
    #[test]
    fn every_documented_event_parses() {
        for line in [
            r#"{"type":"started","library":"kafka-clients","version":"4.4.0","config":{}}"#,
            r#"{"type":"config-rejected","reason":"no"}"#,
            r#"{"type":"fatal","error":"gone"}"#,
            r#"{"type":"session","pid":1,"epoch":3}"#,
            r#"{"type":"assigned","partitions":[0,2]}"#,
            r#"{"type":"revoked","partitions":[0]}"#,
            r#"{"type":"lost","partitions":[2]}"#,
            r#"{"type":"poll","n":7,"records":[[0,100,104],[2,50,50]]}"#,
            r#"{"type":"txn","n":7,"result":"fenced","offsets":{"0":105,"2":51},"error":"x"}"#,
            r#"{"type":"commit","n":7,"result":"ok","offsets":{"0":105}}"#,
            r#"{"type":"seek","partition":0,"offset":105}"#,
            r#"{"type":"closed"}"#,
        ] {
            serde_json::from_str::<ProcessorEvent>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let txn = r#"{"type":"txn","n":7,"result":"committed","offsets":{"0":105,"2":51}}"#;
        let ProcessorEvent::Txn { offsets, .. } = serde_json::from_str(txn).unwrap() else {
            panic!("a txn line is a txn");
        };
        assert_eq!(offsets, [("0".into(), 105), ("2".into(), 51)].into());
    }
}
