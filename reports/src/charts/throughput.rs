//! Throughput over time: completions per second by outcome, by when the
//! client answered. Sends never answered have no time and are counted in
//! the statistics instead.
//!
//! Bins are one second wide; a run longer than [`MAX_BINS`] seconds gets
//! wider bins (still plotted as a rate per second) so the line stays light.

use super::{colour, time_chart, TimeFrame, YAxis};
use crate::timeline::{CompletedSend, SendOutcome};
use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const MAX_BINS: f64 = 600.0;

/// The throughput chart of `sends` as an `<svg>` element.
pub fn throughput_chart(frame: &TimeFrame, sends: &[CompletedSend]) -> Result<String> {
    let width = (frame.span() / MAX_BINS).ceil().max(1.0);
    let bins = (frame.span() / width).ceil() as usize;
    let rates: Vec<(SendOutcome, Vec<f64>)> = SendOutcome::ALL
        .into_iter()
        .map(|outcome| {
            let mut rate = vec![0.0; bins];
            for send in sends.iter().filter(|s| s.outcome == outcome) {
                let i = ((send.completed() - frame.start) / width) as usize;
                rate[i.min(bins - 1)] += 1.0 / width;
            }
            (outcome, rate)
        })
        .collect();
    let top = rates
        .iter()
        .flat_map(|(_, r)| r.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let axis = YAxis {
        coord: RangedCoordf64::from(0.0..top),
        description: if width > 1.0 {
            "sends/s (averaged per bin)"
        } else {
            "sends/s"
        },
        labels: 8,
        format: |v| format!("{v:.0}"),
    };
    time_chart(frame, 300, axis, |chart| {
        for (outcome, rate) in &rates {
            let at = |i: usize| frame.start + width * i as f64;
            // Steps: each bin's rate holds over its whole width.
            let steps = rate
                .iter()
                .enumerate()
                .flat_map(|(i, &r)| [(at(i), r), (at(i + 1), r)]);
            chart.draw_series(LineSeries::new(
                steps,
                colour(outcome.colour()).stroke_width(2),
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
