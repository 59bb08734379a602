//! x86_64 SIMD kernels for quantized codes: AVX-512 (16 lanes) and AVX2 + FMA (8 lanes) for the
//! `f32` query, AVX-512 VNNI (64 bytes per instruction) and AVX2 for the `i8` query.
//!
//! All `unsafe` code of the quantization kernels lives here, with the discipline of
//! `distance/x86.rs`: raw kernels (`unsafe fn`, `#[target_feature]`) over a weight pointer, a code
//! pointer and a count, the f32 and 8-bit ones written on the shared skeleton
//! [`unrolled_sum`] (four accumulators, then single steps, then a masked or stack-copied tail, so
//! no byte past the end is ever read); and slice entry points that compute the count. They are
//! reached only through the [`super::CodeKernels`] impls of the CPU levels of [`crate::simd`],
//! whose values prove the CPU has the features.
//!
//! 4-bit codes are split with `& 0x0F` and `>> 4` and put back in element order with
//! `unpacklo/hi_epi8(lo, hi)`: byte `j` holds codes `2j` (low nibble) and `2j + 1` (high nibble).
//!
//! The integer kernels (`dot_i8_*`, signature `fn(&QueryI8, &[u8]) -> i32`) multiply `u8` codes
//! into `i8` weights and sum exactly in `i32` lanes:
//!
//! - VNNI: `vpdpbusd` (4 products of `u8 × i8` added into each `i32` lane) on 64 bytes at a time,
//!   four accumulators; the tail is a byte-masked load of codes and weights. For 4-bit codes, the
//!   64 bytes are split into `b & 0x0F` and `(b >> 4) & 0x0F`, which meet the 64 low-nibble and
//!   the 64 high-nibble weights of the block as [`QueryI8`] lays them out: no interleaving.
//! - AVX2, 8-bit codes: codes and weights widened to `i16` and `vpmaddwd` (no saturation);
//!   4-bit codes: `vpmaddubsw` (`u8 × i8` pairs into saturating `i16`, exact here as
//!   `2 · 15 · 127 < 2¹⁵`, and so is the sum of the low and high results) then `vpmaddwd` by 1.
//!   The tail goes through a zeroed stack copy.

use core::arch::x86_64::*;

use super::scalar::{i8_len, I8_U4_BLOCK, I8_U8_BLOCK};
use super::QueryI8;
use crate::simd::unrolled_sum;
use crate::simd::x86::{hsum256, hsum256_epi32, mask16, mask64, mask8};

// ---------------------------------------------------------------------------------------------
// Slice entry points: each reads the `min` lengths of its inputs (see `super::CodeKernels`).
// ---------------------------------------------------------------------------------------------

/// `Σ w[i] · codes[i]` over `min(w.len(), codes.len())` codes.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VL.
#[inline]
pub(super) unsafe fn dot_u8_avx512(w: &[f32], codes: &[u8]) -> f32 {
    let n = w.len().min(codes.len());
    // SAFETY: the CPU has the features (the caller's contract); `n` is at most the length of
    // either slice, so the kernel reads in bounds.
    unsafe { dot_u8_avx512_raw(w.as_ptr(), codes.as_ptr(), n) }
}

/// `Σ w[i] · code(i)` over `min(w.len(), 2 · packed.len())` packed 4-bit codes.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VL.
#[inline]
pub(super) unsafe fn dot_u4_avx512(w: &[f32], packed: &[u8]) -> f32 {
    let n = w.len().min(2 * packed.len());
    // SAFETY: the CPU has the features; `n <= w.len()` and `ceil(n / 2) <= packed.len()`.
    unsafe { dot_u4_avx512_raw(w.as_ptr(), packed.as_ptr(), n) }
}

/// `Σ w[i] · codes[i]` over `min(w.len(), codes.len())` codes.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline]
pub(super) unsafe fn dot_u8_avx2(w: &[f32], codes: &[u8]) -> f32 {
    let n = w.len().min(codes.len());
    // SAFETY: the CPU has the features; `n` is at most the length of either slice.
    unsafe { dot_u8_avx2_raw(w.as_ptr(), codes.as_ptr(), n) }
}

/// `Σ w[i] · code(i)` over `min(w.len(), 2 · packed.len())` packed 4-bit codes.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline]
pub(super) unsafe fn dot_u4_avx2(w: &[f32], packed: &[u8]) -> f32 {
    let n = w.len().min(2 * packed.len());
    // SAFETY: the CPU has the features; `n <= w.len()` and `ceil(n / 2) <= packed.len()`.
    unsafe { dot_u4_avx2_raw(w.as_ptr(), packed.as_ptr(), n) }
}

/// The exact `Σ wq[i] · codes[i]` over `min(q.len, codes.len())` codes.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VNNI.
///
/// # Panics
/// When `q.weights` does not cover those codes.
#[inline]
pub(super) unsafe fn dot_i8_u8_vnni(q: &QueryI8, codes: &[u8]) -> i32 {
    let n = i8_len(q, codes.len(), I8_U8_BLOCK);
    // SAFETY: the CPU has the features; `i8_len` checked `n <= codes.len()` and
    // `n <= q.weights.len()`.
    unsafe { dot_i8_u8_vnni_raw(q.weights.as_ptr(), codes.as_ptr(), n) }
}

/// The exact `Σ wq[i] · code(i)` over `min(q.len, 2 · packed.len())` packed 4-bit codes.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VNNI.
///
/// # Panics
/// When `q.weights` does not cover those codes.
#[inline]
pub(super) unsafe fn dot_i8_u4_vnni(q: &QueryI8, packed: &[u8]) -> i32 {
    let n = i8_len(q, 2 * packed.len(), I8_U4_BLOCK);
    // SAFETY: the CPU has the features; `i8_len` checked `ceil(n / 2) <= packed.len()` and
    // `n.next_multiple_of(128) <= q.weights.len()`.
    unsafe { dot_i8_u4_vnni_raw(q.weights.as_ptr(), packed.as_ptr(), n) }
}

/// The exact `Σ wq[i] · codes[i]` over `min(q.len, codes.len())` codes.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// When `q.weights` does not cover those codes.
#[inline]
pub(super) unsafe fn dot_i8_u8_avx2(q: &QueryI8, codes: &[u8]) -> i32 {
    let n = i8_len(q, codes.len(), I8_U8_BLOCK);
    // SAFETY: the CPU has AVX2; `i8_len` checked `n <= codes.len()` and `n <= q.weights.len()`.
    unsafe { dot_i8_u8_avx2_raw(q.weights.as_ptr(), codes.as_ptr(), n) }
}

/// The exact `Σ wq[i] · code(i)` over `min(q.len, 2 · packed.len())` packed 4-bit codes.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// When `q.weights` does not cover those codes.
#[inline]
pub(super) unsafe fn dot_i8_u4_avx2(q: &QueryI8, packed: &[u8]) -> i32 {
    let n = i8_len(q, 2 * packed.len(), I8_U4_BLOCK);
    // SAFETY: the CPU has AVX2; `i8_len` checked `ceil(n / 2) <= packed.len()` and
    // `n.next_multiple_of(128) <= q.weights.len()`.
    unsafe { dot_i8_u4_avx2_raw(q.weights.as_ptr(), packed.as_ptr(), n) }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers (value-only, no memory access)
// ---------------------------------------------------------------------------------------------

/// Splits 16 packed bytes into their 32 codes in element order: codes `0..16` and `16..32`.
#[target_feature(enable = "sse2")]
#[inline]
fn split_nibbles(b: __m128i) -> (__m128i, __m128i) {
    let low4 = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(b, low4);
    let hi = _mm_and_si128(_mm_srli_epi16::<4>(b), low4);
    (_mm_unpacklo_epi8(lo, hi), _mm_unpackhi_epi8(lo, hi))
}

// ---------------------------------------------------------------------------------------------
// AVX-512
// ---------------------------------------------------------------------------------------------

/// The first 16 bytes of `b`, widened to 16 `f32` lanes.
#[target_feature(enable = "avx512f")]
#[inline]
fn u8x16_to_ps512(b: __m128i) -> __m512 {
    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b))
}

/// `Σ w[i] · c[i]` over `n` elements.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VL; `w` must be valid for reads of `n` `f32`s and `c`
/// for reads of `n` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn dot_u8_avx512_raw(w: *const f32, c: *const u8, n: usize) -> f32 {
    let acc = unrolled_sum(
        n,
        16,
        _mm512_setzero_ps(),
        // SAFETY: the skeleton calls `step` with `i + 16 <= n`: 16 weights and 16 codes.
        |acc, i| unsafe {
            let c0 = u8x16_to_ps512(_mm_loadu_si128(c.add(i).cast()));
            _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i)), c0, acc)
        },
        // SAFETY: `i < n`, and the mask enables only the `rem = n - i` readable lanes; masked-off
        // lanes are neither read nor fault.
        |acc, i, rem| unsafe {
            let m = mask16(rem);
            let c0 = u8x16_to_ps512(_mm_maskz_loadu_epi8(m, c.add(i).cast()));
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w.add(i)), c0, acc)
        },
        |x, y| _mm512_add_ps(x, y),
    );
    _mm512_reduce_add_ps(acc)
}

/// `Σ w[i] · code(i)` over `n` 4-bit codes packed two per byte (low nibble first).
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VL; `w` must be valid for reads of `n` `f32`s and `p`
/// for reads of `ceil(n / 2)` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn dot_u4_avx512_raw(w: *const f32, p: *const u8, n: usize) -> f32 {
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    // `i` counts codes and stays even, so code `i` starts byte `i / 2`.
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: `i + 64 <= n`: weights `i..i + 64` and bytes `i/2..i/2 + 32` are readable.
        unsafe {
            let (c0, c1) = split_nibbles(_mm_loadu_si128(p.add(i / 2).cast()));
            let (c2, c3) = split_nibbles(_mm_loadu_si128(p.add(i / 2 + 16).cast()));
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i)), u8x16_to_ps512(c0), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i + 16)), u8x16_to_ps512(c1), acc1);
            acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i + 32)), u8x16_to_ps512(c2), acc2);
            acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i + 48)), u8x16_to_ps512(c3), acc3);
        }
        i += 64;
    }
    while i + 32 <= n {
        // SAFETY: `i + 32 <= n`: weights `i..i + 32` and bytes `i/2..i/2 + 16` are readable.
        unsafe {
            let (c0, c1) = split_nibbles(_mm_loadu_si128(p.add(i / 2).cast()));
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i)), u8x16_to_ps512(c0), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i + 16)), u8x16_to_ps512(c1), acc1);
        }
        i += 32;
    }
    if i < n {
        // 1..=31 codes in 1..=16 bytes; `i/2 + bytes == ceil(n / 2)` as `i` is even.
        let rem = n - i;
        let bytes = rem.div_ceil(2);
        // SAFETY: the byte mask enables only bytes `i/2..ceil(n/2)` and the weight masks only
        // weights `i..n`, all readable; masked-off lanes are neither read nor fault. A high
        // nibble past `n` (odd `n`) meets a zeroed weight lane, so it adds `0 · code = 0`.
        unsafe {
            let (c0, c1) = split_nibbles(_mm_maskz_loadu_epi8(mask16(bytes), p.add(i / 2).cast()));
            let w0 = _mm512_maskz_loadu_ps(mask16(rem.min(16)), w.add(i));
            acc0 = _mm512_fmadd_ps(w0, u8x16_to_ps512(c0), acc0);
            if rem > 16 {
                let w1 = _mm512_maskz_loadu_ps(mask16(rem - 16), w.add(i + 16));
                acc1 = _mm512_fmadd_ps(w1, u8x16_to_ps512(c1), acc1);
            }
        }
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc0, acc1),
        _mm512_add_ps(acc2, acc3),
    ))
}

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA
// ---------------------------------------------------------------------------------------------

/// The first 8 bytes of `b`, widened to 8 `f32` lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn u8x8_to_ps256(b: __m128i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b))
}

/// `Σ w[i] · c[i]` over `n` elements.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `w` must be valid for reads of `n` `f32`s and `c` for reads
/// of `n` bytes.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_u8_avx2_raw(w: *const f32, c: *const u8, n: usize) -> f32 {
    let acc = unrolled_sum(
        n,
        8,
        _mm256_setzero_ps(),
        // SAFETY: the skeleton calls `step` with `i + 8 <= n`: 8 weights and the 8 codes
        // `_mm_loadl_epi64` reads.
        |acc, i| unsafe {
            let c0 = u8x8_to_ps256(_mm_loadl_epi64(c.add(i).cast()));
            _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i)), c0, acc)
        },
        |acc, i, rem| {
            let mut tail = [0u8; 16];
            // SAFETY: bytes `i..n` of `c` are readable and `tail` has room for `rem <= 7` of them;
            // the two do not overlap (`tail` is a fresh local).
            unsafe { core::ptr::copy_nonoverlapping(c.add(i), tail.as_mut_ptr(), rem) };
            // SAFETY: `tail` is 16 bytes, more than the 8 `_mm_loadl_epi64` reads; the weight mask
            // enables only the `rem` readable lanes `i..n`.
            unsafe {
                let c0 = u8x8_to_ps256(_mm_loadl_epi64(tail.as_ptr().cast()));
                _mm256_fmadd_ps(_mm256_maskload_ps(w.add(i), mask8(rem)), c0, acc)
            }
        },
        |x, y| _mm256_add_ps(x, y),
    );
    hsum256(acc)
}

/// `Σ w[i] · code(i)` over `n` 4-bit codes packed two per byte (low nibble first).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `w` must be valid for reads of `n` `f32`s and `p` for reads
/// of `ceil(n / 2)` bytes.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_u4_avx2_raw(w: *const f32, p: *const u8, n: usize) -> f32 {
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    // `i` counts codes and stays even, so code `i` starts byte `i / 2`.
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: `i + 32 <= n`: weights `i..i + 32` and bytes `i/2..i/2 + 16` are readable.
        unsafe {
            let (lo, hi) = split_nibbles(_mm_loadu_si128(p.add(i / 2).cast()));
            let c0 = u8x8_to_ps256(lo);
            let c1 = u8x8_to_ps256(_mm_srli_si128::<8>(lo));
            let c2 = u8x8_to_ps256(hi);
            let c3 = u8x8_to_ps256(_mm_srli_si128::<8>(hi));
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i)), c0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i + 8)), c1, acc1);
            acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i + 16)), c2, acc2);
            acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i + 24)), c3, acc3);
        }
        i += 32;
    }
    if i < n {
        let rem = n - i; // 1..=31 codes
        let bytes = rem.div_ceil(2); // 1..=16 bytes; `i/2 + bytes == ceil(n / 2)` as `i` is even
        let mut tail = [0u8; 16];
        // SAFETY: bytes `i/2..ceil(n/2)` of `p` are readable and `tail` has room for `bytes <= 16`
        // of them; the two do not overlap (`tail` is a fresh local).
        unsafe { core::ptr::copy_nonoverlapping(p.add(i / 2), tail.as_mut_ptr(), bytes) };
        // SAFETY: `tail` is exactly the 16 bytes `_mm_loadu_si128` reads.
        let (lo, hi) = split_nibbles(unsafe { _mm_loadu_si128(tail.as_ptr().cast()) });
        let codes = [lo, _mm_srli_si128::<8>(lo), hi, _mm_srli_si128::<8>(hi)];
        let mut acc = _mm256_setzero_ps();
        for (k, &c) in codes.iter().enumerate() {
            let start = 8 * k;
            if start >= rem {
                break;
            }
            let lanes = (rem - start).min(8);
            // SAFETY: the mask enables only weights `i + start..i + start + lanes`, all below `n`
            // and so readable; masked-off lanes are neither read nor fault. A high nibble past `n`
            // (odd `n`) meets a zeroed weight lane, so it adds `0 · code = 0`.
            let wk = unsafe { _mm256_maskload_ps(w.add(i + start), mask8(lanes)) };
            acc = _mm256_fmadd_ps(wk, u8x8_to_ps256(c), acc);
        }
        acc1 = _mm256_add_ps(acc1, acc);
    }
    hsum256(_mm256_add_ps(
        _mm256_add_ps(acc0, acc1),
        _mm256_add_ps(acc2, acc3),
    ))
}

// ---------------------------------------------------------------------------------------------
// Integer kernels: AVX-512 VNNI
// ---------------------------------------------------------------------------------------------

/// `Σ w[i] · c[i]` over `n` elements, in wrapping `i32` arithmetic.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VNNI; `w` and `c` must each be valid for reads of `n`
/// bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn dot_i8_u8_vnni_raw(w: *const i8, c: *const u8, n: usize) -> i32 {
    let acc = unrolled_sum(
        n,
        64,
        _mm512_setzero_si512(),
        // SAFETY: the skeleton calls `step` with `i + 64 <= n`: one 64-byte load of each.
        |acc, i| unsafe {
            let c0 = _mm512_loadu_si512(c.add(i).cast());
            _mm512_dpbusd_epi32(acc, c0, _mm512_loadu_si512(w.add(i).cast()))
        },
        // SAFETY: `i < n`, and the mask enables only the `rem` readable bytes.
        |acc, i, rem| unsafe {
            let m = mask64(rem);
            let c0 = _mm512_maskz_loadu_epi8(m, c.add(i).cast());
            _mm512_dpbusd_epi32(acc, c0, _mm512_maskz_loadu_epi8(m, w.add(i)))
        },
        |x, y| _mm512_add_epi32(x, y),
    );
    _mm512_reduce_add_epi32(acc)
}

/// `Σ w[k(i)] · code(i)` over `n` 4-bit codes packed two per byte (low nibble first), with `w` in
/// the 4-bit layout of [`QueryI8`], in wrapping `i32` arithmetic.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VNNI; `w` must be valid for reads of
/// `n.next_multiple_of(128)` bytes and `p` for reads of `ceil(n / 2)` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn dot_i8_u4_vnni_raw(w: *const i8, p: *const u8, n: usize) -> i32 {
    let low4 = _mm512_set1_epi8(0x0F);
    let mut acc0 = _mm512_setzero_si512();
    let mut acc1 = _mm512_setzero_si512();
    let mut acc2 = _mm512_setzero_si512();
    let mut acc3 = _mm512_setzero_si512();
    // `i` counts codes and stays a multiple of 128: code `i` starts byte `i / 2`, and its block's
    // weights start at `w + i` (low nibbles) and `w + i + 64` (high nibbles).
    let mut i = 0;
    while i + 256 <= n {
        // SAFETY: `i + 256 <= n`: bytes `i/2..i/2 + 128` and weights `i..i + 256` are readable.
        unsafe {
            let b0 = _mm512_loadu_si512(p.add(i / 2).cast());
            let b1 = _mm512_loadu_si512(p.add(i / 2 + 64).cast());
            let lo0 = _mm512_and_si512(b0, low4);
            let hi0 = _mm512_and_si512(_mm512_srli_epi16::<4>(b0), low4);
            let lo1 = _mm512_and_si512(b1, low4);
            let hi1 = _mm512_and_si512(_mm512_srli_epi16::<4>(b1), low4);
            acc0 = _mm512_dpbusd_epi32(acc0, lo0, _mm512_loadu_si512(w.add(i).cast()));
            acc1 = _mm512_dpbusd_epi32(acc1, hi0, _mm512_loadu_si512(w.add(i + 64).cast()));
            acc2 = _mm512_dpbusd_epi32(acc2, lo1, _mm512_loadu_si512(w.add(i + 128).cast()));
            acc3 = _mm512_dpbusd_epi32(acc3, hi1, _mm512_loadu_si512(w.add(i + 192).cast()));
        }
        i += 256;
    }
    if i + 128 <= n {
        // SAFETY: `i + 128 <= n`: bytes `i/2..i/2 + 64` and weights `i..i + 128` are readable.
        unsafe {
            let b = _mm512_loadu_si512(p.add(i / 2).cast());
            let lo = _mm512_and_si512(b, low4);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(b), low4);
            acc0 = _mm512_dpbusd_epi32(acc0, lo, _mm512_loadu_si512(w.add(i).cast()));
            acc1 = _mm512_dpbusd_epi32(acc1, hi, _mm512_loadu_si512(w.add(i + 64).cast()));
        }
        i += 128;
    }
    if i < n {
        // 1..=127 codes: `ceil(rem / 2)` low nibbles, `rem / 2` high nibbles, in `bytes` bytes;
        // `i/2 + bytes == ceil(n / 2)` as `i` is even.
        let rem = n - i;
        let bytes = rem.div_ceil(2);
        // SAFETY: the byte mask enables only bytes `i/2..ceil(n/2)` of `p`, all readable; weights
        // `i..i + 128` are readable (`i + 128 == n.next_multiple_of(128)`), and their masks keep
        // only the weights of codes below `n`, so a high nibble past `n` (odd `n`) meets a zero
        // weight. Masked-off lanes are neither read nor fault.
        unsafe {
            let b = _mm512_maskz_loadu_epi8(mask64(bytes), p.add(i / 2).cast());
            let lo = _mm512_and_si512(b, low4);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(b), low4);
            let wlo = _mm512_maskz_loadu_epi8(mask64(bytes), w.add(i));
            let whi = _mm512_maskz_loadu_epi8(mask64(rem / 2), w.add(i + 64));
            acc2 = _mm512_dpbusd_epi32(acc2, lo, wlo);
            acc3 = _mm512_dpbusd_epi32(acc3, hi, whi);
        }
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(
        _mm512_add_epi32(acc0, acc1),
        _mm512_add_epi32(acc2, acc3),
    ))
}

// ---------------------------------------------------------------------------------------------
// Integer kernels: AVX2
// ---------------------------------------------------------------------------------------------

/// `Σ w[i] · c[i]` over 32 codes and weights, as eight `i32` partial sums: both widened to `i16`
/// (no saturation) and multiplied with `vpmaddwd`.
#[target_feature(enable = "avx2")]
#[inline]
fn madd_u8_i8_x32(c: __m256i, w: __m256i) -> __m256i {
    let c0 = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(c));
    let c1 = _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(c));
    let w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w));
    let w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(w));
    _mm256_add_epi32(_mm256_madd_epi16(c0, w0), _mm256_madd_epi16(c1, w1))
}

/// `Σ w[i] · c[i]` over `n` elements, in wrapping `i32` arithmetic.
///
/// # Safety
/// The CPU must support AVX2; `w` and `c` must each be valid for reads of `n` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn dot_i8_u8_avx2_raw(w: *const i8, c: *const u8, n: usize) -> i32 {
    let acc = unrolled_sum(
        n,
        32,
        _mm256_setzero_si256(),
        // SAFETY: the skeleton calls `step` with `i + 32 <= n`: one 32-byte load of each.
        |acc, i| unsafe {
            let c0 = _mm256_loadu_si256(c.add(i).cast());
            let w0 = _mm256_loadu_si256(w.add(i).cast());
            _mm256_add_epi32(acc, madd_u8_i8_x32(c0, w0))
        },
        |acc, i, rem| {
            let mut tc = [0u8; 32];
            let mut tw = [0i8; 32];
            // SAFETY: bytes `i..n` of `c` and `w` are readable and the buffers have room for
            // `rem <= 31` of them; they do not overlap (fresh locals).
            unsafe {
                core::ptr::copy_nonoverlapping(c.add(i), tc.as_mut_ptr(), rem);
                core::ptr::copy_nonoverlapping(w.add(i), tw.as_mut_ptr(), rem);
            }
            // SAFETY: each buffer is exactly the 32 bytes `_mm256_loadu_si256` reads.
            let (c0, w0) = unsafe {
                (
                    _mm256_loadu_si256(tc.as_ptr().cast()),
                    _mm256_loadu_si256(tw.as_ptr().cast()),
                )
            };
            _mm256_add_epi32(acc, madd_u8_i8_x32(c0, w0))
        },
        |x, y| _mm256_add_epi32(x, y),
    );
    hsum256_epi32(acc)
}

/// `Σ` over 32 packed bytes `b` (64 codes) of their low nibbles times `wlo` and their high nibbles
/// times `whi`, as eight `i32` partial sums. Nothing saturates: each `vpmaddubsw` lane is at most
/// `2 · 15 · 127 = 3810` in magnitude, and the sum of the two `7620 < 2¹⁵`.
#[target_feature(enable = "avx2")]
#[inline]
fn madd_u4_i8_x64(b: __m256i, wlo: __m256i, whi: __m256i) -> __m256i {
    let low4 = _mm256_set1_epi8(0x0F);
    let lo = _mm256_and_si256(b, low4);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(b), low4);
    let s16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, wlo), _mm256_maddubs_epi16(hi, whi));
    _mm256_madd_epi16(s16, _mm256_set1_epi16(1))
}

/// `Σ w[k(i)] · code(i)` over `n` 4-bit codes packed two per byte (low nibble first), with `w` in
/// the 4-bit layout of [`QueryI8`], in wrapping `i32` arithmetic.
///
/// # Safety
/// The CPU must support AVX2; `w` must be valid for reads of `n.next_multiple_of(128)` bytes and
/// `p` for reads of `ceil(n / 2)` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn dot_i8_u4_avx2_raw(w: *const i8, p: *const u8, n: usize) -> i32 {
    let mut acc0 = _mm256_setzero_si256();
    let mut acc1 = _mm256_setzero_si256();
    // `i` counts codes and stays a multiple of 64: code `i` starts byte `i / 2`, which is byte
    // `j = (i % 128) / 2` (0 or 32) of its block, whose low- and high-nibble weights are at
    // `base + j` and `base + 64 + j` with `base = i - i % 128`.
    let mut i = 0;
    while i + 128 <= n {
        // SAFETY: `i + 128 <= n`: bytes `i/2..i/2 + 64` and weights `i..i + 128` are readable.
        unsafe {
            let b0 = _mm256_loadu_si256(p.add(i / 2).cast());
            let b1 = _mm256_loadu_si256(p.add(i / 2 + 32).cast());
            let wl0 = _mm256_loadu_si256(w.add(i).cast());
            let wl1 = _mm256_loadu_si256(w.add(i + 32).cast());
            let wh0 = _mm256_loadu_si256(w.add(i + 64).cast());
            let wh1 = _mm256_loadu_si256(w.add(i + 96).cast());
            acc0 = _mm256_add_epi32(acc0, madd_u4_i8_x64(b0, wl0, wh0));
            acc1 = _mm256_add_epi32(acc1, madd_u4_i8_x64(b1, wl1, wh1));
        }
        i += 128;
    }
    while i < n {
        let rem = (n - i).min(64); // 1..=64 codes of the last block
        let bytes = rem.div_ceil(2); // 1..=32; `i/2 + bytes <= ceil(n / 2)`
        let base = i - i % I8_U4_BLOCK;
        let j = (i % I8_U4_BLOCK) / 2;
        let mut tail = [0u8; 32];
        // SAFETY: bytes `i/2..i/2 + bytes` of `p` are readable and `tail` has room for
        // `bytes <= 32` of them; the two do not overlap (`tail` is a fresh local).
        unsafe { core::ptr::copy_nonoverlapping(p.add(i / 2), tail.as_mut_ptr(), bytes) };
        if rem % 2 == 1 {
            // The high nibble of the last byte is code `n`, past the end: drop it, so the
            // weights (read whole below) only ever meet codes below `n` or zeros.
            tail[bytes - 1] &= 0x0F;
        }
        // SAFETY: `tail` is exactly the 32 bytes `_mm256_loadu_si256` reads; the weights
        // `base + j..base + j + 32` and `base + 64 + j..base + 96 + j` lie inside the block
        // `base..base + 128 <= n.next_multiple_of(128)`, all readable.
        unsafe {
            let b = _mm256_loadu_si256(tail.as_ptr().cast());
            let wlo = _mm256_loadu_si256(w.add(base + j).cast());
            let whi = _mm256_loadu_si256(w.add(base + 64 + j).cast());
            acc1 = _mm256_add_epi32(acc1, madd_u4_i8_x64(b, wlo, whi));
        }
        i += rem;
    }
    hsum256_epi32(_mm256_add_epi32(acc0, acc1))
}
