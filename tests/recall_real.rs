//! Recall on real datasets, computed against their exact ground truth (never assumed).
//!
//! Runs in release mode in CI (`cargo test --release`); building the 100k-vector index takes
//! tens of seconds there.

mod common;

use std::sync::OnceLock;

use stratavec::data::{Dataset, Matrix};
use stratavec::eval::{ground_truth_filtered, recall_at_k};
use stratavec::{Index, IndexOptions, Metric, SearchCounts, SearchParams, SearchStats};

struct Built {
    data: Dataset,
    index: Index,
}

fn build(name: &str) -> Option<Built> {
    let data = common::dataset(name)?;
    let metric = data.metric.unwrap_or(Metric::L2);
    let index = Index::new(IndexOptions::new(data.dim(), metric)).unwrap();
    index
        .add_batch(&common::row_ids(data.base.len()), data.base.as_slice())
        .unwrap();
    Some(Built { data, index })
}

fn wordllama() -> Option<&'static Built> {
    static BUILT: OnceLock<Option<Built>> = OnceLock::new();
    BUILT
        .get_or_init(|| build("wordllama-sent-256-ip"))
        .as_ref()
}

/// Recall@k over all queries at `ef`.
fn recall(b: &Built, truth: &Matrix<u32>, k: usize, params: SearchParams<'_>) -> f64 {
    let found: Vec<Vec<u64>> = b
        .index
        .search_batch(b.data.queries.as_slice(), &params)
        .unwrap()
        .into_iter()
        .map(|hits| hits.into_iter().map(|h| h.id).collect())
        .collect();
    recall_at_k(&found, truth, k).unwrap()
}

fn assert_recall_095_by_ef_128(b: &Built) {
    let truth = b
        .data
        .ground_truth
        .as_ref()
        .expect("dataset has ground truth");
    let mut best = 0.0;
    for ef in [64, 128] {
        let r = recall(b, truth, 10, SearchParams::new(10).ef(ef));
        eprintln!("{}: ef {ef} recall@10 {r:.4}", b.data.name);
        best = f64::max(best, r);
    }
    assert!(
        best >= 0.95,
        "{}: best recall@10 at ef <= 128 is {best}",
        b.data.name
    );
}

#[test]
fn wordllama_reaches_recall_095_at_ef_128() {
    let Some(b) = wordllama() else { return };
    assert_recall_095_by_ef_128(b);
}

#[test]
fn mnist_reaches_recall_095_at_ef_128() {
    let Some(b) = build("mnist-784-l2") else {
        return;
    };
    assert_recall_095_by_ef_128(&b);
}

/// Keeps about `percent`% of ids, scattered (a hash, so not aligned with the dataset's order).
fn keep_percent(percent: u64) -> impl Fn(u64) -> bool + Sync + Copy {
    move |id: u64| id.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100 < percent
}

/// Recall@10 of the filtered searches, and the counters of their planner paths.
fn filtered_recall(b: &Built, percent: u64) -> (f64, SearchCounts) {
    let keep = keep_percent(percent);
    let truth = ground_truth_filtered(
        b.data.base.as_slice(),
        b.data.queries.as_slice(),
        b.data.dim(),
        10,
        b.index.metric(),
        |row| keep(row as u64),
    )
    .unwrap();
    let stats = SearchStats::new();
    let params = SearchParams::new(10).ef(64).filter(&keep).stats(&stats);
    let results = b
        .index
        .search_batch(b.data.queries.as_slice(), &params)
        .unwrap();
    for hits in &results {
        assert_eq!(hits.len(), 10, "a filtered search returned fewer than k");
        assert!(
            hits.iter().all(|h| keep(h.id)),
            "a filtered search returned a non-matching id"
        );
    }
    let found: Vec<Vec<u64>> = results
        .into_iter()
        .map(|hits| hits.into_iter().map(|h| h.id).collect())
        .collect();
    let r = recall_at_k(&found, &truth, 10).unwrap();
    let c = stats.counts();
    eprintln!("wordllama: filter keeping {percent}%: recall@10 {r:.4}, paths {c:?}");
    (r, c)
}

#[test]
fn wordllama_filtered_recall_at_10_percent() {
    let Some(b) = wordllama() else { return };
    let (r, c) = filtered_recall(b, 10);
    // 10% of 100,000: the planner walks the graph (scanning 10,000 vectors costs more).
    assert_eq!(c.walks + c.fallbacks, c.queries, "{c:?}");
    assert!(c.walks > 0, "{c:?}");
    assert!(r >= 0.9, "recall@10 with a 10% filter: {r}");
}

#[test]
fn wordllama_filtered_recall_at_1_percent() {
    let Some(b) = wordllama() else { return };
    let (r, c) = filtered_recall(b, 1);
    // 1%: scanning the 1,000 matching vectors is cheaper than the walk, and exact.
    assert_eq!(c.exact_scans, c.queries, "{c:?}");
    // Exact up to ties at the 10th place between two summation orders.
    assert!(
        r >= 0.995,
        "recall@10 of the exact scan with a 1% filter: {r}"
    );
}
