//! Write-once, 64-byte aligned rows of `f32`: the vector storage of a growing index.
//!
//! A row is written exactly once, by the thread that claimed its slot, *before* the node is
//! published (its slot count or a link to it is stored with `Release`); readers reach a row only
//! through such a publication (loaded with `Acquire`), so a write never overlaps a read. That
//! protocol is what makes the `unsafe` below sound, and [`super::storage`] is its only user.

use std::cell::UnsafeCell;

/// One cache line of 16 floats.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// Floats per line.
pub(crate) const LINE_FLOATS: usize = 16;

/// Rows of `stride` floats, `stride` a multiple of 16, each starting on a cache line.
pub(crate) struct Rows {
    lines: Box<[UnsafeCell<Line>]>,
    stride: usize,
}

// SAFETY: the only mutation is `write_row`, whose contract (exclusive slot, written before the
// node is published with Release/Acquire) rules out a write racing with any read of that row.
unsafe impl Sync for Rows {}

impl Rows {
    /// `capacity` zeroed rows of `stride` floats (`stride % 16 == 0`).
    pub(crate) fn zeroed(capacity: usize, stride: usize) -> Self {
        debug_assert!(stride.is_multiple_of(LINE_FLOATS) && stride > 0);
        let lines = (0..capacity * (stride / LINE_FLOATS))
            .map(|_| UnsafeCell::new(Line([0.0; LINE_FLOATS])))
            .collect();
        Rows { lines, stride }
    }

    /// Floats per row.
    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// Number of rows.
    pub(crate) fn capacity(&self) -> usize {
        self.lines.len() / (self.stride / LINE_FLOATS)
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i >= capacity()`.
    #[inline(always)]
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        let lines_per_row = self.stride / LINE_FLOATS;
        let lines = &self.lines[i * lines_per_row..(i + 1) * lines_per_row];
        // SAFETY: `lines` is in bounds (checked by the indexing above) and `UnsafeCell<Line>` has
        // the layout of `Line`, i.e. 16 contiguous f32 with no padding, so the lines form
        // `stride` contiguous floats. No write to this row overlaps (see the module contract).
        unsafe { std::slice::from_raw_parts(lines.as_ptr() as *const f32, self.stride) }
    }

    /// A pointer to row `i`, for prefetching only (never dereferenced).
    #[inline(always)]
    pub(crate) fn row_ptr(&self, i: usize) -> *const f32 {
        let lines_per_row = self.stride / LINE_FLOATS;
        self.lines
            .as_ptr()
            .wrapping_add(i * lines_per_row)
            .cast::<f32>()
    }

    /// Writes row `i`: `src` then zeros up to the stride.
    ///
    /// # Safety
    /// The caller owns slot `i` exclusively (no other thread writes it) and no thread reads row `i`
    /// until the caller publishes the node with a `Release` store that the reader `Acquire`s.
    ///
    /// # Panics
    /// When `i >= capacity()` or `src.len() > stride`.
    pub(crate) unsafe fn write_row(&self, i: usize, src: &[f32]) {
        assert!(src.len() <= self.stride);
        let lines_per_row = self.stride / LINE_FLOATS;
        let lines = &self.lines[i * lines_per_row..(i + 1) * lines_per_row];
        // SAFETY: in bounds as above; exclusive access to this row per the caller's contract, so
        // creating a unique slice over it is sound.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(lines[0].get() as *mut f32, self.stride) };
        dst[..src.len()].copy_from_slice(src);
        dst[src.len()..].fill(0.0);
    }

    /// A copy with room for `capacity` rows, holding the first `len` rows of `self`.
    pub(crate) fn grown(&self, capacity: usize, len: usize) -> Rows {
        let new = Rows::zeroed(capacity, self.stride);
        for i in 0..len.min(self.capacity()) {
            // SAFETY: `new` is not shared yet, so this thread owns every row of it.
            unsafe { new.write_row(i, self.row(i)) };
        }
        new
    }

    /// Bytes allocated.
    pub(crate) fn bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<Line>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_aligned_padded_and_copied_on_growth() {
        let rows = Rows::zeroed(3, 32);
        // SAFETY: single-threaded test, nothing else reads.
        unsafe { rows.write_row(1, &[1.0, 2.0, 3.0]) };
        assert_eq!(&rows.row(1)[..4], &[1.0, 2.0, 3.0, 0.0]);
        assert_eq!(rows.row(1).len(), 32);
        assert_eq!(rows.row(2).as_ptr() as usize % 64, 0);
        let bigger = rows.grown(10, 2);
        assert_eq!(bigger.capacity(), 10);
        assert_eq!(&bigger.row(1)[..3], &[1.0, 2.0, 3.0]);
    }
}
