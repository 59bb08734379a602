//! Scoring kernels for quantized codes: the weighted dot product `Σ w[i] · code(i)` of a prepared
//! `f32` query `w` against one row of 8-bit codes (`u8`, one per byte) or 4-bit codes (`u4`, two
//! per byte, low nibble first). The caller adds the per-vector affine terms.
//!
//! The integer path does the same with the query quantized to `i8` once per search
//! ([`quantize_query`], layout in [`QueryI8`]): `dot_i8_u8` / `dot_i8_u4` return the exact `i32`
//! sum `Σ wq[i] · c[i]`, and `scale · dot_i8 ≈ Σ w[i] · c[i]`.
//!
//! | kernel set | where (x86_64) | `f32` query | `i8` query |
//! |---|---|---|---|
//! | `avx512+vnni` | AVX-512 F, BW, VL, VNNI | as `avx512` | `vpdpbusd` ×4, masked tail |
//! | `avx512` | AVX-512 F, BW, VL; AVX2 | 16 lanes ×4, masked tail | as `avx2+fma` |
//! | `avx2+fma` | AVX2, FMA | 8 lanes ×4, stack-copied tail | `vpmaddwd` / `vpmaddubsw` |
//! | `scalar` | everywhere | [`scalar`] | [`scalar`] |
//!
//! As in `distance`, the kernels are a trait ([`CodeKernels`]) of the CPU levels of
//! [`crate::simd`]: a search gets its level once and calls the kernels directly. Every kernel reads
//! `min(w.len(), codes.len())` codes (`u8`) or `min(w.len(), 2 · packed.len())` codes (`u4`) and
//! never reads out of bounds; the integer kernels read the same with `q.len` for `w.len()`.
//! [`QuantKernels`] holds the same kernels as function pointers, for tests and benchmarks.

use std::sync::OnceLock;

use crate::simd::{Avx2, Avx512, Avx512Vnni, Isa, Level, Scalar};

pub(crate) mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

// The packers are codec plumbing rather than kernels, but live beside the layout they define.
pub(crate) use scalar::{pack_u4, packed_u4_len};
// The `i8` query is built by the codec once per search, in the layout the integer kernels read.
pub(crate) use scalar::{quantize_query, QueryI8};

/// The quantized-code kernels of one CPU level.
///
/// The codecs score with `dot_u8` (8-bit codes) and `dot_i8_u4` (4-bit codes). `dot_u4` and
/// `dot_i8_u8` are the measured alternatives (f32 weights on 4-bit codes: ~4× slower; i8 weights on
/// 8-bit codes: costs recall without reranking, `docs/quantization.md`); they stay, tested against
/// their scalar twins, as the baselines `benches/quant.rs` compares the chosen kernels with.
pub(crate) trait CodeKernels: Isa {
    /// `Σ w[i] · codes[i]` over `min(w.len(), codes.len())` 8-bit codes.
    fn dot_u8(self, w: &[f32], codes: &[u8]) -> f32;
    /// `Σ w[i] · code(i)` over `min(w.len(), 2 · packed.len())` packed 4-bit codes.
    fn dot_u4(self, w: &[f32], packed: &[u8]) -> f32;
    /// The exact `Σ wq[i] · codes[i]` over `min(q.len, codes.len())` 8-bit codes, `q` from
    /// `quantize_query(w, 8)`.
    ///
    /// # Panics
    /// When `q.weights` does not cover those codes (a `QueryI8` not from `quantize_query`).
    fn dot_i8_u8(self, q: &QueryI8, codes: &[u8]) -> i32;
    /// The exact `Σ wq[i] · code(i)` over `min(q.len, 2 · packed.len())` packed 4-bit codes, `q`
    /// from `quantize_query(w, 4)`.
    ///
    /// # Panics
    /// As `dot_i8_u8`.
    fn dot_i8_u4(self, q: &QueryI8, packed: &[u8]) -> i32;
}

impl CodeKernels for Scalar {
    #[inline(always)]
    fn dot_u8(self, w: &[f32], codes: &[u8]) -> f32 {
        scalar::dot_u8(w, codes)
    }
    #[inline(always)]
    fn dot_u4(self, w: &[f32], packed: &[u8]) -> f32 {
        scalar::dot_u4(w, packed)
    }
    #[inline(always)]
    fn dot_i8_u8(self, q: &QueryI8, codes: &[u8]) -> i32 {
        scalar::dot_i8_u8(q, codes)
    }
    #[inline(always)]
    fn dot_i8_u4(self, q: &QueryI8, packed: &[u8]) -> i32 {
        scalar::dot_i8_u4(q, packed)
    }
}

/// Implements [`CodeKernels`] for an x86 level: f32 kernels of one instruction set, integer
/// kernels of another (AVX-512 without VNNI uses the AVX2 integer kernels). On other
/// architectures the level types cannot be obtained, and the scalar kernels stand in.
macro_rules! x86_code_kernels {
    ($level:ty, $u8:ident, $u4:ident, $i8u8:ident, $i8u4:ident) => {
        impl CodeKernels for $level {
            #[inline(always)]
            fn dot_u8(self, w: &[f32], codes: &[u8]) -> f32 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a value of the level exists only after the CPU was found to support it
                // (`crate::simd`), and the kernel needs no more than the level names.
                return unsafe { x86::$u8(w, codes) };
                #[cfg(not(target_arch = "x86_64"))]
                scalar::dot_u8(w, codes)
            }
            #[inline(always)]
            fn dot_u4(self, w: &[f32], packed: &[u8]) -> f32 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `dot_u8`.
                return unsafe { x86::$u4(w, packed) };
                #[cfg(not(target_arch = "x86_64"))]
                scalar::dot_u4(w, packed)
            }
            #[inline(always)]
            fn dot_i8_u8(self, q: &QueryI8, codes: &[u8]) -> i32 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `dot_u8`.
                return unsafe { x86::$i8u8(q, codes) };
                #[cfg(not(target_arch = "x86_64"))]
                scalar::dot_i8_u8(q, codes)
            }
            #[inline(always)]
            fn dot_i8_u4(self, q: &QueryI8, packed: &[u8]) -> i32 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `dot_u8`.
                return unsafe { x86::$i8u4(q, packed) };
                #[cfg(not(target_arch = "x86_64"))]
                scalar::dot_i8_u4(q, packed)
            }
        }
    };
}

x86_code_kernels!(
    Avx2,
    dot_u8_avx2,
    dot_u4_avx2,
    dot_i8_u8_avx2,
    dot_i8_u4_avx2
);
x86_code_kernels!(
    Avx512,
    dot_u8_avx512,
    dot_u4_avx512,
    dot_i8_u8_avx2,
    dot_i8_u4_avx2
);
x86_code_kernels!(
    Avx512Vnni,
    dot_u8_avx512,
    dot_u4_avx512,
    dot_i8_u8_vnni,
    dot_i8_u4_vnni
);

/// The kernels of one CPU level as plain function pointers (tests and benchmarks; the codecs call
/// [`CodeKernels`] directly).
#[derive(Debug)]
pub(crate) struct QuantKernels {
    /// The level: `avx512+vnni`, `avx512`, `avx2+fma` or `scalar`.
    pub(crate) name: &'static str,
    /// See [`CodeKernels::dot_u8`].
    pub(crate) dot_u8: fn(&[f32], &[u8]) -> f32,
    /// See [`CodeKernels::dot_u4`].
    pub(crate) dot_u4: fn(&[f32], &[u8]) -> f32,
    /// See [`CodeKernels::dot_i8_u8`].
    pub(crate) dot_i8_u8: fn(&QueryI8, &[u8]) -> i32,
    /// See [`CodeKernels::dot_i8_u4`].
    pub(crate) dot_i8_u4: fn(&QueryI8, &[u8]) -> i32,
}

/// The pointer set of level `K`: monomorphised wrappers that call the level's kernels. Only built
/// for a level of this CPU ([`kernels_of`]), which is what makes [`Isa::assume_supported`] sound.
fn set_of<K: CodeKernels>() -> QuantKernels {
    fn k<K: Isa>() -> K {
        // SAFETY: `set_of::<K>` is only called by `kernels_of` for a level it was handed by
        // `Level`, i.e. after `crate::simd` checked the CPU.
        unsafe { K::assume_supported() }
    }
    QuantKernels {
        name: K::NAME,
        dot_u8: |w, c| k::<K>().dot_u8(w, c),
        dot_u4: |w, c| k::<K>().dot_u4(w, c),
        dot_i8_u8: |q, c| k::<K>().dot_i8_u8(q, c),
        dot_i8_u4: |q, c| k::<K>().dot_i8_u4(q, c),
    }
}

/// The pointer set of a level of this CPU.
fn kernels_of(level: Level) -> QuantKernels {
    match level {
        Level::Avx512Vnni(_) => set_of::<Avx512Vnni>(),
        Level::Avx512(_) => set_of::<Avx512>(),
        Level::Avx2(_) => set_of::<Avx2>(),
        Level::Scalar(_) => set_of::<Scalar>(),
    }
}

/// Every kernel set this CPU can run, fastest first; the last is always `scalar`. For tests and
/// benchmarks, not hot loops.
pub(crate) fn supported() -> Vec<QuantKernels> {
    Level::supported().into_iter().map(kernels_of).collect()
}

/// The fastest kernel set this CPU supports, chosen on the first call and cached.
pub(crate) fn active() -> &'static QuantKernels {
    static ACTIVE: OnceLock<QuantKernels> = OnceLock::new();
    ACTIVE.get_or_init(|| kernels_of(Level::best()))
}

/// The kernels, reachable from `benches/quant.rs` (re-exported by the crate root as
/// `__quant_bench`). Not part of the public API.
#[doc(hidden)]
pub mod bench_api;

#[cfg(test)]
mod tests;
