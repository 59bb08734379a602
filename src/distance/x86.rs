//! x86_64 SIMD kernels for f32 vectors: AVX-512F (16 lanes) and AVX2 + FMA (8 lanes).
//!
//! All `unsafe` code of the distance module lives here. Each kernel is an `unsafe fn` with
//! `#[target_feature]` over a pointer pair and a length, written on the shared skeleton
//! [`unrolled_sum`] (four accumulators, one-vector steps, a masked tail: no element is ever read
//! past the end). They are reached only through the [`super::FloatKernels`] impls of the level
//! types, whose values prove the CPU has the features (see [`crate::simd`]).
//!
//! The AVX-512 intrinsics are stable since Rust 1.89 (and calling value-only intrinsics without
//! `unsafe` inside `#[target_feature]` functions since 1.87), so this module needs Rust ≥ 1.89,
//! the crate's `rust-version`.

use core::arch::x86_64::*;

use crate::simd::unrolled_sum;
use crate::simd::x86::{hsum256, mask16, mask8};

/// `Σ (aᵢ − bᵢ)²` over `n` elements.
///
/// # Safety
/// The CPU must support AVX-512F, and `a` and `b` must each be valid for reads of `n` `f32`s.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn l2_squared_avx512(a: *const f32, b: *const f32, n: usize) -> f32 {
    let acc = unrolled_sum(
        n,
        16,
        _mm512_setzero_ps(),
        // SAFETY: the skeleton calls `step` with `i + 16 <= n`: both loads are in bounds.
        |acc, i| unsafe {
            let d = _mm512_sub_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)));
            _mm512_fmadd_ps(d, d, acc)
        },
        // SAFETY: `i < n`, and the mask enables only the `rem = n - i` readable lanes;
        // masked-off lanes are neither read nor fault.
        |acc, i, rem| unsafe {
            let m = mask16(rem);
            let d = _mm512_sub_ps(
                _mm512_maskz_loadu_ps(m, a.add(i)),
                _mm512_maskz_loadu_ps(m, b.add(i)),
            );
            _mm512_fmadd_ps(d, d, acc)
        },
        |x, y| _mm512_add_ps(x, y),
    );
    _mm512_reduce_add_ps(acc)
}

/// `Σ aᵢ·bᵢ` over `n` elements.
///
/// # Safety
/// The CPU must support AVX-512F, and `a` and `b` must each be valid for reads of `n` `f32`s.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn dot_avx512(a: *const f32, b: *const f32, n: usize) -> f32 {
    let acc = unrolled_sum(
        n,
        16,
        _mm512_setzero_ps(),
        // SAFETY: the skeleton calls `step` with `i + 16 <= n`: both loads are in bounds.
        |acc, i| unsafe {
            _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), acc)
        },
        // SAFETY: `i < n`, and the mask enables only the `rem = n - i` readable lanes.
        |acc, i, rem| unsafe {
            let m = mask16(rem);
            _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(m, a.add(i)),
                _mm512_maskz_loadu_ps(m, b.add(i)),
                acc,
            )
        },
        |x, y| _mm512_add_ps(x, y),
    );
    _mm512_reduce_add_ps(acc)
}

/// `Σ (aᵢ − bᵢ)²` over `n` elements.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `a` and `b` must each be valid for reads of `n` `f32`s.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn l2_squared_avx2(a: *const f32, b: *const f32, n: usize) -> f32 {
    let acc = unrolled_sum(
        n,
        8,
        _mm256_setzero_ps(),
        // SAFETY: the skeleton calls `step` with `i + 8 <= n`: both loads are in bounds.
        |acc, i| unsafe {
            let d = _mm256_sub_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)));
            _mm256_fmadd_ps(d, d, acc)
        },
        // SAFETY: `i < n`, and the mask enables only the `rem = n - i` readable lanes;
        // masked-off lanes are neither read nor fault.
        |acc, i, rem| unsafe {
            let m = mask8(rem);
            let d = _mm256_sub_ps(
                _mm256_maskload_ps(a.add(i), m),
                _mm256_maskload_ps(b.add(i), m),
            );
            _mm256_fmadd_ps(d, d, acc)
        },
        |x, y| _mm256_add_ps(x, y),
    );
    hsum256(acc)
}

/// `Σ aᵢ·bᵢ` over `n` elements.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and `a` and `b` must each be valid for reads of `n` `f32`s.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn dot_avx2(a: *const f32, b: *const f32, n: usize) -> f32 {
    let acc = unrolled_sum(
        n,
        8,
        _mm256_setzero_ps(),
        // SAFETY: the skeleton calls `step` with `i + 8 <= n`: both loads are in bounds.
        |acc, i| unsafe {
            _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc)
        },
        // SAFETY: `i < n`, and the mask enables only the `rem = n - i` readable lanes.
        |acc, i, rem| unsafe {
            let m = mask8(rem);
            _mm256_fmadd_ps(
                _mm256_maskload_ps(a.add(i), m),
                _mm256_maskload_ps(b.add(i), m),
                acc,
            )
        },
        |x, y| _mm256_add_ps(x, y),
    );
    hsum256(acc)
}
