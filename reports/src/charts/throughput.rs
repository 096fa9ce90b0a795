//! Rates over time: sends answered per second by outcome, by when the
//! client answered (sends never answered have no time and are counted in
//! the statistics instead), and transactions ended per second by how.
//!
//! Bins are one second wide; a run longer than [`MAX_BINS`] seconds gets
//! wider bins (still plotted as a rate per second) so the line stays light.

use super::{colour, time_chart, TimeFrame, YAxis};
use crate::processors::{Processors, Records};
use crate::timeline::{CompletedSend, EndedTxn, SendOutcome, TxnEnding};
use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const MAX_BINS: f64 = 600.0;

/// The throughput chart of `sends` as an `<svg>` element.
pub fn throughput_chart(frame: &TimeFrame, sends: &[CompletedSend]) -> Result<String> {
    let series = SendOutcome::ALL.map(|outcome| {
        let times = sends.iter().filter(|s| s.outcome == outcome);
        (
            outcome.colour(),
            times.map(CompletedSend::completed).collect(),
        )
    });
    rates_chart(frame, &series, "sends/s")
}

/// Transactions ended per second, committed, aborted and indeterminate, as
/// an `<svg>` element.
pub fn transactions_chart(frame: &TimeFrame, txns: &[EndedTxn]) -> Result<String> {
    let series = TxnEnding::ALL.map(|ending| {
        let times = txns.iter().filter(|t| t.ending == ending);
        (ending.colour(), times.map(|t| t.time).collect())
    });
    rates_chart(frame, &series, "transactions/s")
}

/// A pipeline's records per second: delivered by the processors' polls,
/// and covered by their committed transactions.
pub fn records_chart(frame: &TimeFrame, processors: &Processors) -> Result<String> {
    let weighted = |records: &[Records]| records.iter().map(|r| (r.time, r.count as f64)).collect();
    let series = [
        (DELIVERED_COLOUR, weighted(&processors.delivered)),
        (COMMITTED_COLOUR, weighted(&processors.committed)),
    ];
    weighted_rates_chart(frame, &series, "input records/s")
}

/// How the records chart draws what the processors delivered and committed.
pub const DELIVERED_COLOUR: &str = "#9ecae1";
pub const COMMITTED_COLOUR: &str = "#2e7d32";

/// One step line per series (its colour and the times of its events) of
/// events per second.
fn rates_chart(
    frame: &TimeFrame,
    series: &[(&'static str, Vec<f64>)],
    unit: &'static str,
) -> Result<String> {
    let weighted: Vec<(&'static str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(c, times)| (*c, times.iter().map(|&t| (t, 1.0)).collect()))
        .collect();
    weighted_rates_chart(frame, &weighted, unit)
}

/// One step line per series (its colour, and the time and weight of each
/// of its events) of weight per second.
fn weighted_rates_chart(
    frame: &TimeFrame,
    series: &[(&'static str, Vec<(f64, f64)>)],
    unit: &'static str,
) -> Result<String> {
    let width = (frame.span() / MAX_BINS).ceil().max(1.0);
    let bins = (frame.span() / width).ceil() as usize;
    let rates: Vec<(&str, Vec<f64>)> = series
        .iter()
        .map(|(colour, times)| {
            let mut rate = vec![0.0; bins];
            for (t, weight) in times {
                let i = ((t - frame.start).max(0.0) / width) as usize;
                rate[i.min(bins - 1)] += weight / width;
            }
            (*colour, rate)
        })
        .collect();
    let top = rates
        .iter()
        .flat_map(|(_, r)| r.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let axis = YAxis {
        coord: RangedCoordf64::from(0.0..top),
        description: match width > 1.0 {
            true => format!("{unit} (averaged per bin)"),
            false => unit.into(),
        },
        labels: 8,
        format: |v| format!("{v:.0}"),
    };
    time_chart(frame, 300, axis, |chart| {
        for (series_colour, rate) in &rates {
            let at = |i: usize| frame.start + width * i as f64;
            // Steps: each bin's rate holds over its whole width.
            let steps = rate
                .iter()
                .enumerate()
                .flat_map(|(i, &r)| [(at(i), r), (at(i + 1), r)]);
            chart.draw_series(LineSeries::new(
                steps,
                colour(series_colour).stroke_width(2),
            ))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_outcome() {
        let frame = TimeFrame {
            start: 0.0,
            end: 4.0,
            faults: &[],
            anomalies: &[1.5],
        };
        let sends = [CompletedSend {
            invoked: 1.0,
            latency: 0.5,
            outcome: SendOutcome::Ok,
        }];
        let svg = throughput_chart(&frame, &sends).unwrap();
        assert_eq!(
            svg.matches("stroke-width=\"2\" points=").count(),
            3,
            "{svg}"
        );
        assert_eq!(svg.matches("<polygon").count(), 1, "one anomaly marker");
    }
}
