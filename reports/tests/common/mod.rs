//! Run directories for the tests: a synthetic run from `checker::synth`,
//! retimed to look like a real minute of traffic (latencies that vary and
//! climb while a leader is down, timeouts for indeterminate sends), with
//! extra nemesis intervals (one of them a fault this build does not know),
//! leader changes, broker logs and a hand-written run.json; checked by the
//! real checker so results.json is exactly what the harness would store.

#![allow(dead_code)] // each test binary uses a different part

use checker::history::{Event, Nanos};
use checker::synth::{self, Injection, SynthConfig};
use checker::{Asked, Checker, Guarantee, Options, Results};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

const SECOND: Nanos = 1_000_000_000;
/// The workload starts after 14.2 s of setup, as in run.json's phases.
const WORKLOAD_START: Nanos = 14_200_000_000;
const WORKLOAD_LENGTH: Nanos = 60 * SECOND;
const LEADER_DOWN: (Nanos, Nanos) = (WORKLOAD_START + 26 * SECOND, WORKLOAD_START + 32 * SECOND);

/// What a test run looks like.
pub struct Spec {
    pub id: &'static str,
    pub started: &'static str,
    pub messages: u64,
    pub inject: Vec<Injection>,
    /// Leave the last partition unread, so the verdict is `unknown`.
    pub unread_partition: bool,
    /// Fault kinds the run asked for and planned besides the two its history
    /// exercises.
    pub also_planned: &'static [&'static str],
    /// Fault kinds the run asked for that its schedule did not draw.
    pub unplanned: &'static [&'static str],
}

impl Spec {
    pub fn clean(id: &'static str, messages: u64) -> Spec {
        Spec {
            id,
            started: "2026-11-23T19:33:15Z",
            messages,
            inject: Vec::new(),
            unread_partition: false,
            also_planned: &[],
            unplanned: &[],
        }
    }

    /// A run with six kinds of anomaly in it.
    pub fn broken(id: &'static str, messages: u64) -> Spec {
        let inject = vec![
            Injection::Lost,
            Injection::Duplicate(checker::anomaly::DuplicateCause::EpochBump),
            Injection::Reorder,
            Injection::SequenceGap,
            Injection::Phantom,
            Injection::TornTransaction,
        ];
        Spec {
            inject,
            ..Spec::clean(id, messages)
        }
    }
}

/// Writes the run directory `runs_dir/<id>` and returns it with its results.
pub fn write_run(runs_dir: &Path, spec: &Spec) -> (PathBuf, Results) {
    let run = synth::generate(&SynthConfig {
        inject: spec.inject.clone(),
        ..SynthConfig::clean(7, spec.messages)
    })
    .expect("a valid synthetic configuration");
    let events = realistic(&run);
    let mut options = Options::new(Guarantee::parse_list("exactly-once,order").unwrap());
    let names = |list: &[&str]| list.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    let planned = names(&[&["ack-loss", "kill-leader"], spec.also_planned].concat());
    options.asked = Some(Asked {
        faults: [planned.clone(), names(spec.unplanned)].concat(),
        planned,
        rate: 1000,
        seconds: 60.0,
    });
    let mut checker = Checker::new(options);
    for event in &events {
        checker.observe(event).expect("a consistent history");
    }
    checker.begin_log(&run.manifest);
    let read = run.manifest.partitions.len() - usize::from(spec.unread_partition);
    for (entry, bytes) in run.manifest.partitions.iter().zip(&run.logs).take(read) {
        checker
            .read_partition(entry, bytes.clone())
            .expect("a readable log");
    }
    let results = checker.finish();

    let dir = runs_dir.join(spec.id);
    fs::create_dir_all(dir.join("nodes")).unwrap();
    let history: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    fs::write(dir.join("history.jsonl"), history).unwrap();
    fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
    fs::write(dir.join("run.json"), run_json(spec.id, spec.started)).unwrap();
    fs::write(dir.join("leaders.jsonl"), leaders()).unwrap();
    for node in 1..=3 {
        fs::write(
            dir.join(format!("nodes/kafka-{node}.log")),
            "[kafka] started\n",
        )
        .unwrap();
    }
    (dir, results)
}

/// The synthetic history on a real run's clock, with varied latencies and
/// more faults; still in causal order, so the checker takes it as it is.
fn realistic(run: &synth::SynthRun) -> Vec<Event> {
    let mut events = Vec::new();
    run.for_each_event(|e| events.push(e.clone()));
    // Moved: the end line stays last.
    events.retain(|e| !matches!(e, Event::End { .. }));
    let last = events.iter().filter_map(time).max().unwrap_or(1).max(1);
    let at = |t: Nanos| WORKLOAD_START + (t as f64 / last as f64 * WORKLOAD_LENGTH as f64) as Nanos;
    let mut invoked = HashMap::new();
    for event in events.iter_mut() {
        match event {
            Event::Invoke {
                time,
                message,
                attempt,
                ..
            } => {
                *time = at(*time);
                invoked.insert((*message, *attempt), *time);
            }
            Event::Ok {
                time,
                message,
                attempt,
                ..
            }
            | Event::Fail {
                time,
                message,
                attempt,
                ..
            } => {
                let start = invoked[&(*message, *attempt)];
                *time = start + latency(start, message.producer, message.index);
            }
            Event::Info {
                time,
                message,
                attempt,
                ..
            } => {
                *time =
                    invoked[&(*message, *attempt)] + 5 * SECOND + message.index % 1000 * 1_000_000;
            }
            Event::Header { .. } | Event::End { .. } => {}
            other => *other = moved(other, &at),
        }
    }
    let fault = synth::fault_event;
    events.extend([
        fault(true, LEADER_DOWN.0, "kill-leader", "kafka-1"),
        fault(false, LEADER_DOWN.1, "kill-leader", "kafka-1"),
        fault(true, WORKLOAD_START + 50 * SECOND, "cosmic-ray", "kafka-3"),
        fault(false, WORKLOAD_START + 53 * SECOND, "cosmic-ray", "kafka-3"),
    ]);
    // Stable: the header stays first and same-time events keep their order.
    events.sort_by_key(|e| time(e).unwrap_or(0));
    let end = events.iter().filter_map(time).max().unwrap_or(0) + 1;
    events.push(Event::End { time: end });
    events
}

/// The event at `at` its time: every event but the header carries it as `t`.
fn moved(event: &Event, at: &dyn Fn(Nanos) -> Nanos) -> Event {
    let mut line = serde_json::to_value(event).unwrap();
    line["t"] = at(event.time().unwrap()).into();
    serde_json::from_value(line).unwrap()
}

fn time(e: &Event) -> Option<Nanos> {
    e.time()
}

/// A few milliseconds, now and then tens; up to seconds while the leader is down.
fn latency(invoked: Nanos, producer: u32, index: u64) -> Nanos {
    let mut z = (u64::from(producer) << 40 ^ index).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let u = (z >> 11) as f64 / (1u64 << 53) as f64;
    let ms = if (LEADER_DOWN.0..LEADER_DOWN.1).contains(&invoked) {
        200.0 + 2800.0 * u
    } else if u > 0.98 {
        20.0 + 4000.0 * (u - 0.98)
    } else {
        1.0 + 4.0 * u
    };
    (ms * 1e6) as Nanos
}

fn leaders() -> String {
    let line =
        |t: Nanos, p: i32, l: i32| format!("{{\"time\":{t},\"partition\":{p},\"leader\":{l}}}\n");
    let mut out: String = (0..3)
        .map(|p| line(WORKLOAD_START - SECOND, p, p + 1))
        .collect();
    out += &line(LEADER_DOWN.0 + 10_000_000, 0, -1);
    out += &line(LEADER_DOWN.0 + 400_000_000, 0, 2);
    out += &line(LEADER_DOWN.1 + 5 * SECOND, 0, 1);
    out
}

/// Writes a synthetic pipeline run (its processors' lanes, a rebalance, and
/// `planted` if any) as `runs_dir/<id>`, checked by the real checker.
pub fn write_pipeline_run(
    runs_dir: &Path,
    id: &str,
    planted: Option<synth::PipelineInjection>,
) -> (PathBuf, Results) {
    let run = synth::pipeline(3, planted);
    let results = run
        .check(Options::new(Guarantee::ALL.to_vec()))
        .expect("a consistent pipeline");
    let dir = runs_dir.join(id);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("history.jsonl"), &run.history).unwrap();
    fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
    fs::write(dir.join("run.json"), run_json(id, "2026-12-01T23:00:00Z")).unwrap();
    (dir, results)
}

fn run_json(id: &str, started: &str) -> String {
    format!(
        r#"{{
  "format": 1,
  "id": "{id}",
  "started": "{started}",
  "preset": "idempotent",
  "guarantees": ["no-loss", "no-duplicates", "order"],
  "client": {{"name": "rdkafka", "version": "0.39.0 (librdkafka 2.12.0)"}},
  "producer_settings": {{"enable.idempotence": "true", "acks": "all", "retries": "2147483647", "max.in.flight.requests.per.connection": "5"}},
  "kafka_version": "4.4.0",
  "image": "eoscheck/kafka:4.4.0",
  "topic": "eoscheck",
  "seed": 1,
  "time_limit_s": 60.0,
  "rate": 1000,
  "producers": 4,
  "partitions": 3,
  "message_size": 32,
  "nemesis": {{"config": {{"faults": ["ack-loss", "kill-leader"], "seed": 1, "time_limit": 60.0, "quiet": 5.0}},
              "steps": [{{"at": 26.0, "action": "start", "fault": "kill-leader"}}, {{"at": 32.0, "action": "stop", "fault": "kill-leader"}}]}},
  "kept": [{{"fault": "kill-leader", "action": "start", "planned_s": 26.0, "done_s": 35.4, "note": null}},
           {{"fault": "kill-leader", "action": "stop", "planned_s": 32.0, "done_s": 41.4, "note": null}},
           {{"fault": "ack-loss", "action": "start", "planned_s": 50.0, "done_s": null, "note": "no room left in the time limit"}}],
  "phases": [{{"name": "setup", "start_s": 0.0, "end_s": 14.2}}, {{"name": "workload", "start_s": 14.2, "end_s": 74.2}}],
  "final_read": {{"fetched_bytes": 1848300000, "stored_bytes": 1200000, "storage": "zstd"}},
  "outcome": {{"exit_code": 1, "verdict": "invalid", "error": null}},
  "a_field_from_the_future": {{"ignored": true}}
}}"#
    )
}

/// `xml` (a junit.xml) validates against the JUnit schema Jenkins uses
/// (`tests/schemas/junit-10.xsd`), as `xmllint` judges it.
#[allow(dead_code)] // only the JUnit tests use it
pub fn assert_valid_junit(xml: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit-10.xsd");
    let checked = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(xml)
        .output()
        .expect("xmllint (Debian's libxml2-utils; ./scripts/test installs it)");
    assert!(
        checked.status.success(),
        "{} does not validate against the JUnit schema:\n{}",
        xml.display(),
        String::from_utf8_lossy(&checked.stderr)
    );
}
