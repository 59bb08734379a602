//! Extended RaBitQ codes (Gao et al., SIGMOD 2025): `B` bits per dimension (1 to 8), one sign bit
//! and `B − 1` magnitude bits, for a second, more exact estimate.
//!
//! The residual `r = o' − c'` is normalised, `aᵢ = |rᵢ| / ‖r‖`, and each magnitude is quantized
//! with one per-vector scale `t`: `kᵢ = min(⌊t · aᵢ⌋, 2ᴮ⁻¹ − 1)`. The code stands for
//! `xᵢ = sign(rᵢ) · (kᵢ + ½)`: the 2ᴮ levels `±½, ±3/2, …, ±(2ᴮ⁻¹ − ½)`. The scale `t` maximises
//! the cosine between `x` and `|r|` (the quantity the estimator's error shrinks with): a 64-point
//! grid over `t · max aᵢ ∈ [0.1 L', L']` (`L' = 2ᴮ⁻¹ + 11`) finds the best region, and an exact
//! sweep over every point where some `kᵢ` steps, within two grid steps either side, finds the
//! best `t` in it. `B = 1` gives the 1-bit code.
//!
//! Stored is `uᵢ = xᵢ + (2ᴮ − 1)/2 ∈ [0, 2ᴮ − 1]` (sign bit on top: `uᵢ = 2ᴮ⁻¹ + kᵢ` for
//! `rᵢ > 0`, `2ᴮ⁻¹ − 1 − kᵢ` otherwise), so `⟨x, q'⟩ = ⟨u, q'⟩ − (2ᴮ − 1)/2 · Σ q'`. The estimator,
//! factors and bound are those of the 1-bit code (`binary.rs`) with this `x`.
//!
//! **Layout.** `u` is split into parts of width 8, 4, 2 or 1 bits, lowest bits first
//! ([`parts`]: 7 = 4 + 2 + 1, 6 = 4 + 2, 5 = 4 + 1, 3 = 2 + 1), each part a packed array of
//! `D · w / 8` bytes (value `i` at bit `w · i` of the part, least significant bit first). A row is
//! the parts in order, then `add`, `rescale`, `error` as little-endian `f32`: `D · B / 8 + 12`
//! bytes. The kernel (`ex_dot`) computes `Σ q'ᵢ · partᵢ` for one width in `f32`; the estimate
//! adds the parts with their powers of two.

use super::binary::{factors_of, Factors};
use super::Space;

/// The parts of a `bits`-bit code as `(width, shift)`, lowest bits first.
///
/// # Panics
/// When `bits` is not 1 to 8.
pub(crate) fn parts(bits: u32) -> &'static [(u32, u32)] {
    match bits {
        1 => &[(1, 0)],
        2 => &[(2, 0)],
        3 => &[(2, 0), (1, 2)],
        4 => &[(4, 0)],
        5 => &[(4, 0), (1, 4)],
        6 => &[(4, 0), (2, 4)],
        7 => &[(4, 0), (2, 4), (1, 6)],
        8 => &[(8, 0)],
        _ => panic!("extended codes have 1 to 8 bits, not {bits}"),
    }
}

/// Code bytes (without factors) of a `bits`-bit code of a `padded`-dimensional vector.
pub(crate) fn code_bytes(padded: usize, bits: u32) -> usize {
    padded * bits as usize / 8
}

/// Bytes of an extended row: code parts, then factors.
pub(crate) fn row_bytes(padded: usize, bits: u32) -> usize {
    code_bytes(padded, bits) + Factors::BYTES
}

/// The best scale `t` for the magnitudes `a` with `levels = 2ᴮ⁻¹ − 1`: returned strictly inside
/// the interval where the chosen `k`s hold, so `⌊t · aᵢ⌋` is robust to rounding.
fn best_scale(a: &[f64], levels: u32) -> f64 {
    let max_a = a.iter().copied().fold(0.0, f64::max);
    if max_a == 0.0 || levels == 0 {
        return 1.0;
    }
    let cap = f64::from(levels);
    let cosine = |t: f64| {
        let (mut num, mut den) = (0.0, 0.0);
        for &v in a {
            let k = (t * v).floor().min(cap) + 0.5;
            num += k * v;
            den += k * k;
        }
        num / den.sqrt()
    };
    const GRID: usize = 64;
    let (s_lo, s_hi) = (0.1 * (cap + 12.0), cap + 12.0);
    let step = (s_hi - s_lo) / (GRID - 1) as f64;
    let mut best_s = s_lo;
    let mut best = f64::NEG_INFINITY;
    for g in 0..GRID {
        let s = s_lo + step * g as f64;
        let c = cosine(s / max_a);
        if c > best {
            best = c;
            best_s = s;
        }
    }
    // Exact sweep over the bracket around the best grid point.
    let (t0, t1) = (
        (best_s - 2.0 * step).max(0.0) / max_a,
        (best_s + 2.0 * step) / max_a,
    );
    let mut k: Vec<f64> = a.iter().map(|&v| (t0 * v).floor().min(cap)).collect();
    let (mut num, mut den) = (0.0, 0.0);
    let mut events: Vec<(f64, usize)> = Vec::new();
    for (i, &v) in a.iter().enumerate() {
        num += (k[i] + 0.5) * v;
        den += (k[i] + 0.5) * (k[i] + 0.5);
        if v > 0.0 {
            let mut next = k[i] + 1.0;
            while next <= cap && next / v <= t1 {
                events.push((next / v, i));
                next += 1.0;
            }
        }
    }
    events.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut best_c = num / den.sqrt();
    let mut best_range = (t0, events.first().map_or(t1, |e| e.0));
    for (n, &(t, i)) in events.iter().enumerate() {
        num += a[i];
        den += 2.0 * (k[i] + 1.0);
        k[i] += 1.0;
        let c = num / den.sqrt();
        if c > best_c {
            best_c = c;
            best_range = (t, events.get(n + 1).map_or(t1, |e| e.0));
        }
    }
    if best_range.1 > best_range.0 {
        0.5 * (best_range.0 + best_range.1)
    } else {
        // Two steps at the same t: take it, nudged up past the rounding of t · aᵢ.
        best_range.0 * (1.0 + 1e-12)
    }
}

/// Codes `data_rot` against `centroid_rot` with `bits` bits per dimension: writes
/// `code_bytes(padded, bits)` bytes into `code` and returns the factors.
///
/// # Panics
/// When `bits` is not 1 to 8 or the lengths disagree.
pub(crate) fn encode(
    space: Space,
    bits: u32,
    data_rot: &[f32],
    centroid_rot: &[f32],
    code: &mut [u8],
) -> Factors {
    let d = data_rot.len();
    assert!((1..=8).contains(&bits), "extended codes have 1 to 8 bits");
    assert_eq!(centroid_rot.len(), d, "extended::encode: centroid length");
    assert_eq!(
        code.len(),
        code_bytes(d, bits),
        "extended::encode: code length"
    );
    let residual: Vec<f64> = data_rot
        .iter()
        .zip(centroid_rot)
        .map(|(&o, &c)| f64::from(o) - f64::from(c))
        .collect();
    let norm = residual.iter().map(|r| r * r).sum::<f64>().sqrt();
    let levels = (1u32 << (bits - 1)) - 1;
    let a: Vec<f64> = residual
        .iter()
        .map(|r| if norm > 0.0 { r.abs() / norm } else { 0.0 })
        .collect();
    let t = best_scale(&a, levels);
    let half = 1u32 << (bits - 1);
    let u: Vec<u8> = (0..d)
        .map(|i| {
            let k = ((t * a[i]).floor() as u32).min(levels);
            (if residual[i] > 0.0 {
                half + k
            } else {
                half - 1 - k
            }) as u8
        })
        .collect();
    code.fill(0);
    let mut at = 0;
    for &(w, shift) in parts(bits) {
        let len = d * w as usize / 8;
        let part = &mut code[at..at + len];
        let mask = 0xFFu8 >> (8 - w);
        for (i, &v) in u.iter().enumerate() {
            let bit = i * w as usize;
            part[bit / 8] |= ((v >> shift) & mask) << (bit % 8);
        }
        at += len;
    }
    let centre = f64::from((1u32 << bits) - 1) / 2.0;
    factors_of(space, data_rot, centroid_rot, |i| f64::from(u[i]) - centre)
}

/// Codes `data_rot` into an extended row (`row_bytes(padded, bits)` bytes).
///
/// # Panics
/// As [`encode`], and when `row` has the wrong length.
pub(crate) fn encode_row(
    space: Space,
    bits: u32,
    data_rot: &[f32],
    centroid_rot: &[f32],
    row: &mut [u8],
) {
    let d = data_rot.len();
    assert_eq!(
        row.len(),
        row_bytes(d, bits),
        "extended::encode_row: row length"
    );
    let (code, rest) = row.split_at_mut(code_bytes(d, bits));
    encode(space, bits, data_rot, centroid_rot, code).write(rest);
}

/// The value `uᵢ` of dimension `i` of a `bits`-bit code (for tests and `verify`).
pub(crate) fn code_value(code: &[u8], padded: usize, bits: u32, i: usize) -> u32 {
    let mut at = 0;
    let mut u = 0;
    for &(w, shift) in parts(bits) {
        let bit = i * w as usize;
        let v = (code[at + bit / 8] >> (bit % 8)) & (0xFFu8 >> (8 - w));
        u |= u32::from(v) << shift;
        at += padded * w as usize / 8;
    }
    u
}

/// The scalar twin of the extended-code kernel: `Σ q[i] · vᵢ` for the `width`-bit values `vᵢ`
/// packed in `packed`, over `n = min(q.len(), 8 · packed.len() / width)` rounded down to a
/// multiple of 64.
pub(crate) fn ex_dot_scalar(q: &[f32], packed: &[u8], width: u32) -> f32 {
    let n = q.len().min(8 * packed.len() / width as usize) & !63;
    let w = width as usize;
    let mask = 0xFFu8 >> (8 - width);
    let mut acc = [0f32; 16];
    for (i, &qi) in q[..n].iter().enumerate() {
        let bit = i * w;
        let v = (packed[bit / 8] >> (bit % 8)) & mask;
        acc[i % 16] += qi * f32::from(v);
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::super::{binary, kernels};
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn gaussianish(rng: &mut Xoshiro256PlusPlus, d: usize) -> Vec<f32> {
        (0..d)
            .map(|_| (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum())
            .collect()
    }

    #[test]
    fn one_bit_extended_code_is_the_binary_code() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let d = 192;
        let o = gaussianish(&mut rng, d);
        let c = gaussianish(&mut rng, d);
        for space in [Space::L2, Space::InnerProduct] {
            let mut a = vec![0u8; d / 8];
            let mut b = vec![0u8; d / 8];
            let fa = binary::encode(space, &o, &c, &mut a);
            let fb = encode(space, 1, &o, &c, &mut b);
            assert_eq!(a, b);
            assert_eq!(fa, fb);
        }
    }

    #[test]
    fn codes_follow_signs_and_the_cosine_grows_with_bits() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        let d = 256;
        let o = gaussianish(&mut rng, d);
        let c = vec![0f32; d];
        let mut last = 0.0;
        for bits in 1..=8 {
            let mut code = vec![0u8; code_bytes(d, bits)];
            encode(Space::L2, bits, &o, &c, &mut code);
            let centre = f64::from((1u32 << bits) - 1) / 2.0;
            let x: Vec<f64> = (0..d)
                .map(|i| f64::from(code_value(&code, d, bits, i)) - centre)
                .collect();
            for i in 0..d {
                assert_eq!(x[i] > 0.0, o[i] > 0.0, "bits {bits} dim {i}");
                assert!(code_value(&code, d, bits, i) < 1 << bits);
            }
            let xo: f64 = x.iter().zip(&o).map(|(a, &b)| a * f64::from(b)).sum();
            let xx: f64 = x.iter().map(|a| a * a).sum();
            let oo: f64 = o.iter().map(|&b| f64::from(b) * f64::from(b)).sum();
            let cos = xo / (xx * oo).sqrt();
            assert!(cos > last, "bits {bits}: cosine {cos} after {last}");
            last = cos;
        }
        // Eight bits leave almost no angle (the paper's 1 − cos ~ 4⁻ᴮ behaviour).
        assert!(last > 0.9999, "cosine at 8 bits {last}");
    }

    #[test]
    fn best_scale_beats_every_grid_point() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let d = 128;
        let a: Vec<f64> = {
            let v = gaussianish(&mut rng, d);
            let n = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            v.iter().map(|x| f64::from(x.abs()) / n).collect()
        };
        for levels in [1u32, 3, 7, 127] {
            let cos = |t: f64| {
                let (mut num, mut den) = (0.0, 0.0);
                for &v in &a {
                    let k = (t * v).floor().min(f64::from(levels)) + 0.5;
                    num += k * v;
                    den += k * k;
                }
                num / den.sqrt()
            };
            let t = best_scale(&a, levels);
            let max_a = a.iter().copied().fold(0.0, f64::max);
            let brute = (1..4000)
                .map(|s| cos(s as f64 * (f64::from(levels) + 12.0) / 4000.0 / max_a))
                .fold(0.0, f64::max);
            // Within 1 % of the remaining angle (1 − cos) of a 4000-point scan.
            assert!(
                cos(t) >= brute - 0.01 * (1.0 - brute),
                "levels {levels}: {} < {brute}",
                cos(t)
            );
        }
    }

    #[test]
    fn ex_kernels_match_the_scalar_twin() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        for n64 in 1..=20 {
            let n = 64 * n64;
            let q: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            for width in [1u32, 2, 4, 8] {
                let packed: Vec<u8> = (0..n * width as usize / 8).map(|_| rng.random()).collect();
                let exact: f64 = (0..n)
                    .map(|i| {
                        let bit = i * width as usize;
                        let v = (packed[bit / 8] >> (bit % 8)) & (0xFFu8 >> (8 - width));
                        f64::from(q[i]) * f64::from(v)
                    })
                    .sum();
                let scale: f64 = q.iter().map(|&x| f64::from(x.abs())).sum::<f64>()
                    * f64::from((1u32 << width) - 1);
                let tol = 1e-5 * scale + 1e-6;
                let s = ex_dot_scalar(&q, &packed, width);
                assert!(
                    (f64::from(s) - exact).abs() <= tol,
                    "scalar n {n} w {width}"
                );
                for k in kernels::supported() {
                    let v = (k.ex_dot)(&q, &packed, width);
                    assert!(
                        (f64::from(v) - exact).abs() <= tol,
                        "{} n {n} w {width}: {v} vs {exact}",
                        k.name
                    );
                }
                // Short inputs are cut to whole 64-value steps.
                let want = ex_dot_scalar(&q[..n - 64], &packed, width);
                for k in kernels::supported() {
                    let short = (k.ex_dot)(&q[..n - 1], &packed, width);
                    assert!((f64::from(short - want)).abs() <= tol, "{} short", k.name);
                }
            }
        }
    }
}
