//! Python code called from inside a search: filters and rerankers, and the thread pools searches
//! run on.
//!
//! Searches run with the interpreter detached (the GIL released). A Python callback re-attaches
//! for each call, so it costs an attach/detach plus the Python call, and callbacks from several
//! search threads take turns on the GIL.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use parking_lot::Mutex;
use pyo3::prelude::*;
use stratavec::rerank::{Candidate, RerankError, Reranker};
use stratavec::Neighbor;

use crate::arrays::{numpy, u64_ids};
use crate::errors::invalid_parameter;

/// A hasher for `u64` ids: one multiply by an odd constant (Fibonacci hashing) and a rotation, so
/// the high bits hashbrown uses for its control bytes depend on all bits of the id.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(26);
    }
}

/// The filter of a search.
pub enum Filter {
    /// Allowed ids, from an array: the filter is a set lookup, with no Python involved.
    Ids(HashSet<u64, BuildHasherDefault<IdHasher>>),
    /// A Python callable `(id) -> bool`, called with the interpreter attached.
    Callable(PyCallable),
    /// A payload filter (a `dict` or its text form), run by the library on its field indexes.
    Payload(stratavec::Filter),
}

impl Filter {
    /// A filter from the `filter=` argument: a callable, a payload filter (a `dict` or a
    /// `str`), or anything NumPy reads as integer ids.
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if obj.is_callable() {
            return Ok(Filter::Callable(PyCallable::new(obj)));
        }
        if obj.is_instance_of::<pyo3::types::PyDict>()
            || obj.is_instance_of::<pyo3::types::PyString>()
        {
            return crate::payloads::filter(obj).map(Filter::Payload);
        }
        let ids = u64_ids(obj, "filter")?;
        let mut set = HashSet::with_capacity_and_hasher(ids.as_slice().len(), Default::default());
        set.extend(ids.as_slice().iter().copied());
        Ok(Filter::Ids(set))
    }

    /// Whether `id` passes.
    pub fn allows(&self, id: u64) -> bool {
        match self {
            Filter::Ids(set) => set.contains(&id),
            Filter::Callable(f) => f.test(id),
            Filter::Payload(_) => true,
        }
    }

    /// The first exception the callable raised, if any.
    pub fn take_error(&self) -> Option<PyErr> {
        match self {
            Filter::Ids(_) | Filter::Payload(_) => None,
            Filter::Callable(f) => f.error.lock().take(),
        }
    }
}

/// A Python `(id) -> bool` callable. After it raises once, it is not called again and every id
/// is refused; the exception is raised when the search returns.
pub struct PyCallable {
    func: Py<PyAny>,
    failed: AtomicBool,
    error: Mutex<Option<PyErr>>,
}

impl PyCallable {
    fn new(obj: &Bound<'_, PyAny>) -> Self {
        PyCallable {
            func: obj.clone().unbind(),
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }

    fn test(&self, id: u64) -> bool {
        if self.failed.load(Ordering::Relaxed) {
            return false;
        }
        Python::attach(|py| {
            // Again under the GIL: another search thread may have failed while this one waited.
            if self.failed.load(Ordering::Relaxed) {
                return false;
            }
            match self
                .func
                .call1(py, (id,))
                .and_then(|r| r.bind(py).is_truthy())
            {
                Ok(keep) => keep,
                Err(e) => {
                    if !self.failed.swap(true, Ordering::Relaxed) {
                        *self.error.lock() = Some(e);
                    }
                    false
                }
            }
        })
    }
}

/// A Python reranker `(query, ids, distances) -> new distances`, as a [`Reranker`].
///
/// The candidates are reordered by the returned distances (stable: ties keep the search's order;
/// NaN sorts last). A Python exception raised by the callable travels back as the error's source
/// and is re-raised unchanged by the binding.
pub struct PyReranker {
    func: Py<PyAny>,
}

impl PyReranker {
    /// Wraps a callable.
    ///
    /// # Errors
    /// `TypeError` when `obj` is not callable.
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if !obj.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "reranker must be a callable (query, ids, distances) -> distances",
            ));
        }
        Ok(PyReranker {
            func: obj.clone().unbind(),
        })
    }

    fn call(
        &self,
        py: Python<'_>,
        query: &[f32],
        candidates: &[Candidate<'_>],
    ) -> PyResult<Vec<Neighbor>> {
        let q = PyArray1::from_slice(py, query);
        let ids = PyArray1::from_iter(py, candidates.iter().map(|c| c.id));
        let dists = PyArray1::from_iter(py, candidates.iter().map(|c| c.distance));
        let out = self.func.bind(py).call1((q, ids, dists))?;
        let out = numpy(py)?
            .call_method1("ascontiguousarray", (out, "float32"))?
            .call_method1("reshape", (-1,))?
            .cast_into::<PyArray1<f32>>()?;
        if out.len() != candidates.len() {
            return Err(invalid_parameter(
                "reranker",
                format!(
                    "returned {} distances for {} candidates",
                    out.len(),
                    candidates.len()
                ),
            ));
        }
        let new = out.to_vec()?;
        let mut hits: Vec<Neighbor> = candidates
            .iter()
            .zip(new)
            .map(|(c, distance)| Neighbor { id: c.id, distance })
            .collect();
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        Ok(hits)
    }
}

impl Reranker for PyReranker {
    fn rerank(
        &self,
        query: &[f32],
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<Neighbor>, RerankError> {
        Python::attach(|py| self.call(py, query, candidates))
            .map_err(|e| Box::new(e) as RerankError)
    }
}

/// The rayon pool for `threads` threads (`None`: the global rayon pool, all cores), built on
/// first use and kept for the process's life.
///
/// # Errors
/// `InvalidParameterError` for 0 threads; `RuntimeError` when the operating system refuses to start
/// the threads.
pub fn pool(threads: Option<usize>) -> PyResult<Option<Arc<rayon::ThreadPool>>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let Some(threads) = threads else {
        return Ok(None);
    };
    if threads == 0 {
        return Err(invalid_parameter("threads", "must be at least 1"));
    }
    let mut pools = POOLS.get_or_init(Default::default).lock();
    if let Some(p) = pools.get(&threads) {
        return Ok(Some(p.clone()));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("stratavec-{threads}t-{i}"))
        .build()
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "cannot start {threads} threads: {e}"
            ))
        })?;
    let p = Arc::new(p);
    pools.insert(threads, p.clone());
    Ok(Some(p))
}

/// Runs `f` on `pool`, or on the global rayon pool for `None`.
pub fn run_on<R: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        None => f(),
        Some(p) => p.install(f),
    }
}
