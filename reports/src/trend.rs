//! The verdicts over time on the runs index: runs that asked the same
//! question, one row each, so "valid last night, invalid tonight" shows at a
//! glance in a runs folder gathered from many nights and machines
//! (`eoscheck report --index`).
//!
//! The same question is the same [`Series`]: client library and version,
//! preset, workload, Kafka version, and the producer settings the user gave
//! (by a short hash, since a setting changed on purpose is a new question,
//! not a regression). The seed and the faults are left out: a nightly job
//! draws a new schedule each night on purpose, and a verdict that flips
//! under one of them is what the row is for.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::index::IndexEntry;
use crate::markup::{escape, wall_clock};
use crate::run_info::RunInfo;
use checker::Validity;

/// Runs shown per row, the newest.
const SHOWN: usize = 30;

/// What runs must share to be one row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Series {
    pub client: String,
    pub preset: String,
    /// `produce` or `pipeline`.
    pub workload: &'static str,
    /// `?` when the run did not record it (a cluster eoscheck does not run).
    pub kafka: String,
    /// The user's producer settings, `key=value` by key; empty for none.
    pub settings: Vec<String>,
}

impl Series {
    /// The series of a run that recorded its client and preset.
    pub fn of(info: &RunInfo) -> Option<Series> {
        let client = info.client.as_ref()?;
        let settings = info
            .producer_settings
            .iter()
            .filter(|(key, _)| info.producer_origins.get(*key).map(String::as_str) == Some("user"))
            .map(|(key, value)| match value {
                serde_json::Value::String(s) => format!("{key}={s}"),
                other => format!("{key}={other}"),
            })
            .collect();
        Some(Series {
            client: client.spec(),
            preset: info.preset.clone()?,
            workload: if info.processors.is_some() {
                "pipeline"
            } else {
                "produce"
            },
            kafka: info.kafka_version.clone().unwrap_or_else(|| "?".into()),
            settings,
        })
    }

    /// Six hex digits of the settings' SHA-256; `defaults` for none.
    pub fn settings_hash(&self) -> String {
        if self.settings.is_empty() {
            return "defaults".into();
        }
        let digest = Sha256::digest(self.settings.join("\n").as_bytes());
        digest[..3].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One run's place in a row: its verdict word, oldest first.
struct Point<'a> {
    entry: &'a IndexEntry,
    verdict: &'static str,
}

fn verdict(entry: &IndexEntry) -> &'static str {
    match entry.results.as_ref().map(|r| r.valid) {
        Some(Validity::Valid) => "valid",
        Some(Validity::Invalid) => "invalid",
        Some(Validity::Unknown) => "unknown",
        None => "none",
    }
}

/// The section, from entries sorted newest first; nothing when no run
/// recorded its client and preset.
pub fn render_trend(entries: &[IndexEntry]) -> String {
    let mut rows: BTreeMap<Series, Vec<Point>> = BTreeMap::new();
    for entry in entries.iter().rev() {
        if let Some(series) = entry.info.as_ref().and_then(Series::of) {
            let verdict = verdict(entry);
            rows.entry(series)
                .or_default()
                .push(Point { entry, verdict });
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut rows: Vec<(Series, Vec<Point>)> = rows.into_iter().collect();
    // Rows whose newest verdict differs from the one before come first.
    rows.sort_by_key(|(_, points)| !changed(points));
    let body: String = rows.iter().map(|(s, p)| row(s, p)).collect();
    format!(
        "<h2>Verdicts over time</h2>\n<p>One row per question: client, preset, workload, Kafka version and the \
         producer settings you gave (a short hash; hover for them). Oldest left, newest right, the last {SHOWN}; \
         each square links to its run. Rows whose newest verdict differs from the one before come first.</p>\n\
         <table><tr><th>client</th><th>preset</th><th>workload</th><th>Kafka</th><th>settings</th>\
         <th>verdicts</th><th>newest</th></tr>\n{body}</table>\n"
    )
}

fn changed(points: &[Point]) -> bool {
    match points {
        [.., before, newest] => before.verdict != newest.verdict,
        _ => false,
    }
}

fn row(series: &Series, points: &[Point]) -> String {
    let squares: String = points[points.len().saturating_sub(SHOWN)..]
        .iter()
        .map(square)
        .collect();
    let newest = points.last().map_or("", |p| p.verdict);
    let was = match points {
        [.., before, _] if changed(points) => format!(" (was {})", before.verdict),
        _ => String::new(),
    };
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{squares}</td>\
         <td class=\"{newest}\">{newest}{was}</td></tr>\n",
        escape(&series.client),
        escape(&series.preset),
        series.workload,
        escape(&series.kafka),
        escape(&series.settings.join("\n")),
        series.settings_hash(),
    )
}

fn square(point: &Point) -> String {
    let dir = escape(&point.entry.dir);
    let started = point
        .entry
        .info
        .as_ref()
        .and_then(|i| i.started.as_deref())
        .map(wall_clock)
        .unwrap_or_default();
    format!(
        "<a class=\"sq {}\" href=\"{dir}/report.html\" title=\"{} {dir}: {}\"></a>",
        point.verdict,
        escape(&started),
        point.verdict
    )
}
