//! What a search reads: the graph, vectors, codes and labels of one index, behind a trait.
//!
//! The search algorithms in [`super::graph`] are written once against [`GraphView`] and compiled
//! for each implementation: the growing in-memory [`super::storage::Storage`] (links are atomics,
//! because inserts run beside searches) and a segment file read in place
//! ([`crate::segment::SegmentView`], links are plain `u32` in a memory map). No dynamic dispatch in
//! the hot loop.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Where searches start: the node on the highest level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntryPoint {
    pub node: u32,
    pub level: usize,
}

/// One slot of a link row.
pub(crate) trait LinkCell: Sync {
    /// The id (or the count, for the first slot of a row).
    fn get(&self) -> u32;
}

impl LinkCell for AtomicU32 {
    #[inline(always)]
    fn get(&self) -> u32 {
        self.load(Ordering::Acquire)
    }
}

impl LinkCell for u32 {
    #[inline(always)]
    fn get(&self) -> u32 {
        *self
    }
}

/// Read access to an index's graph and vectors.
///
/// Implementations never trust their contents for memory safety: a link id can be anything, so the
/// algorithms skip ids at or past [`GraphView::node_bound`], and `links` clamps its row.
pub(crate) trait GraphView: Sync {
    /// The type of a link slot.
    type Link: LinkCell;

    /// Nodes a search may score.
    fn len(&self) -> usize;
    /// Every valid node id is below this (the size of visited sets).
    fn node_bound(&self) -> usize;
    /// Links per node on upper levels (level 0 keeps twice as many).
    fn m(&self) -> usize;
    /// Floats per stored vector row (the dimension padded to a multiple of 16).
    fn stride(&self) -> usize;
    /// The padded f32 vector of `node` (`stride()` long).
    fn vector(&self, node: u32) -> &[f32];
    /// Starts fetching `node`'s vector.
    fn prefetch_vector(&self, node: u32);
    /// The code row of `node` (empty for an f32 index).
    fn code(&self, node: u32) -> &[u8];
    /// Starts fetching `node`'s code row.
    fn prefetch_code(&self, node: u32);
    /// The link row of `node` on `level`: `[count, ids…]`; empty when the node has no such level.
    fn links(&self, level: usize, node: u32) -> &[Self::Link];
    /// Starts fetching `node`'s level-`level` links.
    fn prefetch_links(&self, level: usize, node: u32);
    /// The user id of `node`.
    fn label(&self, node: u32) -> u64;
    /// Whether `node` was deleted (it is walked through but never returned).
    fn is_deleted(&self, node: u32) -> bool;
    /// Whether any node is deleted.
    fn has_deletes(&self) -> bool;
    /// The entry point; `None` for an empty graph.
    fn entry(&self) -> Option<EntryPoint>;
}

/// Number of ids in a link row, clamped to the row's room, so a torn or hostile count can't send a
/// reader out of bounds.
#[inline(always)]
pub(crate) fn link_count<L: LinkCell>(row: &[L]) -> usize {
    match row.first() {
        Some(c) => (c.get() as usize).min(row.len() - 1),
        None => 0,
    }
}

/// The id slots of a link row in use: `count` of them after the count, clamped (empty for an
/// empty row).
#[inline(always)]
pub(crate) fn link_ids<L: LinkCell>(row: &[L]) -> &[L] {
    match row.split_first() {
        Some((count, ids)) => &ids[..(count.get() as usize).min(ids.len())],
        None => &[],
    }
}

/// Whether bit `i` of a bitmap stored as `u64` words is set (false past its end).
#[inline(always)]
pub(crate) fn bit(words: &[u64], i: u32) -> bool {
    words
        .get(i as usize / 64)
        .is_some_and(|w| w >> (i % 64) & 1 == 1)
}

/// Whether bit `i` of a bitmap of atomic words is set (false past its end).
#[inline(always)]
pub(crate) fn atomic_bit(words: &[AtomicU64], i: u32) -> bool {
    words
        .get(i as usize / 64)
        .is_some_and(|w| w.load(Ordering::Relaxed) >> (i % 64) & 1 == 1)
}

/// Which nodes a search may return: not deleted in the view, not dead in the caller's extra
/// bitmap, and passing the user's filter.
#[derive(Clone, Copy, Default)]
pub(crate) struct Accept<'a> {
    /// The user's filter on user ids.
    pub filter: Option<&'a (dyn Fn(u64) -> bool + Sync)>,
    /// Extra deleted slots (a collection's deletes in a sealed segment), as bitmap words.
    pub dead: Option<&'a [AtomicU64]>,
    /// Whether the view has deleted nodes at all (skips the check when not).
    pub view_has_deletes: bool,
}

impl Accept<'_> {
    /// Whether every node is accepted (no filter and nothing deleted).
    #[inline(always)]
    pub fn all(&self) -> bool {
        self.filter.is_none() && self.dead.is_none() && !self.view_has_deletes
    }

    #[inline(always)]
    pub fn accepts<G: GraphView>(&self, view: &G, node: u32) -> bool {
        if self.view_has_deletes && view.is_deleted(node) {
            return false;
        }
        if self.dead.is_some_and(|d| atomic_bit(d, node)) {
            return false;
        }
        self.filter.is_none_or(|f| f(view.label(node)))
    }
}
