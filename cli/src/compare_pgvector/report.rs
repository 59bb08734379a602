//! The report of `compare-pgvector`: its JSON shape (the `stratavec bench` report plus each
//! side's build and a summary), the summary at the target recall, and the side-by-side tables.

use serde::Serialize;
use stratavec::eval::{
    interpolate_qps_at_recall, render_grid, BenchReport, BenchResult, TableStyle,
};

use super::ComparePgvectorArgs;
use crate::plot::series_label;
use crate::CliResult;

/// What `compare-pgvector --json` writes: the `stratavec bench` report shape (dataset,
/// machine, one result per engine and ef, each with `config.engine`), plus each side's build
/// and the summary.
#[derive(Serialize)]
pub(super) struct CompareReport {
    #[serde(flatten)]
    pub(super) bench: BenchReport,
    pub(super) pgvector: PgvectorSide,
    pub(super) stratavec: StratavecSide,
    pub(super) summary: Summary,
}

/// pgvector's side: the server, the table and index, the load and the build.
#[derive(Serialize)]
pub(super) struct PgvectorSide {
    pub(super) server_version: String,
    pub(super) extension_version: String,
    pub(super) table: String,
    pub(super) index: String,
    /// The operator class and the distance operator of the query.
    pub(super) opclass: String,
    pub(super) operator: String,
    /// `CREATE TABLE` and the binary `COPY`, committed.
    pub(super) load_seconds: f64,
    /// The `VACUUM ANALYZE` after the load (not in `load_seconds`).
    pub(super) vacuum_seconds: f64,
    pub(super) build_seconds: f64,
    pub(super) index_bytes: u64,
    pub(super) table_bytes: u64,
    pub(super) maintenance_work_mem_mib: u64,
    pub(super) max_parallel_maintenance_workers: usize,
    /// Median latency of a prepared no-op statement: the client–server round trip that every
    /// pgvector query pays and an in-process stratavec search does not.
    pub(super) round_trip_p50_us: f64,
    /// Whether sequential scans had to be turned off for the planner to use the index.
    pub(super) forced_index_scan: bool,
    /// Notices the server sent (e.g. the graph outgrowing maintenance_work_mem).
    pub(super) notices: Vec<String>,
}

/// stratavec's side. The top-level `build_seconds` and `index_bytes` are those of the first
/// configuration (`--quant`'s first codec); `builds` has every configuration's.
#[derive(Serialize)]
pub(super) struct StratavecSide {
    pub(super) version: String,
    pub(super) build_seconds: f64,
    pub(super) build_threads: usize,
    pub(super) index_bytes: u64,
    pub(super) builds: Vec<StratavecBuild>,
}

/// One stratavec index of the comparison.
#[derive(Serialize)]
pub(super) struct StratavecBuild {
    /// `"none"` (f32), `"sq8"` or `"sq4"`.
    pub(super) quant: String,
    pub(super) build_seconds: f64,
    pub(super) index_bytes: u64,
}

/// The headline numbers. The top-level `stratavec_*`, `qps_ratio_at_target` and
/// `build_ratio` are those of the first stratavec configuration (f32 by default), as before
/// `--quant` existed; `configs` has one entry per stratavec configuration.
#[derive(Serialize)]
pub(super) struct Summary {
    target_recall: f64,
    /// QPS at the target recall, interpolated between the two ef around it; when even the
    /// smallest ef reaches the target, that ef's QPS (a lower bound, `*_lower_bound` true).
    stratavec_qps_at_target: Option<f64>,
    stratavec_lower_bound: bool,
    pgvector_qps_at_target: Option<f64>,
    pgvector_lower_bound: bool,
    /// stratavec QPS / pgvector QPS at the target recall.
    qps_ratio_at_target: Option<f64>,
    /// pgvector build seconds / stratavec build seconds.
    build_ratio: f64,
    configs: Vec<ConfigSummary>,
}

/// The headline numbers of one stratavec configuration against pgvector.
#[derive(Serialize)]
pub(super) struct ConfigSummary {
    /// The line's label, e.g. `stratavec f32` or `stratavec sq4 ×3`.
    series: String,
    quant: String,
    /// Reranking oversampling (quantized indexes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    oversample: Option<usize>,
    qps_at_target: Option<f64>,
    lower_bound: bool,
    /// This configuration's QPS / pgvector's QPS at the target recall.
    qps_ratio_at_target: Option<f64>,
    build_seconds: f64,
    /// pgvector build seconds / this configuration's build seconds.
    build_ratio: f64,
}

impl Summary {
    /// The QPS at `target_recall` of pgvector's line and of each stratavec configuration's, and
    /// their ratios; the top-level fields are those of the first configuration.
    pub(super) fn of(
        results: &[BenchResult],
        target_recall: f64,
        pg_build_seconds: f64,
    ) -> CliResult<Summary> {
        // (QPS at the target, whether every ef already reached it) of one line.
        let at_target = |series: &str| {
            let points: Vec<(f64, f64)> = results
                .iter()
                .filter(|r| series_label(&r.config) == series)
                .map(|r| (r.recall_at_k, r.qps_single_thread))
                .collect();
            let all_above = points.iter().all(|&(r, _)| r >= target_recall);
            (interpolate_qps_at_recall(&points, target_recall), all_above)
        };
        let (pg_at, pg_bound) = at_target("pgvector f32");
        let mut configs: Vec<ConfigSummary> = Vec::new();
        for r in results {
            let series = series_label(&r.config);
            if r.config.engine.as_deref() != Some("stratavec")
                || configs.iter().any(|c| c.series == series)
            {
                continue;
            }
            let (at, lower_bound) = at_target(&series);
            configs.push(ConfigSummary {
                quant: r.config.quant.clone(),
                oversample: r.config.oversample,
                qps_at_target: at,
                lower_bound,
                qps_ratio_at_target: at.zip(pg_at).map(|(s, p)| s / p),
                build_seconds: r.build_seconds,
                build_ratio: pg_build_seconds / r.build_seconds,
                series,
            });
        }
        let first = configs
            .first()
            .ok_or("no stratavec configuration measured")?;
        Ok(Summary {
            target_recall,
            stratavec_qps_at_target: first.qps_at_target,
            stratavec_lower_bound: first.lower_bound,
            pgvector_qps_at_target: pg_at,
            pgvector_lower_bound: pg_bound,
            qps_ratio_at_target: first.qps_ratio_at_target,
            build_ratio: first.build_ratio,
            configs,
        })
    }
}

/// Prints the side-by-side table and the summary, and writes the files the flags ask for.
pub(super) fn emit(report: &CompareReport, args: &ComparePgvectorArgs) -> CliResult<()> {
    print!("{}", side_by_side(report, TableStyle::Text));
    print!("{}", summary_lines(report, ""));
    let markdown = format!(
        "{}\n{}",
        side_by_side(report, TableStyle::Markdown),
        summary_lines(report, "* ")
    );
    crate::write_files([
        (&args.json, serde_json::to_string_pretty(report)?),
        (&args.csv, report.bench.to_csv()),
        (&args.markdown, markdown),
    ])?;
    if let Some(path) = &args.svg {
        crate::plot::write_svg(&report.bench, path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// One row per ef: each stratavec configuration's recall, QPS, p50 and p99, then pgvector's,
/// then each configuration's QPS ratio. With f32 alone the columns are named as before
/// `--quant` existed (`stratavec R@K`, `QPS ratio`).
fn side_by_side(report: &CompareReport, style: TableStyle) -> String {
    let results = &report.bench.results;
    let series: Vec<String> = report
        .summary
        .configs
        .iter()
        .map(|c| c.series.clone())
        .collect();
    let find = |series: &str, ef: usize| {
        results
            .iter()
            .find(|r| series_label(&r.config) == series && r.config.ef == ef)
    };
    let k = results.first().map_or(10, |r| r.config.k);
    let only_f32 = series.len() == 1 && report.summary.configs[0].quant == "none";
    let name = |s: &str| {
        if only_f32 {
            "stratavec".to_string()
        } else {
            s.to_string()
        }
    };
    let mut headers = vec!["ef".to_string()];
    for s in &series {
        headers.extend([
            format!("{} R@{k}", name(s)),
            "QPS".into(),
            "p50 µs".into(),
            "p99 µs".into(),
        ]);
    }
    headers.extend([
        format!("pgvector R@{k}"),
        "QPS".into(),
        "p50 µs".into(),
        "p99 µs".into(),
    ]);
    for s in &series {
        headers.push(if only_f32 {
            "QPS ratio".into()
        } else {
            format!("ratio {}", s.trim_start_matches("stratavec "))
        });
    }
    let mut efs: Vec<usize> = results.iter().map(|r| r.config.ef).collect();
    efs.dedup();
    let cells = |r: Option<&BenchResult>| match r {
        Some(r) => vec![
            format!("{:.4}", r.recall_at_k),
            format!("{:.0}", r.qps_single_thread),
            format!("{:.0}", r.latency_us.p50),
            format!("{:.0}", r.latency_us.p99),
        ],
        None => vec!["-".into(); 4],
    };
    let rows: Vec<Vec<String>> = efs
        .iter()
        .map(|&ef| {
            let pg = find("pgvector f32", ef);
            let mut row = vec![ef.to_string()];
            for s in &series {
                row.extend(cells(find(s, ef)));
            }
            row.extend(cells(pg));
            for s in &series {
                row.push(match (find(s, ef), pg) {
                    (Some(s), Some(p)) if p.qps_single_thread > 0.0 => {
                        format!("{:.1}×", s.qps_single_thread / p.qps_single_thread)
                    }
                    _ => "-".into(),
                });
            }
            row
        })
        .collect();
    render_grid(&headers, &rows, style)
}

/// The builds and the QPS at the target recall, one line each (per stratavec configuration),
/// each line starting `bullet`.
fn summary_lines(report: &CompareReport, bullet: &str) -> String {
    let (pg, sv, s) = (&report.pgvector, &report.stratavec, &report.summary);
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let qps = |q: Option<f64>, lower_bound: bool| match q {
        Some(q) if lower_bound => format!("≥ {q:.0} (reached at the smallest ef)"),
        Some(q) => format!("{q:.0}"),
        None => "not reached".into(),
    };
    let ratio = |r: Option<f64>| r.map_or_else(|| "-".into(), |r| format!("{r:.1}×"));
    let k = report.bench.results.first().map_or(10, |r| r.config.k);
    let mut out = String::new();
    for c in &s.configs {
        out.push_str(&format!(
            "{bullet}QPS at Recall@{k} {}: {} {}, pgvector {}, ratio {}\n",
            s.target_recall,
            c.series,
            qps(c.qps_at_target, c.lower_bound),
            qps(s.pgvector_qps_at_target, s.pgvector_lower_bound),
            ratio(c.qps_ratio_at_target)
        ));
    }
    for c in &s.configs {
        out.push_str(&format!(
            "{bullet}build: {} {:.2} s on {} threads, pgvector {:.2} s (leader + {} \
             parallel workers), ratio {:.1}×; pgvector load (COPY) {:.2} s\n",
            c.series,
            c.build_seconds,
            sv.build_threads,
            pg.build_seconds,
            pg.max_parallel_maintenance_workers,
            c.build_ratio,
            pg.load_seconds
        ));
    }
    let ours: Vec<String> = sv
        .builds
        .iter()
        .map(|b| {
            let codec = if b.quant == "none" { "f32" } else { &b.quant };
            format!("{codec} {:.1} MiB", mib(b.index_bytes))
        })
        .collect();
    out.push_str(&format!(
        "{bullet}index: stratavec {} in memory, pgvector {:.1} MiB (table {:.1} MiB)\n",
        ours.join(", "),
        mib(pg.index_bytes),
        mib(pg.table_bytes)
    ));
    out.push_str(&format!(
        "{bullet}PostgreSQL {}, pgvector {}; client–server round trip p50 {:.0} µs\n",
        pg.server_version, pg.extension_version, pg.round_trip_p50_us
    ));
    out
}
