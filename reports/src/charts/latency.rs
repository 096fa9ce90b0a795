//! Latency over time: x = when the send was invoked, y = how long the client
//! took to answer (log scale), coloured by outcome.
//!
//! How it stays quick to open: an outcome with at most
//! [`POINTS_PER_OUTCOME`] sends is drawn point by point; an outcome with
//! more is drawn as a density layer instead, a grid of [`TIME_BINS`] ×
//! [`LATENCY_BINS`] cells (log-spaced in latency) in the outcome's colour,
//! each cell's opacity growing with the logarithm of the sends in it. So a
//! 100k-send run emits at most a few thousand cells for its `ok` sends
//! while its rare failures and indeterminate sends still show one by one.

use super::{colour, time_chart, TimeFrame, YAxis};
use crate::timeline::{CompletedSend, SendOutcome};
use anyhow::Result;
use plotters::prelude::*;

/// Above this many sends of one outcome, the outcome is drawn as density.
pub const POINTS_PER_OUTCOME: usize = 5_000;
const TIME_BINS: usize = 240;
const LATENCY_BINS: usize = 60;
/// Latencies below this (clock granularity) are drawn at it, in ms.
const FLOOR_MS: f64 = 0.01;

/// The latency chart of `sends` as an `<svg>` element.
pub fn latency_chart(frame: &TimeFrame, sends: &[CompletedSend]) -> Result<String> {
    let ms = |s: &CompletedSend| (s.latency * 1e3).max(FLOOR_MS);
    let (lo, hi) = sends
        .iter()
        .map(ms)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let (lo, hi) = match lo.is_finite() {
        true => (decade_below(lo), decade_above(hi.max(lo * 10.0))),
        false => (1.0, 1000.0),
    };
    let axis = YAxis {
        coord: LogCoord::from((lo..hi).log_scale()),
        description: "latency (ms, log scale)".into(),
        labels: 10,
        format: |v| format!("{v}"),
    };
    time_chart(frame, 420, axis, |chart| {
        for outcome in SendOutcome::ALL {
            let points: Vec<(f64, f64)> = sends
                .iter()
                .filter(|s| s.outcome == outcome)
                .map(|s| (s.invoked, ms(s)))
                .collect();
            let fill = colour(outcome.colour());
            if points.len() <= POINTS_PER_OUTCOME {
                let style = fill.mix(0.8).filled();
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 2, style)))?;
            } else {
                let grid = Density::of(&points, frame, (lo, hi));
                chart.draw_series(grid.cells().map(|(corners, strength)| {
                    Rectangle::new(corners, fill.mix(0.15 + 0.85 * strength).filled())
                }))?;
            }
        }
        Ok(())
    })
}

fn decade_below(v: f64) -> f64 {
    10f64.powf(v.log10().floor())
}

fn decade_above(v: f64) -> f64 {
    10f64.powf(v.log10().ceil())
}

/// Sends counted per (time, log-latency) cell.
struct Density {
    counts: Vec<u32>,
    time: (f64, f64),
    /// log10 of the latency range, in ms.
    log_latency: (f64, f64),
}

impl Density {
    fn of(points: &[(f64, f64)], frame: &TimeFrame, (lo, hi): (f64, f64)) -> Density {
        let mut grid = Density {
            counts: vec![0; TIME_BINS * LATENCY_BINS],
            time: (frame.start, frame.end),
            log_latency: (lo.log10(), hi.log10()),
        };
        for &(t, ms) in points {
            let x = bin(t, grid.time, TIME_BINS);
            let y = bin(ms.log10(), grid.log_latency, LATENCY_BINS);
            grid.counts[y * TIME_BINS + x] += 1;
        }
        grid
    }

    /// Each non-empty cell's corners (time, ms) and its strength in (0, 1]:
    /// ln(1 + count) relative to the fullest cell.
    fn cells(&self) -> impl Iterator<Item = ([(f64, f64); 2], f64)> + '_ {
        let fullest = (1.0 + f64::from(self.counts.iter().copied().max().unwrap_or(0))).ln();
        let edge = |(a, b): (f64, f64), bins: usize, i: usize| a + (b - a) * i as f64 / bins as f64;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(move |(i, &c)| {
                let (x, y) = (i % TIME_BINS, i / TIME_BINS);
                let ms = |j| 10f64.powf(edge(self.log_latency, LATENCY_BINS, j));
                let corners = [
                    (edge(self.time, TIME_BINS, x), ms(y)),
                    (edge(self.time, TIME_BINS, x + 1), ms(y + 1)),
                ];
                (corners, (1.0 + f64::from(c)).ln() / fullest)
            })
    }
}

/// The bin of `v` among `bins` equal bins over `range`, clamped.
fn bin(v: f64, (a, b): (f64, f64), bins: usize) -> usize {
    (((v - a) / (b - a) * bins as f64) as usize).min(bins - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> TimeFrame<'static> {
        TimeFrame {
            start: 0.0,
            end: 10.0,
            faults: &[],
            anomalies: &[],
        }
    }

    #[test]
    fn density_counts_each_point_once_and_the_fullest_cell_is_strongest() {
        let points: Vec<(f64, f64)> = (0..1000)
            .map(|i| (f64::from(i % 10), if i < 900 { 2.0 } else { 300.0 }))
            .collect();
        let grid = Density::of(&points, &frame(), (1.0, 1000.0));
        assert_eq!(grid.counts.iter().sum::<u32>(), 1000);
        let cells: Vec<_> = grid.cells().collect();
        assert_eq!(cells.len(), 20);
        assert!(
            cells.iter().any(|(_, s)| *s == 1.0)
                && cells.iter().all(|(_, s)| *s > 0.0 && *s <= 1.0)
        );
        let [(t0, ms0), (t1, ms1)] = cells[0].0;
        assert!(
            t0 <= 0.0 && 0.0 < t1 && ms0 <= 2.0 && 2.0 < ms1,
            "{:?}",
            cells[0]
        );
    }

    #[test]
    fn many_sends_draw_cells_not_points() {
        let sends: Vec<CompletedSend> = (0..20_000)
            .map(|i| CompletedSend {
                invoked: f64::from(i) / 2000.0,
                latency: 0.002,
                outcome: SendOutcome::Ok,
            })
            .chain([CompletedSend {
                invoked: 5.0,
                latency: 30.0,
                outcome: SendOutcome::Indeterminate,
            }])
            .collect();
        let svg = latency_chart(&frame(), &sends).unwrap();
        assert_eq!(
            svg.matches("<circle").count(),
            1,
            "only the indeterminate send is a point"
        );
        assert!(svg.matches("<rect").count() <= TIME_BINS * 2 + 10);
        assert!(svg.len() < 200_000, "{} bytes", svg.len());
    }
}
