//! Distance metrics and their kernels.
//!
//! Every metric is a *distance*: smaller is closer.
//!
//! | metric | distance | note |
//! |---|---|---|
//! | [`Metric::L2`] | squared Euclidean, `Σ (aᵢ − bᵢ)²` | no square root: same order, cheaper |
//! | [`Metric::InnerProduct`] | `1 − a·b` | as hnswlib; for unit vectors it equals the cosine distance |
//! | [`Metric::Cosine`] | `1 − a·b / (‖a‖‖b‖)` | the index normalises each vector once at insert and the query once per search, then uses `1 − a·b` |
//!
//! The kernels ([`l2_squared`], [`dot`]) run on the fastest implementation the CPU supports;
//! [`scalar`] holds the plain reference each SIMD path is tested against.
//!
//! | kernel set | where | lanes |
//! |---|---|---|
//! | `avx512` | x86_64 with AVX-512 F, BW, VL | 16, four accumulators, masked tail |
//! | `avx2+fma` | x86_64 with AVX2 and FMA | 8, four accumulators, masked tail |
//! | `scalar` | everywhere | [`scalar`] |
//!
//! Inside the crate the kernels are a trait (`FloatKernels`) of the CPU levels of the crate's
//! `simd` module: a search picks the level once and is compiled for it, so the hot loop calls the
//! kernel directly (`VectorDistance` adds the metric). The public [`Kernels`] sets of function
//! pointers are for benchmarks and callers outside the crate. `docs/distance.md` has the
//! measurements.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::simd::{Avx2, Avx512, Avx512Vnni, Isa, Level, Scalar};

pub mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;
/// How closeness is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// `1 − a·b` (inner-product similarity turned into a distance).
    #[serde(rename = "ip")]
    InnerProduct,
    /// `1 − cos(a, b)`; vectors are normalised once when stored.
    Cosine,
}

impl Metric {
    /// The metric's short name, as parsed by [`FromStr`]: `l2`, `ip` or `cosine`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
        }
    }

    /// Whether vectors are normalised to unit length before they are stored or searched.
    pub fn normalizes(self) -> bool {
        matches!(self, Metric::Cosine)
    }

    /// The distance between two arbitrary vectors under this metric (for cosine, the vectors need
    /// not be normalised; a zero vector has distance 1 to everything).
    ///
    /// # Panics
    /// When `a` and `b` differ in length.
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::L2 => l2_squared(a, b),
            Metric::InnerProduct => 1.0 - dot(a, b),
            Metric::Cosine => {
                let norms = (dot(a, a) * dot(b, b)).sqrt();
                if norms > 0.0 {
                    1.0 - dot(a, b) / norms
                } else {
                    1.0
                }
            }
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;

    /// Parses `l2` (also `euclidean`), `ip` (also `dot`, `inner_product`, `angular-ip`) or
    /// `cosine` (also `angular`), case-insensitively and ignoring surrounding white space.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Ok(Metric::L2),
            "ip" | "dot" | "inner_product" | "innerproduct" => Ok(Metric::InnerProduct),
            "cosine" | "angular" | "cos" => Ok(Metric::Cosine),
            other => Err(Error::invalid_parameter(
                "metric",
                format!("unknown metric {other:?}; expected l2, ip or cosine"),
            )),
        }
    }
}

/// Squared Euclidean distance `Σ (aᵢ − bᵢ)²`, on the fastest kernel this CPU has.
///
/// # Panics
/// When `a` and `b` differ in length.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "l2_squared: vectors differ in length");
    (active_kernels().l2_squared)(a, b)
}

/// Dot product `Σ aᵢ·bᵢ`, on the fastest kernel this CPU has.
///
/// # Panics
/// When `a` and `b` differ in length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: vectors differ in length");
    (active_kernels().dot)(a, b)
}

/// Scales `v` to unit length in place. Returns `false` (and leaves `v` unchanged) when its norm is
/// zero or not finite.
pub fn normalize(v: &mut [f32]) -> bool {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
        true
    } else {
        false
    }
}

/// The f32 kernels of one CPU level. Each reads `min(a.len(), b.len())` elements of each slice,
/// so it never reads out of bounds; pass slices of equal length to get a meaningful answer.
pub(crate) trait FloatKernels: Isa {
    /// `Σ (aᵢ − bᵢ)²`.
    fn l2_squared(self, a: &[f32], b: &[f32]) -> f32;
    /// `Σ aᵢ·bᵢ`.
    fn dot(self, a: &[f32], b: &[f32]) -> f32;
}

impl FloatKernels for Scalar {
    #[inline(always)]
    fn l2_squared(self, a: &[f32], b: &[f32]) -> f32 {
        scalar::l2_squared(a, b)
    }

    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        scalar::dot(a, b)
    }
}

/// Implements [`FloatKernels`] for an x86 level with the kernels of one instruction set (on
/// other architectures the level types cannot be obtained, and the scalar kernels stand in).
macro_rules! x86_float_kernels {
    ($level:ty, $l2:ident, $dot:ident) => {
        impl FloatKernels for $level {
            #[inline(always)]
            fn l2_squared(self, a: &[f32], b: &[f32]) -> f32 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a value of the level exists only after the CPU was found to support it
                // (`crate::simd`); the kernel reads `min(a.len(), b.len())` elements of each.
                return unsafe { x86::$l2(a.as_ptr(), b.as_ptr(), a.len().min(b.len())) };
                #[cfg(not(target_arch = "x86_64"))]
                scalar::l2_squared(a, b)
            }

            #[inline(always)]
            fn dot(self, a: &[f32], b: &[f32]) -> f32 {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as in `l2_squared`.
                return unsafe { x86::$dot(a.as_ptr(), b.as_ptr(), a.len().min(b.len())) };
                #[cfg(not(target_arch = "x86_64"))]
                scalar::dot(a, b)
            }
        }
    };
}

x86_float_kernels!(Avx2, l2_squared_avx2, dot_avx2);
x86_float_kernels!(Avx512, l2_squared_avx512, dot_avx512);
x86_float_kernels!(Avx512Vnni, l2_squared_avx512, dot_avx512);

/// The distance of a metric between a query and a stored vector (normalised already under
/// cosine), on one CPU level: what an exact scorer and the graph build call per pair.
pub(crate) trait VectorDistance: Copy + Send + Sync {
    /// The distance; smaller is closer.
    fn distance(self, a: &[f32], b: &[f32]) -> f32;
}

/// Squared L2 on the kernels of level `K`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct L2<K>(pub K);

/// `1 − a·b` (inner product, and cosine on normalised vectors) on the kernels of level `K`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OneMinusDot<K>(pub K);

impl<K: FloatKernels> VectorDistance for L2<K> {
    #[inline(always)]
    fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        self.0.l2_squared(a, b)
    }
}

impl<K: FloatKernels> VectorDistance for OneMinusDot<K> {
    #[inline(always)]
    fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        1.0 - self.0.dot(a, b)
    }
}

/// Code that runs with the distance of one metric on one CPU level, compiled for each pair.
pub(crate) trait WithDistance {
    /// What the job returns.
    type Output;
    /// Runs the job with `distance`.
    fn run<D: VectorDistance>(self, distance: D) -> Self::Output;
}

impl Metric {
    /// Runs `job` with this metric's distance on stored vectors, on level `level`.
    pub(crate) fn with_distance<K: FloatKernels, J: WithDistance>(
        self,
        level: K,
        job: J,
    ) -> J::Output {
        match self {
            Metric::L2 => job.run(L2(level)),
            Metric::InnerProduct | Metric::Cosine => job.run(OneMinusDot(level)),
        }
    }

    /// [`Metric::with_distance`] on the best level of this CPU.
    pub(crate) fn with_best_distance<J: WithDistance>(self, job: J) -> J::Output {
        match Level::best() {
            Level::Avx512Vnni(k) => self.with_distance(k, job),
            Level::Avx512(k) => self.with_distance(k, job),
            Level::Avx2(k) => self.with_distance(k, job),
            Level::Scalar(k) => self.with_distance(k, job),
        }
    }
}

/// The kernels of one instruction set, as plain function pointers (for benchmarks and callers
/// outside the crate; the index calls the level's kernels directly).
///
/// Every kernel reads `min(a.len(), b.len())` elements of each slice, so it never reads out of
/// bounds; pass slices of equal length to get a meaningful answer. Obtain a set with
/// [`active_kernels`] (the one [`l2_squared`] and [`dot`] use) or [`supported_kernels`] (every set
/// this CPU can run, for benchmarks and tests).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Kernels {
    /// The instruction set: `avx512`, `avx2+fma` or `scalar`.
    pub name: &'static str,
    /// Squared Euclidean distance `Σ (aᵢ − bᵢ)²`.
    pub l2_squared: fn(&[f32], &[f32]) -> f32,
    /// Dot product `Σ aᵢ·bᵢ`.
    pub dot: fn(&[f32], &[f32]) -> f32,
    /// Inner-product distance `1 − Σ aᵢ·bᵢ`.
    pub ip_distance: fn(&[f32], &[f32]) -> f32,
}

/// The function-pointer set of one level: monomorphised wrappers around the level's kernels.
/// Safe to call because a set is only built from a level value, the proof of CPU support.
fn kernel_set(level: Level) -> Kernels {
    fn set<K: FloatKernels>() -> Kernels {
        Kernels {
            name: K::NAME,
            l2_squared: |a, b| level_value::<K>().l2_squared(a, b),
            dot: |a, b| level_value::<K>().dot(a, b),
            ip_distance: |a, b| 1.0 - level_value::<K>().dot(a, b),
        }
    }
    match level {
        Level::Avx512Vnni(_) | Level::Avx512(_) => set::<Avx512>(),
        Level::Avx2(_) => set::<Avx2>(),
        Level::Scalar(_) => set::<Scalar>(),
    }
}

/// The proof value of level `K`, for the function pointers of [`kernel_set`], which are only
/// handed out for levels this CPU was found to support.
fn level_value<K: Isa>() -> K {
    // SAFETY: `kernel_set` builds pointers for `K` only from a `Level` holding a `K` (or, for
    // `Avx512`, an `Avx512Vnni`, which implies it), i.e. after `crate::simd` checked the CPU.
    unsafe { K::assume_supported() }
}

/// Every kernel set this CPU can run, fastest first; the last is always `scalar`. (AVX-512 with
/// and without VNNI have the same f32 kernels: the set is listed once, as `avx512`.)
///
/// Cost: a few CPU-feature queries and a small allocation; meant for benchmarks and tests, not for
/// hot loops.
pub fn supported_kernels() -> Vec<Kernels> {
    let mut sets: Vec<Kernels> = Vec::with_capacity(3);
    for level in Level::supported() {
        let set = kernel_set(level);
        if !sets.iter().any(|s| s.name == set.name) {
            sets.push(set);
        }
    }
    sets
}

/// The kernel set [`l2_squared`], [`dot`] and the index use: the fastest this CPU supports, chosen
/// on the first call and cached for the life of the process.
pub fn active_kernels() -> &'static Kernels {
    static ACTIVE: OnceLock<Kernels> = OnceLock::new();
    ACTIVE.get_or_init(|| kernel_set(Level::best()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_round_trip() {
        for m in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
        }
        assert!("hamming".parse::<Metric>().is_err());
    }

    #[test]
    fn cosine_ignores_scale() {
        let a = [1.0, 2.0, 3.0];
        let b = [2.0, 4.0, 6.0];
        assert!(Metric::Cosine.distance(&a, &b).abs() < 1e-6);
        assert_eq!(Metric::Cosine.distance(&a, &[0.0; 3]), 1.0);
    }

    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    const LARGE_DIMS: [usize; 6] = [256, 384, 768, 784, 1536, 4099];

    fn all_dims() -> impl Iterator<Item = usize> {
        (1..=130).chain(LARGE_DIMS)
    }

    fn random_vec(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// The tolerance for comparing two summation orders of `terms`: relative to the sum of the
    /// magnitudes (which bounds the rounding error of any order), at least absolute `1e-5`.
    fn tolerance(terms: impl Iterator<Item = f64>) -> f64 {
        2e-5 * terms.map(f64::abs).sum::<f64>().max(1.0)
    }

    /// Checks every kernel set of this CPU against `scalar` on `a`, `b`.
    fn check_all(a: &[f32], b: &[f32], what: &str) {
        let dot_terms = || a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64);
        let l2_terms = || {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        };
        let want_l2 = scalar::l2_squared(a, b);
        let want_dot = scalar::dot(a, b);
        let want_ip = scalar::ip_distance(a, b);
        for k in supported_kernels() {
            let n = a.len();
            let got = (k.l2_squared)(a, b);
            let tol = tolerance(l2_terms());
            assert!(
                ((got - want_l2) as f64).abs() <= tol,
                "{} l2_squared, {what}, n={n}: {got} vs scalar {want_l2} (tol {tol})",
                k.name
            );
            let got = (k.dot)(a, b);
            let tol = tolerance(dot_terms());
            assert!(
                ((got - want_dot) as f64).abs() <= tol,
                "{} dot, {what}, n={n}: {got} vs scalar {want_dot} (tol {tol})",
                k.name
            );
            let got = (k.ip_distance)(a, b);
            assert!(
                ((got - want_ip) as f64).abs() <= tol,
                "{} ip_distance, {what}, n={n}: {got} vs scalar {want_ip} (tol {tol})",
                k.name
            );
        }
    }

    #[test]
    fn simd_paths_are_present_when_the_cpu_has_them() {
        let names: Vec<_> = supported_kernels().iter().map(|k| k.name).collect();
        assert_eq!(names.last(), Some(&"scalar"));
        assert_eq!(active_kernels().name, names[0]);
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") {
                assert!(names.contains(&"avx512"), "{names:?}");
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                assert!(names.contains(&"avx2+fma"), "{names:?}");
            }
        }
    }

    #[test]
    fn every_kernel_matches_scalar_on_random_data() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5EED_D157);
        for n in all_dims() {
            let a = random_vec(&mut rng, n);
            let b = random_vec(&mut rng, n);
            check_all(&a, &b, "random");
            check_all(&a, &a, "a with itself");
        }
    }

    #[test]
    fn every_kernel_matches_scalar_on_unaligned_slices() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
        for n in all_dims() {
            let a = random_vec(&mut rng, n + 2);
            let b = random_vec(&mut rng, n + 2);
            check_all(&a[1..n + 1], &b[1..n + 1], "offset by one");
            check_all(&a[1..n + 1], &b[2..n + 2], "offsets one and two");
        }
    }

    /// Small integers sum exactly in `f32` in any order, so every kernel must agree bit for bit:
    /// a lane read twice, skipped or read past the end shows as a wrong answer.
    #[test]
    fn every_kernel_is_exact_on_small_integers() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for n in all_dims() {
            let a: Vec<f32> = (0..n).map(|_| rng.random_range(-8i32..=8) as f32).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.random_range(-8i32..=8) as f32).collect();
            let want_l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            let want_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            for k in supported_kernels() {
                assert_eq!((k.l2_squared)(&a, &b), want_l2, "{} l2, n={n}", k.name);
                assert_eq!((k.dot)(&a, &b), want_dot, "{} dot, n={n}", k.name);
                assert_eq!(
                    (k.ip_distance)(&a, &b),
                    1.0 - want_dot,
                    "{} ip, n={n}",
                    k.name
                );
            }
        }
    }

    #[test]
    fn kernels_read_only_the_common_length() {
        let a: Vec<f32> = (1..=40).map(|x| x as f32).collect();
        let b = vec![1.0f32; 37];
        for k in supported_kernels() {
            assert_eq!((k.dot)(&a, &b), (1..=37).sum::<i32>() as f32, "{}", k.name);
            assert_eq!((k.dot)(&b, &a), (1..=37).sum::<i32>() as f32, "{}", k.name);
            assert_eq!((k.l2_squared)(&a[..3], &b), 0.0 + 1.0 + 4.0, "{}", k.name);
            assert_eq!((k.dot)(&[], &a), 0.0, "{}", k.name);
            assert_eq!((k.l2_squared)(&a, &[]), 0.0, "{}", k.name);
        }
    }

    #[test]
    fn public_functions_and_metric_kernels_use_the_active_set() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let a = random_vec(&mut rng, 100);
        let b = random_vec(&mut rng, 100);
        let k = active_kernels();
        assert_eq!(l2_squared(&a, &b), (k.l2_squared)(&a, &b));
        assert_eq!(dot(&a, &b), (k.dot)(&a, &b));
        struct Pair<'a>(&'a [f32], &'a [f32]);
        impl WithDistance for Pair<'_> {
            type Output = f32;
            fn run<D: VectorDistance>(self, d: D) -> f32 {
                d.distance(self.0, self.1)
            }
        }
        let with = |m: Metric| m.with_best_distance(Pair(&a, &b));
        assert_eq!(with(Metric::L2), (k.l2_squared)(&a, &b));
        assert_eq!(with(Metric::InnerProduct), 1.0 - (k.dot)(&a, &b));
        assert_eq!(with(Metric::Cosine), 1.0 - (k.dot)(&a, &b));
        assert_eq!(Metric::L2.distance(&a, &b), l2_squared(&a, &b));
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn public_l2_squared_rejects_different_lengths() {
        l2_squared(&[1.0, 2.0], &[1.0]);
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn public_dot_rejects_different_lengths() {
        dot(&[1.0], &[1.0, 2.0]);
    }

    #[test]
    fn normalize_gives_unit_length() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for n in all_dims() {
            let mut v = random_vec(&mut rng, n);
            let before = v.clone();
            assert!(normalize(&mut v));
            let norm = scalar::dot(&v, &v).sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "n={n}: norm {norm}");
            // Same direction: cosine distance to the original is ~0.
            assert!(Metric::Cosine.distance(&v, &before).abs() < 1e-5, "n={n}");
        }
        let mut v = [3.0f32, 4.0];
        assert!(normalize(&mut v));
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
    }

    #[test]
    fn normalize_refuses_zero_and_non_finite() {
        let mut zero = [0.0f32; 5];
        assert!(!normalize(&mut zero));
        assert_eq!(zero, [0.0; 5]);
        let mut empty: [f32; 0] = [];
        assert!(!normalize(&mut empty));
        let mut inf = [f32::INFINITY, 1.0];
        assert!(!normalize(&mut inf));
        assert_eq!(inf, [f32::INFINITY, 1.0]);
        let mut nan = [f32::NAN, 1.0];
        assert!(!normalize(&mut nan));
        let mut huge = [f32::MAX, f32::MAX];
        assert!(!normalize(&mut huge), "norm overflows to inf");
    }
}
