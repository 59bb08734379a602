//! Exact k-nearest-neighbour ground truth by brute force.
//!
//! The search is parallel over queries (rayon) and blocked over the base: the base is walked in
//! blocks of a few MiB that stay in the shared cache while every query batch scans them, and each
//! query keeps a bounded max-heap of its best `(distance, row)` pairs. Distances are computed by a
//! register-tiled kernel (four queries against one base row, eight accumulator lanes each) written
//! in plain Rust so the compiler vectorises it on every target.
//!
//! Distances follow [`Metric`]: squared L2; `1 − a·b` for inner product; for cosine the base and
//! the queries are normalised once (copies; a zero vector stays zero, so its distance to everything
//! is 1, as in [`Metric::distance`]) and then `1 − a·b`. The order is total: `(distance, row)`,
//! so among equally distant rows the lower row index comes first.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::data::Matrix;
use crate::distance::{normalize, Metric};
use crate::error::{Error, Result};

/// Bytes of base vectors per outer block: shared by all threads, sized for the last-level cache.
const OUTER_BLOCK_BYTES: usize = 4 << 20;
/// Bytes of base vectors per inner block: scanned by one query batch, sized for the L2 cache.
const INNER_BLOCK_BYTES: usize = 128 << 10;
/// Queries per parallel task.
const QUERY_BATCH: usize = 32;
/// Queries scored together against one base row.
const TILE: usize = 4;
/// Accumulator lanes per query in the kernel.
const LANES: usize = 16;

/// The exact `k` nearest base rows of every query, nearest first.
///
/// `base` and `queries` are row-major with `dim` values per row. Row `i` of the result holds the
/// indices (into `base`) of the nearest rows to query `i`, ordered by `(distance, index)`: ties go
/// to the lower index. The result has exactly `min(k, n_base)` columns.
///
/// Cost: `n_base × n_queries × dim` multiply-adds, spread over the rayon thread pool; memory is
/// the result plus `n_queries × k` heap entries (and, for [`Metric::Cosine`], one normalised copy of
/// the base and of the queries).
///
/// # Errors
/// * [`Error::InvalidParameter`] when `dim` or `k` is 0, when a slice's length is not a multiple of
///   `dim`, when the base is empty or has more than 2³² rows.
/// * [`Error::InvalidVector`] when a component of the base or the queries is NaN or infinite.
pub fn ground_truth(
    base: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
) -> Result<Matrix<u32>> {
    ground_truth_filtered(base, queries, dim, k, metric, |_| true)
}

/// Like [`ground_truth`], over only the base rows for which `keep(row)` is `true` (e.g. to check a
/// filtered search). Returned indices are still indices into the whole `base`.
///
/// `keep` is called once per base row. The result has exactly `min(k, kept rows)` columns.
///
/// # Errors
/// As [`ground_truth`], and [`Error::InvalidParameter`] when no row is kept.
pub fn ground_truth_filtered<F>(
    base: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
    metric: Metric,
    keep: F,
) -> Result<Matrix<u32>>
where
    F: Fn(usize) -> bool + Sync,
{
    if dim == 0 {
        return Err(Error::invalid_parameter("dim", "must be at least 1"));
    }
    if k == 0 {
        return Err(Error::invalid_parameter("k", "must be at least 1"));
    }
    for (name, data) in [("base", base), ("queries", queries)] {
        if data.len() % dim != 0 {
            return Err(Error::invalid_parameter(
                name,
                format!("length {} is not a multiple of dim {dim}", data.len()),
            ));
        }
        check_finite(name, data, dim)?;
    }
    let n = base.len() / dim;
    if n == 0 {
        return Err(Error::invalid_parameter("base", "is empty"));
    }
    if n - 1 > u32::MAX as usize {
        return Err(Error::invalid_parameter(
            "base",
            format!("{n} rows; at most 2^32 rows can be indexed by u32"),
        ));
    }

    let rows: Vec<u32> = (0..n).filter(|&i| keep(i)).map(|i| i as u32).collect();
    if rows.is_empty() {
        return Err(Error::invalid_parameter(
            "keep",
            "no base row passes the filter",
        ));
    }
    let kk = k.min(rows.len());
    let nq = queries.len() / dim;

    let (base_n, queries_n);
    let (base, queries) = if metric.normalizes() {
        base_n = normalized(base, dim);
        queries_n = normalized(queries, dim);
        (&base_n[..], &queries_n[..])
    } else {
        (base, queries)
    };

    let mut heaps: Vec<BinaryHeap<Candidate>> =
        (0..nq).map(|_| BinaryHeap::with_capacity(kk + 1)).collect();
    let row_bytes = dim * std::mem::size_of::<f32>();
    let outer_rows = (OUTER_BLOCK_BYTES / row_bytes).max(256);
    let inner_rows = (INNER_BLOCK_BYTES / row_bytes).max(16);
    let l2 = matches!(metric, Metric::L2);

    for outer in rows.chunks(outer_rows) {
        heaps
            .par_chunks_mut(QUERY_BATCH)
            .enumerate()
            .for_each(|(batch, heaps)| {
                let first = batch * QUERY_BATCH;
                let batch_queries = &queries[first * dim..(first + heaps.len()) * dim];
                for inner in outer.chunks(inner_rows) {
                    scan(batch_queries, heaps, base, inner, dim, kk, l2);
                }
            });
    }

    let mut out = Vec::with_capacity(nq * kk);
    for heap in heaps {
        out.extend(heap.into_sorted_vec().into_iter().map(|c| c.row));
    }
    Matrix::from_vec(kk, out)
}

/// Scores the queries of one batch against the base rows `rows` and updates their heaps.
fn scan(
    queries: &[f32],
    heaps: &mut [BinaryHeap<Candidate>],
    base: &[f32],
    rows: &[u32],
    dim: usize,
    kk: usize,
    l2: bool,
) {
    for (tile_queries, tile_heaps) in queries.chunks(TILE * dim).zip(heaps.chunks_mut(TILE)) {
        // A short tail tile repeats its last query; the extra results are dropped.
        let last = tile_heaps.len() - 1;
        let q: [&[f32]; TILE] =
            std::array::from_fn(|t| &tile_queries[t.min(last) * dim..(t.min(last) + 1) * dim]);
        for &row in rows {
            let start = row as usize * dim;
            let b = &base[start..start + dim];
            let d = if l2 {
                tile_kernel::<true>(&q, b)
            } else {
                tile_kernel::<false>(&q, b).map(|dot| 1.0 - dot)
            };
            for (heap, &distance) in tile_heaps.iter_mut().zip(&d) {
                push(heap, Candidate { distance, row }, kk);
            }
        }
    }
}

/// Keeps the `kk` smallest candidates in a max-heap.
#[inline]
fn push(heap: &mut BinaryHeap<Candidate>, c: Candidate, kk: usize) {
    if heap.len() < kk {
        heap.push(c);
    } else if let Some(mut top) = heap.peek_mut() {
        if c < *top {
            *top = c;
        }
    }
}

/// Four queries against one base row: squared L2 distances (`L2`) or dot products.
///
/// Each query accumulates in `LANES` independent lanes, so the loop vectorises along the lanes and
/// keeps several independent sums in flight (hiding the add latency); the base row is read from
/// memory once for four queries.
#[inline(always)]
fn tile_kernel<const L2: bool>(q: &[&[f32]; TILE], b: &[f32]) -> [f32; TILE] {
    let body = b.len() / LANES * LANES;
    let (b_body, b_tail) = b.split_at(body);
    q.map(|q| {
        let (q_body, q_tail) = q.split_at(body);
        let mut a = [0.0f32; LANES];
        for (bc, qc) in b_body.chunks_exact(LANES).zip(q_body.chunks_exact(LANES)) {
            for l in 0..LANES {
                if L2 {
                    let d = qc[l] - bc[l];
                    a[l] += d * d;
                } else {
                    a[l] += qc[l] * bc[l];
                }
            }
        }
        for (x, y) in q_tail.iter().zip(b_tail) {
            if L2 {
                a[0] += (x - y) * (x - y);
            } else {
                a[0] += x * y;
            }
        }
        // Pairwise sum of the lanes.
        let mut width = LANES;
        while width > 1 {
            width /= 2;
            for l in 0..width {
                a[l] += a[l + width];
            }
        }
        a[0]
    })
}

/// Normalised copy of row-major `data` (zero rows stay zero).
fn normalized(data: &[f32], dim: usize) -> Vec<f32> {
    let mut copy = data.to_vec();
    copy.par_chunks_mut(dim).for_each(|row| {
        normalize(row);
    });
    copy
}

/// [`Error::InvalidVector`] naming the first non-finite component.
fn check_finite(name: &str, data: &[f32], dim: usize) -> Result<()> {
    match data.par_iter().position_first(|x| !x.is_finite()) {
        None => Ok(()),
        Some(pos) => Err(Error::InvalidVector {
            reason: format!(
                "{name} row {} component {} is {}",
                pos / dim,
                pos % dim,
                data[pos]
            ),
        }),
    }
}

/// A base row and its distance, ordered by `(distance, row)` (total order on the distance).
#[derive(Clone, Copy, Debug)]
struct Candidate {
    distance: f32,
    row: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.row.cmp(&other.row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    const METRICS: [Metric; 3] = [Metric::L2, Metric::InnerProduct, Metric::Cosine];

    /// Small integers: every sum is exact in f32, so any summation order gives the same value
    /// and ties are real ties.
    fn integer_data(rng: &mut Xoshiro256PlusPlus, rows: usize, dim: usize) -> Vec<f32> {
        (0..rows * dim)
            .map(|_| rng.random_range(-3i32..=3) as f32)
            .collect()
    }

    fn gaussian_data(rng: &mut Xoshiro256PlusPlus, rows: usize, dim: usize) -> Vec<f32> {
        (0..rows * dim)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect()
    }

    /// Double loop and a full sort on `(distance, index)`.
    fn naive(
        base: &[f32],
        queries: &[f32],
        dim: usize,
        k: usize,
        metric: Metric,
        keep: impl Fn(usize) -> bool,
    ) -> Vec<Vec<(f32, u32)>> {
        queries
            .chunks(dim)
            .map(|q| {
                let mut all: Vec<(f32, u32)> = base
                    .chunks(dim)
                    .enumerate()
                    .filter(|(i, _)| keep(*i))
                    .map(|(i, b)| (metric.distance(q, b), i as u32))
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                all.truncate(k);
                all
            })
            .collect()
    }

    fn assert_exact(got: &Matrix<u32>, want: &[Vec<(f32, u32)>]) {
        assert_eq!(got.len(), want.len());
        for (i, w) in want.iter().enumerate() {
            let ids: Vec<u32> = w.iter().map(|p| p.1).collect();
            assert_eq!(got.row(i), &ids[..], "query {i}");
        }
    }

    /// Ids may differ only where the naive distances are equal up to rounding.
    fn assert_close(
        got: &Matrix<u32>,
        want: &[Vec<(f32, u32)>],
        base: &[f32],
        queries: &[f32],
        dim: usize,
        metric: Metric,
    ) {
        assert_eq!(got.len(), want.len());
        for (i, w) in want.iter().enumerate() {
            assert_eq!(got.dim(), w.len());
            let q = &queries[i * dim..(i + 1) * dim];
            for (j, &(wd, wid)) in w.iter().enumerate() {
                let id = got.row(i)[j];
                if id != wid {
                    let d = metric.distance(q, &base[id as usize * dim..(id as usize + 1) * dim]);
                    assert!(
                        (d - wd).abs() <= 1e-5 * wd.abs().max(1.0),
                        "query {i} rank {j}: got {id} at {d}, want {wid} at {wd}"
                    );
                }
            }
        }
    }

    #[test]
    fn equals_naive_on_integer_data_with_ties() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for &dim in &[1usize, 3, 8, 17] {
            let mut base = integer_data(&mut rng, 300, dim);
            // Exact duplicates of row 5 further down: they must follow row 5, in index order.
            let dup: Vec<f32> = base[5 * dim..6 * dim].to_vec();
            for r in [40, 41, 250] {
                base[r * dim..(r + 1) * dim].copy_from_slice(&dup);
            }
            let mut queries = integer_data(&mut rng, 37, dim);
            queries[..dim].copy_from_slice(&dup);
            for metric in [Metric::L2, Metric::InnerProduct] {
                for k in [1, 10, 64] {
                    let got = ground_truth(&base, &queries, dim, k, metric).unwrap();
                    let want = naive(&base, &queries, dim, k, metric, |_| true);
                    assert_exact(&got, &want);
                }
            }
            if dim >= 8 {
                // (With fewer dimensions other rows collide with row 5 by chance.)
                let got = ground_truth(&base, &queries, dim, 4, Metric::L2).unwrap();
                assert_eq!(got.row(0), &[5, 40, 41, 250]);
            }
        }
    }

    #[test]
    fn equals_naive_on_random_data_all_metrics() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let dim = 24;
        let base = gaussian_data(&mut rng, 1000, dim);
        let queries = gaussian_data(&mut rng, 50, dim);
        for metric in METRICS {
            let got = ground_truth(&base, &queries, dim, 20, metric).unwrap();
            let want = naive(&base, &queries, dim, 20, metric, |_| true);
            assert_close(&got, &want, &base, &queries, dim, metric);
        }
    }

    #[test]
    fn cosine_ties_go_to_the_lower_index() {
        // Rows 1 and 3 are scaled copies of row 0: the same direction, distance ~0.
        let base = [1.0, 2.0, 2.0, 0.0, 1.0, 0.0, 2.0, 4.0, 4.0, 0.5, 1.0, 1.0];
        let got = ground_truth(&base, &[1.0, 2.0, 2.0], 3, 4, Metric::Cosine).unwrap();
        assert_eq!(got.row(0), &[0, 2, 3, 1]);
    }

    #[test]
    fn block_boundaries_and_k_larger_than_n() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        // dim 1024 → 32 rows per inner block, 1024 per outer block; 1100 rows span both.
        let dim = 1024;
        let n = 1100;
        let base = integer_data(&mut rng, n, dim);
        let queries = integer_data(&mut rng, QUERY_BATCH + 3, dim);
        let got = ground_truth(&base, &queries, dim, 7, Metric::L2).unwrap();
        assert_exact(&got, &naive(&base, &queries, dim, 7, Metric::L2, |_| true));

        let small = &base[..5 * dim];
        let got = ground_truth(small, &queries, dim, 100, Metric::InnerProduct).unwrap();
        assert_eq!(got.dim(), 5);
        assert_exact(
            &got,
            &naive(small, &queries, dim, 100, Metric::InnerProduct, |_| true),
        );
    }

    #[test]
    fn filtered_equals_naive() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let dim = 9;
        let base = integer_data(&mut rng, 500, dim);
        let queries = integer_data(&mut rng, 21, dim);
        let keep = |i: usize| i % 3 == 1;
        for metric in [Metric::L2, Metric::InnerProduct] {
            let got = ground_truth_filtered(&base, &queries, dim, 10, metric, keep).unwrap();
            assert!(got.as_slice().iter().all(|&i| keep(i as usize)));
            assert_exact(&got, &naive(&base, &queries, dim, 10, metric, keep));
        }
        // Fewer kept rows than k.
        let got = ground_truth_filtered(&base, &queries, dim, 10, Metric::L2, |i| i < 4).unwrap();
        assert_eq!(got.dim(), 4);
        assert!(ground_truth_filtered(&base, &queries, dim, 10, Metric::L2, |_| false).is_err());
    }

    #[test]
    fn no_queries_gives_no_rows() {
        let got = ground_truth(&[1.0, 2.0], &[], 2, 3, Metric::L2).unwrap();
        assert!(got.is_empty());
        assert_eq!(got.dim(), 1);
    }

    #[test]
    fn rejects_bad_input() {
        let ok = [0.0f32; 4];
        let bad_param = |r: Result<Matrix<u32>>| {
            assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}")
        };
        bad_param(ground_truth(&ok, &ok, 0, 1, Metric::L2));
        bad_param(ground_truth(&ok, &ok, 2, 0, Metric::L2));
        bad_param(ground_truth(&ok, &ok, 3, 1, Metric::L2));
        bad_param(ground_truth(&ok, &ok[..3], 2, 1, Metric::L2));
        bad_param(ground_truth(&[], &ok, 2, 1, Metric::L2));
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let bad = [0.0, 1.0, v, 0.0];
            let r = ground_truth(&bad, &ok, 2, 1, Metric::L2);
            assert!(matches!(r, Err(Error::InvalidVector { .. })), "{r:?}");
            let r = ground_truth(&ok, &bad, 2, 1, Metric::Cosine);
            assert!(matches!(r, Err(Error::InvalidVector { .. })), "{r:?}");
        }
    }
}
