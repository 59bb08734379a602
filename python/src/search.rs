//! The search of `Index.search` and `Collection.search`, written once: argument checks, the
//! batch on a rayon pool with the GIL released, filler, result arrays; and `merge_top_k`.
//!
//! Result arrays are never wider than what can be returned: `min(k, vectors in the target)`
//! columns (for `merge_top_k`, `min(k, columns of the inputs)`), so a `k` far beyond the size
//! costs nothing (`k = 10**9` used to allocate two 10⁹-wide arrays per query).

use numpy::{PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use rayon::prelude::*;
use stratavec::{Neighbor, Rerank, SearchParams};

use crate::arrays::{f32_rows, numpy, result_arrays, try_filled, F32Rows};
use crate::callbacks::{pool, run_on, Filter, PyReranker};
use crate::errors::{invalid_parameter, IntoPy};
use crate::index::{count, positive, MISSING_ID};

/// Something that answers one query: a `stratavec::Index` or a `stratavec::Collection`.
pub trait Target: Sync {
    /// Live vectors (a bound on what a search can return).
    fn live(&self) -> usize;
    /// One query.
    fn search_with(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
    ) -> stratavec::Result<Vec<Neighbor>>;
}

impl Target for stratavec::Index {
    fn live(&self) -> usize {
        stratavec::Index::len(self)
    }

    fn search_with(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
    ) -> stratavec::Result<Vec<Neighbor>> {
        stratavec::Index::search_with(self, query, params)
    }
}

impl Target for stratavec::Collection {
    fn live(&self) -> usize {
        stratavec::Collection::len(self)
    }

    fn search_with(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
    ) -> stratavec::Result<Vec<Neighbor>> {
        stratavec::Collection::search_with(self, query, params)
    }
}

/// A checked `search(...)` call: everything but the target, which is found with the GIL released
/// (a collection is read under its own lock).
pub struct Search<'py> {
    rows: F32Rows<'py>,
    dim: usize,
    k: usize,
    ef: Option<usize>,
    target_recall: Option<f64>,
    oversample: Option<usize>,
    filter: Option<Filter>,
    reranker: Option<PyReranker>,
    threads: Option<usize>,
    pool: Option<std::sync::Arc<rayon::ThreadPool>>,
    ids: Vec<u64>,
    dists: Vec<f32>,
    /// Columns of the result: `min(k, live vectors)`, known once the target is read.
    width: usize,
}

/// Why a detached search failed: the search's error, or a result that cannot be allocated.
pub enum Failure {
    /// The search refused the query or its parameters.
    Search(stratavec::Error),
    /// `MemoryError` for results too large to allocate.
    Python(PyErr),
}

impl From<stratavec::Error> for Failure {
    fn from(e: stratavec::Error) -> Self {
        Failure::Search(e)
    }
}

/// The parts of a [`Search`] the detached closure needs (nothing tied to the GIL).
pub struct Detached<'a> {
    data: &'a [f32],
    dim: usize,
    k: usize,
    ef: Option<usize>,
    target_recall: Option<f64>,
    oversample: Option<usize>,
    filter: Option<&'a Filter>,
    reranker: Option<&'a PyReranker>,
    threads: Option<usize>,
    pool: Option<&'a rayon::ThreadPool>,
    ids: &'a mut Vec<u64>,
    dists: &'a mut Vec<f32>,
    width: &'a mut usize,
}

impl<'py> Search<'py> {
    /// Checks the arguments of `search` (see `Index.search`'s docstring); the results are
    /// allocated by [`Detached::run`], which knows how many vectors the target holds.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dim: usize,
        queries: &Bound<'py, PyAny>,
        k: i64,
        ef: Option<i64>,
        target_recall: Option<f64>,
        oversample: Option<i64>,
        filter: Option<&Bound<'py, PyAny>>,
        reranker: Option<&Bound<'py, PyAny>>,
        threads: Option<i64>,
    ) -> PyResult<Self> {
        let rows = f32_rows(queries, Some(dim), "queries")?;
        let k = positive("k", k)?;
        let ef = ef.map(|e| positive("ef", e)).transpose()?;
        let oversample = oversample.map(|o| positive("oversample", o)).transpose()?;
        let filter = filter.map(Filter::new).transpose()?;
        let reranker = reranker.map(PyReranker::new).transpose()?;
        let threads = threads.map(|t| count("threads", t)).transpose()?;
        let pool = pool(threads)?;
        Ok(Search {
            ids: Vec::new(),
            dists: Vec::new(),
            width: 0,
            rows,
            dim,
            k,
            ef,
            target_recall,
            oversample,
            filter,
            reranker,
            threads,
            pool,
        })
    }

    /// What the search needs once the GIL is released.
    pub fn detached(&mut self) -> Detached<'_> {
        Detached {
            data: self.rows.as_slice(),
            dim: self.dim,
            k: self.k,
            ef: self.ef,
            target_recall: self.target_recall,
            oversample: self.oversample,
            filter: self.filter.as_ref(),
            reranker: self.reranker.as_ref(),
            threads: self.threads,
            pool: self.pool.as_deref(),
            ids: &mut self.ids,
            dists: &mut self.dists,
            width: &mut self.width,
        }
    }

    /// The `(ids, distances)` arrays, or the error: a Python filter's exception first, then the
    /// search's.
    pub fn finish(
        self,
        py: Python<'py>,
        result: Result<(), Failure>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        if let Some(e) = self.filter.as_ref().and_then(Filter::take_error) {
            return Err(e);
        }
        match result {
            Ok(()) => {}
            Err(Failure::Search(e)) => return Err(e).py(),
            Err(Failure::Python(e)) => return Err(e),
        }
        result_arrays(
            py,
            self.ids,
            self.dists,
            self.rows.rows,
            self.width,
            self.rows.one_d,
        )
    }
}

impl Detached<'_> {
    /// Allocates the results, `min(k, live vectors)` wide, and runs every query against `target`
    /// (call it with the GIL released).
    pub fn run(self, target: &impl Target) -> Result<(), Failure> {
        let Detached {
            data,
            dim,
            k,
            ef,
            target_recall,
            oversample,
            filter,
            reranker,
            threads,
            pool,
            ids,
            dists,
            width,
        } = self;
        // Nothing can return more than the target holds: bound the results and what the search
        // allocates by it.
        let live = target.live();
        let nq = data.len() / dim;
        let k = k.min(live);
        *width = k;
        let cells = nq.checked_mul(k).ok_or_else(|| {
            Failure::Python(pyo3::exceptions::PyMemoryError::new_err(
                "k × number of queries is too large",
            ))
        })?;
        *ids = try_filled(cells, MISSING_ID).map_err(Failure::Python)?;
        *dists = try_filled(cells, f32::INFINITY).map_err(Failure::Python)?;
        if k == 0 {
            // Nothing to return, but every query is still checked (a NaN is an error).
            for q in data.chunks(dim) {
                target.search_with(q, &SearchParams::new(1))?;
            }
            return Ok(());
        }
        let cap = live.max(1);
        let k_search = k;
        let mut params = SearchParams::new(k_search);
        if let Some(ef) = ef {
            params = params.ef(ef.min(cap));
        }
        if let Some(t) = target_recall {
            params = params.target_recall(t);
        }
        if let Some(o) = oversample {
            params = params.oversample(o.min(cap.div_ceil(k_search)).max(1));
        }
        let allow = |id: u64| filter.is_none_or(|f| f.allows(id));
        match filter {
            Some(Filter::Payload(f)) => params = params.payload_filter(f),
            Some(_) => params = params.filter(&allow),
            None => {}
        }
        if let Some(r) = reranker {
            params = params.rerank(Rerank::Custom(r));
        }
        let one = |q: &[f32], ic: &mut [u64], dc: &mut [f32]| -> stratavec::Result<()> {
            for (j, hit) in target.search_with(q, &params)?.iter().take(k).enumerate() {
                ic[j] = hit.id;
                dc[j] = hit.distance;
            }
            Ok(())
        };
        // A Python filter is called for many ids per query under the GIL: handing the GIL back
        // and forth between search threads costs ~50× the call itself, so such a batch runs on
        // the calling thread alone.
        let serial = nq <= 1 || threads == Some(1) || matches!(filter, Some(Filter::Callable(_)));
        let result = if serial {
            ids.chunks_mut(k)
                .zip(dists.chunks_mut(k))
                .zip(data.chunks(dim))
                .try_for_each(|((ic, dc), q)| one(q, ic, dc))
        } else {
            run_on(pool, || {
                ids.par_chunks_mut(k)
                    .zip(dists.par_chunks_mut(k))
                    .zip(data.par_chunks(dim))
                    .try_for_each(|((ic, dc), q)| one(q, ic, dc))
            })
        };
        Ok(result?)
    }
}

/// A list argument of `merge_top_k` as a C-contiguous 2-d array of `dtype` (1-d: one row), and
/// whether it was 1-d. Converted once when it is not one already.
fn as_matrix<'py, T: numpy::Element>(
    obj: &Bound<'py, PyAny>,
    dtype: &str,
    what: &'static str,
) -> PyResult<(Bound<'py, PyArray2<T>>, bool)> {
    let np = numpy(obj.py())?;
    let a = np.call_method1("asarray", (obj,))?;
    let ndim: usize = a.getattr("ndim")?.extract()?;
    let one_d = match ndim {
        1 => true,
        2 => false,
        _ => return Err(invalid_parameter(what, "each array must be 1-d or 2-d")),
    };
    if dtype == "uint64" {
        let kind: String = a.getattr("dtype")?.getattr("kind")?.extract()?;
        let size: usize = a.getattr("size")?.extract()?;
        match kind.as_str() {
            "u" => {}
            "i" if size == 0 || a.call_method0("min")?.extract::<i64>()? >= 0 => {}
            "i" => return Err(invalid_parameter(what, "ids must be non-negative")),
            _ => {
                return Err(invalid_parameter(
                    what,
                    format!("ids must be integers, got dtype kind {kind:?}"),
                ))
            }
        }
    }
    let c = np.call_method1("ascontiguousarray", (a, dtype))?;
    let c = if one_d {
        c.call_method1("reshape", ((1isize, -1isize),))?
    } else {
        c
    };
    Ok((c.cast_into::<PyArray2<T>>()?, one_d))
}

/// Merges per-shard (or per-segment) search results into the best `k` per query with the
/// crate's `stratavec::merge_top_k`: an id in several lists is kept once with its smallest
/// distance, ties go to the smaller id, `MISSING_ID` filler is ignored.
///
/// Args:
///     ids_list: a sequence of uint64 arrays, each (nq, k_i) (or (k_i,) for one query), as
///         `search` returns them.
///     distances_list: the matching float32 arrays, same shapes.
///     k: neighbours per query in the result.
///
/// Returns:
///     (ids, distances): uint64 and float32 arrays of shape (nq, w) ((w,) when every input is
///     1-d), w = min(k, the inputs' columns added up): never wider than what can be returned;
///     padded with MISSING_ID / +inf where a row has fewer than w distinct ids.
///
/// Raises:
///     InvalidParameterError: k < 1, lists of different lengths, or arrays whose shapes do not
///         match (every pair the same shape, every array the same number of rows).
#[pyfunction]
pub fn merge_top_k<'py>(
    py: Python<'py>,
    ids_list: &Bound<'py, PyAny>,
    distances_list: &Bound<'py, PyAny>,
    k: i64,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let k = positive("k", k)?;
    let id_arrays: Vec<Bound<'py, PyAny>> = ids_list.try_iter()?.collect::<PyResult<_>>()?;
    let dist_arrays: Vec<Bound<'py, PyAny>> =
        distances_list.try_iter()?.collect::<PyResult<_>>()?;
    if id_arrays.len() != dist_arrays.len() {
        return Err(invalid_parameter(
            "distances_list",
            format!(
                "{} id arrays but {} distance arrays",
                id_arrays.len(),
                dist_arrays.len()
            ),
        ));
    }
    let mut parts = Vec::with_capacity(id_arrays.len());
    let mut nq = None;
    let mut all_one_d = true;
    for (i, (ia, da)) in id_arrays.iter().zip(&dist_arrays).enumerate() {
        let (ids, one_d) = as_matrix::<u64>(ia, "uint64", "ids_list")?;
        let (dists, _) = as_matrix::<f32>(da, "float32", "distances_list")?;
        if ids.shape() != dists.shape() {
            return Err(invalid_parameter(
                "distances_list",
                format!(
                    "list {i}: ids have shape {:?} but distances {:?}",
                    ids.shape(),
                    dists.shape()
                ),
            ));
        }
        let rows = ids.shape()[0];
        if *nq.get_or_insert(rows) != rows {
            return Err(invalid_parameter(
                "ids_list",
                format!("list {i} has {rows} rows, list 0 has {}", nq.unwrap_or(0)),
            ));
        }
        all_one_d &= one_d;
        let cols = ids.shape()[1];
        let ids = ids
            .try_readonly()
            .map_err(|e| invalid_parameter("ids_list", e.to_string()))?;
        let dists = dists
            .try_readonly()
            .map_err(|e| invalid_parameter("distances_list", e.to_string()))?;
        parts.push((ids.as_slice()?.to_vec(), dists.as_slice()?.to_vec(), cols));
    }
    let nq = nq.unwrap_or(0);
    // At most every column of every list can be a distinct id: no wider than that.
    let k = k.min(parts.iter().map(|(_, _, cols)| cols).sum());
    let cells = nq
        .checked_mul(k)
        .ok_or_else(|| pyo3::exceptions::PyMemoryError::new_err("k × rows is too large"))?;
    let mut out_ids = try_filled(cells, MISSING_ID)?;
    let mut out_dists = try_filled(cells, f32::INFINITY)?;
    py.detach(|| {
        if k == 0 {
            return; // no list has a column: nothing to merge
        }
        for (row, (oi, od)) in out_ids
            .chunks_mut(k)
            .zip(out_dists.chunks_mut(k))
            .enumerate()
        {
            let lists = parts.iter().map(|(ids, dists, cols)| {
                let (ids, dists) = (
                    &ids[row * cols..(row + 1) * cols],
                    &dists[row * cols..(row + 1) * cols],
                );
                ids.iter()
                    .zip(dists)
                    .filter(|(&id, _)| id != MISSING_ID)
                    .map(|(&id, &distance)| Neighbor { id, distance })
                    .collect::<Vec<_>>()
            });
            for (j, n) in stratavec::merge_top_k(lists, k).into_iter().enumerate() {
                oi[j] = n.id;
                od[j] = n.distance;
            }
        }
    });
    result_arrays(
        py,
        out_ids,
        out_dists,
        nq,
        k,
        all_one_d && !parts.is_empty(),
    )
}
