//! The estimator and its bound on real vectors: wordllama-sent-256-ip (inner product) and
//! mnist-784-l2 (L2), from `STRATAVEC_DATASETS` (default `../shared/datasets`). A missing dataset
//! skips with a message, unless `STRATAVEC_REQUIRE_DATASETS` is set (then it fails).
//!
//! Two settings, both with the first 3 000 base vectors and the first 200 queries:
//!
//! - **graph**: 30 base vectors act as nodes; each node's 64 nearest base vectors are coded
//!   against the node as centroid and packed into two fast-scan batches, as in a one-visit
//!   block; every query is estimated against every node's block (384 000 estimates);
//! - **flat**: 1 000 base vectors coded against the mean of the 3 000 (200 000 estimates).
//!
//! What is asserted, per setting and dataset:
//!
//! - the bound: the share of true distances outside `estimate ± ε₀ · error · g_error` is at most
//!   the nominal [`failure_probability`]`(ε₀, D)` (and outside the lower bound alone, at most half
//!   of it) — and the same check **fails** when the factors are broken (the error factor halved;
//!   the estimator without its `1/⟨x̄, ō⟩` correction);
//! - unbiasedness: the mean normalised error `z = (estimate − truth) / (error · g_error)` is
//!   within 4 standard errors of 0, overall and among pairs whose residuals point the same way
//!   (`cos(r, y) > 0.3`, where a biased estimator shows) — the standard error taken over codes
//!   (the estimates of one code share its quantization, so they are not independent) — and the
//!   uncorrected estimator fails it;
//! - extended codes: the error shrinks with every added bit, 8 bits at most 5 % of the 1-bit
//!   error, and each extended bound holds as the 1-bit one does.

use super::*;
use crate::data::{datasets_dir, read_fvecs_limit};

const BASE: usize = 3000;
const QUERIES: usize = 200;
const NODES: usize = 30;
const NEIGHBOURS: usize = 64;
const EPS: f32 = DEFAULT_EPSILON;

struct Data {
    name: &'static str,
    metric: Metric,
    base: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
}

fn load(name: &'static str) -> Option<Data> {
    let dir = datasets_dir().join(name);
    if !dir.join("base.fvecs").exists() {
        let required = std::env::var("STRATAVEC_REQUIRE_DATASETS").is_ok_and(|v| v != "0");
        assert!(
            !required,
            "dataset {} not found and STRATAVEC_REQUIRE_DATASETS is set",
            dir.display()
        );
        println!(
            "skipping: dataset {} not found (set STRATAVEC_DATASETS)",
            dir.display()
        );
        return None;
    }
    let metric: Metric = std::fs::read_to_string(dir.join("METRIC"))
        .unwrap()
        .parse()
        .unwrap();
    let rows = |file: &str, n: usize| -> Vec<Vec<f32>> {
        let m = read_fvecs_limit(dir.join(file), n).unwrap();
        m.rows().map(|r| r.to_vec()).collect()
    };
    Some(Data {
        name,
        metric,
        base: rows("base.fvecs", BASE),
        queries: rows("query.fvecs", QUERIES),
    })
}

/// One estimate with what the checks need.
struct Pair {
    /// The code's index (estimates of one code are correlated).
    code: usize,
    truth: f64,
    est: f64,
    /// `error · g_error` (one standard-deviation unit).
    unit: f64,
    /// `cos(r, y)`.
    cos: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    Correct,
    /// The error factor halved.
    HalfError,
    /// `⟨r, y⟩` estimated without the `1/⟨x̄, ō⟩` correction (scaled by the code's `α`).
    Uncorrected,
    /// The same codes and factors scored with the exact `f32` query (the 1-bit extended row):
    /// the estimator without the fast-scan table's quantization.
    ExactQuery,
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// `α = ⟨x, r⟩ / (‖x‖ ‖r‖)` of the 1-bit code of `r`.
fn alpha(r: &[f64]) -> f64 {
    let l1: f64 = r.iter().map(|v| v.abs()).sum();
    let l2 = r.iter().map(|v| v * v).sum::<f64>().sqrt();
    if l2 == 0.0 {
        1.0
    } else {
        l1 / ((r.len() as f64).sqrt() * l2)
    }
}

/// A code group: a centroid and the vectors coded against it.
struct Group {
    centroid: Vec<f32>,
    members: Vec<usize>,
}

fn graph_groups(data: &Data) -> Vec<Group> {
    (0..NODES)
        .map(|k| {
            let node = k * (BASE / NODES);
            let c = &data.base[node];
            let mut by: Vec<(f32, usize)> = data
                .base
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != node)
                .map(|(i, v)| (data.metric.distance(c, v), i))
                .collect();
            by.sort_by(|a, b| a.0.total_cmp(&b.0));
            Group {
                centroid: c.clone(),
                members: by[..NEIGHBOURS].iter().map(|&(_, i)| i).collect(),
            }
        })
        .collect()
}

fn flat_group(data: &Data) -> Vec<Group> {
    let d = data.base[0].len();
    let mut mean = vec![0f64; d];
    for v in &data.base {
        for (m, &x) in mean.iter_mut().zip(v) {
            *m += f64::from(x);
        }
    }
    let mean: Vec<f32> = mean
        .iter()
        .map(|m| (m / data.base.len() as f64) as f32)
        .collect();
    vec![Group {
        centroid: mean,
        members: (0..1000).collect(),
    }]
}

/// Every (query, group member) estimate from the fast-scan blocks, with the variant's factors.
fn block_pairs(data: &Data, codec: &RabitqCodec, groups: &[Group], variant: Variant) -> Vec<Pair> {
    let space = codec.space();
    let queries: Vec<PreparedQuery> = data
        .queries
        .iter()
        .map(|q| codec.prepare_query(q).unwrap())
        .collect();
    let mut pairs = Vec::new();
    let mut code_id = 0;
    for g in groups {
        let c_rot = codec.rotate(&g.centroid).unwrap();
        let rot: Vec<Vec<f32>> = g
            .members
            .iter()
            .map(|&i| codec.rotate(&data.base[i]).unwrap())
            .collect();
        let batches = g.members.len().div_ceil(BATCH);
        let bb = codec.batch_bytes();
        let mut block = vec![0u8; batches * bb];
        for (b, chunk) in rot.chunks(BATCH).enumerate() {
            let refs: Vec<&[f32]> = chunk.iter().map(|v| v.as_slice()).collect();
            codec
                .pack_batch(&refs, &c_rot, &mut block[b * bb..(b + 1) * bb])
                .unwrap();
        }
        // Per member: its residual's α and the exact parts that do not involve the query.
        let info: Vec<(f64, Vec<f64>, f64)> = g
            .members
            .iter()
            .map(|&i| {
                let o = &data.base[i];
                let r: Vec<f64> = o
                    .iter()
                    .zip(&g.centroid)
                    .map(|(&a, &b)| f64::from(a) - f64::from(b))
                    .collect();
                let r_sq = r.iter().map(|v| v * v).sum::<f64>();
                let c_r: f64 = g
                    .centroid
                    .iter()
                    .zip(&r)
                    .map(|(&c, &v)| f64::from(c) * v)
                    .sum();
                let rr: Vec<f64> = rot_residual(codec, o, &g.centroid);
                (alpha(&rr), r, if space == Space::L2 { r_sq } else { -c_r })
            })
            .collect();
        let ex_rows: Vec<Vec<u8>> = rot
            .iter()
            .map(|v| {
                let mut row = vec![0u8; codec.ex_row_bytes(1)];
                codec.encode_ex_row(1, v, &c_rot, &mut row).unwrap();
                row
            })
            .collect();
        let mut est = vec![0f32; batches * BATCH];
        let mut low = vec![0f32; batches * BATCH];
        let k = kernels::active();
        for (qi, q) in data.queries.iter().enumerate() {
            let terms = CentroidTerms::exact(space, q, &g.centroid);
            codec.estimate_block(
                k,
                &block,
                batches,
                &queries[qi],
                terms,
                EPS,
                &mut est,
                &mut low,
            );
            let y: Vec<f64> = q
                .iter()
                .zip(&g.centroid)
                .map(|(&a, &b)| f64::from(a) - f64::from(b))
                .collect();
            let y_sq: f64 = y.iter().map(|v| v * v).sum();
            let q_c = dot64(q, &g.centroid);
            for (m, &i) in g.members.iter().enumerate() {
                let (a, r, part) = &info[m];
                let truth = f64::from(data.metric.distance(q, &data.base[i]));
                // The exactly known part of the distance (`‖r‖² + ‖y‖²`, `1 − ⟨q,c⟩ − ⟨c,r⟩`):
                // the estimate minus it is the estimated `−mul · ⟨r, y⟩`.
                let known = if space == Space::L2 {
                    part + y_sq
                } else {
                    1.0 - q_c + part
                };
                let e = f64::from(est[m]);
                let unit = f64::from((est[m] - low[m]) / EPS);
                let ry: f64 = r.iter().zip(&y).map(|(a, b)| a * b).sum();
                let rn = r.iter().map(|v| v * v).sum::<f64>().sqrt();
                let cos = if rn > 0.0 && y_sq > 0.0 {
                    ry / (rn * y_sq.sqrt())
                } else {
                    0.0
                };
                let (est, unit) = match variant {
                    Variant::Correct => (e, unit),
                    Variant::HalfError => (e, 0.5 * unit),
                    Variant::Uncorrected => (known + a * (e - known), unit),
                    Variant::ExactQuery => {
                        let x = codec.estimate_ex_row(k, 1, &ex_rows[m], &queries[qi], terms, EPS);
                        (f64::from(x.distance), f64::from(x.bound / EPS))
                    }
                };
                pairs.push(Pair {
                    code: code_id + m,
                    truth,
                    est,
                    unit,
                    cos,
                });
            }
        }
        code_id += g.members.len();
    }
    pairs
}

/// `P(o − c)` in `f64`.
fn rot_residual(codec: &RabitqCodec, o: &[f32], c: &[f32]) -> Vec<f64> {
    let a = codec.rotate(o).unwrap();
    let b = codec.rotate(c).unwrap();
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| f64::from(x) - f64::from(y))
        .collect()
}

/// Shares of pairs outside `est ± ε₀·unit` (two-sided) and below `est − ε₀·unit` (truth under the
/// lower bound).
fn outside(pairs: &[Pair]) -> (f64, f64) {
    let eps = f64::from(EPS);
    let n = pairs.len() as f64;
    let slack = |p: &Pair| 1e-5 * (1.0 + p.truth.abs());
    let two = pairs
        .iter()
        .filter(|p| (p.est - p.truth).abs() > eps * p.unit + slack(p))
        .count();
    let low = pairs
        .iter()
        .filter(|p| p.truth < p.est - eps * p.unit - slack(p))
        .count();
    (two as f64 / n, low as f64 / n)
}

/// The mean normalised error and its standard error over codes, among the pairs `keep` selects.
fn mean_z(pairs: &[Pair], keep: impl Fn(&Pair) -> bool) -> (f64, f64, usize) {
    let codes = pairs.iter().map(|p| p.code).max().unwrap() + 1;
    let mut sum = vec![0f64; codes];
    let mut cnt = vec![0usize; codes];
    let mut n = 0;
    for p in pairs.iter().filter(|p| keep(p) && p.unit > 0.0) {
        sum[p.code] += (p.est - p.truth) / p.unit;
        cnt[p.code] += 1;
        n += 1;
    }
    // Cluster-robust: the mean over all pairs, with its variance from per-code totals.
    let total: f64 = sum.iter().sum();
    let mean = total / n as f64;
    let var: f64 = sum
        .iter()
        .zip(&cnt)
        .map(|(&s, &c)| (s - mean * c as f64).powi(2))
        .sum::<f64>()
        / (n as f64).powi(2);
    (mean, var.sqrt(), n)
}

fn check_bound_and_bias(data: &Data, setting: &str, groups: &[Group]) {
    let codec = RabitqCodec::new(data.base[0].len(), data.metric, 0x5EED).unwrap();
    let nominal = failure_probability(f64::from(EPS), codec.padded_dim());
    let good = block_pairs(data, &codec, groups, Variant::Correct);
    let (two, low) = outside(&good);
    println!(
        "{} {setting}: {} estimates, outside the bound {:.4} (nominal {:.4}), under the lower bound {:.4} (nominal {:.4})",
        data.name,
        good.len(),
        two,
        nominal,
        low,
        nominal / 2.0
    );
    assert!(
        two <= nominal,
        "{} {setting}: {two} outside the bound, nominal {nominal}",
        data.name
    );
    assert!(
        low <= nominal / 2.0,
        "{} {setting}: {low} under the lower bound",
        data.name
    );
    let same_way = |p: &Pair| p.cos > 0.3;
    for (what, keep) in [
        ("all", &(|_: &Pair| true) as &dyn Fn(&Pair) -> bool),
        ("cos > 0.3", &same_way),
    ] {
        let (m, se, n) = mean_z(&good, keep);
        println!(
            "{} {setting} {what}: mean z {m:+.4} ± {se:.4} over {n}",
            data.name
        );
        if n > 1000 {
            assert!(
                m.abs() <= 4.0 * se,
                "{} {setting} {what}: mean z {m} ± {se}",
                data.name
            );
        }
    }
    let exact = block_pairs(data, &codec, groups, Variant::ExactQuery);
    let (two_x, low_x) = outside(&exact);
    println!(
        "{} {setting}: exact f32 query: outside {two_x:.4}, under the lower bound {low_x:.4}",
        data.name
    );
    assert!(two_x <= nominal && low_x <= nominal / 2.0);
    for (what, keep) in [
        ("all", &(|_: &Pair| true) as &dyn Fn(&Pair) -> bool),
        ("cos > 0.3", &same_way),
    ] {
        let (m, se, n) = mean_z(&exact, keep);
        println!(
            "{} {setting} {what}, exact f32 query: mean z {m:+.4} ± {se:.4} over {n}",
            data.name
        );
        if n > 1000 {
            assert!(
                m.abs() <= 4.0 * se,
                "{} {setting} {what} exact query: mean z {m} ± {se}",
                data.name
            );
        }
    }
    // Broken factors must fail the same checks.
    let half = block_pairs(data, &codec, groups, Variant::HalfError);
    let (two_half, _) = outside(&half);
    println!(
        "{} {setting}: error factor halved: outside {two_half:.4}",
        data.name
    );
    assert!(
        two_half > nominal,
        "a halved error factor passed the bound check"
    );
    let unc = block_pairs(data, &codec, groups, Variant::Uncorrected);
    let (two_unc, _) = outside(&unc);
    let (m_unc, se_unc, n_unc) = mean_z(&unc, same_way);
    println!(
        "{} {setting}: uncorrected estimator: outside {two_unc:.4}, mean z (cos > 0.3) {m_unc:+.4} ± {se_unc:.4} over {n_unc}",
        data.name
    );
    assert!(
        two_unc > nominal || m_unc.abs() > 4.0 * se_unc,
        "the uncorrected estimator passed both checks"
    );
    if n_unc > 1000 {
        assert!(
            m_unc.abs() > 4.0 * se_unc,
            "the uncorrected estimator looks unbiased"
        );
    }
}

/// Error of the extended codes against bits, on the graph setting (fewer queries).
fn check_extended(data: &Data) {
    let codec = RabitqCodec::new(data.base[0].len(), data.metric, 0x5EED).unwrap();
    let space = codec.space();
    let nominal = failure_probability(f64::from(EPS), codec.padded_dim());
    let groups = graph_groups(data);
    let queries: Vec<PreparedQuery> = data.queries[..100]
        .iter()
        .map(|q| codec.prepare_query(q).unwrap())
        .collect();
    let k = kernels::active();
    let mut rms = Vec::new();
    println!(
        "{}: extended codes, 100 queries × {} codes",
        data.name,
        NODES * NEIGHBOURS
    );
    println!("| bits | bytes/vector | RMS error | RMS error / mean distance gap | mean bound | outside bound |");
    for bits in 1..=8u32 {
        let mut row = vec![0u8; codec.ex_row_bytes(bits)];
        let (mut sq, mut n, mut out, mut bound_sum, mut spread) =
            (0f64, 0usize, 0usize, 0f64, 0f64);
        for g in &groups {
            let c_rot = codec.rotate(&g.centroid).unwrap();
            let rows: Vec<Vec<u8>> = g
                .members
                .iter()
                .map(|&i| {
                    codec
                        .encode_ex_row(
                            bits,
                            &codec.rotate(&data.base[i]).unwrap(),
                            &c_rot,
                            &mut row,
                        )
                        .unwrap();
                    row.clone()
                })
                .collect();
            for (qi, q) in data.queries[..100].iter().enumerate() {
                let terms = CentroidTerms::exact(space, q, &g.centroid);
                let exact_c = f64::from(data.metric.distance(q, &g.centroid));
                for (m, &i) in g.members.iter().enumerate() {
                    let truth = f64::from(data.metric.distance(q, &data.base[i]));
                    let e = codec.estimate_ex_row(k, bits, &rows[m], &queries[qi], terms, EPS);
                    let err = f64::from(e.distance) - truth;
                    sq += err * err;
                    spread += (truth - exact_c).abs();
                    bound_sum += f64::from(e.bound);
                    if err.abs() > f64::from(e.bound) + 1e-5 * (1.0 + truth.abs()) {
                        out += 1;
                    }
                    n += 1;
                }
            }
        }
        let r = (sq / n as f64).sqrt();
        let share = out as f64 / n as f64;
        println!(
            "| {bits} | {} | {r:.4e} | {:.4} | {:.4e} | {share:.4} |",
            codec.ex_row_bytes(bits),
            r / (spread / n as f64),
            bound_sum / n as f64
        );
        assert!(
            share <= nominal,
            "{} bits {bits}: {share} outside the bound (nominal {nominal})",
            data.name
        );
        rms.push(r);
    }
    for b in 1..rms.len() {
        assert!(
            rms[b] < rms[b - 1],
            "{}: {} bits no better than {}",
            data.name,
            b + 1,
            b
        );
    }
    assert!(
        rms[7] <= 0.05 * rms[0],
        "{}: 8-bit error {} vs 1-bit {}",
        data.name,
        rms[7],
        rms[0]
    );
}

fn run(name: &'static str) {
    let Some(data) = load(name) else { return };
    check_bound_and_bias(&data, "graph", &graph_groups(&data));
    check_bound_and_bias(&data, "flat", &flat_group(&data));
    check_extended(&data);
}

#[test]
fn wordllama_bound_holds_and_estimator_is_unbiased() {
    run("wordllama-sent-256-ip");
}

#[test]
fn mnist_bound_holds_and_estimator_is_unbiased() {
    run("mnist-784-l2");
}
