//! `runs/index.html`: every run in a runs folder, newest first, one line
//! each with what a reader scans for (verdict, preset, client, Kafka
//! version, faults, anomalies) and a link to its report. Self-contained like
//! the reports, so the whole folder can be archived and browsed offline.

use crate::examples::findings;
use crate::markup::{count, escape, wall_clock};
use crate::run_info::RunInfo;
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

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0 16px 32px;background:#fafafa}
h1{font-size:22px}table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
.valid{color:#2e7d32;font-weight:600}.invalid{color:#c62828;font-weight:600}.unknown,.none{color:#8d6e00;font-weight:600}
"#;

/// The index page of `entries`, in any order.
pub fn render_index(entries: &mut [IndexEntry]) -> String {
    entries.sort_by(|a, b| b.sort_key().cmp(a.sort_key()));
    let rows: String = entries.iter().map(row).collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>eoscheck runs</title>\
         <style>{STYLE}</style></head><body>\n<h1>eoscheck runs</h1>\n<p>{} runs, newest first.</p>\n<table>\
         <tr><th>started</th><th>run</th><th>verdict</th><th>preset</th><th>client</th><th>Kafka</th>\
         <th>faults</th><th>anomalies</th></tr>\n{rows}</table>\n</body></html>\n",
        entries.len()
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
