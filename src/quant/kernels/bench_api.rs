//! The kernels, reachable from `benches/quant.rs` (re-exported by the crate root as
//! `__quant_bench`). Not part of the public API.

/// The name of the active kernel set.
pub fn active_name() -> &'static str {
    super::active().name
}

/// Every kernel set this CPU can run as `(name, dot_u8, dot_u4)`, fastest first.
#[allow(clippy::type_complexity)]
pub fn kernel_sets() -> Vec<(
    &'static str,
    fn(&[f32], &[u8]) -> f32,
    fn(&[f32], &[u8]) -> f32,
)> {
    super::supported()
        .into_iter()
        .map(|k| (k.name, k.dot_u8, k.dot_u4))
        .collect()
}

/// `Σ w[i] · codes[i]` on the active kernel set.
pub fn dot_u8(w: &[f32], codes: &[u8]) -> f32 {
    (super::active().dot_u8)(w, codes)
}

/// `Σ w[i] · code(i)` of packed 4-bit codes on the active kernel set.
pub fn dot_u4(w: &[f32], packed: &[u8]) -> f32 {
    (super::active().dot_u4)(w, packed)
}

/// A query quantized to `i8` for the integer kernels (see `quantize_query`).
#[derive(Debug, Clone)]
pub struct QueryI8(super::QueryI8);

impl QueryI8 {
    /// The quantization step: `Σ w · c ≈ scale · dot_i8`.
    pub fn scale(&self) -> f32 {
        self.0.scale
    }
}

/// Quantizes `w` to `i8` in the layout of the `bits`-bit (8 or 4) integer kernels.
///
/// # Panics
/// When `bits` is neither 8 nor 4.
pub fn quantize_query(w: &[f32], bits: u32) -> QueryI8 {
    QueryI8(super::quantize_query(w, bits))
}

/// `Σ wq[i] · codes[i]` on the active kernel set, `q` quantized for 8 bits.
pub fn dot_i8_u8(q: &QueryI8, codes: &[u8]) -> i32 {
    (super::active().dot_i8_u8)(&q.0, codes)
}

/// `Σ wq[i] · code(i)` of packed 4-bit codes on the active kernel set, `q` quantized for 4
/// bits.
pub fn dot_i8_u4(q: &QueryI8, packed: &[u8]) -> i32 {
    (super::active().dot_i8_u4)(&q.0, packed)
}

/// The integer kernels of one kernel set, called through function pointers as a hot loop
/// holding the cached set calls them.
#[derive(Debug, Clone, Copy)]
pub struct IntKernels {
    dot_i8_u8: fn(&super::QueryI8, &[u8]) -> i32,
    dot_i8_u4: fn(&super::QueryI8, &[u8]) -> i32,
}

impl IntKernels {
    /// `Σ wq[i] · codes[i]`, `q` quantized for 8 bits.
    #[inline]
    pub fn dot_i8_u8(&self, q: &QueryI8, codes: &[u8]) -> i32 {
        (self.dot_i8_u8)(&q.0, codes)
    }

    /// `Σ wq[i] · code(i)` of packed 4-bit codes, `q` quantized for 4 bits.
    #[inline]
    pub fn dot_i8_u4(&self, q: &QueryI8, packed: &[u8]) -> i32 {
        (self.dot_i8_u4)(&q.0, packed)
    }
}

/// Every kernel set this CPU can run as `(name, integer kernels)`, fastest first.
pub fn int_kernel_sets() -> Vec<(&'static str, IntKernels)> {
    super::supported()
        .into_iter()
        .map(|k| {
            let ik = IntKernels {
                dot_i8_u8: k.dot_i8_u8,
                dot_i8_u4: k.dot_i8_u4,
            };
            (k.name, ik)
        })
        .collect()
}

/// Packs 4-bit codes two per byte, low nibble first.
///
/// # Panics
/// When `out` is shorter than `ceil(codes.len() / 2)`.
pub fn pack_u4(codes: &[u8], out: &mut [u8]) {
    super::pack_u4(codes, out)
}

/// Vectors per fast-scan batch.
pub const FAST_SCAN_BATCH: usize = crate::quant::fastscan::BATCH;

/// Scores a [`FastScanBatch`] with one kernel set.
pub type FastScanKernel = fn(&FastScanBatch) -> [i32; 16];

/// 16 packed 4-bit rows laid out as one fast-scan batch (64-byte aligned), with the query
/// prepared for it.
pub struct FastScanBatch {
    query: crate::quant::fastscan::FastScanQuery,
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl FastScanBatch {
    /// Packs `rows` (at most 16 packed 4-bit code rows of `dim` codes) for query `q`
    /// (quantized for 4 bits).
    pub fn new(q: &QueryI8, dim: usize, rows: &[&[u8]]) -> Self {
        use crate::quant::fastscan::{batch_bytes, pack_into_batch, FastScanQuery};
        let len = batch_bytes(dim);
        let mut buf = vec![0u8; len + 64];
        let start = buf.as_ptr().align_offset(64).min(64);
        for (slot, row) in rows.iter().enumerate() {
            pack_into_batch(row, dim, slot, &mut buf[start..start + len]);
        }
        FastScanBatch {
            query: FastScanQuery::new(&q.0, dim),
            buf,
            start,
            len,
        }
    }

    /// Every fast-scan kernel this CPU supports, fastest first, as `(name, kernel)`.
    pub fn kernels() -> Vec<(&'static str, FastScanKernel)> {
        fn run<const K: usize>(b: &FastScanBatch) -> [i32; 16] {
            let mut out = [0; 16];
            let kernel = crate::quant::fastscan::supported()[K].1;
            kernel(&b.query, &b.buf[b.start..b.start + b.len], &mut out);
            out
        }
        let runners: [FastScanKernel; 3] = [run::<0>, run::<1>, run::<2>];
        crate::quant::fastscan::supported()
            .into_iter()
            .zip(runners)
            .map(|((name, _), r)| (name, r))
            .collect()
    }
}
