//! `stratavec.Collection`: a durable, updatable set of vectors in a directory.

use std::path::{Path, PathBuf};

use numpy::PyArray1;
use parking_lot::RwLock;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use stratavec::{CollectionOptions, Durability, IndexOptions, Metric, Quantization};

use crate::arrays::{f32_rows, u64_ids};
use crate::callbacks::{pool, run_on};
use crate::errors::{exceptions, invalid_parameter, IntoPy};
use crate::index::{count, id_arg, py_repr, MISSING_ID};
use crate::search::Search;

/// The defaults of `CollectionOptions` (the crate's `DEFAULT_SEAL_ROWS` and
/// `DEFAULT_COMPACT_DELETED_FRACTION`).
fn defaults() -> CollectionOptions {
    CollectionOptions::new(1, Metric::L2)
}

fn default_seal_rows() -> i64 {
    defaults().seal_rows as i64
}

fn default_compact_fraction() -> Option<f64> {
    defaults().compact_deleted_fraction
}

/// A durable collection of vectors in a directory: upserts and deletes go to a write-ahead log
/// (fsynced by default) and an in-memory segment that is sealed into immutable segment files; a
/// manifest, replaced atomically, names the live files. After a crash, opening it again brings
/// back every acknowledged write.
///
/// One writer at a time: a second `Collection(path)` on the same directory, in this process or
/// another, raises LockedError until the first is closed. `Collection.open_read_only(path)` opens
/// beside a writer and sees the last flushed state (`refresh()` catches up). Searches run on a
/// snapshot and never wait for writes; every call releases the GIL, so Python threads can search
/// while another upserts.
///
/// `close()` (or leaving a `with` block) makes the writes durable, releases the writer lock, and
/// makes every later call raise ClosedError. Do not rely on garbage collection to close it.
///
/// Args:
///     path: the directory (created with the collection when absent).
///     dim: vector dimension; required to create a collection, optional when one exists (it is
///         read from the manifest, and must match when given).
///     metric: "l2" (the default when creating), "ip" or "cosine"; an existing collection keeps
///         its own (and it must match when given).
///     quantization: "none" (default), "sq8", "sq4", "rabitq" or "rabitq2" … "rabitq8" (see
///         `Index`): how sealed segments store vectors for the
///         traversal (originals are kept for exact reranking). Creation only, like m,
///         ef_construction and seed: an existing collection keeps the stored ones.
///     m: links per node (default 16).
///     ef_construction: beam width while inserting (default 200).
///     seed: seed of the level draws.
///     durability: "sync" (default: every upsert and delete is fsynced before it returns) or
///         "buffered" (the log is written but fsynced only by sync(), flush() and close(): faster,
///         a crash may lose the last writes).
///     seal_rows: rows of the in-memory segment at which it is sealed into a segment file.
///     compact_deleted_fraction: fraction of deleted or superseded rows past which flush()
///         compacts; None never compacts on its own.
///
/// Raises:
///     InvalidParameterError: dim missing for a new collection, dim or metric different from
///         the stored ones, bad option values.
///     LockedError: another writer holds the collection.
///     CorruptFileError, UnsupportedVersionError, OSError: damaged, newer or unreadable files.
#[pyclass(module = "stratavec", name = "Collection", frozen)]
pub struct Collection {
    /// `None` once closed. Read (recursively: a filter may search again) for every call, written
    /// only by `close`; both with the GIL released, so no thread ever waits for the lock while
    /// holding the GIL.
    inner: RwLock<Option<stratavec::Collection>>,
    path: PathBuf,
    options: CollectionOptions,
    read_only: bool,
}

/// Reads an optional string option.
fn parse_opt<T: std::str::FromStr<Err = stratavec::Error>>(v: Option<&str>) -> PyResult<Option<T>> {
    v.map(|s| s.parse::<T>().py()).transpose()
}

impl Collection {
    fn from_inner(inner: stratavec::Collection) -> Collection {
        Collection {
            path: inner.path().to_path_buf(),
            options: inner.options().clone(),
            read_only: inner.is_read_only(),
            inner: RwLock::new(Some(inner)),
        }
    }

    /// Runs `f` on the open collection with the GIL released; ClosedError after `close()`.
    fn with<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&stratavec::Collection) -> R + Send,
    ) -> PyResult<R> {
        py.detach(|| self.inner.read_recursive().as_ref().map(f))
            .ok_or_else(|| self.closed_error(py))
    }

    fn closed_error(&self, py: Python<'_>) -> PyErr {
        match exceptions(py) {
            Ok(exc) => PyErr::from_type(
                exc.closed.bind(py).clone(),
                format!(
                    "the collection in {} is closed (open it again to use it)",
                    self.path.display()
                ),
            ),
            Err(e) => e,
        }
    }
}

/// Opens (or creates) the collection in `path` with the options given, the stored ones filling
/// what was not given.
#[allow(clippy::too_many_arguments)]
fn open_writer(
    path: &Path,
    dim: Option<usize>,
    metric: Option<Metric>,
    quantization: Option<Quantization>,
    m: Option<usize>,
    ef_construction: Option<usize>,
    seed: Option<u64>,
    durability: Durability,
    seal_rows: usize,
    compact_deleted_fraction: Option<f64>,
) -> stratavec::Result<stratavec::Collection> {
    let index = match stratavec::Collection::stored_options(path)? {
        Some(stored) => IndexOptions {
            // What was given must match (the crate checks dim and metric); the rest is stored.
            dim: dim.unwrap_or(stored.dim),
            metric: metric.unwrap_or(stored.metric),
            ..stored
        },
        None => {
            let Some(dim) = dim else {
                return Err(stratavec::Error::InvalidParameter {
                    name: "dim",
                    reason: format!(
                        "is required to create a collection (there is none in {})",
                        path.display()
                    ),
                });
            };
            let mut o = IndexOptions::new(dim, metric.unwrap_or(Metric::L2));
            o.quantization = quantization.unwrap_or(Quantization::None);
            o.m = m.unwrap_or(o.m);
            o.ef_construction = ef_construction.unwrap_or(o.ef_construction);
            o.seed = seed.unwrap_or(o.seed);
            o
        }
    };
    stratavec::Collection::open(
        path,
        CollectionOptions {
            index,
            durability,
            seal_rows,
            compact_deleted_fraction,
            schema: stratavec::Schema::new(),
        },
    )
}

#[pymethods]
impl Collection {
    /// Opens the collection in path for writing, creating it when absent (see the class
    /// docstring).
    #[new]
    #[pyo3(signature = (path, dim = None, metric = None, quantization = None, m = None,
                        ef_construction = None, seed = None, durability = "sync",
                        seal_rows = default_seal_rows(),
                        compact_deleted_fraction = default_compact_fraction()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        dim: Option<i64>,
        metric: Option<&str>,
        quantization: Option<&str>,
        m: Option<i64>,
        ef_construction: Option<i64>,
        seed: Option<u64>,
        durability: &str,
        seal_rows: i64,
        compact_deleted_fraction: Option<f64>,
    ) -> PyResult<Self> {
        let dim = dim.map(|d| count("dim", d)).transpose()?;
        let metric: Option<Metric> = parse_opt(metric)?;
        let quantization: Option<Quantization> = parse_opt(quantization)?;
        let m = m.map(|v| count("m", v)).transpose()?;
        let ef_construction = ef_construction
            .map(|v| count("ef_construction", v))
            .transpose()?;
        let durability = match durability {
            "sync" => Durability::Sync,
            "buffered" => Durability::Buffered,
            other => {
                return Err(invalid_parameter(
                    "durability",
                    format!("must be \"sync\" or \"buffered\", got {other:?}"),
                ))
            }
        };
        let seal_rows = count("seal_rows", seal_rows)?;
        if let Some(f) = compact_deleted_fraction {
            if !(0.0..=1.0).contains(&f) {
                return Err(invalid_parameter(
                    "compact_deleted_fraction",
                    format!("must be between 0 and 1 (or None), got {f}"),
                ));
            }
        }
        let inner = py
            .detach(|| {
                open_writer(
                    &path,
                    dim,
                    metric,
                    quantization,
                    m,
                    ef_construction,
                    seed,
                    durability,
                    seal_rows,
                    compact_deleted_fraction,
                )
            })
            .py()?;
        Ok(Collection::from_inner(inner))
    }

    /// Opens the collection in path for reading only, beside a writer if there is one (no lock
    /// is taken). It sees the state of the writer's last flush (not its unflushed rows);
    /// refresh() catches up with later flushes. Writes raise ReadOnlyError.
    ///
    /// Raises:
    ///     FileNotFoundError: there is no collection in path.
    ///     CorruptFileError, UnsupportedVersionError, OSError: as for the constructor.
    #[staticmethod]
    fn open_read_only(py: Python<'_>, path: PathBuf) -> PyResult<Collection> {
        let inner = py
            .detach(|| stratavec::Collection::open_read_only(&path))
            .py()?;
        Ok(Collection::from_inner(inner))
    }

    /// The collection's directory.
    #[getter]
    fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// Vector dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.options.index.dim
    }

    /// Distance metric: "l2", "ip" or "cosine".
    #[getter]
    fn metric(&self) -> &'static str {
        self.options.index.metric.name()
    }

    /// How sealed segments store vectors for the traversal: "none", "sq8", "sq4", "rabitq" or
    /// "rabitq2" … "rabitq8".
    #[getter]
    fn quantization(&self) -> &'static str {
        self.options.index.quantization.name()
    }

    /// Links per node on the upper levels.
    #[getter]
    fn m(&self) -> usize {
        self.options.index.m
    }

    /// Beam width while inserting.
    #[getter]
    fn ef_construction(&self) -> usize {
        self.options.index.ef_construction
    }

    /// "sync" or "buffered".
    #[getter]
    fn durability(&self) -> &'static str {
        match self.options.durability {
            Durability::Buffered => "buffered",
            _ => "sync",
        }
    }

    /// Whether it was opened with open_read_only.
    #[getter]
    fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether close() was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.read_recursive().is_none()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let o = &self.options.index;
        let state = match self.inner.read_recursive().as_ref() {
            None => "closed".to_string(),
            Some(c) => format!("len={}", c.len()),
        };
        format!(
            "stratavec.Collection({}, dim={}, metric='{}', quantization='{}', {}{state})",
            py_repr(py, &self.path.display().to_string()),
            o.dim,
            o.metric.name(),
            o.quantization.name(),
            if self.read_only { "read_only, " } else { "" },
        )
    }

    /// Number of live vectors.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |c| c.len())
    }

    /// Whether the id is present (False for anything that is not a valid id).
    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = id.extract::<u64>().ok();
        self.with(py, |c| id.is_some_and(|id| c.contains(id)))
    }

    /// Inserts or replaces vectors: a (n, dim) array with n ids, or one (dim,) vector with one
    /// id. Atomic: after a crash either the whole batch is back or none of it; when an id
    /// appears twice, the last row wins. The write is in the log (fsynced under
    /// durability="sync") when this returns, and visible to searches.
    ///
    /// Args:
    ///     ids: one non-negative integer id per row (array, list or scalar).
    ///     vectors: the vectors (C-contiguous float32 is read in place).
    ///     threads: threads to link on (default: all cores).
    ///     payloads: one dict per row (field name → bool, int, float, str, list of str,
    ///         datetime or bytes), or None: no payloads. An upsert replaces an id's payload.
    ///
    /// Raises:
    ///     DimensionMismatchError, InvalidVectorError, InvalidParameterError: as Index.add;
    ///         nothing is written then.
    ///     InvalidPayloadError, FieldTypeMismatchError: a bad payload, naming the field;
    ///         nothing is written then.
    ///     ReadOnlyError: opened with open_read_only.
    #[pyo3(signature = (ids, vectors, threads = None, payloads = None))]
    fn upsert(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        threads: Option<i64>,
        payloads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let rows = f32_rows(vectors, Some(self.options.index.dim), "vectors")?;
        let ids = u64_ids(ids, "ids")?;
        let ids = ids.as_slice();
        if ids.len() != rows.rows {
            return Err(invalid_parameter(
                "ids",
                format!(
                    "expected {} ids (one per row), got {}",
                    rows.rows,
                    ids.len()
                ),
            ));
        }
        if ids.contains(&MISSING_ID) {
            return Err(invalid_parameter(
                "ids",
                "2**64 - 1 is reserved: search results use it as the filler id",
            ));
        }
        let payloads = match payloads {
            None => None,
            Some(list) => {
                let list: Vec<stratavec::Payload> = list
                    .try_iter()?
                    .map(|p| crate::payloads::payload(&p?))
                    .collect::<PyResult<_>>()?;
                if list.len() != ids.len() {
                    return Err(invalid_parameter(
                        "payloads",
                        format!(
                            "expected {} payloads (one per row), got {}",
                            ids.len(),
                            list.len()
                        ),
                    ));
                }
                Some(list)
            }
        };
        let pool = pool(threads.map(|t| count("threads", t)).transpose()?)?;
        let data = rows.as_slice();
        self.with(py, |c| {
            run_on(pool.as_deref(), || match &payloads {
                Some(p) => c.upsert_batch_with_payloads(ids, data, p),
                None => c.upsert_batch(ids, data),
            })
        })?
        .py()
    }

    /// The payload of id as a dict (empty when it was stored without one); timestamps are
    /// UTC datetimes.
    ///
    /// Raises:
    ///     UnknownIdError: (a KeyError) when it is absent or deleted.
    fn payload<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let id = id_arg(id, "collection")?;
        let p = self.with(py, |c| c.payload(id))?.py()?;
        crate::payloads::to_dict(py, &p)
    }

    /// The payload fields and their types, as a dict of name → "int", "float", "bool",
    /// "keyword", "keywords", "timestamp" or "bytes".
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let schema = self.with(py, |c| c.schema())?;
        let d = PyDict::new(py);
        for (name, ty) in schema.iter() {
            d.set_item(name, ty.name())?;
        }
        Ok(d)
    }

    /// Deletes ids (an array, list or scalar); ids that are absent are ignored.
    ///
    /// Returns:
    ///     How many were present (and are now deleted).
    ///
    /// Raises:
    ///     ReadOnlyError: opened with open_read_only.
    fn delete(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = u64_ids(ids, "ids")?;
        let ids = ids.as_slice();
        self.with(py, |c| c.delete_batch(ids))?.py()
    }

    /// The stored vector of id as a float32 array (unit length under cosine); with
    /// with_payload=True, the pair (vector, payload dict).
    ///
    /// Raises:
    ///     UnknownIdError: (a KeyError) when it is absent or deleted.
    #[pyo3(signature = (id, with_payload = false))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
        with_payload: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = id_arg(id, "collection")?;
        let (v, p) = self
            .with(py, |c| -> stratavec::Result<_> {
                Ok((
                    c.get(id)?,
                    if with_payload {
                        Some(c.payload(id)?)
                    } else {
                        None
                    },
                ))
            })?
            .py()?;
        let v = PyArray1::from_vec(py, v).into_any();
        match p {
            Some(p) => Ok(pyo3::types::PyTuple::new(
                py,
                [v, crate::payloads::to_dict(py, &p)?.into_any()],
            )?
            .into_any()),
            None => Ok(v),
        }
    }

    /// The k nearest neighbours of each query across every segment, nearest first: the same
    /// arguments, results and errors as Index.search (each segment is searched, deleted and
    /// superseded rows never come back, and the per-segment results are merged with
    /// merge_top_k). The arrays are min(k, len(collection)) wide, len taken when the call
    /// starts. Runs on a snapshot: never waits for writers.
    ///
    /// filter may also be a payload filter: a dict ({"tenant": 7, "date": {"gte": d},
    /// "$or": [...]}; operators eq, ne, in, nin, lt, lte, gt, gte, exists; $and, $or, $not) or
    /// its text form ("tenant = 7 and date >= @2026-01-01"); a query then returns
    /// min(k, matches) hits. with_payload=True adds a third result: for each query, the list of
    /// its hits' payload dicts (read right after the search).
    ///
    /// Raises:
    ///     InvalidFilterError: a payload filter on an unknown field, with a value of the wrong
    ///         type, too deep or too large, naming the field.
    #[pyo3(signature = (queries, k = 10, ef = None, oversample = None, filter = None,
                        reranker = None, threads = None, target_recall = None,
                        with_payload = false))]
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
        target_recall: Option<f64>,
        with_payload: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut search = Search::new(
            self.options.index.dim,
            queries,
            k,
            ef,
            target_recall,
            oversample,
            filter,
            reranker,
            threads,
        )?;
        let run = search.detached();
        let result = self.with(py, |c| run.run(c))?;
        let (ids, dists) = search.finish(py, result)?;
        if !with_payload {
            return Ok(pyo3::types::PyTuple::new(py, [ids, dists])?.into_any());
        }
        let flat: Vec<u64> = ids
            .call_method0("flatten")?
            .call_method0("tolist")?
            .extract()?;
        let width = if ids.getattr("ndim")?.extract::<usize>()? == 2 {
            ids.getattr("shape")?
                .get_item(1)?
                .extract::<usize>()?
                .max(1)
        } else {
            flat.len().max(1)
        };
        let payloads = self
            .with(py, |c| {
                flat.iter()
                    .map(|&id| match id {
                        MISSING_ID => Ok(None),
                        id => c.payload(id).map(Some),
                    })
                    .collect::<stratavec::Result<Vec<_>>>()
            })?
            .py()?;
        let rows = PyList::empty(py);
        for chunk in payloads.chunks(width) {
            let row = PyList::empty(py);
            for p in chunk {
                match p {
                    Some(p) => row.append(crate::payloads::to_dict(py, p)?)?,
                    None => row.append(py.None())?,
                }
            }
            rows.append(row)?;
        }
        let rows = if ids.getattr("ndim")?.extract::<usize>()? == 1 {
            rows.get_item(0)?
        } else {
            rows.into_any()
        };
        Ok(pyo3::types::PyTuple::new(py, [ids, dists, rows])?.into_any())
    }

    /// Seals the in-memory segment into a segment file, writes changed deletion bitmaps, commits
    /// a new manifest and empties the log; then compacts if the deleted fraction passed
    /// compact_deleted_fraction. Read-only opens see the state from here on (after refresh()).
    ///
    /// Raises:
    ///     ReadOnlyError, OSError. On an error nothing is lost: the log still holds every write.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |c| c.flush())?.py()
    }

    /// Seals, then rewrites every segment into one over the live rows only (rebuilding its
    /// graph), so deleted and superseded rows stop costing memory, disk and search time. Writes
    /// wait while it runs; searches don't.
    ///
    /// Raises:
    ///     ReadOnlyError, OSError.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |c| c.compact())?.py()
    }

    /// Makes every acknowledged write durable now (an fsync of the log), for
    /// durability="buffered".
    ///
    /// Raises:
    ///     ReadOnlyError, OSError.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |c| c.sync())?.py()
    }

    /// Checks every sealed segment completely (checksums, links, id index).
    ///
    /// Raises:
    ///     CorruptFileError: naming the file and the problem.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |c| c.verify())?.py()
    }

    /// For a read-only open: loads the segments a writer flushed since the open (or the last
    /// refresh). Does nothing for a writer.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |c| c.refresh())?.py()
    }

    /// Counts and sizes: live, deleted (stored until compaction), segments, unsealed (rows only
    /// in the log and memory so far), segment_bytes, wal_bytes (0 for a read-only open),
    /// generation (of the manifest; 0 for a read-only open).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.with(py, |c| c.stats())?;
        let d = PyDict::new(py);
        d.set_item("live", s.live)?;
        d.set_item("deleted", s.deleted)?;
        d.set_item("segments", s.segments)?;
        d.set_item("unsealed", s.unsealed)?;
        d.set_item("segment_bytes", s.segment_bytes)?;
        d.set_item("wal_bytes", s.wal_bytes)?;
        d.set_item("generation", s.generation)?;
        d.set_item(
            "quality",
            s.quality
                .as_ref()
                .map(|q| quality_dict(py, q))
                .transpose()?,
        )?;
        Ok(d)
    }

    /// Starts measuring search quality live (replacing a monitor already running): a seeded
    /// fraction sample_rate of the searches is recomputed exactly by a background thread held to
    /// max_cpu_share of one core, giving a rolling Recall@k per recall target with a 95 %
    /// interval, latency percentiles and the beams used (see quality()). With correct, a
    /// target whose interval leaves it (on at least min_samples of the last window samples)
    /// gets its beams corrected. Searches with a filter or a reranker are timed, not sampled.
    ///
    /// Raises:
    ///     InvalidParameterError: sample_rate or max_cpu_share outside (0, 1], window or
    ///         min_samples < 1, or min_samples > window.
    #[pyo3(signature = (sample_rate = 0.001, max_cpu_share = 0.02, window = 1000,
                        min_samples = 200, correct = true, seed = None))]
    #[allow(clippy::too_many_arguments)]
    fn monitor(
        &self,
        py: Python<'_>,
        sample_rate: f64,
        max_cpu_share: f64,
        window: i64,
        min_samples: i64,
        correct: bool,
        seed: Option<u64>,
    ) -> PyResult<()> {
        let mut options = stratavec::QualityOptions {
            sample_rate,
            max_cpu_share,
            window: count("window", window)?,
            min_samples: count("min_samples", min_samples)?,
            correct,
            ..stratavec::QualityOptions::default()
        };
        if let Some(seed) = seed {
            options.seed = seed;
        }
        self.with(py, |c| c.monitor(options))?.py()
    }

    /// Stops the quality monitor (its corrections stop applying); does nothing when none runs.
    fn stop_monitor(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |c| c.stop_monitor())
    }

    /// What the quality monitor measured so far (None when it does not run), as a dict:
    /// searches, sampled, measured, dropped, pending, latency_us (p50, p90, p99, p999, max),
    /// targets (one dict per recall target, target None for searches that gave ef: samples,
    /// recall, low, high, mean_beam, beam_factor, corrections), deleted_fraction,
    /// suggest_compaction and events (the corrections, in words).
    fn quality<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let q = self.with(py, |c| c.quality())?;
        q.as_ref().map(|q| quality_dict(py, q)).transpose()
    }

    /// Closes the collection: makes every acknowledged write durable (an fsync of the log, for
    /// durability="buffered"), waits for calls running in other threads, releases the writer
    /// lock and the mapped files. Unflushed rows stay in the log and come back on the next open.
    /// Later calls raise ClosedError; closing again does nothing.
    ///
    /// Raises:
    ///     OSError: the final fsync failed (the collection is closed all the same).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| match self.inner.write().take() {
            Some(c) if !c.is_read_only() => c.sync(),
            _ => Ok(()),
        })
        .py()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the collection (see close()); exceptions of the with block propagate.
    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

/// A quality report as a dict (its JSON shape, through the json module).
fn quality_dict<'py>(py: Python<'py>, q: &stratavec::QualityReport) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(q).map_err(|e| invalid_parameter("quality", e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}
