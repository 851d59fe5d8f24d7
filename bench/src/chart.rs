//! The report's chart: horizontal bars, one panel per measure, drawn with plotters into a
//! PNG next to `BENCHMARKS.md`.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

/// Where plotters finds a font for labels (Debian package `fonts-dejavu-core`).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// One panel: a title, a unit and labelled values.
pub struct Panel {
    /// Caption.
    pub title: String,
    /// Bars, top to bottom.
    pub bars: Vec<(String, f64)>,
}

/// Draws `panels` one above the other into `path`, each the full width so long labels fit.
pub fn draw(path: &Path, panels: &[Panel]) -> anyhow::Result<()> {
    let font = std::fs::read(FONT)
        .with_context(|| format!("{FONT} is missing (apt-get install fonts-dejavu-core)"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow::anyhow!("bad font"))?;
    let bars = panels.iter().map(|p| p.bars.len()).max().unwrap_or(1) as u32;
    let rows = panels.len().max(1);
    let root = BitMapBackend::new(path, (1200, rows as u32 * (100 + 40 * bars))).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, panel) in root.split_evenly((rows, 1)).iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
) -> anyhow::Result<()> {
    let max = panel.bars.iter().map(|(_, v)| *v).fold(0.0, f64::max) * 1.1;
    let n = panel.bars.len();
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(300)
        .build_cartesian_2d(0.0..max.max(1.0), 0.0..n as f64)?;
    let labels: Vec<String> = panel.bars.iter().map(|(label, _)| label.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            let slot = (n as f64 - y - 0.5).round();
            let centred = (n as f64 - y - 0.5 - slot).abs() < 0.01;
            if centred && slot >= 0.0 {
                labels.get(slot as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_labels(8)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    chart.draw_series(panel.bars.iter().enumerate().map(|(i, (_, value))| {
        let top = n as f64 - i as f64;
        Rectangle::new([(0.0, top - 0.15), (*value, top - 0.85)], BLUE.mix(0.6).filled())
    }))?;
    Ok(())
}
