//! Where eoscheck's log lines go: stderr for the person or CI job watching,
//! and, during a run, the run directory's `eoscheck.log` for later.
//!
//! - On a terminal, lines are drawn above the progress bar (each write
//!   suspends the bars of [`bars`] and redraws them after), so a fault's log
//!   line never lands inside the bar. Colour only on a terminal, never with
//!   `NO_COLOR` set: CI logs get plain text.
//! - `-q` shows warnings and errors only, `-v` debug lines, `-vv` trace;
//!   `RUST_LOG` overrides all of it.
//! - Client libraries talk a lot while faults are on (librdkafka warns of
//!   every broken connection): stderr gets only their errors, the run's
//!   `eoscheck.log` gets everything down to their warnings and eoscheck's own
//!   debug lines, and the run ends with a count of what stderr was spared
//!   ([`LibraryChatter::summary`]).
//! - What a command tells its reader (where the run is, its verdict) goes
//!   through [`say`]: stdout, or stderr when `--json` keeps stdout for one
//!   JSON object, printed last by [`print_json`], that a CI step can parse.

use std::{
    fs::File,
    io::{self, IsTerminal, Write},
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        LazyLock, Mutex,
    },
};

use indicatif::MultiProgress;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::{
    filter::{EnvFilter, LevelFilter},
    fmt::{self, MakeWriter},
    layer::{Context, SubscriberExt},
    util::SubscriberInitExt,
    Layer,
};

/// The targets whose lines are library chatter.
const LIBRARIES: [&str; 2] = ["librdkafka", "rdkafka"];

/// Every progress bar eoscheck draws; log lines are written above them.
static BARS: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);
/// The current run's `eoscheck.log`, while there is one.
static RUN_LOG: Mutex<Option<File>> = Mutex::new(None);
/// Library warnings kept from stderr since the run log was opened.
static SPARED: AtomicU64 = AtomicU64::new(0);
/// Whether stdout is kept for the one JSON object of `--json`.
static JSON: AtomicBool = AtomicBool::new(false);

/// Keeps stdout for one JSON object (`--json`): [`say`] writes to stderr.
pub fn json_output() {
    JSON.store(true, Relaxed);
}

/// Whether `--json` was asked.
pub fn is_json() -> bool {
    JSON.load(Relaxed)
}

/// A line for the reader: on stdout, or on stderr under `--json`; drawn
/// above the progress bars either way.
pub fn say(line: &str) {
    BARS.suspend(|| match is_json() {
        true => eprintln!("{line}"),
        false => println!("{line}"),
    });
}

/// The one JSON object of `--json`, as the last line of stdout.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// The bars log lines make room for: add every progress bar to it.
pub fn bars() -> &'static MultiProgress {
    &BARS
}

/// Sets up logging for the process. `verbosity` is `-v` count minus `-q`
/// count: below 0 warnings only, 1 debug, 2 and more trace.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let terminal = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},librdkafka=error,rdkafka=error")));
    let kept = EnvFilter::new("debug,librdkafka=warn,rdkafka=warn,bollard=info,hyper=info");
    let _ = tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(AboveBars)
                .with_ansi(colour())
                .with_filter(terminal),
        )
        .with(
            fmt::layer()
                .with_writer(RunLog)
                .with_ansi(false)
                .with_filter(kept),
        )
        .with(LibraryChatter.with_filter(LevelFilter::WARN))
        .try_init();
}

/// Colour on a terminal, unless `NO_COLOR` says otherwise (no-color.org:
/// set and not empty).
fn colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    io::stderr().is_terminal() && !no_color
}

/// Opens `path` as the run's log; later lines go there too.
pub fn open_run_log(path: &Path) -> io::Result<()> {
    let file = File::create(path)?;
    *RUN_LOG.lock().unwrap() = Some(file);
    SPARED.store(0, Relaxed);
    Ok(())
}

/// Closes the run's log.
pub fn close_run_log() {
    *RUN_LOG.lock().unwrap() = None;
}

/// stderr, written with the progress bars out of the way.
struct AboveBars;

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        BARS.suspend(|| io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for AboveBars {
    type Writer = AboveBars;

    fn make_writer(&'a self) -> AboveBars {
        AboveBars
    }
}

/// The run's `eoscheck.log`; lines outside a run go nowhere.
struct RunLog;

impl Write for RunLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = RUN_LOG.lock().unwrap().as_mut() {
            file.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match RUN_LOG.lock().unwrap().as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RunLog {
    type Writer = RunLog;

    fn make_writer(&'a self) -> RunLog {
        RunLog
    }
}

/// Counts the library warnings stderr does not show.
pub struct LibraryChatter;

impl LibraryChatter {
    /// What stderr was spared since the run log opened, in a sentence; none
    /// when nothing was.
    pub fn summary(run_log: &Path) -> Option<String> {
        let n = SPARED.load(Relaxed);
        (n > 0).then(|| {
            format!(
                "client libraries logged {n} warnings not shown here; all are in {}",
                run_log.display()
            )
        })
    }
}

impl<S: Subscriber> Layer<S> for LibraryChatter {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let library = LIBRARIES.iter().any(|t| meta.target().starts_with(t));
        if library && *meta.level() == Level::WARN {
            SPARED.fetch_add(1, Relaxed);
        }
    }
}
