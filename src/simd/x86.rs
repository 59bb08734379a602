//! x86_64 helpers the SIMD kernels of every family share: lane masks and horizontal sums.
//!
//! Value-only (no memory access except `mask8`'s read of a static table), so they are safe to
//! call from any function compiled with the features they name.

use core::arch::x86_64::*;

/// The mask selecting the first `k` (`0..=16`) of 16 lanes.
#[inline(always)]
pub(crate) fn mask16(k: usize) -> __mmask16 {
    debug_assert!(k <= 16);
    ((1u32 << k) - 1) as __mmask16
}

/// The mask selecting the first `k` (`0..=64`) of 64 byte lanes.
#[inline(always)]
pub(crate) fn mask64(k: usize) -> __mmask64 {
    debug_assert!(k <= 64);
    if k >= 64 {
        !0
    } else {
        (1u64 << k) - 1
    }
}

/// Eight all-ones lanes followed by eight zero lanes: the eight lanes starting at `8 - rem` are a
/// `_mm256_maskload_ps` mask enabling the first `rem` lanes.
static MASK8: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// The `_mm256_maskload_ps` mask enabling the first `rem` (`0..=8`) lanes.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn mask8(rem: usize) -> __m256i {
    debug_assert!(rem <= 8);
    let start = 8 - rem.min(8);
    let window = &MASK8[start..start + 8];
    // SAFETY: `window` holds exactly 8 `i32`s (32 bytes), the size of one unaligned load.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// The sum of the eight `f32` lanes of `v`.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// The sum of the eight `i32` lanes of `v`, wrapping.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn hsum256_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}
