//! The benchmark report: what `stratavec bench` writes as JSON and prints as a table.
//!
//! The JSON shape (key names are fixed; other tools read them):
//!
//! ```json
//! {
//!   "dataset": { "name": "wordllama-sent-256-ip", "n_base": 100000, "n_queries": 1000,
//!                "dim": 256, "metric": "ip" },
//!   "machine": { "threads": 2, "cpu": "AMD EPYC" },
//!   "results": [
//!     { "config": { "m": 16, "ef_construction": 200, "ef": 64, "k": 10, "quant": "none" },
//!       "recall_at_k": 0.97, "qps_single_thread": 5400.0,
//!       "latency_us": { "p50": 180.0, "p90": 240.0, "p99": 320.0, "p999": 410.0 },
//!       "build_seconds": 31.5, "index_bytes": 116000000,
//!       "qps_all_threads": 10500.0, "threads": 2, "mean_us": 185.0, "max_us": 900.0 }
//!   ]
//! }
//! ```
//!
//! Optional fields are left out of the JSON when `None` and read as `None` when absent. The library
//! only derives `Serialize`/`Deserialize`; the CLI picks the format (`serde_json`).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::table::{render_table, TableStyle};
use super::LatencyStats;
use crate::distance::Metric;

/// A full benchmark run: one dataset, one machine, one result per configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// What was searched.
    pub dataset: DatasetInfo,
    /// Where it ran.
    pub machine: MachineInfo,
    /// One entry per configuration, in the order they ran.
    pub results: Vec<BenchResult>,
}

/// The dataset of a [`BenchReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Its name, e.g. the folder name `wordllama-sent-256-ip`.
    pub name: String,
    /// Number of base (indexed) vectors.
    pub n_base: usize,
    /// Number of query vectors.
    pub n_queries: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Distance metric (`"l2"`, `"ip"` or `"cosine"` in JSON).
    pub metric: Metric,
}

/// The machine of a [`BenchReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachineInfo {
    /// Threads used for the all-threads measurements and the build.
    pub threads: usize,
    /// CPU model name, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

impl MachineInfo {
    /// This machine: rayon's thread count, and the CPU model from `/proc/cpuinfo` on Linux.
    pub fn current() -> Self {
        MachineInfo {
            threads: rayon::current_num_threads(),
            cpu: cpu_model(),
        }
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The parameters of one benchmarked configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// HNSW links per node.
    pub m: usize,
    /// Beam width while building.
    pub ef_construction: usize,
    /// Beam width while searching.
    pub ef: usize,
    /// Neighbours asked for (the K of Recall@K).
    pub k: usize,
    /// Vector codec: `"none"` for f32, else its name (`"sq8"`, `"sq4"`, …).
    pub quant: String,
    /// Candidates reranked per result (`k × oversample`); absent when nothing is reranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversample: Option<usize>,
    /// How codes are laid out (`"compact"`: one code row per node; `"fastscan"`: plus per-node
    /// blocks of the neighbours' codes); absent for f32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// The engine measured, in a report that compares engines (`"stratavec"`, `"pgvector"`);
    /// absent in a report of stratavec alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The fraction of ids a filter kept (`--filter`); absent for unfiltered searches. Recall is
    /// then against the exact neighbours among the kept ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<f64>,
    /// The recall target the searches asked for instead of a beam (`--target-recall`); `ef` is
    /// then the mean beam the calibration chose, rounded. Absent for a fixed `ef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_recall: Option<f64>,
    /// The payload filter measured (`kw-10%`, `range-10%`, … of
    /// [`crate::eval::bench_filters`]); absent for id filters and unfiltered searches. `filter`
    /// is then the fraction of rows it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_name: Option<String>,
}

/// Latency percentiles in microseconds (JSON keys `p50`, `p90`, `p99`, `p999`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyPercentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

impl From<&LatencyStats> for LatencyPercentiles {
    fn from(s: &LatencyStats) -> Self {
        LatencyPercentiles {
            p50: s.p50_us,
            p90: s.p90_us,
            p99: s.p99_us,
            p999: s.p999_us,
        }
    }
}

/// The measurements of one configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// What was measured.
    pub config: BenchConfig,
    /// Mean Recall@K over the queries, K = `config.k`.
    pub recall_at_k: f64,
    /// Queries per second, one query at a time on one thread.
    pub qps_single_thread: f64,
    /// Single-thread latency percentiles.
    pub latency_us: LatencyPercentiles,
    /// Wall time of the index build.
    pub build_seconds: f64,
    /// Size of the index (bytes on disk, or in memory for an in-memory index).
    pub index_bytes: u64,
    /// Queries per second with all threads searching concurrently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qps_all_threads: Option<f64>,
    /// Threads used for `qps_all_threads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Mean single-thread latency in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_us: Option<f64>,
    /// Largest single-thread latency in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_us: Option<f64>,
    /// Peak resident memory during the build, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_peak_bytes: Option<u64>,
    /// Milliseconds to open the index from its segment file (`stratavec bench --index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_ms: Option<f64>,
    /// Resident bytes after opening the index (`stratavec bench --index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_bytes_after_open: Option<u64>,
    /// Resident bytes after running the queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_bytes_after_queries: Option<u64>,
    /// The index's memory by part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryBreakdown>,
    /// Work per query of the single-thread pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<WorkPerQuery>,
    /// For a recall target: the mean beam the searches used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_beam: Option<f64>,
    /// For a recall target: the single-thread QPS of the best fixed `ef` of the same index whose
    /// recall is at least the one the target achieved (the fastest ef of the sweep that does as
    /// well); `None` when no ef of the sweep does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qps_best_ef: Option<f64>,
    /// Seconds the index's calibration took while it was built (part of `build_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_seconds: Option<f64>,
}

/// Mean work per query (JSON `work`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkPerQuery {
    /// Level-0 nodes whose links were read (visited nodes).
    pub nodes_expanded: f64,
    /// Distances computed by the walk (on codes for a quantized index).
    pub distances: f64,
    /// Exact distances computed by reranking.
    pub reranked: f64,
    /// Single-thread mean latency divided by visited nodes, in nanoseconds.
    pub ns_per_expanded_node: f64,
    /// Bytes of the index a query read: blocks, code rows and f32 vectors (see
    /// [`SearchCounts::bytes_read`](crate::SearchCounts::bytes_read)). 0 in reports written
    /// before this field.
    #[serde(default)]
    pub bytes_read: f64,
    /// CPU time of the searching thread per query, in microseconds, over the single-thread
    /// passes (the mean latency without the time spent waiting for a core); `None` where the
    /// platform has no per-thread CPU clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us: Option<f64>,
}

/// An index's memory by part (JSON `memory`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryBreakdown {
    /// Quantized codes (0 for f32).
    pub codes_bytes: u64,
    /// Full-precision vectors.
    pub originals_bytes: u64,
    /// Links and per-node bookkeeping.
    pub graph_bytes: u64,
    /// Fast-scan blocks (the neighbours' codes repeated per node; 0 in the compact layout).
    #[serde(default)]
    pub fast_scan_bytes: u64,
}

impl BenchResult {
    /// A result from the single-thread latency statistics: fills `qps_single_thread`,
    /// `latency_us`, `mean_us` and `max_us` from `single`; the other optional fields are `None`.
    pub fn new(
        config: BenchConfig,
        recall_at_k: f64,
        single: &LatencyStats,
        build_seconds: f64,
        index_bytes: u64,
    ) -> Self {
        BenchResult {
            config,
            recall_at_k,
            qps_single_thread: single.qps,
            latency_us: single.into(),
            build_seconds,
            index_bytes,
            qps_all_threads: None,
            threads: None,
            mean_us: Some(single.mean_us),
            max_us: Some(single.max_us),
            build_peak_bytes: None,
            open_ms: None,
            resident_bytes_after_open: None,
            resident_bytes_after_queries: None,
            memory: None,
            work: None,
            mean_beam: None,
            qps_best_ef: None,
            calibration_seconds: None,
        }
    }

    /// Sets the all-threads throughput and the thread count it was measured with.
    pub fn with_all_threads(mut self, qps: f64, threads: usize) -> Self {
        self.qps_all_threads = Some(qps);
        self.threads = Some(threads);
        self
    }
}

impl BenchReport {
    /// The results as an aligned plain-text table for a terminal (see [`render_table`]).
    pub fn to_text_table(&self) -> String {
        render_table(&self.results, TableStyle::Text)
    }

    /// The results as a Markdown table (see [`render_table`]).
    pub fn to_markdown(&self) -> String {
        render_table(&self.results, TableStyle::Markdown)
    }

    /// The results as CSV: a header line, then one line per result with the dataset, the
    /// configuration, recall, throughput, latency percentiles, build time and memory. When any
    /// result names its engine, an `engine` column comes first. Columns added after the first
    /// release of this format (`layout`, `fast_scan_bytes`, `bytes_per_query`,
    /// `distances_per_query`, `cpu_us_per_query`, `resident_bytes_after_queries`, then
    /// `target_recall`, `mean_beam`, `qps_best_ef`, `calibration_seconds`, `filter_name`) come
    /// last, so existing readers keep their column positions.
    pub fn to_csv(&self) -> String {
        let with_engine = self.results.iter().any(|r| r.config.engine.is_some());
        let mut out = String::from(if with_engine { "engine," } else { "" });
        out.push_str(
            "dataset,metric,quant,oversample,m,ef_construction,ef,k,recall_at_k,\
             qps_single_thread,qps_all_threads,threads,p50_us,p90_us,p99_us,p999_us,\
             build_seconds,index_bytes,codes_bytes,originals_bytes,graph_bytes,filter,layout,\
             fast_scan_bytes,bytes_per_query,distances_per_query,cpu_us_per_query,\
             resident_bytes_after_queries,target_recall,mean_beam,qps_best_ef,\
             calibration_seconds,filter_name\n",
        );
        let opt = |v: Option<String>| v.unwrap_or_default();
        for r in &self.results {
            let c = &r.config;
            if with_engine {
                let _ = write!(out, "{},", opt(c.engine.clone()));
            }
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                self.dataset.name,
                self.dataset.metric,
                c.quant,
                opt(c.oversample.map(|o| o.to_string())),
                c.m,
                c.ef_construction,
                c.ef,
                c.k,
                r.recall_at_k,
                r.qps_single_thread,
                opt(r.qps_all_threads.map(|q| q.to_string())),
                opt(r.threads.map(|t| t.to_string())),
                r.latency_us.p50,
                r.latency_us.p90,
                r.latency_us.p99,
                r.latency_us.p999,
                r.build_seconds,
                r.index_bytes,
                opt(r.memory.map(|m| m.codes_bytes.to_string())),
                opt(r.memory.map(|m| m.originals_bytes.to_string())),
                opt(r.memory.map(|m| m.graph_bytes.to_string())),
                opt(c.filter.map(|f| f.to_string())),
                opt(c.layout.clone()),
                opt(r.memory.map(|m| m.fast_scan_bytes.to_string())),
                opt(r.work.map(|w| w.bytes_read.to_string())),
                opt(r.work.map(|w| w.distances.to_string())),
                opt(r.work.and_then(|w| w.cpu_us).map(|c| c.to_string())),
                opt(r.resident_bytes_after_queries.map(|b| b.to_string())),
                opt(c.target_recall.map(|t| t.to_string())),
                opt(r.mean_beam.map(|b| b.to_string())),
                opt(r.qps_best_ef.map(|q| q.to_string())),
                opt(r.calibration_seconds.map(|s| s.to_string())),
                opt(c.filter_name.clone()),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::render_grid;
    use super::*;

    fn result(ef: usize, recall: f64, qps: f64) -> BenchResult {
        let stats = LatencyStats {
            count: 1000,
            mean_us: 120.0,
            p50_us: 110.0,
            p90_us: 150.0,
            p99_us: 210.5,
            p999_us: 300.0,
            max_us: 420.0,
            qps,
        };
        let config = BenchConfig {
            m: 16,
            ef_construction: 200,
            ef,
            k: 10,
            quant: "none".into(),
            oversample: None,
            layout: None,
            engine: None,
            filter: None,
            target_recall: None,
            filter_name: None,
        };
        BenchResult::new(config, recall, &stats, 12.345, 3 * 1024 * 1024)
    }

    fn report() -> BenchReport {
        BenchReport {
            dataset: DatasetInfo {
                name: "digits-64-l2".into(),
                n_base: 1597,
                n_queries: 200,
                dim: 64,
                metric: Metric::L2,
            },
            machine: MachineInfo {
                threads: 2,
                cpu: None,
            },
            results: vec![
                result(16, 0.9, 12000.0),
                result(256, 0.99995, 1500.0).with_all_threads(2900.0, 2),
            ],
        }
    }

    #[test]
    fn json_shape_and_round_trip() {
        let r = report();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["dataset"]["metric"], "l2");
        assert_eq!(v["dataset"]["n_base"], 1597);
        assert_eq!(v["machine"]["threads"], 2);
        assert!(v["machine"].get("cpu").is_none());
        let first = &v["results"][0];
        for key in [
            "config",
            "recall_at_k",
            "qps_single_thread",
            "latency_us",
            "build_seconds",
            "index_bytes",
        ] {
            assert!(first.get(key).is_some(), "missing {key}");
        }
        for key in ["m", "ef_construction", "ef", "k", "quant"] {
            assert!(first["config"].get(key).is_some(), "missing config.{key}");
        }
        for key in ["p50", "p90", "p99", "p999"] {
            assert!(first["latency_us"].get(key).is_some(), "missing {key}");
        }
        assert_eq!(first["config"]["quant"], "none");
        assert!(first.get("qps_all_threads").is_none());
        assert_eq!(v["results"][1]["qps_all_threads"], 2900.0);
        assert_eq!(v["results"][1]["threads"], 2);

        let back: BenchReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);

        // Optional fields may be absent.
        let minimal = r#"{"dataset":{"name":"x","n_base":1,"n_queries":1,"dim":1,"metric":"ip"},
            "machine":{"threads":1},
            "results":[{"config":{"m":8,"ef_construction":100,"ef":10,"k":1,"quant":"sq8"},
            "recall_at_k":1.0,"qps_single_thread":1.0,
            "latency_us":{"p50":1.0,"p90":1.0,"p99":1.0,"p999":1.0},
            "build_seconds":0.5,"index_bytes":10}]}"#;
        let m: BenchReport = serde_json::from_str(minimal).unwrap();
        assert_eq!(m.dataset.metric, Metric::InnerProduct);
        assert_eq!(m.results[0].qps_all_threads, None);
    }

    #[test]
    fn text_table_is_aligned() {
        let t = report().to_text_table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].contains("Recall@10"));
        assert!(lines[0].contains("QPS(1t)"));
        assert!(lines[0].contains("QPS(2t)"));
        assert!(lines[0].contains("p50 µs"));
        assert!(lines[0].contains("index MiB"));
        assert!(
            !lines[0].contains("quant"),
            "constant columns are left out: {t}"
        );
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{t}");
        assert!(lines[2].contains("0.9000") && lines[2].contains("12000"));
        assert!(lines[3].contains("1.0000") && lines[3].contains("2900"));
        assert!(lines[3].ends_with("3.0"));
        assert!(lines[2].contains(" - "), "{t}");
    }

    #[test]
    fn markdown_table() {
        let mut r = report();
        r.results[1].config.quant = "sq8".into();
        let md = r.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4, "{md}");
        assert!(lines[0].starts_with("| quant | "), "{md}");
        assert!(lines[1].starts_with("| ----: |"), "{md}");
        let pipes = lines[0].matches('|').count();
        assert!(lines.iter().all(|l| l.matches('|').count() == pipes));
        assert!(lines[3].contains("sq8"));
    }

    #[test]
    fn engines_get_a_column_in_the_table_and_the_csv() {
        let mut r = report();
        assert!(r.to_csv().starts_with("dataset,metric,"));
        r.results[0].config.engine = Some("stratavec".into());
        r.results[1].config.engine = Some("pgvector".into());
        let t = r.to_text_table();
        assert!(t.lines().next().unwrap().trim_start().starts_with("engine"));
        assert!(t.contains("pgvector"));
        let csv = r.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with("engine,dataset,metric,"));
        assert!(lines[2].starts_with("pgvector,digits-64-l2,l2,"));
        let fields = |l: &str| l.split(',').count();
        assert!(lines.iter().all(|l| fields(l) == fields(lines[0])));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["results"][1]["config"]["engine"], "pgvector");
        assert!(
            serde_json::to_value(report()).unwrap()["results"][0]["config"]
                .get("engine")
                .is_none()
        );
    }

    #[test]
    fn grid_pads_short_rows_and_aligns() {
        let headers = ["a".to_string(), "bbb".to_string()];
        let rows = vec![
            vec!["1234".to_string()],
            vec!["1".into(), "2".into(), "x".into()],
        ];
        let t = render_grid(&headers, &rows, TableStyle::Text);
        assert_eq!(t, "   a  bbb\n---------\n1234     \n   1    2\n");
        let md = render_grid(&headers, &rows, TableStyle::Markdown);
        assert_eq!(
            md,
            "|    a | bbb |\n| ---: | --: |\n| 1234 |     |\n|    1 |   2 |\n"
        );
    }

    #[test]
    fn empty_table_has_a_header() {
        let t = render_table(&[], TableStyle::Text);
        assert_eq!(t.lines().count(), 2);
    }
}
