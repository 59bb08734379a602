//! The fast-scan layout of a 4-bit index: per node, a block holding its level-0 neighbours' ids,
//! their per-vector code parameters and their 4-bit codes in fast-scan batches
//! ([`super::fastscan`]).
//!
//! Visiting a node in the row layout reads one scattered code row per fresh neighbour (8–18 of
//! them on our data); in this layout it reads one block, sequentially, and scores all neighbours
//! 16 at a time. The cost is memory: every node's codes are repeated in the blocks of the nodes
//! that link to it (up to `2·m` times), which `docs/quantization.md` quantifies. The code rows
//! stay (upper levels and the entry point use them), so the blocks come on top.
//!
//! Block of node `u` (fixed stride, a multiple of 64 bytes; `S` = `2·m` rounded up to a batch):
//!
//! | offset | bytes | what |
//! |---|---|---|
//! | 0 | 4 | `count`: neighbours in the block (`u32` LE, at most `S`) |
//! | 4 | 4·S | their node ids (`u32` LE; slots past `count` are 0) |
//! | 4 + 4·S | 4·S each | `p0`, `p1`, `p2` of each neighbour's code row (`f32` LE), three arrays |
//! | `header` = 4 + 16·S rounded up to 64 | `S / 16 · batch_bytes(dim)` | the codes, in batches of 16 |
//!
//! A block is a pure function of the node's neighbour list and the neighbours' code rows
//! ([`pack_block`]); a segment's blocks are checked against exactly that by `verify`. This module
//! knows nothing of graphs: callers hand it the neighbour ids. [`PackedBlocks`] holds the blocks
//! an index built in memory packs, of this layout or of RaBitQ's ([`super::rq`]).

use super::fastscan::{batch_bytes, pack_into_batch, BatchKernels, BATCH};
use super::scorer::BlockScorer;
use super::sq::{code_distance, FastScanPrepared, PARAMS};
use crate::base::options::MAX_LINKS;
use crate::base::prefetch::{prefetch_lines, LINE_BYTES};

/// The sizes of one index's blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockShape {
    /// The vector dimension.
    pub dim: usize,
    /// Neighbour slots per block: `2·m` rounded up to a whole batch.
    pub slots: usize,
    /// Bytes before the codes.
    pub header: usize,
    /// Bytes of one block.
    pub stride: usize,
}

impl BlockShape {
    /// The shape for `dim` dimensions and `m` links per upper-level node (`2·m` at level 0).
    pub(crate) fn new(dim: usize, m: usize) -> Self {
        let slots = (2 * m).next_multiple_of(BATCH);
        let header = (4 + 16 * slots).next_multiple_of(LINE_BYTES);
        BlockShape {
            dim,
            slots,
            header,
            stride: header + slots / BATCH * batch_bytes(dim),
        }
    }

    /// Bytes of the blocks of `nodes` nodes.
    pub(crate) fn bytes(&self, nodes: usize) -> usize {
        self.stride * nodes
    }

    fn ids_at(&self) -> usize {
        4
    }

    fn param_at(&self, which: usize) -> usize {
        4 + 4 * self.slots * (1 + which)
    }

    fn batch_at(&self, batch: usize) -> usize {
        self.header + batch * batch_bytes(self.dim)
    }
}

/// Writes one node's block into `out` (`shape.stride` bytes, zeroed by this call): the
/// `neighbours` (in order; at most `shape.slots` are kept) for which `code(id)` gives a code row
/// (12 bytes of parameters, then the packed 4-bit codes), with their parameters and codes.
pub(crate) fn pack_block<'c>(
    neighbours: &[u32],
    code: impl Fn(u32) -> Option<&'c [u8]>,
    shape: &BlockShape,
    out: &mut [u8],
) {
    out.fill(0);
    let mut count = 0usize;
    for &id in neighbours {
        if count == shape.slots {
            break;
        }
        let Some(row) = code(id).filter(|r| r.len() >= PARAMS + shape.dim.div_ceil(2)) else {
            continue;
        };
        out[shape.ids_at() + 4 * count..][..4].copy_from_slice(&id.to_le_bytes());
        for which in 0..3 {
            let at = shape.param_at(which) + 4 * count;
            out[at..at + 4].copy_from_slice(&row[4 * which..4 * which + 4]);
        }
        let batch = &mut out[shape.batch_at(count / BATCH)..][..batch_bytes(shape.dim)];
        pack_into_batch(&row[PARAMS..], shape.dim, count % BATCH, batch);
        count += 1;
    }
    out[..4].copy_from_slice(&(count as u32).to_le_bytes());
}

/// One cache line of block storage (blocks start on line boundaries, so a batch group's 64-byte
/// load never straddles two lines).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; LINE_BYTES]);

/// The blocks of an index built in memory, packed from a snapshot of its graph.
pub(crate) struct PackedBlocks {
    memory: BlockMemory,
    len: usize,
    /// Nodes packed (the graph's length when it was packed).
    pub nodes: usize,
}

/// Where packed blocks live: huge pages when they are large (the walk reads them in random
/// order), the heap otherwise.
enum BlockMemory {
    Heap(Vec<Line>),
    Huge(memmap2::MmapMut),
}

impl PackedBlocks {
    /// `len` bytes (a multiple of 64) of blocks for `nodes` nodes, written by `fill`, starting on
    /// a cache line.
    pub(crate) fn filled(len: usize, nodes: usize, fill: impl FnOnce(&mut [u8])) -> Self {
        debug_assert!(len.is_multiple_of(LINE_BYTES));
        let memory = match crate::fsutil::huge_zeroed(len) {
            Some(map) => BlockMemory::Huge(map),
            None => BlockMemory::Heap(vec![Line([0; LINE_BYTES]); len.div_ceil(LINE_BYTES)]),
        };
        let mut blocks = PackedBlocks { memory, len, nodes };
        fill(blocks.as_mut());
        blocks
    }

    /// The packed bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.memory {
            // SAFETY: `lines` holds `len` initialised bytes (`len` is a multiple of 64 because
            // the stride is); `Line` is 64 plain bytes without padding.
            BlockMemory::Heap(lines) => unsafe {
                std::slice::from_raw_parts(lines.as_ptr().cast::<u8>(), self.len)
            },
            BlockMemory::Huge(map) => &map[..self.len],
        }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        match &mut self.memory {
            // SAFETY: as in `bytes`, and `&mut self` makes the borrow exclusive.
            BlockMemory::Heap(lines) => unsafe {
                std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<u8>(), self.len)
            },
            BlockMemory::Huge(map) => &mut map[..self.len],
        }
    }
}

/// Borrowed blocks: an index's fast-scan section or its packed blocks.
#[derive(Clone, Copy)]
pub(crate) struct Blocks<'a> {
    pub bytes: &'a [u8],
    pub shape: BlockShape,
}

impl<'a> Blocks<'a> {
    /// The block of `node`; empty past the end.
    #[inline(always)]
    fn block(&self, node: u32) -> &'a [u8] {
        let at = node as usize * self.shape.stride;
        self.bytes.get(at..at + self.shape.stride).unwrap_or(&[])
    }
}

/// Scores a node's neighbours from its block against one 4-bit query, on kernels `K`.
pub(crate) struct Sq4Blocks<'a, K> {
    pub blocks: Blocks<'a>,
    pub query: &'a FastScanPrepared,
    pub kernels: K,
}

#[inline(always)]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<K: BatchKernels> BlockScorer for Sq4Blocks<'_, K> {
    /// Writes `node`'s neighbours and their approximate distances (exactly those the row layout's
    /// scorer gives) into `ids` and `dists`; returns how many.
    #[inline(always)]
    fn score_block(
        &self,
        node: u32,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
    ) -> usize {
        let block = self.blocks.block(node);
        if block.is_empty() {
            return 0;
        }
        let shape = &self.blocks.shape;
        let count = (u32_at(block, 0) as usize).min(shape.slots).min(MAX_LINKS);
        let q = self.query;
        let mut dots = [0i32; BATCH];
        let param =
            |which: usize, s: usize| f32::from_bits(u32_at(block, shape.param_at(which) + 4 * s));
        for b in 0..count.div_ceil(BATCH) {
            let codes = &block[shape.batch_at(b)..][..batch_bytes(shape.dim)];
            self.kernels.dot_batch(&q.query, codes, &mut dots);
            for (j, &dot) in dots.iter().enumerate().take(count - b * BATCH) {
                let s = b * BATCH + j;
                ids[s] = u32_at(block, shape.ids_at() + 4 * s);
                let params = [param(0, s), param(1, s), param(2, s)];
                dists[s] = code_distance(q.c0, q.c1, params, q.scale * dot as f32);
            }
        }
        count
    }

    /// Starts fetching the start of `node`'s block (the header and the first codes; the hardware
    /// prefetcher follows the sequential read from there).
    #[inline(always)]
    fn prefetch_block(&self, node: u32) {
        let block = self.blocks.block(node);
        let lines = (self.blocks.shape.header / LINE_BYTES + 2).min(block.len() / LINE_BYTES);
        prefetch_lines(block.as_ptr(), lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_line_multiples_and_hold_every_link() {
        for (dim, m) in [(1, 2), (8, 8), (256, 16), (784, 16), (100, 64)] {
            let s = BlockShape::new(dim, m);
            assert!(s.slots >= 2 * m && s.slots.is_multiple_of(BATCH));
            assert!(s.header >= 4 + 16 * s.slots && s.header.is_multiple_of(64));
            assert!(s.stride.is_multiple_of(64), "{dim} {m}");
            assert!(s.param_at(2) + 4 * s.slots <= s.header);
        }
    }
}
