//! The report's section on a pipeline run: the processors' lanes (which
//! input partitions each slot held, and where an instance died), input
//! records delivered against records committed per second, and the counts
//! the checker made of input against committed output.

use anyhow::Result;
use checker::results::PipelineStats;

use crate::charts::{self, TimeFrame, COMMITTED_COLOUR, DELIVERED_COLOUR};
use crate::markup::{count, escape};
use crate::page::{facts_table, legend_of, Run};

/// The section, for a pipeline run; nothing otherwise.
pub(crate) fn section(run: &Run, frame: &TimeFrame) -> Result<String> {
    let Some(stats) = &run.results.pipeline else {
        return Ok(String::new());
    };
    let processors = &run.timeline.processors;
    let lanes = charts::processors_chart(frame, processors)?;
    let records = charts::records_chart(frame, processors)?;
    let series = [
        (DELIVERED_COLOUR, "delivered by a poll"),
        (COMMITTED_COLOUR, "committed (transaction or offset commit)"),
    ];
    Ok(format!(
        "<h2 id=\"pipeline\">Pipeline</h2>\n\
         <p>Input <code>{}</code> → output <code>{}</code>, {} processor slots, {} instances.</p>\n\
         <h3>Processors</h3>\n<figure>{lanes}<figcaption>{}<br>Each bar is a stretch a processor \
         held the input partitions it names; a red line marks an instance that ended other than \
         by closing (crashed, fenced, failed).</figcaption></figure>\n\
         <h3>Records</h3>\n<figure>{records}<figcaption>{}<br>Input records per second the \
         processors' polls delivered, and those their committed transactions covered.</figcaption></figure>\n\
         <h3>Input against committed output</h3>\n{}",
        escape(&stats.input_topic),
        escape(&stats.output_topic),
        stats.processors,
        stats.instances,
        legend_of(run, std::iter::empty()),
        legend_of(run, series.into_iter()),
        counts(stats)
    ))
}

fn counts(s: &PipelineStats) -> String {
    let ended = |map: &std::collections::BTreeMap<String, u64>| {
        let each: Vec<String> = map
            .iter()
            .map(|(k, n)| format!("{k} {}", count(*n)))
            .collect();
        escape(&each.join(", "))
    };
    let group = match &s.group_offsets {
        Some(offsets) => {
            let each: Vec<String> = offsets.iter().map(|(p, o)| format!("{p}: {o}")).collect();
            escape(&each.join(", "))
        }
        None => "not read".into(),
    };
    facts_table(&[
        ("committed input records", count(s.inputs_committed)),
        ("… processed exactly once", count(s.processed_once)),
        ("… processed more than once", count(s.processed_more)),
        ("… not processed by the end", count(s.unprocessed)),
        (
            "aborted input records (the feeder's on purpose)",
            count(s.inputs_aborted),
        ),
        ("input records without a marker", count(s.inputs_unmarked)),
        ("committed output records", count(s.outputs_committed)),
        ("aborted output records", count(s.outputs_aborted)),
        ("output records without a marker", count(s.outputs_unmarked)),
        ("committed output of no processor", count(s.outputs_foreign)),
        (
            "output made from uncommitted input",
            count(s.outputs_of_uncommitted),
        ),
        ("records the polls delivered", count(s.polled)),
        (
            "assignments (partitions lost)",
            format!("{} ({})", count(s.assignments), count(s.lost_assignments)),
        ),
        ("transactions by how they ended", ended(&s.transactions)),
        ("instances by how they ended", ended(&s.stops)),
        ("the group's committed offsets at the end", group),
        (
            "anomalies of the feeder (reported, not judged)",
            count(s.feeder_anomalies),
        ),
    ])
}
