//! Seeded synthetic data: a Gaussian mixture, for the built-in benchmark and for tests.
//!
//! A [`ClusteredSpec`] describes a mixture of `clusters` isotropic Gaussians in `dim` dimensions:
//!
//! * cluster centres are drawn once from the standard normal distribution (each component has
//!   standard deviation 1);
//! * cluster `c` gets a share of the points proportional to `0.25 + E_c` with `E_c ~ Exp(1)`, so
//!   clusters have unequal sizes (the largest is typically several times the smallest), as in real
//!   embedding collections;
//! * a point picks its cluster by those shares and adds `spread × N(0, 1)` noise to each component
//!   of the centre: `spread` is the clusters' standard deviation relative to that of the centres.
//!
//! Base vectors ([`ClusteredSpec::generate`]) and queries ([`ClusteredSpec::generate_queries`])
//! come from the same mixture (same centres, same shares) through independent random streams, so a
//! benchmark gets queries that look like the data without being copies of it.
//!
//! # Determinism
//! The output is a pure function of the spec: every random stream is a
//! [`Xoshiro256PlusPlus`] seeded with `seed_from_u64` of a value derived from `seed` by a fixed
//! mixing function, and rows are generated in blocks of 1024, each block from its own stream, in
//! parallel on rayon's pool. The result is therefore the same on any thread count, and the first `m`
//! rows of a spec with `n ≥ m` are the rows of the same spec with `n = m`; the queries do not depend
//! on `n`. A test pins exact output values, so a change of algorithm (or of a dependency's sampling)
//! cannot slip in unnoticed.

use rand::Rng;
use rand_distr::{Exp1, StandardNormal};
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::Matrix;
use crate::error::{Error, Result};

/// Default number of clusters of [`ClusteredSpec::new`].
pub const DEFAULT_CLUSTERS: usize = 64;
/// Default cluster spread (standard deviation relative to the centres') of [`ClusteredSpec::new`].
pub const DEFAULT_SPREAD: f32 = 0.5;
/// Default seed of [`ClusteredSpec::new`].
pub const DEFAULT_SEED: u64 = 42;

/// Rows generated from one random stream (the unit of parallel work).
const BLOCK_ROWS: usize = 1024;

/// Independent random streams, one per purpose.
const STREAM_CENTRES: u64 = 1;
const STREAM_SHARES: u64 = 2;
const STREAM_BASE: u64 = 3;
const STREAM_QUERIES: u64 = 4;

/// A seeded Gaussian mixture; see the [module documentation](self).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusteredSpec {
    /// Number of base vectors.
    pub n: usize,
    /// Dimension of the vectors (at least 1).
    pub dim: usize,
    /// Number of clusters (at least 1).
    pub clusters: usize,
    /// Standard deviation of each cluster relative to that of the centres (finite, ≥ 0).
    pub spread: f32,
    /// The seed every random stream is derived from.
    pub seed: u64,
}

/// The mixture a spec describes, drawn once.
struct Mixture {
    centres: Matrix<f32>,
    /// Cumulative cluster shares, ending at 1.
    cumulative: Vec<f64>,
    spread: f32,
}

impl ClusteredSpec {
    /// `n` vectors of dimension `dim` in [`DEFAULT_CLUSTERS`] clusters of spread
    /// [`DEFAULT_SPREAD`], seed [`DEFAULT_SEED`]. Change the public fields for anything else.
    pub fn new(n: usize, dim: usize) -> Self {
        ClusteredSpec {
            n,
            dim,
            clusters: DEFAULT_CLUSTERS,
            spread: DEFAULT_SPREAD,
            seed: DEFAULT_SEED,
        }
    }

    /// The base vectors: `n` rows of `dim`.
    ///
    /// Cost: `n × dim` normal samples, spread over rayon's thread pool.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `dim` or `clusters` is 0, `spread` is negative or not
    /// finite, or `n × dim` overflows.
    pub fn generate(&self) -> Result<Matrix<f32>> {
        let mixture = self.mixture()?;
        mixture.sample(self.n, self.seed, STREAM_BASE)
    }

    /// `n_queries` query vectors from the same mixture as [`generate`](Self::generate)'s base
    /// vectors, through an independent random stream (they do not depend on `n`).
    ///
    /// # Errors
    /// As [`generate`](Self::generate).
    pub fn generate_queries(&self, n_queries: usize) -> Result<Matrix<f32>> {
        let mixture = self.mixture()?;
        mixture.sample(n_queries, self.seed, STREAM_QUERIES)
    }

    /// Base vectors and `n_queries` queries from the same mixture: the same as
    /// `(self.generate()?, self.generate_queries(n_queries)?)`, drawing the mixture once.
    ///
    /// # Errors
    /// As [`generate`](Self::generate).
    pub fn generate_with_queries(&self, n_queries: usize) -> Result<(Matrix<f32>, Matrix<f32>)> {
        let mixture = self.mixture()?;
        Ok((
            mixture.sample(self.n, self.seed, STREAM_BASE)?,
            mixture.sample(n_queries, self.seed, STREAM_QUERIES)?,
        ))
    }

    /// The cluster centres: `clusters` rows of `dim`.
    ///
    /// # Errors
    /// As [`generate`](Self::generate).
    pub fn centres(&self) -> Result<Matrix<f32>> {
        Ok(self.mixture()?.centres)
    }

    /// Each cluster's expected share of the points (they sum to 1).
    ///
    /// # Errors
    /// As [`generate`](Self::generate).
    pub fn shares(&self) -> Result<Vec<f64>> {
        let cumulative = self.mixture()?.cumulative;
        let mut prev = 0.0;
        Ok(cumulative
            .into_iter()
            .map(|c| {
                let s = c - prev;
                prev = c;
                s
            })
            .collect())
    }

    fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            return Err(Error::invalid_parameter("dim", "must be at least 1"));
        }
        if self.clusters == 0 {
            return Err(Error::invalid_parameter("clusters", "must be at least 1"));
        }
        if !(self.spread.is_finite() && self.spread >= 0.0) {
            return Err(Error::invalid_parameter(
                "spread",
                format!("must be finite and non-negative, got {}", self.spread),
            ));
        }
        Ok(())
    }

    fn mixture(&self) -> Result<Mixture> {
        self.validate()?;
        let k = self.clusters;
        let centres = sample_rows(k, self.dim, self.seed, STREAM_CENTRES, |rng, row| {
            for x in row {
                *x = rng.sample(StandardNormal);
            }
        })?;
        let mut rng = stream(self.seed, STREAM_SHARES, 0);
        let mut cumulative = Vec::with_capacity(k);
        let mut total = 0.0f64;
        for _ in 0..k {
            let e: f64 = rng.sample(Exp1);
            total += 0.25 + e;
            cumulative.push(total);
        }
        for c in &mut cumulative {
            *c /= total;
        }
        Ok(Mixture {
            centres,
            cumulative,
            spread: self.spread,
        })
    }
}

impl Mixture {
    fn sample(&self, n: usize, seed: u64, stream_id: u64) -> Result<Matrix<f32>> {
        let last = self.cumulative.len() - 1;
        sample_rows(n, self.centres.dim(), seed, stream_id, |rng, row| {
            let u: f64 = rng.random();
            let c = self.cumulative.partition_point(|&w| w <= u).min(last);
            for (x, &m) in row.iter_mut().zip(self.centres.row(c)) {
                let z: f32 = rng.sample(StandardNormal);
                *x = m + self.spread * z;
            }
        })
    }
}

/// `n` rows of `dim`, filled block by block in parallel; block `b` draws from
/// `stream(seed, stream_id, b)`, row after row.
fn sample_rows(
    n: usize,
    dim: usize,
    seed: u64,
    stream_id: u64,
    fill: impl Fn(&mut Xoshiro256PlusPlus, &mut [f32]) + Sync,
) -> Result<Matrix<f32>> {
    let len = n.checked_mul(dim).ok_or_else(|| {
        Error::invalid_parameter("n", format!("{n} rows of dimension {dim} overflow"))
    })?;
    let mut data = vec![0.0f32; len];
    data.par_chunks_mut(BLOCK_ROWS.saturating_mul(dim))
        .enumerate()
        .for_each(|(b, block)| {
            let mut rng = stream(seed, stream_id, b as u64);
            for row in block.chunks_exact_mut(dim) {
                fill(&mut rng, row);
            }
        });
    Matrix::from_vec(dim, data)
}

/// The random stream number `index` of purpose `stream_id` under `seed`. The derivation is part of
/// the determinism promise: never change it.
fn stream(seed: u64, stream_id: u64, index: u64) -> Xoshiro256PlusPlus {
    let s = mix64(mix64(seed ^ mix64(stream_id)).wrapping_add(index));
    Xoshiro256PlusPlus::seed_from_u64(s)
}

/// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClusteredSpec {
        ClusteredSpec {
            n: 5000,
            dim: 16,
            clusters: 8,
            spread: 0.1,
            seed: 7,
        }
    }

    fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    /// FNV-1a over the values' bits.
    fn fingerprint(m: &Matrix<f32>) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for v in m.as_slice() {
            for b in v.to_bits().to_le_bytes() {
                h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
            }
        }
        h
    }

    fn nearest(centres: &Matrix<f32>, x: &[f32]) -> (usize, f32) {
        centres
            .rows()
            .enumerate()
            .map(|(c, m)| (c, x.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum()))
            .min_by(|a: &(usize, f32), b| a.1.total_cmp(&b.1))
            .unwrap()
    }

    #[test]
    fn same_seed_same_output_on_any_thread_count() {
        let s = spec();
        let one = in_pool(1, || s.generate_with_queries(100).unwrap());
        let three = in_pool(3, || s.generate_with_queries(100).unwrap());
        assert_eq!(one, three);
        assert_eq!(one.0, s.generate().unwrap());
        assert_eq!(one.1, s.generate_queries(100).unwrap());
        let other = ClusteredSpec {
            seed: 8,
            ..s.clone()
        }
        .generate()
        .unwrap();
        assert_ne!(one.0, other);
    }

    #[test]
    fn shorter_specs_are_prefixes_and_queries_do_not_depend_on_n() {
        let s = spec();
        let long = s.generate_with_queries(50).unwrap();
        let short = ClusteredSpec {
            n: 1500,
            ..s.clone()
        }
        .generate_with_queries(50)
        .unwrap();
        assert_eq!(short.0, long.0.clone().truncated(1500));
        assert_eq!(short.1, long.1);
        assert_eq!(
            s.generate_queries(20).unwrap(),
            long.1.clone().truncated(20)
        );
    }

    /// Pins the exact output: if this fails, the generator (or a dependency's sampling) changed
    /// and every recorded synthetic benchmark result would silently change with it.
    #[test]
    fn output_is_pinned() {
        let s = ClusteredSpec {
            n: 2100,
            dim: 5,
            clusters: 3,
            spread: 0.5,
            seed: 12345,
        };
        let (base, queries) = s.generate_with_queries(10).unwrap();
        let first: Vec<u32> = base.row(0).iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            first,
            [1058886156, 3191423416, 3213765080, 1068365496, 1066714709]
        );
        assert_eq!(fingerprint(&base), PINNED_BASE);
        assert_eq!(fingerprint(&queries), PINNED_QUERIES);
    }
    const PINNED_BASE: u64 = 0x0dea_7fcc_1bfd_49bc;
    const PINNED_QUERIES: u64 = 0x7bb2_4d6e_f3bf_5572;

    #[test]
    fn statistics_match_the_mixture() {
        let s = ClusteredSpec {
            n: 20_000,
            ..spec()
        };
        let (base, queries) = s.generate_with_queries(2000).unwrap();
        let centres = s.centres().unwrap();
        let shares = s.shares().unwrap();
        assert_eq!((base.len(), base.dim()), (20_000, 16));
        assert_eq!((queries.len(), queries.dim()), (2000, 16));
        assert_eq!((centres.len(), centres.dim()), (8, 16));
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);

        // Centres have unit variance per component.
        let var = centres.as_slice().iter().map(|v| v * v).sum::<f32>() / (8.0 * 16.0);
        assert!((0.6..1.5).contains(&var), "centre variance {var}");

        for (m, label) in [(&base, "base"), (&queries, "queries")] {
            let mut counts = [0usize; 8];
            let mut sq = 0.0f64;
            for x in m.rows() {
                let (c, d) = nearest(&centres, x);
                counts[c] += 1;
                sq += d as f64;
            }
            // Noise variance per component is spread².
            let per_component = sq / (m.len() * m.dim()) as f64;
            assert!(
                (per_component - 0.01).abs() < 0.0005,
                "{label}: per-component variance {per_component}"
            );
            // Cluster sizes follow the shares.
            for (c, &count) in counts.iter().enumerate() {
                let got = count as f64 / m.len() as f64;
                let tol = 4.0 * (shares[c] * (1.0 - shares[c]) / m.len() as f64).sqrt() + 1e-3;
                assert!(
                    (got - shares[c]).abs() < tol,
                    "{label}: cluster {c} share {got} vs {}",
                    shares[c]
                );
            }
        }
        // Unequal sizes.
        let (lo, hi) = shares
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        assert!(hi > 1.5 * lo, "shares {shares:?}");
        // Queries are fresh points, not copies of base rows.
        assert_ne!(queries.row(0), base.row(0));
    }

    #[test]
    fn edge_cases_and_bad_parameters() {
        let empty = ClusteredSpec::new(0, 4).generate().unwrap();
        assert_eq!((empty.len(), empty.dim()), (0, 4));
        let one = ClusteredSpec {
            clusters: 1,
            spread: 0.0,
            ..ClusteredSpec::new(3, 2)
        };
        let m = one.generate().unwrap();
        let c = one.centres().unwrap();
        assert!(m.rows().all(|r| r == c.row(0)));

        for bad in [
            ClusteredSpec::new(10, 0),
            ClusteredSpec {
                clusters: 0,
                ..ClusteredSpec::new(10, 4)
            },
            ClusteredSpec {
                spread: -1.0,
                ..ClusteredSpec::new(10, 4)
            },
            ClusteredSpec {
                spread: f32::NAN,
                ..ClusteredSpec::new(10, 4)
            },
            ClusteredSpec::new(usize::MAX, 4),
        ] {
            assert!(
                matches!(bad.generate(), Err(Error::InvalidParameter { .. })),
                "{bad:?}"
            );
        }
    }
}
