//! `report.html`: one self-contained page that says what happened in a run,
//! when, to which messages, under which fault.
//!
//! Self-contained means it opens anywhere, years later, from a copied run
//! directory or a CI artefact: CSS inline, charts as inline SVG, no script,
//! no font, no network. The only links are relative ones to the broker logs
//! beside it in `nodes/`.

use crate::charts::{self, TimeFrame, ANOMALY_COLOUR, POINTS_PER_OUTCOME};
use crate::examples::{findings, Facts, KindFinding};
use crate::markup::{count, escape, millis, seconds, wall_clock};
use crate::run_info::RunInfo;
use crate::timeline::{quantile, SendOutcome, Timeline};
use anyhow::Result;
use checker::anomaly::Outcome;
use checker::results::PartitionStats;
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
    page += "<nav><a href=\"#configuration\">configuration</a><a href=\"#latency\">latency</a>\
             <a href=\"#throughput\">throughput</a><a href=\"#faults\">faults</a><a href=\"#anomalies\">anomalies</a>\
             <a href=\"#partitions\">partitions</a><a href=\"#stats\">stats</a></nav>\n";
    page += &configuration(run);
    page += &latency(run, &frame)?;
    page += &throughput(run, &frame)?;
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

fn configuration(run: &Run) -> String {
    let i = run.info;
    let text = |v: &Option<String>| v.as_deref().map(escape).unwrap_or_default();
    let shown = |v: Option<String>| v.map(|v| escape(&v)).unwrap_or_default();
    let settings = table(
        &["setting", "value"],
        i.producer_settings.iter().map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            vec![cell(k), cell(v)]
        }),
    );
    let schedule = i.nemesis.as_ref().map(|n| {
        let steps = n.steps.iter().map(|s| {
            vec![
                cell(format!("{:.3}", s.at)),
                cell(&s.action),
                cell(&s.fault),
            ]
        });
        table(&["at (s into the workload)", "action", "fault"], steps)
    });
    let phases = table(
        &["phase", "from (s)", "to (s)"],
        i.phases.iter().map(|p| {
            vec![
                cell(&p.name),
                cell(format!("{:.1}", p.start_s)),
                cell(p.end_s.map(|e| format!("{e:.1}")).unwrap_or_default()),
            ]
        }),
    );
    let logs: Vec<String> = run
        .broker_logs
        .iter()
        .map(|f| format!("<a href=\"{}\">{}</a>", escape(f), escape(f)))
        .collect();
    let rows = [
        ("preset", text(&i.preset)),
        (
            "promised guarantees",
            escape(&guarantee_names(&run.results.guarantees)),
        ),
        ("client", shown(i.client.as_ref().map(|c| c.to_string()))),
        (
            "producer settings",
            if i.producer_settings.is_empty() {
                String::new()
            } else {
                settings
            },
        ),
        ("Kafka version", text(&i.kafka_version)),
        ("image", text(&i.image)),
        ("topic", text(&i.topic)),
        ("seed", shown(i.seed.map(|s| s.to_string()))),
        ("time limit", shown(i.time_limit_s.map(seconds))),
        ("rate", shown(i.rate.map(|r| format!("{r} messages/s")))),
        ("producers", shown(i.producers.map(|n| n.to_string()))),
        ("partitions", shown(i.partitions.map(|n| n.to_string()))),
        (
            "message size",
            shown(i.message_size.map(|n| format!("{n} bytes"))),
        ),
        ("nemesis faults", escape(&i.faults().join(", "))),
        ("nemesis schedule", schedule.unwrap_or_default()),
        (
            "phases",
            if i.phases.is_empty() {
                String::new()
            } else {
                phases
            },
        ),
        ("broker logs", logs.join(" ")),
    ];
    format!(
        "<h2 id=\"configuration\">Configuration</h2>\n{}",
        facts_table(&rows)
    )
}

fn guarantee_names(guarantees: &[Guarantee]) -> String {
    guarantees
        .iter()
        .map(|g| g.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn legend(run: &Run) -> String {
    let mut out: String = SendOutcome::ALL
        .iter()
        .map(|o| {
            format!(
                "<span class=\"swatch\" style=\"background:{}\"></span>{}",
                o.colour(),
                o.name()
            )
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

fn example_row(timeline: &Timeline, e: &Facts) -> Vec<String> {
    let time = e.time(timeline);
    let message = match (e.message, e.attempt) {
        (Some(m), Some(a)) if a > 0 => format!("{m} attempt {a}"),
        (Some(m), _) => m.to_string(),
        (None, _) => "—".to_string(),
    };
    let records: Vec<String> = e
        .records
        .iter()
        .map(|r| {
            format!(
                "{}@{} {}/{} seq {}",
                r.partition, r.offset, r.pid, r.epoch, r.sequence
            )
        })
        .collect();
    let outcome = e.send.map_or("—".to_string(), |s| match &s.outcome {
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
    });
    // The checker records the faults active at the send; for records no
    // send explains, the history's intervals at the message's invoke.
    let faults: Vec<String> = match e.send {
        Some(s) => s
            .faults
            .iter()
            .map(|f| format!("{} {}", f.fault, f.targets.join(",")))
            .collect(),
        None => time.map_or(Vec::new(), |t| {
            timeline
                .faults_at(t)
                .map(|f| format!("{} {}", f.fault, f.targets.join(",")))
                .collect()
        }),
    };
    vec![
        cell(time.map_or("—".to_string(), seconds)),
        cell(message),
        format!(
            "<td>{}</td>",
            records
                .iter()
                .map(|r| escape(r))
                .collect::<Vec<_>>()
                .join("<br>")
        ),
        cell(e.note.as_deref().unwrap_or("")),
        cell(outcome),
        cell(if faults.is_empty() {
            "none".to_string()
        } else {
            faults.join("; ")
        }),
        cell(e.explanation),
    ]
}

fn partitions(run: &Run, frame: &TimeFrame) -> Result<String> {
    let stats = &run.results.stats;
    let ids: BTreeSet<i32> = stats
        .partitions
        .iter()
        .map(|p| p.partition)
        .chain(run.timeline.leaders.iter().map(|l| l.partition))
        .collect();
    let ids: Vec<i32> = ids.into_iter().collect();
    let mut out = "<h2 id=\"partitions\">Partitions</h2>\n<h3>Leadership</h3>\n".to_string();
    out += &match run.timeline.leaders.is_empty() {
        true => "<p>This run recorded no leader changes (no <code>leaders.jsonl</code>).</p>\n".to_string(),
        false => format!(
            "<figure>{}<figcaption>Each bar is one partition's leader (node id) from when the harness saw it \
             change; dark bars: no leader.</figcaption></figure>\n",
            charts::leadership_chart(frame, &ids, &run.timeline.leaders)?
        ),
    };
    let changes = |p: i32| {
        run.timeline
            .leaders
            .iter()
            .filter(|l| l.partition == p)
            .count()
            .saturating_sub(1)
    };
    out += "<h3>What each partition holds</h3>\n";
    out += &table(
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
        ],
        stats.partitions.iter().map(|p| {
            vec![
                cell(p.partition),
                number(p.records),
                cell(p.log_start_offset),
                cell(p.high_watermark),
                cell(p.last_offset.map_or("—".to_string(), |o| o.to_string())),
                cell(if p.complete { "yes" } else { "NO" }),
                number(changes(p.partition) as u64),
                cell(pids(p)),
                cell(epochs(p)),
            ]
        }),
    );
    out += "<h3>Sequence ranges per (PID, epoch)</h3>\n";
    out += &table(
        &[
            "partition",
            "PID",
            "epoch",
            "producer instances",
            "first sequence",
            "last sequence",
            "records",
        ],
        stats.partitions.iter().flat_map(|p| {
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
    );
    out += "<h3>Producers</h3>\n";
    let sessions = |list: &[checker::results::Session]| {
        list.iter()
            .map(|s| format!("{}/{}", s.pid, s.epoch))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out += &table(
        &[
            "producer instance",
            "PID/epoch in the log",
            "PID/epoch the client reported",
        ],
        stats.producers.iter().map(|p| {
            vec![
                cell(p.producer),
                cell(sessions(&p.sessions_in_log)),
                cell(sessions(&p.sessions_reported)),
            ]
        }),
    );
    Ok(out)
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

fn stats(run: &Run) -> String {
    let s = &run.results.stats;
    let sends = facts_table(&[
        ("invoked", count(s.sends.invoked)),
        ("of which the application's resends", count(s.sends.resends)),
        ("ok", count(s.sends.ok)),
        ("failed, definitely", count(s.sends.failed_definite)),
        ("failed, maybe written", count(s.sends.failed_maybe)),
        ("indeterminate (info)", count(s.sends.info)),
        ("never answered", count(s.sends.no_completion)),
        (
            "repeated answers (a buggy client)",
            count(s.sends.repeated_completions),
        ),
    ]);
    let indeterminate = facts_table(&[
        ("landed (once)", count(s.indeterminate.landed)),
        ("did not land", count(s.indeterminate.not_landed)),
        (
            "cannot tell (partition not fully read)",
            count(s.indeterminate.undetermined),
        ),
    ]);
    let quantiles = table(
        &["outcome", "sends", "p50", "p90", "p99", "p99.9", "max"],
        SendOutcome::ALL.iter().filter_map(|&o| {
            let l = run.timeline.latencies(o);
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
    );
    let log = facts_table(&[
        ("data records read", count(s.records_read)),
        ("control records", count(s.control_records)),
        ("aborted transactional records", count(s.aborted_records)),
        (
            "transactional records without a marker",
            count(s.undecided_records),
        ),
    ]);
    let f = &run.results.findings;
    let notes = |title: &str, notes: &[checker::results::ProducerNote]| match notes.is_empty() {
        true => String::new(),
        false => format!(
            "<h3>{title}</h3>\n{}",
            table(
                &["at", "producer", "message"],
                notes.iter().map(|n| vec![
                    cell(seconds(crate::timeline::seconds(n.time))),
                    cell(n.producer),
                    cell(&n.message)
                ])
            )
        ),
    };
    format!(
        "<h2 id=\"stats\">Stats</h2>\n<h3>Sends by outcome</h3>\n{sends}<h3>Latency quantiles</h3>\n{quantiles}\
         <h3>Indeterminate sends (each may land at most once)</h3>\n{indeterminate}<h3>The final log</h3>\n{log}{}{}{}",
        notes("Producers that entered a fatal state", &f.producer_fatal),
        notes(
            "Producers that stalled (open sends, none completed, no fault active)",
            &f.stalled
        ),
        notes("Producers that rejected their configuration", &f.config_rejected)
    )
}
