//! One horizontal bar per labelled value, for the comparison page: the
//! cells of a compare side by side on one quantity (acknowledged sends per
//! second). Not a time chart, so it has its own frame; the label is written
//! beside the bar's end so no axis has to carry text.

use super::{colour, Drawn, WIDTH};
use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// One bar: its label, its value and its CSS colour.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub colour: &'static str,
}

const ROW_PIXELS: u32 = 28;

/// The bar chart of `bars`, top to bottom in their order, as an `<svg>`.
pub fn bar_chart(bars: &[Bar], x_description: &str) -> Result<String> {
    let rows = bars.len().max(1);
    let top = bars.iter().map(|b| b.value).fold(1.0, f64::max);
    // Room on the right for the longest bar's label.
    let x_end = top * 1.6;
    let mut svg = String::new();
    {
        let height = 70 + ROW_PIXELS * rows as u32;
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let drawn = (|| -> Drawn {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .x_label_area_size(34)
                .y_label_area_size(8)
                .build_cartesian_2d(0.0..x_end, -0.5..rows as f64 - 0.5)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .disable_y_axis()
                .x_desc(x_description)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .light_line_style(RGBColor(238, 238, 238))
                .bold_line_style(RGBColor(215, 215, 215))
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 16))
                .draw()?;
            for (i, bar) in bars.iter().enumerate() {
                let y = (rows - 1 - i) as f64;
                let fill = colour(bar.colour);
                chart.draw_series([Rectangle::new(
                    [(0.0, y - 0.32), (bar.value, y + 0.32)],
                    fill.filled(),
                )])?;
                let style = TextStyle::from(("sans-serif", 15)).color(&RGBColor(34, 34, 34));
                chart
                    .draw_series([EmptyElement::at((bar.value, y))
                        + Text::new(bar.label.clone(), (6, -8), style)])?;
            }
            root.present()
        })();
        drawn.map_err(|e| anyhow!("drawing a chart: {e}"))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_and_a_label_per_value() {
        let bars = [
            Bar {
                label: "java@4.1.0 × idempotent".into(),
                value: 990.0,
                colour: "#2e7d32",
            },
            Bar {
                label: "rdkafka@0.39 × idempotent".into(),
                value: 0.0,
                colour: "#c62828",
            },
        ];
        let svg = bar_chart(&bars, "acknowledged sends/s").unwrap();
        assert!(svg.contains("java@4.1.0 × idempotent") && svg.contains("rdkafka@0.39"));
        assert!(svg.contains("#2E7D32") || svg.contains("#2e7d32"), "{svg}");
    }
}
