//! Scoring kernels for quantized codes: the weighted dot product `Σ w[i] · code(i)` of a prepared
//! `f32` query `w` against one row of 8-bit codes (`u8`, one per byte) or 4-bit codes (`u4`, two
//! per byte, low nibble first). The caller adds the per-vector affine terms.
//!
//! | kernel set | where | lanes |
//! |---|---|---|
//! | `avx512` | x86_64 with AVX-512 F, BW, VL | 16, four accumulators, masked tail |
//! | `avx2+fma` | x86_64 with AVX2 and FMA | 8, four accumulators, tail via a zeroed stack copy |
//! | `scalar` | everywhere | [`scalar`] |
//!
//! As in `distance`, the CPU is inspected once per process ([`active`]) and a kernel is then a
//! plain function pointer. Every kernel reads `min(w.len(), codes.len())` codes (`u8`) or
//! `min(w.len(), 2 · packed.len())` codes (`u4`) and never reads out of bounds.

use std::sync::OnceLock;

pub(crate) mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

// The packers are codec plumbing rather than kernels, but live beside the layout they define.
pub(crate) use scalar::{pack_u4, packed_u4_len};

/// The quantized-code kernels of one instruction set, as plain function pointers.
#[derive(Debug)]
pub(crate) struct QuantKernels {
    /// The instruction set: `avx512`, `avx2+fma` or `scalar`.
    pub(crate) name: &'static str,
    /// `Σ w[i] · codes[i]` over `min(w.len(), codes.len())` 8-bit codes.
    pub(crate) dot_u8: fn(&[f32], &[u8]) -> f32,
    /// `Σ w[i] · code(i)` over `min(w.len(), 2 · packed.len())` packed 4-bit codes.
    pub(crate) dot_u4: fn(&[f32], &[u8]) -> f32,
}

/// The scalar reference set, available everywhere.
static SCALAR: QuantKernels = QuantKernels {
    name: "scalar",
    dot_u8: scalar::dot_u8,
    dot_u4: scalar::dot_u4,
};

/// Every kernel set this CPU can run, fastest first; the last is always `scalar`. For tests and
/// benchmarks, not hot loops.
pub(crate) fn supported() -> Vec<&'static QuantKernels> {
    let mut sets = Vec::with_capacity(3);
    #[cfg(target_arch = "x86_64")]
    {
        sets.extend(x86::avx512());
        sets.extend(x86::avx2());
    }
    sets.push(&SCALAR);
    sets
}

/// The fastest kernel set this CPU supports, chosen on the first call and cached for the life of
/// the process.
pub(crate) fn active() -> &'static QuantKernels {
    static ACTIVE: OnceLock<&'static QuantKernels> = OnceLock::new();
    ACTIVE.get_or_init(detect)
}

/// The fastest kernel set of this CPU, without allocating.
fn detect() -> &'static QuantKernels {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(k) = x86::avx512() {
            return k;
        }
        if let Some(k) = x86::avx2() {
            return k;
        }
    }
    &SCALAR
}

/// The kernels, reachable from `benches/quant.rs` (re-exported by the crate root as
/// `__quant_bench`). Not part of the public API.
#[doc(hidden)]
pub mod bench_api {
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

    /// Packs 4-bit codes two per byte, low nibble first.
    ///
    /// # Panics
    /// When `out` is shorter than `ceil(codes.len() / 2)`.
    pub fn pack_u4(codes: &[u8], out: &mut [u8]) {
        super::pack_u4(codes, out)
    }
}

#[cfg(test)]
mod tests {
    use super::scalar::unpack_u4;
    use super::*;

    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    const LARGE_DIMS: [usize; 5] = [256, 384, 768, 784, 1024];

    fn all_dims() -> impl Iterator<Item = usize> {
        (1..=130).chain(LARGE_DIMS)
    }

    fn random_w(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn small_int_w(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-8i32..8) as f32).collect()
    }

    fn random_codes(rng: &mut Xoshiro256PlusPlus, n: usize, max: u8) -> Vec<u8> {
        (0..n).map(|_| rng.random_range(0..=max)).collect()
    }

    fn packed(codes: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; packed_u4_len(codes.len())];
        pack_u4(codes, &mut out);
        out
    }

    /// `Σ |w[i] · c[i]|` in f64: bounds the rounding error of any summation order.
    fn tolerance(w: &[f32], codes: &[u8]) -> f64 {
        let mag: f64 = w
            .iter()
            .zip(codes)
            .map(|(&x, &c)| (x as f64 * c as f64).abs())
            .sum();
        2e-6 * mag.max(1.0)
    }

    /// Checks every kernel set against `scalar` on `w` and `codes` (one code per byte, `0..=15`
    /// when `u4` is also checked), within the summation-order tolerance or exactly.
    fn check(w: &[f32], codes: &[u8], check_u4: bool, exact: bool, what: &str) {
        let n = w.len();
        let tol = if exact { 0.0 } else { tolerance(w, codes) };
        let want = scalar::dot_u8(w, codes);
        let p = if check_u4 { packed(codes) } else { Vec::new() };
        let want4 = scalar::dot_u4(w, &p);
        if check_u4 {
            assert_eq!(want4, want, "scalar dot_u4 vs dot_u8, {what}, n={n}");
        }
        for k in supported() {
            let got = (k.dot_u8)(w, codes);
            assert!(
                ((got - want) as f64).abs() <= tol,
                "{} dot_u8, {what}, n={n}: {got} vs scalar {want} (tol {tol})",
                k.name
            );
            if check_u4 {
                let got = (k.dot_u4)(w, &p);
                assert!(
                    ((got - want4) as f64).abs() <= tol,
                    "{} dot_u4, {what}, n={n}: {got} vs scalar {want4} (tol {tol})",
                    k.name
                );
            }
        }
    }

    #[test]
    fn simd_paths_are_present_when_the_cpu_has_them() {
        let names: Vec<_> = supported().iter().map(|k| k.name).collect();
        assert_eq!(names.last(), Some(&"scalar"));
        assert_eq!(active().name, names[0]);
        assert_eq!(bench_api::active_name(), names[0]);
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
            {
                assert!(names.contains(&"avx512"), "{names:?}");
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                assert!(names.contains(&"avx2+fma"), "{names:?}");
            }
        }
    }

    /// Small integers sum exactly in `f32` in any order (`|Σ| < 2²⁴` here), so every kernel must
    /// agree bit for bit: a lane skipped, read twice or read past the end shows.
    #[test]
    fn every_kernel_is_exact_on_small_integer_weights() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for n in all_dims() {
            let w = small_int_w(&mut rng, n);
            check(&w, &random_codes(&mut rng, n, 255), false, true, "u8 ints");
            check(&w, &random_codes(&mut rng, n, 15), true, true, "u4 ints");
            // Constant codes catch a lane shifted onto its neighbour only through w; distinct
            // weights per position with all-max codes catch a dropped tail.
            check(&w, &vec![255; n], false, true, "u8 all 255");
            check(&w, &vec![15; n], true, true, "u4 all 15");
        }
    }

    /// Position-tagged data: `w[i] = 2^(i mod 8)`-like distinct weights and codes `i mod 16`, so
    /// a nibble-order swap (high before low) changes the exact answer.
    #[test]
    fn every_kernel_keeps_element_order() {
        for n in all_dims() {
            let w: Vec<f32> = (0..n).map(|i| (1 << (i % 8)) as f32).collect();
            let codes: Vec<u8> = (0..n).map(|i| (i % 16) as u8).collect();
            check(&w, &codes, true, true, "order");
            let rev: Vec<u8> = (0..n).map(|i| 15 - (i % 16) as u8).collect();
            check(&w, &rev, true, true, "reverse order");
        }
    }

    #[test]
    fn every_kernel_matches_scalar_on_random_data() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5EED_0C0D);
        for n in all_dims() {
            let w = random_w(&mut rng, n);
            check(
                &w,
                &random_codes(&mut rng, n, 255),
                false,
                false,
                "u8 random",
            );
            check(&w, &random_codes(&mut rng, n, 15), true, false, "u4 random");
        }
    }

    #[test]
    fn every_kernel_matches_scalar_on_unaligned_slices() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
        for n in all_dims() {
            let w = random_w(&mut rng, n + 2);
            let c8 = random_codes(&mut rng, n + 2, 255);
            check(&w[1..n + 1], &c8[1..n + 1], false, false, "u8 offset 1");
            check(&w[1..n + 1], &c8[2..n + 2], false, false, "u8 offsets 1, 2");
            // u4: the packed row itself starts one byte off alignment.
            let c4 = random_codes(&mut rng, n, 15);
            let p = packed(&c4);
            let mut buf = vec![0xFFu8; p.len() + 1];
            buf[1..].copy_from_slice(&p);
            let want = scalar::dot_u4(&w[1..n + 1], &p);
            let tol = tolerance(&w[1..n + 1], &c4);
            for k in supported() {
                let got = (k.dot_u4)(&w[1..n + 1], &buf[1..]);
                assert!(
                    ((got - want) as f64).abs() <= tol,
                    "{} dot_u4 offset 1, n={n}: {got} vs {want}",
                    k.name
                );
            }
        }
    }

    #[test]
    fn kernels_read_only_the_common_length() {
        let w: Vec<f32> = (1..=40).map(|x| x as f32).collect();
        let ones = vec![1u8; 37];
        // 37 codes of 1 packed: the last byte's high nibble is 0; poison it to check it is ignored
        // when `w` is shorter than `2 · packed.len()`.
        let mut p = packed(&ones);
        *p.last_mut().unwrap() |= 0xF0;
        let sum = |k: usize| (1..=k).sum::<usize>() as f32;
        for k in supported() {
            let name = k.name;
            assert_eq!((k.dot_u8)(&w, &ones), sum(37), "{name}");
            assert_eq!((k.dot_u8)(&w[..5], &ones), sum(5), "{name}");
            assert_eq!((k.dot_u8)(&[], &ones), 0.0, "{name}");
            assert_eq!((k.dot_u8)(&w, &[]), 0.0, "{name}");
            assert_eq!((k.dot_u4)(&w[..37], &p), sum(37), "{name}");
            assert_eq!((k.dot_u4)(&w[..3], &p), sum(3), "{name}");
            // `w` longer: 2 · 19 = 38 codes, the 38th is the poisoned nibble 15.
            assert_eq!((k.dot_u4)(&w, &p), sum(37) + 38.0 * 15.0, "{name}");
            assert_eq!((k.dot_u4)(&[], &p), 0.0, "{name}");
            assert_eq!((k.dot_u4)(&w, &[]), 0.0, "{name}");
        }
    }

    #[test]
    fn pack_and_unpack_round_trip() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for n in (0..=130).chain(LARGE_DIMS) {
            let codes = random_codes(&mut rng, n, 15);
            let p = packed(&codes);
            assert_eq!(p.len(), n.div_ceil(2));
            for (i, &c) in codes.iter().enumerate() {
                let nib = if i % 2 == 0 {
                    p[i / 2] & 0x0F
                } else {
                    p[i / 2] >> 4
                };
                assert_eq!(nib, c, "n={n}, i={i}");
            }
            if n % 2 == 1 {
                assert_eq!(p[n / 2] >> 4, 0, "odd tail's high nibble, n={n}");
            }
            let mut back = vec![0xAAu8; n];
            unpack_u4(&p, &mut back);
            assert_eq!(back, codes, "n={n}");
        }
        // Bytes past ceil(n/2) are left alone.
        let mut out = [0xEEu8; 4];
        pack_u4(&[1, 2, 3], &mut out);
        assert_eq!(out, [0x21, 0x03, 0xEE, 0xEE]);
    }

    #[test]
    #[should_panic(expected = "need 2 bytes")]
    fn pack_u4_rejects_a_short_output() {
        pack_u4(&[1, 2, 3], &mut [0u8; 1]);
    }

    #[test]
    #[should_panic(expected = "need 3 bytes")]
    fn unpack_u4_rejects_a_short_input() {
        unpack_u4(&[0u8; 2], &mut [0u8; 5]);
    }

    #[test]
    fn bench_api_uses_the_active_set() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let w = random_w(&mut rng, 100);
        let c = random_codes(&mut rng, 100, 15);
        let p = packed(&c);
        let mut p2 = vec![0u8; p.len()];
        bench_api::pack_u4(&c, &mut p2);
        assert_eq!(p, p2);
        assert_eq!(bench_api::dot_u8(&w, &c), (active().dot_u8)(&w, &c));
        assert_eq!(bench_api::dot_u4(&w, &p), (active().dot_u4)(&w, &p));
        assert_eq!(bench_api::kernel_sets().len(), supported().len());
    }
}
