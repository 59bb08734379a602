//! Write-once, aligned rows: the vector and code storage of a growing index.
//!
//! A row is written exactly once, by the thread that claimed its slot, *before* the node is
//! published (its slot count or a link to it is stored with `Release`); readers reach a row only
//! through such a publication (loaded with `Acquire`), so a write never overlaps a read. That
//! protocol is what makes the `unsafe` below sound, and [`super::storage`] is its only user.

use std::cell::UnsafeCell;

use crate::base::view::RowView;

/// The unit rows are made of: a block of bytes with the alignment every row starts on.
pub(crate) trait Line: Copy + Send + Sync + 'static {
    /// Bytes (and alignment) of one line.
    const BYTES: usize;
    /// A line of zeros.
    const ZERO: Self;
}

/// One cache line; rows of f32 vectors are made of these.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct CacheLine([u8; 64]);

impl Line for CacheLine {
    const BYTES: usize = 64;
    const ZERO: Self = CacheLine([0; 64]);
}

/// 16 bytes; rows of codes are made of these (tighter than cache lines for short rows).
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct Line16([u8; 16]);

impl Line for Line16 {
    const BYTES: usize = 16;
    const ZERO: Self = Line16([0; 16]);
}

/// Floats per cache line.
pub(crate) const LINE_FLOATS: usize = 16;

/// Rows of `lines_per_row` lines each, every row starting on a line boundary.
pub(crate) struct Rows<L: Line> {
    lines: Box<[UnsafeCell<L>]>,
    lines_per_row: usize,
}

// SAFETY: the only mutation is `write_row_bytes`, whose contract (exclusive slot, written before
// the node is published with Release/Acquire) rules out a write racing with any read of that row.
unsafe impl<L: Line> Sync for Rows<L> {}

impl<L: Line> Rows<L> {
    /// `capacity` zeroed rows of at least `row_bytes` bytes each (rounded up to whole lines).
    pub(crate) fn zeroed(capacity: usize, row_bytes: usize) -> Self {
        let lines_per_row = row_bytes.div_ceil(L::BYTES).max(1);
        let lines = (0..capacity * lines_per_row)
            .map(|_| UnsafeCell::new(L::ZERO))
            .collect();
        Rows {
            lines,
            lines_per_row,
        }
    }

    /// Bytes per row.
    pub(crate) fn row_bytes(&self) -> usize {
        self.lines_per_row * L::BYTES
    }

    /// Number of rows.
    pub(crate) fn capacity(&self) -> usize {
        self.lines.len() / self.lines_per_row
    }

    /// The lines of row `i` (panics when out of bounds).
    #[inline(always)]
    fn lines_of(&self, i: usize) -> &[UnsafeCell<L>] {
        &self.lines[i * self.lines_per_row..(i + 1) * self.lines_per_row]
    }

    /// Row `i` as bytes.
    ///
    /// # Panics
    /// When `i >= capacity()`.
    #[inline(always)]
    pub(crate) fn bytes(&self, i: usize) -> &[u8] {
        let lines = self.lines_of(i);
        // SAFETY: `lines` is in bounds (checked by the indexing in `lines_of`); `UnsafeCell<L>`
        // has the layout of `L`, a `repr(C)` byte array with no padding, so the lines form
        // `row_bytes()` contiguous initialised bytes. No write to this row overlaps (module
        // contract).
        unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<u8>(), self.row_bytes()) }
    }

    /// Every row as one borrowed view of bytes (`row_bytes()` per row).
    pub(crate) fn byte_view(&self) -> RowView<'_, u8> {
        // SAFETY: the lines are `capacity · row_bytes` contiguous bytes (`UnsafeCell<L>` has the
        // layout of `L`, a `repr(C)` byte array without padding), valid while `self` is borrowed;
        // a row is read through the view only once its node is published, after its one write
        // (module contract), so no read overlaps a write.
        unsafe {
            RowView::from_raw(
                self.lines.as_ptr().cast::<u8>(),
                self.row_bytes(),
                self.capacity(),
            )
        }
    }

    /// Writes row `i`: `src`, then zeros to the end of the row.
    ///
    /// # Safety
    /// The caller owns slot `i` exclusively (no other thread writes it) and no thread reads row `i`
    /// until the caller publishes the node with a `Release` store that the reader `Acquire`s.
    ///
    /// # Panics
    /// When `i >= capacity()` or `src.len() > row_bytes()`.
    pub(crate) unsafe fn write_row_bytes(&self, i: usize, src: &[u8]) {
        assert!(src.len() <= self.row_bytes());
        let lines = self.lines_of(i);
        // SAFETY: in bounds as above; exclusive access to this row per the caller's contract, so
        // a unique slice over it is sound.
        let dst = unsafe {
            std::slice::from_raw_parts_mut(lines[0].get().cast::<u8>(), self.row_bytes())
        };
        dst[..src.len()].copy_from_slice(src);
        dst[src.len()..].fill(0);
    }

    /// A copy with room for `capacity` rows, holding the first `len` rows of `self`.
    pub(crate) fn grown(&self, capacity: usize, len: usize) -> Rows<L> {
        let new = Rows::zeroed(capacity, self.row_bytes());
        for i in 0..len.min(self.capacity()) {
            // SAFETY: `new` is not shared yet, so this thread owns every row of it.
            unsafe { new.write_row_bytes(i, self.bytes(i)) };
        }
        new
    }

    /// Bytes allocated.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.lines.len() * L::BYTES
    }
}

impl Rows<CacheLine> {
    /// Floats per row.
    pub(crate) fn stride(&self) -> usize {
        self.row_bytes() / 4
    }

    /// Every row as one borrowed view of floats (`stride()` per row).
    pub(crate) fn float_view(&self) -> RowView<'_, f32> {
        // SAFETY: as in `byte_view`; the rows start on 64-byte boundaries (aligned for f32), hold
        // a multiple of 4 bytes, and every bit pattern is a valid f32.
        unsafe {
            RowView::from_raw(
                self.lines.as_ptr().cast::<f32>(),
                self.stride(),
                self.capacity(),
            )
        }
    }

    /// Row `i` as floats.
    ///
    /// # Panics
    /// When `i >= capacity()`.
    #[cfg(test)]
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        let bytes = self.bytes(i);
        // SAFETY: the row starts on a 64-byte boundary (so is aligned for f32), its length is a
        // multiple of 64 bytes, and every bit pattern is a valid f32.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), bytes.len() / 4) }
    }

    /// Writes row `i` from floats: `src`, then zeros.
    ///
    /// # Safety
    /// As [`Rows::write_row_bytes`].
    pub(crate) unsafe fn write_row(&self, i: usize, src: &[f32]) {
        // SAFETY: any f32 slice is a valid byte slice of 4× its length.
        let bytes = unsafe { std::slice::from_raw_parts(src.as_ptr().cast::<u8>(), src.len() * 4) };
        // SAFETY: forwarded from the caller.
        unsafe { self.write_row_bytes(i, bytes) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_aligned_padded_and_copied_on_growth() {
        let rows: Rows<CacheLine> = Rows::zeroed(3, 32 * 4);
        // SAFETY: single-threaded test, nothing else reads.
        unsafe { rows.write_row(1, &[1.0, 2.0, 3.0]) };
        assert_eq!(&rows.row(1)[..4], &[1.0, 2.0, 3.0, 0.0]);
        assert_eq!(rows.row(1).len(), 32);
        assert_eq!(rows.row(2).as_ptr() as usize % 64, 0);
        let bigger = rows.grown(10, 2);
        assert_eq!(bigger.capacity(), 10);
        assert_eq!(&bigger.row(1)[..3], &[1.0, 2.0, 3.0]);
    }

    #[test]
    fn byte_rows_round_up_to_lines() {
        let rows: Rows<Line16> = Rows::zeroed(4, 20);
        assert_eq!(rows.row_bytes(), 32);
        // SAFETY: single-threaded test.
        unsafe { rows.write_row_bytes(3, &[7; 20]) };
        assert_eq!(
            &rows.bytes(3)[..21],
            &[[7u8; 20].as_slice(), &[0]].concat()[..]
        );
        assert_eq!(rows.bytes(3).as_ptr() as usize % 16, 0);
        assert_eq!(rows.grown(8, 4).bytes(3)[19], 7);
    }
}
