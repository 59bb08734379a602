//! Recall@K: how many of the true nearest neighbours a search found.

use crate::data::Matrix;
use crate::error::{Error, Result};

/// Mean Recall@K over all queries: for query `i`, the number of distinct ids among the first `k` of
/// `found[i]` that are also among the first `k` of `truth.row(i)`, divided by the number of truth
/// ids considered, `min(k, truth.dim())`.
///
/// `found[i]` holds user ids (`u64`); for benchmarks they equal base row indices, which is what
/// `truth` (e.g. from [`ground_truth`](super::ground_truth)) holds. A `found` row may be shorter than
/// `k` (missing results count as misses); duplicate ids count once.
///
/// Cost: `O(n_queries · k log k)`.
///
/// # Errors
/// [`Error::InvalidParameter`] when `k` is 0, when there are no queries, or when `found` and `truth`
/// hold different numbers of queries.
pub fn recall_at_k<F: AsRef<[u64]>>(found: &[F], truth: &Matrix<u32>, k: usize) -> Result<f64> {
    let per_query = recall_per_query(found, truth, k)?;
    if per_query.is_empty() {
        return Err(Error::invalid_parameter(
            "truth",
            "holds no queries; the mean recall is undefined",
        ));
    }
    Ok(per_query.iter().sum::<f64>() / per_query.len() as f64)
}

/// Recall@K of every query, in query order (see [`recall_at_k`] for the definition).
///
/// # Errors
/// [`Error::InvalidParameter`] when `k` is 0 or when `found` and `truth` hold different numbers of
/// queries.
pub fn recall_per_query<F: AsRef<[u64]>>(
    found: &[F],
    truth: &Matrix<u32>,
    k: usize,
) -> Result<Vec<f64>> {
    if k == 0 {
        return Err(Error::invalid_parameter("k", "must be at least 1"));
    }
    if found.len() != truth.len() {
        return Err(Error::invalid_parameter(
            "found",
            format!(
                "results for {} queries, but the ground truth has {} queries",
                found.len(),
                truth.len()
            ),
        ));
    }
    let mut want: Vec<u64> = Vec::with_capacity(k.min(truth.dim()));
    let mut got: Vec<u64> = Vec::with_capacity(k);
    Ok(found
        .iter()
        .zip(truth.rows())
        .map(|(f, t)| {
            want.clear();
            want.extend(t.iter().take(k).map(|&id| u64::from(id)));
            want.sort_unstable();
            want.dedup();
            got.clear();
            got.extend(f.as_ref().iter().take(k));
            got.sort_unstable();
            got.dedup();
            let hits = got
                .iter()
                .filter(|id| want.binary_search(id).is_ok())
                .count();
            hits as f64 / k.min(t.len()) as f64
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> Matrix<u32> {
        Matrix::from_vec(4, vec![0, 1, 2, 3, 10, 11, 12, 13]).unwrap()
    }

    #[test]
    fn exact_half_and_zero() {
        let t = truth();
        // Order inside the top k does not matter.
        let exact = [vec![3u64, 2, 1, 0], vec![10, 11, 12, 13]];
        assert_eq!(recall_at_k(&exact, &t, 4).unwrap(), 1.0);
        let half = [vec![0u64, 1, 98, 99], vec![10, 11, 97, 96]];
        assert_eq!(recall_at_k(&half, &t, 4).unwrap(), 0.5);
        let zero = [vec![50u64, 51, 52, 53], vec![0, 1, 2, 3]];
        assert_eq!(recall_at_k(&zero, &t, 4).unwrap(), 0.0);
        let mixed = [vec![0u64, 1, 2, 3], vec![99u64, 98, 97, 96]];
        assert_eq!(recall_per_query(&mixed, &t, 4).unwrap(), vec![1.0, 0.0]);
        assert_eq!(recall_at_k(&mixed, &t, 4).unwrap(), 0.5);
    }

    #[test]
    fn only_the_first_k_count() {
        let t = truth();
        // Id 2 is found at rank 3, outside k = 2; truth's top 2 is {0, 1}.
        let found = [&[0u64, 2, 1][..], &[11, 10][..]];
        assert_eq!(recall_per_query(&found, &t, 2).unwrap(), vec![0.5, 1.0]);
    }

    #[test]
    fn short_rows_duplicates_and_short_truth() {
        let t = truth();
        // Short found row: misses; duplicates count once.
        let found = [vec![0u64], vec![10, 10, 10, 10]];
        assert_eq!(recall_per_query(&found, &t, 4).unwrap(), vec![0.25, 0.25]);
        // k above the truth width: the denominator is the truth width.
        let found = [vec![0u64, 1, 2, 3, 4, 5], vec![10, 11, 12, 13, 14, 15]];
        assert_eq!(recall_at_k(&found, &t, 6).unwrap(), 1.0);
    }

    #[test]
    fn errors() {
        let t = truth();
        assert!(recall_at_k(&[vec![0u64]], &t, 4).is_err());
        assert!(recall_at_k(&[vec![0u64], vec![1]], &t, 0).is_err());
        let empty = Matrix::<u32>::from_vec(4, vec![]).unwrap();
        assert!(recall_at_k::<Vec<u64>>(&[], &empty, 4).is_err());
        assert_eq!(
            recall_per_query::<Vec<u64>>(&[], &empty, 4).unwrap(),
            Vec::<f64>::new()
        );
    }
}
