//! The native half of `stratavec.eval`: exact ground truth, Recall@K and the benchmark runner.
//! `stratavec/eval.py` wraps these with dtype conversions and returns the report as a dict.

use numpy::{PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use stratavec::data::{Dataset, Matrix};
use stratavec::eval::{run_bench, BenchSpec};
use stratavec::{Metric, Quantization};

use crate::arrays::{f32_rows, matrix};
use crate::callbacks::{pool, run_on};
use crate::errors::{invalid_parameter, IntoPy};
use crate::index::{count, positive};

/// Exact `k` nearest base rows of every query: a `(n_queries, min(k, n_base))` uint32 array of
/// row numbers, nearest first, ties to the lower row.
#[pyfunction]
#[pyo3(signature = (base, queries, k = 10, metric = "l2", threads = None))]
pub fn ground_truth<'py>(
    py: Python<'py>,
    base: &Bound<'py, PyAny>,
    queries: &Bound<'py, PyAny>,
    k: i64,
    metric: &str,
    threads: Option<i64>,
) -> PyResult<Bound<'py, PyArray2<u32>>> {
    let metric: Metric = metric.parse().py()?;
    let k = positive("k", k)?;
    let base = f32_rows(base, None, "base")?;
    let dim = base.as_slice().len().checked_div(base.rows).unwrap_or(0);
    if base.rows == 0 || dim == 0 {
        return Err(invalid_parameter("base", "holds no vectors"));
    }
    let queries = f32_rows(queries, Some(dim), "queries")?;
    let pool = pool(threads.map(|t| count("threads", t)).transpose()?)?;
    let (b, q) = (base.as_slice(), queries.as_slice());
    let truth = py
        .detach(|| {
            run_on(pool.as_deref(), || {
                stratavec::eval::ground_truth(b, q, dim, k, metric)
            })
        })
        .py()?;
    let cols = truth.dim();
    let rows = truth.len();
    matrix(py, truth.into_vec(), rows, cols)
}

/// Mean Recall@K of `found` (uint64 ids, `(nq, ≥ k)`) against `truth` (uint32 row numbers,
/// `(nq, ≥ 1)`).
#[pyfunction]
pub fn recall_at_k(
    py: Python<'_>,
    found: PyReadonlyArray2<'_, u64>,
    truth: PyReadonlyArray2<'_, u32>,
    k: i64,
) -> PyResult<f64> {
    let k = positive("k", k)?;
    let (nq, kf) = (found.shape()[0], found.shape()[1]);
    let tcols = truth.shape()[1];
    if tcols == 0 && truth.shape()[0] > 0 {
        return Err(invalid_parameter("truth", "has 0 columns"));
    }
    let found_rows: Vec<&[u64]> = match (found.as_slice(), kf) {
        (Ok(_), 0) => vec![&[][..]; nq],
        (Ok(s), _) => s.chunks(kf).collect(),
        (Err(e), _) => return Err(invalid_parameter("found", e.to_string())),
    };
    let truth = Matrix::from_vec(
        tcols.max(1),
        truth
            .as_slice()
            .map_err(|e| invalid_parameter("truth", e.to_string()))?
            .to_vec(),
    )
    .py()?;
    py.detach(|| stratavec::eval::recall_at_k(&found_rows, &truth, k))
        .py()
}

/// Runs the benchmark runner (what `stratavec bench` runs) and returns its report as the CLI's
/// JSON text. Either `dataset` (a TEXMEX folder) or `base` and `queries` (arrays) are given.
#[pyfunction]
#[pyo3(signature = (dataset, base, queries, truth, metric, name, k, m, ef_construction, efs,
                    quantizations, oversamples, repeats, warmup, threads, seed))]
#[allow(clippy::too_many_arguments)]
pub fn bench_json(
    py: Python<'_>,
    dataset: Option<std::path::PathBuf>,
    base: Option<&Bound<'_, PyAny>>,
    queries: Option<&Bound<'_, PyAny>>,
    truth: Option<PyReadonlyArray2<'_, u32>>,
    metric: Option<&str>,
    name: Option<String>,
    k: i64,
    m: i64,
    ef_construction: i64,
    efs: Vec<i64>,
    quantizations: Vec<String>,
    oversamples: Vec<i64>,
    repeats: i64,
    warmup: i64,
    threads: Option<i64>,
    seed: Option<u64>,
) -> PyResult<String> {
    let metric = metric.map(str::parse::<Metric>).transpose().py()?;
    let mut spec = BenchSpec {
        k: positive("k", k)?,
        m: count("m", m)?,
        ef_construction: count("ef_construction", ef_construction)?,
        efs: efs
            .into_iter()
            .map(|e| positive("ef", e))
            .collect::<PyResult<_>>()?,
        quants: quantizations
            .iter()
            .map(|q| q.parse::<Quantization>())
            .collect::<stratavec::Result<_>>()
            .py()?,
        oversamples: oversamples
            .into_iter()
            .map(|o| positive("oversample", o))
            .collect::<PyResult<_>>()?,
        repeats: positive("repeats", repeats)?,
        warmup_queries: count("warmup", warmup)?,
        ..BenchSpec::default()
    };
    if let Some(seed) = seed {
        spec.seed = seed;
    }
    let data = match (dataset, base, queries) {
        (Some(dir), None, None) => {
            let mut data = py.detach(|| Dataset::load_texmex(&dir)).py()?;
            if let Some(name) = name {
                data.name = name;
            }
            data
        }
        (None, Some(base), Some(queries)) => {
            let base = f32_rows(base, None, "base")?;
            let dim = base.as_slice().len().checked_div(base.rows).unwrap_or(0);
            let queries = f32_rows(queries, Some(dim.max(1)), "queries")?;
            let ground_truth = match truth {
                None => None,
                Some(t) => {
                    let (rows, cols) = (t.shape()[0], t.shape()[1]);
                    let ids = t
                        .as_slice()
                        .map_err(|e| invalid_parameter("truth", e.to_string()))?;
                    if rows != queries.rows || cols == 0 {
                        return Err(invalid_parameter(
                            "truth",
                            format!("expected shape ({}, k), got ({rows}, {cols})", queries.rows),
                        ));
                    }
                    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= base.rows) {
                        return Err(invalid_parameter(
                            "truth",
                            format!("names row {bad}, but base has {} rows", base.rows),
                        ));
                    }
                    Some(Matrix::from_vec(cols, ids.to_vec()).py()?)
                }
            };
            Dataset {
                base: Matrix::from_vec(dim.max(1), base.as_slice().to_vec()).py()?,
                queries: Matrix::from_vec(dim.max(1), queries.as_slice().to_vec()).py()?,
                ground_truth,
                metric,
                name: name.unwrap_or_else(|| "arrays".into()),
            }
        }
        _ => {
            return Err(invalid_parameter(
                "dataset",
                "pass either a TEXMEX folder or both base and queries",
            ))
        }
    };
    let metric = metric.or(data.metric).unwrap_or(Metric::L2);
    let pool = pool(threads.map(|t| count("threads", t)).transpose()?)?;
    let report = py
        .detach(|| run_on(pool.as_deref(), || run_bench(&data, metric, &spec, &|_| {})))
        .py()?;
    serde_json::to_string(&report).map_err(|e| invalid_parameter("report", e.to_string()))
}
