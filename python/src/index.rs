//! `stratavec.Index`: the in-memory HNSW index.

use numpy::PyArray1;
use parking_lot::Mutex;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt};
use rayon::prelude::*;
use stratavec::{
    Error, IndexOptions, Metric, Quantization, Rerank, SearchParams, DEFAULT_EF_CONSTRUCTION,
    DEFAULT_M,
};

use crate::arrays::{f32_rows, result_arrays, try_filled, u64_ids};
use crate::callbacks::{pool, run_on, Filter, PyReranker};
use crate::errors::{invalid_parameter, to_py_err, IntoPy};

/// The id reported where a search finds fewer than `k` neighbours (`2**64 - 1`).
pub const MISSING_ID: u64 = u64::MAX;

/// An HNSW index held in memory.
///
/// Any number of Python threads may search one index at once, also while another thread adds:
/// every build and search releases the GIL. Adds are serialised among themselves.
///
/// Args:
///     dim: vector dimension (>= 1).
///     metric: "l2" (squared Euclidean distance), "ip" (distance 1 - a·b) or "cosine"
///         (vectors are normalised when added; distance 1 - cos).
///     quantization: "none" (the graph is walked on f32 vectors), "sq8" or "sq4" (walked on
///         8-/4-bit codes; the best k × oversample candidates are reranked exactly from the
///         f32 originals the index keeps).
///     m: links per node on the upper levels (level 0 keeps 2·m), 2..=64.
///     ef_construction: beam width while inserting.
///     seed: seed of the level draws (same seed and insert order, same levels); None for the
///         library's fixed default.
///
/// Raises:
///     InvalidParameterError: (a ValueError) for dim = 0, m out of range, an unknown metric or
///         quantization name.
// (Rust side: the class is `frozen`, every method takes `&self`.)
#[pyclass(module = "stratavec", name = "Index", frozen)]
pub struct Index {
    inner: stratavec::Index,
    /// Held while adding, so default ids (a running count) are handed out without races.
    add_lock: Mutex<()>,
}

/// A non-negative integer argument as `usize`.
pub fn count(name: &'static str, value: i64) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| invalid_parameter(name, format!("must be ≥ 0, got {value}")))
}

/// A positive integer argument as `usize` (0 is refused too).
pub fn positive(name: &'static str, value: i64) -> PyResult<usize> {
    match count(name, value)? {
        0 => Err(invalid_parameter(name, "must be at least 1")),
        n => Ok(n),
    }
}

/// Reads an id for `get`: an int outside `0..2**64` is an unknown id (`KeyError`), a non-int a
/// `TypeError`.
fn id_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(id) = obj.extract::<u64>() {
        return Ok(id);
    }
    if obj.is_instance_of::<PyInt>() || obj.hasattr("__index__")? {
        let exc = crate::errors::exceptions(obj.py())?;
        return Err(PyErr::from_type(
            exc.unknown_id.bind(obj.py()).clone(),
            format!("id {obj} is not in the index (ids are 0 ≤ id < 2**64)"),
        ));
    }
    Err(PyTypeError::new_err(format!(
        "an id must be an int, got {}",
        obj.get_type().name()?
    )))
}

#[pymethods]
impl Index {
    /// Creates an empty index (see the class docstring).
    #[new]
    #[pyo3(signature = (dim, metric = "l2", quantization = "none", m = DEFAULT_M as i64,
                        ef_construction = DEFAULT_EF_CONSTRUCTION as i64, seed = None))]
    fn new(
        dim: i64,
        metric: &str,
        quantization: &str,
        m: i64,
        ef_construction: i64,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        let metric: Metric = metric.parse().py()?;
        let quantization: Quantization = quantization.parse().py()?;
        let mut options = IndexOptions::new(count("dim", dim)?, metric);
        options.m = count("m", m)?;
        options.ef_construction = count("ef_construction", ef_construction)?;
        options.quantization = quantization;
        if let Some(seed) = seed {
            options.seed = seed;
        }
        Ok(Index {
            inner: stratavec::Index::new(options).py()?,
            add_lock: Mutex::new(()),
        })
    }

    /// Vector dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Distance metric: `"l2"`, `"ip"` or `"cosine"`.
    #[getter]
    fn metric(&self) -> &'static str {
        self.inner.metric().name()
    }

    /// How vectors are stored for the traversal: `"none"` (f32), `"sq8"` or `"sq4"`.
    #[getter]
    fn quantization(&self) -> &'static str {
        self.inner.options().quantization.name()
    }

    /// Links per node on the upper levels (level 0 keeps `2·m`).
    #[getter]
    fn m(&self) -> usize {
        self.inner.options().m
    }

    /// Beam width while inserting.
    #[getter]
    fn ef_construction(&self) -> usize {
        self.inner.options().ef_construction
    }

    /// Seed of the level draws.
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.options().seed
    }

    /// Number of vectors.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Whether the id is in the index (`False` for anything that is not a valid id).
    fn __contains__(&self, id: &Bound<'_, PyAny>) -> bool {
        id.extract::<u64>().is_ok_and(|id| self.inner.contains(id))
    }

    fn __repr__(&self) -> String {
        let o = self.inner.options();
        format!(
            "stratavec.Index(dim={}, metric='{}', quantization='{}', m={}, ef_construction={}, len={})",
            o.dim,
            o.metric.name(),
            o.quantization.name(),
            o.m,
            o.ef_construction,
            self.inner.len()
        )
    }

    /// Adds vectors: a (n, dim) array, one row each, or one (dim,) vector.
    ///
    /// A C-contiguous float32 array is read in place (no copy); other dtypes and layouts are
    /// converted once. Linking runs in parallel with the GIL released.
    ///
    /// Args:
    ///     vectors: the vectors.
    ///     ids: one non-negative integer id per row (any integer array, list or scalar);
    ///         default len(self), len(self) + 1, ...
    ///     threads: threads to link on (default: all cores).
    ///
    /// Raises:
    ///     DimensionMismatchError: the last axis is not dim (the message names the expected shape).
    ///     InvalidVectorError: a NaN or infinite component, or a zero vector under cosine.
    ///     DuplicateIdError: an id is already in the index or repeated in ids; nothing is added.
    ///     InvalidParameterError: a wrong number of ids, negative ids, the reserved id
    ///         2**64 - 1 (MISSING_ID), threads = 0.
    #[pyo3(signature = (vectors, ids = None, threads = None))]
    fn add(
        &self,
        py: Python<'_>,
        vectors: &Bound<'_, PyAny>,
        ids: Option<&Bound<'_, PyAny>>,
        threads: Option<i64>,
    ) -> PyResult<()> {
        let rows = f32_rows(vectors, Some(self.inner.dim()), "vectors")?;
        let ids = ids.map(|o| u64_ids(o, "ids")).transpose()?;
        if let Some(ids) = &ids {
            if ids.as_slice().len() != rows.rows {
                return Err(invalid_parameter(
                    "ids",
                    format!(
                        "expected {} ids (one per row), got {}",
                        rows.rows,
                        ids.as_slice().len()
                    ),
                ));
            }
        }
        if ids
            .as_ref()
            .is_some_and(|i| i.as_slice().contains(&MISSING_ID))
        {
            return Err(invalid_parameter(
                "ids",
                "2**64 - 1 is reserved: search results use it as the filler id",
            ));
        }
        let pool = pool(threads.map(|t| count("threads", t)).transpose()?)?;
        let data = rows.as_slice();
        let given = ids.as_ref().map(|i| i.as_slice());
        let n = rows.rows as u64;
        py.detach(|| {
            let _adding = self.add_lock.lock();
            let running: Vec<u64>;
            let ids = match given {
                Some(ids) => ids,
                None => {
                    let start = self.inner.len() as u64;
                    running = (start..start + n).collect();
                    &running
                }
            };
            run_on(pool.as_deref(), || self.inner.add_batch(ids, data))
        })
        .py()
    }

    /// The k nearest neighbours of each query, nearest first.
    ///
    /// Args:
    ///     queries: (nq, dim) array, or one (dim,) vector (C-contiguous float32 is read in place).
    ///     k: neighbours per query.
    ///     ef: beam width (default max(k, 64)); larger is slower and more accurate.
    ///     oversample: candidates reranked per result, k × oversample (default 1 for f32, 2 for
    ///         sq8, 3 for sq4).
    ///     filter: only ids that pass are returned. An array (or list/set) of allowed ids —
    ///         made into a hash set once, checked without the GIL — or a callable
    ///         (id: int) -> bool, which re-acquires the GIL on every call (~0.2 µs each, and
    ///         the batch then runs on the calling thread only, since the calls are serialised
    ///         anyway; prefer an array). An exception raised by the callable stops the
    ///         filtering and is re-raised.
    ///     reranker: a callable (query, ids, distances) -> new_distances: it gets the query
    ///         (float32, as passed), the k × oversample candidate ids (uint64) and their search
    ///         distances (float32) and returns one new distance per candidate (array-like); the
    ///         candidates are reordered by it (stable, NaN last) and the first k kept. Its
    ///         exceptions propagate unchanged.
    ///     threads: threads for a batch (default: all cores; 1 searches in the calling thread).
    ///
    /// Returns:
    ///     (ids, distances): uint64 and float32 arrays of shape (nq, k) ((k,) for a 1-d query).
    ///     Where fewer than k neighbours exist (small index, selective filter) a row is padded
    ///     with id MISSING_ID (2**64 - 1) and distance +inf.
    ///
    /// Raises:
    ///     DimensionMismatchError: the last axis is not dim.
    ///     InvalidVectorError: a NaN or infinite component, or a zero query under cosine.
    ///     InvalidParameterError: k, ef, oversample or threads < 1.
    #[pyo3(signature = (queries, k = 10, ef = None, oversample = None, filter = None,
                        reranker = None, threads = None))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: i64,
        ef: Option<i64>,
        oversample: Option<i64>,
        filter: Option<&Bound<'py, PyAny>>,
        reranker: Option<&Bound<'py, PyAny>>,
        threads: Option<i64>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let dim = self.inner.dim();
        let rows = f32_rows(queries, Some(dim), "queries")?;
        let k = positive("k", k)?;
        let ef = ef.map(|e| positive("ef", e)).transpose()?;
        let oversample = oversample.map(|o| positive("oversample", o)).transpose()?;
        let filter = filter.map(Filter::new).transpose()?;
        let reranker = reranker.map(PyReranker::new).transpose()?;
        let threads = threads.map(|t| count("threads", t)).transpose()?;
        let pool = pool(threads)?;
        let nq = rows.rows;
        let cells = nq.checked_mul(k).ok_or_else(|| {
            pyo3::exceptions::PyMemoryError::new_err("k × number of queries is too large")
        })?;
        let mut ids = try_filled(cells, MISSING_ID)?;
        let mut dists = try_filled(cells, f32::INFINITY)?;

        // Nothing can return more than the index holds: bound what the search allocates by it.
        let cap = self.inner.len().max(1);
        let k_search = k.min(cap);
        let mut params = SearchParams::new(k_search);
        if let Some(ef) = ef {
            params = params.ef(ef.min(cap));
        }
        if let Some(o) = oversample {
            params = params.oversample(o.min(cap.div_ceil(k_search)).max(1));
        }
        let allow = |id: u64| filter.as_ref().is_none_or(|f| f.allows(id));
        if filter.is_some() {
            params = params.filter(&allow);
        }
        if let Some(r) = &reranker {
            params = params.rerank(Rerank::Custom(r));
        }

        let data = rows.as_slice();
        let index = &self.inner;
        let one = |q: &[f32], ic: &mut [u64], dc: &mut [f32]| -> stratavec::Result<()> {
            for (j, hit) in index.search_with(q, &params)?.iter().take(k).enumerate() {
                ic[j] = hit.id;
                dc[j] = hit.distance;
            }
            Ok(())
        };
        // A Python filter is called for many ids per query under the GIL: handing the GIL back
        // and forth between search threads costs ~50× the call itself, so such a batch runs on
        // the calling thread alone.
        let serial = nq <= 1 || threads == Some(1) || matches!(filter, Some(Filter::Callable(_)));
        let result = py.detach(|| {
            if serial {
                ids.chunks_mut(k)
                    .zip(dists.chunks_mut(k))
                    .zip(data.chunks(dim))
                    .try_for_each(|((ic, dc), q)| one(q, ic, dc))
            } else {
                run_on(pool.as_deref(), || {
                    ids.par_chunks_mut(k)
                        .zip(dists.par_chunks_mut(k))
                        .zip(data.par_chunks(dim))
                        .try_for_each(|((ic, dc), q)| one(q, ic, dc))
                })
            }
        });
        if let Some(e) = filter.as_ref().and_then(Filter::take_error) {
            return Err(e);
        }
        result.py()?;
        result_arrays(py, ids, dists, nq, k, rows.one_d)
    }

    /// The stored vector of id as a float32 array (unit length under cosine: vectors are
    /// normalised on add).
    ///
    /// Raises:
    ///     UnknownIdError: (a KeyError) when the id is not in the index.
    fn get<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let id = id_arg(id)?;
        let v = self.inner.get(id).py()?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Bytes held by the index: codes_bytes, originals_bytes, graph_bytes, ids_bytes and their
    /// sum total_bytes (allocated capacity included).
    fn memory<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.inner.memory();
        let d = PyDict::new(py);
        d.set_item("codes_bytes", m.codes_bytes)?;
        d.set_item("originals_bytes", m.originals_bytes)?;
        d.set_item("graph_bytes", m.graph_bytes)?;
        d.set_item("ids_bytes", m.ids_bytes)?;
        d.set_item(
            "total_bytes",
            m.codes_bytes + m.originals_bytes + m.graph_bytes + m.ids_bytes,
        )?;
        Ok(d)
    }
}

/// Raises the Python exception of each error variant, for the tests of the error mapping
/// (`_stratavec._raise_error("corrupt")`). Not part of the API.
#[pyfunction]
pub fn _raise_error(kind: &str) -> PyResult<()> {
    use std::path::PathBuf;
    let path = PathBuf::from("/nonexistent/stratavec-test");
    let err = match kind {
        "dimension_mismatch" => Error::DimensionMismatch {
            expected: 4,
            got: 3,
        },
        "invalid_vector" => Error::InvalidVector {
            reason: "component 0 is NaN".into(),
        },
        "invalid_parameter" => Error::InvalidParameter {
            name: "k",
            reason: "must be at least 1".into(),
        },
        "duplicate_id" => Error::DuplicateId { id: 7 },
        "unknown_id" => Error::UnknownId { id: 7 },
        "capacity_exceeded" => Error::CapacityExceeded {
            max: u32::MAX as usize,
        },
        "malformed_file" => Error::MalformedFile {
            format: "fvecs",
            path,
            reason: "truncated".into(),
        },
        "rerank" => Error::Rerank {
            source: "a Rust reranker failed".into(),
        },
        "corrupt" => Error::Corrupt {
            path,
            reason: "bad magic".into(),
        },
        "unsupported_version" => Error::UnsupportedVersion {
            path,
            found: 9,
            supported: 1,
        },
        "locked" => Error::Locked { path },
        "read_only" => Error::ReadOnly {
            what: "a memory-mapped index cannot be added to".into(),
        },
        "io_not_found" => Error::io(path, std::io::Error::from_raw_os_error(2)),
        "io_permission" => Error::io(path, std::io::Error::from_raw_os_error(13)),
        "io_kind_only" => Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        ),
        other => {
            return Err(invalid_parameter(
                "kind",
                format!("unknown error kind {other:?}"),
            ))
        }
    };
    Err(to_py_err(err))
}
