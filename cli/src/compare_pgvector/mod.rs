//! `stratavec compare-pgvector`: stratavec against pgvector's HNSW on a PostgreSQL server, on the
//! same data, with the same M, ef_construction and ef sweep, timed the same way.
//!
//! Thin like the rest of the CLI: the measuring (recall, latency histograms, reports, QPS at a
//! target recall) is `stratavec::eval`; these files talk to PostgreSQL and print. It needs the
//! `pgvector` cargo feature (the PostgreSQL client); without it the subcommand says so.
//!
//! - this file: the arguments;
//! - `compare.rs`: the steps of a run — check, load, set up both engines, the timed sweep;
//! - `pg.rs`: PostgreSQL and pgvector — connecting, loading with binary `COPY`, building the
//!   index, making sure the query uses it, searching;
//! - `report.rs`: the report (JSON shape, summary at the target recall, side-by-side tables).
//!
//! Distances: pgvector's operators give the same order as stratavec's metrics, not the same
//! numbers — `<->` is the Euclidean distance (stratavec's `l2` is its square), `<#>` is the
//! negative inner product (stratavec's `ip` is `1 − a·b`), `<=>` is `1 − cos` (as stratavec's
//! `cosine`). Only ids are compared, so the difference does not matter.

use std::path::PathBuf;

use clap::Args;
use stratavec::{Metric, Quantization, DEFAULT_EF_CONSTRUCTION, DEFAULT_M};

use super::{CliResult, SchemeArg};

/// The ef values swept when none are given.
const DEFAULT_COMPARE_EFS: [usize; 6] = [10, 20, 40, 80, 160, 320];

/// `stratavec compare-pgvector` arguments.
#[derive(Args)]
pub struct ComparePgvectorArgs {
    /// A TEXMEX folder: base.fvecs, query.fvecs, optional groundtruth.ivecs and METRIC.
    #[arg(long)]
    dataset: PathBuf,
    /// The PostgreSQL server, e.g. postgresql://postgres@127.0.0.1:5432/postgres (the DSN that
    /// scripts/pgvector-up prints).
    #[arg(long)]
    dsn: String,
    /// Metric (l2, ip, cosine); default: the dataset's METRIC file, else l2.
    #[arg(long)]
    metric: Option<Metric>,
    /// HNSW links per node, for both (pgvector allows 2–100).
    #[arg(long, default_value_t = DEFAULT_M)]
    m: usize,
    /// Beam width while building, for both (pgvector allows 4–1000, at least 2·m).
    #[arg(long, default_value_t = DEFAULT_EF_CONSTRUCTION)]
    ef_construction: usize,
    /// Beam widths to sweep; pgvector's `hnsw.ef_search` is set to each (it allows 1–1000).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_COMPARE_EFS)]
    ef: Vec<usize>,
    /// stratavec codecs to measure against the same pgvector build, as in `stratavec bench`:
    /// none (f32), sq8, sq4, rabitq, rabitq2 … rabitq8; one stratavec index each, each with its
    /// own QPS and build ratio.
    #[arg(long, value_delimiter = ',', default_value = "none")]
    quant: Vec<Quantization>,
    /// Reranking oversampling factors for the quantized indexes (k × oversample candidates
    /// rescored exactly from the f32 originals; default 2 for sq8, 3 for sq4, 1 for rabitq, 2 for
    /// rabitq2 … rabitq8), as in `bench`.
    #[arg(long, value_delimiter = ',')]
    oversample: Vec<usize>,
    /// Quantization scheme of the quantized indexes: per-vector (the default) or per-dimension.
    #[arg(long, default_value = "per-vector")]
    quant_scheme: SchemeArg,
    /// Neighbours per query (the K of Recall@K and the LIMIT of the SQL query).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Use only the first N queries.
    #[arg(long)]
    queries: Option<usize>,
    /// Use only the first N base vectors (the ground truth is then recomputed).
    #[arg(long)]
    limit: Option<usize>,
    /// Threads for both builds: stratavec's build threads, and pgvector's parallel build (leader
    /// plus max_parallel_maintenance_workers = threads − 1). Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// pgvector's maintenance_work_mem for the build, in MiB. Default: enough for the whole graph
    /// (pgvector slows down sharply once the graph outgrows it).
    #[arg(long)]
    maintenance_work_mem_mib: Option<u64>,
    /// Measured passes over the queries per ef, for both; each query counts its fastest pass and
    /// each chunk of 25 queries its fastest pass (as `stratavec bench --repeats`).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// The Recall@K at which QPS is interpolated for the headline ratio.
    #[arg(long, default_value_t = 0.95)]
    target_recall: f64,
    /// The table to (re)create on the server; it is dropped first if it exists, and kept after.
    #[arg(long, default_value = "stratavec_compare")]
    table: String,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results as CSV (one line per engine and ef) to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the side-by-side table and the summary as Markdown to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Draw both engines' Recall@K against single-thread QPS on one plot, as SVG.
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[cfg(feature = "pgvector")]
mod compare;
#[cfg(feature = "pgvector")]
mod pg;
#[cfg(feature = "pgvector")]
mod report;

/// Runs `stratavec compare-pgvector`.
#[cfg(feature = "pgvector")]
pub fn run(args: ComparePgvectorArgs) -> CliResult<()> {
    compare::run(args)
}

/// Without the `pgvector` feature there is no PostgreSQL client to run it with.
#[cfg(not(feature = "pgvector"))]
pub fn run(_args: ComparePgvectorArgs) -> CliResult<()> {
    Err(
        "this stratavec was built without the `pgvector` feature; build it with \
         `cargo build --release -p stratavec-cli --features pgvector`"
            .into(),
    )
}
