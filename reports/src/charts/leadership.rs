//! Leadership over time: one lane per partition, a bar for each stretch of
//! one leader (from `leaders.jsonl`), labelled with the leader's node id.
//! Lanes line up with the other charts, so a leader change can be read
//! against the fault that caused it and the latency it cost.

use super::{colour, time_chart, TimeFrame, YAxis};
use crate::timeline::LeaderChange;
use anyhow::Result;
use checker::ids::Partition;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Leader node colours, by node id modulo their number.
const LEADER_COLOURS: [&str; 6] = [
    "#6baed6", "#74c476", "#9e9ac8", "#fd8d3c", "#e377c2", "#bcbd22",
];
const NO_LEADER_COLOUR: &str = "#444444";
/// A bar narrower than this many pixels gets no label.
const LABEL_PIXELS: f64 = 56.0;

/// The leadership chart of `partitions` as an `<svg>` element.
pub fn leadership_chart(
    frame: &TimeFrame,
    partitions: &[Partition],
    changes: &[LeaderChange],
) -> Result<String> {
    let lanes = partitions.len().max(1);
    let axis = YAxis {
        coord: RangedCoordf64::from(-0.5..lanes as f64 - 0.5),
        description: "partition".into(),
        labels: lanes,
        format: |v| format!("{v:.0}"),
    };
    time_chart(frame, 90 + 36 * lanes as u32, axis, |chart| {
        for (lane, &partition) in partitions.iter().enumerate() {
            let lane = lane as f64;
            let own: Vec<&LeaderChange> = changes
                .iter()
                .filter(|c| c.partition == partition)
                .collect();
            for (i, change) in own.iter().enumerate() {
                let until = own.get(i + 1).map_or(frame.end, |next| next.time);
                let (fill, label) = match change.leader {
                    Some(node) => (
                        LEADER_COLOURS[node.unsigned_abs() as usize % LEADER_COLOURS.len()],
                        format!("leader {node}"),
                    ),
                    None => (NO_LEADER_COLOUR, "no leader".to_string()),
                };
                let bar = [(change.time, lane - 0.3), (until, lane + 0.3)];
                chart.draw_series([Rectangle::new(bar, colour(fill).mix(0.85).filled())])?;
                if frame.pixels(until - change.time) >= LABEL_PIXELS {
                    let style = TextStyle::from(("sans-serif", 15)).color(&WHITE);
                    chart
                        .draw_series([EmptyElement::at((change.time, lane))
                            + Text::new(label, (4, -5), style)])?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_per_stretch_of_leadership() {
        let frame = TimeFrame {
            start: 0.0,
            end: 10.0,
            faults: &[],
            anomalies: &[],
        };
        let changes = [
            LeaderChange {
                time: 0.5,
                partition: 1,
                leader: Some(1),
            },
            LeaderChange {
                time: 4.0,
                partition: 1,
                leader: None,
            },
            LeaderChange {
                time: 4.5,
                partition: 1,
                leader: Some(3),
            },
        ];
        let svg = leadership_chart(&frame, &[0, 1], &changes).unwrap();
        assert!(
            svg.contains("leader 1") && svg.contains("leader 3"),
            "{svg}"
        );
        assert!(
            !svg.contains("no leader"),
            "half a second is too narrow to label"
        );
    }
}
