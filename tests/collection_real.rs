//! The collection on real data (`mnist-784-l2`): after deleting 30% of the rows and compacting,
//! Recall@10 on the remaining rows is within 0.01 of a fresh build over them, no deleted row comes
//! back, and the files shrink. Recall is computed against exact neighbours among the live rows.

mod common;

use std::collections::HashSet;

use stratavec::data::Matrix;
use stratavec::eval::{ground_truth, recall_at_k};
use stratavec::{Collection, CollectionOptions, Metric, SearchParams};

fn recall(col: &Collection, queries: &Matrix<f32>, truth: &Matrix<u32>) -> f64 {
    let found: Vec<Vec<u64>> = col
        .search_batch(queries.as_slice(), &SearchParams::new(10).ef(64))
        .unwrap()
        .into_iter()
        .map(|hits| hits.into_iter().map(|h| h.id).collect())
        .collect();
    recall_at_k(&found, truth, 10).unwrap()
}

#[test]
fn compaction_after_deleting_30_percent_keeps_the_recall_of_a_fresh_build() {
    let Some(data) = common::dataset("mnist-784-l2") else {
        return;
    };
    let dim = data.dim();
    let n = data.base.len();
    let mut options = CollectionOptions::new(dim, Metric::L2);
    options.seal_rows = 3000;
    options.compact_deleted_fraction = None;
    let dir = tempfile::tempdir().unwrap();
    let col = Collection::open(dir.path(), options.clone()).unwrap();
    let ids = common::row_ids(n);
    for (chunk, rows) in ids
        .chunks(1000)
        .zip(data.base.as_slice().chunks(1000 * dim))
    {
        col.upsert_batch(chunk, rows).unwrap();
    }
    col.flush().unwrap();
    assert!(col.stats().segments >= 3);

    // Delete 30% (every id whose hash lands in the lowest 30%).
    let deleted: HashSet<u64> = ids
        .iter()
        .copied()
        .filter(|&i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) < 307)
        .collect();
    assert!((deleted.len() as f64 / n as f64 - 0.3).abs() < 0.02);
    col.delete_batch(&deleted.iter().copied().collect::<Vec<_>>())
        .unwrap();
    col.flush().unwrap();
    let live: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|i| !deleted.contains(i))
        .collect();
    let rows: Vec<f32> = live
        .iter()
        .flat_map(|&i| data.base.row(i as usize).to_vec())
        .collect();
    let local = ground_truth(&rows, data.queries.as_slice(), dim, 10, Metric::L2).unwrap();
    let truth = Matrix::from_vec(
        10,
        local
            .as_slice()
            .iter()
            .map(|&r| live[r as usize] as u32)
            .collect(),
    )
    .unwrap();

    let before = col.stats();
    let recall_before = recall(&col, &data.queries, &truth);
    col.compact().unwrap();
    let after = col.stats();
    assert_eq!(
        (after.segments, after.live, after.deleted),
        (1, live.len(), 0)
    );
    assert!(
        after.segment_bytes < before.segment_bytes,
        "{before:?} → {after:?}"
    );
    let recall_compacted = recall(&col, &data.queries, &truth);
    for hits in col
        .search_batch(data.queries.as_slice(), &SearchParams::new(10).ef(64))
        .unwrap()
    {
        assert!(hits.iter().all(|h| !deleted.contains(&h.id)));
    }

    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Collection::open(fresh_dir.path(), options).unwrap();
    fresh.upsert_batch(&live, &rows).unwrap();
    fresh.flush().unwrap();
    let recall_fresh = recall(&fresh, &data.queries, &truth);
    eprintln!(
        "mnist, 30% deleted: Recall@10 at ef 64 before compaction {recall_before:.4}, after \
         {recall_compacted:.4}, fresh build {recall_fresh:.4}; segment bytes {} → {}",
        before.segment_bytes, after.segment_bytes
    );
    assert!(
        recall_compacted >= recall_fresh - 0.01,
        "compacted {recall_compacted:.4} vs fresh {recall_fresh:.4}"
    );
}
