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
//! The collection itself: this file holds its state, writes and searches; `open.rs` opening and
//! refreshing, `seal.rs` sealing and compaction (with the commit protocol), `payloads.rs` the
//! payload API, `quality.rs` the live quality monitor.
//!
//! The byte layouts of the files are in `docs/file-format.md`.

pub(crate) mod lock;
pub(crate) mod manifest;
mod payloads;
pub(crate) mod tombstones;
mod trailer;
pub(crate) mod wal;

mod merge;
mod open;
mod quality;
mod seal;

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

#[cfg(test)]
mod tests;
