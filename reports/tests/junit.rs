//! junit.xml: one test case per promised guarantee and per anomaly kind.

mod common;

use common::{write_run, Spec};

/// The run's junit.xml, validated against the JUnit schema first.
fn junit_of(spec: Spec) -> String {
    let runs = tempfile::tempdir().unwrap();
    let (dir, _) = write_run(runs.path(), &spec);
    let junit = reports::write_all(&dir).unwrap().junit;
    common::assert_valid_junit(&junit);
    std::fs::read_to_string(junit).unwrap()
}

/// A test case: class (after the run's label), name, and its `failure` or
/// `error` (element name, message).
type Case = (String, String, Option<(String, String)>);

fn cases(xml: &str) -> Vec<Case> {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    let suite = suites[0];
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|c| {
            let outcome = c
                .children()
                .find(|n| {
                    ["failure", "error", "skipped"]
                        .iter()
                        .any(|t| n.has_tag_name(*t))
                })
                .map(|n| {
                    (
                        n.tag_name().name().to_string(),
                        n.attribute("message").unwrap().to_string(),
                    )
                });
            // The class after the run's label: `eoscheck[<label>].<class>`.
            let class = c.attribute("classname").unwrap();
            let (_, class) = class.rsplit_once("].").expect("a labelled class");
            (
                class.to_string(),
                c.attribute("name").unwrap().to_string(),
                outcome,
            )
        })
        .collect();
    let counted = |what: &str| {
        cases
            .iter()
            .filter(|c| c.2.as_ref().is_some_and(|o| o.0 == what))
            .count()
            .to_string()
    };
    assert_eq!(suite.attribute("tests").unwrap(), cases.len().to_string());
    assert_eq!(suite.attribute("failures").unwrap(), counted("failure"));
    assert_eq!(suite.attribute("errors").unwrap(), counted("error"));
    assert_eq!(suite.attribute("skipped").unwrap(), counted("skipped"));
    assert_eq!(root.attribute("failures"), suite.attribute("failures"));
    cases
}

#[test]
fn a_broken_run_fails_each_violated_guarantee_and_each_kind_found() {
    let cases = cases(&junit_of(Spec::broken("broken", 2_000)));
    assert_eq!(
        cases.len(),
        3 + checker::Kind::ALL.len() + 2,
        "with one per fault kind"
    );
    let failed: Vec<(&str, &str)> = cases
        .iter()
        .filter(|c| c.2.is_some())
        .map(|c| (c.0.as_str(), c.1.as_str()))
        .collect();
    for guarantee in ["no-loss", "no-duplicates", "order"] {
        assert!(failed.contains(&("guarantees", guarantee)), "{failed:?}");
    }
    for kind in ["lost", "duplicate", "reorder", "sequence-gap", "phantom"] {
        assert!(failed.contains(&("anomalies", kind)), "{failed:?}");
    }
    assert!(!failed.contains(&("anomalies", "sequence-regress")));
    let no_loss = cases
        .iter()
        .find(|c| c.1 == "no-loss")
        .unwrap()
        .2
        .clone()
        .unwrap();
    assert!(
        no_loss.1.starts_with("no-loss violated: ") && no_loss.1.contains(" lost, 1 phantom"),
        "{no_loss:?}"
    );
}

#[test]
fn a_valid_run_passes_and_an_unknown_one_errors() {
    assert!(cases(&junit_of(Spec::clean("clean", 1_000)))
        .iter()
        .all(|c| c.2.is_none()));
    let unknown = cases(&junit_of(Spec {
        unread_partition: true,
        ..Spec::clean("unknown", 1_000)
    }));
    let errors: Vec<_> = unknown
        .iter()
        .filter(|c| c.2.as_ref().is_some_and(|o| o.0 == "error"))
        .collect();
    assert_eq!(errors.len(), 3, "{unknown:?}");
    assert!(errors[0]
        .2
        .as_ref()
        .unwrap()
        .1
        .contains("could not establish"));
}

#[test]
fn a_requested_fault_that_never_took_effect_fails_its_own_case() {
    let cases = cases(&junit_of(Spec {
        also_planned: &["netem"],
        unplanned: &["kill-random"],
        ..Spec::clean("netem-missing", 1_000)
    }));
    let faults: Vec<(&str, Option<&str>)> = cases
        .iter()
        .filter(|c| c.0 == "faults")
        .map(|c| (c.1.as_str(), c.2.as_ref().map(|o| o.0.as_str())))
        .collect();
    assert_eq!(
        faults,
        [
            ("ack-loss", None),
            ("kill-leader", None),
            ("netem", Some("failure")),
            ("kill-random", Some("skipped"))
        ],
        "one case per requested kind"
    );
    let netem = cases.iter().find(|c| c.1 == "netem").unwrap();
    assert!(netem.2.as_ref().unwrap().1.contains("never took effect"));
    assert!(
        cases
            .iter()
            .filter(|c| c.0 != "faults")
            .all(|c| c.2.is_none()),
        "the verdict's own cases stay as the data says"
    );
}

/// The suite has the run's time and a start JUnit readers parse (no
/// fraction, no zone); every case's class names the run's client, preset
/// and Kafka version, so cases of different runs never share a name.
#[test]
fn cases_carry_the_runs_label_and_the_suite_its_time() {
    let xml = junit_of(Spec::clean("labelled", 1_000));
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("timestamp"), Some("2026-11-23T19:33:15"));
    assert_eq!(suite.attribute("time"), Some("74.200"));
    let label = "eoscheck[rdkafka@0.39.0 (librdkafka 2.12.0) idempotent kafka-4.4.0].";
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let class = case.attribute("classname").unwrap();
        assert!(class.starts_with(label), "{class}");
        assert_eq!(case.attribute("time"), Some("0"));
    }
}
