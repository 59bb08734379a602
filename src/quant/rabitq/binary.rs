//! 1-bit RaBitQ codes and their factors, the compact code row, and the single-row estimate.
//!
//! In the rotated space (`D` = padded dimension), a data vector `o'` is coded against a centroid
//! `c'` through its residual `r = o' − c'`: bit `i` is `[rᵢ > 0]`, and the code stands for
//! `x = bits − ½ ∈ {±½}ᴰ`. For a query `q'` with `y = q' − c'`, the estimator of the paper,
//!
//! ```text
//!     ⟨r, y⟩ ≈ ‖r‖² · ⟨x, y⟩ / ⟨x, r⟩           (⟨x, r⟩ = ½ Σ |rᵢ| > 0)
//! ```
//!
//! is unbiased over the random rotation, and with probability at least `1 − p(ε₀, D)`
//! ([`super::failure_probability`]) its error is at most
//!
//! ```text
//!     ‖r‖ · ‖y‖ · ε₀ · √((1 − α²) / α²) / √(D − 1),     α = ⟨x, r⟩ / (‖x‖ ‖r‖).
//! ```
//!
//! Both distances follow: `‖q − o‖² = ‖r‖² + ‖y‖² − 2⟨r, y⟩` (L2) and
//! `1 − ⟨q, o⟩ = 1 − ⟨q, c⟩ − ⟨c, r⟩ − ⟨r, y⟩` (inner product; cosine on unit vectors). Writing
//! `⟨x, y⟩ = ⟨x, q'⟩ − ⟨x, c'⟩` moves everything that depends on the centroid into the vector's
//! own [`Factors`], so the query is prepared once ([`super::PreparedQuery`], from `q'` alone) and
//! each centroid adds only two scalars ([`super::CentroidTerms`]):
//!
//! ```text
//!     estimate = add + g_add + rescale · ⟨x, q'⟩,      bound = ε₀ · error · g_error
//! ```
//!
//! | | `add` | `rescale` | `error` | `g_add` | `g_error` |
//! |---|---|---|---|---|---|
//! | L2 | `‖r‖² + 2s⟨x, c'⟩` | `−2s` | `2‖r‖·β` | `‖q − c‖²` | `‖q − c‖` |
//! | IP | `1 − ⟨c', r⟩ + s⟨x, c'⟩` | `−s` | `‖r‖·β` | `−⟨q, c⟩` | `‖q − c‖` |
//!
//! with `s = ‖r‖² / ⟨x, r⟩` and `β = √((1 − α²)/α²) / √(D − 1)`. `error` is stored without `ε₀`, so
//! the confidence is chosen per search. A vector equal to its centroid (`r = 0`) gets
//! `rescale = error = 0` and `add` = its exact term: its estimate is exact.
//!
//! **The compact row** ([`row_bytes`]) is `D/8` code bytes (bit `i` of the code is bit `i % 8` of
//! byte `i / 8`) followed by `add`, `rescale`, `error` as little-endian `f32`.

use super::Space;

/// Per-vector constants of a code: `estimate = add + g_add + rescale · ⟨x, q'⟩`, half-width of the
/// confidence interval `ε₀ · error · g_error`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Factors {
    /// Everything of the estimate that does not depend on the query.
    pub(crate) add: f32,
    /// The multiplier of `⟨x, q'⟩`.
    pub(crate) rescale: f32,
    /// One standard deviation of the estimate per unit of `g_error` (no `ε₀`).
    pub(crate) error: f32,
}

impl Factors {
    /// Bytes of the factors in a row: three `f32`.
    pub(crate) const BYTES: usize = 12;

    /// Writes the factors as three little-endian `f32`.
    pub(crate) fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.add.to_le_bytes());
        out[4..8].copy_from_slice(&self.rescale.to_le_bytes());
        out[8..12].copy_from_slice(&self.error.to_le_bytes());
    }

    /// Reads factors written by [`Factors::write`].
    pub(crate) fn read(bytes: &[u8]) -> Self {
        let f = |i: usize| f32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        Self {
            add: f(0),
            rescale: f(4),
            error: f(8),
        }
    }
}

/// Bytes of a 1-bit code (without factors) of a `padded`-dimensional vector.
pub(crate) fn code_bytes(padded: usize) -> usize {
    padded / 8
}

/// Bytes of a compact 1-bit row: code then factors.
pub(crate) fn row_bytes(padded: usize) -> usize {
    code_bytes(padded) + Factors::BYTES
}

/// The factors of a code `x` (given by `code(i)`, the value `xᵢ`) of `data_rot` against
/// `centroid_rot`, in `f64`. Shared by the 1-bit and the extended codes.
pub(super) fn factors_of(
    space: Space,
    data_rot: &[f32],
    centroid_rot: &[f32],
    code: impl Fn(usize) -> f64,
) -> Factors {
    let d = data_rot.len();
    let (mut r_sq, mut x_r, mut x_sq, mut x_c, mut c_r) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for i in 0..d {
        let c = f64::from(centroid_rot[i]);
        let r = f64::from(data_rot[i]) - c;
        let x = code(i);
        r_sq += r * r;
        x_r += x * r;
        x_sq += x * x;
        x_c += x * c;
        c_r += c * r;
    }
    let (add_exact, mul) = match space {
        Space::L2 => (r_sq, 2.0),
        Space::InnerProduct => (1.0 - c_r, 1.0),
    };
    if r_sq == 0.0 || x_r <= 0.0 {
        // The vector is its centroid (or a code that carries no direction): the exact term.
        return Factors {
            add: add_exact as f32,
            rescale: 0.0,
            error: 0.0,
        };
    }
    let s = r_sq / x_r;
    let alpha_sq = (x_r * x_r / (x_sq * r_sq)).min(1.0);
    let beta = ((1.0 - alpha_sq) / alpha_sq).sqrt() / ((d.max(2) - 1) as f64).sqrt();
    Factors {
        add: (add_exact + mul * s * x_c) as f32,
        rescale: (-mul * s) as f32,
        error: (mul * r_sq.sqrt() * beta) as f32,
    }
}

/// Codes `data_rot` against `centroid_rot` (both rotated, `padded` long): writes the `padded / 8`
/// code bytes into `bits` and returns the factors.
///
/// # Panics
/// When the lengths disagree (`bits.len() != padded / 8`).
pub(crate) fn encode(
    space: Space,
    data_rot: &[f32],
    centroid_rot: &[f32],
    bits: &mut [u8],
) -> Factors {
    let d = data_rot.len();
    assert_eq!(centroid_rot.len(), d, "binary::encode: centroid length");
    assert_eq!(bits.len(), code_bytes(d), "binary::encode: code length");
    bits.fill(0);
    for i in 0..d {
        if data_rot[i] > centroid_rot[i] {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    factors_of(space, data_rot, centroid_rot, |i| {
        if bits[i / 8] >> (i % 8) & 1 == 1 {
            0.5
        } else {
            -0.5
        }
    })
}

/// Codes `data_rot` into a compact row (`row_bytes(padded)` bytes: code, then factors).
///
/// # Panics
/// When `row.len() != row_bytes(padded)` or the vectors differ in length.
pub(crate) fn encode_row(space: Space, data_rot: &[f32], centroid_rot: &[f32], row: &mut [u8]) {
    let d = data_rot.len();
    assert_eq!(row.len(), row_bytes(d), "binary::encode_row: row length");
    let (code, rest) = row.split_at_mut(code_bytes(d));
    let f = encode(space, data_rot, centroid_rot, code);
    f.write(rest);
}

/// The query of the single-row kernel: `q'` quantized to `bits`-bit unsigned integers
/// `qᵤ = ⌊(q' − low) / scale + ½⌋` and stored as bit planes, so that
/// `⟨b, qᵤ⟩ = Σₚ 2ᵖ · popcount(b & planeₚ)` for a code `b`.
#[derive(Clone, Debug)]
pub(crate) struct QueryPlanes {
    /// Bits per query coordinate (1 to 8).
    pub(crate) bits: u32,
    /// `u64` words per plane (`padded / 64`).
    pub(crate) words: usize,
    /// `bits × words` words: plane `p` (weight `2ᵖ`) at `[p · words, (p + 1) · words)`.
    pub(crate) planes: Vec<u64>,
    /// The quantization step.
    pub(crate) scale: f32,
    /// The value of code 0.
    pub(crate) low: f32,
}

impl QueryPlanes {
    /// Quantizes `q_rot` (length a multiple of 64) to `bits` bits per coordinate.
    pub(crate) fn new(q_rot: &[f32], bits: u32) -> Self {
        debug_assert!((1..=8).contains(&bits));
        debug_assert_eq!(q_rot.len() % 64, 0);
        let words = q_rot.len() / 64;
        let (lo, hi) = q_rot
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let levels = ((1u32 << bits) - 1) as f32;
        let scale = if hi > lo { (hi - lo) / levels } else { 1.0 };
        let inv = 1.0 / scale;
        // Round half up by truncation of a value ≥ 0, capped at the top level.
        let levels = levels as u32;
        let u: Vec<u8> = q_rot
            .iter()
            .map(|&v| (((v - lo) * inv + 0.5) as u32).min(levels) as u8)
            .collect();
        let mut planes = vec![0u64; bits as usize * words];
        for (w, chunk) in u.chunks_exact(64).enumerate() {
            for p in 0..bits {
                let mut word = 0u64;
                for (b, bytes) in chunk.chunks_exact(8).enumerate() {
                    let x = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                    // Bit p of each byte, gathered into 8 bits (byte k → bit k) by one multiply.
                    let gathered = ((x >> p) & 0x0101_0101_0101_0101)
                        .wrapping_mul(0x0102_0408_1020_4080)
                        >> 56;
                    word |= gathered << (8 * b);
                }
                planes[p as usize * words + w] = word;
            }
        }
        Self {
            bits,
            words,
            planes,
            scale,
            low: lo,
        }
    }
}

/// The scalar twin of the single-row kernel: `(Σₚ 2ᵖ · popcount(code & planeₚ), popcount(code))`
/// over the first `words` words of `code` (read as little-endian `u64`).
///
/// # Panics
/// When `code` has fewer than `8 · words` bytes or `planes` fewer than `bits · words` words.
pub(crate) fn row_dot_scalar(code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
    row_dot_impl(code, planes, words, bits)
}

/// The body of the popcount row kernels (compiled with and without the `popcnt` instruction).
#[inline(always)]
pub(super) fn row_dot_impl(code: &[u8], planes: &[u64], words: usize, bits: u32) -> (u32, u32) {
    let code = &code[..8 * words];
    let planes = &planes[..bits as usize * words];
    let mut total = 0u32;
    let mut ones = 0u32;
    for (w, chunk) in code.chunks_exact(8).enumerate() {
        let b = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        ones += b.count_ones();
        for p in 0..bits as usize {
            total += (b & planes[p * words + w]).count_ones() << p;
        }
    }
    (total, ones)
}

#[cfg(test)]
mod tests {
    use super::super::kernels;
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn factors_round_trip_and_centroid_vector_is_exact() {
        let f = Factors {
            add: 1.5,
            rescale: -2.25,
            error: 0.125,
        };
        let mut b = [0u8; 12];
        f.write(&mut b);
        assert_eq!(Factors::read(&b), f);
        let v: Vec<f32> = (0..64).map(|i| i as f32 * 0.1).collect();
        let mut bits = vec![0u8; 8];
        let f = encode(Space::L2, &v, &v, &mut bits);
        assert_eq!((f.add, f.rescale, f.error), (0.0, 0.0, 0.0));
        let f = encode(Space::InnerProduct, &v, &v, &mut bits);
        assert_eq!((f.add, f.rescale, f.error), (1.0, 0.0, 0.0));
    }

    #[test]
    fn bits_are_the_residual_signs() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let d = 128;
        let o: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let c: Vec<f32> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut row = vec![0u8; row_bytes(d)];
        encode_row(Space::L2, &o, &c, &mut row);
        for i in 0..d {
            assert_eq!(row[i / 8] >> (i % 8) & 1 == 1, o[i] > c[i], "dim {i}");
        }
        let f = Factors::read(&row[code_bytes(d)..]);
        assert!(f.rescale < 0.0 && f.error > 0.0);
    }

    #[test]
    fn row_kernels_match_the_scalar_twin_on_every_length() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        for words in 1..=24 {
            let code: Vec<u8> = (0..8 * words).map(|_| rng.random()).collect();
            let q: Vec<f32> = (0..64 * words)
                .map(|_| rng.random_range(-2.0..3.0))
                .collect();
            for bits in 1..=8 {
                let planes = QueryPlanes::new(&q, bits);
                let want = row_dot_scalar(&code, &planes.planes, words, bits);
                // The integer sum is the exact ⟨b, qᵤ⟩.
                let mut by_hand = 0u32;
                for i in 0..64 * words {
                    if code[i / 8] >> (i % 8) & 1 == 1 {
                        let u = (((q[i] - planes.low) * (1.0 / planes.scale) + 0.5) as u32)
                            .min((1 << bits) - 1);
                        by_hand += u;
                    }
                }
                assert_eq!(want.0, by_hand, "words {words} bits {bits}");
                for k in kernels::supported() {
                    assert_eq!(
                        (k.row_dot)(&code, &planes.planes, words, bits),
                        want,
                        "{} words {words} bits {bits}",
                        k.name
                    );
                }
            }
        }
    }
}
