//! `runs/index.html`: every run in a runs folder, newest first, one line
//! each with what a reader scans for (verdict, preset, client, Kafka
//! version, faults, anomalies) and a link to its report. Self-contained like
//! the reports, so the whole folder can be archived and browsed offline.
//! Comparisons (`eoscheck compare`) get a small table of their own above.

use crate::compare::Compare;
use crate::examples::findings;
use crate::markup::{count, escape, wall_clock};
use crate::run_info::RunInfo;
use crate::trend::render_trend;
use checker::{Results, Validity};

/// What the index knows of one run directory.
pub struct IndexEntry {
    /// The directory's name inside the runs folder.
    pub dir: String,
    pub info: Option<RunInfo>,
    pub results: Option<Results>,
    /// Why `results` is missing, when it is (no results.json, unreadable).
    pub results_problem: Option<String>,
    pub has_report: bool,
}

impl IndexEntry {
    /// Newest first: by start time where run.json has it, else by name
    /// (run ids begin with their start time).
    fn sort_key(&self) -> &str {
        self.info
            .as_ref()
            .and_then(|i| i.started.as_deref())
            .unwrap_or(&self.dir)
    }
}

/// What the index knows of one comparison directory (`compare-<id>`).
pub struct ComparisonEntry {
    /// The directory's name inside the runs folder.
    pub dir: String,
    /// Its `compare.json`, when readable.
    pub compare: Option<Compare>,
    pub has_page: bool,
}

impl ComparisonEntry {
    /// Newest first: by start time where compare.json has it, else by name
    /// (the ids of comparisons run whole begin with their start time); the
    /// time's first 14 digits either way, YYYYMMDDhhmmss.
    fn sort_key(&self) -> String {
        let time = self.compare.as_ref().map_or(&self.dir, |c| &c.started);
        time.chars().filter(char::is_ascii_digit).take(14).collect()
    }
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0 16px 32px;background:#fafafa}
h1{font-size:22px}table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
.sq{display:inline-block;width:12px;height:12px;margin-right:2px;border-radius:2px;vertical-align:middle}
.sq.valid{background:#2e7d32}.sq.invalid{background:#c62828}.sq.unknown{background:#e0a800}.sq.none{background:#999}
.valid{color:#2e7d32;font-weight:600}.invalid{color:#c62828;font-weight:600}.unknown,.none{color:#8d6e00;font-weight:600}
"#;

/// The index page of `entries` and `comparisons`, each in any order.
pub fn render_index(entries: &mut [IndexEntry], comparisons: &mut [ComparisonEntry]) -> String {
    entries.sort_by(|a, b| b.sort_key().cmp(a.sort_key()));
    comparisons.sort_by_key(|c| std::cmp::Reverse(c.sort_key()));
    let rows: String = entries.iter().map(row).collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>eoscheck runs</title>\
         <style>{STYLE}</style></head><body>\n<h1>eoscheck runs</h1>\n{}{}<h2>Runs</h2>\n<p>{} runs, newest first.</p>\n<table>\
         <tr><th>started</th><th>run</th><th>verdict</th><th>preset</th><th>client</th><th>Kafka</th>\
         <th>faults</th><th>anomalies</th></tr>\n{rows}</table>\n</body></html>\n",
        render_trend(entries),
        comparisons_table(comparisons),
        entries.len()
    )
}

/// The comparisons, newest first; nothing when there are none.
fn comparisons_table(comparisons: &[ComparisonEntry]) -> String {
    if comparisons.is_empty() {
        return String::new();
    }
    let rows: String = comparisons.iter().map(comparison_row).collect();
    format!(
        "<h2>Comparisons</h2>\n<table><tr><th>started</th><th>comparison</th><th>clients</th><th>presets</th>\
         <th>seed</th><th>faults</th><th>cells</th></tr>\n{rows}</table>\n"
    )
}

fn comparison_row(e: &ComparisonEntry) -> String {
    let name = escape(&e.dir);
    let link = match e.has_page {
        true => format!("<a href=\"{name}/index.html\">{name}</a>"),
        false => format!("{name} (no page)"),
    };
    let Some(c) = &e.compare else {
        return format!("<tr><td></td><td>{link}</td><td colspan=\"5\" class=\"none\">no readable compare.json</td></tr>\n");
    };
    // Verdict words with how many cells had each, e.g. "3 valid, 1 invalid".
    let mut verdicts: Vec<(&str, u64)> = Vec::new();
    for cell in &c.cells {
        let word = cell
            .summary
            .as_ref()
            .map_or("error", |s| s.verdict.as_str());
        match verdicts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => verdicts.push((word, 1)),
        }
    }
    let verdicts: Vec<String> = verdicts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    let cells = format!(
        "{} of {} run: {}",
        c.cells.len(),
        c.clients.len() * c.presets.len(),
        verdicts.join(", ")
    );
    format!(
        "<tr><td>{}</td><td>{link}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        escape(&wall_clock(&c.started)),
        escape(&c.clients.join(", ")),
        escape(&c.presets.join(", ")),
        c.seed,
        escape(&c.nemesis.join(", ")),
        escape(cells.trim_end_matches(": "))
    )
}

fn row(e: &IndexEntry) -> String {
    let unknown = RunInfo::default();
    let info = e.info.as_ref().unwrap_or(&unknown);
    let name = escape(&e.dir);
    let run = match e.has_report {
        true => format!("<a href=\"{name}/report.html\">{name}</a>"),
        false => format!("{name} (no report)"),
    };
    let (class, verdict) = match (&e.results, &e.results_problem) {
        (Some(r), _) => match r.valid {
            Validity::Valid => ("valid", "valid".to_string()),
            Validity::Invalid => {
                let broken: Vec<&str> = r.violated.iter().map(|g| g.name()).collect();
                ("invalid", format!("invalid: {}", broken.join(", ")))
            }
            Validity::Unknown => ("unknown", "unknown".to_string()),
        },
        (None, problem) => {
            let problem = problem.clone().unwrap_or_else(|| "no results".to_string());
            // The harness's own account, when the run broke down before a verdict.
            match info.outcome.as_ref().and_then(|o| o.error.as_ref()) {
                Some(error) => ("none", format!("{problem}; the run reported: {error}")),
                None => ("none", problem),
            }
        }
    };
    let anomalies = e.results.as_ref().map_or(String::new(), |r| {
        let found: Vec<String> = findings(&r.anomalies)
            .iter()
            .filter(|k| k.count > 0)
            .map(|k| format!("{} {}", count(k.count), k.kind))
            .collect();
        if found.is_empty() {
            "none".to_string()
        } else {
            found.join(", ")
        }
    });
    let faults = escape(&info.faults().join(", "));
    let text = |v: Option<&String>| v.map(|v| escape(v)).unwrap_or_default();
    format!(
        "<tr><td>{}</td><td>{run}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{faults}</td><td>{}</td></tr>\n",
        text(info.started.as_deref().map(wall_clock).as_ref()),
        escape(&verdict),
        text(info.preset.as_ref()),
        text(info.client.as_ref().map(|c| c.to_string()).as_ref()),
        text(info.kafka_version.as_ref()),
        escape(&anomalies)
    )
}
