//! x86_64 SIMD kernels: AVX-512F (16 lanes) and AVX2 + FMA (8 lanes).
//!
//! All `unsafe` code of the distance module lives here. Each instruction set has
//!
//! - raw kernels (`unsafe fn`, `#[target_feature]`) over a pointer pair and a length: four
//!   independent accumulators hide the FMA latency, a one-vector loop handles the rest of the full
//!   vectors, and a masked load handles the last `len % lanes` elements, so no element is ever
//!   read past the end;
//! - safe wrappers with the [`DistanceFn`](super::DistanceFn) signature that read
//!   `min(a.len(), b.len())` elements. They are private: the only way to obtain them is
//!   [`avx512`] / [`avx2`], which return them only after checking the CPU at run time. That check
//!   is the whole safety argument for calling a `#[target_feature]` function from them.
//!
//! The AVX-512 intrinsics are stable since Rust 1.89 (and calling value-only intrinsics without
//! `unsafe` inside `#[target_feature]` functions since 1.87), so this module needs Rust ≥ 1.89,
//! the crate's `rust-version`.

use core::arch::x86_64::*;

use super::Kernels;

/// The AVX-512F kernels, if this CPU has AVX-512F.
pub(super) fn avx512() -> Option<Kernels> {
    is_x86_feature_detected!("avx512f").then_some(Kernels {
        name: "avx512f",
        l2_squared: l2_squared_avx512,
        dot: dot_avx512,
        ip_distance: ip_distance_avx512,
    })
}

/// The AVX2 + FMA kernels, if this CPU has both.
pub(super) fn avx2() -> Option<Kernels> {
    (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Kernels {
        name: "avx2+fma",
        l2_squared: l2_squared_avx2,
        dot: dot_avx2,
        ip_distance: ip_distance_avx2,
    })
}

// ---------------------------------------------------------------------------------------------
// Safe wrappers. Reachable only through `avx512()` / `avx2()` above (they are private and never
// coerced to a pointer anywhere else), so the CPU feature they need has been detected.
// ---------------------------------------------------------------------------------------------

fn l2_squared_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: only handed out by `avx512()` after AVX-512F was detected; `n` is at most the length
    // of either slice, so the kernel reads in bounds.
    unsafe { l2_squared_avx512_raw(a.as_ptr(), b.as_ptr(), n) }
}

fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: as in `l2_squared_avx512`.
    unsafe { dot_avx512_raw(a.as_ptr(), b.as_ptr(), n) }
}

fn ip_distance_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: as in `l2_squared_avx512`.
    unsafe { ip_distance_avx512_raw(a.as_ptr(), b.as_ptr(), n) }
}

fn l2_squared_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: only handed out by `avx2()` after AVX2 and FMA were detected; `n` is at most the
    // length of either slice, so the kernel reads in bounds.
    unsafe { l2_squared_avx2_raw(a.as_ptr(), b.as_ptr(), n) }
}

fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: as in `l2_squared_avx2`.
    unsafe { dot_avx2_raw(a.as_ptr(), b.as_ptr(), n) }
}

fn ip_distance_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: as in `l2_squared_avx2`.
    unsafe { ip_distance_avx2_raw(a.as_ptr(), b.as_ptr(), n) }
}

// ---------------------------------------------------------------------------------------------
// AVX-512F
// ---------------------------------------------------------------------------------------------

/// The mask selecting the first `rem` of 16 lanes.
#[inline(always)]
fn mask16(rem: usize) -> __mmask16 {
    debug_assert!(rem < 16);
    ((1u32 << rem) - 1) as __mmask16
}

/// `Σ (aᵢ − bᵢ)²` over `n` elements.
///
/// # Safety
/// The CPU must support AVX-512F, and `a` and `b` must each be valid for reads of `n` `f32`s.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn l2_squared_avx512_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: `i + 64 <= n`, so every load below stays inside the `n` readable elements.
        unsafe {
            let d0 = _mm512_sub_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)));
            let d1 = _mm512_sub_ps(
                _mm512_loadu_ps(a.add(i + 16)),
                _mm512_loadu_ps(b.add(i + 16)),
            );
            let d2 = _mm512_sub_ps(
                _mm512_loadu_ps(a.add(i + 32)),
                _mm512_loadu_ps(b.add(i + 32)),
            );
            let d3 = _mm512_sub_ps(
                _mm512_loadu_ps(a.add(i + 48)),
                _mm512_loadu_ps(b.add(i + 48)),
            );
            acc0 = _mm512_fmadd_ps(d0, d0, acc0);
            acc1 = _mm512_fmadd_ps(d1, d1, acc1);
            acc2 = _mm512_fmadd_ps(d2, d2, acc2);
            acc3 = _mm512_fmadd_ps(d3, d3, acc3);
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n`.
        unsafe {
            let d = _mm512_sub_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)));
            acc0 = _mm512_fmadd_ps(d, d, acc0);
        }
        i += 16;
    }
    if i < n {
        let m = mask16(n - i);
        // SAFETY: `a.add(i)` and `b.add(i)` are in bounds (`i < n`); the mask enables only the
        // `n - i` lanes that are readable, and masked-off lanes are neither read nor fault.
        unsafe {
            let d = _mm512_sub_ps(
                _mm512_maskz_loadu_ps(m, a.add(i)),
                _mm512_maskz_loadu_ps(m, b.add(i)),
            );
            acc1 = _mm512_fmadd_ps(d, d, acc1);
        }
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc0, acc1),
        _mm512_add_ps(acc2, acc3),
    ))
}

/// `Σ aᵢ·bᵢ` over `n` elements.
///
/// # Safety
/// The CPU must support AVX-512F, and `a` and `b` must each be valid for reads of `n` `f32`s.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dot_avx512_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: `i + 64 <= n`, so every load below stays inside the `n` readable elements.
        unsafe {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), acc0);
            acc1 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.add(i + 16)),
                _mm512_loadu_ps(b.add(i + 16)),
                acc1,
            );
            acc2 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.add(i + 32)),
                _mm512_loadu_ps(b.add(i + 32)),
                acc2,
            );
            acc3 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.add(i + 48)),
                _mm512_loadu_ps(b.add(i + 48)),
                acc3,
            );
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n`.
        unsafe {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), acc0);
        }
        i += 16;
    }
    if i < n {
        let m = mask16(n - i);
        // SAFETY: `a.add(i)` and `b.add(i)` are in bounds (`i < n`); the mask enables only the
        // `n - i` lanes that are readable, and masked-off lanes are neither read nor fault.
        unsafe {
            acc1 = _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(m, a.add(i)),
                _mm512_maskz_loadu_ps(m, b.add(i)),
                acc1,
            );
        }
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc0, acc1),
        _mm512_add_ps(acc2, acc3),
    ))
}

/// `1 − Σ aᵢ·bᵢ` over `n` elements.
///
/// # Safety
/// As [`dot_avx512_raw`].
#[target_feature(enable = "avx512f")]
unsafe fn ip_distance_avx512_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: the caller upholds `dot_avx512_raw`'s contract, which is this function's.
    1.0 - unsafe { dot_avx512_raw(a, b, n) }
}

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA
// ---------------------------------------------------------------------------------------------

/// Eight all-ones lanes followed by eight zero lanes: the eight lanes starting at `8 - rem` are a
/// `_mm256_maskload_ps` mask enabling the first `rem` lanes.
static MASK8: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// The `_mm256_maskload_ps` mask enabling the first `rem` (`0..=8`) lanes (shared with `quant::kernels`).
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn mask8(rem: usize) -> __m256i {
    debug_assert!(rem <= 8);
    let start = 8 - rem.min(8);
    let window = &MASK8[start..start + 8];
    // SAFETY: `window` holds exactly 8 `i32`s (32 bytes), the size of one unaligned load.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// The sum of the eight lanes of `v`.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// `Σ (aᵢ − bᵢ)²` over `n` elements.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `a` and `b` must each be valid for reads of `n` `f32`s.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn l2_squared_avx2_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: `i + 32 <= n`, so every load below stays inside the `n` readable elements.
        unsafe {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)));
            let d1 = _mm256_sub_ps(_mm256_loadu_ps(a.add(i + 8)), _mm256_loadu_ps(b.add(i + 8)));
            let d2 = _mm256_sub_ps(
                _mm256_loadu_ps(a.add(i + 16)),
                _mm256_loadu_ps(b.add(i + 16)),
            );
            let d3 = _mm256_sub_ps(
                _mm256_loadu_ps(a.add(i + 24)),
                _mm256_loadu_ps(b.add(i + 24)),
            );
            acc0 = _mm256_fmadd_ps(d0, d0, acc0);
            acc1 = _mm256_fmadd_ps(d1, d1, acc1);
            acc2 = _mm256_fmadd_ps(d2, d2, acc2);
            acc3 = _mm256_fmadd_ps(d3, d3, acc3);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`.
        unsafe {
            let d = _mm256_sub_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)));
            acc0 = _mm256_fmadd_ps(d, d, acc0);
        }
        i += 8;
    }
    if i < n {
        let m = mask8(n - i);
        // SAFETY: `a.add(i)` and `b.add(i)` are in bounds (`i < n`); the mask enables only the
        // `n - i` lanes that are readable, and masked-off lanes are neither read nor fault.
        unsafe {
            let d = _mm256_sub_ps(
                _mm256_maskload_ps(a.add(i), m),
                _mm256_maskload_ps(b.add(i), m),
            );
            acc1 = _mm256_fmadd_ps(d, d, acc1);
        }
    }
    hsum256(_mm256_add_ps(
        _mm256_add_ps(acc0, acc1),
        _mm256_add_ps(acc2, acc3),
    ))
}

/// `Σ aᵢ·bᵢ` over `n` elements.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `a` and `b` must each be valid for reads of `n` `f32`s.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_avx2_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: `i + 32 <= n`, so every load below stays inside the `n` readable elements.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 8)),
                _mm256_loadu_ps(b.add(i + 8)),
                acc1,
            );
            acc2 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 16)),
                _mm256_loadu_ps(b.add(i + 16)),
                acc2,
            );
            acc3 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 24)),
                _mm256_loadu_ps(b.add(i + 24)),
                acc3,
            );
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc0);
        }
        i += 8;
    }
    if i < n {
        let m = mask8(n - i);
        // SAFETY: `a.add(i)` and `b.add(i)` are in bounds (`i < n`); the mask enables only the
        // `n - i` lanes that are readable, and masked-off lanes are neither read nor fault.
        unsafe {
            acc1 = _mm256_fmadd_ps(
                _mm256_maskload_ps(a.add(i), m),
                _mm256_maskload_ps(b.add(i), m),
                acc1,
            );
        }
    }
    hsum256(_mm256_add_ps(
        _mm256_add_ps(acc0, acc1),
        _mm256_add_ps(acc2, acc3),
    ))
}

/// `1 − Σ aᵢ·bᵢ` over `n` elements.
///
/// # Safety
/// As [`dot_avx2_raw`].
#[target_feature(enable = "avx2,fma")]
unsafe fn ip_distance_avx2_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: the caller upholds `dot_avx2_raw`'s contract, which is this function's.
    1.0 - unsafe { dot_avx2_raw(a, b, n) }
}
