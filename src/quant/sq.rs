//! Scalar quantization: training, encoding, and the per-query preparation that turns scoring a
//! code into one weighted dot product.
//!
//! Two schemes (see `docs/quantization.md` for how they were measured):
//!
//! * **per-dimension** (FAISS `ScalarQuantizer`): each dimension `i` has its own range
//!   `[minᵢ, minᵢ + 2ᵇ−1·δᵢ]` trained from the data; `x̂ᵢ = minᵢ + δᵢ·cᵢ`.
//! * **per-vector** (LVQ, Aguerrebere et al., VLDB 2023): the data's mean `μ` is trained; each
//!   vector stores its own `lo` and `step` for `x − μ`; `x̂ = μ + lo + step·c`.
//!
//! Either way the distance from a query to `x̂` is `c0 + p0·c1 + p1·(w·c) + p2`, where `w`, `c0`,
//! `c1` depend only on the query (prepared once per search) and `p0`, `p1`, `p2` are three floats
//! stored in front of each vector's codes. So the hot loop is one kernel call (`dot_u8` with f32
//! weights for 8-bit codes, `dot_i8_u4` with i8 weights for 4-bit codes) and three multiply-adds.
//!
//! A code row is `[p0: f32 LE][p1: f32 LE][p2: f32 LE][codes]`, codes one byte each (8-bit) or two
//! per byte, low nibble first (4-bit).

use super::fastscan::FastScanQuery;
use super::kernels::{self, quantize_query, CodeKernels, QueryI8};
use super::scorer::Scorer;
use crate::base::bytes::{scheme_from_tag, scheme_tag, ByteReader, ByteWriter};
use crate::base::options::{IndexOptions, QuantScheme, Quantization};
use crate::base::view::RowView;
use crate::distance::Metric;

/// Whether distances are squared L2 or `1 − dot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    L2,
    Dot,
}

/// Bytes of the three per-vector floats in front of the codes.
pub(crate) const PARAMS: usize = 12;

/// Most rows used to train a codec.
const MAX_TRAINING_ROWS: usize = 100_000;

/// A trained codec.
#[derive(Debug)]
pub(crate) struct SqCodec {
    bits: u32,
    dim: usize,
    scheme: QuantScheme,
    kind: Kind,
    /// Per-dimension minimum, or the mean for the per-vector scheme.
    offset: Vec<f32>,
    /// Per-dimension step (empty for the per-vector scheme).
    step: Vec<f32>,
}

/// A 4-bit query prepared for fast-scan batches (see [`SqCodec::fast_scan_query`]).
pub(crate) struct FastScanPrepared {
    pub query: FastScanQuery,
    pub scale: f32,
    pub c0: f32,
    pub c1: f32,
}

/// A query prepared for one codec: `distance = c0 + p0·c1 + p1·(w·codes) + p2`.
///
/// For 8-bit codes `w` stays f32 (rounding it to i8 would add an error as large as the codes'
/// own and cost recall without reranking: measured in `docs/quantization.md`). For 4-bit codes,
/// whose 16 levels dominate the error, `w` is rounded to i8 (`w ≈ scale · wq`) and the dot product
/// runs on integers, about 3× faster.
pub(crate) struct PreparedQuery {
    w: Vec<f32>,
    wq: Option<QueryI8>,
    pub c0: f32,
    pub c1: f32,
}

impl SqCodec {
    /// Bytes of one code row for `bits` and `dim`.
    pub(crate) fn row_bytes(bits: u32, dim: usize) -> usize {
        PARAMS + code_len(bits, dim)
    }

    /// Trains a codec on `rows` (row after row, `dim` each; already normalised under cosine),
    /// using at most 100,000 evenly spaced rows.
    pub(crate) fn train(
        quant: Quantization,
        scheme: QuantScheme,
        metric: Metric,
        dim: usize,
        rows: &[f32],
    ) -> Option<SqCodec> {
        let bits = quant.bits()?;
        let n = rows.len() / dim;
        let step_rows = n.div_ceil(MAX_TRAINING_ROWS).max(1);
        let sample = rows.chunks_exact(dim).step_by(step_rows);
        let (offset, step) = match scheme {
            QuantScheme::PerDimension => {
                let mut lo = vec![f32::INFINITY; dim];
                let mut hi = vec![f32::NEG_INFINITY; dim];
                for r in sample {
                    for i in 0..dim {
                        lo[i] = lo[i].min(r[i]);
                        hi[i] = hi[i].max(r[i]);
                    }
                }
                // No rows (an empty index sealed): a zero range, so the parameters stay finite
                // and the file opens again.
                if lo[0] > hi[0] {
                    lo.fill(0.0);
                    hi.fill(0.0);
                }
                // In f64: `hi - lo` overflows f32 for components near ±f32::MAX, and an infinite
                // step would make the codec unreadable once saved.
                let levels = f64::from((1u32 << bits) - 1);
                let step = lo
                    .iter()
                    .zip(&hi)
                    .map(|(&l, &h)| ((f64::from(h) - f64::from(l)) / levels) as f32)
                    .collect();
                (lo, step)
            }
            QuantScheme::PerVector => {
                let mut sum = vec![0f64; dim];
                let mut count = 0usize;
                for r in sample {
                    sum.iter_mut().zip(r).for_each(|(s, &x)| *s += x as f64);
                    count += 1;
                }
                let mean = sum
                    .iter()
                    .map(|s| (s / count.max(1) as f64) as f32)
                    .collect();
                (mean, Vec::new())
            }
        };
        Some(SqCodec::with_params(
            bits, dim, scheme, metric, offset, step,
        ))
    }

    /// A codec from trained parameters.
    fn with_params(
        bits: u32,
        dim: usize,
        scheme: QuantScheme,
        metric: Metric,
        offset: Vec<f32>,
        step: Vec<f32>,
    ) -> SqCodec {
        SqCodec {
            bits,
            dim,
            scheme,
            kind: if metric == Metric::L2 {
                Kind::L2
            } else {
                Kind::Dot
            },
            offset,
            step,
        }
    }

    /// Writes the trained parameters: bits u8, scheme tag u8, offsets (f32 array), steps (f32
    /// array). The metric and dimension come from the index options stored beside them.
    pub(crate) fn write_params(&self, w: &mut ByteWriter) {
        w.u8(self.bits as u8)
            .u8(scheme_tag(self.scheme))
            .f32s(&self.offset)
            .f32s(&self.step);
    }

    /// Reads parameters written by [`SqCodec::write_params`] for an index with these options;
    /// `None` when they do not fit the options (bits, dimension, non-finite values).
    pub(crate) fn read_params(r: &mut ByteReader<'_>, options: &IndexOptions) -> Option<SqCodec> {
        let bits = r.u8()? as u32;
        let scheme = scheme_from_tag(r.u8()?)?;
        let offset = r.f32s()?;
        let step = r.f32s()?;
        let dim = options.dim;
        let step_len = match scheme {
            QuantScheme::PerDimension => dim,
            QuantScheme::PerVector => 0,
        };
        if options.quantization.bits() != Some(bits)
            || scheme != options.quant_scheme
            || offset.len() != dim
            || step.len() != step_len
            || !offset.iter().chain(&step).all(|x| x.is_finite())
        {
            return None;
        }
        Some(SqCodec::with_params(
            bits,
            dim,
            scheme,
            options.metric,
            offset,
            step,
        ))
    }

    fn levels(&self) -> f32 {
        ((1u32 << self.bits) - 1) as f32
    }

    /// Encodes `v` (`dim` values) into `row` (`row_bytes` long).
    pub(crate) fn encode(&self, v: &[f32], row: &mut [u8]) {
        let levels = self.levels();
        let mut codes = vec![0u8; self.dim];
        let (p0, p1, p2) = match self.scheme {
            QuantScheme::PerDimension => {
                let mut sq = 0f32;
                for i in 0..self.dim {
                    let c = if self.step[i] > 0.0 {
                        ((v[i] - self.offset[i]) / self.step[i])
                            .round()
                            .clamp(0.0, levels)
                    } else {
                        0.0
                    };
                    codes[i] = c as u8;
                    sq += (self.step[i] * c) * (self.step[i] * c);
                }
                match self.kind {
                    Kind::L2 => (0.0, 1.0, sq),
                    Kind::Dot => (0.0, 1.0, 0.0),
                }
            }
            QuantScheme::PerVector => {
                let centred = v.iter().zip(&self.offset).map(|(x, m)| x - m);
                let (lo, hi) = centred
                    .clone()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), x| {
                        (l.min(x), h.max(x))
                    });
                let step = (hi - lo) / levels;
                let mut norm = 0f32;
                for (i, r) in centred.enumerate() {
                    let c = if step > 0.0 {
                        ((r - lo) / step).round().clamp(0.0, levels)
                    } else {
                        0.0
                    };
                    codes[i] = c as u8;
                    let x = lo + step * c;
                    norm += x * x;
                }
                match self.kind {
                    Kind::L2 => (-2.0 * lo, -2.0 * step, norm),
                    Kind::Dot => (-lo, -step, 0.0),
                }
            }
        };
        row[0..4].copy_from_slice(&p0.to_le_bytes());
        row[4..8].copy_from_slice(&p1.to_le_bytes());
        row[8..12].copy_from_slice(&p2.to_le_bytes());
        let out = &mut row[PARAMS..PARAMS + code_len(self.bits, self.dim)];
        if self.bits == 8 {
            out.copy_from_slice(&codes);
        } else {
            kernels::pack_u4(&codes, out);
        }
    }

    /// Prepares `q` (`dim` values, normalised under cosine) for scoring codes.
    pub(crate) fn prepare(&self, q: &[f32]) -> PreparedQuery {
        let (w, c0, c1) = self.prepare_f32(q);
        PreparedQuery {
            wq: (self.bits == 4).then(|| quantize_query(&w, 4)),
            w,
            c0,
            c1,
        }
    }

    /// The query weights in f32 and the two query constants.
    fn prepare_f32(&self, q: &[f32]) -> (Vec<f32>, f32, f32) {
        struct F32Query {
            w: Vec<f32>,
            c0: f32,
            c1: f32,
        }
        let p = match (self.scheme, self.kind) {
            (QuantScheme::PerDimension, Kind::L2) => {
                let d: Vec<f32> = q.iter().zip(&self.offset).map(|(q, m)| q - m).collect();
                F32Query {
                    w: d.iter()
                        .zip(&self.step)
                        .map(|(d, s)| -2.0 * d * s)
                        .collect(),
                    c0: d.iter().map(|d| d * d).sum(),
                    c1: 0.0,
                }
            }
            (QuantScheme::PerDimension, Kind::Dot) => F32Query {
                w: q.iter().zip(&self.step).map(|(q, s)| -q * s).collect(),
                c0: 1.0 - q.iter().zip(&self.offset).map(|(q, m)| q * m).sum::<f32>(),
                c1: 0.0,
            },
            (QuantScheme::PerVector, Kind::L2) => {
                let w: Vec<f32> = q.iter().zip(&self.offset).map(|(q, m)| q - m).collect();
                F32Query {
                    c0: w.iter().map(|x| x * x).sum(),
                    c1: w.iter().sum(),
                    w,
                }
            }
            (QuantScheme::PerVector, Kind::Dot) => F32Query {
                w: q.to_vec(),
                c0: 1.0 - q.iter().zip(&self.offset).map(|(q, m)| q * m).sum::<f32>(),
                c1: q.iter().sum(),
            },
        };
        (p.w, p.c0, p.c1)
    }

    /// The approximate distance from a prepared query to a code row, on the best kernels of
    /// this CPU (tests and diagnostics; searches use [`Sq8Scorer`] and [`Sq4Scorer`]).
    #[cfg(test)]
    pub(crate) fn distance(&self, p: &PreparedQuery, row: &[u8]) -> f32 {
        fn one<K: CodeKernels>(p: &PreparedQuery, codes: RowView<'_, u8>, k: K) -> f32 {
            match p.sq4(codes, k) {
                Some(s) => s.score(0),
                None => p.sq8(codes, k).expect("an 8-bit query").score(0),
            }
        }
        let codes = RowView::from_slice(row, row.len());
        match crate::simd::Level::best() {
            crate::simd::Level::Avx512Vnni(k) => one(p, codes, k),
            crate::simd::Level::Avx512(k) => one(p, codes, k),
            crate::simd::Level::Avx2(k) => one(p, codes, k),
            crate::simd::Level::Scalar(k) => one(p, codes, k),
        }
    }

    /// The query of a 4-bit codec prepared for fast-scan batches, with the constants of
    /// [`code_distance`]: `distance = c0 + p0·c1 + p1·(scale·dot) + p2` where `dot` is the batch
    /// kernel's integer result — the same float operations as [`Sq4Scorer`], so the same value.
    /// `None` for 8-bit codes.
    pub(crate) fn fast_scan_query(&self, p: &PreparedQuery) -> Option<FastScanPrepared> {
        let wq = p.wq.as_ref()?;
        Some(FastScanPrepared {
            query: FastScanQuery::new(wq, self.dim),
            scale: wq.scale,
            c0: p.c0,
            c1: p.c1,
        })
    }

    /// Reconstructs the vector a code row stands for (tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn decode(&self, row: &[u8]) -> Vec<f32> {
        let codes: Vec<f32> = (0..self.dim)
            .map(|i| {
                let c = if self.bits == 8 {
                    row[PARAMS + i]
                } else {
                    (row[PARAMS + i / 2] >> ((i % 2) * 4)) & 0xF
                };
                c as f32
            })
            .collect();
        let param = |i: usize| f32::from_le_bytes(row[i..i + 4].try_into().unwrap());
        match self.scheme {
            QuantScheme::PerDimension => (0..self.dim)
                .map(|i| self.offset[i] + self.step[i] * codes[i])
                .collect(),
            QuantScheme::PerVector => {
                let scale = if self.kind == Kind::L2 { -2.0 } else { -1.0 };
                let (lo, step) = (param(0) / scale, param(4) / scale);
                (0..self.dim)
                    .map(|i| self.offset[i] + lo + step * codes[i])
                    .collect()
            }
        }
    }
}

fn code_len(bits: u32, dim: usize) -> usize {
    if bits == 8 {
        dim
    } else {
        kernels::packed_u4_len(dim)
    }
}

/// The three per-vector parameters at the front of a code row.
#[inline(always)]
pub(crate) fn row_params(row: &[u8]) -> [f32; 3] {
    let param = |i: usize| f32::from_le_bytes([row[i], row[i + 1], row[i + 2], row[i + 3]]);
    [param(0), param(4), param(8)]
}

/// The distance from a prepared query (`c0`, `c1`) to a code whose row parameters are `params`
/// and whose weighted dot product with the query is `dot`: `c0 + p0·c1 + p1·dot + p2`. The one
/// place the formula is written; the row scorers and the fast-scan blocks both call it.
#[inline(always)]
pub(crate) fn code_distance(c0: f32, c1: f32, params: [f32; 3], dot: f32) -> f32 {
    c0 + params[0] * c1 + params[1] * dot + params[2]
}

impl PreparedQuery {
    /// The scorer of this query against 8-bit `codes` (rows of this codec) on kernels `k`;
    /// `None` for a 4-bit query.
    pub(crate) fn sq8<'a, K: CodeKernels>(
        &'a self,
        codes: RowView<'a, u8>,
        k: K,
    ) -> Option<Sq8Scorer<'a, K>> {
        self.wq.is_none().then_some(Sq8Scorer {
            query: self,
            rows: codes,
            kernels: k,
        })
    }

    /// The scorer of this query against 4-bit `codes` on kernels `k`; `None` for an 8-bit query.
    pub(crate) fn sq4<'a, K: CodeKernels>(
        &'a self,
        codes: RowView<'a, u8>,
        k: K,
    ) -> Option<Sq4Scorer<'a, K>> {
        Some(Sq4Scorer {
            wq: self.wq.as_ref()?,
            c0: self.c0,
            c1: self.c1,
            rows: codes,
            kernels: k,
        })
    }
}

/// Approximate distances on 8-bit code rows: f32 query weights × u8 codes.
pub(crate) struct Sq8Scorer<'a, K> {
    query: &'a PreparedQuery,
    rows: RowView<'a, u8>,
    kernels: K,
}

impl<K: CodeKernels> Scorer for Sq8Scorer<'_, K> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        let row = self.rows.row(node);
        let p = self.query;
        let dot = self.kernels.dot_u8(&p.w, &row[PARAMS..]);
        code_distance(p.c0, p.c1, row_params(row), dot)
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.rows.prefetch(node);
    }
}

/// Approximate distances on 4-bit code rows: i8 query weights × u4 codes, summed exactly.
pub(crate) struct Sq4Scorer<'a, K> {
    wq: &'a QueryI8,
    c0: f32,
    c1: f32,
    rows: RowView<'a, u8>,
    kernels: K,
}

impl<K: CodeKernels> Scorer for Sq4Scorer<'_, K> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        let row = self.rows.row(node);
        let dot = self.wq.scale * self.kernels.dot_i8_u4(self.wq, &row[PARAMS..]) as f32;
        code_distance(self.c0, self.c1, row_params(row), dot)
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.rows.prefetch(node);
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;

    fn data(n: usize, dim: usize) -> Vec<f32> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        (0..n * dim)
            .map(|_| rng.random_range(-2.0f32..3.0))
            .collect()
    }

    #[test]
    fn distances_equal_the_metric_on_the_decoded_vector() {
        let dim = 37;
        let rows = data(200, dim);
        for quant in [Quantization::Sq8, Quantization::Sq4] {
            for scheme in [QuantScheme::PerDimension, QuantScheme::PerVector] {
                for metric in [Metric::L2, Metric::InnerProduct] {
                    let codec = SqCodec::train(quant, scheme, metric, dim, &rows).unwrap();
                    let mut row = vec![0u8; SqCodec::row_bytes(quant.bits().unwrap(), dim)];
                    let q = &rows[5 * dim..6 * dim];
                    let p = codec.prepare(q);
                    for v in rows.chunks_exact(dim).take(20) {
                        codec.encode(v, &mut row);
                        let decoded = codec.decode(&row);
                        let want = metric.distance(q, &decoded);
                        let got = codec.distance(&p, &row);
                        // The query weights are rounded to i8 steps of `scale`: each term of the
                        // dot product is off by at most scale/2 · code, scaled by |p1|.
                        let p1 = f32::from_le_bytes(row[4..8].try_into().unwrap()).abs();
                        let codes: f32 = (0..dim)
                            .map(|i| {
                                let c = if quant == Quantization::Sq8 {
                                    row[PARAMS + i]
                                } else {
                                    (row[PARAMS + i / 2] >> ((i % 2) * 4)) & 0xF
                                };
                                c as f32
                            })
                            .sum();
                        let scale = p.wq.as_ref().map_or(0.0, |q| q.scale);
                        let bound = p1 * scale / 2.0 * codes + 1e-3 * want.abs().max(1.0);
                        assert!(
                            (want - got).abs() <= bound,
                            "{quant} {scheme:?} {metric}: {want} vs {got} (bound {bound})"
                        );
                        // And the decoded vector is close to the original.
                        let err = Metric::L2.distance(v, &decoded) / dim as f32;
                        let bound = if quant == Quantization::Sq8 {
                            1e-3
                        } else {
                            0.2
                        };
                        assert!(err < bound, "{quant} {scheme:?}: mean squared error {err}");
                    }
                }
            }
        }
    }

    #[test]
    fn names_parse_and_f32_has_no_codec() {
        for q in [Quantization::None, Quantization::Sq8, Quantization::Sq4] {
            assert_eq!(q.name().parse::<Quantization>().unwrap(), q);
        }
        assert!("pq".parse::<Quantization>().is_err());
        assert!(SqCodec::train(
            Quantization::None,
            QuantScheme::PerVector,
            Metric::L2,
            3,
            &[0.0; 3]
        )
        .is_none());
    }
}
