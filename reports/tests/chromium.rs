//! The report as a browser sees it: Debian's headless Chromium opens a real
//! report from a file:// URL, and we check that the charts were drawn (the
//! DOM after rendering holds non-empty SVGs), that the console stayed silent,
//! and leave a screenshot beside the report for a person to look at:
//! `<target>/tmp/reports-chromium/20261123T193315-e1aa/report.png`.
//!
//! Console messages reach us through Chromium's own logging
//! (`--enable-logging=stderr`), which prints every console message and
//! uncaught error as an `INFO:CONSOLE` line; a control page with a broken
//! script proves that the detection works.

mod common;

use common::{write_run, Spec};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[test]
fn chromium_draws_the_charts_without_console_errors() {
    let chromium = chromium();
    let runs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reports-chromium");
    let _ = std::fs::remove_dir_all(&runs);
    let (dir, _) = write_run(&runs, &Spec::broken("20261123T193315-e1aa", 10_000));
    let report = reports::write_all(&dir)
        .unwrap()
        .report
        .canonicalize()
        .unwrap();
    let url = format!("file://{}", report.display());

    let rendered = open(&chromium, &url, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&rendered.stdout);
    let svgs: Vec<&str> = dom
        .split("<svg")
        .skip(1)
        .map(|s| &s[..s.find("</svg>").expect("closed svg")])
        .collect();
    assert_eq!(
        svgs.len(),
        4,
        "latency, throughput, transactions and leadership charts in the rendered DOM"
    );
    for svg in &svgs {
        let marks = ["<rect", "<circle", "<polyline", "<polygon"]
            .iter()
            .map(|m| svg.matches(m).count())
            .sum::<usize>();
        assert!(
            marks > 20 && svg.matches("<text").count() > 5,
            "an SVG with {marks} marks: {}",
            &svg[..200]
        );
    }
    assert!(dom.contains("<strong>INVALID</strong>"));
    assert_eq!(console_messages(&rendered), Vec::<String>::new());

    let png = dir.join("report.png");
    let shot = open(
        &chromium,
        &url,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,3000",
        ],
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 50_000,
        "{} bytes",
        bytes.len()
    );
    assert_eq!(console_messages(&shot), Vec::<String>::new());
}

#[test]
fn chromium_draws_the_comparison_page() {
    let chromium = chromium();
    let runs = tempfile::tempdir().unwrap();
    let (run, _) = write_run(runs.path(), &Spec::broken("20261123T193315-e1aa", 1_000));
    reports::write_all(&run).unwrap();
    let dir = runs.path().join("compare-20261123T193300-c0de");
    std::fs::create_dir(&dir).unwrap();
    let compare = reports::Compare {
        format: 1,
        id: "20261123T193300-c0de".into(),
        started: "2026-11-23T19:33:00Z".into(),
        seed: 1,
        nemesis: vec!["ack-loss".into()],
        time_limit_s: 60.0,
        kafka_version: None,
        clients: vec!["rdkafka@0.39".into()],
        presets: vec!["idempotent".into(), "inflight-6".into()],
        cells: vec![reports::Cell {
            client: "rdkafka@0.39".into(),
            preset: "idempotent".into(),
            run: "../20261123T193315-e1aa".into(),
            exit_code: 1,
            summary: Some(reports::summarize(&run).unwrap()),
        }],
        shards: Vec::new(),
    };
    std::fs::write(
        dir.join("compare.json"),
        serde_json::to_string(&compare).unwrap(),
    )
    .unwrap();
    let page = reports::write_compare(&dir).unwrap();

    let rendered = open(
        &chromium,
        &format!("file://{}", page.display()),
        &["--dump-dom"],
    );
    let dom = String::from_utf8_lossy(&rendered.stdout);
    assert_eq!(dom.matches("<svg").count(), 1, "the throughput chart");
    assert!(dom.contains("v-invalid") && dom.contains(">—</td>"));
    assert_eq!(console_messages(&rendered), Vec::<String>::new());
}

#[test]
fn console_errors_would_be_seen() {
    let chromium = chromium();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<html><body><p>x</p><script>no_such_function()</script></body></html>",
    )
    .unwrap();
    let rendered = open(
        &chromium,
        &format!("file://{}", page.display()),
        &["--dump-dom"],
    );
    let messages = console_messages(&rendered);
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Uncaught ReferenceError")),
        "{messages:?}"
    );
}

/// Runs headless Chromium on `url` with a fresh profile and no network
/// chatter of its own; gives up after a minute.
fn open(chromium: &Path, url: &str, extra: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("timeout")
        .arg("60")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The console messages and uncaught errors Chromium logged.
fn console_messages(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect()
}

/// Debian's Chromium, installed when missing (the tests run as root), by
/// one test at a time: two apt-gets at once fight over dpkg's lock.
fn chromium() -> PathBuf {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let installed = || which("chromium");
    if let Some(path) = installed() {
        return path;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
    };
    if !install().is_ok_and(|s| s.success()) {
        let updated = Command::new("apt-get")
            .arg("update")
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            updated && install().is_ok_and(|s| s.success()),
            "cannot install Debian's chromium with apt-get"
        );
    }
    installed().expect("chromium on PATH after installing it")
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}
