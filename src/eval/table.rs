//! Tables for people: a benchmark's results, or any grid of cells, as aligned text for a terminal
//! or as Markdown.

use std::fmt::Write as _;

use super::report::{BenchConfig, BenchResult};

/// How [`render_table`] draws a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableStyle {
    /// Space-aligned columns with a dashed rule under the header.
    Text,
    /// A GitHub-flavoured Markdown table (numbers right-aligned).
    Markdown,
}

/// Renders results as a table, one row per result, ending in a newline.
///
/// Columns: `ef`, `Recall@K` (K of the first result, or `Recall@k` if they differ), `QPS(1t)`,
/// `p50 µs`, `p99 µs`, `build s`, `index MiB`; preceded by `engine`, `M`, `efC`, `quant` or `k`
/// when those differ between results, `QPS(Nt)` after `QPS(1t)` when any result has an
/// all-threads QPS, `CPU µs` (the searching thread's CPU time per query) and `KiB/q` (index
/// bytes a query read) before `build s` when any result counted its work, and `RSS MiB` (the
/// process's resident memory after the queries) last for results of an opened segment file.
/// With recall targets, a `target` column comes before `ef` (which is then the mean beam
/// chosen) and `vs best ef` after the QPS: the target's single-thread QPS over that of the
/// fastest fixed ef reaching the same recall.
pub fn render_table(results: &[BenchResult], style: TableStyle) -> String {
    let differs = |f: &dyn Fn(&BenchConfig) -> String| {
        results
            .windows(2)
            .any(|w| f(&w[0].config) != f(&w[1].config))
    };
    let same_k = !differs(&|c| c.k.to_string());
    let recall_header = match results.first() {
        Some(r) if same_k => format!("Recall@{}", r.config.k),
        _ => "Recall@k".to_string(),
    };

    type Cell = Box<dyn Fn(&BenchResult) -> String>;
    let mut columns: Vec<(String, Cell)> = Vec::new();
    if differs(&|c| format!("{:?}", c.engine)) {
        columns.push((
            "engine".into(),
            Box::new(|r| r.config.engine.clone().unwrap_or_else(|| "-".into())),
        ));
    }
    if differs(&|c| c.m.to_string()) {
        columns.push(("M".into(), Box::new(|r| r.config.m.to_string())));
    }
    if differs(&|c| c.ef_construction.to_string()) {
        columns.push((
            "efC".into(),
            Box::new(|r| r.config.ef_construction.to_string()),
        ));
    }
    if differs(&|c| c.quant.clone()) {
        columns.push(("quant".into(), Box::new(|r| r.config.quant.clone())));
    }
    if differs(&|c| format!("{:?}", c.layout)) {
        columns.push((
            "layout".into(),
            Box::new(|r| r.config.layout.clone().unwrap_or_else(|| "-".into())),
        ));
    }
    if differs(&|c| format!("{:?}", c.oversample)) {
        columns.push((
            "oversample".into(),
            Box::new(|r| r.config.oversample.map_or("-".into(), |o| o.to_string())),
        ));
    }
    if !same_k {
        columns.push(("k".into(), Box::new(|r| r.config.k.to_string())));
    }
    if differs(&|c| format!("{:?}", c.filter)) {
        columns.push((
            "filter".into(),
            Box::new(|r| match (&r.config.filter_name, r.config.filter) {
                (Some(name), _) => name.clone(),
                (None, Some(f)) => format!("{:.0}%", f * 100.0),
                (None, None) => "-".into(),
            }),
        ));
    }
    if results.iter().any(|r| r.config.target_recall.is_some()) {
        columns.push((
            "target".into(),
            Box::new(|r| r.config.target_recall.map_or("-".into(), |t| t.to_string())),
        ));
    }
    columns.push((
        "ef".into(),
        Box::new(|r| match r.mean_beam {
            Some(b) => format!("{b:.1}"),
            None => r.config.ef.to_string(),
        }),
    ));
    columns.push((recall_header, Box::new(|r| format!("{:.4}", r.recall_at_k))));
    columns.push((
        "QPS(1t)".into(),
        Box::new(|r| format!("{:.0}", r.qps_single_thread)),
    ));
    let threads = results.iter().find_map(|r| r.threads);
    if results.iter().any(|r| r.qps_all_threads.is_some()) {
        let header = match threads {
            Some(t) if results.iter().all(|r| r.threads.is_none_or(|x| x == t)) => {
                format!("QPS({t}t)")
            }
            _ => "QPS(all)".to_string(),
        };
        columns.push((
            header,
            Box::new(|r| {
                r.qps_all_threads
                    .map_or_else(|| "-".to_string(), |q| format!("{q:.0}"))
            }),
        ));
    }
    if results.iter().any(|r| r.config.target_recall.is_some()) {
        columns.push((
            "vs best ef".into(),
            Box::new(|r| match (r.config.target_recall, r.qps_best_ef) {
                (Some(_), Some(q)) => format!("{:.2}×", r.qps_single_thread / q),
                (Some(_), None) => "none".into(),
                _ => "-".into(),
            }),
        ));
    }
    columns.push((
        "p50 µs".into(),
        Box::new(|r| format!("{:.1}", r.latency_us.p50)),
    ));
    columns.push((
        "p99 µs".into(),
        Box::new(|r| format!("{:.1}", r.latency_us.p99)),
    ));
    if results
        .iter()
        .any(|r| r.work.is_some_and(|w| w.cpu_us.is_some()))
    {
        columns.push((
            "CPU µs".into(),
            Box::new(|r| {
                r.work
                    .and_then(|w| w.cpu_us)
                    .map_or("-".into(), |c| format!("{c:.1}"))
            }),
        ));
    }
    if results.iter().any(|r| r.work.is_some()) {
        columns.push((
            "KiB/q".into(),
            Box::new(|r| {
                r.work
                    .map_or("-".into(), |w| format!("{:.1}", w.bytes_read / 1024.0))
            }),
        ));
    }
    columns.push((
        "build s".into(),
        Box::new(|r| format!("{:.2}", r.build_seconds)),
    ));
    columns.push((
        "index MiB".into(),
        Box::new(|r| format!("{:.1}", r.index_bytes as f64 / (1024.0 * 1024.0))),
    ));
    // The process's resident memory is the index's only for an opened segment file (a built
    // index shares the process with its dataset).
    if results.iter().any(|r| r.open_ms.is_some()) {
        columns.push((
            "RSS MiB".into(),
            Box::new(|r| {
                r.resident_bytes_after_queries
                    .filter(|_| r.open_ms.is_some())
                    .map_or("-".into(), |b| {
                        format!("{:.1}", b as f64 / (1024.0 * 1024.0))
                    })
            }),
        ));
    }

    let headers: Vec<String> = columns.iter().map(|(h, _)| h.clone()).collect();
    let cells: Vec<Vec<String>> = results
        .iter()
        .map(|r| columns.iter().map(|(_, f)| f(r)).collect())
        .collect();
    render_grid(&headers, &cells, style)
}

/// Renders a table of ready-made cells, ending in a newline: the layout behind [`render_table`],
/// for reports with columns of their own (e.g. one engine beside another).
///
/// Every cell is right-aligned to its column's widest cell or header. `Text` separates columns by
/// two spaces and rules the header with dashes; `Markdown` writes a GitHub table with
/// right-aligned columns. Rows shorter than `headers` leave their last columns empty; cells past
/// the last header are dropped.
pub fn render_grid(headers: &[String], rows: &[Vec<String>], style: TableStyle) -> String {
    let cell = |row: &[String], i: usize| row.get(i).map_or("", String::as_str).to_string();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| (0..headers.len()).map(|i| cell(row, i)).collect())
        .collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut first = true;
        for (cell, &w) in cells.zip(&widths) {
            match style {
                TableStyle::Text => {
                    if !first {
                        out.push_str("  ");
                    }
                    let _ = write!(out, "{cell:>w$}");
                }
                TableStyle::Markdown => {
                    let _ = write!(out, "| {cell:>w$} ");
                }
            }
            first = false;
        }
        if style == TableStyle::Markdown {
            out.push('|');
        }
        out.push('\n');
    };
    line(&mut out, &mut headers.iter().map(String::as_str));
    match style {
        TableStyle::Text => {
            let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
        TableStyle::Markdown => {
            for &w in &widths {
                let _ = write!(out, "| {}: ", "-".repeat(w.saturating_sub(1)));
            }
            out.push_str("|\n");
        }
    }
    for row in &cells {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}
