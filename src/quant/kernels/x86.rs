//! x86_64 SIMD kernels for quantized codes: AVX-512 (16 lanes) and AVX2 + FMA (8 lanes).
//!
//! All `unsafe` code of the quantization kernels lives here, with the discipline of
//! `distance/x86.rs`:
//!
//! - raw kernels (`unsafe fn`, `#[target_feature]`) over a weight pointer, a code pointer and a
//!   count: codes are widened to `i32`, converted to `f32` (exact: every code is below 2²⁴) and
//!   multiplied into the weights with FMA on four independent accumulators; the last elements are
//!   read with masked loads (AVX-512) or copied into a zeroed stack buffer (AVX2, which has no
//!   byte-masked load), so no byte past the end is ever read;
//! - safe wrappers with the `fn(&[f32], &[u8]) -> f32` signature that read the `min` lengths. They
//!   are private, and the only way to reach them is through the statics [`AVX512`] / [`AVX2`],
//!   which are private too and handed out only by [`avx512`] / [`avx2`] after the CPU has been
//!   checked at run time. That check is the whole safety argument for calling a
//!   `#[target_feature]` function from them.
//!
//! 4-bit codes are split with `& 0x0F` and `>> 4` and put back in element order with
//! `unpacklo/hi_epi8(lo, hi)`: byte `j` holds codes `2j` (low nibble) and `2j + 1` (high nibble).

use core::arch::x86_64::*;

use super::QuantKernels;

/// The AVX-512 kernel set (F for the arithmetic, BW + VL for byte-masked tail loads).
static AVX512: QuantKernels = QuantKernels {
    name: "avx512",
    dot_u8: dot_u8_avx512,
    dot_u4: dot_u4_avx512,
};

/// The AVX2 + FMA kernel set.
static AVX2: QuantKernels = QuantKernels {
    name: "avx2+fma",
    dot_u8: dot_u8_avx2,
    dot_u4: dot_u4_avx2,
};

/// The AVX-512 kernels, if this CPU has AVX-512 F, BW and VL.
pub(super) fn avx512() -> Option<&'static QuantKernels> {
    (is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl"))
    .then_some(&AVX512)
}

/// The AVX2 + FMA kernels, if this CPU has both.
pub(super) fn avx2() -> Option<&'static QuantKernels> {
    (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(&AVX2)
}

// ---------------------------------------------------------------------------------------------
// Safe wrappers. Reachable only through the private statics above, which only `avx512()` /
// `avx2()` hand out, after detecting the CPU features the kernels need.
// ---------------------------------------------------------------------------------------------

fn dot_u8_avx512(w: &[f32], codes: &[u8]) -> f32 {
    let n = w.len().min(codes.len());
    // SAFETY: only reachable through `AVX512`, handed out by `avx512()` after AVX-512 F/BW/VL were
    // detected; `n` is at most the length of either slice, so the kernel reads in bounds.
    unsafe { dot_u8_avx512_raw(w.as_ptr(), codes.as_ptr(), n) }
}

fn dot_u4_avx512(w: &[f32], packed: &[u8]) -> f32 {
    let n = w.len().min(2 * packed.len());
    // SAFETY: as in `dot_u8_avx512` for the CPU; `n <= w.len()` and `ceil(n / 2) <= packed.len()`,
    // so the kernel reads in bounds.
    unsafe { dot_u4_avx512_raw(w.as_ptr(), packed.as_ptr(), n) }
}

fn dot_u8_avx2(w: &[f32], codes: &[u8]) -> f32 {
    let n = w.len().min(codes.len());
    // SAFETY: only reachable through `AVX2`, handed out by `avx2()` after AVX2 and FMA were
    // detected; `n` is at most the length of either slice, so the kernel reads in bounds.
    unsafe { dot_u8_avx2_raw(w.as_ptr(), codes.as_ptr(), n) }
}

fn dot_u4_avx2(w: &[f32], packed: &[u8]) -> f32 {
    let n = w.len().min(2 * packed.len());
    // SAFETY: as in `dot_u8_avx2` for the CPU; `n <= w.len()` and `ceil(n / 2) <= packed.len()`,
    // so the kernel reads in bounds.
    unsafe { dot_u4_avx2_raw(w.as_ptr(), packed.as_ptr(), n) }
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

/// The mask selecting the first `k` (`0..=16`) of 16 lanes.
#[inline(always)]
fn mask16(k: usize) -> __mmask16 {
    debug_assert!(k <= 16);
    ((1u32 << k) - 1) as __mmask16
}

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
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut acc2 = _mm512_setzero_ps();
    let mut acc3 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: `i + 64 <= n`, so every load below stays inside the `n` readable elements.
        unsafe {
            let c0 = u8x16_to_ps512(_mm_loadu_si128(c.add(i).cast()));
            let c1 = u8x16_to_ps512(_mm_loadu_si128(c.add(i + 16).cast()));
            let c2 = u8x16_to_ps512(_mm_loadu_si128(c.add(i + 32).cast()));
            let c3 = u8x16_to_ps512(_mm_loadu_si128(c.add(i + 48).cast()));
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i)), c0, acc0);
            acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i + 16)), c1, acc1);
            acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i + 32)), c2, acc2);
            acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i + 48)), c3, acc3);
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n`.
        unsafe {
            let c0 = u8x16_to_ps512(_mm_loadu_si128(c.add(i).cast()));
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w.add(i)), c0, acc0);
        }
        i += 16;
    }
    if i < n {
        let m = mask16(n - i);
        // SAFETY: `w.add(i)` and `c.add(i)` are in bounds (`i < n`); the mask enables only the
        // `n - i` readable lanes, and masked-off lanes are neither read nor fault.
        unsafe {
            let c0 = u8x16_to_ps512(_mm_maskz_loadu_epi8(m, c.add(i).cast()));
            acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w.add(i)), c0, acc1);
        }
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc0, acc1),
        _mm512_add_ps(acc2, acc3),
    ))
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
        let rem = n - i; // 1..=31 codes
        let bytes = rem.div_ceil(2); // 1..=16 bytes; `i/2 + bytes == ceil(n / 2)` as `i` is even
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

/// Eight all-ones lanes followed by eight zero lanes: the eight lanes starting at `8 - k` are a
/// `_mm256_maskload_ps` mask enabling the first `k` lanes.
static MASK8: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// The `_mm256_maskload_ps` mask enabling the first `k` (`0..=8`) lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn mask8(k: usize) -> __m256i {
    debug_assert!(k <= 8);
    let start = 8 - k.min(8);
    let window = &MASK8[start..start + 8];
    // SAFETY: `window` holds exactly 8 `i32`s (32 bytes), the size of one unaligned load.
    unsafe { _mm256_loadu_si256(window.as_ptr().cast()) }
}

/// The sum of the eight lanes of `v`.
#[target_feature(enable = "avx2")]
#[inline]
fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

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
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut acc2 = _mm256_setzero_ps();
    let mut acc3 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: `i + 32 <= n`, so every load below stays inside the `n` readable elements
        // (`_mm_loadl_epi64` reads 8 bytes).
        unsafe {
            let c0 = u8x8_to_ps256(_mm_loadl_epi64(c.add(i).cast()));
            let c1 = u8x8_to_ps256(_mm_loadl_epi64(c.add(i + 8).cast()));
            let c2 = u8x8_to_ps256(_mm_loadl_epi64(c.add(i + 16).cast()));
            let c3 = u8x8_to_ps256(_mm_loadl_epi64(c.add(i + 24).cast()));
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i)), c0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i + 8)), c1, acc1);
            acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i + 16)), c2, acc2);
            acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i + 24)), c3, acc3);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`.
        unsafe {
            let c0 = u8x8_to_ps256(_mm_loadl_epi64(c.add(i).cast()));
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i)), c0, acc0);
        }
        i += 8;
    }
    if i < n {
        let rem = n - i; // 1..=7
        let mut tail = [0u8; 16];
        // SAFETY: bytes `i..n` of `c` are readable and `tail` has room for `rem <= 7` of them; the
        // two do not overlap (`tail` is a fresh local).
        unsafe { core::ptr::copy_nonoverlapping(c.add(i), tail.as_mut_ptr(), rem) };
        // SAFETY: `tail` is 16 bytes, more than the 8 `_mm_loadl_epi64` reads; the weight mask
        // enables only the `rem` readable lanes `i..n`, and masked-off lanes are neither read nor
        // fault.
        unsafe {
            let c0 = u8x8_to_ps256(_mm_loadl_epi64(tail.as_ptr().cast()));
            acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(w.add(i), mask8(rem)), c0, acc1);
        }
    }
    hsum256(_mm256_add_ps(
        _mm256_add_ps(acc0, acc1),
        _mm256_add_ps(acc2, acc3),
    ))
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
