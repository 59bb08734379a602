//! RaBitQ codes (Gao & Long, SIGMOD 2024) and extended RaBitQ codes (SIGMOD 2025): 1 bit per
//! dimension with an unbiased distance estimate and its error bound, 2–8 bits for a more exact
//! second estimate, and the fast-scan batches that score 32 codes per kernel call.
//!
//! This module knows nothing of graphs or files. Its pieces, each with a scalar twin:
//!
//! - [`rotation`]: the seeded random orthogonal transform `P` (Hadamard transforms with random
//!   signs and Kac-walk mixing, `O(D log D)`), applied once per vector, centroid and query;
//! - [`binary`]: 1-bit codes of `P(o − c)` against a centroid `c`, their [`Factors`], the compact
//!   row and its popcount kernel;
//! - [`extended`]: `B`-bit codes (1 ≤ `B` ≤ 8) with the same estimator and their kernel;
//! - [`fastscan`]: 32 codes transposed into a batch, the query's 4-bit lookup table, and the
//!   `vpshufb` kernels;
//! - [`kernels`]: the instruction sets, detected once per process.
//!
//! The estimate of a distance is `add + g_add + rescale · ⟨x, q'⟩` with the vector's
//! [`Factors`], the centroid's [`CentroidTerms`] and the prepared query's `⟨x, q'⟩`; the estimate's
//! error is at most `ε₀ · error · g_error` except with probability [`failure_probability`]`(ε₀, D)`
//! (two-sided; the lower bound alone fails half as often). Formulas in `binary.rs` and
//! `docs/rabitq.md`.
//!
//! The graph-facing entry points are on [`RabitqCodec`]: `prepare_query` once per query,
//! `centroid_terms` once per visited node (from the exact distance the walk computes anyway),
//! then `estimate_block` for the node's neighbour batches, `estimate_binary_row` /
//! `estimate_ex_row` for single rows.

pub(crate) mod binary;
pub(crate) mod extended;
pub(crate) mod fastscan;
pub(crate) mod kernels;
pub(crate) mod rotation;

#[cfg(test)]
mod realdata;

pub(crate) use binary::Factors;
pub(crate) use fastscan::BATCH;
pub(crate) use kernels::RabitqKernels;
pub(crate) use rotation::Rotation;

use crate::distance::Metric;
use crate::error::{Error, Result};

/// The default `ε₀` of the confidence bound (the paper's and rabitqlib's choice):
/// [`failure_probability`]`(1.9, D)` is about 5.7 % two-sided, 2.9 % for the lower bound alone.
pub(crate) const DEFAULT_EPSILON: f32 = 1.9;

/// Bits per coordinate of the query for the 1-bit row kernel.
pub(crate) const ROW_QUERY_BITS: u32 = 8;

/// Which distance the factors estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    /// `‖q − o‖²`.
    L2,
    /// `1 − ⟨q, o⟩` (inner product; cosine on unit vectors).
    InnerProduct,
}

impl Space {
    /// The space of a metric: cosine is the inner product of the normalised vectors the index
    /// stores.
    pub(crate) fn of(metric: Metric) -> Self {
        match metric {
            Metric::L2 => Space::L2,
            Metric::InnerProduct | Metric::Cosine => Space::InnerProduct,
        }
    }
}

/// The two scalars a centroid adds to every estimate against it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CentroidTerms {
    /// `‖q − c‖²` (L2) or `−⟨q, c⟩` (inner product).
    pub(crate) g_add: f32,
    /// `‖q − c‖`.
    pub(crate) g_error: f32,
}

impl CentroidTerms {
    /// For L2, from the exact `‖q − c‖²`.
    pub(crate) fn l2(dist_sq: f32) -> Self {
        Self {
            g_add: dist_sq,
            g_error: dist_sq.max(0.0).sqrt(),
        }
    }

    /// For the inner product, from `⟨q, c⟩` and the squared norms of `q` and `c`.
    pub(crate) fn inner_product(q_dot_c: f32, q_norm_sq: f32, c_norm_sq: f32) -> Self {
        Self {
            g_add: -q_dot_c,
            g_error: (q_norm_sq - 2.0 * q_dot_c + c_norm_sq).max(0.0).sqrt(),
        }
    }

    /// From rotated (or original: `P` preserves both) query and centroid, computed here.
    pub(crate) fn exact(space: Space, q: &[f32], c: &[f32]) -> Self {
        match space {
            Space::L2 => Self::l2(crate::distance::l2_squared(q, c)),
            Space::InnerProduct => Self::inner_product(
                crate::distance::dot(q, c),
                crate::distance::dot(q, q),
                crate::distance::dot(c, c),
            ),
        }
    }
}

/// An estimated distance and the half-width of its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Estimate {
    /// The unbiased estimate.
    pub(crate) distance: f32,
    /// `ε₀ · error · g_error`: the true distance is in `distance ± bound` with probability at
    /// least `1 − failure_probability(ε₀, D)`.
    pub(crate) bound: f32,
}

impl Estimate {
    /// `distance − bound`.
    pub(crate) fn lower(&self) -> f32 {
        self.distance - self.bound
    }

    /// `distance + bound`.
    pub(crate) fn upper(&self) -> f32 {
        self.distance + self.bound
    }
}

/// A query prepared once: rotated, its fast-scan table and its bit planes.
#[derive(Clone, Debug)]
pub(crate) struct PreparedQuery {
    /// `q' = P q` (padded length).
    pub(crate) rotated: Vec<f32>,
    /// `Σ q'ᵢ`.
    pub(crate) sum: f32,
    /// The fast-scan table.
    pub(crate) lut: fastscan::QueryLut,
    /// The single-row kernel's query.
    pub(crate) planes: binary::QueryPlanes,
}

impl PreparedQuery {
    /// `⟨x, q'⟩ ≈ x_scale · S + x_offset` for the fast-scan sum `S` of a 1-bit code.
    #[inline]
    fn lut_terms(&self) -> (f32, f32) {
        (self.lut.scale, self.lut.offset - 0.5 * self.sum)
    }
}

/// The nominal probability that an estimate falls outside `± ε₀ · error · g_error`, in a
/// `padded`-dimensional rotated space: `P(|u| > ε₀ / √(D − 1))` for `u` one coordinate of a
/// uniform unit vector in `D − 1` dimensions (density `∝ (1 − u²)^((D − 4)/2)`), which bounds the
/// estimator's normalised error under a uniformly random rotation. Two-sided; the lower (or upper)
/// bound alone fails with half of it. Close to the Gaussian `2(1 − Φ(ε₀))` for large `D`.
pub(crate) fn failure_probability(epsilon: f64, padded: usize) -> f64 {
    let n = padded.max(4) as f64;
    let t = epsilon / (n - 1.0).sqrt();
    if t >= 1.0 {
        return 0.0;
    }
    let e = (n - 4.0) / 2.0;
    // Simpson on [0, 1] for the normaliser and on [t, 1] for the tail (the density is smooth).
    let integrate = |a: f64, b: f64| {
        let steps = 20_000;
        let h = (b - a) / steps as f64;
        let f = |u: f64| (1.0 - u * u).max(0.0).powf(e);
        let mut s = f(a) + f(b);
        for k in 1..steps {
            s += f(a + k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    };
    integrate(t, 1.0) / integrate(0.0, 1.0)
}

/// The RaBitQ codec of one index: the rotation and the space. Cheap to clone.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RabitqCodec {
    rotation: Rotation,
    space: Space,
}

impl RabitqCodec {
    /// A codec for `dim`-dimensional vectors under `metric`, rotation drawn from `seed`, padded to
    /// the next multiple of 64.
    ///
    /// # Errors
    /// `InvalidParameter` when `dim` is 0 or above 65 536.
    pub(crate) fn new(dim: usize, metric: Metric, seed: u64) -> Result<Self> {
        Ok(Self {
            rotation: Rotation::new(dim, seed)?,
            space: Space::of(metric),
        })
    }

    /// A codec over a given rotation (read back from a file).
    pub(crate) fn with_rotation(rotation: Rotation, metric: Metric) -> Self {
        Self {
            rotation,
            space: Space::of(metric),
        }
    }

    /// The rotation.
    pub(crate) fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// The space the factors estimate.
    pub(crate) fn space(&self) -> Space {
        self.space
    }

    /// The input dimension.
    pub(crate) fn dim(&self) -> usize {
        self.rotation.dim()
    }

    /// The padded dimension `D`.
    pub(crate) fn padded_dim(&self) -> usize {
        self.rotation.padded_dim()
    }

    /// Bytes of a compact 1-bit row (`D/8` + 12).
    pub(crate) fn binary_row_bytes(&self) -> usize {
        binary::row_bytes(self.padded_dim())
    }

    /// Bytes of a `bits`-bit extended row (`D·bits/8` + 12).
    pub(crate) fn ex_row_bytes(&self, bits: u32) -> usize {
        extended::row_bytes(self.padded_dim(), bits)
    }

    /// Bytes of a fast-scan batch of 32 (`4D` + 384).
    pub(crate) fn batch_bytes(&self) -> usize {
        fastscan::batch_bytes(self.padded_dim())
    }

    /// `P · v` (padded length).
    ///
    /// # Errors
    /// `DimensionMismatch` when `v` does not have `dim` components.
    pub(crate) fn rotate(&self, v: &[f32]) -> Result<Vec<f32>> {
        self.check_dim(v.len())?;
        Ok(self.rotation.rotate_vec(v))
    }

    fn check_dim(&self, got: usize) -> Result<()> {
        if got == self.dim() {
            Ok(())
        } else {
            Err(Error::DimensionMismatch {
                expected: self.dim(),
                got,
            })
        }
    }

    fn check_rotated(&self, what: &'static str, got: usize) -> Result<()> {
        if got == self.padded_dim() {
            Ok(())
        } else {
            Err(Error::InvalidParameter {
                name: what,
                reason: format!(
                    "a rotated vector has {} components, got {got}",
                    self.padded_dim()
                ),
            })
        }
    }

    /// The 1-bit code of rotated `data_rot` against rotated `centroid_rot`: code bytes and factors.
    ///
    /// # Errors
    /// `InvalidParameter` when either is not `padded_dim` long.
    pub(crate) fn encode_binary(
        &self,
        data_rot: &[f32],
        centroid_rot: &[f32],
    ) -> Result<(Vec<u8>, Factors)> {
        self.check_rotated("data_rot", data_rot.len())?;
        self.check_rotated("centroid_rot", centroid_rot.len())?;
        let mut code = vec![0u8; binary::code_bytes(self.padded_dim())];
        let f = binary::encode(self.space, data_rot, centroid_rot, &mut code);
        Ok((code, f))
    }

    /// Writes the compact 1-bit row of `data_rot` against `centroid_rot` into `row`.
    ///
    /// # Errors
    /// `InvalidParameter` when a length is wrong.
    pub(crate) fn encode_binary_row(
        &self,
        data_rot: &[f32],
        centroid_rot: &[f32],
        row: &mut [u8],
    ) -> Result<()> {
        self.check_rotated("data_rot", data_rot.len())?;
        self.check_rotated("centroid_rot", centroid_rot.len())?;
        self.check_row("row", row.len(), self.binary_row_bytes())?;
        binary::encode_row(self.space, data_rot, centroid_rot, row);
        Ok(())
    }

    /// Writes the `bits`-bit extended row of `data_rot` against `centroid_rot` into `row`.
    ///
    /// # Errors
    /// `InvalidParameter` when `bits` is not 1 to 8 or a length is wrong.
    pub(crate) fn encode_ex_row(
        &self,
        bits: u32,
        data_rot: &[f32],
        centroid_rot: &[f32],
        row: &mut [u8],
    ) -> Result<()> {
        check_bits(bits)?;
        self.check_rotated("data_rot", data_rot.len())?;
        self.check_rotated("centroid_rot", centroid_rot.len())?;
        self.check_row("row", row.len(), self.ex_row_bytes(bits))?;
        extended::encode_row(self.space, bits, data_rot, centroid_rot, row);
        Ok(())
    }

    fn check_row(&self, what: &'static str, got: usize, want: usize) -> Result<()> {
        if got == want {
            Ok(())
        } else {
            Err(Error::InvalidParameter {
                name: what,
                reason: format!("expected {want} bytes, got {got}"),
            })
        }
    }

    /// Packs up to 32 neighbours of one centroid into a fast-scan batch: `data_rot` are their
    /// rotated vectors, `centroid_rot` the rotated centroid. Slots past `data_rot.len()` estimate
    /// `+∞`.
    ///
    /// # Errors
    /// `InvalidParameter` when more than 32 vectors are given or a length is wrong.
    pub(crate) fn pack_batch(
        &self,
        data_rot: &[&[f32]],
        centroid_rot: &[f32],
        out: &mut [u8],
    ) -> Result<()> {
        if data_rot.len() > BATCH {
            return Err(Error::InvalidParameter {
                name: "data_rot",
                reason: format!(
                    "a batch holds at most {BATCH} vectors, got {}",
                    data_rot.len()
                ),
            });
        }
        self.check_row("batch", out.len(), self.batch_bytes())?;
        let mut codes = Vec::with_capacity(data_rot.len());
        let mut factors = Vec::with_capacity(data_rot.len());
        for v in data_rot {
            let (c, f) = self.encode_binary(v, centroid_rot)?;
            codes.push(c);
            factors.push(f);
        }
        let refs: Vec<&[u8]> = codes.iter().map(|c| c.as_slice()).collect();
        fastscan::pack_batch(self.padded_dim(), &refs, &factors, out);
        Ok(())
    }

    /// Prepares `q` once per search: rotation, fast-scan table, row-kernel planes.
    ///
    /// # Errors
    /// `DimensionMismatch` when `q` does not have `dim` components.
    pub(crate) fn prepare_query(&self, q: &[f32]) -> Result<PreparedQuery> {
        let rotated = self.rotate(q)?;
        Ok(self.prepare_rotated(rotated))
    }

    /// Prepares an already rotated query (padded length, unchecked beyond a debug assertion).
    pub(crate) fn prepare_rotated(&self, rotated: Vec<f32>) -> PreparedQuery {
        debug_assert_eq!(rotated.len(), self.padded_dim());
        let sum = rotated.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
        let lut = fastscan::QueryLut::new(&rotated);
        let planes = binary::QueryPlanes::new(&rotated, ROW_QUERY_BITS);
        PreparedQuery {
            rotated,
            sum,
            lut,
            planes,
        }
    }

    /// The centroid's terms from the exact distance of the query to it under this codec's
    /// metric (`‖q − c‖²`, or `1 − ⟨q, c⟩`), plus — for the inner product only — `‖q‖²` and
    /// `‖c‖²` (ignored under L2).
    pub(crate) fn centroid_terms(
        &self,
        exact_distance: f32,
        q_norm_sq: f32,
        c_norm_sq: f32,
    ) -> CentroidTerms {
        match self.space {
            Space::L2 => CentroidTerms::l2(exact_distance),
            Space::InnerProduct => {
                CentroidTerms::inner_product(1.0 - exact_distance, q_norm_sq, c_norm_sq)
            }
        }
    }

    /// Estimates for every slot of a block of `batches` fast-scan batches of neighbours of one
    /// centroid: writes `32 · batches` estimates into `est` and their lower bounds
    /// (`estimate − ε₀ · error · g_error`) into `lower`. Empty slots give `+∞` in both.
    ///
    /// # Panics
    /// When `block` is shorter than `batches · batch_bytes()` or `est` / `lower` shorter than
    /// `32 · batches` (sizes the caller fixes when it lays out its blocks).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn estimate_block<K: RabitqKernels>(
        &self,
        kernels: K,
        block: &[u8],
        batches: usize,
        query: &PreparedQuery,
        centroid: CentroidTerms,
        epsilon: f32,
        est: &mut [f32],
        lower: &mut [f32],
    ) {
        let bb = self.batch_bytes();
        let cb = fastscan::batch_code_bytes(self.padded_dim());
        let (scale, offset) = query.lut_terms();
        let terms = kernels::BatchTerms {
            scale,
            offset,
            g_add: centroid.g_add,
            radius: epsilon * centroid.g_error,
        };
        let mut sums = [0u32; BATCH];
        for b in 0..batches {
            let batch = &block[b * bb..(b + 1) * bb];
            kernels.fastscan(&batch[..cb], &query.lut.table, &mut sums);
            let est = (&mut est[b * BATCH..(b + 1) * BATCH])
                .try_into()
                .expect("32 slots");
            let lower = (&mut lower[b * BATCH..(b + 1) * BATCH])
                .try_into()
                .expect("32 slots");
            kernels.finalize(&sums, &batch[cb..], &terms, est, lower);
        }
    }

    /// [`RabitqCodec::estimate_block`] for one batch, on the active kernels.
    ///
    /// # Panics
    /// As `estimate_block`, with `batches = 1`.
    pub(crate) fn estimate_batch(
        &self,
        batch: &[u8],
        query: &PreparedQuery,
        centroid: CentroidTerms,
        epsilon: f32,
        est: &mut [f32],
        lower: &mut [f32],
    ) {
        self.estimate_block(
            kernels::active(),
            batch,
            1,
            query,
            centroid,
            epsilon,
            est,
            lower,
        )
    }

    /// The estimate of a compact 1-bit row (popcount kernel; the query at
    /// [`ROW_QUERY_BITS`] bits).
    ///
    /// # Panics
    /// When `row` is shorter than `binary_row_bytes()`.
    pub(crate) fn estimate_binary_row<K: RabitqKernels>(
        &self,
        kernels: K,
        row: &[u8],
        query: &PreparedQuery,
        centroid: CentroidTerms,
        epsilon: f32,
    ) -> Estimate {
        let cb = binary::code_bytes(self.padded_dim());
        let p = &query.planes;
        let (weighted, ones) = kernels.row_dot(&row[..cb], &p.planes, p.words, p.bits);
        let b_q = p.scale * weighted as f32 + p.low * ones as f32;
        let f = Factors::read(&row[cb..cb + Factors::BYTES]);
        let distance = f.add + centroid.g_add + f.rescale * (b_q - 0.5 * query.sum);
        Estimate {
            distance,
            bound: epsilon * f.error * centroid.g_error,
        }
    }

    /// The estimate of a `bits`-bit extended row (exact `f32` query).
    ///
    /// # Panics
    /// When `bits` is not 1 to 8 or `row` is shorter than `ex_row_bytes(bits)`.
    pub(crate) fn estimate_ex_row<K: RabitqKernels>(
        &self,
        kernels: K,
        bits: u32,
        row: &[u8],
        query: &PreparedQuery,
        centroid: CentroidTerms,
        epsilon: f32,
    ) -> Estimate {
        let d = self.padded_dim();
        let mut at = 0;
        let mut u_q = 0f32;
        for &(w, shift) in extended::parts(bits) {
            let len = d * w as usize / 8;
            u_q += kernels.ex_dot(&query.rotated, &row[at..at + len], w) * (1u32 << shift) as f32;
            at += len;
        }
        let centre = ((1u32 << bits) - 1) as f32 / 2.0;
        let f = Factors::read(&row[at..at + Factors::BYTES]);
        let distance = f.add + centroid.g_add + f.rescale * (u_q - centre * query.sum);
        Estimate {
            distance,
            bound: epsilon * f.error * centroid.g_error,
        }
    }
}

/// `bits` must be 1 to 8.
fn check_bits(bits: u32) -> Result<()> {
    if (1..=8).contains(&bits) {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "bits",
            reason: format!("extended RaBitQ codes have 1 to 8 bits per dimension, got {bits}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn gaussianish(rng: &mut Xoshiro256PlusPlus, d: usize, shift: f32) -> Vec<f32> {
        (0..d)
            .map(|_| (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>() + shift)
            .collect()
    }

    #[test]
    fn failure_probability_matches_the_gaussian_limit() {
        let gauss_two_sided_1_9 = 0.057_433_8; // 2 (1 − Φ(1.9))
        let p = failure_probability(1.9, 1 << 14);
        assert!((p - gauss_two_sided_1_9).abs() < 1e-3, "{p}");
        // Lighter tails than the Gaussian in small dimensions, monotone in ε₀.
        assert!(failure_probability(1.9, 64) < gauss_two_sided_1_9);
        assert!(failure_probability(1.0, 256) > failure_probability(2.0, 256));
        assert_eq!(failure_probability(100.0, 64), 0.0);
    }

    #[test]
    fn api_rejects_bad_input_with_errors() {
        assert!(RabitqCodec::new(0, Metric::L2, 1).is_err());
        let codec = RabitqCodec::new(100, Metric::L2, 1).unwrap();
        assert_eq!(codec.padded_dim(), 128);
        assert!(matches!(
            codec.prepare_query(&[0.0; 99]),
            Err(Error::DimensionMismatch {
                expected: 100,
                got: 99
            })
        ));
        let v = vec![0.0; 128];
        assert!(codec.encode_binary(&v[..100], &v).is_err());
        let mut row = vec![0u8; codec.ex_row_bytes(4)];
        assert!(codec.encode_ex_row(9, &v, &v, &mut row).is_err());
        assert!(codec.encode_ex_row(0, &v, &v, &mut row).is_err());
        assert!(codec.encode_ex_row(3, &v, &v, &mut row).is_err());
        assert!(codec.encode_ex_row(4, &v, &v, &mut row).is_ok());
        let many: Vec<&[f32]> = (0..33).map(|_| v.as_slice()).collect();
        let mut batch = vec![0u8; codec.batch_bytes()];
        assert!(codec.pack_batch(&many, &v, &mut batch).is_err());
        assert!(codec.pack_batch(&many[..32], &v, &mut batch[1..]).is_err());
    }

    #[test]
    fn codec_rebuilt_from_rotation_bytes_scores_the_same() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
        let codec = RabitqCodec::new(200, Metric::Cosine, 99).unwrap();
        assert_eq!(codec.space(), Space::InnerProduct);
        let bytes = codec.rotation().to_bytes();
        let again =
            RabitqCodec::with_rotation(Rotation::from_bytes(&bytes).unwrap(), Metric::Cosine);
        assert_eq!(again, codec);
        assert_eq!(again.rotation().seed(), 99);
        let c = gaussianish(&mut rng, 200, 0.0);
        let q = gaussianish(&mut rng, 200, 0.0);
        let data: Vec<Vec<f32>> = (0..32)
            .map(|_| codec.rotate(&gaussianish(&mut rng, 200, 0.0)).unwrap())
            .collect();
        let refs: Vec<&[f32]> = data.iter().map(|v| v.as_slice()).collect();
        let c_rot = codec.rotate(&c).unwrap();
        let (mut a, mut b) = (
            vec![0u8; codec.batch_bytes()],
            vec![0u8; codec.batch_bytes()],
        );
        codec.pack_batch(&refs, &c_rot, &mut a).unwrap();
        again
            .pack_batch(&refs, &again.rotate(&c).unwrap(), &mut b)
            .unwrap();
        assert_eq!(a, b);
        let terms = CentroidTerms::exact(codec.space(), &q, &c);
        let (mut e1, mut l1, mut e2, mut l2) =
            ([0f32; BATCH], [0f32; BATCH], [0f32; BATCH], [0f32; BATCH]);
        codec.estimate_batch(
            &a,
            &codec.prepare_query(&q).unwrap(),
            terms,
            DEFAULT_EPSILON,
            &mut e1,
            &mut l1,
        );
        again.estimate_batch(
            &b,
            &again.prepare_query(&q).unwrap(),
            terms,
            DEFAULT_EPSILON,
            &mut e2,
            &mut l2,
        );
        assert_eq!((e1, l1), (e2, l2));
        let est = Estimate {
            distance: e1[0],
            bound: e1[0] - l1[0],
        };
        assert_eq!(est.lower(), l1[0]);
        assert!(est.upper() >= est.distance);
    }

    /// Every estimate path agrees with the others and with the exact distance within its bound
    /// on average, for both spaces, on every dimension 1–130 and on large ones, with full and
    /// partial batches.
    #[test]
    fn block_row_and_ex_estimates_agree_on_every_dimension() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(77);
        let mut dims: Vec<usize> = (1..=130).collect();
        dims.extend([256, 384, 768, 784, 1536]);
        let (mut sum_z, mut n_z) = (0f64, 0u32);
        for &dim in &dims {
            for metric in [Metric::L2, Metric::InnerProduct] {
                let codec = RabitqCodec::new(dim, metric, dim as u64).unwrap();
                let c = gaussianish(&mut rng, dim, 0.3);
                let q = gaussianish(&mut rng, dim, 0.3);
                let count = if dim % 2 == 0 { 32 } else { 1 + dim % 31 };
                let data: Vec<Vec<f32>> = (0..count)
                    .map(|_| gaussianish(&mut rng, dim, 0.3))
                    .collect();
                let c_rot = codec.rotate(&c).unwrap();
                let rot: Vec<Vec<f32>> = data.iter().map(|v| codec.rotate(v).unwrap()).collect();
                let refs: Vec<&[f32]> = rot.iter().map(|v| v.as_slice()).collect();
                let mut batch = vec![0u8; codec.batch_bytes()];
                codec.pack_batch(&refs, &c_rot, &mut batch).unwrap();
                let query = codec.prepare_query(&q).unwrap();
                let terms = CentroidTerms::exact(codec.space(), &q, &c);
                let exact_c = metric.distance(&q, &c);
                let via = codec.centroid_terms(
                    exact_c,
                    crate::distance::dot(&q, &q),
                    crate::distance::dot(&c, &c),
                );
                assert!((via.g_add - terms.g_add).abs() <= 1e-3 * (1.0 + terms.g_add.abs()));
                assert!((via.g_error - terms.g_error).abs() <= 1e-3 * (1.0 + terms.g_error));
                let mut want_est = [0f32; BATCH];
                let mut want_low = [0f32; BATCH];
                let scalar = kernels::supported().pop().unwrap();
                codec.estimate_block(
                    scalar,
                    &batch,
                    1,
                    &query,
                    terms,
                    1.9,
                    &mut want_est,
                    &mut want_low,
                );
                for k in kernels::supported() {
                    let mut est = [0f32; BATCH];
                    let mut low = [0f32; BATCH];
                    codec.estimate_block(k, &batch, 1, &query, terms, 1.9, &mut est, &mut low);
                    assert_eq!(est, want_est, "{} dim {dim}", k.name);
                    assert_eq!(low, want_low, "{} dim {dim}", k.name);
                }
                for s in count..BATCH {
                    assert_eq!((want_est[s], want_low[s]), (f32::INFINITY, f32::INFINITY));
                }
                for (s, v) in data.iter().enumerate() {
                    let truth = metric.distance(&q, v);
                    // The 1-bit row and the 1-bit extended row estimate the same code as the block.
                    let mut row = vec![0u8; codec.binary_row_bytes()];
                    codec.encode_binary_row(&rot[s], &c_rot, &mut row).unwrap();
                    let mut ex1 = vec![0u8; codec.ex_row_bytes(1)];
                    codec.encode_ex_row(1, &rot[s], &c_rot, &mut ex1).unwrap();
                    let r = codec.estimate_binary_row(scalar, &row, &query, terms, 1.9);
                    let e1 = codec.estimate_ex_row(scalar, 1, &ex1, &query, terms, 1.9);
                    // e1 uses the exact f32 query; the block and the row differ from it only by
                    // the query's quantization, at most half a step per table (block) or per
                    // coordinate (row), times |rescale|.
                    let f = fastscan::batch_factors(codec.padded_dim(), &batch, s);
                    let groups = (codec.padded_dim() / 4) as f32;
                    let slack = 1e-4 * (1.0 + truth.abs() + e1.distance.abs());
                    let lut_max = f.rescale.abs() * 0.5 * query.lut.scale * groups + slack;
                    let row_max =
                        f.rescale.abs() * 0.5 * query.planes.scale * codec.padded_dim() as f32
                            + slack;
                    assert!(
                        (want_est[s] - e1.distance).abs() <= lut_max,
                        "dim {dim}: block {} exact {}",
                        want_est[s],
                        e1.distance
                    );
                    assert!(
                        (r.distance - e1.distance).abs() <= row_max,
                        "dim {dim}: row {} exact {}",
                        r.distance,
                        e1.distance
                    );
                    assert_eq!(r.bound, e1.bound);
                    assert!(
                        (want_est[s] - want_low[s] - r.bound).abs() <= 1e-3 * (r.bound + slack)
                    );
                    for k in kernels::supported() {
                        assert_eq!(
                            codec.estimate_binary_row(k, &row, &query, terms, 1.9),
                            r,
                            "{}",
                            k.name
                        );
                    }
                    // The 8-bit extended code is far tighter than the 1-bit bound.
                    let mut ex8 = vec![0u8; codec.ex_row_bytes(8)];
                    codec.encode_ex_row(8, &rot[s], &c_rot, &mut ex8).unwrap();
                    let e8 = codec.estimate_ex_row(scalar, 8, &ex8, &query, terms, 1.9);
                    assert!(
                        e8.bound < 0.05 * r.bound.max(1e-6) || r.bound == 0.0,
                        "dim {dim}: {} vs {}",
                        e8.bound,
                        r.bound
                    );
                    for k in kernels::supported() {
                        let e = codec.estimate_ex_row(k, 8, &ex8, &query, terms, 1.9);
                        assert!(
                            (e.distance - e8.distance).abs() <= 1e-4 * (1.0 + truth.abs()),
                            "{}",
                            k.name
                        );
                    }
                    if e1.bound > 0.0 {
                        sum_z += f64::from(((e1.distance - truth) / (e1.bound / 1.9)).abs());
                        n_z += 1;
                    }
                }
            }
        }
        // The normalised error |z| has mean below √(2/π) ≈ 0.8 for a correct estimator (a broken
        // one lands far outside).
        let mean_z = sum_z / f64::from(n_z);
        assert!(mean_z <= 0.9, "mean |z| {mean_z} over {n_z} estimates");
    }
}
