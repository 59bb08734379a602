//! HNSW: the graph, its parallel build and its search.

pub(crate) mod fastscan;
mod graph;
mod rows;
mod scratch;
pub(crate) mod storage;
pub(crate) mod view;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;

use self::fastscan::{BlockScorer, BlockShape, Blocks, PackedBlocks};
use self::graph::{BuildCodes, CodeScorer, FloatScorer, Graph, Scorer, MAX_LINKS};
use self::scratch::{with_scratch, Scored};
use self::storage::Storage;
pub(crate) use self::storage::{prefetch, MAX_PREFETCH_LINES};
use self::view::{Accept, GraphView};
use crate::distance::{self, DistanceFn, Metric};
use crate::error::{Error, Result};
use crate::quant::{Codec, QuantScheme, Quantization};
use crate::rerank::{Candidate, Rerank};
use crate::segment::{self, Segment, SegmentInfo};

/// Default number of links per node on the upper levels (level 0 keeps up to `2·m`).
pub const DEFAULT_M: usize = 16;
/// Smallest batch whose build searches for candidates on temporary 8-bit codes (see
/// `graph::BuildCodes`; measured in `docs/benchmarks.md`).
const BUILD_ON_CODES_MIN_BATCH: usize = 20_000;

/// Default beam width while building.
pub const DEFAULT_EF_CONSTRUCTION: usize = 200;
/// Default beam width while searching (raised to `k` when `k` is larger).
pub const DEFAULT_EF_SEARCH: usize = 64;

/// How an [`Index`] is built.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexOptions {
    /// Vector dimension.
    pub dim: usize,
    /// Distance metric.
    pub metric: Metric,
    /// Links per node on upper levels; level 0 keeps `2·m`.
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Seed for the level draws: the same seed and insert order give the same levels.
    pub seed: u64,
    /// How vectors are stored for the traversal: f32, or 8-/4-bit codes (the f32 originals are
    /// kept too, for exact reranking and for building the graph).
    pub quantization: Quantization,
    /// The quantization scheme (see `docs/quantization.md`); the default is the one measured best.
    pub quant_scheme: QuantScheme,
    /// Where the traversal finds neighbours' codes: in their own rows (compact) or repeated in
    /// each node's fast-scan block (4-bit codes only; several times the memory, fewer scattered
    /// reads). See [`Layout`].
    pub layout: Layout,
}

/// How a quantized index lays out the codes its graph walk reads.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One code row per vector; visiting a node reads each fresh neighbour's row.
    #[default]
    Compact,
    /// On top of the code rows, each node keeps a block with its level-0 neighbours' 4-bit codes
    /// transposed for SIMD: visiting a node is one sequential read that scores all its neighbours
    /// 16 at a time (the layout of SymphonyQG's and FAISS's fast-scan). Only for
    /// [`Quantization::Sq4`]. The blocks cost about `2·m · dim / 2` bytes per vector (4 KiB at
    /// m = 16, dim = 256). An index built in memory packs them when first searched after a change
    /// (or at [`Index::pack_fast_scan`]); a segment file stores them.
    FastScan,
}

impl Layout {
    /// The name used by the CLI and reports: `compact` or `fastscan`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Compact => "compact",
            Layout::FastScan => "fastscan",
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Layout {
    type Err = Error;

    /// Parses `compact` or `fastscan` (also `fast-scan`), case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "compact" => Ok(Layout::Compact),
            "fastscan" | "fast-scan" | "fast_scan" => Ok(Layout::FastScan),
            other => Err(Error::invalid_parameter(
                "layout",
                format!("unknown layout {other:?}; expected compact or fastscan"),
            )),
        }
    }
}

impl IndexOptions {
    /// Options with the defaults for everything but `dim` and `metric`.
    pub fn new(dim: usize, metric: Metric) -> Self {
        IndexOptions {
            dim,
            metric,
            m: DEFAULT_M,
            ef_construction: DEFAULT_EF_CONSTRUCTION,
            seed: 0x5EED,
            quantization: Quantization::None,
            quant_scheme: QuantScheme::default(),
            layout: Layout::Compact,
        }
    }
}

/// Work counters of searches, summed over every search that was given them (any thread).
///
/// Pass `&SearchStats` in [`SearchParams::stats`]; read the sums with [`SearchStats::counts`].
/// The cost is two atomic additions per search.
#[derive(Debug, Default)]
pub struct SearchStats {
    queries: std::sync::atomic::AtomicU64,
    expanded: std::sync::atomic::AtomicU64,
    scored: std::sync::atomic::AtomicU64,
    reranked: std::sync::atomic::AtomicU64,
}

/// A reading of [`SearchStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchCounts {
    /// Searches counted.
    pub queries: u64,
    /// Level-0 nodes whose links were read (visited nodes).
    pub nodes_expanded: u64,
    /// Distances computed by the level-0 walk and exact scans (codes for a quantized index).
    pub distances: u64,
    /// Exact distances computed by reranking.
    pub reranked: u64,
}

impl SearchStats {
    /// Zeroed counters.
    pub fn new() -> Self {
        SearchStats::default()
    }

    /// The sums so far.
    pub fn counts(&self) -> SearchCounts {
        SearchCounts {
            queries: self.queries.load(Ordering::Relaxed),
            nodes_expanded: self.expanded.load(Ordering::Relaxed),
            distances: self.scored.load(Ordering::Relaxed),
            reranked: self.reranked.load(Ordering::Relaxed),
        }
    }

    fn add(&self, expanded: u64, scored: u64, reranked: u64) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.expanded.fetch_add(expanded, Ordering::Relaxed);
        self.scored.fetch_add(scored, Ordering::Relaxed);
        self.reranked.fetch_add(reranked, Ordering::Relaxed);
    }
}

/// Memory held by an index, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryUsage {
    /// Quantized code rows (0 for an f32 index).
    pub codes_bytes: usize,
    /// Full-precision vectors (the traversal's data for an f32 index; only reranking reads them in
    /// a quantized one).
    pub originals_bytes: usize,
    /// Links, levels, labels and per-node locks.
    pub graph_bytes: usize,
    /// The user-id → internal-id map.
    pub ids_bytes: usize,
    /// Fast-scan blocks ([`Layout::FastScan`]; 0 otherwise, and 0 for an index built in memory
    /// until they are packed).
    pub fast_scan_bytes: usize,
}

impl MemoryUsage {
    /// Bytes a traversal reads from: codes (or f32 vectors when there are none), links and
    /// fast-scan blocks.
    pub fn traversal_bytes(&self) -> usize {
        if self.codes_bytes > 0 {
            self.codes_bytes + self.graph_bytes + self.fast_scan_bytes
        } else {
            self.originals_bytes + self.graph_bytes
        }
    }
}

/// One search hit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The user id.
    pub id: u64,
    /// Its distance to the query under the index's metric.
    pub distance: f32,
}

/// Parameters of one search.
#[derive(Clone, Copy)]
pub struct SearchParams<'a> {
    /// How many neighbours to return.
    pub k: usize,
    /// Beam width; `None` means `max(k, DEFAULT_EF_SEARCH)`.
    pub ef: Option<usize>,
    /// Only ids for which this returns `true` are returned.
    pub filter: Option<&'a (dyn Fn(u64) -> bool + Sync)>,
    /// How the candidates are reranked (default: exactly for a quantized index).
    pub rerank: Rerank<'a>,
    /// Candidates reranked per result: `k × oversample` (default
    /// [`Quantization::default_oversample`]; the beam is widened to hold them).
    pub oversample: Option<usize>,
    /// Counters to add this search's work to.
    pub stats: Option<&'a SearchStats>,
}

impl<'a> SearchParams<'a> {
    /// `k` neighbours with the default beam and no filter.
    pub fn new(k: usize) -> Self {
        SearchParams {
            k,
            ef: None,
            filter: None,
            rerank: Rerank::Auto,
            oversample: None,
            stats: None,
        }
    }

    /// Sets the beam width.
    pub fn ef(mut self, ef: usize) -> Self {
        self.ef = Some(ef);
        self
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: &'a (dyn Fn(u64) -> bool + Sync)) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Sets the reranking.
    pub fn rerank(mut self, rerank: Rerank<'a>) -> Self {
        self.rerank = rerank;
        self
    }

    /// Counts this search's work in `stats`.
    pub fn stats(mut self, stats: &'a SearchStats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Sets the oversampling factor of the reranking.
    pub fn oversample(mut self, oversample: usize) -> Self {
        self.oversample = Some(oversample);
        self
    }
}

/// Largest `m` (level 0 keeps `2·m` links).
pub const MAX_M: usize = MAX_LINKS / 2;

/// Rows reserved when the index first grows; later growth doubles.
const MIN_CAPACITY: usize = 1024;

/// Highest level a node can draw (the expected top level of 4 billion nodes at m = 2 is 32).
pub(crate) const MAX_LEVEL: usize = 32;

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
    kernel: DistanceFn,
    body: Body,
}

/// Where an index's data lives.
enum Body {
    /// Built in this process; can grow.
    Memory(Memory),
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
    codec: std::sync::OnceLock<Codec>,
    /// The fast-scan blocks of the current graph ([`Layout::FastScan`]); cleared by every add.
    fast_scan: RwLock<Option<Arc<PackedBlocks>>>,
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
    /// # Errors
    /// [`Error::InvalidParameter`] when `dim` is 0, `m` is outside `2..=MAX_M`, or
    /// `ef_construction` is 0.
    pub fn new(options: IndexOptions) -> Result<Self> {
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
        if options.layout == Layout::FastScan && options.quantization != Quantization::Sq4 {
            return Err(Error::invalid_parameter(
                "layout",
                format!(
                    "the fast-scan layout needs 4-bit codes (quantization sq4), not {}",
                    options.quantization
                ),
            ));
        }
        Ok(Index {
            kernel: options.metric.kernel(),
            body: Body::Memory(Memory {
                storage: RwLock::new(Arc::new(Storage::new(
                    options.dim,
                    options.m,
                    code_row_bytes(&options),
                    0,
                ))),
                codec: std::sync::OnceLock::new(),
                fast_scan: RwLock::new(None),
                writer: Mutex::new(()),
                entry_lock: Mutex::new(()),
                ids: RwLock::new(HashMap::new()),
            }),
            options,
        })
    }

    /// An index over an opened segment.
    fn from_segment(segment: Segment) -> Index {
        let options = segment.options().clone();
        Index {
            kernel: options.metric.kernel(),
            options,
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

    /// Writes the index to `path` as a segment file, atomically: a temporary file in the same
    /// directory, fsync, rename, fsync of the directory. Adds wait while it runs; searches don't.
    /// Returns the file's size in bytes.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<u64> {
        let to = crate::fsutil::Replacement::durable();
        Ok(self.save_quantized(
            to,
            path.as_ref(),
            self.options.quantization,
            self.options.layout,
        )?)
    }

    /// [`Index::save`] with the codes laid out as `layout`: a 4-bit index built compact can be
    /// written with fast-scan blocks (and the other way round); the graph and codes are the same,
    /// so the saved index returns exactly what this one does.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for [`Layout::FastScan`] without 4-bit codes, or to change the
    /// layout of an opened segment; [`Error::Io`].
    pub fn save_with_layout(&self, path: impl AsRef<Path>, layout: Layout) -> Result<u64> {
        let to = crate::fsutil::Replacement::durable();
        Ok(self.save_quantized(to, path.as_ref(), self.options.quantization, layout)?)
    }

    /// Writes an index built in memory with f32 vectors as a segment whose traversal uses
    /// `quantization`: a codec is trained on (a sample of up to 100,000 of) its vectors and every
    /// vector encoded, the graph kept as it is (it was built on the f32 vectors, as it would have
    /// been with codes). How a collection seals its in-memory segment. With
    /// [`Layout::FastScan`] the segment also gets the fast-scan blocks.
    ///
    /// Written as `to` says (file system, directory sync); the error says whether the new file
    /// may be in place.
    pub(crate) fn save_quantized(
        &self,
        to: crate::fsutil::Replacement<'_>,
        path: &Path,
        quantization: Quantization,
        layout: Layout,
    ) -> Result<u64, crate::fsutil::ReplaceError> {
        let refuse = |error| crate::fsutil::ReplaceError {
            error,
            uncertain: false,
        };
        if layout == Layout::FastScan && quantization != Quantization::Sq4 {
            return Err(refuse(Error::invalid_parameter(
                "layout",
                "the fast-scan layout needs 4-bit codes (quantization sq4)",
            )));
        }
        let mem = match &self.body {
            Body::Memory(mem) => mem,
            Body::Segment(seg)
                if quantization == self.options.quantization && layout == self.options.layout =>
            {
                return segment::write_bytes(to, path, seg.bytes())
            }
            Body::Segment(_) => {
                return Err(refuse(Error::invalid_parameter(
                    "quantization",
                    "an opened segment can only be saved as it is",
                )))
            }
        };
        let _writer = mem.writer.lock();
        let st = mem.snapshot();
        let ids: Vec<(u64, u32)> = mem.ids.read().iter().map(|(&k, &v)| (k, v)).collect();
        let options = IndexOptions {
            quantization,
            layout,
            ..self.options.clone()
        };
        let trained;
        let codec = match mem.codec.get() {
            Some(codec) if quantization == self.options.quantization => Some(codec),
            Some(_) => {
                return Err(refuse(Error::invalid_parameter(
                    "quantization",
                    "a quantized index can only be saved with its own codec",
                )))
            }
            None => {
                // An f32 index (or a quantized one still empty): train on a sample of its vectors.
                let step = ids.len().div_ceil(100_000).max(1);
                let sample: Vec<f32> = ids
                    .iter()
                    .step_by(step)
                    .flat_map(|&(_, slot)| st.vector_unpadded(slot).iter().copied())
                    .collect();
                trained = Codec::train(
                    quantization,
                    options.quant_scheme,
                    options.metric,
                    options.dim,
                    &sample,
                );
                trained.as_ref()
            }
        };
        segment::write_segment(
            to,
            path,
            &segment::SegmentSource {
                options: &options,
                codec,
                storage: &st,
                nodes: st.len(),
                ids,
            },
        )
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
        match &self.body {
            Body::Memory(mem) => mem.ids.read().contains_key(&id),
            Body::Segment(seg) => seg.slot_of(id).is_some(),
        }
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

    /// Checks a batch as [`Index::add_batch`] would (shape, finite components, non-zero under
    /// cosine) without adding it.
    pub(crate) fn check_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        let dim = self.options.dim;
        if vectors.len() != ids.len() * dim {
            return Err(if ids.len() == 1 {
                Error::DimensionMismatch {
                    expected: dim,
                    got: vectors.len(),
                }
            } else {
                Error::invalid_parameter(
                    "vectors",
                    format!(
                        "expected {} ids × {dim} = {} values, got {}",
                        ids.len(),
                        ids.len() * dim,
                        vectors.len()
                    ),
                )
            });
        }
        if let Some(pos) = vectors.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidVector {
                reason: format!(
                    "row {} component {} is {}",
                    pos / dim,
                    pos % dim,
                    vectors[pos]
                ),
            });
        }
        if self.options.metric.normalizes() {
            if let Some(row) = vectors
                .chunks_exact(dim)
                .position(|v| v.iter().all(|&x| x == 0.0))
            {
                return Err(Error::InvalidVector {
                    reason: format!("row {row} has zero norm and cannot be normalised for cosine"),
                });
            }
        }
        Ok(())
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
        let unknown = Error::UnknownId { id };
        match &self.body {
            Body::Memory(mem) => {
                let slot = *mem.ids.read().get(&id).ok_or(unknown)?;
                Ok(mem.snapshot().vector_unpadded(slot).to_vec())
            }
            Body::Segment(seg) => {
                let slot = seg.slot_of(id).ok_or(unknown)?;
                Ok(seg.vector(slot)[..self.options.dim].to_vec())
            }
        }
    }

    /// Bytes by part: allocated memory (capacity included) for an index built in memory, the
    /// sections' sizes for an opened segment (mapped bytes, of which only the pages queries touch
    /// are resident).
    pub fn memory(&self) -> MemoryUsage {
        match &self.body {
            Body::Memory(mem) => {
                let (codes_bytes, originals_bytes, graph_bytes) = mem.snapshot().memory();
                let ids_bytes = mem.ids.read().capacity() * (std::mem::size_of::<(u64, u32)>() + 1);
                let fast_scan_bytes = mem.fast_scan.read().as_ref().map_or(0, |b| b.bytes().len());
                MemoryUsage {
                    codes_bytes,
                    originals_bytes,
                    graph_bytes,
                    ids_bytes,
                    fast_scan_bytes,
                }
            }
            Body::Segment(seg) => {
                let (codes_bytes, originals_bytes, graph_bytes) = seg.memory();
                MemoryUsage {
                    codes_bytes,
                    originals_bytes,
                    graph_bytes,
                    ids_bytes: seg.id_index_bytes(),
                    fast_scan_bytes: seg.fast_scan().map_or(0, <[u8]>::len),
                }
            }
        }
    }

    /// Bytes of memory held by vectors, links and id maps (an estimate of the heap the index uses).
    pub fn memory_bytes(&self) -> usize {
        let m = self.memory();
        m.codes_bytes + m.originals_bytes + m.graph_bytes + m.ids_bytes + m.fast_scan_bytes
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

    /// Adds one vector.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidVector`] (NaN, infinity, or a zero vector under
    /// cosine), [`Error::DuplicateId`], [`Error::CapacityExceeded`], [`Error::ReadOnly`].
    pub fn add(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.add_batch(&[id], vector)
    }

    /// Adds `ids.len()` vectors (`vectors` holds them row after row), linking them in parallel on
    /// the rayon thread pool. All-or-nothing for validation: if any id is a duplicate or any vector
    /// invalid, nothing is added.
    ///
    /// # Errors
    /// As [`Index::add`], plus [`Error::InvalidParameter`] when `vectors.len()` is not
    /// `ids.len() × dim`.
    pub fn add_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        self.add_batch_with_progress(ids, vectors, &|_, _| {})
    }

    /// [`Index::add_batch`] that calls `progress(done, total)` now and then (every few hundred
    /// inserts, from any thread) — for progress bars.
    ///
    /// # Errors
    /// As [`Index::add_batch`].
    pub fn add_batch_with_progress(
        &self,
        ids: &[u64],
        vectors: &[f32],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<()> {
        let mem = self.writable("add vectors")?;
        let dim = self.options.dim;
        self.check_batch(ids, vectors)?;
        if ids.is_empty() {
            return Ok(());
        }
        let prepared = self.prepare_vectors(vectors)?;
        let _writer = mem.writer.lock();
        // The graph is about to change: searches go back to the code rows until it is repacked.
        *mem.fast_scan.write() = None;
        {
            let map = mem.ids.read();
            let mut seen = HashSet::with_capacity(ids.len());
            for &id in ids {
                if map.contains_key(&id) || !seen.insert(id) {
                    return Err(Error::DuplicateId { id });
                }
            }
        }
        let st = mem.reserve(ids.len())?;
        let start = st.len();
        let rows = prepared.as_deref().unwrap_or(vectors);
        if mem.codec.get().is_none() {
            if let Some(codec) = Codec::train(
                self.options.quantization,
                self.options.quant_scheme,
                self.options.metric,
                dim,
                rows,
            ) {
                let _ = mem.codec.set(codec);
            }
        }
        let codec = mem.codec.get();
        let code_bytes = code_row_bytes(&self.options);
        rows.par_chunks(dim)
            .zip(ids.par_iter())
            .enumerate()
            .for_each_init(
                || vec![0u8; code_bytes],
                |code, (i, (v, &id))| {
                    let slot = start + i;
                    if let Some(codec) = codec {
                        codec.encode(v, code);
                    }
                    let code = codec.map(|_| code.as_slice());
                    st.write_slot(slot, v, code, id, self.draw_level(slot));
                },
            );
        st.publish_len(start + ids.len());
        {
            let mut map = mem.ids.write();
            map.reserve(ids.len());
            for (i, &id) in ids.iter().enumerate() {
                map.insert(id, (start + i) as u32);
            }
        }

        let graph = Graph {
            st: &*st,
            kernel: self.kernel,
        };
        let ef_c = self.options.ef_construction;
        let total = ids.len();
        // A bulk build (a large batch, at least as large as what is already there) searches for
        // candidates on temporary 8-bit codes; small additions to a large index would pay more to
        // encode the index than they save.
        let codes = (total >= BUILD_ON_CODES_MIN_BATCH && 2 * total >= start + total)
            .then(|| BuildCodes::encode(&st, start + total, self.options.metric, rows))
            .flatten();
        let codes = codes.as_ref();
        let done = AtomicUsize::new(0);
        let mut first = start;
        if st.entry().is_none() {
            graph.insert(start as u32, ef_c, &mem.entry_lock, codes);
            first += 1;
            done.store(1, Ordering::Relaxed);
        }
        (first..start + total).into_par_iter().for_each(|slot| {
            graph.insert(slot as u32, ef_c, &mem.entry_lock, codes);
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            if d.is_multiple_of(256) {
                progress(d, total);
            }
        });
        progress(total, total);
        Ok(())
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

    /// Normalises under cosine (the batch is already checked). Returns a copy only when it changed
    /// something.
    fn prepare_vectors(&self, vectors: &[f32]) -> Result<Option<Vec<f32>>> {
        if !self.options.metric.normalizes() {
            return Ok(None);
        }
        let mut copy = vectors.to_vec();
        for (row, v) in copy.chunks_exact_mut(self.options.dim).enumerate() {
            if !distance::normalize(v) {
                return Err(Error::InvalidVector {
                    reason: format!("row {row} has zero norm and cannot be normalised for cosine"),
                });
            }
        }
        Ok(Some(copy))
    }

    /// The level of the node in `slot`: `⌊−ln(u)·mL⌋` with `u` uniform in (0, 1] drawn from a hash
    /// of the seed and the slot, so levels do not depend on thread scheduling.
    fn draw_level(&self, slot: usize) -> usize {
        let h = splitmix64(self.options.seed ^ splitmix64(slot as u64));
        let u = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let level_mult = 1.0 / (self.options.m as f64).ln();
        ((-u.ln() * level_mult) as usize).min(MAX_LEVEL)
    }

    /// The `k` nearest neighbours of `query`, nearest first, with the default beam.
    ///
    /// # Errors
    /// As [`Index::search_with`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Neighbor>> {
        self.search_with(query, &SearchParams::new(k))
    }

    /// The nearest neighbours of `query` under `params`, nearest first. An empty index gives an
    /// empty result; fewer than `k` hits come back only when fewer than `k` vectors (that pass the
    /// filter) exist.
    ///
    /// With a filter, the graph search skips non-matching ids in its results but still walks
    /// through them; when the filter is estimated to keep so few ids that walking the graph would
    /// cost more than scoring them all, the search is exact over the matching ids instead, and an
    /// approximate search that finds fewer than `k` matches falls back to the exact one.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidVector`] (NaN, infinity, zero under cosine),
    /// [`Error::InvalidParameter`] when `k` or `ef` is 0.
    pub fn search_with(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        self.search_masked(query, params, None)
    }

    /// [`Index::search_with`] that also skips the slots set in `dead` (a bitmap over internal
    /// slots: a collection's deletes in a sealed segment).
    pub(crate) fn search_masked(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
        dead: Option<&[std::sync::atomic::AtomicU64]>,
    ) -> Result<Vec<Neighbor>> {
        match &self.body {
            Body::Memory(mem) => {
                let packed = self.packed_blocks(mem);
                let st = mem.snapshot();
                // Blocks packed from another length of graph (an add started meanwhile) are not
                // used: the search then reads the code rows.
                let blocks = packed
                    .as_deref()
                    .filter(|p| p.nodes == st.len())
                    .map(|p| p.bytes());
                self.search_view(&*st, mem.codec.get(), blocks, query, params, dead)
            }
            Body::Segment(seg) => {
                self.search_view(&**seg, seg.codec(), seg.fast_scan(), query, params, dead)
            }
        }
    }

    /// The fast-scan blocks of an in-memory index, packed now if the graph changed since they were
    /// last packed and no add is running (a search never waits for one); `None` for the compact
    /// layout.
    fn packed_blocks(&self, mem: &Memory) -> Option<Arc<PackedBlocks>> {
        if self.options.layout != Layout::FastScan {
            return None;
        }
        if let Some(p) = mem.fast_scan.read().clone() {
            return Some(p);
        }
        let _writer = mem.writer.try_lock()?;
        Some(self.pack_locked(mem))
    }

    /// The packed blocks of the current graph, packing them if needed. Called with the writer
    /// lock held, so no add changes the graph meanwhile.
    fn pack_locked(&self, mem: &Memory) -> Arc<PackedBlocks> {
        if let Some(p) = mem.fast_scan.read().clone() {
            return p;
        }
        let packed = Arc::new(PackedBlocks::pack(
            &*mem.snapshot(),
            &BlockShape::new(self.options.dim, self.options.m),
        ));
        *mem.fast_scan.write() = Some(packed.clone());
        packed
    }

    /// Packs the fast-scan blocks now, so the first search does not ([`Layout::FastScan`]; does
    /// nothing for the compact layout or an opened segment, whose blocks are in the file). Waits
    /// for a running add.
    pub fn pack_fast_scan(&self) {
        if let Body::Memory(mem) = &self.body {
            if self.options.layout == Layout::FastScan {
                let _writer = mem.writer.lock();
                self.pack_locked(mem);
            }
        }
    }

    fn search_view<G: GraphView>(
        &self,
        st: &G,
        codec: Option<&Codec>,
        blocks: Option<&[u8]>,
        query: &[f32],
        params: &SearchParams<'_>,
        dead: Option<&[std::sync::atomic::AtomicU64]>,
    ) -> Result<Vec<Neighbor>> {
        let ef = self.check_params(params)?;
        let k = params.k;
        let rerank = match params.rerank {
            Rerank::Auto if codec.is_some() => Rerank::Exact,
            Rerank::Auto => Rerank::None,
            other => other,
        };
        let pool = match rerank {
            Rerank::None | Rerank::Auto => k,
            Rerank::Exact | Rerank::Custom(_) => k.saturating_mul(
                params
                    .oversample
                    .unwrap_or(self.options.quantization.default_oversample()),
            ),
        };
        let ef = ef.max(pool);
        let accept = Accept {
            filter: params.filter,
            dead,
            view_has_deletes: st.has_deletes(),
        };
        self.run_query(st, query, |graph, exact, s| {
            if st.len() == 0 {
                return Ok(Vec::new());
            }
            let graph = &graph;
            match codec {
                Some(codec) => {
                    let prepared = codec.prepare(&exact.q[..self.options.dim]);
                    let scorer = CodeScorer {
                        query: &prepared,
                        codec,
                        st,
                    };
                    let fast = blocks.zip(codec.fast_scan_query(&prepared));
                    match &fast {
                        Some((bytes, fq)) => {
                            let blocks = BlockScorer {
                                blocks: Blocks {
                                    bytes,
                                    shape: BlockShape::new(self.options.dim, self.options.m),
                                },
                                query: fq,
                                kernel: crate::quant::fastscan::active().1,
                            };
                            collect(graph, &scorer, Some(&blocks), ef, k, &accept, s)
                        }
                        None => collect(graph, &scorer, None, ef, k, &accept, s),
                    }
                }
                None => collect(graph, exact, None, ef, k, &accept, s),
            }
            if let Some(stats) = params.stats {
                stats.add(s.expanded, s.scored, 0);
            }
            let mut hits: Vec<Scored> = s.results.drain().collect();
            hits.sort_unstable();
            hits.truncate(pool);
            let neighbor = |h: &Scored| Neighbor {
                id: st.label(h.id),
                distance: h.dist,
            };
            let out = match rerank {
                Rerank::Auto | Rerank::None => hits.iter().take(k).map(neighbor).collect(),
                Rerank::Exact => {
                    if codec.is_some() {
                        hits.iter_mut().for_each(|h| h.dist = exact.score(h.id));
                        hits.sort_unstable();
                        if let Some(stats) = params.stats {
                            stats
                                .reranked
                                .fetch_add(hits.len() as u64, Ordering::Relaxed);
                        }
                    }
                    hits.iter().take(k).map(neighbor).collect()
                }
                Rerank::Custom(reranker) => {
                    let dim = self.options.dim;
                    let candidates: Vec<Candidate<'_>> = hits
                        .iter()
                        .map(|h| Candidate::new(st.label(h.id), h.dist, &st.vector(h.id)[..dim]))
                        .collect();
                    let mut out = reranker
                        .rerank(query, &candidates)
                        .map_err(|source| Error::Rerank { source })?;
                    out.truncate(k);
                    out
                }
            };
            Ok(out)
        })
    }

    /// Searches `queries` (row after row) in parallel on the rayon pool; one result list per query.
    ///
    /// # Errors
    /// As [`Index::search_with`]; [`Error::InvalidParameter`] when `queries.len()` is not a
    /// multiple of `dim`.
    pub fn search_batch(
        &self,
        queries: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Vec<Neighbor>>> {
        let dim = self.options.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::invalid_parameter(
                "queries",
                format!("length {} is not a multiple of dim {dim}", queries.len()),
            ));
        }
        queries
            .par_chunks(dim)
            .map(|q| self.search_with(q, params))
            .collect()
    }

    /// The exact `k` nearest neighbours by scoring every vector (for checks and small indexes).
    ///
    /// # Errors
    /// As [`Index::search_with`].
    pub fn search_exact(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        self.check_params(params)?;
        match &self.body {
            Body::Memory(mem) => self.exact_view(&*mem.snapshot(), query, params),
            Body::Segment(seg) => self.exact_view(&**seg, query, params),
        }
    }

    fn exact_view<G: GraphView>(
        &self,
        st: &G,
        query: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Neighbor>> {
        let accept = Accept {
            filter: params.filter,
            dead: None,
            view_has_deletes: st.has_deletes(),
        };
        self.run_query(st, query, |graph, exact, s| {
            graph.exact(exact, params.k, s, &accept);
            let mut hits: Vec<Scored> = s.results.drain().collect();
            hits.sort_unstable();
            Ok(hits
                .into_iter()
                .map(|h| Neighbor {
                    id: st.label(h.id),
                    distance: h.dist,
                })
                .collect())
        })
    }

    /// Prepares `query` (checked, normalised under cosine, padded) in this thread's scratch and
    /// runs `f` with the graph, an exact scorer for the query, and the scratch.
    fn run_query<G: GraphView, R>(
        &self,
        st: &G,
        query: &[f32],
        f: impl FnOnce(Graph<'_, G>, &FloatScorer<'_, G>, &mut self::scratch::Scratch) -> Result<R>,
    ) -> Result<R> {
        with_scratch(|s| {
            prepare_query(&mut s.query, query, &self.options, st.stride())?;
            let q = std::mem::take(&mut s.query);
            s.expanded = 0;
            s.scored = 0;
            let graph = Graph {
                st,
                kernel: self.kernel,
            };
            let exact = FloatScorer {
                q: &q,
                st,
                kernel: self.kernel,
            };
            let out = f(graph, &exact, s);
            s.query = q;
            out
        })
    }

    /// Validates `k` and `ef`; returns the effective beam width.
    fn check_params(&self, params: &SearchParams<'_>) -> Result<usize> {
        if params.k == 0 {
            return Err(Error::invalid_parameter("k", "must be at least 1"));
        }
        if params.oversample == Some(0) {
            return Err(Error::invalid_parameter("oversample", "must be at least 1"));
        }
        if params.ef == Some(0) {
            return Err(Error::invalid_parameter("ef", "must be at least 1"));
        }
        Ok(params.ef.unwrap_or(DEFAULT_EF_SEARCH).max(params.k))
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

/// Bytes of one code row for these options; 0 for an f32 index.
fn code_row_bytes(options: &IndexOptions) -> usize {
    options
        .quantization
        .bits()
        .map_or(0, |b| Codec::row_bytes(b, options.dim))
}

/// Runs the traversal (or, for a very selective filter, the exact scan) with `scorer`, leaving the
/// best candidates in `s.results`.
fn collect<G: GraphView, S: Scorer>(
    graph: &Graph<'_, G>,
    scorer: &S,
    blocks: Option<&BlockScorer<'_>>,
    ef: usize,
    k: usize,
    accept: &Accept<'_>,
    s: &mut self::scratch::Scratch,
) {
    let walk = |s: &mut self::scratch::Scratch| match blocks {
        Some(b) => graph.search_blocks(scorer, b, ef, s, accept),
        None => graph.search(scorer, ef, s, accept),
    };
    match accept.filter {
        None => walk(s),
        Some(filter) => {
            if prefer_exact(graph.st, filter, ef) {
                graph.exact(scorer, ef, s, accept);
            } else {
                walk(s);
                if s.results.len() < k.min(graph.st.len()) {
                    graph.exact(scorer, ef, s, accept);
                }
            }
        }
    }
}

/// Copies `query` into `buf` padded to `stride`, checking it and normalising it under cosine.
fn prepare_query(
    buf: &mut Vec<f32>,
    query: &[f32],
    options: &IndexOptions,
    stride: usize,
) -> Result<()> {
    if query.len() != options.dim {
        return Err(Error::DimensionMismatch {
            expected: options.dim,
            got: query.len(),
        });
    }
    if let Some(pos) = query.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidVector {
            reason: format!("query component {pos} is {}", query[pos]),
        });
    }
    buf.clear();
    buf.extend_from_slice(query);
    if options.metric.normalizes() && !distance::normalize(buf) {
        return Err(Error::InvalidVector {
            reason: "query has zero norm and cannot be normalised for cosine".into(),
        });
    }
    buf.resize(stride.max(options.dim), 0.0);
    Ok(())
}

/// Whether scoring every matching vector is cheaper than a filtered graph walk.
///
/// The filter's selectivity `s` is estimated on an even sample of up to 1,024 nodes. The graph walk
/// must expand about `ef / s` nodes, scoring up to `m` fresh neighbours each; the exact scan calls
/// the filter `n` times (counted as 1/8 of a distance) and scores `s·n` vectors.
fn prefer_exact<G: GraphView>(st: &G, filter: &(dyn Fn(u64) -> bool + Sync), ef: usize) -> bool {
    let n = st.len();
    let sample = n.min(1024);
    let step = n / sample;
    let matches = (0..sample)
        .filter(|&i| filter(st.label((i * step) as u32)))
        .count();
    if matches == 0 {
        return true;
    }
    let s = matches as f64 / sample as f64;
    let walk = ef as f64 / s * st.m() as f64;
    let scan = n as f64 / 8.0 + s * n as f64;
    scan <= walk
}

/// SplitMix64: a fast, well-mixed 64-bit hash.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
