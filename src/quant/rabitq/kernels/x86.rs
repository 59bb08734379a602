//! x86_64 kernels of the RaBitQ codec: all of its `unsafe` code.
//!
//! The discipline of `distance/x86.rs`: each kernel is a `#[target_feature]` function over
//! slices whose loop bounds are computed from the slices' lengths, so every pointer read is
//! in bounds (each load says why). Two ways in: the safe wrappers with the [`KernelSet`]
//! signatures, reachable only through the statics handed out by [`avx512`], [`avx512bw`] and
//! [`avx2`] after the CPU has been checked at run time (for tests and benchmarks), and the
//! `unsafe` entry points at the end of this file, which the `RabitqKernels` impls of the CPU
//! levels call — the level value is their proof of the features.
//!
//! **Fast scan.** Per 64 (AVX-512) or 32 (AVX2) bytes: the codes' low and high nibbles
//! (`& 0x0F`, `>> 4`) index the lane's 16-entry table with `vpshufb`; the shuffled bytes are
//! added as `u16` lanes into `acc0` (slot `m` in the low byte, slot `m + 8` polluting the high
//! byte) and, shifted right by 8, into `acc1` (slot `m + 8`); at the end of a chunk
//! `acc0 − (acc1 << 8)` removes the pollution (exact modulo 2¹⁶, and every sum is below 2¹⁶ within
//! a chunk of 256 groups), the lanes — one group each — are added, and the 32 sums, in slot order
//! thanks to the packing's permutation, are widened into `u32` totals.

use core::arch::x86_64::*;

use super::super::binary::row_dot_impl;
use super::super::fastscan::{BATCH, CHUNK_GROUPS};
use super::super::rotation::{rotate_impl, Rotation};
use super::KernelSet;

/// AVX-512 F + BW with VPOPCNTDQ.
static AVX512: KernelSet = KernelSet {
    name: "avx512",
    rotate: rotate_avx512,
    fastscan: fastscan_avx512,
    row_dot: row_dot_vpopcnt,
    ex_dot: ex_dot_avx512,
};

/// AVX-512 F + BW without VPOPCNTDQ (Skylake-SP and its kin).
static AVX512BW: KernelSet = KernelSet {
    name: "avx512bw",
    rotate: rotate_avx512,
    fastscan: fastscan_avx512,
    row_dot: row_dot_popcnt,
    ex_dot: ex_dot_avx512,
};

/// AVX2 + FMA.
static AVX2: KernelSet = KernelSet {
    name: "avx2",
    rotate: rotate_avx2,
    fastscan: fastscan_avx2,
    row_dot: row_dot_popcnt,
    ex_dot: ex_dot_avx2,
};

fn has_avx512bw() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("popcnt")
}

/// The `avx512` set, if this CPU has AVX-512 F, BW, VPOPCNTDQ and POPCNT.
pub(super) fn avx512() -> Option<&'static KernelSet> {
    (has_avx512bw() && is_x86_feature_detected!("avx512vpopcntdq")).then_some(&AVX512)
}

/// The `avx512bw` set, if this CPU has AVX-512 F, BW and POPCNT.
pub(super) fn avx512bw() -> Option<&'static KernelSet> {
    has_avx512bw().then_some(&AVX512BW)
}

/// The `avx2` set, if this CPU has AVX2, FMA and POPCNT.
pub(super) fn avx2() -> Option<&'static KernelSet> {
    (is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("popcnt"))
    .then_some(&AVX2)
}

// ---------------------------------------------------------------------------------------------
// Rotation: the scalar code, compiled for the wider instruction sets.

#[target_feature(enable = "avx512f")]
fn rotate_avx512_raw(rot: &Rotation, x: &[f32], out: &mut [f32]) {
    rotate_impl(rot, x, out)
}

fn rotate_avx512(rot: &Rotation, x: &[f32], out: &mut [f32]) {
    // SAFETY: reachable only through AVX512 / AVX512BW, handed out after detecting AVX-512F.
    unsafe { rotate_avx512_raw(rot, x, out) }
}

#[target_feature(enable = "avx2,fma")]
fn rotate_avx2_raw(rot: &Rotation, x: &[f32], out: &mut [f32]) {
    rotate_impl(rot, x, out)
}

fn rotate_avx2(rot: &Rotation, x: &[f32], out: &mut [f32]) {
    // SAFETY: reachable only through AVX2, handed out after detecting AVX2 and FMA.
    unsafe { rotate_avx2_raw(rot, x, out) }
}

// ---------------------------------------------------------------------------------------------
// Fast scan.

const CHUNK_BYTES: usize = CHUNK_GROUPS * 16;

#[target_feature(enable = "avx512f,avx512bw")]
fn fastscan_avx512_raw(codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
    let n = codes.len().min(table.len()) & !255;
    let nibble = _mm512_set1_epi8(0x0F);
    let mut total_lo = _mm512_setzero_si512();
    let mut total_hi = _mm512_setzero_si512();
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK_BYTES).min(n);
        let mut a0 = _mm512_setzero_si512();
        let mut a1 = _mm512_setzero_si512();
        let mut a2 = _mm512_setzero_si512();
        let mut a3 = _mm512_setzero_si512();
        let mut i = start;
        while i < end {
            // SAFETY: `i + 64 ≤ end ≤ n ≤ codes.len(), table.len()` (`n` and the steps are
            // multiples of 64): both 64-byte loads are in bounds; `loadu` needs no alignment.
            let (c, t) = unsafe {
                (
                    _mm512_loadu_si512(codes.as_ptr().add(i).cast()),
                    _mm512_loadu_si512(table.as_ptr().add(i).cast()),
                )
            };
            let lo = _mm512_and_si512(c, nibble);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(c), nibble);
            let rl = _mm512_shuffle_epi8(t, lo);
            let rh = _mm512_shuffle_epi8(t, hi);
            a0 = _mm512_add_epi16(a0, rl);
            a1 = _mm512_add_epi16(a1, _mm512_srli_epi16::<8>(rl));
            a2 = _mm512_add_epi16(a2, rh);
            a3 = _mm512_add_epi16(a3, _mm512_srli_epi16::<8>(rh));
            i += 64;
        }
        a0 = _mm512_sub_epi16(a0, _mm512_slli_epi16::<8>(a1));
        a2 = _mm512_sub_epi16(a2, _mm512_slli_epi16::<8>(a3));
        // Lanes [a0₀+a0₂, a0₁+a0₃, a1₀+a1₂, a1₁+a1₃], then the same for a2, a3 …
        let x = _mm512_add_epi16(
            _mm512_shuffle_i64x2::<0x44>(a0, a1),
            _mm512_shuffle_i64x2::<0xEE>(a0, a1),
        );
        let y = _mm512_add_epi16(
            _mm512_shuffle_i64x2::<0x44>(a2, a3),
            _mm512_shuffle_i64x2::<0xEE>(a2, a3),
        );
        // … and [Σa0, Σa1, Σa2, Σa3]: slots 0–7, 8–15, 16–23, 24–31.
        let z = _mm512_add_epi16(
            _mm512_shuffle_i64x2::<0x88>(x, y),
            _mm512_shuffle_i64x2::<0xDD>(x, y),
        );
        total_lo = _mm512_add_epi32(total_lo, _mm512_cvtepu16_epi32(_mm512_castsi512_si256(z)));
        total_hi = _mm512_add_epi32(
            total_hi,
            _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64::<1>(z)),
        );
        start = end;
    }
    // SAFETY: `sums` is 32 `u32` = 128 bytes: two 64-byte stores at offsets 0 and 16 elements.
    unsafe {
        _mm512_storeu_si512(sums.as_mut_ptr().cast(), total_lo);
        _mm512_storeu_si512(sums.as_mut_ptr().add(16).cast(), total_hi);
    }
}

fn fastscan_avx512(codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
    // SAFETY: reachable only through AVX512 / AVX512BW, handed out after detecting AVX-512 F+BW.
    unsafe { fastscan_avx512_raw(codes, table, sums) }
}

#[target_feature(enable = "avx2")]
fn fastscan_avx2_raw(codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
    let n = codes.len().min(table.len()) & !255;
    let nibble = _mm256_set1_epi8(0x0F);
    let mut totals = [_mm256_setzero_si256(); 4];
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK_BYTES).min(n);
        let mut a0 = _mm256_setzero_si256();
        let mut a1 = _mm256_setzero_si256();
        let mut a2 = _mm256_setzero_si256();
        let mut a3 = _mm256_setzero_si256();
        let mut i = start;
        while i < end {
            // SAFETY: `i + 32 ≤ end ≤ n ≤ codes.len(), table.len()`: both 32-byte loads are in
            // bounds; `loadu` needs no alignment.
            let (c, t) = unsafe {
                (
                    _mm256_loadu_si256(codes.as_ptr().add(i).cast()),
                    _mm256_loadu_si256(table.as_ptr().add(i).cast()),
                )
            };
            let lo = _mm256_and_si256(c, nibble);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(c), nibble);
            let rl = _mm256_shuffle_epi8(t, lo);
            let rh = _mm256_shuffle_epi8(t, hi);
            a0 = _mm256_add_epi16(a0, rl);
            a1 = _mm256_add_epi16(a1, _mm256_srli_epi16::<8>(rl));
            a2 = _mm256_add_epi16(a2, rh);
            a3 = _mm256_add_epi16(a3, _mm256_srli_epi16::<8>(rh));
            i += 32;
        }
        a0 = _mm256_sub_epi16(a0, _mm256_slli_epi16::<8>(a1));
        a2 = _mm256_sub_epi16(a2, _mm256_slli_epi16::<8>(a3));
        // [Σ lanes of a0 | Σ lanes of a1] = slots 0–15; the same for a2, a3 = slots 16–31.
        let ab = _mm256_add_epi16(
            _mm256_permute2x128_si256::<0x20>(a0, a1),
            _mm256_permute2x128_si256::<0x31>(a0, a1),
        );
        let cd = _mm256_add_epi16(
            _mm256_permute2x128_si256::<0x20>(a2, a3),
            _mm256_permute2x128_si256::<0x31>(a2, a3),
        );
        let parts = [
            _mm256_castsi256_si128(ab),
            _mm256_extracti128_si256::<1>(ab),
            _mm256_castsi256_si128(cd),
            _mm256_extracti128_si256::<1>(cd),
        ];
        for (t, p) in totals.iter_mut().zip(parts) {
            *t = _mm256_add_epi32(*t, _mm256_cvtepu16_epi32(p));
        }
        start = end;
    }
    for (k, t) in totals.iter().enumerate() {
        // SAFETY: `sums` is 32 `u32`; store `k` writes elements `8k … 8k + 7`, `k < 4`.
        unsafe { _mm256_storeu_si256(sums.as_mut_ptr().add(8 * k).cast(), *t) };
    }
}

fn fastscan_avx2(codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
    // SAFETY: reachable only through AVX2, handed out after detecting AVX2.
    unsafe { fastscan_avx2_raw(codes, table, sums) }
}

// ---------------------------------------------------------------------------------------------
// 1-bit row: popcounts.

#[target_feature(enable = "popcnt")]
fn row_dot_popcnt_raw(code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
    row_dot_impl(code, planes, words, bits)
}

fn row_dot_popcnt(code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
    // SAFETY: reachable only through sets handed out after detecting POPCNT.
    unsafe { row_dot_popcnt_raw(code, planes, words, bits) }
}

#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn row_dot_vpopcnt_raw(code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
    // Bounds are checked once here (panicking like the scalar twin); the loads below stay inside.
    let code = &code[..8 * words];
    let planes = &planes[..bits as usize * words];
    let mut ones = _mm512_setzero_si512();
    let mut total = _mm512_setzero_si512();
    let mut w = 0;
    while w < words {
        let take = (words - w).min(8);
        let m: __mmask8 = ((1u32 << take) - 1) as u8;
        // SAFETY: the mask enables lanes `0 … take − 1`, i.e. bytes `8w … 8(w + take)` of
        // `code` (length `8 · words`); masked-off lanes are not read and cannot fault.
        let b = unsafe { _mm512_maskz_loadu_epi64(m, code.as_ptr().add(8 * w).cast()) };
        ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(b));
        for p in 0..bits as usize {
            // SAFETY: words `p · words + w … p · words + w + take − 1` of `planes`
            // (length `bits · words`), the rest masked off.
            let q =
                unsafe { _mm512_maskz_loadu_epi64(m, planes.as_ptr().add(p * words + w).cast()) };
            let c = _mm512_popcnt_epi64(_mm512_and_si512(b, q));
            total = _mm512_add_epi64(total, _mm512_sllv_epi64(c, _mm512_set1_epi64(p as i64)));
        }
        w += take;
    }
    (
        _mm512_reduce_add_epi64(total) as u32,
        _mm512_reduce_add_epi64(ones) as u32,
    )
}

fn row_dot_vpopcnt(code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
    // SAFETY: reachable only through AVX512, handed out after detecting AVX-512F and VPOPCNTDQ.
    unsafe { row_dot_vpopcnt_raw(code, planes, words, bits) }
}

// ---------------------------------------------------------------------------------------------
// Extended row: Σ q[i] · vᵢ for packed w-bit values.

/// The `W`-bit values of dimensions `i … i + 15` as floats.
///
/// # Safety
/// The CPU has AVX-512 F and BW, and bytes `i·W/8 … (i + 16)·W/8 − 1` of `packed` are readable.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn values16<const W: u32>(packed: *const u8, i: usize) -> __m512 {
    // SAFETY (each arm): the bytes read are exactly those the caller vouches for.
    match W {
        8 => {
            let b = unsafe { _mm_loadu_si128(packed.add(i).cast()) };
            _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b))
        }
        4 => {
            let b = unsafe { _mm_loadl_epi64(packed.add(i / 2).cast()) };
            let v = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(b, b));
            let shifts = _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0);
            let v = _mm512_and_si512(_mm512_srlv_epi32(v, shifts), _mm512_set1_epi32(15));
            _mm512_cvtepi32_ps(v)
        }
        2 => {
            let raw = unsafe { packed.add(i / 4).cast::<u32>().read_unaligned() };
            let b = _mm_cvtsi32_si128(raw as i32);
            let spread = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
            let v = _mm512_cvtepu8_epi32(_mm_shuffle_epi8(b, spread));
            let shifts = _mm512_set_epi32(6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0);
            let v = _mm512_and_si512(_mm512_srlv_epi32(v, shifts), _mm512_set1_epi32(3));
            _mm512_cvtepi32_ps(v)
        }
        _ => {
            let raw = unsafe { packed.add(i / 8).cast::<u16>().read_unaligned() };
            _mm512_mask_blend_ps(raw, _mm512_setzero_ps(), _mm512_set1_ps(1.0))
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw")]
fn ex_dot_avx512_w<const W: u32>(q: &[f32], packed: &[u8]) -> f32 {
    let n = q.len().min(8 * packed.len() / W as usize) & !63;
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 32 ≤ n ≤ q.len()`: two 16-float loads in bounds; dimensions below `n`
        // have their bits below `n · W ≤ 8 · packed.len()`, so `values16` reads inside `packed`.
        unsafe {
            let q0 = _mm512_loadu_ps(q.as_ptr().add(i));
            let q1 = _mm512_loadu_ps(q.as_ptr().add(i + 16));
            acc0 = _mm512_fmadd_ps(q0, values16::<W>(packed.as_ptr(), i), acc0);
            acc1 = _mm512_fmadd_ps(q1, values16::<W>(packed.as_ptr(), i + 16), acc1);
        }
        i += 32;
    }
    _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
}

fn ex_dot_avx512(q: &[f32], packed: &[u8], width: u32) -> f32 {
    // SAFETY: reachable only through AVX512 / AVX512BW, handed out after detecting AVX-512 F+BW.
    unsafe {
        match width {
            8 => ex_dot_avx512_w::<8>(q, packed),
            4 => ex_dot_avx512_w::<4>(q, packed),
            2 => ex_dot_avx512_w::<2>(q, packed),
            _ => ex_dot_avx512_w::<1>(q, packed),
        }
    }
}

/// The `W`-bit values of dimensions `i … i + 7` as floats.
///
/// # Safety
/// The CPU has AVX2, and bytes `i·W/8 … (i + 8)·W/8 − 1` of `packed` are readable.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn values8<const W: u32>(packed: *const u8, i: usize) -> __m256 {
    // SAFETY (each arm): the bytes read are exactly those the caller vouches for.
    match W {
        8 => {
            let b = unsafe { _mm_loadl_epi64(packed.add(i).cast()) };
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b))
        }
        4 => {
            let raw = unsafe { packed.add(i / 2).cast::<u32>().read_unaligned() };
            let b = _mm_cvtsi32_si128(raw as i32);
            let v = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(b, b));
            let shifts = _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4);
            let v = _mm256_and_si256(_mm256_srlv_epi32(v, shifts), _mm256_set1_epi32(15));
            _mm256_cvtepi32_ps(v)
        }
        2 => {
            let raw = unsafe { packed.add(i / 4).cast::<u16>().read_unaligned() };
            let b = _mm_cvtsi32_si128(i32::from(raw));
            let spread = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
            let v = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(b, spread));
            let shifts = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
            let v = _mm256_and_si256(_mm256_srlv_epi32(v, shifts), _mm256_set1_epi32(3));
            _mm256_cvtepi32_ps(v)
        }
        _ => {
            let byte = i32::from(unsafe { packed.add(i / 8).read() });
            let bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
            let set = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(byte), bit), bit);
            _mm256_and_ps(_mm256_castsi256_ps(set), _mm256_set1_ps(1.0))
        }
    }
}

#[target_feature(enable = "avx2,fma")]
fn ex_dot_avx2_w<const W: u32>(q: &[f32], packed: &[u8]) -> f32 {
    let n = q.len().min(8 * packed.len() / W as usize) & !63;
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 16 ≤ n ≤ q.len()`: two 8-float loads in bounds; `values8` reads bytes of
        // dimensions below `n`, inside `packed` as `n · W ≤ 8 · packed.len()`.
        unsafe {
            let q0 = _mm256_loadu_ps(q.as_ptr().add(i));
            let q1 = _mm256_loadu_ps(q.as_ptr().add(i + 8));
            acc0 = _mm256_fmadd_ps(q0, values8::<W>(packed.as_ptr(), i), acc0);
            acc1 = _mm256_fmadd_ps(q1, values8::<W>(packed.as_ptr(), i + 8), acc1);
        }
        i += 16;
    }
    let s = _mm256_add_ps(acc0, acc1);
    let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

fn ex_dot_avx2(q: &[f32], packed: &[u8], width: u32) -> f32 {
    // SAFETY: reachable only through AVX2, handed out after detecting AVX2 and FMA.
    unsafe {
        match width {
            8 => ex_dot_avx2_w::<8>(q, packed),
            4 => ex_dot_avx2_w::<4>(q, packed),
            2 => ex_dot_avx2_w::<2>(q, packed),
            _ => ex_dot_avx2_w::<1>(q, packed),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points for the `RabitqKernels` impls of the CPU levels.

/// # Safety
/// The CPU must support AVX-512 F and BW.
#[inline]
pub(super) unsafe fn fastscan_avx512_checked(codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
    // SAFETY: the caller's contract; the raw kernel bounds its reads by the slices' lengths.
    unsafe { fastscan_avx512_raw(codes, table, sums) }
}

/// # Safety
/// The CPU must support AVX2.
#[inline]
pub(super) unsafe fn fastscan_avx2_checked(codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
    // SAFETY: as in `fastscan_avx512_checked`.
    unsafe { fastscan_avx2_raw(codes, table, sums) }
}

/// # Safety
/// The CPU must support POPCNT.
#[inline]
pub(super) unsafe fn row_dot_popcnt_checked(
    code: &[u8],
    planes: &[u64],
    words: usize,
    bits: u32,
) -> (u32, u32) {
    // SAFETY: the caller's contract.
    unsafe { row_dot_popcnt_raw(code, planes, words, bits) }
}

/// # Safety
/// The CPU must support AVX-512 F and BW.
#[inline]
pub(super) unsafe fn ex_dot_avx512_checked(q: &[f32], packed: &[u8], width: u32) -> f32 {
    // SAFETY: the wrapper needs exactly these features; it is private only so that the statics
    // are its safe face.
    ex_dot_avx512(q, packed, width)
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline]
pub(super) unsafe fn ex_dot_avx2_checked(q: &[f32], packed: &[u8], width: u32) -> f32 {
    ex_dot_avx2(q, packed, width)
}

/// [`super::finalize_scalar`] compiled for AVX-512 (it vectorises: 32 slots are two registers).
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn finalize_avx512(
    sums: &[u32; BATCH],
    factors: &[u8],
    t: &super::BatchTerms,
    est: &mut [f32; BATCH],
    lower: &mut [f32; BATCH],
) {
    super::finalize_scalar(sums, factors, t, est, lower)
}

/// [`super::finalize_scalar`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn finalize_avx2(
    sums: &[u32; BATCH],
    factors: &[u8],
    t: &super::BatchTerms,
    est: &mut [f32; BATCH],
    lower: &mut [f32; BATCH],
) {
    super::finalize_scalar(sums, factors, t, est, lower)
}
