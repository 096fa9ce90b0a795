//! `eoscheck compare`: every client library × preset under one seed, and so
//! under one fault schedule, laid side by side on one page.
//!
//! Each cell is an ordinary run with its own directory and report. The
//! harness reduces each to a [`RunSummary`] ([`summarize`]), records the
//! matrix as `compare.json` ([`Compare`]; its schema is
//! `compare.schema.json`) and calls [`write_compare`] for `index.html`. A
//! summary holds what a reader compares across cells; everything else stays
//! in the cell's own report, one click away.
//!
//! Summaries are read from whatever a run left behind: a run that broke
//! half-way still gets the numbers its files support, never an error.

use crate::charts::{self, Bar};
use crate::junit::render_junit_runs;
use crate::markup::{count, escape, millis, seconds, wall_clock};
use crate::page::{cell, facts_table, table, STYLE};
use crate::run_info::{Client, RunInfo};
use crate::timeline::{quantile, SendOutcome, Timeline};
use crate::{read_file, read_info, read_results, unnamed, write};
use anyhow::{bail, Context, Result};
use checker::{Kind, Results, Validity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One run reduced to what a comparison shows. Every number is `None` when
/// the run's files do not support it (see `problems`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    /// The run's id (its directory's name when run.json is missing).
    pub id: Option<String>,
    /// The client library's name, from run.json.
    pub client: Option<String>,
    pub client_version: Option<String>,
    pub preset: Option<String>,
    /// `valid`, `invalid`, `unknown` (the checker's verdict),
    /// `config-rejected` (producers refused their configuration and nothing
    /// was acknowledged) or `error` (no readable results.json).
    pub verdict: String,
    /// The guarantees the preset promised.
    pub promised: Vec<String>,
    /// Promised guarantees some anomaly broke.
    pub violated: Vec<String>,
    /// Why the verdict is `unknown`, as the checker said.
    pub unknown_reasons: Vec<String>,
    /// Anomalies found, by kind (`duplicate`, ...); kinds not found are absent.
    pub anomalies: BTreeMap<String, u64>,
    /// Sends the client acknowledged.
    pub acked: Option<u64>,
    /// `acked` per second of the workload phase.
    pub acked_per_s: Option<f64>,
    /// Median latency of acknowledged sends (invoke to ok), milliseconds.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile latency of acknowledged sends, milliseconds.
    pub latency_p99_ms: Option<f64>,
    /// Sends whose outcome the client left open (info, a failure not called
    /// definite, no answer).
    pub indeterminate: Option<u64>,
    /// Of those, how many landed in the log.
    pub indeterminate_landed: Option<u64>,
    /// Producers that entered a fatal state.
    pub producer_fatal: Option<u64>,
    /// The first producer-fatal message.
    pub producer_fatal_reason: Option<String>,
    /// The first configuration refusal, when a producer refused its settings.
    pub config_rejected: Option<String>,
    /// The harness's error (run.json), or why results.json could not be read.
    pub error: Option<String>,
    /// Files that were missing or damaged, so a gap in the numbers is explained.
    pub problems: Vec<String>,
}

/// An `eoscheck compare`: what was compared and each cell's run.
/// Serialised by the harness as `compare.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compare {
    /// Version of this file's layout: 1.
    pub format: u32,
    /// The comparison's id; its directory is `compare-<id>`.
    pub id: String,
    /// Wall-clock start, RFC 3339 UTC.
    pub started: String,
    /// The seed every cell ran with, so every cell had the same fault schedule.
    pub seed: u64,
    /// The nemesis's fault names.
    pub nemesis: Vec<String>,
    pub time_limit_s: f64,
    pub kafka_version: Option<String>,
    /// The rows, in order: `client@version`.
    pub clients: Vec<String>,
    /// The columns, in order.
    pub presets: Vec<String>,
    /// The cells run so far: in the order they ran, or in the matrix's
    /// order once shards are merged ([`Compare::merge`]).
    pub cells: Vec<Cell>,
    /// The shares of the matrix that ran here (`compare --shard I/N`), each
    /// on its own machine; empty for a comparison run whole on one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<Shard>,
}

/// One share of a comparison's matrix, run by `compare --shard INDEX/COUNT`:
/// the cells whose place in the matrix (rows first) is INDEX modulo COUNT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    pub count: u32,
    /// Wall-clock start of this share, RFC 3339 UTC.
    pub started: String,
}

impl Compare {
    /// Takes in the cells and shards of `other`, another share of the same
    /// comparison (the same id; its definition must agree). A cell that both
    /// ran keeps the later run (run ids begin with their start time). Cells
    /// end up in the matrix's order, so merged shares read like one run.
    pub fn merge(&mut self, other: Compare) -> Result<()> {
        if let Some(field) = self.differs_from(&other) {
            bail!(
                "compare-{} and compare-{} cannot be merged: their {field} differ",
                self.id,
                other.id
            );
        }
        for cell in other.cells {
            self.add(cell);
        }
        for shard in other.shards {
            if !self.shards.contains(&shard) {
                self.shards.push(shard);
            }
        }
        self.shards.sort_by_key(|s| s.index);
        self.started = self.started.clone().min(other.started);
        Ok(())
    }

    /// Adds a cell's run; where the same client and preset already ran,
    /// the later run stays.
    pub fn add(&mut self, cell: Cell) {
        let same = |c: &Cell| c.client == cell.client && c.preset == cell.preset;
        match self.cells.iter_mut().find(|c| same(c)) {
            Some(kept) if kept.run >= cell.run => {}
            Some(kept) => *kept = cell,
            None => self.cells.push(cell),
        }
        self.sort_cells();
    }

    /// What tells two comparisons apart, by name: none when `other` is a
    /// share of this one.
    fn differs_from(&self, other: &Compare) -> Option<&'static str> {
        let checks = [
            ("ids", self.id != other.id),
            ("seeds", self.seed != other.seed),
            ("faults", self.nemesis != other.nemesis),
            ("time limits", self.time_limit_s != other.time_limit_s),
            ("Kafka versions", self.kafka_version != other.kafka_version),
            ("clients", self.clients != other.clients),
            ("presets", self.presets != other.presets),
        ];
        checks
            .into_iter()
            .find(|(_, differs)| *differs)
            .map(|(f, _)| f)
    }

    /// Cells in the matrix's order: by row, then by column.
    fn sort_cells(&mut self) {
        let place = |list: &[String], name: &str| list.iter().position(|n| n == name);
        let (clients, presets) = (self.clients.clone(), self.presets.clone());
        self.cells.sort_by_key(|c| {
            (
                place(&clients, &c.client).unwrap_or(usize::MAX),
                place(&presets, &c.preset).unwrap_or(usize::MAX),
            )
        });
    }
}

/// One client × preset run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// As in [`Compare::clients`].
    pub client: String,
    /// As in [`Compare::presets`].
    pub preset: String,
    /// The run's directory relative to the compare directory (`../<run id>`).
    pub run: String,
    /// The run's exit code (0 valid, 1 invalid, 2 unknown, 3 infrastructure).
    pub exit_code: i32,
    /// `None` when the run left nothing to summarise.
    #[serde(default)]
    pub summary: Option<RunSummary>,
}

/// The verdict words of a summary with their colour and meaning, in the
/// order the legend lists them. Shared by the matrix, the chart and the legend.
const VERDICTS: [(&str, &str, &str); 5] = [
    ("valid", "#2e7d32", "every promised guarantee held."),
    (
        "invalid",
        "#c62828",
        "a promised guarantee was broken; the cell names the broken guarantees and the anomalies behind them.",
    ),
    (
        "unknown",
        "#6b6b6b",
        "the run could not establish the answer (e.g. a partition was not read to its end); its report says why.",
    ),
    (
        "config-rejected",
        "#b26a00",
        "the library refused the preset's producer settings, so nothing was sent: a finding about the library, \
         not a failure of eoscheck.",
    ),
    (
        "error",
        "#263238",
        "the run broke down before a verdict (no readable results.json); the cell shows the harness's error.",
    ),
];

/// The legend entry (word, colour, meaning) that styles a verdict; a word
/// this build does not know is styled as an error rather than left uncoloured.
fn style(verdict: &str) -> (&'static str, &'static str, &'static str) {
    const ERROR: usize = 4;
    *VERDICTS
        .iter()
        .find(|(name, ..)| *name == verdict)
        .unwrap_or(&VERDICTS[ERROR])
}

/// Summarises the run in `run_dir` from its files: `run.json`,
/// `results.json` and `history.jsonl`, each where present and readable.
/// Fails only when `run_dir` is not a directory.
pub fn summarize(run_dir: &Path) -> Result<RunSummary> {
    if !run_dir.is_dir() {
        bail!("{} is not a run directory", run_dir.display());
    }
    let mut problems = Vec::new();
    let info = read_info(run_dir).unwrap_or_else(|e| {
        problems.push(format!("{e:#}"));
        unnamed(run_dir)
    });
    let results = read_results(run_dir).map_err(|e| format!("{e:#}"));
    let timeline = read_file(run_dir, "history.jsonl", "the run directory is incomplete")
        .and_then(|history| Timeline::parse(&history, None))
        .inspect_err(|e| problems.push(format!("{e:#}")))
        .ok();
    let mut summary = RunSummary {
        id: info.id.clone(),
        client: info.client.as_ref().map(|c| c.name.clone()),
        client_version: info.client.as_ref().and_then(|c| c.version.clone()),
        preset: info.preset.clone(),
        error: info.outcome.as_ref().and_then(|o| o.error.clone()),
        ..acknowledged(&info, results.as_ref().ok(), timeline.as_ref())
    };
    match results {
        Err(problem) => {
            summary.verdict = "error".into();
            summary.error.get_or_insert(problem.clone());
            problems.push(problem);
        }
        Ok(r) => add_judgement(&mut summary, &r),
    }
    summary.problems = problems;
    Ok(summary)
}

/// The acknowledged sends: how many (the checker's count, or failing that
/// the history's), how fast, and how long they took.
fn acknowledged(
    info: &RunInfo,
    results: Option<&Results>,
    timeline: Option<&Timeline>,
) -> RunSummary {
    let latencies = timeline.map_or_else(Vec::new, |t| t.latencies(SendOutcome::Ok));
    let acked = match results {
        Some(r) => Some(r.stats.sends.ok),
        None => timeline.is_some().then_some(latencies.len() as u64),
    };
    let ms = |q: f64| quantile(&latencies, q).map(|s| s * 1e3);
    RunSummary {
        acked,
        acked_per_s: acked.and_then(|acked| acked_per_s(info, timeline, acked)),
        latency_p50_ms: ms(0.5),
        latency_p99_ms: ms(0.99),
        ..RunSummary::default()
    }
}

/// `acked` per second of the workload phase. A workload cut short has no
/// end; its last acknowledgement stands in.
fn acked_per_s(info: &RunInfo, timeline: Option<&Timeline>, acked: u64) -> Option<f64> {
    let phase = info.phases.iter().find(|p| p.name == "workload")?;
    let end = phase.end_s.or_else(|| last_ack(timeline?))?;
    let length = end - phase.start_s;
    (length > 0.0).then(|| acked as f64 / length)
}

/// When the client answered its last acknowledged send.
fn last_ack(timeline: &Timeline) -> Option<f64> {
    timeline
        .sends
        .iter()
        .filter(|s| s.outcome == SendOutcome::Ok)
        .map(|s| s.completed())
        .reduce(f64::max)
}

/// What the checker judged: the verdict, the guarantees and anomalies
/// behind it, where indeterminate sends ended, and what producers said.
fn add_judgement(summary: &mut RunSummary, r: &Results) {
    summary.verdict = verdict_word(r).into();
    let names = |gs: &[checker::Guarantee]| gs.iter().map(|g| g.name().to_string()).collect();
    summary.promised = names(&r.guarantees);
    summary.violated = names(&r.violated);
    summary.unknown_reasons = r.unknown_reasons.clone();
    summary.anomalies = Kind::ALL
        .iter()
        .map(|&k| (k.name().to_string(), r.anomalies.count(k)))
        .filter(|&(_, n)| n > 0)
        .collect();
    let open = &r.stats.indeterminate;
    summary.indeterminate = Some(open.landed + open.not_landed + open.undetermined);
    summary.indeterminate_landed = Some(open.landed);
    let f = &r.findings;
    summary.producer_fatal = Some(f.producer_fatal.len() as u64);
    summary.producer_fatal_reason = f.producer_fatal.first().map(|n| n.message.clone());
    summary.config_rejected = f.config_rejected.first().map(|n| n.message.clone());
}

/// The checker's verdict, except that a library that refused its settings
/// and so acknowledged nothing is `config-rejected`: a finding about the
/// library, not a verdict on it.
fn verdict_word(r: &Results) -> &'static str {
    let refused = !r.findings.config_rejected.is_empty() && r.stats.sends.ok == 0;
    match (refused, r.valid) {
        (true, _) => "config-rejected",
        (false, Validity::Valid) => "valid",
        (false, Validity::Invalid) => "invalid",
        (false, Validity::Unknown) => "unknown",
    }
}

/// Renders `index.html` of the compare directory `compare_dir` from its
/// `compare.json` and returns its path. Cells link to their runs' reports
/// where those exist.
pub fn write_compare(compare_dir: &Path) -> Result<PathBuf> {
    let text = read_file(
        compare_dir,
        "compare.json",
        "pass the compare-<id> directory `eoscheck compare` wrote",
    )?;
    let compare: Compare = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a compare file of this eoscheck",
            compare_dir.join("compare.json").display()
        )
    })?;
    let has_report = |c: &Cell| compare_dir.join(&c.run).join("report.html").is_file();
    let page = compare_dir.join("index.html");
    write(&page, &render_compare(&compare, has_report)?)?;
    let runs: Vec<_> = compare
        .cells
        .iter()
        .map(|c| cell_run(compare_dir, c))
        .collect();
    write(&compare_dir.join("junit.xml"), &render_junit_runs(&runs))?;
    Ok(page)
}

/// A cell's run as its run directory has it, the cell filling in what a
/// run without `run.json` cannot say; results, or why there are none.
fn cell_run(compare_dir: &Path, cell: &Cell) -> (RunInfo, Result<Results, String>) {
    let dir = compare_dir.join(&cell.run);
    let mut info = read_info(&dir).unwrap_or_else(|_| unnamed(&dir));
    if info.client.is_none() {
        let (name, version) = match cell.client.split_once('@') {
            Some((name, version)) => (name, Some(version.to_owned())),
            None => (cell.client.as_str(), None),
        };
        info.client = Some(Client {
            name: name.to_owned(),
            version,
        });
    }
    info.preset.get_or_insert_with(|| cell.preset.clone());
    let results =
        read_results(&dir).map_err(|e| format!("{e:#} (the run exited {})", cell.exit_code));
    (info, results)
}

/// The comparison page of `compare`; `has_report` says which cells' runs
/// have a report to link to.
pub fn render_compare(compare: &Compare, has_report: impl Fn(&Cell) -> bool) -> Result<String> {
    let title = format!("eoscheck compare {}", compare.id);
    let verdict_css: String = VERDICTS
        .iter()
        .map(|(name, colour, _)| format!(".v-{name}{{background:{colour}}}"))
        .collect();
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{0}</title><style>{STYLE}{MATRIX_STYLE}{verdict_css}</style></head><body><main>\n<h1>{0}</h1>\n\
         <div class=\"muted\">started {1}</div>\n",
        escape(&title),
        escape(&wall_clock(&compare.started))
    );
    page += &header(compare);
    let (rows, columns) = axes(compare);
    page += &matrix(compare, &rows, &columns, &has_report);
    page += &throughput(compare, &rows, &columns)?;
    page += "<h2 id=\"verdicts\">Verdicts</h2>\n";
    page += &table(
        &["verdict", "meaning"],
        VERDICTS.iter().map(|(name, colour, meaning)| {
            vec![
                format!(
                    "<td><span class=\"swatch\" style=\"background:{colour}\"></span>{name}</td>"
                ),
                cell(meaning),
            ]
        }),
    );
    page += &problems(compare);
    page += "<p class=\"muted\">Rendered by eoscheck from compare.json; each cell's run directory sits beside \
             this one in the runs folder, with its own report.</p>\n</main></body></html>\n";
    Ok(page)
}

const MATRIX_STYLE: &str = r#"
.matrix td.v{color:#fff;min-width:180px;max-width:300px;font-size:13px;line-height:1.4}
.matrix td.v a{color:#fff;font-size:15px;font-weight:700;letter-spacing:.03em}
.matrix td.v .why{opacity:.85;font-size:12px}
.matrix td.none{color:#999;text-align:center;vertical-align:middle}
"#;

/// What was compared: everything the cells had in common.
fn header(compare: &Compare) -> String {
    let faults: Vec<String> = compare
        .nemesis
        .iter()
        .map(|f| {
            let (_, label) = charts::fault_style(f);
            format!(
                "<span class=\"swatch\" style=\"background:{}\"></span>{} <span class=\"muted\">({})</span>",
                charts::fault_css_colour(f),
                escape(f),
                escape(&label)
            )
        })
        .collect();
    let planned = compare.clients.len() * compare.presets.len();
    facts_table(&[
        (
            "compared",
            format!(
                "{} client libraries × {} presets, {} of {planned} cells run; every cell on its own fresh cluster \
                 with the same seed, so under the same fault schedule",
                compare.clients.len(),
                compare.presets.len(),
                compare.cells.len()
            ),
        ),
        ("seed", compare.seed.to_string()),
        ("shards", shards(compare)),
        (
            "nemesis faults",
            match faults.is_empty() {
                true => "none".to_string(),
                false => faults.join(" "),
            },
        ),
        ("time limit", seconds(compare.time_limit_s)),
        (
            "Kafka version",
            compare.kafka_version.as_deref().map(escape).unwrap_or_default(),
        ),
    ])
}

/// Which shares of the matrix ran, when it was split across machines;
/// nothing when it ran whole on one.
fn shards(compare: &Compare) -> String {
    let Some(count) = compare.shards.first().map(|s| s.count) else {
        return String::new();
    };
    let ran: Vec<String> = compare
        .shards
        .iter()
        .map(|s| format!("{}/{count}", s.index))
        .collect();
    let missing = count as usize - ran.len();
    let rest = match missing {
        0 => "all merged".to_string(),
        _ => format!(
            "{missing} more to merge with <code>eoscheck report --index</code>; their cells show —"
        ),
    };
    format!("{} of {count}: {}; {rest}", ran.len(), ran.join(", "))
}

/// Rows and columns: the declared order, then any cell's client or preset
/// that was not declared, so no cell goes unshown.
fn axes(compare: &Compare) -> (Vec<&str>, Vec<&str>) {
    let mut rows: Vec<&str> = compare.clients.iter().map(String::as_str).collect();
    let mut columns: Vec<&str> = compare.presets.iter().map(String::as_str).collect();
    for c in &compare.cells {
        if !rows.contains(&c.client.as_str()) {
            rows.push(&c.client);
        }
        if !columns.contains(&c.preset.as_str()) {
            columns.push(&c.preset);
        }
    }
    (rows, columns)
}

/// The cell of `client` × `preset`; the last one when it ran twice.
fn find<'a>(compare: &'a Compare, client: &str, preset: &str) -> Option<&'a Cell> {
    compare
        .cells
        .iter()
        .rev()
        .find(|c| c.client == client && c.preset == preset)
}

fn matrix(
    compare: &Compare,
    rows: &[&str],
    columns: &[&str],
    has_report: &impl Fn(&Cell) -> bool,
) -> String {
    let head: String = columns
        .iter()
        .map(|p| format!("<th>{}</th>", escape(p)))
        .collect();
    let body: String = rows
        .iter()
        .map(|client| {
            let cells: String = columns
                .iter()
                .map(|preset| match find(compare, client, preset) {
                    Some(c) => matrix_cell(c, has_report(c)),
                    None => "<td class=\"none\">—</td>".to_string(),
                })
                .collect();
            format!("<tr><th>{}</th>{cells}</tr>", escape(client))
        })
        .collect();
    format!(
        "<h2 id=\"matrix\">Matrix</h2>\n<table class=\"matrix\"><tr><th>client \\ preset</th>{head}</tr>{body}</table>\n\
         <p class=\"muted\">Each cell: the verdict (linking to the run's report), the broken guarantees, the anomalies \
         found, acknowledged sends per second of the workload, latency of acknowledged sends (p50 / p99), \
         indeterminate sends (how many of them landed) and producers that entered a fatal state. \
         — : not run.</p>\n"
    )
}

fn matrix_cell(c: &Cell, has_report: bool) -> String {
    let (verdict, mut lines) = match &c.summary {
        Some(s) => (s.verdict.as_str(), summary_lines(s)),
        None => (
            "error",
            vec![format!(
                "exit code {}; the run left nothing to summarise",
                c.exit_code
            )],
        ),
    };
    let word = match has_report {
        true => format!(
            "<a href=\"{}/report.html\">{}</a>",
            escape(&c.run),
            escape(verdict)
        ),
        false => format!(
            "<b>{}</b> <span class=\"why\">(no report)</span>",
            escape(verdict)
        ),
    };
    lines.insert(0, word);
    format!(
        "<td class=\"v v-{}\">{}</td>",
        style(verdict).0,
        lines.join("<br>")
    )
}

/// The lines of a cell under its verdict word, as markup.
fn summary_lines(s: &RunSummary) -> Vec<String> {
    let mut lines = Vec::new();
    if !s.violated.is_empty() {
        lines.push(format!("<b>broken: {}</b>", escape(&s.violated.join(", "))));
    }
    let anomalies: Vec<String> = ordered(&s.anomalies)
        .map(|(kind, n)| format!("{} {}", escape(kind), count(n)))
        .collect();
    if !anomalies.is_empty() {
        lines.push(anomalies.join(", "));
    }
    if let Some(rate) = s.acked_per_s {
        lines.push(format!("{} acked/s", count(rate.round() as u64)));
    }
    if let (Some(p50), Some(p99)) = (s.latency_p50_ms, s.latency_p99_ms) {
        lines.push(format!(
            "p50 {} · p99 {}",
            millis(p50 / 1e3),
            millis(p99 / 1e3)
        ));
    }
    if let Some(n) = s.indeterminate {
        let landed = s.indeterminate_landed.unwrap_or(0);
        lines.push(format!(
            "{} indeterminate ({} landed)",
            count(n),
            count(landed)
        ));
    }
    if let Some(n) = s.producer_fatal {
        lines.push(format!("{} producer-fatal", count(n)));
    }
    lines.extend(s.producer_fatal_reason.as_deref().map(why));
    let reason = match s.verdict.as_str() {
        "config-rejected" => s.config_rejected.as_ref(),
        "error" => s.error.as_ref(),
        _ => None,
    };
    lines.extend(reason.map(|r| why(r)));
    lines
}

/// Anomaly counts in the checker's report order; kinds this build does not
/// know come last, by name.
fn ordered(anomalies: &BTreeMap<String, u64>) -> impl Iterator<Item = (&str, u64)> {
    let known = Kind::ALL
        .iter()
        .filter_map(|k| anomalies.get_key_value(k.name()));
    let unknown = anomalies
        .iter()
        .filter(|(name, _)| !Kind::ALL.iter().any(|k| k.name() == name.as_str()));
    known.chain(unknown).map(|(k, &n)| (k.as_str(), n))
}

/// A reason, small, cut to a length a cell can hold (the report has it whole).
fn why(reason: &str) -> String {
    const LONGEST: usize = 160;
    let cut: String = reason.chars().take(LONGEST).collect();
    let more = if reason.chars().count() > LONGEST {
        "…"
    } else {
        ""
    };
    format!("<span class=\"why\">{}{more}</span>", escape(&cut))
}

/// One bar per cell that has a rate, in matrix order, coloured by verdict.
fn throughput(compare: &Compare, rows: &[&str], columns: &[&str]) -> Result<String> {
    let bars: Vec<Bar> = rows
        .iter()
        .flat_map(|client| columns.iter().map(move |preset| (client, preset)))
        .filter_map(|(client, preset)| {
            let s = find(compare, client, preset)?.summary.as_ref()?;
            let rate = s.acked_per_s?;
            let p99 = s
                .latency_p99_ms
                .map_or(String::new(), |ms| format!(", p99 {}", millis(ms / 1e3)));
            Some(Bar {
                label: format!("{client} × {preset}: {}/s{p99}", count(rate.round() as u64)),
                value: rate,
                colour: style(&s.verdict).1,
            })
        })
        .collect();
    if bars.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(
        "<h2 id=\"throughput\">Acknowledged throughput</h2>\n<figure>{}<figcaption>Acknowledged sends per second \
         of each run's workload phase, coloured by verdict. Cells share the seed and the fault schedule, not the \
         cluster: each ran on its own.</figcaption></figure>\n",
        charts::bar_chart(&bars, "acknowledged sends/s")?
    ))
}

/// Cells whose files were missing or damaged, with what was wrong.
fn problems(compare: &Compare) -> String {
    let items: String = compare
        .cells
        .iter()
        .filter_map(|c| Some((c, c.summary.as_ref()?)))
        .flat_map(|(c, s)| {
            s.problems.iter().map(move |p| {
                format!(
                    "<li>{} × {}: {}</li>",
                    escape(&c.client),
                    escape(&c.preset),
                    escape(p)
                )
            })
        })
        .collect();
    match items.is_empty() {
        true => String::new(),
        false => format!("<h2 id=\"problems\">Cells read in part</h2>\n<ul>{items}</ul>\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_word_has_a_colour_and_strangers_are_errors() {
        for entry in VERDICTS {
            assert_eq!(style(entry.0), entry);
        }
        assert_eq!(style("maybe").0, "error");
        assert_eq!(style("").0, "error");
    }

    #[test]
    fn anomalies_are_listed_in_report_order_then_unknown_kinds() {
        let anomalies: BTreeMap<String, u64> = [("reorder", 2), ("lost", 1), ("bitrot", 4)]
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        let kinds: Vec<&str> = ordered(&anomalies).map(|(k, _)| k).collect();
        assert_eq!(kinds, ["lost", "reorder", "bitrot"]);
    }

    #[test]
    fn long_reasons_are_cut() {
        assert!(why(&"x".repeat(500)).ends_with("…</span>"));
        assert_eq!(why("a<b"), "<span class=\"why\">a&lt;b</span>");
    }
}
