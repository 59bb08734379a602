//! Merging per-segment (or per-shard) results into one top-k list.

use crate::base::options::Neighbor;

/// Merges result lists (each sorted or not) into the `k` nearest, nearest first; an id present in
/// several lists is kept once, with its smallest distance. Ties are broken by id, so the result
/// does not depend on the order of the lists. Costs what the lists hold, whatever `k` (a `k`
/// beyond their length returns them all, deduplicated).
///
/// This is how a [`super::Collection`] combines its segments, and what a sharded deployment uses
/// to combine shards.
///
/// ```
/// use stratavec::{merge_top_k, Neighbor};
///
/// let a = vec![Neighbor { id: 1, distance: 0.1 }, Neighbor { id: 2, distance: 0.5 }];
/// let b = vec![Neighbor { id: 3, distance: 0.2 }, Neighbor { id: 1, distance: 0.3 }];
/// let ids: Vec<u64> = merge_top_k([a, b], 2).iter().map(|n| n.id).collect();
/// assert_eq!(ids, [1, 3]);
/// ```
pub fn merge_top_k(lists: impl IntoIterator<Item = Vec<Neighbor>>, k: usize) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = lists.into_iter().flatten().collect();
    all.sort_unstable_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    let mut seen = std::collections::HashSet::with_capacity(k.min(all.len()));
    all.retain(|n| seen.len() < k && seen.insert(n.id));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: u64, distance: f32) -> Neighbor {
        Neighbor { id, distance }
    }

    #[test]
    fn keeps_the_nearest_k_once_each_in_order() {
        let merged = merge_top_k(
            vec![
                vec![n(5, 0.5), n(1, 0.1)],
                vec![],
                vec![n(1, 0.05), n(2, 0.2), n(9, 0.2)],
            ],
            3,
        );
        assert_eq!(merged, vec![n(1, 0.05), n(2, 0.2), n(9, 0.2)]);
        assert!(merge_top_k(Vec::<Vec<Neighbor>>::new(), 3).is_empty());
        assert_eq!(merge_top_k(vec![vec![n(1, 1.0)]], 10).len(), 1);
        // Nothing is allocated for k itself: the most a merge returns is what the lists hold.
        let all = merge_top_k(
            vec![vec![n(1, 0.1), n(2, 0.2)], vec![n(2, 0.1)]],
            usize::MAX,
        );
        assert_eq!(all, vec![n(1, 0.1), n(2, 0.1)]);
    }
}
