//! How a search scores nodes: the traits the graph algorithms are generic over, and the exact
//! scorer on f32 rows.
//!
//! A codec turns a query into a concrete scorer once per search ([`super::Traversal`]); the graph
//! walk is compiled for that scorer type, so scoring a node is a direct call into a kernel of the
//! CPU level chosen for the search — no function pointer, no `match` per distance.

use crate::base::options::MAX_LINKS;
use crate::base::view::RowView;
use crate::distance::VectorDistance;

/// Scores nodes against one prepared query.
pub(crate) trait Scorer {
    /// The (approximate, for codes) distance from the query to `node`.
    fn score(&self, node: u32) -> f32;

    /// Starts fetching what `score(node)` will read.
    fn prefetch(&self, node: u32);

    /// `score(node)`, or any value above `bound` when the node cannot score below it: a scorer
    /// with a cheap first estimate and its error bound (RaBitQ's) skips the precise second
    /// estimate of a node its bound rules out. The default is `score`.
    #[inline(always)]
    fn score_below(&self, node: u32, bound: f32) -> f32 {
        let _ = bound;
        self.score(node)
    }

    /// `out[i] = score_below(nodes[i], bound)` for every `i < nodes.len()` (the caller
    /// prefetched them).
    ///
    /// # Panics
    /// When `out` is shorter than `nodes`.
    #[inline(always)]
    fn score_many(&self, nodes: &[u32], bound: f32, out: &mut [f32]) {
        for (o, &n) in out[..nodes.len()].iter_mut().zip(nodes) {
            *o = self.score_below(n, bound);
        }
    }
}

/// Scores all neighbours of a visited node from that node's block: one sequential read instead of
/// one scattered code row per neighbour (the one-visit layout of SymphonyQG; see
/// [`super::blocks`]).
pub(crate) trait BlockScorer {
    /// Starts fetching `node`'s block.
    fn prefetch_block(&self, node: u32);

    /// Writes `node`'s neighbours and their distances into `ids` and `dists`; returns how many.
    fn score_block(
        &self,
        node: u32,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
    ) -> usize;
}

/// The block (and visit) scorer of an index without blocks. It has no values, so no
/// `Level0::Blocks(&NoBlocks)` is ever made.
pub(crate) enum NoBlocks {}

impl BlockScorer for NoBlocks {
    fn prefetch_block(&self, _node: u32) {
        match *self {}
    }

    fn score_block(&self, _: u32, _: &mut [u32; MAX_LINKS], _: &mut [f32; MAX_LINKS]) -> usize {
        match *self {}
    }
}

/// Visits a node of a one-visit layout (RaBitQ's blocks): one read of the node's block gives its
/// own precise distance — the walk's results are the visited nodes — and its neighbours'
/// estimates with their lower bounds, from which the walk keeps those that can still enter.
pub(crate) trait VisitScorer {
    /// Starts fetching `node`'s block.
    fn prefetch_block(&self, node: u32);

    /// Returns `node`'s own distance and how many neighbours it has, writing their ids,
    /// estimates and lower bounds.
    fn visit(
        &self,
        node: u32,
        ids: &mut [u32; MAX_LINKS],
        est: &mut [f32; MAX_LINKS],
        lower: &mut [f32; MAX_LINKS],
    ) -> (f32, usize);
}

/// How a walk's level 0 is scored: the scorer row by row, a [`BlockScorer`], or a
/// [`VisitScorer`]. Indexes without blocks use [`NoBlocks`] for both, whose references cannot
/// exist, so only the row path is compiled into their walk.
pub(crate) enum Level0<'a, B, V> {
    /// Each neighbour's row through the scorer.
    Rows,
    /// The expanded node's block of neighbour codes.
    Blocks(&'a B),
    /// One-visit blocks: results are the visited nodes.
    Visits(&'a V),
}

impl VisitScorer for NoBlocks {
    fn prefetch_block(&self, _node: u32) {
        match *self {}
    }

    fn visit(
        &self,
        _: u32,
        _: &mut [u32; MAX_LINKS],
        _: &mut [f32; MAX_LINKS],
        _: &mut [f32; MAX_LINKS],
    ) -> (f32, usize) {
        match *self {}
    }
}

/// Exact distances on the stored f32 vectors.
pub(crate) struct FloatScorer<'a, D> {
    /// The query, padded to the rows' stride (normalised under cosine).
    query: &'a [f32],
    rows: RowView<'a, f32>,
    distance: D,
}

impl<'a, D: VectorDistance> FloatScorer<'a, D> {
    /// A scorer of `query` (as long as a row) against `rows` with `distance`.
    pub(crate) fn new(query: &'a [f32], rows: RowView<'a, f32>, distance: D) -> Self {
        FloatScorer {
            query,
            rows,
            distance,
        }
    }
}

impl<D: VectorDistance> Scorer for FloatScorer<'_, D> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        self.distance.distance(self.query, self.rows.row(node))
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.rows.prefetch(node);
    }
}
