//! `junit.xml`: the verdict in the form CI systems already display. One test
//! case per promised guarantee and one per anomaly kind; a broken promise
//! fails with the kind's one-sentence explanation and the first example, so
//! the CI page alone says what went wrong. A run that could not establish
//! its answer makes the guarantees `error` (not `failure`): nothing was
//! shown broken, but nothing was shown to hold either. One more case per
//! requested fault kind fails when that kind never took effect.

use crate::examples::{findings, KindFinding};
use crate::markup::escape;
use crate::run_info::RunInfo;
use checker::{Results, Validity};

/// What one test case says.
enum Verdict {
    Passed(Option<String>),
    Failed { message: String, detail: String },
    Errored { message: String, detail: String },
    Skipped(String),
}

struct Case {
    class: &'static str,
    name: String,
    verdict: Verdict,
}

/// The JUnit XML of a run.
pub fn render_junit(info: &RunInfo, results: &Results) -> String {
    document(&[Suite {
        info,
        cases: run_cases(results),
    }])
}

/// The JUnit XML of several runs (a comparison's cells), one suite each;
/// a run without results (refused, or broken off) is one errored case.
pub fn render_junit_runs(runs: &[(RunInfo, Result<Results, String>)]) -> String {
    let suites: Vec<Suite> = runs
        .iter()
        .map(|(info, results)| Suite {
            info,
            cases: match results {
                Ok(results) => run_cases(results),
                Err(why) => vec![Case {
                    class: "run",
                    name: "run".into(),
                    verdict: Verdict::Errored {
                        message: "the run has no results".into(),
                        detail: why.clone(),
                    },
                }],
            },
        })
        .collect();
    document(&suites)
}

/// A run's cases: its guarantees, the anomaly kinds, the faults asked.
fn run_cases(results: &Results) -> Vec<Case> {
    let kinds = findings(&results.anomalies);
    let mut cases: Vec<Case> = results
        .guarantees
        .iter()
        .map(|g| {
            let breaking: Vec<&KindFinding> = kinds
                .iter()
                .filter(|k| k.count > 0 && k.violates.contains(g))
                .collect();
            let verdict = match (results.violated.contains(g), results.valid) {
                (true, _) => Verdict::Failed {
                    message: format!(
                        "{g} violated: {}",
                        breaking
                            .iter()
                            .map(|k| format!("{} {}", k.count, k.kind))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    detail: breaking
                        .iter()
                        .map(|k| explain(k))
                        .collect::<Vec<_>>()
                        .join("\n\n"),
                },
                (false, Validity::Unknown) => Verdict::Errored {
                    message: format!("{g}: the run could not establish the answer"),
                    detail: results.unknown_reasons.join("\n"),
                },
                (false, _) => Verdict::Passed(None),
            };
            Case {
                class: "guarantees",
                name: g.name().to_string(),
                verdict,
            }
        })
        .collect();
    cases.extend(kinds.iter().map(|k| {
        let promised: Vec<_> = k
            .violates
            .iter()
            .filter(|g| results.guarantees.contains(g))
            .collect();
        let verdict = match (k.count, promised.is_empty()) {
            (0, _) => Verdict::Passed(None),
            (n, true) => Verdict::Passed(Some(format!(
                "{n} found; {} breaks only guarantees this run did not promise.\n{}",
                k.kind,
                explain(k)
            ))),
            (n, false) => Verdict::Failed {
                message: format!("{n} {} found", k.kind),
                detail: explain(k),
            },
        };
        Case {
            class: "anomalies",
            name: k.kind.name().to_string(),
            verdict,
        }
    }));
    cases.extend(fault_cases(results));
    cases
}

/// One case per requested fault kind: it fails when the schedule planned the
/// kind and it never took effect (the run tested less than it was asked to),
/// with what the nemesis said about each try, and is skipped when this run's
/// schedule had no room for it. The verdict, and so the exit code, stays the
/// data's.
fn fault_cases(results: &Results) -> impl Iterator<Item = Case> + '_ {
    let tested = &results.tested;
    tested.faults_requested.iter().map(move |fault| {
        let verdict = if !tested.faults_planned.contains(fault) {
            Verdict::Skipped(format!(
                "{fault} is not in this run's schedule; a longer --time-limit reaches every kind"
            ))
        } else if tested.faults_not_exercised.contains(fault) {
            let tries: Vec<String> = results
                .findings
                .nemesis_failed
                .iter()
                .filter(|n| &n.fault == fault)
                .map(|n| n.error.clone())
                .collect();
            Verdict::Failed {
                message: format!("{fault} was requested but never took effect"),
                detail: match tries.is_empty() {
                    true => "the schedule never came to it".into(),
                    false => tries.join("\n"),
                },
            }
        } else {
            Verdict::Passed(None)
        };
        Case {
            class: "faults",
            name: fault.clone(),
            verdict,
        }
    })
}

/// A kind's definition and its first example, for a failure's body.
fn explain(k: &KindFinding) -> String {
    let example = k.examples.first().map_or(String::new(), |e| {
        format!("\nFirst example: {}", e.explanation)
    });
    format!("{} ({} found): {}{example}", k.kind, k.count, k.explanation)
}

/// The runs' suites in one document: one run's `junit.xml`, or a
/// comparison's, every cell a suite.
fn document(suites: &[Suite]) -> String {
    let total = |count: fn(&Suite) -> usize| suites.iter().map(count).sum::<usize>();
    let time: f64 = suites.iter().filter_map(|s| s.info.duration_s()).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"eoscheck\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{time:.3}\">\n",
        total(|s| s.cases.len()),
        total(|s| s.count(|v| matches!(v, Verdict::Failed { .. }))),
        total(|s| s.count(|v| matches!(v, Verdict::Errored { .. }))),
    );
    for suite in suites {
        out += &suite.render();
    }
    out + "</testsuites>\n"
}

/// One run as a test suite. Its cases' class names carry the run's client,
/// preset and Kafka version, so that the cases of several runs gathered in
/// one CI page (a comparison's cells, tonight's and last night's) never
/// share a name: GitLab keeps only the first of cases named alike.
struct Suite<'a> {
    info: &'a RunInfo,
    cases: Vec<Case>,
}

impl Suite<'_> {
    fn count(&self, what: fn(&Verdict) -> bool) -> usize {
        self.cases.iter().filter(|c| what(&c.verdict)).count()
    }

    fn render(&self) -> String {
        let info = self.info;
        let label = info.label();
        let mut out = format!(
            "<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"{}{}>\n<properties>\n",
            escape(&format!("eoscheck {} {label}", info.id.as_deref().unwrap_or("run"))),
            self.cases.len(),
            self.count(|v| matches!(v, Verdict::Failed { .. })),
            self.count(|v| matches!(v, Verdict::Errored { .. })),
            self.count(|v| matches!(v, Verdict::Skipped(_))),
            info.duration_s().map_or(String::new(), |t| format!(" time=\"{t:.3}\"")),
            timestamp(info).map_or(String::new(), |t| format!(" timestamp=\"{t}\"")),
        );
        let properties = [
            ("preset", info.preset.clone()),
            ("client", info.client.as_ref().map(|c| c.to_string())),
            ("kafka_version", info.kafka_version.clone()),
            ("seed", info.seed.map(|s| s.to_string())),
            ("faults", Some(info.faults().join(","))),
        ];
        for (name, value) in properties {
            if let Some(value) = value {
                out += &format!("<property name=\"{name}\" value=\"{}\"/>\n", escape(&value));
            }
        }
        out += "</properties>\n";
        for case in &self.cases {
            out += &render_case(&label, case);
        }
        out + "</testsuite>\n"
    }
}

/// The run's start as JUnit readers parse it: `2026-11-23T19:33:15`, UTC,
/// no fraction and no zone (Ant's pattern).
fn timestamp(info: &RunInfo) -> Option<String> {
    let started = info.started.as_deref()?;
    let whole = started.get(..19)?;
    whole
        .chars()
        .enumerate()
        .all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == 'T',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        })
        .then(|| whole.to_owned())
}

/// One case; its time is 0: the cases are judgments of one run, whose time
/// is the suite's.
fn render_case(label: &str, case: &Case) -> String {
    let head = format!(
        "<testcase classname=\"{}\" name=\"{}\" time=\"0\"",
        escape(&format!("eoscheck[{label}].{}", case.class)),
        escape(&case.name)
    );
    head + &match &case.verdict {
        Verdict::Passed(None) => "/>\n".to_string(),
        Verdict::Passed(Some(note)) => {
            format!("><system-out>{}</system-out></testcase>\n", escape(note))
        }
        Verdict::Failed { message, detail } => format!(
            "><failure type=\"violated\" message=\"{}\">{}</failure></testcase>\n",
            escape(message),
            escape(detail)
        ),
        Verdict::Errored { message, detail } => format!(
            "><error type=\"unknown\" message=\"{}\">{}</error></testcase>\n",
            escape(message),
            escape(detail)
        ),
        Verdict::Skipped(message) => {
            format!("><skipped message=\"{}\"/></testcase>\n", escape(message))
        }
    }
}
