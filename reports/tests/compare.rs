//! The comparison of `eoscheck compare`: each cell's run summarised from
//! whatever it left behind, compare.json as the schema says, the matrix
//! page, and the runs index beside it.

mod common;

use common::{write_run, Spec};
use reports::{Cell, Compare, RunSummary, Shard};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

const COMPARE_ID: &str = "20261124T100000-c0de";

/// A runs folder with the cells of a comparison, as the harness leaves it.
struct Fixture {
    runs: tempfile::TempDir,
    compare_dir: PathBuf,
}

/// Runs: invalid (broken), valid (clean), error (results.json deleted),
/// config-rejected (the clean run's results as a refusing library leaves
/// them); cells for those, one whose run directory never appeared, and one
/// client × preset that did not run at all.
fn fixture() -> Fixture {
    let runs = tempfile::tempdir().unwrap();
    let r = runs.path();
    let (broken, _) = write_run(r, &Spec::broken("20261124T100100-0001", 2_000));
    let (clean, _) = write_run(r, &Spec::clean("20261124T100200-0002", 1_000));
    let (no_results, _) = write_run(r, &Spec::clean("20261124T100300-0003", 500));
    let (refused, _) = write_run(r, &Spec::clean("20261124T100400-0004", 200));
    for dir in [&broken, &clean, &no_results, &refused] {
        reports::write_all(dir).unwrap();
    }
    fs::remove_file(no_results.join("results.json")).unwrap();
    let run_json = no_results.join("run.json");
    let with_error = fs::read_to_string(&run_json).unwrap().replace(
        r#""error": null"#,
        r#""error": "the final read timed out after 60 s""#,
    );
    fs::write(&run_json, with_error).unwrap();
    let results_json = refused.join("results.json");
    let mut results: Value =
        serde_json::from_str(&fs::read_to_string(&results_json).unwrap()).unwrap();
    results["valid"] = "unknown".into();
    results["stats"]["sends"]["ok"] = 0.into();
    results["findings"]["config-rejected"] = serde_json::json!([{
        "time": 1, "producer": 0,
        "message": "Client creation error: `max.in.flight` must be set <= 5 when `enable.idempotence` is true"
    }]);
    fs::write(&results_json, results.to_string()).unwrap();

    let compare_dir = r.join(format!("compare-{COMPARE_ID}"));
    fs::create_dir(&compare_dir).unwrap();
    // Each run's run.json names its cell's client and preset, as the
    // harness writes it.
    let cell = |client: &str, preset: &str, run: &Path, exit_code: i32| {
        if let Ok(text) = fs::read_to_string(run.join("run.json")) {
            let mut info: Value = serde_json::from_str(&text).unwrap();
            let (name, version) = client.split_once('@').unwrap();
            info["client"] = serde_json::json!({"name": name, "version": version});
            info["preset"] = preset.into();
            fs::write(run.join("run.json"), info.to_string()).unwrap();
        }
        Cell {
            client: client.into(),
            preset: preset.into(),
            run: format!("../{}", run.file_name().unwrap().to_string_lossy()),
            exit_code,
            summary: reports::summarize(run).ok(),
        }
    };
    let vanished = r.join("20261124T100500-0005");
    let compare = Compare {
        format: 1,
        id: COMPARE_ID.into(),
        started: "2026-11-24T10:00:00.123456789Z".into(),
        seed: 42,
        nemesis: vec!["ack-loss".into(), "kill-leader".into()],
        time_limit_s: 60.0,
        kafka_version: Some("4.1.0".into()),
        clients: vec!["java@4.1.0".into(), "rdkafka@0.39".into()],
        presets: vec![
            "idempotent".into(),
            "at-least-once".into(),
            "inflight-6".into(),
        ],
        cells: vec![
            cell("java@4.1.0", "idempotent", &broken, 1),
            cell("java@4.1.0", "at-least-once", &clean, 0),
            cell("java@4.1.0", "inflight-6", &refused, 2),
            cell("rdkafka@0.39", "idempotent", &no_results, 3),
            cell("rdkafka@0.39", "at-least-once", &vanished, 3),
        ],
        shards: Vec::new(),
    };
    fs::write(
        compare_dir.join("compare.json"),
        serde_json::to_vec_pretty(&compare).unwrap(),
    )
    .unwrap();
    Fixture { runs, compare_dir }
}

fn read_compare(dir: &Path) -> Compare {
    serde_json::from_str(&fs::read_to_string(dir.join("compare.json")).unwrap()).unwrap()
}

fn summary<'a>(compare: &'a Compare, preset: &str, client: &str) -> Option<&'a RunSummary> {
    let cell = compare
        .cells
        .iter()
        .find(|c| c.client == client && c.preset == preset)
        .unwrap();
    cell.summary.as_ref()
}

#[test]
fn a_summary_holds_what_a_run_left_behind() {
    let f = fixture();
    let compare = read_compare(&f.compare_dir);

    let broken = summary(&compare, "idempotent", "java@4.1.0").unwrap();
    let results: checker::Results = serde_json::from_str(
        &fs::read_to_string(f.runs.path().join("20261124T100100-0001/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(broken.verdict, "invalid");
    assert_eq!(broken.violated, ["no-loss", "no-duplicates", "order"]);
    let found: std::collections::BTreeMap<String, u64> = checker::Kind::ALL
        .iter()
        .map(|&k| (k.name().to_string(), results.anomalies.count(k)))
        .filter(|&(_, n)| n > 0)
        .collect();
    assert_eq!(broken.anomalies, found);
    assert_eq!(found.len(), 6, "the six injected kinds");
    assert_eq!(broken.acked, Some(results.stats.sends.ok));
    // The workload phase of the test runs is 14.2 s to 74.2 s.
    let rate = broken.acked_per_s.unwrap();
    assert!(
        (rate - results.stats.sends.ok as f64 / 60.0).abs() < 1e-6,
        "{rate}"
    );
    let (p50, p99) = (
        broken.latency_p50_ms.unwrap(),
        broken.latency_p99_ms.unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99, "{p50} {p99}");
    let open = &results.stats.indeterminate;
    assert_eq!(
        broken.indeterminate,
        Some(open.landed + open.not_landed + open.undetermined)
    );
    assert_eq!(broken.producer_fatal, Some(0));
    assert_eq!(
        (
            broken.client.as_deref(),
            broken.client_version.as_deref(),
            broken.preset.as_deref()
        ),
        (Some("java"), Some("4.1.0"), Some("idempotent"))
    );
    assert!(broken.problems.is_empty(), "{:?}", broken.problems);

    assert_eq!(
        summary(&compare, "at-least-once", "java@4.1.0")
            .unwrap()
            .verdict,
        "valid"
    );

    let refused = summary(&compare, "inflight-6", "java@4.1.0").unwrap();
    assert_eq!(refused.verdict, "config-rejected");
    assert!(refused
        .config_rejected
        .as_deref()
        .unwrap()
        .contains("max.in.flight"));

    // No results.json: the harness's error, and the history's numbers still.
    let error = summary(&compare, "idempotent", "rdkafka@0.39").unwrap();
    assert_eq!(error.verdict, "error");
    assert_eq!(
        error.error.as_deref(),
        Some("the final read timed out after 60 s")
    );
    assert!(error.problems.iter().any(|p| p.contains("results.json")));
    assert!(error.acked.unwrap() > 0 && error.latency_p99_ms.is_some());
    assert_eq!(error.indeterminate, None);

    assert!(summary(&compare, "at-least-once", "rdkafka@0.39").is_none());
    assert!(reports::summarize(&f.runs.path().join("nowhere")).is_err());
}

#[test]
fn a_history_cut_short_or_damaged_still_gives_a_summary() {
    let f = fixture();
    let dir = f.runs.path().join("20261124T100200-0002");
    let history = fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let whole = reports::summarize(&dir).unwrap();

    // The recorder stopped mid-line: the torn line is skipped.
    fs::write(dir.join("history.jsonl"), &history[..history.len() * 2 / 3]).unwrap();
    let torn = reports::summarize(&dir).unwrap();
    assert_eq!(torn.verdict, "valid");
    assert!(torn.latency_p50_ms.is_some() && torn.problems.is_empty());

    // Damage before the end: no latencies, and the problem names the line.
    let damaged = history.replacen("{\"type\":\"invoke\"", "{oops", 1);
    fs::write(dir.join("history.jsonl"), damaged).unwrap();
    let damaged = reports::summarize(&dir).unwrap();
    assert_eq!(
        (damaged.verdict.as_str(), damaged.acked),
        ("valid", whole.acked)
    );
    assert_eq!(damaged.latency_p50_ms, None);
    assert!(
        damaged.problems[0].contains("line"),
        "{:?}",
        damaged.problems
    );

    // Nothing but the directory.
    let empty = f.runs.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let nothing = reports::summarize(&empty).unwrap();
    assert_eq!(
        (nothing.verdict.as_str(), nothing.id.as_deref()),
        ("error", Some("empty"))
    );
    assert_eq!((nothing.acked, nothing.acked_per_s), (None, None));
}

#[test]
fn the_page_shows_the_matrix_and_refers_to_nothing_outside_the_runs_folder() {
    let f = fixture();
    let page = fs::read_to_string(reports::write_compare(&f.compare_dir).unwrap()).unwrap();
    let td = |verdict: &str| format!("<td class=\"v v-{verdict}\">");
    for verdict in ["invalid", "valid", "config-rejected", "error"] {
        assert!(page.contains(&td(verdict)), "no {verdict} cell");
    }
    assert_eq!(page.matches(&td("error")).count(), 2, "no results, no run");
    assert!(page.contains("<a href=\"../20261124T100100-0001/report.html\">invalid</a>"));
    assert!(page.contains("broken: no-loss, no-duplicates, order"));
    assert!(page.contains(" acked/s") && page.contains("p50 ") && page.contains(" · p99 "));
    assert!(page.contains(" indeterminate ("));
    assert!(page.contains("`max.in.flight` must be set &lt;= 5"));
    assert!(page.contains("the final read timed out after 60 s"));
    assert!(page.contains("exit code 3; the run left nothing to summarise"));
    assert!(
        page.contains("<td class=\"none\">—</td>"),
        "rdkafka × inflight-6 never ran"
    );
    // Row and column order as declared.
    let at = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    assert!(at("<th>idempotent</th>") < at("<th>at-least-once</th>"));
    assert!(at("<th>java@4.1.0</th>") < at("<th>rdkafka@0.39</th>"));
    // What was compared, and what the words mean.
    assert!(page.contains("<th>seed</th><td>42</td>") && page.contains("4.1.0"));
    assert!(page.contains("2026-11-24 10:00:00 UTC") && page.contains("ack-loss"));
    assert!(page.contains("not a failure of eoscheck"));
    assert_eq!(page.matches("<svg").count(), 1, "the throughput chart");
    for outside in ["src=", "href=\"http", "<script", "<link", "url(", "@import"] {
        assert!(
            !page.contains(outside),
            "the page refers outside itself: {outside}"
        );
    }
    let links = page.match_indices("href=\"").map(|(i, _)| &page[i + 6..]);
    for link in links {
        let target = &link[..link.find('"').unwrap()];
        assert!(
            f.compare_dir.join(target).is_file(),
            "a broken link: {target}"
        );
    }
}

#[test]
fn the_runs_index_lists_comparisons_apart_from_runs() {
    let f = fixture();
    reports::write_compare(&f.compare_dir).unwrap();
    let older = f.runs.path().join("compare-20261101T000000-0ld0");
    fs::create_dir(&older).unwrap();
    fs::write(older.join("compare.json"), "{ torn").unwrap();

    let index = fs::read_to_string(reports::write_index(f.runs.path()).unwrap()).unwrap();
    let at = |needle: &str| index.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    let link = format!("<a href=\"compare-{COMPARE_ID}/index.html\">");
    assert!(at("<h2>Comparisons</h2>") < at(&link));
    assert!(
        at(&link) < at("compare-20261101T000000-0ld0 (no page)"),
        "newest first"
    );
    assert!(at("compare-20261101T000000-0ld0") < at("<h2>Runs</h2>"));
    assert!(index.contains("no readable compare.json"));
    assert!(index.contains("5 of 6 run: 1 invalid, 1 valid, 1 config-rejected, 2 error"));
    assert!(
        index.contains("4 runs, newest first"),
        "comparisons are not runs"
    );
    assert!(!index[at("<h2>Runs</h2>")..].contains("compare-"));
}

/// Share `index` of 2 of `whole`: the cells `compare --shard index/2` runs.
fn share(whole: &Compare, index: u32) -> Compare {
    let mut share = whole.clone();
    share.cells = whole
        .cells
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 2 == index as usize - 1)
        .map(|(_, c)| c.clone())
        .collect();
    share.shards = vec![Shard {
        index,
        count: 2,
        started: whole.started.clone(),
    }];
    share
}

#[test]
fn shares_merged_give_the_page_one_machine_gives() {
    let f = fixture();
    let whole = read_compare(&f.compare_dir);
    let page = |c: &Compare| reports::render_compare(c, |_| true).unwrap();
    let (first, second) = (share(&whole, 1), share(&whole, 2));
    assert!(page(&first).contains("<tr><th>shards</th><td>1 of 2: 1/2; 1 more to merge"));
    assert_eq!(page(&first).matches("<td class=\"none\">—</td>").count(), 3);

    // In either order: the second share's record taking in the first's.
    let mut merged = second.clone();
    merged.merge(first.clone()).unwrap();
    assert_eq!(merged.cells, whole.cells, "the matrix's order");
    let shards_row = "<tr><th>shards</th><td>2 of 2: 1/2, 2/2; all merged</td></tr>";
    let merged_page = page(&merged);
    assert!(merged_page.contains(shards_row));
    assert_eq!(merged_page.replace(shards_row, ""), page(&whole));

    // Merging a share twice changes nothing.
    let mut again = merged.clone();
    again.merge(first).unwrap();
    assert_eq!(again, merged);
}

#[test]
fn shares_of_different_comparisons_are_not_merged() {
    let f = fixture();
    let whole = read_compare(&f.compare_dir);
    let mut other = share(&whole, 2);
    other.seed += 1;
    let err = share(&whole, 1).merge(other).unwrap_err();
    assert!(err.to_string().contains("their seeds differ"), "{err}");
}

#[test]
fn a_cell_run_twice_keeps_its_later_run() {
    let f = fixture();
    let mut compare = read_compare(&f.compare_dir);
    let mut again = compare.cells[0].clone();
    again.run = "../20261125T000000-0009".into();
    again.exit_code = 0;
    compare.add(again.clone());
    assert_eq!(compare.cells.len(), 5);
    assert_eq!(compare.cells[0], again);
    let mut older = again;
    older.run = "../20261101T000000-0001".into();
    compare.add(older);
    assert_eq!(compare.cells[0].run, "../20261125T000000-0009");
}

#[test]
fn the_index_shows_verdicts_over_time_for_each_question() {
    let runs = tempfile::tempdir().unwrap();
    let r = runs.path();
    let night = |id: &'static str,
                 started: &str,
                 spec: fn(&'static str, u64) -> Spec,
                 user: Option<&str>| {
        let (dir, _) = write_run(r, &spec(id, 500));
        let file = dir.join("run.json");
        let mut info: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        info["started"] = started.into();
        if let Some(linger) = user {
            info["producer_settings"]["linger.ms"] = linger.into();
            info["producer_origins"] = serde_json::json!({"linger.ms": "user"});
        }
        fs::write(&file, info.to_string()).unwrap();
    };
    night(
        "20261120T020000-0001",
        "2026-11-20T02:00:00Z",
        Spec::clean,
        None,
    );
    night(
        "20261121T020000-0002",
        "2026-11-21T02:00:00Z",
        Spec::clean,
        None,
    );
    night(
        "20261122T020000-0003",
        "2026-11-22T02:00:00Z",
        Spec::broken,
        None,
    );
    night(
        "20261122T030000-0004",
        "2026-11-22T03:00:00Z",
        Spec::clean,
        Some("20"),
    );
    night(
        "20261123T030000-0005",
        "2026-11-23T03:00:00Z",
        Spec::clean,
        Some("20"),
    );

    let index = fs::read_to_string(reports::write_index(r).unwrap()).unwrap();
    let section = &index
        [index.find("<h2>Verdicts over time</h2>").unwrap()..index.find("<h2>Runs</h2>").unwrap()];
    let rows: Vec<&str> = section.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{section}");
    // The row whose newest verdict changed comes first, oldest to newest.
    assert!(rows[0].contains("invalid (was valid)"), "{}", rows[0]);
    assert!(rows[0].contains("defaults"));
    let squares: Vec<&str> = rows[0].matches("class=\"sq ").collect();
    assert_eq!(squares.len(), 3);
    let order = [
        "20261120T020000-0001",
        "20261121T020000-0002",
        "20261122T020000-0003",
    ];
    let at: Vec<usize> = order.iter().map(|id| rows[0].find(id).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert!(rows[0].contains("<a class=\"sq invalid\" href=\"20261122T020000-0003/report.html\""));
    // The user's linger.ms=20 is another question: its own row, by hash.
    assert!(rows[1].contains("title=\"linger.ms=20\"") && !rows[1].contains("defaults"));
    assert!(rows[1].contains("<td class=\"valid\">valid</td>"));
}

#[test]
fn compare_json_round_trips_and_matches_its_schema() {
    let f = fixture();
    let schema: Value = serde_json::from_str(include_str!("../compare.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid 2020-12 schema");
    let compare = read_compare(&f.compare_dir);
    let value = serde_json::to_value(&compare).unwrap();
    let again: Compare = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(again, compare);
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    let broken = |change: fn(&mut Value)| {
        let mut c = value.clone();
        change(&mut c);
        validator.is_valid(&c)
    };
    assert!(!broken(|c| c["format"] = 2.into()));
    assert!(!broken(|c| c["surprise"] = 1.into()));
    assert!(!broken(
        |c| c["cells"][0]["summary"]["verdict"] = "maybe".into()
    ));
    assert!(!broken(
        |c| c["cells"][0]["summary"]["anomalies"]["lost"] = 0.into()
    ));
    assert!(!broken(|c| {
        c["cells"][0].as_object_mut().unwrap().remove("run");
    }));
    assert!(!broken(|c| {
        c["cells"][0]["summary"]
            .as_object_mut()
            .unwrap()
            .remove("acked");
    }));
}

/// Real runs of the workspace (when there are any): summaries validate, and
/// the page is left at `<target>/tmp/reports-compare/` for a person to see.
#[test]
fn real_runs_summarise_and_render() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runs");
    let picks = [
        ("rdkafka@0.39", "at-least-once", "20261123T205350-c929"),
        ("rdkafka@0.39", "idempotent", "20261123T205506-3953"),
        ("rdkafka@0.39", "inflight-6", "20261123T211652-cabb"),
    ];
    if !picks
        .iter()
        .all(|(.., run)| workspace.join(run).join("run.json").is_file())
    {
        eprintln!("no real runs in {}; skipped", workspace.display());
        return;
    }
    let runs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reports-compare");
    let _ = fs::remove_dir_all(&runs);
    let mut cells = Vec::new();
    for (client, preset, run) in picks {
        let dir = runs.join(run);
        fs::create_dir_all(&dir).unwrap();
        for file in ["run.json", "results.json", "history.jsonl", "leaders.jsonl"] {
            let _ = fs::copy(workspace.join(run).join(file), dir.join(file));
        }
        cells.push(Cell {
            client: client.into(),
            preset: preset.into(),
            run: format!("../{run}"),
            exit_code: 0,
            summary: Some(reports::summarize(&dir).unwrap()),
        });
    }
    let s = |i: usize| cells[i].summary.as_ref().unwrap();
    assert_eq!(s(0).verdict, "valid");
    assert_eq!(s(0).anomalies.get("duplicate"), Some(&85));
    assert!(s(0).acked_per_s.unwrap() > 100.0 && s(0).latency_p99_ms.unwrap() > 0.0);
    assert_eq!(s(2).verdict, "config-rejected");

    let schema: Value = serde_json::from_str(include_str!("../compare.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let compare = Compare {
        format: 1,
        id: "real".into(),
        started: "2026-11-23T20:53:50Z".into(),
        seed: 1,
        nemesis: vec!["ack-loss".into()],
        time_limit_s: 60.0,
        kafka_version: Some("4.4.0".into()),
        clients: vec!["rdkafka@0.39".into(), "java@4.1.0".into()],
        presets: vec![
            "idempotent".into(),
            "at-least-once".into(),
            "inflight-6".into(),
        ],
        cells,
        shards: Vec::new(),
    };
    let value = serde_json::to_value(&compare).unwrap();
    assert!(validator.is_valid(&value));
    let dir = runs.join("compare-real");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("compare.json"), value.to_string()).unwrap();
    let page = fs::read_to_string(reports::write_compare(&dir).unwrap()).unwrap();
    assert!(page.contains("duplicate 85"));
}

/// The comparison's one junit.xml: a suite per cell, a cell without
/// results one errored case, no two cases named alike (GitLab keeps only
/// the first of those), and valid against the JUnit schema Jenkins uses.
#[test]
fn the_combined_junit_has_a_suite_per_cell_and_distinct_names() {
    let f = fixture();
    reports::write_compare(&f.compare_dir).unwrap();
    let junit = f.compare_dir.join("junit.xml");
    common::assert_valid_junit(&junit);
    let xml = fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 5, "one per cell");
    let names: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|c| {
            (
                c.attribute("classname").unwrap(),
                c.attribute("name").unwrap(),
            )
        })
        .collect();
    let distinct: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "{names:?}");
    let vanished = names
        .iter()
        .filter(|(class, _)| class.starts_with("eoscheck[rdkafka@0.39 at-least-once]"))
        .collect::<Vec<_>>();
    assert_eq!(
        vanished,
        [&("eoscheck[rdkafka@0.39 at-least-once].run", "run")]
    );
    let root = doc.root_element();
    let cases = names.len().to_string();
    assert_eq!(root.attribute("tests"), Some(cases.as_str()));
}
