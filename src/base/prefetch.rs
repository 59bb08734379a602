//! Software prefetching: the one place that issues the hint and decides how much of a row to ask
//! for.

/// Cache lines of a row prefetched before it is read. Measured (in-process A/B, best of 7
/// passes): on mnist-784 (49 lines a vector) and wordllama-256 (16) 4–8 lines beat 1 line by
/// 3–5% and all lines by 4–8%; more lines than that fill the CPU's miss buffers.
pub(crate) const MAX_PREFETCH_LINES: usize = 8;

/// Bytes of a cache line.
pub(crate) const LINE_BYTES: usize = 64;

/// Hints the CPU to fetch the cache line at `ptr` (never faults, even for a bad address).
#[inline(always)]
pub(crate) fn prefetch(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetch is a hint; it never dereferences architecturally and cannot fault.
        unsafe { _mm_prefetch(ptr.cast::<i8>(), _MM_HINT_T0) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Prefetches `lines` cache lines from `ptr` on. Never faults: the pointer is only offset with
/// wrapping arithmetic and handed to the hint.
#[inline(always)]
pub(crate) fn prefetch_lines(ptr: *const u8, lines: usize) {
    for line in 0..lines {
        prefetch(ptr.wrapping_add(line * LINE_BYTES));
    }
}

/// Prefetches the first `bytes` bytes from `ptr` on, at most [`MAX_PREFETCH_LINES`] lines (the
/// hardware prefetcher follows a sequential read from there).
#[inline(always)]
pub(crate) fn prefetch_bytes(ptr: *const u8, bytes: usize) {
    prefetch_lines(ptr, bytes.div_ceil(LINE_BYTES).min(MAX_PREFETCH_LINES));
}
