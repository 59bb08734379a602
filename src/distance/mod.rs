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
//! The kernels ([`l2_squared`], [`dot`]) dispatch at run time to the fastest implementation the CPU
//! supports; [`scalar`] holds the plain reference each SIMD path is tested against.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub mod scalar;

/// A distance between two vectors of equal length, as a plain function pointer: chosen once, called
/// in the hot loop without further dispatch.
pub(crate) type DistanceFn = fn(&[f32], &[f32]) -> f32;

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

    /// The kernel used on *stored* vectors (already normalised for cosine).
    pub(crate) fn kernel(self) -> DistanceFn {
        match self {
            Metric::L2 => l2_squared_unchecked(),
            Metric::InnerProduct | Metric::Cosine => ip_distance_unchecked(),
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
    (l2_squared_unchecked())(a, b)
}

/// Dot product `Σ aᵢ·bᵢ`, on the fastest kernel this CPU has.
///
/// # Panics
/// When `a` and `b` differ in length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: vectors differ in length");
    (dot_unchecked())(a, b)
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

// The dispatched kernels. Each takes slices of equal length (the callers guarantee it; the SIMD
// paths read `min(a.len(), b.len())` elements so a violation is a wrong answer, never UB).

fn l2_squared_unchecked() -> DistanceFn {
    scalar::l2_squared
}

fn dot_unchecked() -> DistanceFn {
    scalar::dot
}

fn ip_distance_unchecked() -> DistanceFn {
    |a, b| 1.0 - scalar::dot(a, b)
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
}
