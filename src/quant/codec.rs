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

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::fastscan::FastScanQuery;
use super::kernels::{self, quantize_query, QueryI8};
use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::format::{scheme_from_tag, scheme_tag, ByteReader, ByteWriter};
use crate::hnsw::IndexOptions;

/// How vectors are stored for the graph traversal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// Full-precision f32 vectors.
    #[default]
    None,
    /// 8 bits per dimension (4× smaller than f32).
    Sq8,
    /// 4 bits per dimension (8× smaller than f32).
    Sq4,
}

impl Quantization {
    /// The name used by the CLI and reports: `none`, `sq8`, `sq4`.
    pub fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Sq8 => "sq8",
            Quantization::Sq4 => "sq4",
        }
    }

    /// Bits per dimension; `None` for f32.
    pub fn bits(self) -> Option<u32> {
        match self {
            Quantization::None => None,
            Quantization::Sq8 => Some(8),
            Quantization::Sq4 => Some(4),
        }
    }

    /// How many times `k` candidates the exact reranking rescores by default: 1 for f32, 2 for
    /// 8-bit, 3 for 4-bit codes.
    pub fn default_oversample(self) -> usize {
        match self {
            Quantization::None => 1,
            Quantization::Sq8 => 2,
            Quantization::Sq4 => 3,
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quantization {
    type Err = Error;

    /// Parses `none` (also `f32`), `sq8` or `sq4`, case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "f32" => Ok(Quantization::None),
            "sq8" => Ok(Quantization::Sq8),
            "sq4" => Ok(Quantization::Sq4),
            other => Err(Error::invalid_parameter(
                "quantization",
                format!("unknown quantization {other:?}; expected none, sq8 or sq4"),
            )),
        }
    }
}

/// Where a codec's offsets and scales come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum QuantScheme {
    /// One range per dimension, trained from the data (FAISS-style).
    PerDimension,
    /// The data's mean, then one range per vector (LVQ-style).
    #[default]
    PerVector,
}

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
pub(crate) struct Codec {
    bits: u32,
    dim: usize,
    scheme: QuantScheme,
    kind: Kind,
    /// Per-dimension minimum, or the mean for the per-vector scheme.
    offset: Vec<f32>,
    /// Per-dimension step (empty for the per-vector scheme).
    step: Vec<f32>,
    /// 8-bit codes: `Σ w[i]·c[i]` with f32 query weights.
    dot_u8: fn(&[f32], &[u8]) -> f32,
    /// 4-bit codes: `Σ wq[i]·c[i]` with i8-quantized query weights (VNNI where the CPU has it).
    dot_i8_u4: fn(&QueryI8, &[u8]) -> i32,
}

/// A 4-bit query prepared for fast-scan batches (see [`Codec::fast_scan_query`]).
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

impl Codec {
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
    ) -> Option<Codec> {
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
        Some(Codec::with_params(bits, dim, scheme, metric, offset, step))
    }

    /// A codec from trained parameters, with the CPU's best kernels.
    fn with_params(
        bits: u32,
        dim: usize,
        scheme: QuantScheme,
        metric: Metric,
        offset: Vec<f32>,
        step: Vec<f32>,
    ) -> Codec {
        let k = kernels::active();
        Codec {
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
            dot_u8: k.dot_u8,
            dot_i8_u4: k.dot_i8_u4,
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

    /// Reads parameters written by [`Codec::write_params`] for an index with these options;
    /// `None` when they do not fit the options (bits, dimension, non-finite values).
    pub(crate) fn read_params(r: &mut ByteReader<'_>, options: &IndexOptions) -> Option<Codec> {
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
        Some(Codec::with_params(
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

    /// The approximate distance from a prepared query to a code row.
    #[inline(always)]
    pub(crate) fn distance(&self, p: &PreparedQuery, row: &[u8]) -> f32 {
        let param = |i: usize| f32::from_le_bytes([row[i], row[i + 1], row[i + 2], row[i + 3]]);
        let codes = &row[PARAMS..];
        let dot = match &p.wq {
            Some(wq) => wq.scale * (self.dot_i8_u4)(wq, codes) as f32,
            None => (self.dot_u8)(&p.w, codes),
        };
        p.c0 + param(0) * p.c1 + param(4) * dot + param(8)
    }

    /// The query of a 4-bit codec prepared for fast-scan batches, with the constants of
    /// [`Codec::distance`]: `distance = c0 + p0·c1 + p1·(scale·dot) + p2` where `dot` is the batch
    /// kernel's integer result — the same float operations as `distance`, so the same value.
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
                    let codec = Codec::train(quant, scheme, metric, dim, &rows).unwrap();
                    let mut row = vec![0u8; Codec::row_bytes(quant.bits().unwrap(), dim)];
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
    fn names_parse() {
        for q in [Quantization::None, Quantization::Sq8, Quantization::Sq4] {
            assert_eq!(q.name().parse::<Quantization>().unwrap(), q);
        }
        assert!("pq".parse::<Quantization>().is_err());
        assert!(Codec::train(
            Quantization::None,
            QuantScheme::PerVector,
            Metric::L2,
            3,
            &[0.0; 3]
        )
        .is_none());
    }
}
