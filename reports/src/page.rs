//! `report.html`: one self-contained page that says what happened in a run,
//! when, to which messages, under which fault.
//!
//! Self-contained means it opens anywhere, years later, from a copied run
//! directory or a CI artefact: CSS inline, charts as inline SVG, no script,
//! no font, no network. The only links are relative ones to the broker logs
//! beside it in `nodes/`.

use crate::charts::{self, TimeFrame, ANOMALY_COLOUR, POINTS_PER_OUTCOME};
use crate::examples::{findings, Facts, KindFinding, LogRecord};
use crate::markup::{count, escape, kebab, millis, seconds, wall_clock};
use crate::run_info::RunInfo;
use crate::timeline::{quantile, SendOutcome, Timeline, TxnEnding};
use anyhow::Result;
use checker::anomaly::KeyPlacement;
use checker::anomaly::Outcome;
use checker::history::NemesisPhase;
use checker::ids::Partition;
use checker::results::{
    ConsumerStats, HangingTransaction, IndeterminateStats, NemesisNote, PartitionStats,
    ProducerIdempotence, ProducerNote, ProducerStats, SendStats, Session, Stats,
};
use checker::{Guarantee, Results, Validity};
use std::collections::BTreeSet;

/// Everything stored about one run that the report shows.
pub struct Run<'a> {
    pub info: &'a RunInfo,
    pub results: &'a Results,
    pub timeline: &'a Timeline,
    /// Broker log files, relative to the run directory (`nodes/kafka-1.log`).
    pub broker_logs: &'a [String],
}

pub(crate) const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:0 16px 48px}
h1{font-size:22px;margin:20px 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:20px 0 6px}
.verdict{padding:14px 18px;border-radius:6px;margin:12px 0;color:#fff}
.verdict strong{font-size:22px;letter-spacing:.04em;margin-right:12px}
.valid{background:#2e7d32}.invalid{background:#c62828}.unknown{background:#8d6e00}
.chip{display:inline-block;padding:1px 8px;margin:2px 4px 2px 0;border-radius:10px;background:rgba(255,255,255,.22)}
.chip.broken{background:#fff;color:#c62828;font-weight:600}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr:has(td.found) td{background:#fdecea}
figure{margin:8px 0 16px;background:#fff;border:1px solid #ddd;padding:6px}
figure svg{display:block;max-width:100%;height:auto}
figcaption{font-size:13px;color:#555;margin-top:4px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}
nav a{margin-right:12px}code{font-size:13px}.muted{color:#666}
"#;

/// The report page of `run`.
pub fn render_report(run: &Run) -> Result<String> {
    let kinds = findings(&run.results.anomalies);
    let anomaly_times: Vec<f64> = kinds
        .iter()
        .flat_map(|k| &k.examples)
        .filter_map(|e| e.time(run.timeline))
        .collect();
    let frame = TimeFrame::new(run.timeline, &anomaly_times);
    let title = format!(
        "eoscheck run {}",
        run.info.id.as_deref().unwrap_or("(no id)")
    );
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    if let Some(started) = &run.info.started {
        page += &format!(
            "<div class=\"muted\">started {}</div>\n",
            escape(&wall_clock(started))
        );
    }
    page += &verdict(run);
    let txns = match run.results.transactions {
        Some(_) => "<a href=\"#transactions\">transactions</a>",
        None => "",
    };
    let pipeline = match run.results.pipeline {
        Some(_) => "<a href=\"#pipeline\">pipeline</a>",
        None => "",
    };
    page += &format!(
        "<nav><a href=\"#configuration\">configuration</a><a href=\"#latency\">latency</a>\
         <a href=\"#throughput\">throughput</a>{txns}{pipeline}<a href=\"#faults\">faults</a><a href=\"#anomalies\">anomalies</a>\
         <a href=\"#partitions\">partitions</a><a href=\"#stats\">stats</a></nav>\n"
    );
    page += &configuration(run);
    page += &latency(run, &frame)?;
    page += &throughput(run, &frame)?;
    page += &transactions(run, &frame)?;
    page += &crate::pipeline::section(run, &frame)?;
    page += &fault_intervals(run.timeline);
    page += &anomalies(run, &kinds);
    page += &partitions(run, &frame)?;
    page += &stats(run);
    page += "<p class=\"muted\">Rendered by eoscheck from the files of this run directory; \
             <code>eoscheck report RUN_DIR</code> renders it again.</p>\n</main></body></html>\n";
    Ok(page)
}

fn verdict(run: &Run) -> String {
    let r = run.results;
    let (class, word, says) = match r.valid {
        Validity::Valid => (
            "valid",
            "VALID",
            "Every promised guarantee held.".to_string(),
        ),
        Validity::Invalid => {
            let broken: Vec<&str> = r.violated.iter().map(|g| g.name()).collect();
            (
                "invalid",
                "INVALID",
                format!("Violated: {}.", broken.join(", ")),
            )
        }
        Validity::Unknown => (
            "unknown",
            "UNKNOWN",
            "The run could not establish the answer.".to_string(),
        ),
    };
    let mut out = format!(
        "<div class=\"verdict {class}\"><strong>{word}</strong>{}<div>promised: ",
        escape(&says)
    );
    for g in &r.guarantees {
        let broken = r.violated.contains(g);
        let mark = if broken {
            "✗"
        } else if r.valid == Validity::Unknown {
            "?"
        } else {
            "✓"
        };
        out += &format!(
            "<span class=\"chip{}\">{mark} {}</span>",
            if broken { " broken" } else { "" },
            g.name()
        );
    }
    out += "</div>";
    if !r.unknown_reasons.is_empty() {
        out += &list(r.unknown_reasons.iter().map(|s| escape(s)));
    }
    if let Some(error) = run.info.outcome.as_ref().and_then(|o| o.error.as_ref()) {
        out += &format!("<div>the harness reported: {}</div>", escape(error));
    }
    out + "</div>\n"
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: String = items.map(|i| format!("<li>{i}</li>")).collect();
    format!("<ul>{items}</ul>")
}

/// A two-column table of `(name, value)`; values are already markup.
pub(crate) fn facts_table(rows: &[(&str, String)]) -> String {
    let rows: String = rows
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{v}</td></tr>"))
        .collect();
    format!("<table>{rows}</table>\n")
}

/// A table with a header row; cells are already markup.
pub(crate) fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let head: String = header.iter().map(|h| format!("<th>{h}</th>")).collect();
    let body: String = rows.map(|r| format!("<tr>{}</tr>", r.concat())).collect();
    format!("<table><tr>{head}</tr>{body}</table>\n")
}

pub(crate) fn cell(text: impl std::fmt::Display) -> String {
    format!("<td>{}</td>", escape(&text.to_string()))
}

fn number(n: u64) -> String {
    format!("<td class=\"n\">{}</td>", count(n))
}

/// How the run was set up, as run.json recorded it; a setting the run did
/// not record is left out rather than shown empty.
fn configuration(run: &Run) -> String {
    format!(
        "<h2 id=\"configuration\">Configuration</h2>\n{}",
        facts_table(&configuration_rows(run))
    )
}

fn configuration_rows(run: &Run) -> [(&'static str, String); 24] {
    let i = run.info;
    [
        ("preset", shown(i.preset.as_ref())),
        (
            "promised guarantees",
            escape(&guarantee_names(&run.results.guarantees)),
        ),
        ("client", shown(i.client.as_ref())),
        ("producer settings", producer_settings(i)),
        ("settings against the promise", contradictions(i)),
        ("broken on purpose", mutation(i)),
        ("idempotence asked", shown(i.idempotence_asked.as_ref())),
        ("effective configuration", effective_config(i)),
        ("Kafka version", shown(i.kafka_version.as_ref())),
        ("image", shown(i.image.as_ref())),
        ("topic", shown(i.topic.as_ref())),
        ("seed", shown(i.seed)),
        ("time limit", shown(i.time_limit_s.map(seconds))),
        ("rate", shown(i.rate.map(|r| format!("{r} messages/s")))),
        ("producers", shown(i.producers)),
        ("partitions", shown(i.partitions)),
        ("message size", message_size(i)),
        (
            "placement",
            escape(&match i.keys {
                Some(n) => format!("{n} record keys, placed by the library's default partitioner"),
                None => "explicit partitions (message i to partition i mod partitions)".into(),
            }),
        ),
        ("nemesis faults", escape(&i.faults().join(", "))),
        ("nemesis schedule", nemesis_schedule(i)),
        ("really tested", shown(run.results.tested.summary())),
        ("phases", phases(i)),
        ("final read", final_read(i)),
        ("broker logs", broker_log_links(run.broker_logs)),
    ]
}

/// How much the final read fetched and how much of the run directory
/// keeps it; empty for runs that did not record it.
fn final_read(info: &RunInfo) -> String {
    let Some(read) = &info.final_read else {
        return String::new();
    };
    let mb = |bytes: u64| format!("{:.1} MB", bytes as f64 / 1e6);
    escape(&format!(
        "{} of batches fetched, kept in {} of log/ ({})",
        mb(read.fetched_bytes),
        mb(read.stored_bytes),
        read.storage
    ))
}

/// A value run.json may lack, as markup; empty when it does.
fn shown(value: Option<impl std::fmt::Display>) -> String {
    value.map(|v| escape(&v.to_string())).unwrap_or_default()
}

/// The producer configuration as the client was given it, strings without
/// their JSON quotes, each with where it came from (eoscheck's own short
/// timeouts are marked as such).
fn producer_settings(info: &RunInfo) -> String {
    if info.producer_settings.is_empty() {
        return escape("none: the library's own defaults");
    }
    table(
        &["setting", "value", "from"],
        info.producer_settings.iter().map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            let from = info.producer_origins.get(k).map_or("", String::as_str);
            vec![cell(k), cell(v), cell(from)]
        }),
    )
}

/// The user's settings that contradict the promise judged.
fn contradictions(info: &RunInfo) -> String {
    if info.contradictions.is_empty() {
        return String::new();
    }
    list(
        info.contradictions
            .iter()
            .map(|c| format!("<strong>warning:</strong> {}", escape(c))),
    )
}

/// A sensitivity run's mutation: what it finds is eoscheck's planted
/// mistake, not the library's.
fn mutation(info: &RunInfo) -> String {
    info.mutation.as_ref().map_or_else(String::new, |m| {
        format!(
            "<strong>warning:</strong> {}",
            escape(&format!("eoscheck's own processor made the mistake `{m}` on purpose (--mutate): the anomalies it shows are planted, not the library's"))
        )
    })
}

/// The first producer's effective configuration, folded away: the library's
/// own report where it gives one, else what was set.
fn effective_config(info: &RunInfo) -> String {
    if info.effective_config.is_empty() {
        return String::new();
    }
    let source = match info.effective_config_source.as_deref() {
        Some("library") => "as the library reports it",
        _ => "as the driver set it",
    };
    format!(
        "<details><summary>{} settings, {source}</summary>{}</details>",
        info.effective_config.len(),
        table(
            &["setting", "value"],
            info.effective_config
                .iter()
                .map(|(k, v)| vec![cell(k), cell(v)]),
        )
    )
}

fn message_size(info: &RunInfo) -> String {
    shown(match (info.message_size, info.message_size_max) {
        (Some(least), Some(most)) => Some(format!("{least}..{most} bytes")),
        (Some(n), None) => Some(format!("{n} bytes")),
        _ => None,
    })
}

/// The fault schedule the nemesis resolved its configuration to, with when
/// each step was actually done (faults wait for the cluster to recover, so
/// later steps move back). Runs that did not record it show the plan alone.
/// The fault schedule, in seconds since the run's start like every chart
/// (the plan counts from the workload's start; its phase gives the offset).
/// A run without a workload phase keeps the plan's own base, and says so.
fn nemesis_schedule(info: &RunInfo) -> String {
    let Some(nemesis) = &info.nemesis else {
        return String::new();
    };
    let workload = info.phases.iter().find(|p| p.name == "workload");
    let (zero, base) = match workload {
        Some(phase) => (phase.start_s, "s since the run's start"),
        None => (0.0, "s into the workload"),
    };
    let at = |s: f64| cell(format!("{:.3}", s + zero));
    if info.kept.is_empty() {
        let steps = nemesis
            .steps
            .iter()
            .map(|s| vec![at(s.at), cell(&s.action), cell(&s.fault)]);
        return table(&[&format!("planned ({base})"), "action", "fault"], steps);
    }
    let steps = info.kept.iter().map(|s| {
        vec![
            at(s.planned_s),
            s.done_s.map_or_else(|| cell("not done"), at),
            cell(&s.action),
            cell(&s.fault),
            cell(s.note.as_deref().unwrap_or("")),
        ]
    });
    table(
        &[
            &format!("planned ({base})"),
            "done",
            "action",
            "fault",
            "note",
        ],
        steps,
    )
}

fn phases(info: &RunInfo) -> String {
    if info.phases.is_empty() {
        return String::new();
    }
    table(
        &["phase", "from (s)", "to (s)"],
        info.phases.iter().map(|p| {
            vec![
                cell(&p.name),
                cell(format!("{:.1}", p.start_s)),
                cell(p.end_s.map(|e| format!("{e:.1}")).unwrap_or_default()),
            ]
        }),
    )
}

/// Links to the broker logs beside the report in `nodes/`.
fn broker_log_links(logs: &[String]) -> String {
    let links: Vec<String> = logs
        .iter()
        .map(|f| format!("<a href=\"{}\">{}</a>", escape(f), escape(f)))
        .collect();
    links.join(" ")
}

fn guarantee_names(guarantees: &[Guarantee]) -> String {
    guarantees
        .iter()
        .map(|g| g.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn legend(run: &Run) -> String {
    let outcomes = SendOutcome::ALL.iter().map(|o| (o.colour(), o.name()));
    legend_of(run, outcomes)
}

/// A chart's legend: its series (colour and name), then the faults and the
/// anomaly markers every time chart shares.
pub(crate) fn legend_of<'a>(run: &Run, series: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out: String = series
        .map(|(colour, name)| {
            format!("<span class=\"swatch\" style=\"background:{colour}\"></span>{name}")
        })
        .collect();
    let mut faults: Vec<&str> = run
        .timeline
        .faults
        .iter()
        .map(|f| f.fault.as_str())
        .collect();
    faults.sort();
    faults.dedup();
    for fault in faults {
        let (_, label) = charts::fault_style(fault);
        out += &format!(
            "<span class=\"swatch\" style=\"background:{};opacity:.45\"></span>{} ({})",
            charts::fault_css_colour(fault),
            escape(&label),
            escape(fault)
        );
    }
    out + &format!(
        "<span style=\"color:{ANOMALY_COLOUR};margin-left:10px\">▲</span> anomaly example sent"
    )
}

fn latency(run: &Run, frame: &TimeFrame) -> Result<String> {
    let svg = charts::latency_chart(frame, &run.timeline.sends)?;
    let dense: Vec<String> = SendOutcome::ALL
        .iter()
        .map(|&o| {
            (
                o,
                run.timeline.sends.iter().filter(|s| s.outcome == o).count(),
            )
        })
        .filter(|&(_, n)| n > POINTS_PER_OUTCOME)
        .map(|(o, n)| format!("{} {} sends", count(n as u64), o.name()))
        .collect();
    let how = match dense.is_empty() {
        true => "Every completed send is one point.".to_string(),
        false => format!(
            "Too many to draw one by one ({}): drawn as density, darker where more sends fell in a cell \
             of time × latency; outcomes with at most {} sends are drawn as points.",
            dense.join(", "),
            count(POINTS_PER_OUTCOME as u64)
        ),
    };
    Ok(format!(
        "<h2 id=\"latency\">Latency over time</h2>\n<figure>{svg}<figcaption>{}<br>x: when the send was invoked; \
         y: time until the client answered. {how} {} sends never answered are not drawn.</figcaption></figure>\n",
        legend(run),
        count(run.timeline.uncompleted)
    ))
}

fn throughput(run: &Run, frame: &TimeFrame) -> Result<String> {
    let svg = charts::throughput_chart(frame, &run.timeline.sends)?;
    Ok(format!(
        "<h2 id=\"throughput\">Throughput over time</h2>\n<figure>{svg}<figcaption>{}<br>\
         Answers per second by outcome, by when the client answered.</figcaption></figure>\n",
        legend(run)
    ))
}

/// Transactions, for a run that had any: how they ended over time, what the
/// client was told against what the log shows, the protocol in effect, and
/// any left hanging.
fn transactions(run: &Run, frame: &TimeFrame) -> Result<String> {
    let Some(t) = &run.results.transactions else {
        return Ok(String::new());
    };
    let svg = charts::transactions_chart(frame, &run.timeline.txns)?;
    let endings = TxnEnding::ALL.iter().map(|e| (e.colour(), e.name()));
    let protocol = match (t.commits_at_data_epoch, t.commits_above_data_epoch) {
        (0, 0) => "no marker ended a segment of records".to_string(),
        (classic, 0) => format!(
            "classic: all {} markers at their records' epoch",
            count(classic)
        ),
        (0, bumped) => format!(
            "KIP-890 (transaction.version 2): all {} markers one epoch above their records'",
            count(bumped)
        ),
        (classic, bumped) => format!(
            "mixed: {} markers at their records' epoch, {} above",
            count(classic),
            count(bumped)
        ),
    };
    let table = facts_table(&[
        ("begun", count(t.begun)),
        ("told committed", count(t.committed)),
        (
            "aborted (by the application, or the commit definitely failed)",
            count(t.aborted),
        ),
        ("commit unknown to the client", count(t.unknown)),
        ("… committed in the log", count(t.unknown_committed)),
        ("… aborted or absent in the log", count(t.unknown_aborted)),
        (
            "… not resolved (no marker, or torn)",
            count(t.unknown_unresolved),
        ),
        (
            "segments holding more than one transaction",
            count(t.shared_segments),
        ),
        ("protocol in effect, as the markers show", escape(&protocol)),
        (
            "the cluster's transaction.version",
            transaction_version(run.info),
        ),
    ]);
    Ok(format!(
        "<h2 id=\"transactions\">Transactions</h2>\n<figure>{svg}<figcaption>{}<br>\
         Transactions per second by how the client was last told they ended.</figcaption></figure>\n{table}{}",
        legend_of(run, endings),
        hanging(&run.results.findings.hanging_transactions)
    ))
}

/// The cluster's finalized `transaction.version` (2 offers KIP-890's
/// protocol to clients that ask for it), or why it is not known.
fn transaction_version(info: &RunInfo) -> String {
    match info.cluster_features.get("transaction.version") {
        Some(level) => level.to_string(),
        None if info.cluster_features.is_empty() => "not recorded".into(),
        None => "0 (not finalized: the classic protocol only)".into(),
    }
}

/// Segments no marker ended in a partition read to its end.
fn hanging(hanging: &[HangingTransaction]) -> String {
    if hanging.is_empty() {
        return String::new();
    }
    let rows = hanging.iter().map(|h| {
        let txns: Vec<String> = h
            .transactions
            .iter()
            .map(|(p, t)| format!("{p}/{t}"))
            .collect();
        vec![
            cell(h.part.partition),
            cell(h.part.pid),
            cell(format!("{}..={}", h.part.first_offset, h.part.last_offset)),
            number(u64::from(h.part.records)),
            cell(txns.join(", ")),
        ]
    });
    format!(
        "<h3>Hanging transactions (no marker after a complete read)</h3>\n{}",
        table(
            &["partition", "PID", "offsets", "records", "transactions"],
            rows
        )
    )
}

fn fault_intervals(timeline: &Timeline) -> String {
    let rows = timeline.faults.iter().map(|f| {
        let (_, label) = charts::fault_style(&f.fault);
        let swatch = format!(
            "<span class=\"swatch\" style=\"background:{}\"></span>",
            charts::fault_css_colour(&f.fault)
        );
        vec![
            format!("<td>{swatch}{}</td>", escape(&f.fault)),
            cell(label),
            cell(f.targets.join(", ")),
            cell(seconds(f.start)),
            cell(f.end.map_or("never healed".to_string(), seconds)),
            cell(f.end.map(|e| seconds(e - f.start)).unwrap_or_default()),
        ]
    });
    let body = match timeline.faults.is_empty() {
        true => "<p>The nemesis injected no fault.</p>\n".to_string(),
        false => table(&["fault", "what", "targets", "from", "until", "for"], rows),
    };
    format!("<h2 id=\"faults\">Faults</h2>\n{body}")
}

fn anomalies(run: &Run, kinds: &[KindFinding]) -> String {
    let promised = &run.results.guarantees;
    let summary = table(
        &["kind", "count", "breaks", "definition"],
        kinds.iter().map(|k| {
            let breaks: Vec<String> = k
                .violates
                .iter()
                .map(|g| match promised.contains(g) {
                    true => format!("<b>{}</b>", g.name()),
                    false => format!("{} <span class=\"muted\">(not promised)</span>", g.name()),
                })
                .collect();
            let name = match k.count {
                0 => format!("<td>{}</td>", k.kind.name()),
                _ => format!(
                    "<td class=\"found\"><a href=\"#{0}\">{0}</a></td>",
                    k.kind.name()
                ),
            };
            vec![
                name,
                number(k.count),
                format!("<td>{}</td>", breaks.join(", ")),
                cell(k.explanation),
            ]
        }),
    );
    let mut out = format!(
        "<h2 id=\"anomalies\">Anomalies</h2>\n{summary}<p class=\"muted\">Bold guarantees were promised by this run. \
         Each kind shows its first examples as the checker met them (results.json keeps a few per kind); \
         ▲ on the charts marks when each example was sent.</p>\n"
    );
    for k in kinds.iter().filter(|k| k.count > 0) {
        out += &format!(
            "<h3 id=\"{}\">{} — {} found, {} shown</h3>\n<p>{}</p>\n",
            k.kind.name(),
            k.kind.name(),
            count(k.count),
            k.examples.len(),
            escape(k.explanation)
        );
        out += &table(
            &[
                "sent at",
                "message",
                "in the log (partition@offset PID/epoch seq)",
                "detail",
                "client's outcome",
                "faults active",
                "explanation",
            ],
            k.examples.iter().map(|e| example_row(run.timeline, e)),
        );
    }
    out
}

/// One example as a table row: when it was sent, which message, its records
/// in the log, what the kind adds, what the client was told, and the faults
/// active at the time.
fn example_row(timeline: &Timeline, e: &Facts) -> Vec<String> {
    let time = e.time(timeline);
    vec![
        cell(time.map_or("—".to_string(), seconds)),
        cell(example_message(e)),
        format!("<td>{}</td>", log_records(&e.records)),
        cell(e.note.as_deref().unwrap_or("")),
        cell(
            e.send
                .map_or("—".to_string(), |s| client_outcome(&s.outcome)),
        ),
        cell(active_faults(timeline, e, time)),
        cell(e.explanation),
    ]
}

fn example_message(e: &Facts) -> String {
    match (e.message, e.attempt) {
        (Some(m), Some(a)) if a > 0 => format!("{m} attempt {a}"),
        (Some(m), _) => m.to_string(),
        (None, _) => "—".to_string(),
    }
}

/// One line a record: `partition@offset PID/epoch seq N`.
fn log_records(records: &[LogRecord]) -> String {
    records
        .iter()
        .map(|r| {
            escape(&format!(
                "{}@{} {}/{} seq {}",
                r.partition, r.offset, r.pid, r.epoch, r.sequence
            ))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// What the client was told about a send, in words.
fn client_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok { partition, offset } if *offset < 0 => {
            format!("ok on partition {partition}, no offset given")
        }
        Outcome::Ok { partition, offset } => format!("ok at {partition}@{offset}"),
        Outcome::Fail {
            error,
            definite: true,
        } => format!("failed, definitely ({error})"),
        Outcome::Fail {
            error,
            definite: false,
        } => format!("failed, maybe written ({error})"),
        Outcome::Info { error } => format!("indeterminate ({error})"),
        Outcome::None => "never answered".to_string(),
    }
}

/// The faults active when the example's send was invoked: the checker
/// records them with the send; for records no send explains, the history's
/// intervals at the message's invoke stand in.
fn active_faults(timeline: &Timeline, e: &Facts, time: Option<f64>) -> String {
    let faults: Vec<String> = match e.send {
        Some(s) => s
            .faults
            .iter()
            .map(|f| fault_on(&f.fault, &f.targets))
            .collect(),
        None => time.map_or(Vec::new(), |t| {
            timeline
                .faults_at(t)
                .map(|f| fault_on(&f.fault, &f.targets))
                .collect()
        }),
    };
    match faults.is_empty() {
        true => "none".to_string(),
        false => faults.join("; "),
    }
}

/// `fault target,target`.
fn fault_on(fault: &str, targets: &[String]) -> String {
    format!("{fault} {}", targets.join(","))
}

/// Each partition: who led it when, what it holds, the (PID, epoch)
/// sessions that wrote it, and each producer's sessions as the log shows
/// them against those the client reported.
fn partitions(run: &Run, frame: &TimeFrame) -> Result<String> {
    let stats = &run.results.stats;
    let leadership = leaders_over_time(run, frame)?;
    let contents = partition_contents(run);
    let sequences = sequence_ranges(&stats.partitions);
    let producers = producer_sessions(&stats.producers);
    let idempotence = idempotence(&run.results.idempotence);
    let keys = key_placement(&run.results.keys);
    Ok(format!(
        "<h2 id=\"partitions\">Partitions</h2>\n<h3>Leadership</h3>\n{leadership}\
         <h3>What each partition holds</h3>\n{contents}\
         <h3>Sequence ranges per (PID, epoch)</h3>\n{sequences}\
         <h3>Producers</h3>\n{producers}{idempotence}{keys}"
    ))
}

/// Each partition's leader over time: a bar for every partition that the
/// log was read from or `leaders.jsonl` names.
fn leaders_over_time(run: &Run, frame: &TimeFrame) -> Result<String> {
    let leaders = &run.timeline.leaders;
    if leaders.is_empty() {
        return Ok(
            "<p>This run recorded no leader changes (no <code>leaders.jsonl</code>).</p>\n"
                .to_string(),
        );
    }
    let ids: BTreeSet<Partition> = run
        .results
        .stats
        .partitions
        .iter()
        .map(|p| p.partition)
        .chain(leaders.iter().map(|l| l.partition))
        .collect();
    let ids: Vec<Partition> = ids.into_iter().collect();
    Ok(format!(
        "<figure>{}<figcaption>Each bar is one partition's leader (node id) from when the harness saw it \
         change; dark bars: no leader.</figcaption></figure>\n",
        charts::leadership_chart(frame, &ids, leaders)?
    ))
}

fn partition_contents(run: &Run) -> String {
    table(
        &[
            "partition",
            "records",
            "log start",
            "high watermark",
            "last offset",
            "read complete",
            "leader changes",
            "PIDs",
            "epochs",
            "batches by codec",
        ],
        run.results.stats.partitions.iter().map(|p| {
            vec![
                cell(p.partition),
                number(p.records),
                cell(p.log_start_offset),
                cell(p.high_watermark),
                cell(p.last_offset.map_or("—".to_string(), |o| o.to_string())),
                cell(if p.complete { "yes" } else { "NO" }),
                number(leader_changes(run.timeline, p.partition)),
                cell(pids(p)),
                cell(epochs(p)),
                cell(codecs(p)),
            ]
        }),
    )
}

/// `lz4 412, none 3`: what compression really did in this partition.
fn codecs(p: &PartitionStats) -> String {
    p.batches_by_codec
        .iter()
        .map(|(codec, n)| format!("{codec} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each producer's idempotence: what the configuration asked, and whether
/// its records in the log carry a producer id.
fn idempotence(producers: &[ProducerIdempotence]) -> String {
    if producers.is_empty() {
        return String::new();
    }
    format!(
        "<h3>Idempotence, asked and in effect</h3>\n{}",
        table(
            &[
                "producer instance",
                "idempotence asked",
                "in effect (from the log)"
            ],
            producers.iter().map(|p| {
                vec![
                    cell(p.producer),
                    cell(kebab(&p.asked)),
                    cell(kebab(&p.in_effect)),
                ]
            }),
        )
    )
}

/// Where each record key landed: one partition each, unless the
/// partitioner split it (`key-split`).
fn key_placement(keys: &[KeyPlacement]) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let split = keys.iter().filter(|k| k.partitions.len() > 1).count();
    format!(
        "<h3>Record keys</h3>\n<details><summary>{} keys, {split} in more than one partition</summary>{}</details>\n",
        keys.len(),
        table(
            &["key", "partitions (records)"],
            keys.iter().map(|k| {
                let places: Vec<String> = k
                    .partitions
                    .iter()
                    .map(|p| format!("{} ({})", p.partition, p.records))
                    .collect();
                vec![cell(&k.key), cell(places.join(", "))]
            }),
        )
    )
}

/// Changes of `partition`'s leader seen during the run; the first
/// observation is where it started, not a change.
fn leader_changes(timeline: &Timeline, partition: Partition) -> u64 {
    let observed = timeline
        .leaders
        .iter()
        .filter(|l| l.partition == partition)
        .count();
    observed.saturating_sub(1) as u64
}

fn sequence_ranges(partitions: &[PartitionStats]) -> String {
    table(
        &[
            "partition",
            "PID",
            "epoch",
            "producer instances",
            "first sequence",
            "last sequence",
            "records",
        ],
        partitions.iter().flat_map(|p| {
            p.sessions.iter().map(move |s| {
                let producers: Vec<String> = s.producers.iter().map(u32::to_string).collect();
                vec![
                    cell(p.partition),
                    cell(s.pid),
                    cell(s.epoch),
                    cell(producers.join(", ")),
                    cell(s.first_sequence),
                    cell(s.last_sequence),
                    number(s.records),
                ]
            })
        }),
    )
}

fn producer_sessions(producers: &[ProducerStats]) -> String {
    table(
        &[
            "producer instance",
            "PID/epoch in the log",
            "PID/epoch the client reported",
        ],
        producers.iter().map(|p| {
            vec![
                cell(p.producer),
                cell(sessions(&p.sessions_in_log)),
                cell(sessions(&p.sessions_reported)),
            ]
        }),
    )
}

/// `PID/epoch, PID/epoch, ...`
fn sessions(list: &[Session]) -> String {
    list.iter()
        .map(|s| format!("{}/{}", s.pid, s.epoch))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pids(p: &PartitionStats) -> String {
    let pids: BTreeSet<i64> = p.sessions.iter().map(|s| s.pid).collect();
    pids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn epochs(p: &PartitionStats) -> String {
    let epochs: BTreeSet<i16> = p.sessions.iter().map(|s| s.epoch).collect();
    epochs
        .iter()
        .map(i16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The numbers behind the verdict: sends by outcome, latency quantiles, the
/// fate of indeterminate sends, the final log, and what producers said about
/// themselves.
fn stats(run: &Run) -> String {
    let s = &run.results.stats;
    let sends = sends_by_outcome(&s.sends);
    let quantiles = latency_quantiles(run.timeline);
    let indeterminate = indeterminate_fates(&s.indeterminate);
    let log = final_log(s) + &consumer(run.results.consumer.as_ref());
    let f = &run.results.findings;
    format!(
        "<h2 id=\"stats\">Stats</h2>\n<h3>Sends by outcome</h3>\n{sends}<h3>Latency quantiles</h3>\n{quantiles}\
         <h3>Indeterminate sends (each may land at most once)</h3>\n{indeterminate}<h3>The final log</h3>\n{log}{}{}{}{}",
        nemesis_notes(&f.nemesis_failed),
        producer_notes("Producers that entered a fatal state", &f.producer_fatal),
        producer_notes(
            "Producers that stalled (open sends, none completed, no fault active)",
            &f.stalled
        ),
        producer_notes("Producers that rejected their configuration", &f.config_rejected)
    )
}

fn sends_by_outcome(sends: &SendStats) -> String {
    facts_table(&[
        ("invoked", count(sends.invoked)),
        ("of which the application's resends", count(sends.resends)),
        ("ok", count(sends.ok)),
        ("failed, definitely", count(sends.failed_definite)),
        ("failed, maybe written", count(sends.failed_maybe)),
        ("indeterminate (info)", count(sends.info)),
        ("never answered", count(sends.no_completion)),
        (
            "repeated answers (a buggy client)",
            count(sends.repeated_completions),
        ),
    ])
}

/// Quantiles of each outcome's latency; outcomes no send had are left out.
fn latency_quantiles(timeline: &Timeline) -> String {
    table(
        &["outcome", "sends", "p50", "p90", "p99", "p99.9", "max"],
        SendOutcome::ALL.iter().filter_map(|&o| {
            let l = timeline.latencies(o);
            let q = |q: f64| cell(quantile(&l, q).map(millis).unwrap_or_default());
            (!l.is_empty()).then(|| {
                vec![
                    cell(o.name()),
                    number(l.len() as u64),
                    q(0.5),
                    q(0.9),
                    q(0.99),
                    q(0.999),
                    q(1.0),
                ]
            })
        }),
    )
}

fn indeterminate_fates(indeterminate: &IndeterminateStats) -> String {
    facts_table(&[
        ("landed (once)", count(indeterminate.landed)),
        ("did not land", count(indeterminate.not_landed)),
        (
            "cannot tell (partition not fully read)",
            count(indeterminate.undetermined),
        ),
    ])
}

fn final_log(s: &Stats) -> String {
    facts_table(&[
        ("data records read", count(s.records_read)),
        ("control records", count(s.control_records)),
        ("aborted transactional records", count(s.aborted_records)),
        (
            "transactional records without a marker",
            count(s.undecided_records),
        ),
        (
            "records of sends the cut history does not hold (unrecorded)",
            count(s.unrecorded_records),
        ),
    ])
}

/// What the `read_committed` consumer read, when the run kept it.
fn consumer(consumer: Option<&ConsumerStats>) -> String {
    let Some(c) = consumer else {
        return String::new();
    };
    let listed = |p: &[Partition]| {
        let names: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        names.join(", ")
    };
    format!(
        "<h3>What a read_committed consumer delivered</h3>\n{}",
        facts_table(&[
            ("consumer", escape(&c.consumer)),
            ("records delivered", count(c.delivered)),
            ("partitions read", listed(&c.partitions)),
            (
                "stopped short of the last stable offset",
                listed(&c.incomplete)
            ),
        ])
    )
}

/// A section of what producers said about themselves; none when they said
/// nothing.
/// Steps of the fault schedule that did not happen as planned: the faults the
/// run asked for but did not test.
fn nemesis_notes(notes: &[NemesisNote]) -> String {
    if notes.is_empty() {
        return String::new();
    }
    let rows = notes.iter().map(|n| {
        let phase = match n.phase {
            NemesisPhase::Start => "not injected",
            NemesisPhase::Stop => "undo failed, healed instead",
            NemesisPhase::Heal => "heal failed",
        };
        vec![
            cell(seconds(crate::timeline::seconds(n.time))),
            cell(&n.fault),
            cell(phase),
            cell(&n.error),
        ]
    });
    format!(
        "<h3>Faults that did not go as planned</h3>\n{}",
        table(&["at", "fault", "what", "error"], rows)
    )
}

fn producer_notes(title: &str, notes: &[ProducerNote]) -> String {
    if notes.is_empty() {
        return String::new();
    }
    let rows = notes.iter().map(|n| {
        vec![
            cell(seconds(crate::timeline::seconds(n.time))),
            cell(n.producer),
            cell(&n.message),
        ]
    });
    format!(
        "<h3>{title}</h3>\n{}",
        table(&["at", "producer", "message"], rows)
    )
}
