//! The time charts of the report, drawn with `plotters` into inline SVG.
//!
//! Every chart shares one frame ([`TimeFrame`]): the same x axis (seconds
//! since the run started, spanning the sends, the faults and the leader
//! changes), each nemesis interval shaded in its fault's colour and
//! labelled, and a red triangle on the time axis where each anomaly example
//! was sent. So the charts line up one above the other and a reader can
//! follow one moment down the page.
//!
//! The comparison page's bar chart ([`bar_chart`]) is the one chart not on
//! that time axis.
//!
//! Text is left to the browser: without a font feature `plotters` emits
//! `<text>` elements, so the SVG needs no font file and stays small.

mod bars;
mod latency;
mod leadership;
mod processors;
mod throughput;

pub use bars::{bar_chart, Bar};
pub use latency::{latency_chart, POINTS_PER_OUTCOME};
pub use leadership::leadership_chart;
pub use processors::processors_chart;
pub use throughput::{
    records_chart, throughput_chart, transactions_chart, COMMITTED_COLOUR, DELIVERED_COLOUR,
};

use crate::timeline::{FaultInterval, Timeline};
use anyhow::{anyhow, Result};
use nemesis::Fault;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Pixel width of every chart; the page lets the browser scale it down.
const WIDTH: u32 = 1200;
/// The plot area's share of [`WIDTH`] after the y labels and margins.
const PLOT_WIDTH: f64 = 1100.0;
/// Colour of anomaly markers.
pub const ANOMALY_COLOUR: &str = "#b5001f";
/// Colour of a fault this build of eoscheck does not know.
const UNKNOWN_FAULT_COLOUR: &str = "#999999";

/// What every time chart of one report has in common.
pub struct TimeFrame<'a> {
    pub start: f64,
    pub end: f64,
    pub faults: &'a [FaultInterval],
    /// When each anomaly example was sent (seconds since the run started).
    pub anomalies: &'a [f64],
}

impl<'a> TimeFrame<'a> {
    /// The frame spanning everything the timeline saw, with a little air.
    pub fn new(timeline: &'a Timeline, anomalies: &'a [f64]) -> TimeFrame<'a> {
        let starts = timeline.sends.iter().map(|s| s.invoked);
        let start = starts
            .chain(timeline.faults.iter().map(|f| f.start))
            .chain(timeline.leaders.iter().map(|l| l.time))
            .fold(f64::INFINITY, f64::min);
        let (start, end) = match start.is_finite() {
            true => (start, timeline.last_event.max(start + 1.0)),
            false => (0.0, 1.0),
        };
        let air = (end - start) * 0.01;
        TimeFrame {
            start: (start - air).max(0.0),
            end: end + air,
            faults: &timeline.faults,
            anomalies,
        }
    }

    fn span(&self) -> f64 {
        self.end - self.start
    }

    /// Roughly how many pixels `seconds` take on the x axis.
    fn pixels(&self, seconds: f64) -> f64 {
        seconds / self.span() * PLOT_WIDTH
    }
}

/// The y axis of one chart.
pub struct YAxis<Y> {
    pub coord: Y,
    pub description: String,
    /// How many labels, and how they read.
    pub labels: usize,
    pub format: fn(&f64) -> String,
}

type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;
type Drawn = Result<(), DrawingAreaErrorKind<<SVGBackend<'static> as DrawingBackend>::ErrorType>>;

/// Draws one time chart: axes, fault shading, then `body`, then anomaly
/// markers on top. Returns the `<svg>` element.
fn time_chart<Y>(
    frame: &TimeFrame,
    height: u32,
    y: YAxis<Y>,
    body: impl FnOnce(&mut Chart<Y>) -> Drawn,
) -> Result<String>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let (y0, y1) = (y.coord.range().start, y.coord.range().end);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let drawn =
            (|| -> Drawn {
                root.fill(&WHITE)?;
                let mut chart = ChartBuilder::on(&root)
                    .margin(12)
                    .x_label_area_size(34)
                    .y_label_area_size(64)
                    .build_cartesian_2d(RangedCoordf64::from(frame.start..frame.end), y.coord)?;
                chart
                    .configure_mesh()
                    .x_desc("seconds since the run started")
                    .y_desc(&y.description)
                    .y_labels(y.labels)
                    .y_label_formatter(&y.format)
                    .light_line_style(RGBColor(238, 238, 238))
                    .bold_line_style(RGBColor(215, 215, 215))
                    .label_style(("sans-serif", 15))
                    .axis_desc_style(("sans-serif", 16))
                    .draw()?;
                shade_faults(&mut chart, frame, y0, y1)?;
                body(&mut chart)?;
                let marker = ShapeStyle::from(&colour(ANOMALY_COLOUR)).filled();
                chart.draw_series(frame.anomalies.iter().map(|&t| {
                    EmptyElement::at((t, y0)) + TriangleMarker::new((0, -5), 5, marker)
                }))?;
                root.present()
            })();
        drawn.map_err(|e| anyhow!("drawing a chart: {e}"))?;
    }
    Ok(svg)
}

/// Shades each fault interval across the whole height and writes its label
/// at the top, staggered so that overlapping intervals stay readable.
fn shade_faults<Y>(chart: &mut Chart<Y>, frame: &TimeFrame, y0: f64, y1: f64) -> Drawn
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    for (i, interval) in frame.faults.iter().enumerate() {
        let (fill, label) = fault_style(&interval.fault);
        let end = interval.end.unwrap_or(frame.end);
        chart.draw_series([Rectangle::new(
            [(interval.start, y0), (end, y1)],
            fill.mix(0.16).filled(),
        )])?;
        let text = match interval.end {
            Some(_) => label,
            None => format!("{label} (never healed)"),
        };
        let style = TextStyle::from(("sans-serif", 15)).color(&fill);
        let row = (i % 3) as i32;
        chart.draw_series([
            EmptyElement::at((interval.start, y1)) + Text::new(text, (3, 3 + 15 * row), style)
        ])?;
    }
    Ok(())
}

/// The colour and label of a fault by its name in the history; a name this
/// build does not know is still shown, in grey, under its own name.
pub fn fault_style(name: &str) -> (RGBColor, String) {
    match name.parse::<Fault>() {
        Ok(fault) => (colour(fault.colour()), fault.label().to_string()),
        Err(_) => (colour(UNKNOWN_FAULT_COLOUR), name.to_string()),
    }
}

/// The CSS colour `#rrggbb` as `plotters` wants it (black if malformed).
pub fn colour(css: &str) -> RGBColor {
    let channel = |i: usize| {
        css.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    };
    RGBColor(channel(1), channel(3), channel(5))
}

/// The CSS colour of a fault by its name in the history.
pub fn fault_css_colour(name: &str) -> String {
    let RGBColor(r, g, b) = fault_style(name).0;
    format!("#{r:02x}{g:02x}{b:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_faults_take_their_colour_and_unknown_ones_are_grey() {
        assert_eq!(
            fault_css_colour("ack-loss"),
            nemesis::Fault::AckLoss.colour()
        );
        assert_eq!(
            fault_style("cosmic-ray"),
            (colour(UNKNOWN_FAULT_COLOUR), "cosmic-ray".to_string())
        );
        assert_eq!(colour("#0a0b0c"), RGBColor(10, 11, 12));
    }
}
