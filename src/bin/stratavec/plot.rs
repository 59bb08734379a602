//! `--svg`: a recall-vs-QPS plot of a report, drawn the way ann-benchmarks draws them — Recall@K
//! on the x axis, single-thread queries per second on a logarithmic y axis, one line per
//! configuration (engine, codec, oversampling) through its ef sweep, up and to the right is better.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;
use stratavec::eval::{BenchConfig, BenchReport};

/// The line a result belongs to.
fn series_label(c: &BenchConfig) -> String {
    let mut label = String::new();
    if let Some(engine) = &c.engine {
        label.push_str(engine);
        label.push(' ');
    }
    label.push_str(if c.quant == "none" { "f32" } else { &c.quant });
    if let Some(o) = c.oversample {
        label.push_str(&format!(" ×{o}"));
    }
    if let Some(layout) = c.layout.as_deref().filter(|l| *l != "compact") {
        label.push_str(&format!(" {layout}"));
    }
    label
}

/// Writes the plot of `report` to `path` as SVG.
pub(crate) fn write_svg(
    report: &BenchReport,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &report.results {
        if r.qps_single_thread > 0.0 {
            lines
                .entry(series_label(&r.config))
                .or_default()
                .push((r.recall_at_k, r.qps_single_thread));
        }
    }
    if lines.is_empty() {
        return Err("no results to plot".into());
    }
    for points in lines.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let all = lines.values().flatten();
    let (mut x_min, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, 0.0f64);
    for &(x, y) in all {
        x_min = x_min.min(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    let x_min = ((x_min - 0.02).max(0.0) * 50.0).floor() / 50.0;
    let k = report.results[0].config.k;

    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{} ({} × {}, {}): Recall@{k} vs QPS, one thread",
                report.dataset.name,
                report.dataset.n_base,
                report.dataset.dim,
                report.dataset.metric
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..1.0f64, (y_min / 1.3..y_max * 1.3).log_scale())?;
    chart
        .configure_mesh()
        .max_light_lines(2)
        .x_desc(format!("Recall@{k}"))
        .y_desc("queries per second (log)")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (i, (label, points)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
