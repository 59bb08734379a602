//! The durable collection: many immutable segments, a write-ahead log in front of them, a
//! manifest naming what is live, and a lock that admits one writer.
//!
//! The building blocks, each in its own file:
//!
//! - [`crate::fsutil`]: the I/O trait every file operation goes through (the real file system,
//!   or a simulated disk in tests), atomic file replacement (`write_atomic`), plain file names.
//! - [`lock`]: the writer lock, `dir/LOCK`, one writer across threads and processes.
//! - [`wal`]: the write-ahead log, checksummed frames with increasing lsns, torn tails cut on open,
//!   reset after a checkpoint; [`wal::Durability`] chooses when appends are fsynced.
//! - [`manifest`]: `MANIFEST`, the atomically replaced list of segments and deletion bitmaps, the
//!   index options and the lsn sealed so far.
//! - [`tombstones`]: the immutable deletion bitmap of one sealed segment.
//!
//! The byte layouts of the files are in `docs/file-format.md`.

pub(crate) mod lock;
pub(crate) mod manifest;
mod payloads;
pub(crate) mod tombstones;
mod trailer;
pub(crate) mod wal;

mod merge;
mod quality;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use self::lock::WriterLock;
use self::manifest::{segment_file_name, tombstones_file_name, Manifest, SegmentEntry};
use self::tombstones::{read_tombstones, write_tombstones};
use self::wal::{Wal, WalRecord, WAL_FILE};
use crate::base::options::{IndexOptions, Layout, Neighbor};
use crate::error::{Error, Result};
use crate::fsutil::{remove_temp_files, sync_dir, DirSync, RealFs, ReplaceError, Replacement, Vfs};
use crate::index::{per_query, Index, SearchParams};
use crate::payload::Schema;
use crate::{Metric, Quantization};

pub use self::merge::merge_top_k;
pub use self::payloads::Hit;
pub use self::quality::{QualityLatency, QualityOptions, QualityReport, TargetQuality};
pub use self::wal::Durability;

/// Rows of the in-memory segment at which it is sealed into a segment file by default.
pub const DEFAULT_SEAL_ROWS: usize = 100_000;
/// Fraction of deleted rows in sealed segments past which a flush compacts by default.
pub const DEFAULT_COMPACT_DELETED_FRACTION: f64 = 0.2;

/// How a [`Collection`] is created and run.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionOptions {
    /// The index options of the collection's segments. Stored in the manifest when the
    /// collection is created; when it is opened again, `dim` and `metric` must match and the
    /// stored options are used.
    pub index: IndexOptions,
    /// When writes reach the disk (default [`Durability::Sync`]).
    pub durability: Durability,
    /// Rows of the in-memory segment that trigger sealing it into a segment file.
    pub seal_rows: usize,
    /// Fraction of deleted (or superseded) rows in the sealed segments past which
    /// [`Collection::flush`] compacts; `None` never compacts on its own.
    pub compact_deleted_fraction: Option<f64>,
    /// Payload fields declared up front (others are inferred from their first value). Stored
    /// with the collection; when it is opened again, a declared field must have its stored type
    /// and new ones are added.
    pub schema: Schema,
}

impl CollectionOptions {
    /// Defaults for everything but the dimension and the metric.
    pub fn new(dim: usize, metric: Metric) -> Self {
        CollectionOptions {
            index: IndexOptions::new(dim, metric),
            durability: Durability::default(),
            seal_rows: DEFAULT_SEAL_ROWS,
            compact_deleted_fraction: Some(DEFAULT_COMPACT_DELETED_FRACTION),
            schema: Schema::new(),
        }
    }
}

/// Counts and sizes of a collection ([`Collection::stats`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct CollectionStats {
    /// Live vectors (what searches can return).
    pub live: usize,
    /// Rows deleted or superseded but still stored (until compaction).
    pub deleted: usize,
    /// Sealed segment files.
    pub segments: usize,
    /// Live vectors in the in-memory segment (not yet sealed; in the write-ahead log).
    pub unsealed: usize,
    /// Bytes of the segment files.
    pub segment_bytes: u64,
    /// Bytes of the write-ahead log (0 for a read-only open).
    pub wal_bytes: u64,
    /// The manifest's generation (it grows with every flush and compaction); for a read-only
    /// open, that of the manifest it last read (at the open or the last refresh).
    pub generation: u64,
    /// The live quality monitor's report ([`Collection::quality`]), when one runs.
    pub quality: Option<QualityReport>,
}

/// One sealed segment: the mapped index and the collection's deletes in it.
struct Sealed {
    entry: SegmentEntry,
    index: Index,
    /// Slots deleted or superseded since the segment was sealed (the file's own tombstones are
    /// in the segment).
    dead: Box<[AtomicU64]>,
    dead_count: AtomicUsize,
    /// Whether `dead` changed since its bitmap was last written.
    dirty: AtomicBool,
}

impl Sealed {
    fn open(vfs: &dyn Vfs, dir: &Path, entry: SegmentEntry) -> Result<Sealed> {
        let path = dir.join(&entry.file);
        let bytes = vfs.map(&path).map_err(|e| Error::io(&path, e))?;
        let index = Index::from_file_bytes(&path, bytes)?;
        let rows = index.segment_info().map_or(0, |i| i.nodes) as u64;
        if rows != entry.rows {
            return Err(Error::corrupt(
                dir.join(&entry.file),
                format!("the manifest says {} rows, the file has {rows}", entry.rows),
            ));
        }
        let words = match &entry.tombstones {
            Some(name) => read_tombstones(vfs, &dir.join(name), rows)?,
            None => vec![0; rows.div_ceil(64) as usize],
        };
        let count = words.iter().map(|w| w.count_ones() as usize).sum();
        Ok(Sealed {
            dead: words.into_iter().map(AtomicU64::new).collect(),
            dead_count: AtomicUsize::new(count),
            dirty: AtomicBool::new(false),
            entry,
            index,
        })
    }

    /// The slot of `id` when it is live here.
    fn live_slot(&self, id: u64) -> Option<u32> {
        self.index
            .slot_of(id)
            .filter(|&s| self.dead[s as usize / 64].load(Ordering::Relaxed) >> (s % 64) & 1 == 0)
    }

    /// Marks `id` dead here; `true` when it was live.
    fn kill(&self, id: u64) -> bool {
        let Some(slot) = self.live_slot(id) else {
            return false;
        };
        self.dead[slot as usize / 64].fetch_or(1 << (slot % 64), Ordering::Relaxed);
        self.dead_count.fetch_add(1, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
        true
    }

    fn live(&self) -> usize {
        self.index.len() - self.dead_count.load(Ordering::Relaxed)
    }

    fn words(&self) -> Vec<u64> {
        self.dead
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect()
    }
}

/// What readers search: the in-memory segment and the sealed ones. Replaced, never changed in
/// place, when segments come and go; deletes change `dead` bits and the in-memory index in place.
struct State {
    unsealed: Arc<Index>,
    sealed: Vec<Arc<Sealed>>,
    /// The generation of the manifest the sealed segments come from.
    generation: u64,
}

/// The writer's side: the lock, the log and the manifest last committed.
struct Writer {
    _lock: WriterLock,
    wal: Wal,
    manifest: Manifest,
    /// Set when the last commit's outcome is unknown (its rename or directory sync failed): the
    /// directory may hold the new manifest or the old one, now and after a crash. Until a commit
    /// succeeds, the log is not reset and no file either manifest names is removed.
    unconfirmed: bool,
    /// Files no manifest in memory names any more, kept because a manifest that may still be
    /// the durable one names them; removed after the next successful commit.
    garbage: Vec<String>,
}

/// A durable collection of vectors in a directory: upserts and deletes go to a write-ahead log
/// and an in-memory segment, which is sealed into immutable segment files; a manifest, replaced
/// atomically, names the live files. Searches run on a snapshot and never wait for writes.
///
/// One process (one `Collection`) writes at a time: a second writer gets [`Error::Locked`].
/// [`Collection::open_read_only`] opens beside a writer and sees the last flushed state.
///
/// ```
/// use stratavec::{Collection, CollectionOptions, Metric, SearchParams};
///
/// let dir = tempfile::tempdir()?;
/// let col = Collection::open(dir.path(), CollectionOptions::new(2, Metric::L2))?;
/// col.upsert(1, &[0.0, 1.0])?;
/// col.upsert(2, &[1.0, 0.0])?;
/// col.upsert(1, &[0.9, 0.1])?; // replaces id 1
/// col.delete(2)?;
/// let hits = col.search(&[1.0, 0.0], 5)?;
/// assert_eq!(hits.len(), 1);
/// assert_eq!(hits[0].id, 1);
/// col.flush()?; // seal into a segment file
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Collection {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    options: CollectionOptions,
    state: RwLock<Arc<State>>,
    /// The payload fields: the manifest's, those of replayed and acknowledged writes, the
    /// declared ones. Changed only under the writer lock, after the write that adds a field is
    /// in the log.
    schema: RwLock<Schema>,
    /// `None` for a read-only open.
    writer: Option<Mutex<Writer>>,
    /// Quality hook (issue 17, `quality.rs`): the live monitor, when one runs.
    quality: quality::MonitorSlot,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("dir", &self.dir)
            .field("read_only", &self.writer.is_none())
            .finish()
    }
}

impl Collection {
    /// Opens the collection in `dir` for writing, creating the directory and the collection when
    /// absent. Replays the write-ahead log: every acknowledged write is back, a torn last record
    /// is cut.
    ///
    /// # Errors
    /// [`Error::Locked`] when another writer holds it; [`Error::InvalidParameter`] when `dim` or
    /// `metric` differ from the stored collection's, or for bad options; [`Error::Corrupt`],
    /// [`Error::UnsupportedVersion`], [`Error::Io`] for damaged or unreadable files.
    pub fn open(dir: impl AsRef<Path>, options: CollectionOptions) -> Result<Collection> {
        Collection::open_on(Arc::new(RealFs), dir.as_ref(), options)
    }

    /// [`Collection::open`] on `vfs` (the real file system, or a simulated disk in tests).
    pub(crate) fn open_on(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        options: CollectionOptions,
    ) -> Result<Collection> {
        let dir = dir.to_path_buf();
        if options.seal_rows == 0 {
            return Err(Error::invalid_parameter("seal_rows", "must be at least 1"));
        }
        Index::new(options.index.clone())?;
        vfs.create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock = WriterLock::acquire(&*vfs, &dir)?;
        remove_temp_files(&*vfs, &dir)?;
        let manifest = match Manifest::read(&*vfs, &dir)? {
            Some(m) => {
                if m.options.dim != options.index.dim || m.options.metric != options.index.metric {
                    return Err(Error::invalid_parameter(
                        "options",
                        format!(
                            "the collection in {} has dim {} and metric {}, not {} and {}",
                            dir.display(),
                            m.options.dim,
                            m.options.metric,
                            options.index.dim,
                            options.index.metric
                        ),
                    ));
                }
                m
            }
            None => {
                // A new collection. The manifest's name is made durable by the directory sync
                // that creates the log below; a crash before it leaves no manifest (or no log),
                // which is a collection not created yet: nothing was acknowledged.
                let m = Manifest::new(options.index.clone());
                m.write(&*vfs, &dir, DirSync::Caller)?;
                m
            }
        };
        let options = CollectionOptions {
            index: manifest.options.clone(),
            ..options
        };
        let declared = options.schema.clone();
        remove_unnamed_files(&*vfs, &dir, &manifest)?;
        let sealed = open_segments(&*vfs, &dir, &manifest)?;
        let (mut wal, records) = Wal::open_on(
            vfs.clone(),
            &dir.join(WAL_FILE),
            manifest.options.dim,
            options.durability,
        )?;
        if wal.next_lsn() <= manifest.flushed_lsn {
            wal.reset(manifest.flushed_lsn + 1)?;
        }
        if !manifest.schema.is_empty() || !declared.is_empty() {
            wal.write_payloads();
        }
        // The stored fields, then those of the records to replay (acknowledged writes), then the
        // declared ones, which must agree.
        let mut schema = manifest.schema.clone();
        for (lsn, record) in &records {
            if let (
                WalRecord::Upsert {
                    payloads: Some(p), ..
                },
                true,
            ) = (record, *lsn > manifest.flushed_lsn)
            {
                if let Some(next) = schema.extended(p)? {
                    schema = next;
                }
            }
        }
        schema
            .merge(&declared)
            .map_err(|e| Error::invalid_parameter("schema", e.to_string()))?;
        let collection = Collection {
            state: RwLock::new(Arc::new(State {
                unsealed: Arc::new(new_unsealed(&options.index, &schema)?),
                sealed,
                generation: manifest.generation,
            })),
            schema: RwLock::new(schema),
            writer: Some(Mutex::new(Writer {
                _lock: lock,
                wal,
                manifest,
                unconfirmed: false,
                garbage: Vec::new(),
            })),
            vfs,
            dir,
            options,
            quality: Default::default(),
        };
        let flushed = collection.writer()?.lock().manifest.flushed_lsn;
        for (lsn, record) in records {
            if lsn > flushed {
                collection.apply(&record)?;
            }
        }
        Ok(collection)
    }

    /// Opens the collection in `dir` for reading only, beside a writer if there is one: it sees
    /// the state of the last flush (not the writer's unsealed rows); [`Collection::refresh`]
    /// catches up with later flushes.
    ///
    /// # Errors
    /// [`Error::Io`] when there is no collection in `dir`; as [`Collection::open`] for damaged
    /// files.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Collection> {
        Collection::open_read_only_on(Arc::new(RealFs), dir.as_ref())
    }

    /// [`Collection::open_read_only`] on `vfs`.
    pub(crate) fn open_read_only_on(vfs: Arc<dyn Vfs>, dir: &Path) -> Result<Collection> {
        let dir = dir.to_path_buf();
        let (manifest, sealed) = read_flushed_state(&*vfs, &dir)?;
        let mut options = CollectionOptions::new(manifest.options.dim, manifest.options.metric);
        options.index = manifest.options.clone();
        Ok(Collection {
            state: RwLock::new(Arc::new(State {
                unsealed: Arc::new(new_unsealed(&options.index, &manifest.schema)?),
                sealed,
                generation: manifest.generation,
            })),
            schema: RwLock::new(manifest.schema.clone()),
            writer: None,
            vfs,
            dir,
            options,
            quality: Default::default(),
        })
    }

    /// The index options stored in the collection in `dir` (its dimension, metric, quantization,
    /// `m`, …), or `None` when `dir` holds no collection. Reads and checks only the manifest: no
    /// lock is taken and no segment is opened, so it works beside a writer. This is how a caller
    /// that does not know a collection's dimension can open it again.
    ///
    /// ```
    /// use stratavec::{Collection, CollectionOptions, Metric};
    ///
    /// let dir = tempfile::tempdir()?;
    /// assert_eq!(Collection::stored_options(dir.path())?, None);
    /// drop(Collection::open(dir.path(), CollectionOptions::new(3, Metric::Cosine))?);
    /// let stored = Collection::stored_options(dir.path())?.expect("a collection");
    /// assert_eq!((stored.dim, stored.metric), (3, Metric::Cosine));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupt`] or [`Error::UnsupportedVersion`] for a damaged or newer manifest;
    /// [`Error::Io`] when it cannot be read.
    pub fn stored_options(dir: impl AsRef<Path>) -> Result<Option<IndexOptions>> {
        Ok(Manifest::read(&RealFs, dir.as_ref())?.map(|m| m.options))
    }

    /// For a read-only collection: reloads the segments when a writer flushed since the open.
    /// (For a writer it does nothing.) A writer that replaces files while this reads is
    /// followed: the manifest is read again until the files it names are there.
    ///
    /// # Errors
    /// As [`Collection::open_read_only`].
    pub fn refresh(&self) -> Result<()> {
        if self.writer.is_some() {
            return Ok(());
        }
        let (manifest, sealed) = read_flushed_state(&*self.vfs, &self.dir)?;
        *self.schema.write() = manifest.schema.clone();
        let mut state = self.state.write();
        *state = Arc::new(State {
            unsealed: state.unsealed.clone(),
            sealed,
            generation: manifest.generation,
        });
        Ok(())
    }

    /// The collection's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The options in force (the index options are the stored ones).
    pub fn options(&self) -> &CollectionOptions {
        &self.options
    }

    /// Whether this handle was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.writer.is_none()
    }

    fn writer(&self) -> Result<&Mutex<Writer>> {
        self.writer.as_ref().ok_or_else(|| Error::ReadOnly {
            what: format!(
                "the collection in {} was opened read-only",
                self.dir.display()
            ),
        })
    }

    fn snapshot(&self) -> Arc<State> {
        self.state.read().clone()
    }

    /// Makes every acknowledged write durable now (an fsync of the log): for
    /// [`Durability::Buffered`] collections that want a durable point without a flush. After an
    /// earlier I/O error made the log refuse writes, it seals instead (see
    /// [`Collection::upsert_batch`]).
    ///
    /// # Errors
    /// [`Error::ReadOnly`], [`Error::Io`].
    pub fn sync(&self) -> Result<()> {
        let mut w = self.writer()?.lock();
        if w.wal.is_poisoned() {
            return self.seal(&mut w);
        }
        w.wal.sync()
    }

    /// Makes the log writable again after an I/O error poisoned it (a failed append or sync:
    /// after a failed `fsync` the kernel may have dropped the unwritten pages, so what the log
    /// holds on disk is unknown). Sealing writes every acknowledged row into a segment and starts
    /// a fresh log, so nothing depends on the old one any more.
    fn writable(&self, w: &mut Writer) -> Result<()> {
        if w.wal.is_poisoned() {
            self.seal(w)?;
        }
        Ok(())
    }

    /// Inserts or replaces one vector.
    ///
    /// # Errors
    /// As [`Collection::upsert_batch`].
    pub fn upsert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.upsert_batch(&[id], vector)
    }

    /// Inserts or replaces `ids.len()` vectors (`vectors` row after row), atomically: after a
    /// crash either the whole batch is back or none of it. When an id appears twice in the
    /// batch, the last row wins. The write is in the log (fsynced under [`Durability::Sync`])
    /// when this returns.
    ///
    /// An I/O error leaves the collection usable: once the disk works again, the next write
    /// first seals what the refused log held into a segment (as [`Collection::flush`] does) and
    /// starts a fresh log.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidVector`], [`Error::InvalidParameter`] (shape),
    /// [`Error::ReadOnly`], [`Error::Io`]. Nothing is written on an error, with one exception: when
    /// the batch filled the in-memory segment to `seal_rows` and the flush that follows fails, the
    /// [`Error::Io`] is the flush's, and the batch is logged and visible (an upsert is idempotent:
    /// retrying it is harmless).
    pub fn upsert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        let writer = self.writer()?;
        self.snapshot().unsealed.check_batch(ids, vectors)?;
        if ids.is_empty() {
            return Ok(());
        }
        let mut w = writer.lock();
        self.writable(&mut w)?;
        w.wal.append_upsert(ids, vectors)?;
        let record = WalRecord::Upsert {
            ids: ids.to_vec(),
            vectors: vectors.to_vec(),
            payloads: None,
        };
        self.apply(&record)?;
        if self.snapshot().unsealed.len() >= self.options.seal_rows {
            // The batch is durable already (or not promised, under `Buffered`): this seal
            // promises nothing more.
            self.seal_or_compact(&mut w)?;
        }
        Ok(())
    }

    /// Deletes `id`; returns whether it was present. The delete is in the log when this returns.
    ///
    /// # Errors
    /// [`Error::ReadOnly`], [`Error::Io`].
    pub fn delete(&self, id: u64) -> Result<bool> {
        Ok(self.delete_batch(&[id])? == 1)
    }

    /// Deletes `ids`; returns how many distinct ids were present (an id repeated in `ids`
    /// counts once).
    ///
    /// # Errors
    /// [`Error::ReadOnly`], [`Error::Io`].
    pub fn delete_batch(&self, ids: &[u64]) -> Result<usize> {
        let writer = self.writer()?;
        let mut w = writer.lock();
        let state = self.snapshot();
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let present: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|&id| seen.insert(id) && locate(&state, id).is_some())
            .collect();
        if present.is_empty() {
            return Ok(0);
        }
        self.writable(&mut w)?;
        w.wal.append_delete(&present)?;
        self.apply(&WalRecord::Delete {
            ids: present.clone(),
        })?;
        Ok(present.len())
    }

    /// Applies a logged write to the in-memory state. The caller holds the writer lock (or is
    /// replaying the log in `open`, before anyone else can see the collection).
    fn apply(&self, record: &WalRecord) -> Result<()> {
        let state = self.snapshot();
        match record {
            WalRecord::Upsert {
                ids,
                vectors,
                payloads,
            } => {
                let dim = self.options.index.dim;
                // The last row of an id wins; earlier versions (here or sealed) die first, so a
                // search never sees two versions of an id.
                let mut last = std::collections::HashMap::with_capacity(ids.len());
                for (row, &id) in ids.iter().enumerate() {
                    last.insert(id, row);
                }
                let mut keep_ids = Vec::with_capacity(last.len());
                let mut keep_rows = Vec::with_capacity(last.len() * dim);
                let mut keep_payloads = Vec::new();
                for (row, &id) in ids.iter().enumerate() {
                    if last[&id] == row {
                        kill(&state, id);
                        keep_ids.push(id);
                        keep_rows.extend_from_slice(&vectors[row * dim..(row + 1) * dim]);
                        if let Some(p) = payloads {
                            keep_payloads.push(p[row].clone());
                        }
                    }
                }
                match payloads {
                    Some(p) => {
                        // Replayed records add their fields here (a live write added them
                        // before it was logged).
                        let mut schema = self.schema.write();
                        if let Some(next) = schema.extended(p)? {
                            *schema = next;
                        }
                        drop(schema);
                        state.unsealed.add_batch_with_payloads(
                            &keep_ids,
                            &keep_rows,
                            &keep_payloads,
                        )
                    }
                    None => state.unsealed.add_batch(&keep_ids, &keep_rows),
                }
            }
            WalRecord::Delete { ids } => {
                for &id in ids {
                    kill(&state, id);
                }
                Ok(())
            }
        }
    }

    /// The stored vector of `id` (unit length under cosine).
    ///
    /// # Errors
    /// [`Error::UnknownId`] when it is absent (or deleted).
    pub fn get(&self, id: u64) -> Result<Vec<f32>> {
        let state = self.snapshot();
        match locate(&state, id) {
            Some(Place::Unsealed) => state.unsealed.get(id),
            Some(Place::Sealed(i)) => state.sealed[i].index.get(id),
            None => Err(Error::UnknownId { id }),
        }
    }

    /// Whether `id` is present.
    pub fn contains(&self, id: u64) -> bool {
        locate(&self.snapshot(), id).is_some()
    }

    /// Number of live vectors.
    pub fn len(&self) -> usize {
        let state = self.snapshot();
        state.unsealed.len() + state.sealed.iter().map(|s| s.live()).sum::<usize>()
    }

    /// Whether the collection holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest neighbours of `query` with default parameters.
    ///
    /// # Errors
    /// As [`Collection::search_with`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Neighbor>> {
        self.search_with(query, &SearchParams::new(k))
    }

    /// The nearest neighbours of `query` across every segment, merged: each segment is searched
    /// with `params` (deleted and superseded rows never come back) and the per-segment results
    /// are merged into the best `k` ([`merge_top_k`]). Runs on a snapshot; never waits for a
    /// writer.
    ///
    /// At most [`Collection::len`] neighbours come back, whatever `k`: each segment is asked
    /// for at most as many as it holds (and for a beam no wider than its graph), so a `k` far
    /// beyond the collection's size costs no more than `k = len()`.
    ///
    /// # Errors
    /// As [`Index::search_with`].
    pub fn search_with(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        self.search_state(&self.snapshot(), query, params)
    }

    /// [`Collection::search_with`] on `state`: the payload filter checked against the schema,
    /// then (quality.rs) the segments searched and merged, timed and sampled when a monitor runs.
    fn search_state(
        &self,
        state: &Arc<State>,
        query: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Neighbor>> {
        if let Some(f) = params.payload_filter {
            f.check(&self.schema.read())?;
        }
        quality::search(state.clone(), &self.quality, query, params)
    }

    /// Searches `queries` (row after row) in parallel; one result list per query.
    ///
    /// # Errors
    /// As [`Collection::search_with`]; [`Error::InvalidParameter`] when `queries.len()` is not a
    /// multiple of the dimension.
    pub fn search_batch(
        &self,
        queries: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Vec<Neighbor>>> {
        per_query(queries, self.options.index.dim, |q| {
            self.search_with(q, params)
        })
    }

    /// Seals the in-memory segment into a segment file, writes the deletion bitmaps that changed,
    /// commits a new manifest and empties the log. Then compacts if the deleted fraction passed
    /// [`CollectionOptions::compact_deleted_fraction`].
    ///
    /// After an I/O error made the log refuse writes (a full disk, say), a successful flush makes
    /// the collection writable again: it seals what the log held and starts a fresh log.
    ///
    /// # Errors
    /// [`Error::ReadOnly`], [`Error::Io`]. On an error the collection stays as it was: the log
    /// still holds every write.
    pub fn flush(&self) -> Result<()> {
        let writer = self.writer()?;
        let mut w = writer.lock();
        self.seal_or_compact(&mut w)
    }

    /// Compacts if the deleted fraction passed [`CollectionOptions::compact_deleted_fraction`]
    /// (the compaction seals the in-memory rows too), else seals.
    fn seal_or_compact(&self, w: &mut Writer) -> Result<()> {
        if let Some(limit) = self.options.compact_deleted_fraction {
            // Not `self.stats()`: it takes the writer lock, which this thread holds.
            let stats = state_stats(&self.snapshot());
            let stored = stats.live + stats.deleted;
            if stored > 0 && stats.deleted as f64 > limit * stored as f64 {
                return self.compact_locked(w);
            }
        }
        self.seal(w)
    }

    /// Seals the in-memory segment and the changed deletion bitmaps, then commits. The protocol
    /// (`docs/file-format.md` argues each step):
    ///
    /// 1. each new file (bitmaps, the segment) is written under a temporary name, synced and
    ///    renamed; then one directory sync makes all their names durable;
    /// 2. the new manifest is written the same way and the directory synced: the commit;
    /// 3. the log is reset (a new, synced file renamed over it); its name is synced by the next
    ///    directory sync, at the latest before a record appended to it is promised (`Wal::sync`, or
    ///    an append under [`Durability::Sync`]);
    /// 4. files no manifest names any more are removed.
    fn seal(&self, w: &mut Writer) -> Result<()> {
        let state = self.snapshot();
        let dirty: Vec<&Arc<Sealed>> = state
            .sealed
            .iter()
            .filter(|s| s.dirty.load(Ordering::Relaxed))
            .collect();
        let unsealed_rows = state.unsealed.segment_rows();
        if unsealed_rows == 0 && dirty.is_empty() && w.wal.is_empty() && !w.unconfirmed {
            // Nothing to seal. A log that refused writes after an I/O error (a full disk) holds
            // no acknowledged record (`is_empty`), so a reset makes it writable again.
            if w.wal.is_poisoned() {
                let next_lsn = w.wal.next_lsn();
                w.wal.reset(next_lsn)?;
            }
            return Ok(());
        }
        let vfs = &*self.vfs;
        let mut next = w.manifest.clone();
        next.generation += 1;
        next.flushed_lsn = w.wal.last_lsn().max(next.flushed_lsn);
        next.schema = self.schema.read().clone();
        let mut created = Vec::new();
        let mut replaced = Vec::new();
        // 1. The new files, each synced, and their names, with one directory sync.
        let written = (|| {
            for s in &dirty {
                let name = tombstones_file_name(s.entry.id, next.generation);
                created.push(name.clone());
                let words = s.words();
                write_tombstones(
                    vfs,
                    &self.dir.join(&name),
                    &words,
                    s.entry.rows,
                    DirSync::Caller,
                )?;
                let e = next
                    .segments
                    .iter_mut()
                    .find(|e| e.id == s.entry.id)
                    .expect("a sealed segment is in the manifest");
                replaced.extend(e.tombstones.replace(name));
                e.deleted = s.dead_count.load(Ordering::Relaxed) as u64;
            }
            let mut new_segment = None;
            if !state.unsealed.is_empty() {
                created.push(segment_file_name(next.next_segment_id));
                let entry = self.write_new_segment(&state.unsealed, &mut next)?;
                next.segments.push(entry.clone());
                new_segment = Some(Arc::new(Sealed::open(vfs, &self.dir, entry)?));
            }
            if !created.is_empty() {
                sync_dir(vfs, &self.dir)?;
                w.wal.names_synced();
            }
            Ok::<_, Error>(new_segment)
        })();
        let new_segment = match written {
            Ok(s) => s,
            Err(e) => {
                remove_files(vfs, &self.dir, &created);
                return Err(e);
            }
        };
        // 2.–4. The commit, the log reset, the removals.
        let mut sealed = state.sealed.clone();
        sealed.extend(new_segment);
        let next_state = State {
            unsealed: Arc::new(new_unsealed(&self.options.index, &next.schema)?),
            sealed,
            generation: next.generation,
        };
        let adopted = || {
            for s in &dirty {
                s.dirty.store(false, Ordering::Relaxed);
            }
        };
        self.commit(w, next, next_state, &created, replaced, adopted)
    }

    /// Steps 2 to 4 of the protocol of [`Collection::seal`] (and of a compaction): commits
    /// `next` (`created`: the files step 1 wrote, removed when the commit fails before its
    /// rename), then goes on with `state` (`adopted` runs first), resets the log and removes
    /// `replaced`, the files only the old manifest names.
    fn commit(
        &self,
        w: &mut Writer,
        next: Manifest,
        state: State,
        created: &[String],
        replaced: Vec<String>,
        adopted: impl FnOnce(),
    ) -> Result<()> {
        let vfs = &*self.vfs;
        // The directory sync is needed whatever the caller promises: the log's reset below must
        // not reach the disk before it (an old manifest with a new log would lose the sealed
        // records while keeping later ones: not a prefix), nor the removals.
        let committed = next.write(vfs, &self.dir, DirSync::Now);
        if let Err(ReplaceError {
            error,
            uncertain: false,
        }) = committed
        {
            remove_files(vfs, &self.dir, created);
            return Err(error);
        }
        if committed.is_ok() {
            w.wal.names_synced();
        }
        // Committed, or perhaps committed: either way the new state is the one to go on with.
        adopted();
        *self.state.write() = Arc::new(state);
        w.manifest = next;
        w.garbage.extend(replaced);
        if let Err(e) = committed {
            // The rename or the directory sync failed: the old manifest or the new one may be
            // the durable one. Both stay usable: keep the log (the old manifest needs its
            // records) and every file; the next commit decides.
            w.unconfirmed = true;
            return Err(e.error);
        }
        w.unconfirmed = false;
        // 3. The log's records are all in segments now.
        let next_lsn = w.wal.next_lsn();
        w.wal.reset(next_lsn)?;
        // 4. Nothing names the replaced files any more. Mapped segments stay readable after
        // their files are removed (the mapping holds them): searches on an older state finish.
        remove_files(vfs, &self.dir, &std::mem::take(&mut w.garbage));
        Ok(())
    }

    /// Step 1's segment: `index` written as the next segment of `next` (its id taken from
    /// `next_segment_id`), synced; its name is synced by the caller with the other new files.
    fn write_new_segment(
        &self,
        index: &Index,
        next: &mut Manifest,
    ) -> Result<SegmentEntry, ReplaceError> {
        let id = next.next_segment_id;
        next.next_segment_id += 1;
        let file = segment_file_name(id);
        let bytes = index.save_quantized(
            self.deferred(),
            &self.dir.join(&file),
            self.options.index.quantization,
            self.options.index.layout,
        )?;
        Ok(SegmentEntry {
            id,
            file,
            rows: index.segment_rows() as u64,
            bytes,
            tombstones: None,
            deleted: 0,
        })
    }

    /// How the collection writes a new file: on its file system, the directory synced by the
    /// caller once for all the files of a seal or compaction.
    fn deferred(&self) -> Replacement<'_> {
        Replacement {
            vfs: &*self.vfs,
            dir_sync: DirSync::Caller,
        }
    }

    /// Rewrites every segment into one: rebuilds the graph over the live rows only (those of the
    /// sealed segments and of the in-memory one), so deleted and superseded rows stop costing
    /// memory, disk and search time. The in-memory rows are sealed into the new segment on the
    /// way (one segment file is written, not two). Writes wait while it runs; searches don't.
    /// When no sealed segment has anything to drop, this is a [`Collection::flush`] without
    /// the compaction check.
    ///
    /// # Errors
    /// [`Error::ReadOnly`], [`Error::Io`]; on an error the collection stays as it was.
    pub fn compact(&self) -> Result<()> {
        let writer = self.writer()?;
        let mut w = writer.lock();
        self.compact_locked(&mut w)
    }

    /// The protocol of [`Collection::seal`], with one new segment replacing every file.
    fn compact_locked(&self, w: &mut Writer) -> Result<()> {
        let state = self.snapshot();
        if state.sealed.len() <= 1
            && state
                .sealed
                .iter()
                .all(|s| s.dead_count.load(Ordering::Relaxed) == 0 && !s.index.has_deletes())
        {
            return self.seal(w);
        }
        let vfs = &*self.vfs;
        let dim = self.options.index.dim;
        let mut ids = Vec::new();
        let mut rows = Vec::new();
        let mut payloads = Vec::new();
        for s in &state.sealed {
            for id in s.index.ids() {
                if let Some(slot) = s.live_slot(id) {
                    ids.push(id);
                    rows.extend_from_slice(&s.index.get(id)?);
                    payloads.push(s.index.payload_of_slot(slot)?);
                }
            }
        }
        for id in state.unsealed.ids() {
            ids.push(id);
            rows.extend_from_slice(&state.unsealed.get(id)?);
            payloads.push(state.unsealed.payload(id)?);
        }
        debug_assert_eq!(rows.len(), ids.len() * dim);
        let schema = self.schema.read().clone();
        let rebuilt = new_unsealed(&self.options.index, &schema)?;
        rebuilt.add_batch_with_payloads(&ids, &rows, &payloads)?;
        drop(rows);
        drop(payloads);
        let mut next = w.manifest.clone();
        next.generation += 1;
        next.flushed_lsn = w.wal.last_lsn().max(next.flushed_lsn);
        next.schema = schema;
        let old: Vec<String> = next.file_names().map(str::to_owned).collect();
        let path = self.dir.join(segment_file_name(next.next_segment_id));
        // 1. The new segment, synced, and its name.
        let written = (|| {
            let entry = self.write_new_segment(&rebuilt, &mut next)?;
            let sealed = Sealed::open(vfs, &self.dir, entry.clone())?;
            sync_dir(vfs, &self.dir)?;
            w.wal.names_synced();
            Ok::<_, Error>((entry, sealed))
        })();
        let (entry, sealed) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = vfs.remove(&path);
                return Err(e);
            }
        };
        next.segments = vec![entry];
        let next_state = State {
            unsealed: Arc::new(new_unsealed(&self.options.index, &next.schema)?),
            sealed: vec![Arc::new(sealed)],
            generation: next.generation,
        };
        let created = [next.segments[0].file.clone()];
        self.commit(w, next, next_state, &created, old, || {})
    }

    /// Checks every sealed segment completely ([`Index::verify`]: checksums, links, id index).
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file and the problem.
    pub fn verify(&self) -> Result<()> {
        self.snapshot()
            .sealed
            .iter()
            .try_for_each(|s| s.index.verify())
    }

    /// Counts and sizes.
    pub fn stats(&self) -> CollectionStats {
        let state = self.snapshot();
        let mut stats = state_stats(&state);
        stats.generation = state.generation;
        if let Some(w) = &self.writer {
            let w = w.lock();
            stats.wal_bytes = w.wal.len_bytes();
            stats.generation = w.manifest.generation;
        }
        stats.quality = self.quality();
        stats
    }
}

/// `params` for a segment with `live` returnable rows among `rows`: `k` bounded by `live`, the
/// beam by `rows` (deleted rows are waypoints of the walk), `k × oversample` by `rows`. An empty
/// segment still gets `k = 1`, and zeros stay zeros so that the index refuses them as it would.
pub(super) fn bounded<'a>(params: &SearchParams<'a>, live: usize, rows: usize) -> SearchParams<'a> {
    let mut p = *params;
    p.k = params.k.min(live.max(1));
    p.ef = params.ef.map(|ef| ef.min(rows.max(p.k)));
    p.oversample = params
        .oversample
        .map(|o| o.min(rows.max(1).div_ceil(p.k.max(1))));
    p
}

/// The counts of a state (everything but the writer's log and manifest).
fn state_stats(state: &State) -> CollectionStats {
    let mut stats = CollectionStats {
        live: state.unsealed.len(),
        deleted: state.unsealed.segment_rows() - state.unsealed.len(),
        unsealed: state.unsealed.len(),
        segments: state.sealed.len(),
        ..CollectionStats::default()
    };
    for s in &state.sealed {
        stats.live += s.live();
        stats.deleted += s.entry.rows as usize - s.live();
        stats.segment_bytes += s.entry.bytes;
    }
    stats
}

/// Where an id's live version is.
enum Place {
    Unsealed,
    Sealed(usize),
}

fn locate(state: &State, id: u64) -> Option<Place> {
    if state.unsealed.contains(id) {
        return Some(Place::Unsealed);
    }
    (0..state.sealed.len())
        .rev()
        .find(|&i| state.sealed[i].live_slot(id).is_some())
        .map(Place::Sealed)
}

/// Makes every live version of `id` dead (there is at most one).
fn kill(state: &State, id: u64) {
    match locate(state, id) {
        Some(Place::Unsealed) => {
            let _ = state.unsealed.delete(id);
        }
        Some(Place::Sealed(i)) => {
            state.sealed[i].kill(id);
        }
        None => {}
    }
}

/// The in-memory segment: always f32 (codes are trained when it is sealed, on all its rows),
/// knowing the payload fields of `schema` (so that the segment it becomes stores them all).
fn new_unsealed(options: &IndexOptions, schema: &Schema) -> Result<Index> {
    let index = Index::new(IndexOptions {
        quantization: Quantization::None,
        layout: Layout::Compact,
        ..options.clone()
    })?;
    index.declare_schema(schema)?;
    Ok(index)
}

fn open_segments(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> Result<Vec<Arc<Sealed>>> {
    manifest
        .segments
        .iter()
        .map(|e| Sealed::open(vfs, dir, e.clone()).map(Arc::new))
        .collect()
}

/// The manifest and segments as last flushed. A writer may replace files between reading the
/// manifest and opening them; then the manifest is read again, for as long as it changes (each
/// change is a commit of the writer's: progress). The same manifest naming a missing file is an
/// error.
fn read_flushed_state(vfs: &dyn Vfs, dir: &Path) -> Result<(Manifest, Vec<Arc<Sealed>>)> {
    let read = || {
        Manifest::read(vfs, dir)?.ok_or_else(|| {
            Error::io(
                dir.join(manifest::MANIFEST_FILE),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no collection here"),
            )
        })
    };
    let mut manifest = read()?;
    loop {
        match open_segments(vfs, dir, &manifest) {
            Ok(sealed) => return Ok((manifest, sealed)),
            Err(Error::Io { path, source }) if source.kind() == std::io::ErrorKind::NotFound => {
                let again = read()?;
                if again == manifest {
                    return Err(Error::Io { path, source });
                }
                manifest = again;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes segment and bitmap files the manifest does not name (left by a flush or compaction
/// that crashed before its commit). Only the writer calls it. Not synced: an orphan that comes
/// back after a crash is removed again, and its name is only reused under a new manifest.
fn remove_unnamed_files(vfs: &dyn Vfs, dir: &Path, manifest: &Manifest) -> Result<()> {
    let named: std::collections::HashSet<&str> = manifest.file_names().collect();
    for name in vfs.list(dir).map_err(|e| Error::io(dir, e))? {
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with("seg-") && (name.ends_with(".svs") || name.ends_with(".del"));
        if ours && !named.contains(name) {
            let path = dir.join(name);
            vfs.remove(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Removes files no manifest names any more (best effort: a leftover is removed at the next open).
fn remove_files(vfs: &dyn Vfs, dir: &Path, names: &[String]) {
    for name in names {
        let _ = vfs.remove(&dir.join(name));
    }
}

#[cfg(test)]
mod tests;
