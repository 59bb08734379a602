//! `stratavec groundtruth`: the exact nearest neighbours of a TEXMEX folder's queries, written as
//! its `groundtruth.ivecs` (what ann-benchmarks' TEXMEX sets ship, and what `bench` reads).
//!
//! Thin: the search is `stratavec::eval::ground_truth` (brute force, parallel over the queries).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use stratavec::data::{write_ivecs, Dataset, Matrix};
use stratavec::eval::ground_truth;
use stratavec::Metric;

use super::CliResult;

/// Neighbours per query written by default: TEXMEX sets ship the top 100.
const DEFAULT_GROUNDTRUTH_K: usize = 100;

/// `stratavec groundtruth` arguments.
#[derive(Args)]
pub struct GroundtruthArgs {
    /// A TEXMEX folder: base.fvecs and query.fvecs (or .npy), and a METRIC file.
    #[arg(long)]
    dataset: PathBuf,
    /// Neighbours per query, nearest first (ties: the lower row first).
    #[arg(long, default_value_t = DEFAULT_GROUNDTRUTH_K)]
    k: usize,
    /// Metric (l2, ip, cosine); default: the dataset's METRIC file (required then).
    #[arg(long)]
    metric: Option<Metric>,
    /// Where to write; default DATASET/groundtruth.ivecs (replaced if it exists).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Threads for the search; default: all cores.
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs `stratavec groundtruth`.
pub fn run(args: GroundtruthArgs) -> CliResult<()> {
    let data = Dataset::load_texmex(&args.dataset)
        .map_err(|e| format!("dataset {}: {e}", args.dataset.display()))?;
    let metric = args.metric.or(data.metric).ok_or_else(|| {
        format!(
            "dataset {} has no METRIC file: pass --metric",
            args.dataset.display()
        )
    })?;
    let pool = super::thread_pool(args.threads)?;
    eprintln!(
        "dataset {}: {} × {} base, {} queries, metric {metric}; exact top {} on {} threads",
        data.name,
        data.base.len(),
        data.dim(),
        data.queries.len(),
        args.k,
        pool.current_num_threads()
    );
    let started = Instant::now();
    let truth = pool.install(|| {
        ground_truth(
            data.base.as_slice(),
            data.queries.as_slice(),
            data.dim(),
            args.k,
            metric,
        )
    })?;
    eprintln!("computed in {:.1} s", started.elapsed().as_secs_f64());
    let cols = truth.dim();
    let rows: Vec<i32> = truth
        .into_vec()
        .into_iter()
        .map(|id| i32::try_from(id).map_err(|_| "a base row index above i32::MAX"))
        .collect::<Result<_, _>>()?;
    let out = args
        .out
        .unwrap_or_else(|| args.dataset.join("groundtruth.ivecs"));
    // Write beside it, then rename: a reader never sees half a file.
    let tmp = out.with_extension("ivecs.tmp");
    write_ivecs(&tmp, &Matrix::from_vec(cols, rows)?)?;
    std::fs::rename(&tmp, &out).map_err(|e| stratavec::Error::io(out.clone(), e))?;
    eprintln!("wrote {} ({} × {cols})", out.display(), data.queries.len());
    Ok(())
}
