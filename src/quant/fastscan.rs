//! The fast-scan layout of 4-bit codes: the codes of a batch of [`BATCH`] vectors transposed so
//! that one SIMD instruction scores every vector of the batch on a few dimensions at once.
//!
//! A code row stores one vector's dimensions next to each other; scoring it is a dot product along
//! the row. A fast-scan batch stores dimension groups next to each other instead: for each group
//! of 8 dimensions, the 16 vectors' codes for those dimensions, 4 bytes per vector (byte `b` holds
//! dimension `8g + b` in its low nibble and `8g + 4 + b` in its high nibble), 64 bytes per group.
//! One 512-bit `vpdpbusd` then multiplies 4 codes by 4 query weights for all 16 vectors, so a
//! batch of 16 neighbours costs about `dim / 4` instructions and one sequential read, where 16
//! code rows cost 16 scattered reads and 16 horizontal sums (the layout of FAISS's PQ fast-scan
//! and of SymphonyQG's neighbour blocks, here with 4-bit scalar codes; see `docs/quantization.md`).
//!
//! The weights are the codec's `i8` query ([`QueryI8`]), so the batch kernel returns exactly the
//! integer dot product that `dot_i8_u4` returns for each row: a fast-scan search scores every node
//! exactly as the row layout does and visits the same nodes in the same order.

use super::kernels::scalar::u4_weight_index;
use super::kernels::QueryI8;
use crate::simd::{Avx2, Avx512, Avx512Vnni, Isa, Level, Scalar};

/// Vectors per fast-scan batch.
pub(crate) const BATCH: usize = 16;

/// Dimensions per group (4 bytes per vector).
const GROUP_DIMS: usize = 8;

/// Bytes of one group of one batch.
const GROUP_BYTES: usize = BATCH * GROUP_DIMS / 2;

/// Dimension groups of a `dim`-dimensional code.
pub(crate) const fn groups(dim: usize) -> usize {
    dim.div_ceil(GROUP_DIMS)
}

/// Bytes of the codes of one batch of `dim`-dimensional vectors.
pub(crate) const fn batch_bytes(dim: usize) -> usize {
    groups(dim) * GROUP_BYTES
}

/// Writes the 4-bit codes of one vector (`packed`: a code row's codes, two per byte, low nibble
/// first) into slot `slot` (< [`BATCH`]) of a batch (`batch`: [`batch_bytes`] long).
///
/// # Panics
/// When `slot >= BATCH`, `batch` is not `batch_bytes(dim)` long, or `packed` is shorter than
/// `dim.div_ceil(2)`.
pub(crate) fn pack_into_batch(packed: &[u8], dim: usize, slot: usize, batch: &mut [u8]) {
    assert!(slot < BATCH, "fast-scan slot {slot} out of range");
    assert_eq!(batch.len(), batch_bytes(dim), "fast-scan batch size");
    let code = |i: usize| {
        if i < dim {
            (packed[i / 2] >> ((i % 2) * 4)) & 0x0F
        } else {
            0
        }
    };
    for g in 0..groups(dim) {
        let at = g * GROUP_BYTES + slot * 4;
        for b in 0..4 {
            let d = g * GROUP_DIMS + b;
            batch[at + b] = code(d) | (code(d + 4) << 4);
        }
    }
}

/// A query prepared for fast-scan batches: per dimension group, the `i8` weights of its low-nibble
/// dimensions and of its high-nibble dimensions, each four packed into an `i32` (little-endian).
#[derive(Debug, Clone, Default)]
pub(crate) struct FastScanQuery {
    lo: Vec<i32>,
    hi: Vec<i32>,
}

impl FastScanQuery {
    /// Rearranges the codec's 4-bit `i8` query for `dim` dimensions (weights past `q.len` are 0).
    pub(crate) fn new(q: &QueryI8, dim: usize) -> Self {
        let w = |i: usize| -> u8 {
            if i < q.len.min(dim) {
                q.weights[u4_weight_index(i)] as u8
            } else {
                0
            }
        };
        let word = |d: usize| i32::from_le_bytes([w(d), w(d + 1), w(d + 2), w(d + 3)]);
        let n = groups(dim);
        FastScanQuery {
            lo: (0..n).map(|g| word(g * GROUP_DIMS)).collect(),
            hi: (0..n).map(|g| word(g * GROUP_DIMS + 4)).collect(),
        }
    }

    /// Dimension groups covered.
    pub(crate) fn groups(&self) -> usize {
        self.lo.len()
    }
}

/// The batch kernel of one CPU level: `out[j]` = the exact integer dot of the query with the codes
/// in slot `j` (wrapping `i32`, as `dot_i8_u4`).
pub(crate) trait BatchKernels: Isa {
    /// Scores one batch.
    ///
    /// # Panics
    /// When `codes` is shorter than `q.groups()` groups.
    fn dot_batch(self, q: &FastScanQuery, codes: &[u8], out: &mut [i32; BATCH]);
}

impl BatchKernels for Scalar {
    #[inline(always)]
    fn dot_batch(self, q: &FastScanQuery, codes: &[u8], out: &mut [i32; BATCH]) {
        dot_batch_scalar(q, codes, out)
    }
}

/// Implements [`BatchKernels`] for an x86 level (scalar on other architectures, where the level
/// types cannot be obtained).
macro_rules! x86_batch_kernel {
    ($level:ty, $kernel:ident) => {
        impl BatchKernels for $level {
            #[inline(always)]
            fn dot_batch(self, q: &FastScanQuery, codes: &[u8], out: &mut [i32; BATCH]) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a value of the level exists only after the CPU was found to support it
                // (`crate::simd`), which covers what the kernel needs.
                return unsafe { x86::$kernel(q, codes, out) };
                #[cfg(not(target_arch = "x86_64"))]
                dot_batch_scalar(q, codes, out)
            }
        }
    };
}

x86_batch_kernel!(Avx2, dot_batch_avx2);
x86_batch_kernel!(Avx512, dot_batch_avx2);
x86_batch_kernel!(Avx512Vnni, dot_batch_vnni);

/// A batch kernel as a plain function pointer (tests and benchmarks).
pub(crate) type BatchKernel = fn(&FastScanQuery, &[u8], &mut [i32; BATCH]);

/// Every distinct batch kernel this CPU can run, fastest first, with its level's name; the last
/// is the scalar reference. For tests and benchmarks.
pub(crate) fn supported() -> Vec<(&'static str, BatchKernel)> {
    fn of<K: BatchKernels>() -> BatchKernel {
        |q, codes, out| {
            // SAFETY: `supported` builds this pointer only for a level `Level::supported`
            // returned, i.e. after `crate::simd` checked the CPU.
            unsafe { K::assume_supported() }.dot_batch(q, codes, out)
        }
    }
    let mut out: Vec<(&'static str, BatchKernel)> = Vec::with_capacity(3);
    for level in Level::supported() {
        match level {
            Level::Avx512Vnni(_) => out.push((Avx512Vnni::NAME, of::<Avx512Vnni>())),
            // AVX-512 without VNNI runs the AVX2 batch kernel: listed once, as AVX2.
            Level::Avx512(_) => {}
            Level::Avx2(_) => out.push((Avx2::NAME, of::<Avx2>())),
            Level::Scalar(_) => out.push((Scalar::NAME, of::<Scalar>())),
        }
    }
    out
}

/// The scalar reference kernel.
///
/// # Panics
/// When `codes` is shorter than `q.groups()` groups.
pub(crate) fn dot_batch_scalar(q: &FastScanQuery, codes: &[u8], out: &mut [i32; BATCH]) {
    let codes = &codes[..q.groups() * GROUP_BYTES];
    *out = [0; BATCH];
    for (g, group) in codes.chunks_exact(GROUP_BYTES).enumerate() {
        let lo = q.lo[g].to_le_bytes();
        let hi = q.hi[g].to_le_bytes();
        for (j, word) in group.chunks_exact(4).enumerate() {
            for b in 0..4 {
                let c = word[b];
                let s = i32::from(lo[b] as i8) * i32::from(c & 0x0F)
                    + i32::from(hi[b] as i8) * i32::from(c >> 4);
                out[j] = out[j].wrapping_add(s);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{FastScanQuery, BATCH, GROUP_BYTES};

    /// The VNNI batch kernel.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, BW and VNNI.
    pub(super) unsafe fn dot_batch_vnni(q: &FastScanQuery, codes: &[u8], out: &mut [i32; BATCH]) {
        let groups = q.groups();
        assert!(
            codes.len() >= groups * GROUP_BYTES,
            "fast-scan batch too short"
        );
        // SAFETY: the CPU has the features (the caller's contract); `codes` holds `groups` whole
        // groups (checked above) and `q.lo`/`q.hi` hold `groups` words each, so every load is in
        // bounds; `out` is 16 i32 = one 512-bit store.
        unsafe { dot_batch_vnni_raw(q, codes.as_ptr(), groups, out) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn dot_batch_vnni_raw(
        q: &FastScanQuery,
        codes: *const u8,
        groups: usize,
        out: &mut [i32; BATCH],
    ) {
        let mask = _mm512_set1_epi8(0x0F);
        let mut acc_lo = _mm512_setzero_si512();
        let mut acc_hi = _mm512_setzero_si512();
        for g in 0..groups {
            // SAFETY: the caller guarantees `groups` 64-byte groups behind `codes`.
            let x = unsafe { _mm512_loadu_si512(codes.add(g * GROUP_BYTES).cast()) };
            let lo = _mm512_and_si512(x, mask);
            let hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), mask);
            // u8 codes × i8 weights, 4 products summed into each vector's i32 lane (exact).
            acc_lo = _mm512_dpbusd_epi32(acc_lo, lo, _mm512_set1_epi32(q.lo[g]));
            acc_hi = _mm512_dpbusd_epi32(acc_hi, hi, _mm512_set1_epi32(q.hi[g]));
        }
        let sum = _mm512_add_epi32(acc_lo, acc_hi);
        // SAFETY: `out` is 16 i32, exactly one 512-bit unaligned store.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), sum) };
    }

    /// The AVX2 batch kernel.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    pub(super) unsafe fn dot_batch_avx2(q: &FastScanQuery, codes: &[u8], out: &mut [i32; BATCH]) {
        let groups = q.groups();
        assert!(
            codes.len() >= groups * GROUP_BYTES,
            "fast-scan batch too short"
        );
        // SAFETY: the CPU has AVX2 (the caller's contract); the bounds are as in
        // `dot_batch_vnni`.
        unsafe { dot_batch_avx2_raw(q, codes.as_ptr(), groups, out) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn dot_batch_avx2_raw(
        q: &FastScanQuery,
        codes: *const u8,
        groups: usize,
        out: &mut [i32; BATCH],
    ) {
        let mask = _mm256_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_si256(); 2];
        for g in 0..groups {
            let wlo = _mm256_set1_epi32(q.lo[g]);
            let whi = _mm256_set1_epi32(q.hi[g]);
            for (half, acc) in acc.iter_mut().enumerate() {
                // SAFETY: the caller guarantees `groups` 64-byte groups behind `codes`.
                let x =
                    unsafe { _mm256_loadu_si256(codes.add(g * GROUP_BYTES + half * 32).cast()) };
                let lo = _mm256_and_si256(x, mask);
                let hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
                // u8 × i8 pairs into i16: at most 2 · 15 · 127 = 3,810 per pair, 7,620 summed, so
                // neither the saturating multiply-add nor the i16 add can overflow.
                let s =
                    _mm256_add_epi16(_mm256_maddubs_epi16(lo, wlo), _mm256_maddubs_epi16(hi, whi));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(s, ones));
            }
        }
        // SAFETY: `out` is 16 i32, two 256-bit unaligned stores.
        unsafe {
            _mm256_storeu_si256(out.as_mut_ptr().cast(), acc[0]);
            _mm256_storeu_si256(out.as_mut_ptr().add(8).cast(), acc[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;
    use crate::quant::kernels::{pack_u4, quantize_query};

    /// Every supported kernel gives, for every slot, exactly the row kernel's integer dot product
    /// (the scalar `dot_i8_u4`), on every dimension from 1 to 130 and on full and partial batches.
    #[test]
    fn batch_kernels_equal_the_row_kernel_on_every_dimension() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let kernels = supported();
        for dim in 1..=130 {
            let w: Vec<f32> = (0..dim).map(|_| rng.random_range(-3.0..3.0)).collect();
            let q = quantize_query(&w, 4);
            let fq = FastScanQuery::new(&q, dim);
            for filled in [1, 7, BATCH] {
                let mut batch = vec![0u8; batch_bytes(dim)];
                let mut rows = Vec::new();
                for slot in 0..filled {
                    let codes: Vec<u8> = (0..dim).map(|_| rng.random_range(0..16u8)).collect();
                    let mut packed = vec![0u8; dim.div_ceil(2)];
                    pack_u4(&codes, &mut packed);
                    pack_into_batch(&packed, dim, slot, &mut batch);
                    rows.push(packed);
                }
                for (name, kernel) in &kernels {
                    let mut out = [0i32; BATCH];
                    kernel(&fq, &batch, &mut out);
                    for (slot, row) in rows.iter().enumerate() {
                        let want = crate::quant::kernels::scalar::dot_i8_u4(&q, row);
                        assert_eq!(out[slot], want, "{name}, dim {dim}, slot {slot}");
                    }
                    for (slot, &got) in out.iter().enumerate().skip(filled) {
                        assert_eq!(got, 0, "{name}, dim {dim}: empty slot {slot}");
                    }
                }
            }
        }
    }

    /// The extreme weights and codes (±127 × 15 on every dimension) stay exact.
    #[test]
    fn batch_kernels_are_exact_at_the_extremes() {
        for dim in [8, 64, 784, 1536] {
            for sign in [1.0f32, -1.0] {
                let w = vec![sign; dim];
                let q = quantize_query(&w, 4);
                let fq = FastScanQuery::new(&q, dim);
                let packed = vec![0xFFu8; dim.div_ceil(2)];
                let mut batch = vec![0u8; batch_bytes(dim)];
                for slot in 0..BATCH {
                    pack_into_batch(&packed, dim, slot, &mut batch);
                }
                for (name, kernel) in supported() {
                    let mut out = [0i32; BATCH];
                    kernel(&fq, &batch, &mut out);
                    let want = sign as i32 * 127 * 15 * dim as i32;
                    assert!(out.iter().all(|&x| x == want), "{name}, dim {dim}: {out:?}");
                }
            }
        }
    }

    #[test]
    fn the_scalar_kernel_is_listed_last() {
        assert_eq!(supported().last().unwrap().0, "scalar");
    }
}
