//! The graph and vectors of one index, laid out as the segment file will hold them.
//!
//! * vectors: fixed-stride rows (padded with zeros to a multiple of 16 floats, 64-byte aligned);
//! * level 0: fixed-width link rows `[count, id₀ … id_{2M−1}]` of `u32`;
//! * upper levels: per node, `level` rows of `[count, id₀ … id_{M−1}]`;
//! * labels (user ids) and levels, one per slot.
//!
//! Links are atomics so that inserts can run while other threads search: a writer stores ids
//! then the count with `Release`, a reader loads with `Acquire` (plain moves on x86). A reader
//! may see a list in the middle of a rewrite — a mix of old and new ids — but every id it can see
//! is a node whose vector was written before the id was published.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use super::rows::{CacheLine, Line16, Rows, LINE_FLOATS};
use crate::base::view::{atomic_bit, prefetch_link_row, EntryPoint, GraphView, RowView};

const NO_ENTRY: u64 = u64::MAX;

pub(crate) struct Storage {
    pub dim: usize,
    pub m: usize,
    pub m0: usize,
    rows: Rows<CacheLine>,
    /// Quantized codes, one fixed-width row per node (quantized indexes only).
    codes: Option<Rows<Line16>>,
    labels: Box<[AtomicU64]>,
    levels: Box<[AtomicU8]>,
    level0: Box<[AtomicU32]>,
    upper: Box<[OnceLock<Box<[AtomicU32]>>]>,
    locks: Box<[Mutex<()>]>,
    /// Deleted slots, one bit each: walked through, never returned.
    deleted: Box<[AtomicU64]>,
    /// Number of deleted slots.
    deleted_count: AtomicUsize,
    /// Slots whose vector, label and level are written.
    len: AtomicUsize,
    entry: AtomicU64,
}

fn atomics_u32(n: usize) -> Box<[AtomicU32]> {
    (0..n).map(|_| AtomicU32::new(0)).collect()
}

impl Storage {
    /// Empty storage for `capacity` nodes; `code_bytes` is the width of a code row, 0 for none.
    pub(crate) fn new(dim: usize, m: usize, code_bytes: usize, capacity: usize) -> Self {
        let stride = dim.div_ceil(LINE_FLOATS) * LINE_FLOATS;
        Storage::with_rows(
            dim,
            m,
            Rows::zeroed(capacity, stride * 4),
            (code_bytes > 0).then(|| Rows::zeroed(capacity, code_bytes)),
        )
    }

    /// Storage around vector and code rows (their capacity is the storage's), links empty.
    fn with_rows(dim: usize, m: usize, rows: Rows<CacheLine>, codes: Option<Rows<Line16>>) -> Self {
        let capacity = rows.capacity();
        let m0 = 2 * m;
        Storage {
            dim,
            m,
            m0,
            rows,
            codes,
            labels: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            levels: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            level0: atomics_u32(capacity * (1 + m0)),
            upper: (0..capacity).map(|_| OnceLock::new()).collect(),
            locks: (0..capacity).map(|_| Mutex::new(())).collect(),
            deleted: (0..capacity.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            deleted_count: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            entry: AtomicU64::new(NO_ENTRY),
        }
    }

    /// A copy with room for `capacity` nodes. The caller must hold the index's writer lock, so
    /// nothing changes `self` while it is copied.
    pub(crate) fn grown(&self, capacity: usize) -> Self {
        let len = self.len();
        let new = Storage::with_rows(
            self.dim,
            self.m,
            self.rows.grown(capacity, len),
            self.codes.as_ref().map(|c| c.grown(capacity, len)),
        );
        let w0 = 1 + self.m0;
        for i in 0..len {
            new.labels[i].store(self.labels[i].load(Ordering::Relaxed), Ordering::Relaxed);
            new.levels[i].store(self.levels[i].load(Ordering::Relaxed), Ordering::Relaxed);
            for j in 0..w0 {
                new.level0[i * w0 + j].store(
                    self.level0[i * w0 + j].load(Ordering::Acquire),
                    Ordering::Relaxed,
                );
            }
            if let Some(up) = self.upper[i].get() {
                let copy: Box<[AtomicU32]> = up
                    .iter()
                    .map(|a| AtomicU32::new(a.load(Ordering::Acquire)))
                    .collect();
                let _ = new.upper[i].set(copy);
            }
        }
        for (to, from) in new.deleted.iter().zip(self.deleted.iter()) {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        new.deleted_count
            .store(self.deleted_count(), Ordering::Relaxed);
        new.len.store(len, Ordering::Release);
        new.entry
            .store(self.entry.load(Ordering::Acquire), Ordering::Release);
        new
    }

    #[inline(always)]
    pub(crate) fn capacity(&self) -> usize {
        self.labels.len()
    }

    /// Bytes of the code rows, vector rows and links (allocated capacity included).
    pub(crate) fn memory(&self) -> (usize, usize, usize) {
        (
            self.codes.as_ref().map_or(0, |c| c.allocated_bytes()),
            self.rows.allocated_bytes(),
            self.graph_bytes(),
        )
    }

    /// Maximum links on `level`.
    #[inline(always)]
    pub(crate) fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            self.m0
        } else {
            self.m
        }
    }

    pub(crate) fn lock(&self, node: u32) -> parking_lot::MutexGuard<'_, ()> {
        self.locks[node as usize].lock()
    }

    /// Writes slot `slot`: its vector (already validated, normalised, `dim` long), label and level.
    /// Does not publish it: call [`Storage::publish_len`] once a run of slots is written.
    ///
    /// The caller holds the index's writer lock, so it owns every slot at or past `len()`.
    pub(crate) fn write_slot(
        &self,
        slot: usize,
        vector: &[f32],
        code: Option<&[u8]>,
        label: u64,
        level: usize,
    ) {
        debug_assert!(slot >= self.len() && slot < self.capacity());
        // SAFETY: slots at or past `len()` are owned by the single writer (the caller holds the
        // writer lock) and no reader looks at them until `publish_len` stores the new length
        // with Release.
        unsafe { self.rows.write_row(slot, vector) };
        if let (Some(codes), Some(code)) = (&self.codes, code) {
            // SAFETY: as above.
            unsafe { codes.write_row_bytes(slot, code) };
        }
        self.labels[slot].store(label, Ordering::Relaxed);
        self.levels[slot].store(level as u8, Ordering::Relaxed);
        if level > 0 {
            let _ = self.upper[slot].set(atomics_u32(level * (1 + self.m)));
        }
    }

    /// Marks `slot` deleted; returns `false` when it already was.
    pub(crate) fn delete(&self, slot: u32) -> bool {
        let bit = 1u64 << (slot % 64);
        let old = self.deleted[slot as usize / 64].fetch_or(bit, Ordering::Relaxed);
        let fresh = old & bit == 0;
        if fresh {
            self.deleted_count.fetch_add(1, Ordering::Relaxed);
        }
        fresh
    }

    /// The deletion bitmap, as words (bit `i % 64` of word `i / 64` for slot `i`).
    pub(crate) fn deleted_words(&self) -> &[AtomicU64] {
        &self.deleted
    }

    /// Number of deleted slots.
    pub(crate) fn deleted_count(&self) -> usize {
        self.deleted_count.load(Ordering::Relaxed)
    }

    pub(crate) fn publish_len(&self, len: usize) {
        self.len.store(len, Ordering::Release);
    }

    pub(crate) fn set_entry(&self, entry: EntryPoint) {
        self.entry.store(
            ((entry.level as u64) << 32) | entry.node as u64,
            Ordering::Release,
        );
    }

    /// Replaces a link list: ids first, then the count.
    pub(crate) fn write_links(&self, row: &[AtomicU32], ids: impl ExactSizeIterator<Item = u32>) {
        let n = ids.len();
        debug_assert!(n < row.len());
        for (slot, id) in row[1..].iter().zip(ids) {
            slot.store(id, Ordering::Release);
        }
        row[0].store(n as u32, Ordering::Release);
    }

    /// Bytes of the links (level 0 and upper levels) and per-node bookkeeping (labels, levels,
    /// locks), allocated capacity included.
    fn graph_bytes(&self) -> usize {
        let upper: usize = (0..self.len())
            .filter_map(|i| self.upper[i].get())
            .map(|u| u.len() * 4)
            .sum();
        self.level0.len() * 4
            + upper
            + self.upper.len() * std::mem::size_of::<OnceLock<Box<[AtomicU32]>>>()
            + self.labels.len() * 8
            + self.levels.len()
            + self.locks.len() * std::mem::size_of::<Mutex<()>>()
    }
}

impl GraphView for Storage {
    type Link = AtomicU32;

    /// Slots written so far (nodes may still be linking).
    #[inline(always)]
    fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    #[inline(always)]
    fn node_bound(&self) -> usize {
        self.capacity()
    }

    #[inline(always)]
    fn m(&self) -> usize {
        self.m
    }

    /// The padded vectors (stride a multiple of 16 floats), one row per slot.
    #[inline(always)]
    fn vectors(&self) -> RowView<'_, f32> {
        self.rows.float_view()
    }

    /// The code rows of a quantized index.
    #[inline(always)]
    fn codes(&self) -> Option<RowView<'_, u8>> {
        self.codes.as_ref().map(Rows::byte_view)
    }

    /// The link row of `node` on `level`: `[count, ids…]`. Empty when the node has no such level.
    #[inline(always)]
    fn links(&self, level: usize, node: u32) -> &[AtomicU32] {
        if level == 0 {
            let w = 1 + self.m0;
            &self.level0[node as usize * w..(node as usize + 1) * w]
        } else {
            let w = 1 + self.m;
            match self.upper[node as usize].get() {
                Some(up) if up.len() >= level * w => &up[(level - 1) * w..level * w],
                _ => &[],
            }
        }
    }

    /// Starts fetching the level-`level` link row of `node` (level 0 only; upper levels are few).
    #[inline(always)]
    fn prefetch_links(&self, level: usize, node: u32) {
        if level == 0 {
            let w = 1 + self.m0;
            let row = self.level0.as_ptr().wrapping_add(node as usize * w);
            prefetch_link_row(row.cast::<u8>(), w);
        }
    }

    fn level(&self, node: u32) -> usize {
        self.levels[node as usize].load(Ordering::Relaxed) as usize
    }

    #[inline(always)]
    fn label(&self, node: u32) -> u64 {
        self.labels[node as usize].load(Ordering::Relaxed)
    }

    #[inline(always)]
    fn is_deleted(&self, node: u32) -> bool {
        atomic_bit(&self.deleted, node)
    }

    fn has_deletes(&self) -> bool {
        self.deleted_count() > 0
    }

    fn entry(&self) -> Option<EntryPoint> {
        let e = self.entry.load(Ordering::Acquire);
        (e != NO_ENTRY).then_some(EntryPoint {
            node: e as u32,
            level: (e >> 32) as usize,
        })
    }
}
