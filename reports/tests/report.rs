//! report.html, junit.xml and the index, written from run directories as
//! the harness leaves them.

mod common;

use common::{write_pipeline_run, write_run, Spec};
use std::fs;

#[test]
fn a_broken_run_renders_a_self_contained_report_that_shows_what_happened() {
    let runs = tempfile::tempdir().unwrap();
    let (dir, results) = write_run(runs.path(), &Spec::broken("20261123T193315-e1aa", 3_000));
    let written = reports::write_all(&dir).unwrap();
    let html = fs::read_to_string(&written.report).unwrap();

    assert!(html.contains("<strong>INVALID</strong>"));
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "latency, throughput, transactions, leadership"
    );
    // The transactions: how they ended, the protocol the markers show, and
    // the torn one's story.
    assert!(html.contains("<h2 id=\"transactions\">") && html.contains("href=\"#transactions\""));
    assert!(html.contains("classic: all") && html.contains("transactions/s"));
    assert!(
        html.contains("commit unknown (Local: Message timed out)")
            && html.contains(" aborted, 0 without a marker, 0 not in the log"),
        "the torn transaction's example"
    );
    for kind in [
        "lost",
        "duplicate",
        "reorder",
        "sequence-gap",
        "phantom",
        "torn-transaction",
    ] {
        assert!(
            html.contains(&format!("<h3 id=\"{kind}\">")),
            "no section for {kind}"
        );
    }
    let definition = &results.anomalies.duplicate.explanation;
    assert!(
        html.contains(&reports_escape(definition)),
        "the checker's own definition is shown"
    );
    // Fault intervals from the history, labelled; the unknown one in grey.
    for fault in [nemesis::Fault::KillLeader, nemesis::Fault::AckLoss] {
        assert!(
            html.contains(&reports_escape(fault.label())),
            "{fault} not labelled"
        );
    }
    assert!(html.contains(">cosmic-ray<") && html.contains("#999999"));
    assert!(
        html.contains("tested: 2 of 2 planned fault kinds took effect")
            && html.contains("sends/s of 1000/s asked"),
        "what the run really tested"
    );
    // The schedule as planned and as done: a start that waited, one not
    // done; in the charts' time base, the run's start (the plan's 26 s into
    // the workload, which began at 14.2 s, is 40.2 s).
    assert!(
        html.contains("<td>40.200</td><td>49.600</td>")
            && html.contains("<th>planned (s since the run's start)</th>"),
        "planned and done times"
    );
    assert!(html.contains("<td>not done</td>") && html.contains("no room left in the time limit"));
    assert!(html.contains("<a href=\"nodes/kafka-1.log\">"));
    assert!(html.contains(
        "<th>final read</th><td>1848.3 MB of batches fetched, kept in 1.2 MB of log/ (zstd)</td>"
    ));
    assert!(
        html.contains("rdkafka 0.39.0 (librdkafka 2.12.0)")
            && html.contains("max.in.flight.requests.per.connection")
    );
    // Self-contained: nothing to fetch, nothing to run.
    for outside in ["src=", "href=\"http", "<script", "<link", "url(", "@import"] {
        assert!(
            !html.contains(outside),
            "the report refers outside itself: {outside}"
        );
    }
    assert!(written.junit.is_file());
}

/// The report's escaping, for comparing with text from results.json.
fn reports_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A pipeline's report: the processors' lanes (their labels are the
/// chart's own test), records delivered against committed, the counts, and the planted
/// duplicate's example naming the processors that wrote it.
#[test]
fn a_pipeline_run_shows_its_processors_records_and_counts() {
    let runs = tempfile::tempdir().unwrap();
    let planted = Some(checker::synth::PipelineInjection::Duplicate);
    let (dir, results) = write_pipeline_run(runs.path(), "20261201T230000-p1pe", planted);
    let stats = results.pipeline.clone().unwrap();
    let written = reports::write_all(&dir).unwrap();
    let html = fs::read_to_string(&written.report).unwrap();
    assert!(html.contains("<h2 id=\"pipeline\">") && html.contains("href=\"#pipeline\""));
    assert!(html.contains("input records/s") && html.contains("delivered by a poll"));
    assert!(html.contains("processor\n</text>"), "the processors' lanes");
    let counts = [
        format!(
            "<th>committed input records</th><td>{}</td>",
            stats.inputs_committed
        ),
        "<th>… processed more than once</th><td>1</td>".to_string(),
    ];
    for row in counts {
        assert!(html.contains(&row), "{row}");
    }
    assert!(html.contains("<h3 id=\"pipeline-duplicate\">"));
    assert!(
        html.contains("written by processor"),
        "the duplicate's writers"
    );
}

#[test]
fn the_report_needs_only_stored_files_and_says_which_is_missing() {
    let runs = tempfile::tempdir().unwrap();
    let (dir, _) = write_run(runs.path(), &Spec::clean("20261123T193339-289b", 500));
    fs::remove_file(dir.join("leaders.jsonl")).unwrap();
    fs::remove_file(dir.join("run.json")).unwrap();
    let html = fs::read_to_string(reports::write_all(&dir).unwrap().report).unwrap();
    assert!(
        html.contains("<strong>VALID</strong>") && html.contains("no <code>leaders.jsonl</code>")
    );
    assert!(
        html.contains("eoscheck run 20261123T193339-289b"),
        "named after its directory"
    );

    fs::remove_file(dir.join("results.json")).unwrap();
    let err = format!("{:#}", reports::write_all(&dir).unwrap_err());
    assert!(
        err.contains("results.json") && err.contains("eoscheck check"),
        "{err}"
    );
}

#[test]
fn the_index_lists_every_run_newest_first() {
    let runs = tempfile::tempdir().unwrap();
    let mut older = Spec::clean("20261122T080000-aaaa", 300);
    older.started = "2026-11-22T08:00:00Z";
    for spec in [older, Spec::broken("20261123T193315-e1aa", 300)] {
        let (dir, _) = write_run(runs.path(), &spec);
        reports::write_all(&dir).unwrap();
    }
    let crashed = runs.path().join("20261124T000000-dead");
    fs::create_dir(&crashed).unwrap();
    fs::write(crashed.join("run.json"), r#"{"id":"20261124T000000-dead","started":"2026-11-24T00:00:00Z","preset":"at-least-once","outcome":{"exit_code":3,"verdict":"error","error":"docker is not running"}}"#).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("20261124T000000-dead", runs.path().join("latest")).unwrap();

    let page = fs::read_to_string(reports::write_index(runs.path()).unwrap()).unwrap();
    // The runs table; the verdicts over time above it list runs oldest first.
    let index = &page[page.find("<h2>Runs</h2>").unwrap()..];
    let at = |needle: &str| {
        index
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in the index"))
    };
    assert!(at("20261124T000000-dead (no report)") < at("20261123T193315-e1aa/report.html"));
    assert!(at("20261123T193315-e1aa/report.html") < at("20261122T080000-aaaa/report.html"));
    assert!(index.contains("invalid: no-loss, no-duplicates, order") && index.contains(">valid<"));
    assert!(index.contains("no results.json; the run reported: docker is not running"));
    assert!(index.contains("2026-11-24 00:00:00 UTC") && index.contains("ack-loss, kill-leader"));
    assert!(
        index.contains(" lost, ") && index.contains("3 runs, newest first"),
        "latest is not a run"
    );
}
