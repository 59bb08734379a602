//! The RaBitQ kernels of one instruction set, chosen once per process.
//!
//! | set | needs (x86_64) | rotation | fast scan (32 codes) | 1-bit row | extended row |
//! |---|---|---|---|---|---|
//! | `avx512` | AVX-512 F, BW, VPOPCNTDQ; POPCNT | the scalar code compiled for AVX-512 | `vpshufb` on 64 bytes (4 groups), `u16` lanes | `vpopcntq` on 8 words | 16 lanes, FMA |
//! | `avx512bw` | AVX-512 F, BW; POPCNT | as `avx512` | as `avx512` | `popcnt` | as `avx512` |
//! | `avx2` | AVX2, FMA, POPCNT | compiled for AVX2 | `vpshufb` on 32 bytes (2 groups) | `popcnt` | 8 lanes, FMA |
//! | `scalar` | everywhere | [`Rotation::rotate_scalar`] | [`accumulate_scalar`] | [`row_dot_scalar`] | [`ex_dot_scalar`] |
//!
//! The rotation, the fast-scan and the 1-bit row kernels give the scalar twin's exact results
//! (the same float operations in the same order; exact integer sums); the extended-row kernel sums
//! floats in another order and matches to rounding. VNNI (`vpdpbusd`) has no place here: the
//! fast-scan kernel is shuffles and additions, and the extended kernel keeps the query in `f32`
//! (an `i8` query would add an error the 8-bit codes do not have).

use std::sync::OnceLock;

use super::binary::row_dot_scalar;
use super::extended::ex_dot_scalar;
use super::fastscan::{accumulate_scalar, BATCH};
use super::rotation::Rotation;
use crate::simd::{Avx2, Avx512, Avx512Vnni, Scalar};

#[cfg(target_arch = "x86_64")]
mod x86;

/// The 1-bit row kernel: `(code, planes, words, bits) -> (weighted popcount, popcount)`.
pub(crate) type RowDotFn = fn(&[u8], &[u64], usize, u32) -> (u32, u32);

/// The kernels of one instruction set, as plain function pointers (tests and benchmarks compare
/// the sets; a search calls the [`RabitqKernels`] of its CPU level directly).
#[derive(Debug)]
pub(crate) struct KernelSet {
    /// The instruction set: `avx512`, `avx512bw`, `avx2` or `scalar`.
    pub(crate) name: &'static str,
    /// [`Rotation::rotate`].
    pub(crate) rotate: fn(&Rotation, &[f32], &mut [f32]),
    /// The fast-scan sums of one batch: `(codes, table, sums)`, see [`accumulate_scalar`].
    pub(crate) fastscan: fn(&[u8], &[u8], &mut [u32; BATCH]),
    /// `(Σₚ 2ᵖ popcount(code & planeₚ), popcount(code))`: `(code, planes, words, bits)`, see
    /// [`row_dot_scalar`].
    pub(crate) row_dot: RowDotFn,
    /// `Σ q[i] · vᵢ` over packed `width`-bit values: `(q, packed, width)`, see [`ex_dot_scalar`].
    pub(crate) ex_dot: fn(&[f32], &[u8], u32) -> f32,
}

/// The scalar reference set.
static SCALAR: KernelSet = KernelSet {
    name: "scalar",
    rotate: Rotation::rotate_scalar,
    fastscan: accumulate_scalar,
    row_dot: row_dot_scalar,
    ex_dot: ex_dot_scalar,
};

/// Every kernel set this CPU can run, fastest first; the last is always `scalar`.
pub(crate) fn supported() -> Vec<&'static KernelSet> {
    let mut sets = Vec::with_capacity(4);
    #[cfg(target_arch = "x86_64")]
    {
        sets.extend(x86::avx512());
        sets.extend(x86::avx512bw());
        sets.extend(x86::avx2());
    }
    sets.push(&SCALAR);
    sets
}

/// The fastest kernel set of this CPU, detected on the first call.
pub(crate) fn active() -> &'static KernelSet {
    static ACTIVE: OnceLock<&'static KernelSet> = OnceLock::new();
    ACTIVE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(k) = x86::avx512().or_else(x86::avx512bw).or_else(x86::avx2) {
                return k;
            }
        }
        &SCALAR
    })
}

/// The query- and centroid-dependent constants that turn a batch's fast-scan sums into estimates:
/// `⟨x, q'⟩ = scale · S + offset`, `estimate = add + g_add + rescale · ⟨x, q'⟩`,
/// `lower = estimate − radius · error`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchTerms {
    pub(crate) scale: f32,
    pub(crate) offset: f32,
    pub(crate) g_add: f32,
    pub(crate) radius: f32,
}

/// Estimates and lower bounds of a batch's 32 slots from their fast-scan `sums` and the factors
/// after the codes (`add × 32, rescale × 32, error × 32`, little-endian `f32`). Written once; each
/// level compiles it with its instruction set, where it vectorises.
#[inline(always)]
pub(crate) fn finalize_scalar(
    sums: &[u32; BATCH],
    factors: &[u8],
    t: &BatchTerms,
    est: &mut [f32; BATCH],
    lower: &mut [f32; BATCH],
) {
    let f = |i: usize| {
        let c = &factors[4 * i..4 * i + 4];
        f32::from_le_bytes([c[0], c[1], c[2], c[3]])
    };
    for j in 0..BATCH {
        let x_q = t.scale * sums[j] as f32 + t.offset;
        let v = f(j) + t.g_add + f(BATCH + j) * x_q;
        est[j] = v;
        lower[j] = v - t.radius * f(2 * BATCH + j);
    }
}

/// The RaBitQ kernels of one CPU level (the `crate::simd` level types, whose values prove the CPU
/// has the instructions), or of a function-pointer [`KernelSet`].
pub(crate) trait RabitqKernels: Copy {
    /// The fast-scan sums of one batch, see [`accumulate_scalar`].
    fn fastscan(self, codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]);
    /// See [`row_dot_scalar`].
    fn row_dot(self, code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32);
    /// See [`ex_dot_scalar`].
    fn ex_dot(self, q: &[f32], packed: &[u8], width: u32) -> f32;

    /// See [`finalize_scalar`].
    ///
    /// # Panics
    /// When `factors` is shorter than `3 · 32 · 4` bytes.
    #[inline(always)]
    fn finalize(
        self,
        sums: &[u32; BATCH],
        factors: &[u8],
        t: &BatchTerms,
        est: &mut [f32; BATCH],
        lower: &mut [f32; BATCH],
    ) {
        finalize_scalar(sums, factors, t, est, lower)
    }
}

impl RabitqKernels for &'static KernelSet {
    #[inline(always)]
    fn fastscan(self, codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
        (self.fastscan)(codes, table, sums)
    }
    #[inline(always)]
    fn row_dot(self, code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
        (self.row_dot)(code, planes, words, bits)
    }
    #[inline(always)]
    fn ex_dot(self, q: &[f32], packed: &[u8], width: u32) -> f32 {
        (self.ex_dot)(q, packed, width)
    }
}

impl RabitqKernels for Scalar {
    #[inline(always)]
    fn fastscan(self, codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
        accumulate_scalar(codes, table, sums)
    }
    #[inline(always)]
    fn row_dot(self, code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
        row_dot_scalar(code, planes, words, bits)
    }
    #[inline(always)]
    fn ex_dot(self, q: &[f32], packed: &[u8], width: u32) -> f32 {
        ex_dot_scalar(q, packed, width)
    }
}

/// Implements [`RabitqKernels`] for an x86 level with the kernels of one instruction set (the
/// scalar ones elsewhere, where the level types cannot be obtained). The AVX-512 levels use the
/// `popcnt` row kernel: `vpopcntq` needs VPOPCNTDQ, which neither level implies.
macro_rules! x86_rabitq_kernels {
    ($level:ty, $fastscan:ident, $row_dot:ident, $ex_dot:ident, $finalize:ident) => {
        impl RabitqKernels for $level {
            #[inline(always)]
            fn fastscan(self, codes: &[u8], table: &[u8], sums: &mut [u32; BATCH]) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a value of the level exists only after `crate::simd` found the CPU to
                // support it, which covers the kernel's features.
                return unsafe { x86::$fastscan(codes, table, sums) };
                #[cfg(not(target_arch = "x86_64"))]
                accumulate_scalar(codes, table, sums)
            }
            #[inline(always)]
            fn row_dot(self, code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `fastscan` (AVX2 implies POPCNT on every CPU, and `crate::simd`
                // checks it).
                return unsafe { x86::$row_dot(code, planes, words, bits) };
                #[cfg(not(target_arch = "x86_64"))]
                row_dot_scalar(code, planes, words, bits)
            }
            #[inline(always)]
            fn ex_dot(self, q: &[f32], packed: &[u8], width: u32) -> f32 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `fastscan`.
                return unsafe { x86::$ex_dot(q, packed, width) };
                #[cfg(not(target_arch = "x86_64"))]
                ex_dot_scalar(q, packed, width)
            }
            #[inline(always)]
            fn finalize(
                self,
                sums: &[u32; BATCH],
                factors: &[u8],
                t: &BatchTerms,
                est: &mut [f32; BATCH],
                lower: &mut [f32; BATCH],
            ) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `fastscan`.
                return unsafe { x86::$finalize(sums, factors, t, est, lower) };
                #[cfg(not(target_arch = "x86_64"))]
                finalize_scalar(sums, factors, t, est, lower)
            }
        }
    };
}

x86_rabitq_kernels!(
    Avx2,
    fastscan_avx2_checked,
    row_dot_popcnt_checked,
    ex_dot_avx2_checked,
    finalize_avx2
);
x86_rabitq_kernels!(
    Avx512,
    fastscan_avx512_checked,
    row_dot_popcnt_checked,
    ex_dot_avx512_checked,
    finalize_avx512
);
x86_rabitq_kernels!(
    Avx512Vnni,
    fastscan_avx512_checked,
    row_dot_popcnt_checked,
    ex_dot_avx512_checked,
    finalize_avx512
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_is_the_first_supported() {
        let all = supported();
        assert_eq!(all.last().unwrap().name, "scalar");
        assert_eq!(active().name, all[0].name);
    }
}
