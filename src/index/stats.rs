//! What a search or an index reports about itself: work counters and memory by part.

use std::sync::atomic::{AtomicU64, Ordering};

/// Work counters of searches, summed over every search that was given them (any thread).
///
/// Pass `&SearchStats` in [`crate::SearchParams::stats`]; read the sums with
/// [`SearchStats::counts`]. The cost is a few relaxed atomic additions per search.
#[derive(Debug, Default)]
pub struct SearchStats {
    queries: AtomicU64,
    expanded: AtomicU64,
    scored: AtomicU64,
    reranked: AtomicU64,
    walks: AtomicU64,
    exact_scans: AtomicU64,
    fallbacks: AtomicU64,
    two_hop_walks: AtomicU64,
    group_walks: AtomicU64,
    beam_sum: AtomicU64,
    beams_raised: AtomicU64,
    targeted: AtomicU64,
    block_bytes: AtomicU64,
    code_bytes: AtomicU64,
    original_bytes: AtomicU64,
}

/// A reading of [`SearchStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchCounts {
    /// Searches counted.
    pub queries: u64,
    /// Level-0 nodes whose links were read (visited nodes).
    pub nodes_expanded: u64,
    /// Distances computed by the level-0 walk and exact scans (codes for a quantized index).
    pub distances: u64,
    /// Exact distances computed by reranking.
    pub reranked: u64,
    /// Searches answered by the graph walk alone.
    pub walks: u64,
    /// Searches answered by an exact scan of the matching vectors, chosen up front because the
    /// filter keeps so few that scanning them is cheaper than walking the graph.
    pub exact_scans: u64,
    /// Searches whose filtered walk found fewer than `k` matches and fell back to the exact scan.
    pub fallbacks: u64,
    /// Searches with a payload filter answered by the two-hop walk: it scores only matching
    /// nodes, reaching them through the non-matching neighbours of the nodes it expands.
    pub two_hop_walks: u64,
    /// Searches with a payload filter answered by a walk of the group graph of one of its
    /// keyword values (a graph over that value's rows alone, built when the segment was saved or
    /// by [`crate::Index::build_filter_graphs`]).
    pub group_walks: u64,
    /// The beam widths the searches used, summed (divide by `queries` for the mean).
    pub beam_sum: u64,
    /// Searches whose beam was widened past the `ef` asked for (or the default) to hold the
    /// `k × oversample` candidates of the reranking.
    pub beams_raised: u64,
    /// Searches whose beam was chosen for a recall target
    /// ([`SearchParams::target_recall`](crate::SearchParams::target_recall)); their beams are in
    /// `beam_sum` like the others.
    pub targeted: u64,
    /// Bytes of blocks the level-0 walks read (one block per visited node, for the layouts with
    /// blocks).
    pub block_bytes: u64,
    /// Bytes of code rows the walks and scans read (one row per distance on codes).
    pub code_bytes: u64,
    /// Bytes of f32 vectors read: the walk's rows of an f32 index, and the originals reranking
    /// reads.
    pub original_bytes: u64,
}

impl SearchCounts {
    /// Every byte counted: blocks, code rows and f32 vectors.
    pub fn bytes_read(&self) -> u64 {
        self.block_bytes + self.code_bytes + self.original_bytes
    }
}

/// How one search found its candidates (see the planner in `Index::search_with`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// The graph walk.
    Walk,
    /// The exact scan over the matching vectors.
    Exact,
    /// The walk (plain or two-hop), then the exact scan because it found fewer than `k`
    /// matches.
    WalkThenExact,
    /// The two-hop walk over the matching nodes of a payload filter.
    TwoHop,
    /// The walk of the group graph of a keyword value the payload filter requires.
    Group,
}

/// What one search did, added to a [`SearchStats`].
pub(crate) struct SearchWork {
    pub expanded: u64,
    pub scored: u64,
    pub reranked: u64,
    pub path: Path,
    pub beam: usize,
    pub beam_raised: bool,
    pub targeted: bool,
    /// Bytes read, by part: blocks, code rows, f32 vectors.
    pub bytes: [u64; 3],
}

impl SearchStats {
    /// Zeroed counters.
    pub fn new() -> Self {
        SearchStats::default()
    }

    /// The sums so far.
    pub fn counts(&self) -> SearchCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SearchCounts {
            queries: get(&self.queries),
            nodes_expanded: get(&self.expanded),
            distances: get(&self.scored),
            reranked: get(&self.reranked),
            walks: get(&self.walks),
            exact_scans: get(&self.exact_scans),
            fallbacks: get(&self.fallbacks),
            two_hop_walks: get(&self.two_hop_walks),
            group_walks: get(&self.group_walks),
            beam_sum: get(&self.beam_sum),
            beams_raised: get(&self.beams_raised),
            targeted: get(&self.targeted),
            block_bytes: get(&self.block_bytes),
            code_bytes: get(&self.code_bytes),
            original_bytes: get(&self.original_bytes),
        }
    }

    pub(crate) fn add(&self, w: &SearchWork) {
        let add = |a: &AtomicU64, v: u64| {
            if v > 0 {
                a.fetch_add(v, Ordering::Relaxed);
            }
        };
        add(&self.queries, 1);
        add(&self.expanded, w.expanded);
        add(&self.scored, w.scored);
        add(&self.reranked, w.reranked);
        add(&self.beam_sum, w.beam as u64);
        add(&self.beams_raised, u64::from(w.beam_raised));
        add(&self.targeted, u64::from(w.targeted));
        add(&self.block_bytes, w.bytes[0]);
        add(&self.code_bytes, w.bytes[1]);
        add(&self.original_bytes, w.bytes[2]);
        let path = match w.path {
            Path::Walk => &self.walks,
            Path::Exact => &self.exact_scans,
            Path::WalkThenExact => &self.fallbacks,
            Path::TwoHop => &self.two_hop_walks,
            Path::Group => &self.group_walks,
        };
        add(path, 1);
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
    /// Fast-scan blocks ([`crate::Layout::FastScan`]; 0 otherwise, and 0 for an index built in
    /// memory until they are packed).
    pub fast_scan_bytes: usize,
    /// Payloads and their field indexes (the two payload sections of a segment file).
    #[serde(default)]
    pub payload_bytes: usize,
    /// The group graphs of frequent keyword values (the `filter_graphs` section of a segment
    /// file; for an index built in memory, once built by [`crate::Index::build_filter_graphs`]).
    #[serde(default)]
    pub filter_graph_bytes: usize,
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

    /// Every part added up.
    pub fn total(&self) -> usize {
        self.codes_bytes
            + self.originals_bytes
            + self.graph_bytes
            + self.ids_bytes
            + self.filter_graph_bytes
            + self.fast_scan_bytes
            + self.payload_bytes
    }
}
