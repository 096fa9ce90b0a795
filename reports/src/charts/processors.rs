//! A pipeline's processors over time: one lane per slot, a bar for each
//! stretch it held input partitions (labelled with them), and a mark where
//! an instance ended other than by closing (crashed, fenced, failed). Lanes
//! line up with the fault shading, so a rebalance can be read against the
//! crash or freeze that caused it.

use super::{colour, time_chart, TimeFrame, YAxis, ANOMALY_COLOUR};
use crate::processors::Processors;
use anyhow::Result;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const HOLDING_COLOUR: &str = "#4c78a8";
/// A bar narrower than this many pixels gets no label.
const LABEL_PIXELS: f64 = 40.0;

/// The processors' lanes as an `<svg>` element.
pub fn processors_chart(frame: &TimeFrame, processors: &Processors) -> Result<String> {
    let lanes = processors.slots().max(1) as usize;
    let axis = YAxis {
        coord: RangedCoordf64::from(-0.5..lanes as f64 - 0.5),
        description: "processor".into(),
        labels: lanes,
        format: |v| format!("{v:.0}"),
    };
    time_chart(frame, 90 + 36 * lanes as u32, axis, |chart| {
        for h in &processors.holdings {
            let lane = f64::from(h.slot);
            let until = h.end.unwrap_or(frame.end);
            let bar = [(h.start, lane - 0.3), (until, lane + 0.3)];
            let fill = colour(HOLDING_COLOUR).mix(0.8).filled();
            chart.draw_series([Rectangle::new(bar, fill)])?;
            if frame.pixels(until - h.start) >= LABEL_PIXELS {
                let list: Vec<String> = h.partitions.iter().map(|p| p.to_string()).collect();
                let style = TextStyle::from(("sans-serif", 14)).color(&WHITE);
                let label = Text::new(format!("p {}", list.join(",")), (4, -5), style);
                chart.draw_series([EmptyElement::at((h.start, lane)) + label])?;
            }
        }
        let ends = processors.instances.iter().filter_map(|i| {
            let (t, why) = i.end.as_ref()?;
            (!why.starts_with("closed")).then_some((*t, f64::from(i.slot)))
        });
        let mark = ShapeStyle::from(&colour(ANOMALY_COLOUR)).stroke_width(3);
        chart.draw_series(
            ends.map(|(t, lane)| PathElement::new(vec![(t, lane - 0.45), (t, lane + 0.45)], mark)),
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_per_holding_and_a_mark_per_crash() {
        let frame = TimeFrame {
            start: 0.0,
            end: 20.0,
            faults: &[],
            anomalies: &[],
        };
        let mut p = Processors::default();
        p.start(1_000_000_000, 0);
        p.start(1_000_000_000, 1);
        p.assign(2_000_000_000, 0, &[0, 2]);
        p.assign(2_000_000_000, 1, &[1]);
        p.stop(10_000_000_000, 1, "crashed: killed by the nemesis");
        p.assign(12_000_000_000, 0, &[0, 1, 2]);
        let svg = processors_chart(&frame, &p).unwrap();
        for label in ["p 0,2", "p 1", "p 0,1,2"] {
            assert!(svg.contains(label), "{label} in {svg}");
        }
        assert_eq!(svg.matches("stroke-width=\"3\"").count(), 1, "{svg}");
    }
}
