//! `stratavec.Index`: the in-memory HNSW index.

use std::path::PathBuf;

use numpy::PyArray1;
use parking_lot::Mutex;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList};
use stratavec::{
    Error, IndexOptions, Metric, Quantization, SegmentInfo, DEFAULT_EF_CONSTRUCTION, DEFAULT_M,
};

use crate::arrays::{f32_rows, u64_ids};
use crate::callbacks::{pool, run_on};
use crate::errors::{invalid_parameter, to_py_err, IntoPy};
use crate::search::Search;

/// The id reported where a search finds fewer than `k` neighbours (`2**64 - 1`).
pub const MISSING_ID: u64 = u64::MAX;

/// An HNSW index: built in memory, or opened from a segment file (`Index.open`).
///
/// Any number of Python threads may search one index at once, also while another thread adds:
/// every build and search releases the GIL. Adds are serialised among themselves. An index
/// opened from a file is read-only (`read_only`); `save` writes any index to a file.
///
/// Args:
///     dim: vector dimension (>= 1).
///     metric: "l2" (squared Euclidean distance), "ip" (distance 1 - a·b) or "cosine"
///         (vectors are normalised when added; distance 1 - cos).
///     quantization: "none" (the graph is walked on f32 vectors), "sq8" or "sq4" (walked on
///         8-/4-bit codes), "rabitq" (1-bit RaBitQ codes with error bounds, in one-visit
///         blocks) or "rabitq2" … "rabitq8" (plus 1–7 extended bits per dimension); on codes,
///         the best k × oversample candidates are reranked exactly from the f32 originals the
///         index keeps.
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

/// `repr(text)` as Python writes it (quotes and escapes).
pub fn py_repr(py: Python<'_>, text: &str) -> String {
    pyo3::types::PyString::new(py, text)
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| format!("{text:?}"))
}

/// Reads an id for `get`/`delete`: an int outside `0..2**64` is an unknown id (`KeyError`), a
/// non-int a `TypeError`. `container` names what the id is looked up in, for the message.
pub fn id_arg(obj: &Bound<'_, PyAny>, container: &str) -> PyResult<u64> {
    if let Ok(id) = obj.extract::<u64>() {
        return Ok(id);
    }
    if obj.is_instance_of::<PyInt>() || obj.hasattr("__index__")? {
        let exc = crate::errors::exceptions(obj.py())?;
        return Err(PyErr::from_type(
            exc.unknown_id.bind(obj.py()).clone(),
            format!("id {obj} is not in the {container} (ids are 0 ≤ id < 2**64)"),
        ));
    }
    Err(PyTypeError::new_err(format!(
        "an id must be an int, got {}",
        obj.get_type().name()?
    )))
}

impl Index {
    fn from_inner(inner: stratavec::Index) -> Index {
        Index {
            inner,
            add_lock: Mutex::new(()),
        }
    }
}

/// `Index.info()`'s dict.
fn segment_info_dict<'py>(py: Python<'py>, info: &SegmentInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", info.path.display().to_string())?;
    d.set_item("format_version", info.format_version)?;
    d.set_item("file_bytes", info.file_bytes)?;
    d.set_item("nodes", info.nodes)?;
    d.set_item("live", info.live)?;
    d.set_item("deleted", info.deleted)?;
    d.set_item("max_level", info.max_level)?;
    let sections = PyList::empty(py);
    for s in &info.sections {
        let sd = PyDict::new(py);
        sd.set_item("name", s.name)?;
        sd.set_item("offset", s.offset)?;
        sd.set_item("len", s.len)?;
        sd.set_item("crc32c", s.crc32c)?;
        sections.append(sd)?;
    }
    d.set_item("sections", sections)?;
    Ok(d)
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
        Ok(Index::from_inner(stratavec::Index::new(options).py()?))
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

    /// How vectors are stored for the traversal: `"none"` (f32), `"sq8"`, `"sq4"`, `"rabitq"` or
    /// `"rabitq2"` … `"rabitq8"`.
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

    fn __repr__(&self, py: Python<'_>) -> String {
        let o = self.inner.options();
        let path = self
            .inner
            .segment_info()
            .map(|i| format!(", path={}", py_repr(py, &i.path.display().to_string())))
            .unwrap_or_default();
        format!(
            "stratavec.Index(dim={}, metric='{}', quantization='{}', m={}, ef_construction={}, len={}{path})",
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
    ///     ReadOnlyError: the index was opened from a file.
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
    ///         sq8, 3 for sq4, 1 for rabitq, 2 for rabitq2 … rabitq8).
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
    ///     (ids, distances): uint64 and float32 arrays of shape (nq, w) ((w,) for a 1-d query),
    ///     w = min(k, len(index)): never wider than what a search can return, so a k far beyond
    ///     the index's size costs nothing. Where a row has fewer than w neighbours (a selective
    ///     filter, deleted vectors) it is padded with id MISSING_ID (2**64 - 1) and distance
    ///     +inf.
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
        let mut search = Search::new(
            self.inner.dim(),
            queries,
            k,
            ef,
            oversample,
            filter,
            reranker,
            threads,
        )?;
        let run = search.detached();
        let result = py.detach(|| run.run(&self.inner));
        search.finish(py, result)
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
        let id = id_arg(id, "index")?;
        let v = self.inner.get(id).py()?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Whether the index is read-only (opened from a segment file with `Index.open`).
    #[getter]
    fn read_only(&self) -> bool {
        self.inner.is_read_only()
    }

    /// Deletes id: searches stop returning it at once (its node stays in the graph as a waypoint
    /// until the index is rebuilt); the id can be added again afterwards.
    ///
    /// Raises:
    ///     UnknownIdError: (a KeyError) when the id is not in the index.
    ///     ReadOnlyError: the index was opened from a file.
    fn delete(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = id_arg(id, "index")?;
        py.detach(|| {
            let _adding = self.add_lock.lock();
            self.inner.delete(id)
        })
        .py()
    }

    /// Writes the index to path as one segment file, atomically (a temporary file in the same
    /// folder, fsync, rename, fsync of the folder), with the GIL released. Adds wait while it
    /// runs; searches don't. A quantized index stores its codes and its f32 originals.
    ///
    /// Returns:
    ///     The file's size in bytes.
    ///
    /// Raises:
    ///     OSError: (its errno subclass, with filename) when the file cannot be written.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<u64> {
        py.detach(|| self.inner.save(&path)).py()
    }

    /// Opens the segment file at path (written by `save`, or by a collection or `stratavec
    /// build`).
    ///
    /// With mmap=True (the default) the file is mapped, not read: opening costs the same for any
    /// file size and memory holds only the pages searches touch (several processes mapping one
    /// file share them). With mmap=False it is read into memory. Either way the index is
    /// read-only and searches exactly like the index that was saved. The header, section table
    /// and sizes are checked on open; `verify()` checks every checksum and link.
    ///
    /// Raises:
    ///     FileNotFoundError: (or another OSError) when the file cannot be opened.
    ///     CorruptFileError: not a segment file, or a damaged one (bad magic, header checksum,
    ///         truncated).
    ///     UnsupportedVersionError: written in a format version this build cannot read.
    #[staticmethod]
    #[pyo3(signature = (path, mmap = true))]
    fn open(py: Python<'_>, path: PathBuf, mmap: bool) -> PyResult<Index> {
        let inner = py
            .detach(|| {
                if mmap {
                    stratavec::Index::open(&path)
                } else {
                    stratavec::Index::load(&path)
                }
            })
            .py()?;
        Ok(Index::from_inner(inner))
    }

    /// Checks an opened index completely: every section checksum, every link, the id index
    /// (reads the whole file; the GIL is released). An index built in memory has nothing to
    /// check.
    ///
    /// Raises:
    ///     CorruptFileError: naming the file and the first problem found.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.verify()).py()
    }

    /// What the segment file behind an opened index holds, or None for an index built in memory:
    /// a dict with path, format_version, file_bytes, nodes (rows, deleted ones included), live,
    /// deleted, max_level and sections (a list of dicts name, offset, len, crc32c; names:
    /// meta, vectors, codes, level0, upper_offsets, upper_links, labels, id_keys, id_slots,
    /// tombstones).
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner
            .segment_info()
            .map(|info| segment_info_dict(py, &info))
            .transpose()
    }

    /// Bytes held by the index: codes_bytes, originals_bytes, graph_bytes, ids_bytes,
    /// fast_scan_bytes (fast-scan blocks of an index saved with that layout) and their sum
    /// total_bytes (allocated capacity included).
    fn memory<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.inner.memory();
        let d = PyDict::new(py);
        d.set_item("codes_bytes", m.codes_bytes)?;
        d.set_item("originals_bytes", m.originals_bytes)?;
        d.set_item("graph_bytes", m.graph_bytes)?;
        d.set_item("ids_bytes", m.ids_bytes)?;
        d.set_item("fast_scan_bytes", m.fast_scan_bytes)?;
        d.set_item("total_bytes", self.inner.memory_bytes())?;
        Ok(d)
    }
}

/// Raises the Python exception of the error variants that no call can provoke from Python, for
/// the tests of the error mapping (`_stratavec._raise_error("capacity_exceeded")`): an index
/// past 2**32 - 1 vectors, a Rust reranker's own error, a permission error (the tests may run as
/// root), an I/O error without an errno. Every other variant is raised by real calls in the
/// tests. Not part of the API.
#[pyfunction]
pub fn _raise_error(kind: &str) -> PyResult<()> {
    let path = PathBuf::from("/nonexistent/stratavec-test");
    let err = match kind {
        "capacity_exceeded" => Error::CapacityExceeded {
            max: u32::MAX as usize,
        },
        "rerank" => Error::Rerank {
            source: "a Rust reranker failed".into(),
        },
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
