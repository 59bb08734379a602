//! The f32 distance kernels: scalar against every SIMD set this CPU supports, and the dispatched
//! public functions, on 64-byte aligned rows as the index stores them.
//!
//! `cargo bench --bench distance` (add `-- l2_squared/768` to filter). Results feed
//! `docs/distance.md`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use stratavec::distance::{self, supported_kernels};

const DIMS: [usize; 6] = [64, 128, 256, 384, 768, 784];

/// A distance kernel, as the index holds it.
type Kernel = fn(&[f32], &[f32]) -> f32;

/// A vector of `n` random floats whose first element is 64-byte aligned, kept alive by `buf`.
struct AlignedRow {
    buf: Vec<f32>,
    start: usize,
    n: usize,
}

impl AlignedRow {
    fn random(rng: &mut Xoshiro256PlusPlus, n: usize) -> Self {
        let mut buf: Vec<f32> = (0..n + 16)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        let start = buf.as_ptr().align_offset(64);
        assert!(start < 16, "cannot align the row");
        buf.truncate(start + n);
        Self { buf, start, n }
    }

    fn as_slice(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.n]
    }
}

fn bench_kernel(
    c: &mut Criterion,
    group_name: &str,
    public: Kernel,
    pick: fn(&distance::Kernels) -> Kernel,
) {
    let mut group = c.benchmark_group(group_name);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    for dim in DIMS {
        let a = AlignedRow::random(&mut rng, dim);
        let b = AlignedRow::random(&mut rng, dim);
        let (a, b) = (a.as_slice(), b.as_slice());
        group.throughput(Throughput::Elements(dim as u64));
        for k in supported_kernels() {
            // Called through a fn pointer, exactly as the index's hot loop calls it.
            let f = black_box(pick(&k));
            group.bench_with_input(BenchmarkId::new(k.name, dim), &dim, |bench, _| {
                bench.iter(|| f(black_box(a), black_box(b)))
            });
        }
        // The public function: length assert plus a cached dispatch per call.
        group.bench_with_input(BenchmarkId::new("dispatched", dim), &dim, |bench, _| {
            bench.iter(|| public(black_box(a), black_box(b)))
        });
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    println!("active kernel set: {}", distance::active_kernels().name);
    bench_kernel(c, "l2_squared", distance::l2_squared, |k| k.l2_squared);
    bench_kernel(c, "dot", distance::dot, |k| k.dot);
}

criterion_group!(benches, kernels);
criterion_main!(benches);
