//! The [`Index`]: one HNSW index, built in memory or opened from a segment file — the facade over
//! [`crate::hnsw`] (the algorithms and the growing storage) and [`crate::segment`] (the file).
//!
//! Each concern is one file: building (`build.rs`: validation, encoding, the parallel insert),
//! searching (`search.rs`: parameters, the query's scorer, reranking), the filter planner
//! (`planner.rs`), saving (`save.rs`: segment files and the fast-scan blocks) and the reports
//! (`stats.rs`).

mod build;
mod calibrate;
mod filter;
mod groups;
mod payloads;
mod planner;
mod save;
mod search;
mod stats;
mod target;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

pub(crate) use self::search::per_query;
pub use self::search::SearchParams;
pub use self::stats::{MemoryUsage, SearchCounts, SearchStats};

use crate::base::options::{IndexOptions, Layout, Quantization, MAX_M};
use crate::base::view::GraphView;
use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::hnsw::Storage;
use crate::payload::LivePayloads;
use crate::quant::blocks::PackedBlocks;
use crate::quant::Codec;
use crate::segment::{code_row_width, Segment, SegmentInfo};

/// Rows reserved when the index first grows; later growth doubles.
const MIN_CAPACITY: usize = 1024;

/// An HNSW index: built in memory, or opened from a segment file.
///
/// All methods take `&self`: one `Index` can be shared by many threads (`Arc<Index>`) that search
/// while others add. Adds are serialised among themselves (each [`Index::add_batch`] is parallel
/// inside); searches never wait for them — they run on the storage as it is when they start.
///
/// Adding an id that is already present is an error ([`Error::DuplicateId`]); ids are never
/// silently replaced: [`Index::delete`] it first. (The durable `Collection` offers upserts.)
///
/// [`Index::save`] writes a segment file; [`Index::open`] maps one and searches it in place
/// (read-only), [`Index::load`] reads one into memory.
pub struct Index {
    options: IndexOptions,
    body: Body,
    /// Recall-target hook (issue 17, `target.rs`): the calibration its targets use.
    calibration: target::CalibrationCell,
}

/// Where an index's data lives.
enum Body {
    /// Built in this process; can grow.
    Memory(Box<Memory>),
    /// A segment file (mapped or read into memory); read-only.
    Segment(Box<Segment>),
}

/// The state of an index built in memory.
struct Memory {
    /// The current storage. Replaced (never mutated in place) when it grows.
    storage: RwLock<Arc<Storage>>,
    /// Serialises adds, deletes and saves.
    writer: Mutex<()>,
    /// Serialises changes of the entry point.
    entry_lock: Mutex<()>,
    ids: RwLock<HashMap<u64, u32>>,
    /// The trained codec of a quantized index (trained on the first batch).
    codec: OnceLock<Codec>,
    /// The fast-scan blocks of the current graph ([`Layout::FastScan`]); cleared by every add.
    fast_scan: RwLock<Option<Arc<PackedBlocks>>>,
    /// The group graphs of the current graph's frequent keyword values, once built
    /// ([`Index::build_filter_graphs`], or a save); cleared by every add.
    groups: RwLock<Option<Arc<groups::Groups>>>,
    /// The payloads of the slots and their field indexes (appended before the rows are
    /// published).
    payloads: RwLock<LivePayloads>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Index");
        d.field("options", &self.options).field("len", &self.len());
        if let Body::Segment(seg) = &self.body {
            d.field("segment", &seg.path());
        }
        d.finish()
    }
}

impl Index {
    /// Creates an empty index.
    ///
    /// A [`Layout::Auto`] layout becomes the quantization's default (see
    /// [`Index::options`]).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `dim` is 0, `m` is outside `2..=MAX_M`,
    /// `ef_construction` is 0, the quantization's parameters are out of range, or the layout
    /// does not fit the quantization.
    pub fn new(mut options: IndexOptions) -> Result<Self> {
        options.layout = options.layout.resolve(options.quantization);
        check_options(&options)?;
        Ok(Index {
            body: Body::Memory(Box::new(Memory {
                storage: RwLock::new(Arc::new(Storage::new(
                    options.dim,
                    options.m,
                    code_row_width(&options),
                    0,
                ))),
                codec: OnceLock::new(),
                fast_scan: RwLock::new(None),
                groups: RwLock::new(None),
                payloads: RwLock::new(LivePayloads::default()),
                writer: Mutex::new(()),
                entry_lock: Mutex::new(()),
                ids: RwLock::new(HashMap::new()),
            })),
            options,
            calibration: target::CalibrationCell::default(),
        })
    }

    /// An index over an opened segment.
    fn from_segment(segment: Segment) -> Index {
        Index {
            options: segment.options().clone(),
            calibration: target::CalibrationCell::new(segment.calibration().cloned()),
            body: Body::Segment(Box::new(segment)),
        }
    }

    /// Opens the segment file at `path` by mapping it into memory: no copy and no pass over the
    /// data (the cost does not grow with the file), so RAM holds only the pages queries touch.
    /// The index is read-only: [`Index::add`] and [`Index::delete`] return [`Error::ReadOnly`].
    ///
    /// The header, section table and metadata are checked; [`Index::verify`] checks the rest.
    /// Nothing in a damaged file can make a search read out of bounds. Segment files must not be
    /// modified while mapped (stratavec never does; another program truncating one can make reads
    /// fault, as with any memory-mapped database).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Corrupt`], [`Error::UnsupportedVersion`].
    pub fn open(path: impl AsRef<Path>) -> Result<Index> {
        Segment::open(path.as_ref()).map(Index::from_segment)
    }

    /// Reads the segment file at `path` into memory and checks it as [`Index::open`] does. The
    /// index is read-only, like a mapped one.
    ///
    /// # Errors
    /// As [`Index::open`].
    pub fn load(path: impl AsRef<Path>) -> Result<Index> {
        Segment::load(path.as_ref()).map(Index::from_segment)
    }

    /// An index over the bytes of a segment file already in memory (for example received over
    /// the network or embedded in a binary). The bytes must start on an 8-byte boundary.
    ///
    /// # Errors
    /// As [`Index::open`]; [`Error::InvalidParameter`] when the bytes are misaligned.
    pub fn from_bytes(bytes: impl AsRef<[u8]> + Send + Sync + 'static) -> Result<Index> {
        Segment::from_bytes("<bytes>".into(), Box::new(bytes)).map(Index::from_segment)
    }

    /// An index over the bytes of the segment file `path` as the collection's I/O mapped them.
    pub(crate) fn from_file_bytes(path: &Path, bytes: crate::fsutil::Mapped) -> Result<Index> {
        Segment::from_bytes(path.to_path_buf(), bytes).map(Index::from_segment)
    }

    /// Checks an opened segment completely: every checksum, every link, the id index (reads the
    /// whole file). An index built in memory has nothing to check and returns `Ok`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first problem found.
    pub fn verify(&self) -> Result<()> {
        match &self.body {
            Body::Memory(_) => Ok(()),
            Body::Segment(seg) => seg.verify(),
        }
    }

    /// What the segment file behind an opened index holds; `None` for an index built in memory.
    pub fn segment_info(&self) -> Option<SegmentInfo> {
        match &self.body {
            Body::Memory(_) => None,
            Body::Segment(seg) => Some(seg.info()),
        }
    }

    /// Whether the index is read-only (opened from a segment file).
    pub fn is_read_only(&self) -> bool {
        matches!(self.body, Body::Segment(_))
    }

    /// The options it was built with.
    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.options.dim
    }

    /// Distance metric.
    pub fn metric(&self) -> Metric {
        self.options.metric
    }

    /// Number of vectors (deleted ones not counted).
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Memory(mem) => mem.ids.read().len(),
            Body::Segment(seg) => seg.meta().live,
        }
    }

    /// Whether the index holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is in the index.
    pub fn contains(&self, id: u64) -> bool {
        self.slot_of(id).is_some()
    }

    /// Rows stored, deleted ones included (the slots of the graph).
    pub(crate) fn segment_rows(&self) -> usize {
        match &self.body {
            Body::Memory(mem) => mem.snapshot().len(),
            Body::Segment(seg) => seg.meta().nodes,
        }
    }

    /// Whether any stored row is deleted.
    pub(crate) fn has_deletes(&self) -> bool {
        match &self.body {
            Body::Memory(mem) => mem.snapshot().has_deletes(),
            Body::Segment(seg) => seg.has_deletes(),
        }
    }

    /// The internal slot of a live id.
    pub(crate) fn slot_of(&self, id: u64) -> Option<u32> {
        match &self.body {
            Body::Memory(mem) => mem.ids.read().get(&id).copied(),
            Body::Segment(seg) => seg.slot_of(id),
        }
    }

    /// The user ids in the index, in no particular order.
    pub fn ids(&self) -> Vec<u64> {
        match &self.body {
            Body::Memory(mem) => mem.ids.read().keys().copied().collect(),
            Body::Segment(seg) => seg.ids().to_vec(),
        }
    }

    /// The stored vector of `id` (unit length under cosine, since vectors are normalised on add).
    ///
    /// # Errors
    /// [`Error::UnknownId`] when the id is not in the index.
    pub fn get(&self, id: u64) -> Result<Vec<f32>> {
        let slot = self.slot_of(id).ok_or(Error::UnknownId { id })?;
        let dim = self.options.dim;
        Ok(match &self.body {
            Body::Memory(mem) => mem.snapshot().vectors().row(slot)[..dim].to_vec(),
            Body::Segment(seg) => seg.vectors().row(slot)[..dim].to_vec(),
        })
    }

    /// Bytes by part: allocated memory (capacity included) for an index built in memory, the
    /// sections' sizes for an opened segment (mapped bytes, of which only the pages queries touch
    /// are resident).
    pub fn memory(&self) -> MemoryUsage {
        match &self.body {
            Body::Memory(mem) => {
                let (codes_bytes, originals_bytes, graph_bytes) = mem.snapshot().memory();
                MemoryUsage {
                    codes_bytes,
                    originals_bytes,
                    graph_bytes,
                    ids_bytes: mem.ids.read().capacity() * (std::mem::size_of::<(u64, u32)>() + 1),
                    fast_scan_bytes: mem.fast_scan.read().as_ref().map_or(0, |b| b.bytes().len()),
                    payload_bytes: mem.payloads.read().memory_bytes(),
                    filter_graph_bytes: mem.groups.read().as_ref().map_or(0, |g| g.memory_bytes()),
                }
            }
            Body::Segment(seg) => {
                let (codes_bytes, originals_bytes, graph_bytes) = seg.memory();
                MemoryUsage {
                    codes_bytes,
                    originals_bytes,
                    graph_bytes,
                    ids_bytes: seg.id_index_bytes(),
                    fast_scan_bytes: seg.blocks().map_or(0, <[u8]>::len),
                    payload_bytes: seg.payload_bytes(),
                    filter_graph_bytes: seg.groups().map_or(0, |(_, b)| b.len()),
                }
            }
        }
    }

    /// Bytes of memory held by vectors, links and id maps (an estimate of the heap the index uses).
    pub fn memory_bytes(&self) -> usize {
        self.memory().total()
    }

    /// The in-memory state, or [`Error::ReadOnly`] for an opened segment.
    fn writable(&self, what: &str) -> Result<&Memory> {
        match &self.body {
            Body::Memory(mem) => Ok(mem),
            Body::Segment(seg) => Err(Error::ReadOnly {
                what: format!(
                    "cannot {what}: the index was opened from segment {} (use a Collection to \
                     write, or build a new Index)",
                    seg.path().display()
                ),
            }),
        }
    }

    /// Deletes `id`: searches stop returning it at once (its node stays in the graph as a waypoint
    /// until the index is rebuilt), and the id can be added again with a new vector.
    ///
    /// # Errors
    /// [`Error::UnknownId`]; [`Error::ReadOnly`] for an opened segment.
    pub fn delete(&self, id: u64) -> Result<()> {
        let mem = self.writable("delete")?;
        let _writer = mem.writer.lock();
        let slot = mem.ids.write().remove(&id).ok_or(Error::UnknownId { id })?;
        mem.snapshot().delete(slot);
        Ok(())
    }
}

/// The checks of [`Index::new`].
fn check_options(options: &IndexOptions) -> Result<()> {
    if options.dim == 0 {
        return Err(Error::invalid_parameter("dim", "must be at least 1"));
    }
    if !(2..=MAX_M).contains(&options.m) {
        return Err(Error::invalid_parameter(
            "m",
            format!("must be between 2 and {MAX_M}, got {}", options.m),
        ));
    }
    if options.ef_construction == 0 {
        return Err(Error::invalid_parameter(
            "ef_construction",
            "must be at least 1",
        ));
    }
    options.quantization.check()?;
    check_layout(options.quantization, options.layout)
}

/// The fast-scan layout needs RaBitQ codes. 4-bit scalar codes in per-node blocks (format
/// version 2) measured slower than their compact rows on every dataset (0.36-0.95x QPS,
/// `docs/quantization.md`), so they are no longer written; files that have them still open.
pub(crate) fn check_layout(quantization: Quantization, layout: Layout) -> Result<()> {
    match (quantization, layout) {
        (_, Layout::Auto | Layout::Compact) | (Quantization::RaBitQ { .. }, Layout::FastScan) => {
            Ok(())
        }
        (Quantization::Sq4, Layout::FastScan) => Err(Error::invalid_parameter(
            "layout",
            "the fast-scan layout of 4-bit scalar codes measured slower than their compact rows \
             and is no longer written (segments that have it still open and search); use the \
             compact layout, or quantization rabitq for one-visit blocks",
        )),
        (_, Layout::FastScan) => Err(Error::invalid_parameter(
            "layout",
            format!(
                "the fast-scan layout needs RaBitQ codes (quantization rabitq), not {quantization}"
            ),
        )),
    }
}

impl Memory {
    fn snapshot(&self) -> Arc<Storage> {
        self.storage.read().clone()
    }

    /// Makes room for `extra` more nodes, growing (copying) the storage when needed. Called with
    /// the writer lock held.
    fn reserve(&self, extra: usize) -> Result<Arc<Storage>> {
        let st = self.snapshot();
        let needed = st.len() + extra;
        let max = u32::MAX as usize;
        if needed > max {
            return Err(Error::CapacityExceeded { max });
        }
        if needed <= st.capacity() {
            return Ok(st);
        }
        let capacity = needed
            .max(st.capacity().saturating_mul(2))
            .max(MIN_CAPACITY)
            .min(max);
        let grown = Arc::new(st.grown(capacity));
        *self.storage.write() = grown.clone();
        Ok(grown)
    }
}

#[cfg(test)]
mod tests;
