//! The kernels against their scalar twins: every dimension 1–130 and large ones, exact integer
//! sums, element order, unaligned and mismatched slices, the `i8` query layout.

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
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni")
        {
            assert_eq!(names[0], "avx512+vnni", "{names:?}");
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

// -----------------------------------------------------------------------------------------
// Integer path
// -----------------------------------------------------------------------------------------

use super::scalar::u4_weight_index;

/// A query with random weights over the whole `-127..=127` range in the `bits` layout, and
/// non-zero padding: the kernels must never use a weight past `len`.
fn random_query(rng: &mut Xoshiro256PlusPlus, n: usize, bits: u32) -> QueryI8 {
    let mut q = quantize_query(&vec![0.0; n], bits);
    for x in q.weights.iter_mut() {
        *x = rng.random_range(-127i8..=127);
    }
    q.scale = 1.0;
    q
}

/// The weight of element `i` of `q` in the `bits` layout.
fn weight(q: &QueryI8, bits: u32, i: usize) -> i32 {
    let k = if bits == 8 { i } else { u4_weight_index(i) };
    i32::from(q.weights[k])
}

/// `Σ wq[i] · c[i]` in `i64` over the common length, straight from the layout definition.
fn naive(q: &QueryI8, bits: u32, codes: &[u8]) -> i64 {
    (0..q.len.min(codes.len()))
        .map(|i| i64::from(weight(q, bits, i)) * i64::from(codes[i]))
        .sum()
}

/// Checks every kernel set's integer kernels against `scalar` (and `scalar` against `naive`),
/// exactly, on `codes` (one per byte; `u4` too when all are `0..=15`).
fn check_i8(q8: &QueryI8, q4: &QueryI8, codes: &[u8], what: &str) {
    let n = codes.len();
    let want = scalar::dot_i8_u8(q8, codes);
    assert_eq!(
        i64::from(want),
        naive(q8, 8, codes),
        "scalar dot_i8_u8, {what}, n={n}"
    );
    let u4 = codes.iter().all(|&c| c <= 15);
    let p = if u4 { packed(codes) } else { Vec::new() };
    let want4 = scalar::dot_i8_u4(q4, &p);
    if u4 {
        assert_eq!(
            i64::from(want4),
            naive(q4, 4, codes),
            "scalar dot_i8_u4, {what}, n={n}"
        );
    }
    for k in supported() {
        let got = (k.dot_i8_u8)(q8, codes);
        assert_eq!(got, want, "{} dot_i8_u8, {what}, n={n}", k.name);
        if u4 {
            let got = (k.dot_i8_u4)(q4, &p);
            assert_eq!(got, want4, "{} dot_i8_u4, {what}, n={n}", k.name);
        }
    }
}

#[test]
fn quantize_query_lays_out_weights_for_each_kernel() {
    for n in (0..=130).chain(LARGE_DIMS) {
        // `w[i] = i mod 255 - 127` quantizes to itself (max |w| = 127, scale 1) when n > 254;
        // below, check through the scale.
        let w: Vec<f32> = (0..n).map(|i| (i % 255) as f32 - 127.0).collect();
        let q8 = quantize_query(&w, 8);
        let q4 = quantize_query(&w, 4);
        assert_eq!((q8.len, q4.len), (n, n));
        assert_eq!(q8.weights.len(), n.next_multiple_of(64), "n={n}");
        assert_eq!(q4.weights.len(), n.next_multiple_of(128), "n={n}");
        assert_eq!(q8.scale, q4.scale);
        for (i, &x) in w.iter().enumerate() {
            let (a, b) = (q8.weights[i], q4.weights[u4_weight_index(i)]);
            assert_eq!(a, b, "n={n}, i={i}");
            let back = q8.scale * f32::from(a);
            assert!((back - x).abs() <= q8.scale / 2.0, "n={n}, i={i}");
        }
        assert!(q8.weights[n..].iter().all(|&x| x == 0), "u8 padding, n={n}");
        let mut used = vec![false; q4.weights.len()];
        for i in 0..n {
            used[u4_weight_index(i)] = true;
        }
        for (k, &x) in q4.weights.iter().enumerate() {
            assert!(used[k] || x == 0, "u4 padding at {k}, n={n}");
        }
    }
    // The 4-bit block: low nibbles (even elements) first, then high nibbles (odd elements).
    let idx: Vec<usize> = [0, 1, 2, 3, 126, 127, 128, 129, 130]
        .map(u4_weight_index)
        .into();
    assert_eq!(idx, [0, 64, 1, 65, 63, 127, 128, 192, 129]);
}

#[test]
fn quantize_query_scale_and_rounding() {
    let q = quantize_query(&[0.5, -1.0, 0.25, 0.0], 8);
    assert_eq!(q.scale, 1.0 / 127.0);
    assert_eq!(&q.weights[..4], &[64, -127, 32, 0]); // 63.5 rounds away from zero
    for bits in [8, 4] {
        for w in [vec![], vec![0.0; 70], vec![-0.0; 3]] {
            let q = quantize_query(&w, bits);
            assert_eq!(q.scale, 0.0);
            assert!(q.weights.iter().all(|&x| x == 0));
            for k in supported() {
                let got = if bits == 8 {
                    (k.dot_i8_u8)(&q, &[255; 70])
                } else {
                    (k.dot_i8_u4)(&q, &[0xFF; 35])
                };
                assert_eq!(got, 0, "{}", k.name);
            }
        }
    }
}

#[test]
#[should_panic(expected = "bits must be 8 or 4")]
fn quantize_query_rejects_other_widths() {
    quantize_query(&[1.0], 2);
}

#[test]
#[should_panic(expected = "do not cover")]
fn int_kernels_reject_a_query_of_the_wrong_layout() {
    // 129 weights for 8 bits are padded to 192, short of the 256 the 4-bit layout needs.
    let q = quantize_query(&[1.0; 129], 8);
    (active().dot_i8_u4)(&q, &[0x11; 65]);
}

#[test]
fn every_int_kernel_matches_scalar_exactly() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x1_8B17);
    for n in all_dims() {
        let q8 = random_query(&mut rng, n, 8);
        let q4 = random_query(&mut rng, n, 4);
        check_i8(&q8, &q4, &random_codes(&mut rng, n, 255), "u8 random");
        check_i8(&q8, &q4, &random_codes(&mut rng, n, 15), "u4 random");
        check_i8(&q8, &q4, &vec![255; n], "all 255");
        check_i8(&q8, &q4, &vec![15; n], "all 15");
        // Extreme weights: every product at its largest magnitude.
        let mut qmax = q8.clone();
        qmax.weights.iter_mut().for_each(|x| *x = -127);
        let mut qmax4 = q4.clone();
        qmax4.weights.iter_mut().for_each(|x| *x = 127);
        check_i8(&qmax, &qmax4, &vec![15; n], "max weights");
        check_i8(&qmax, &qmax4, &vec![255; n], "max weights, u8");
        // Position-tagged codes: a nibble or block order mix-up changes the sum.
        let tagged: Vec<u8> = (0..n).map(|i| (i % 16) as u8).collect();
        check_i8(&q8, &q4, &tagged, "order");
    }
}

#[test]
fn every_int_kernel_matches_scalar_on_unaligned_and_mismatched_slices() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xA116);
    for n in all_dims() {
        let q8 = random_query(&mut rng, n, 8);
        let q4 = random_query(&mut rng, n, 4);
        let c8 = random_codes(&mut rng, n + 3, 255);
        let c4 = random_codes(&mut rng, n + 3, 15);
        for off in 1..=3 {
            check_i8(&q8, &q4, &c8[off..off + n], "u8 offset");
            check_i8(&q8, &q4, &c4[off..off + n], "u4 offset");
        }
        // Codes longer than the query, and shorter.
        check_i8(&q8, &q4, &c4, "codes longer");
        check_i8(&q8, &q4, &c4[..n / 2], "codes shorter");
        // The packed row itself one byte off alignment.
        let p = packed(&c4[..n]);
        let mut buf = vec![0xFFu8; p.len() + 1];
        buf[1..].copy_from_slice(&p);
        let want = scalar::dot_i8_u4(&q4, &p);
        for k in supported() {
            assert_eq!((k.dot_i8_u4)(&q4, &buf[1..]), want, "{} n={n}", k.name);
        }
    }
}

/// `scale · dot_i8` approximates the `f32` dot within 2% of `Σ |w · c|` on random data.
#[test]
fn quantized_query_approximates_the_f32_dot() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xACC);
    let mut worst = 0.0f64;
    for n in all_dims() {
        for _ in 0..4 {
            let w = random_w(&mut rng, n);
            let q8 = quantize_query(&w, 8);
            let q4 = quantize_query(&w, 4);
            for (max, q, bits) in [(255, &q8, 8), (15, &q4, 4)] {
                let codes = random_codes(&mut rng, n, max);
                let exact: f64 = w
                    .iter()
                    .zip(&codes)
                    .map(|(&x, &c)| x as f64 * c as f64)
                    .sum();
                let mag: f64 = w
                    .iter()
                    .zip(&codes)
                    .map(|(&x, &c)| (x as f64 * c as f64).abs())
                    .sum();
                let p = if bits == 4 {
                    packed(&codes)
                } else {
                    Vec::new()
                };
                for k in supported() {
                    let d = if bits == 8 {
                        (k.dot_i8_u8)(q, &codes)
                    } else {
                        (k.dot_i8_u4)(q, &p)
                    };
                    let approx = q.scale as f64 * d as f64;
                    let err = (approx - exact).abs() / mag.max(f64::MIN_POSITIVE);
                    worst = worst.max(err);
                    assert!(
                        err < 0.02,
                        "{} bits={bits}, n={n}: {approx} vs {exact}",
                        k.name
                    );
                }
            }
        }
    }
    assert!(
        worst > 0.0,
        "the quantization should not be lossless on random data"
    );
}

#[test]
fn bench_api_int_kernels_use_the_active_set() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let w = random_w(&mut rng, 300);
    let c8 = random_codes(&mut rng, 300, 255);
    let p4 = packed(&random_codes(&mut rng, 300, 15));
    let (b8, b4) = (
        bench_api::quantize_query(&w, 8),
        bench_api::quantize_query(&w, 4),
    );
    let (q8, q4) = (quantize_query(&w, 8), quantize_query(&w, 4));
    assert_eq!(b8.scale(), q8.scale);
    assert_eq!(
        bench_api::dot_i8_u8(&b8, &c8),
        (active().dot_i8_u8)(&q8, &c8)
    );
    assert_eq!(
        bench_api::dot_i8_u4(&b4, &p4),
        (active().dot_i8_u4)(&q4, &p4)
    );
    let sets = bench_api::int_kernel_sets();
    assert_eq!(sets.len(), supported().len());
    for (name, k) in sets {
        assert_eq!(k.dot_i8_u8(&b8, &c8), scalar::dot_i8_u8(&q8, &c8), "{name}");
        assert_eq!(k.dot_i8_u4(&b4, &p4), scalar::dot_i8_u4(&q4, &p4), "{name}");
    }
}
