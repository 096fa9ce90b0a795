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
                class: "eoscheck.guarantees",
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
            class: "eoscheck.anomalies",
            name: k.kind.name().to_string(),
            verdict,
        }
    }));
    cases.extend(fault_cases(results));
    document(info, &cases)
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
            class: "eoscheck.faults",
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

fn document(info: &RunInfo, cases: &[Case]) -> String {
    let failures = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Failed { .. }))
        .count();
    let errors = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Errored { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Skipped(_)))
        .count();
    let id = info.id.as_deref().unwrap_or("run");
    let mut suite_name = format!("eoscheck {id}");
    if let Some(preset) = &info.preset {
        suite_name += &format!(" {preset}");
    }
    if let Some(client) = &info.client {
        suite_name += &format!(" {client}");
    }
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"eoscheck\" tests=\"{n}\" failures=\"{failures}\" errors=\"{errors}\">\n\
         <testsuite name=\"{}\" tests=\"{n}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\"{}>\n<properties>\n",
        escape(&suite_name),
        info.started.as_ref().map_or(String::new(), |s| format!(" timestamp=\"{}\"", escape(s.trim_end_matches('Z')))),
        n = cases.len(),
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
    for case in cases {
        out += &format!(
            "<testcase classname=\"{}\" name=\"{}\"",
            case.class,
            escape(&case.name)
        );
        out += &match &case.verdict {
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
        };
    }
    out + "</testsuite>\n</testsuites>\n"
}
