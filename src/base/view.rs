//! What a search reads, as borrowed views: fixed-stride rows (vectors or code rows) and the link
//! rows of a graph.
//!
//! Two implementations exist above this layer: the growing in-memory storage of `crate::hnsw`
//! (links are atomics, because inserts run beside searches) and a segment file read in place
//! (`crate::segment`, links are plain `u32` in a memory map). The search algorithms are written
//! once against [`GraphView`] and compiled for each; scorers read rows through [`RowView`], a
//! concrete type, so they are compiled once whatever holds the rows.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::options::MAX_LINKS;
use super::prefetch::prefetch_bytes;

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

/// The ids of a link row that are nodes below `nodes`, in order, into `out`; returns how many.
pub(crate) fn neighbours_below<L: LinkCell>(
    row: &[L],
    nodes: u32,
    out: &mut [u32; MAX_LINKS],
) -> usize {
    let mut count = 0;
    for id in link_ids(row).iter().map(LinkCell::get) {
        if id < nodes && count < MAX_LINKS {
            out[count] = id;
            count += 1;
        }
    }
    count
}

/// The neighbour lists of one-visit blocks: each node's level-0 links below `nodes`. (Topping
/// them up to the block's 32 slots with two-hop neighbours, as SymphonyQG does, was measured not
/// to pay here: `docs/quantization.md`.) The one definition the in-memory pack, the segment
/// writer and `verify` share.
pub(crate) fn block_neighbours<G: GraphView>(
    view: &G,
    nodes: u32,
) -> impl Fn(u32, &mut [u32; MAX_LINKS]) -> usize + Sync + '_ {
    move |node, out| neighbours_below(view.links(0, node), nodes, out)
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

/// `rows` rows of `stride` values each, contiguous, borrowed for `'a`: the vectors or code rows of
/// an index, wherever they live.
///
/// The rows of a growing index are written while searches run (each row once, before the node is
/// published), so the view holds a pointer rather than a `&[T]` over all of them: a row becomes a
/// slice only when it is read, which is after its publication. [`RowView::from_raw`] states that
/// contract; a view over memory that never changes is made safely with [`RowView::from_slice`].
#[derive(Clone, Copy)]
pub(crate) struct RowView<'a, T> {
    ptr: *const T,
    stride: usize,
    rows: usize,
    _borrow: PhantomData<&'a [T]>,
}

// SAFETY: a view only ever reads, and every row it reads is immutable while it is read (the
// contract of `from_raw`); sharing it is sharing `&[T]` of `T: Sync`.
unsafe impl<T: Sync> Send for RowView<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for RowView<'_, T> {}

impl<'a, T> RowView<'a, T> {
    /// A view of `data` as rows of `stride` values (a trailing partial row is not part of it).
    pub(crate) fn from_slice(data: &'a [T], stride: usize) -> Self {
        RowView {
            ptr: data.as_ptr(),
            stride,
            rows: data.len().checked_div(stride).unwrap_or(0),
            _borrow: PhantomData,
        }
    }

    /// A view of `rows × stride` values at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `rows × stride` values of `T` for `'a`, and every row read
    /// through the view must be initialised and not written while the read's slice is alive.
    pub(crate) unsafe fn from_raw(ptr: *const T, stride: usize, rows: usize) -> Self {
        RowView {
            ptr,
            stride,
            rows,
            _borrow: PhantomData,
        }
    }

    /// Values per row.
    #[inline(always)]
    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// Number of rows.
    #[cfg(test)]
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i` is not below [`RowView::rows`] (the algorithms check ids first).
    #[inline(always)]
    pub(crate) fn row(&self, i: u32) -> &'a [T] {
        let i = i as usize;
        assert!(i < self.rows, "row {i} of a view of {} rows", self.rows);
        // SAFETY: `i < rows`, so the row lies inside the `rows × stride` values `ptr` is valid
        // for, and it is initialised and not written while borrowed (the contract of the
        // constructors).
        unsafe { std::slice::from_raw_parts(self.ptr.add(i * self.stride), self.stride) }
    }

    /// Starts fetching row `i` (its first lines; never faults, whatever `i`).
    #[inline(always)]
    pub(crate) fn prefetch(&self, i: u32) {
        let at = self.ptr.wrapping_add(i as usize * self.stride).cast::<u8>();
        prefetch_bytes(at, self.stride * std::mem::size_of::<T>());
    }
}

/// Read access to an index's graph and the rows beside it.
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
    /// The padded f32 vectors, one row per node (`node_bound()` rows).
    fn vectors(&self) -> RowView<'_, f32>;
    /// The code rows of a quantized index, one per node; `None` for an f32 index.
    fn codes(&self) -> Option<RowView<'_, u8>>;
    /// The link row of `node` on `level`: `[count, ids…]`; empty when the node has no such level.
    fn links(&self, level: usize, node: u32) -> &[Self::Link];
    /// Starts fetching `node`'s level-`level` links.
    fn prefetch_links(&self, level: usize, node: u32);
    /// The top level of `node` (0 when it has no upper level).
    fn level(&self, node: u32) -> usize;
    /// The user id of `node`.
    fn label(&self, node: u32) -> u64;
    /// Whether `node` was deleted (it is walked through but never returned).
    fn is_deleted(&self, node: u32) -> bool;
    /// Whether any node is deleted.
    fn has_deletes(&self) -> bool;
    /// The entry point; `None` for an empty graph.
    fn entry(&self) -> Option<EntryPoint>;
}

/// Starts fetching a level-0 link row of `words` `u32`s at `row` (its first and last lines: a
/// row of 33 words spans at most two).
#[inline(always)]
pub(crate) fn prefetch_link_row(row: *const u8, words: usize) {
    super::prefetch::prefetch(row);
    super::prefetch::prefetch(row.wrapping_add(words * 4 - 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_a_slice() {
        let data: Vec<u32> = (0..10).collect();
        let v = RowView::from_slice(&data, 3);
        assert_eq!(v.rows(), 3);
        assert_eq!(v.row(2), &[6, 7, 8]);
        assert_eq!(RowView::<u8>::from_slice(&[], 4).rows(), 0);
        v.prefetch(1_000_000);
    }

    #[test]
    #[should_panic(expected = "row 3 of a view of 3 rows")]
    fn a_row_past_the_end_panics() {
        let data = [0u8; 9];
        RowView::from_slice(&data, 3).row(3);
    }

    #[test]
    fn link_rows_are_clamped() {
        let row = [9u32, 1, 2];
        assert_eq!(link_count(&row), 2);
        assert_eq!(link_ids(&row), &[1, 2]);
        assert!(link_ids::<u32>(&[]).is_empty());
        assert!(bit(&[0b10], 1) && !bit(&[0b10], 0) && !bit(&[0b10], 64));
    }
}
