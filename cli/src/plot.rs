//! Recall-vs-QPS plots, drawn the way ann-benchmarks draws them — Recall@K on the x axis,
//! single-thread queries per second on a logarithmic y axis, one line per configuration (engine,
//! codec, oversampling) through its ef sweep, up and to the right is better.
//!
//! Two entry points: `bench --svg` / `compare-pgvector --svg` plot one report
//! ([`write_svg`]), and `stratavec plot` ([`run`]) puts several result files on one plot:
//! `stratavec bench --json` and `compare-pgvector --json` reports, and the JSON that
//! `benches/peers/peers.py` writes (a list with one object per library).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use plotters::prelude::*;
use serde_json::Value;
use stratavec::eval::{BenchConfig, BenchReport};

use super::CliResult;

/// `stratavec plot` arguments.
#[derive(Args)]
pub struct PlotArgs {
    /// Result files: `stratavec bench --json` or `compare-pgvector --json` reports, or the JSON
    /// of `benches/peers/peers.py`. Append `@NAME,NAME` to keep only some engines of a file:
    /// e.g. `compare.json@pgvector` takes pgvector's line from a compare-pgvector report (the
    /// engine of a plain `bench` report is `stratavec`; a peers file's engines are its libraries).
    #[arg(required = true)]
    inputs: Vec<String>,
    /// The SVG to write.
    #[arg(long)]
    out: PathBuf,
    /// The title; default: the dataset's name, size and metric from the first input.
    #[arg(long)]
    title: Option<String>,
}

/// One line of a plot: its label, whether it is one of ours, and its (recall, QPS) points.
struct Line {
    label: String,
    ours: bool,
    points: Vec<(f64, f64)>,
}

/// The label of a stratavec configuration (without the engine).
fn config_label(c: &BenchConfig) -> String {
    let mut label = String::from(if c.quant == "none" { "f32" } else { &c.quant });
    if let Some(o) = c.oversample {
        label.push_str(&format!(" ×{o}"));
    }
    if let Some(layout) = c.layout.as_deref().filter(|l| *l != "compact") {
        label.push_str(&format!(" {layout}"));
    }
    label
}

/// The line a result belongs to: `engine codec [×oversample] [layout]`.
pub(crate) fn series_label(c: &BenchConfig) -> String {
    match &c.engine {
        Some(engine) => format!("{engine} {}", config_label(c)),
        None => config_label(c),
    }
}

/// Groups `(label, ours, recall, qps)` rows into lines, each sorted by recall; rows with no
/// throughput are left out.
fn group(rows: impl IntoIterator<Item = (String, bool, f64, f64)>) -> Vec<Line> {
    let mut by_label: BTreeMap<String, Line> = BTreeMap::new();
    let mut order = Vec::new();
    for (label, ours, recall, qps) in rows {
        if !(qps > 0.0 && recall.is_finite()) {
            continue;
        }
        by_label
            .entry(label.clone())
            .or_insert_with(|| {
                order.push(label.clone());
                Line {
                    label,
                    ours,
                    points: Vec::new(),
                }
            })
            .points
            .push((recall, qps));
    }
    order
        .into_iter()
        .filter_map(|label| by_label.remove(&label))
        .map(|mut line| {
            line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
            line
        })
        .collect()
}

/// Line colours: Tableau's ten, then three more dark ones; they repeat after that.
const COLORS: [(u8, u8, u8); 13] = [
    (214, 39, 40),   // red
    (31, 119, 180),  // blue
    (44, 160, 44),   // green
    (255, 127, 14),  // orange
    (148, 103, 189), // purple
    (140, 86, 75),   // brown
    (227, 119, 194), // pink
    (127, 127, 127), // grey
    (188, 189, 34),  // olive
    (23, 190, 207),  // cyan
    (0, 0, 0),       // black
    (57, 59, 121),   // navy
    (140, 109, 49),  // ochre
];

/// A QPS axis label: 2500, 10k, 250k.
fn qps_label(y: f64) -> String {
    if y >= 10_000.0 {
        format!("{}k", (y / 1000.0).round())
    } else {
        format!("{y:.0}")
    }
}

/// The labelled QPS values between `lo` and `hi`: 1, 2 and 5 times each power of ten.
fn qps_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.max(1.0).log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = m * decade;
            if (lo..=hi).contains(&t) {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// Writes the plot of `report` to `path` as SVG.
pub(crate) fn write_svg(report: &BenchReport, path: &Path) -> CliResult<()> {
    let lines = group(report.results.iter().map(|r| {
        let ours = r.config.engine.as_deref().is_none_or(|e| e == "stratavec");
        (
            series_label(&r.config),
            ours,
            r.recall_at_k,
            r.qps_single_thread,
        )
    }));
    let k = report.results.first().map_or(10, |r| r.config.k);
    let d = &report.dataset;
    let title = format!(
        "{} ({} × {}, {}): Recall@{k} vs QPS, one thread",
        d.name, d.n_base, d.dim, d.metric
    );
    draw(&title, k, &lines, path)
}

/// What one input file holds, normalised: its lines, K and a description of the dataset.
struct Input {
    lines: Vec<(String, bool, f64, f64)>,
    k: Option<u64>,
    dataset: Option<String>,
}

/// Reads a report of `stratavec bench` / `compare-pgvector`, or the JSON of peers.py.
fn read_input(spec: &str) -> CliResult<Input> {
    let (path, engines) = match spec.rsplit_once('@') {
        Some((p, e)) if !e.contains('/') => (p, Some(e.split(',').collect::<Vec<_>>())),
        _ => (spec, None),
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let keep = |engine: &str| engines.as_ref().is_none_or(|list| list.contains(&engine));
    let mut input = Input {
        lines: Vec::new(),
        k: None,
        dataset: None,
    };
    if let Some(libs) = json.as_array() {
        // peers.py: one object per library; QPS is the better of its two single-thread modes
        // (a loop of one-query calls, and calls of 25 queries), as benches/peers/table.py reads it.
        for lib in libs {
            let name = lib["lib"]
                .as_str()
                .ok_or_else(|| format!("{path}: a peers entry without \"lib\""))?;
            input.k = input.k.or(lib["k"].as_u64());
            if input.dataset.is_none() {
                input.dataset = Some(format!(
                    "{} ({} × {}, {})",
                    lib["dataset"].as_str().unwrap_or("?"),
                    lib["n_base"],
                    lib["dim"],
                    lib["metric"].as_str().unwrap_or("?")
                ));
            }
            if !keep(name) {
                continue;
            }
            let version = lib["lib_version"].as_str().unwrap_or_default();
            let label = if version.is_empty() {
                name.to_string()
            } else {
                format!("{name} {version}")
            };
            for r in lib["results"].as_array().into_iter().flatten() {
                let qps = ["qps_single_query_loop", "qps_batch_1thread"]
                    .iter()
                    .filter_map(|key| r[key].as_f64())
                    .fold(0.0, f64::max);
                let recall = r["recall_at_k"].as_f64().unwrap_or(f64::NAN);
                input.lines.push((label.clone(), false, recall, qps));
            }
        }
        return Ok(input);
    }
    // A stratavec report (`bench` or `compare-pgvector`; the latter's extra fields are ignored).
    let report: BenchReport = serde_json::from_value(json.clone())
        .map_err(|e| format!("{path}: neither a stratavec report nor peers.py output ({e})"))?;
    let d = &report.dataset;
    input.dataset = Some(format!(
        "{} ({} × {}, {})",
        d.name, d.n_base, d.dim, d.metric
    ));
    input.k = report.results.first().map(|r| r.config.k as u64);
    let pg_version = json["pgvector"]["extension_version"].as_str();
    for r in &report.results {
        let engine = r.config.engine.as_deref().unwrap_or("stratavec");
        if !keep(engine) || r.config.filter.is_some() {
            continue;
        }
        let label = match (engine, pg_version) {
            ("pgvector", Some(v)) => format!("pgvector {v}"),
            _ => format!("{engine} {}", config_label(&r.config)),
        };
        input.lines.push((
            label,
            engine == "stratavec",
            r.recall_at_k,
            r.qps_single_thread,
        ));
    }
    Ok(input)
}

/// Runs `stratavec plot`.
pub fn run(args: PlotArgs) -> CliResult<()> {
    let mut rows = Vec::new();
    let (mut k, mut dataset) = (None, None);
    for spec in &args.inputs {
        let input = read_input(spec)?;
        k = k.or(input.k);
        dataset = dataset.or(input.dataset);
        rows.extend(input.lines);
    }
    let k = k.unwrap_or(10) as usize;
    let title = args.title.unwrap_or_else(|| {
        format!(
            "{}: Recall@{k} vs QPS, one thread",
            dataset.unwrap_or_default()
        )
    });
    draw(&title, k, &group(rows), &args.out)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// Draws `lines` as SVG into `path`: the plot on the left, the legend (one entry per line, in
/// order) on the right. Our lines are solid with filled dots; the others dashed with hollow dots.
fn draw(title: &str, k: usize, lines: &[Line], path: &Path) -> CliResult<()> {
    if lines.is_empty() {
        return Err("no results to plot".into());
    }
    let (mut x_min, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, 0.0f64);
    for &(x, y) in lines.iter().flat_map(|l| &l.points) {
        x_min = x_min.min(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    let x_min = ((x_min - 0.02).max(0.0) * 50.0).floor() / 50.0;
    let x_max = 1.0f64;

    let legend_width = 250;
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let (plot_area, legend_area) = root.split_horizontally(1000 - legend_width);
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            x_min..x_max,
            (y_min / 1.3..y_max * 1.3)
                .log_scale()
                .with_key_points(qps_ticks(y_min / 1.3, y_max * 1.3)),
        )?;
    chart
        .configure_mesh()
        .max_light_lines(2)
        .x_desc(format!("Recall@{k}"))
        .y_desc("queries per second, one thread (log)")
        .y_label_formatter(&|y| qps_label(*y))
        .draw()?;
    let colors: Vec<RGBAColor> = (0..lines.len())
        .map(|i| {
            let (r, g, b) = COLORS[i % COLORS.len()];
            RGBColor(r, g, b).to_rgba()
        })
        .collect();
    for (line, &color) in lines.iter().zip(&colors) {
        let points = line.points.iter().copied();
        if line.ours {
            chart.draw_series(LineSeries::new(points, color.stroke_width(3)))?;
            chart.draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )?;
        } else {
            chart.draw_series(DashedLineSeries::new(points, 6, 4, color.stroke_width(2)))?;
            chart.draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.stroke_width(1))),
            )?;
        }
    }
    let row = 22;
    let top = 40;
    for (i, (line, &color)) in lines.iter().zip(&colors).enumerate() {
        let y = top + row * i as i32;
        if line.ours {
            legend_area.draw(&PathElement::new(
                vec![(10, y), (40, y)],
                color.stroke_width(3),
            ))?;
            legend_area.draw(&Circle::new((25, y), 3, color.filled()))?;
        } else {
            for x in [10, 20, 30] {
                legend_area.draw(&PathElement::new(
                    vec![(x, y), (x + 6, y)],
                    color.stroke_width(2),
                ))?;
            }
        }
        legend_area.draw(&Text::new(
            line.label.clone(),
            (48, y - 7),
            ("sans-serif", 14).into_font(),
        ))?;
    }
    root.present()?;
    Ok(())
}
