//! Search and build on seeded synthetic data: regressions in the hot loop show here.
//!
//! `cargo bench --bench search`. The index is built once (20,000 × 128, L2, M = 16,
//! ef_construction = 200); single queries are timed at ef 32, 64 and 128, and at the smallest ef
//! that reaches Recall@10 = 0.95 (computed against the exact ground truth), in memory and on the
//! same index saved and opened as a memory-mapped segment file. Build throughput is in vectors/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stratavec::data::synthetic::ClusteredSpec;
use stratavec::eval::{ground_truth, recall_at_k};
use stratavec::{Index, IndexOptions, Metric, SearchParams};

const N: usize = 20_000;
const DIM: usize = 128;

fn search(c: &mut Criterion) {
    let (base, queries) = ClusteredSpec::new(N, DIM)
        .generate_with_queries(256)
        .expect("synthetic data");
    let index = Index::new(IndexOptions::new(DIM, Metric::L2)).expect("index");
    index
        .add_batch(&(0..N as u64).collect::<Vec<_>>(), base.as_slice())
        .expect("build");

    let mut group = c.benchmark_group("search_20k_128d");
    group.throughput(Throughput::Elements(1));
    for ef in [32, 64, 128] {
        let params = SearchParams::new(10).ef(ef);
        group.bench_with_input(BenchmarkId::new("ef", ef), &params, |b, params| {
            let mut rows = queries.rows().cycle();
            b.iter(|| index.search_with(rows.next().unwrap(), params).unwrap());
        });
    }
    group.finish();

    // The smallest ef of a doubling sweep that reaches Recall@10 0.95: what a user tunes to.
    let truth =
        ground_truth(base.as_slice(), queries.as_slice(), DIM, 10, Metric::L2).expect("truth");
    let recall_at = |index: &Index, ef: usize| {
        let found: Vec<Vec<u64>> = queries
            .rows()
            .map(|q| {
                let hits = index.search_with(q, &SearchParams::new(10).ef(ef)).unwrap();
                hits.iter().map(|h| h.id).collect()
            })
            .collect();
        recall_at_k(&found, &truth, 10).unwrap()
    };
    let ef = [16, 32, 64, 128, 256, 512]
        .into_iter()
        .find(|&ef| recall_at(&index, ef) >= 0.95)
        .unwrap_or(512);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.svs");
    index.save(&path).expect("save");
    let mapped = Index::open(&path).expect("open");
    let mut group = c.benchmark_group("search_20k_128d_recall_0.95");
    group.throughput(Throughput::Elements(1));
    let params = SearchParams::new(10).ef(ef);
    for (name, index) in [("memory", &index), ("mapped", &mapped)] {
        group.bench_function(BenchmarkId::new(name, format!("ef{ef}")), |b| {
            let mut rows = queries.rows().cycle();
            b.iter(|| index.search_with(rows.next().unwrap(), &params).unwrap());
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let base = ClusteredSpec::new(5_000, DIM)
        .generate()
        .expect("synthetic data");
    let ids: Vec<u64> = (0..base.len() as u64).collect();
    let mut group = c.benchmark_group("build_5k_128d");
    group.sample_size(10);
    group.throughput(Throughput::Elements(base.len() as u64));
    group.bench_function("add_batch", |b| {
        b.iter(|| {
            let index = Index::new(IndexOptions::new(DIM, Metric::L2)).unwrap();
            index.add_batch(&ids, base.as_slice()).unwrap();
            index
        })
    });
    group.finish();
}

criterion_group!(benches, search, build);
criterion_main!(benches);
