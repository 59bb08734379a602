//! Search and build on seeded synthetic data: regressions in the hot loop show here.
//!
//! `cargo bench --bench search`. The index is built once (20,000 × 128, L2, M = 16,
//! ef_construction = 200); single queries are timed at ef 32, 64 and 128.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stratavec::data::synthetic::ClusteredSpec;
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
