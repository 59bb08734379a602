//! The quantized-code scoring kernels against the f32 dot product they replace: per dimension, the
//! dispatched `distance::dot` on f32 rows, `dot_u8` on 8-bit codes and `dot_u4` on packed 4-bit
//! codes with the `f32` query, `i8u8` / `i8u4` (`dot_i8_u8`, `dot_i8_u4`) on the same codes with the
//! query quantized to `i8` once, then every kernel set this CPU supports. Rows are 64-byte aligned
//! as the index stores them.
//!
//! `fastscan16/<set>` scores 16 rows laid out as one fast-scan batch, against `i8u4x16`, the same
//! 16 rows scored one by one with the row kernel.
//!
//! `cargo bench --bench quant` (add `-- quant/768` to filter).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use stratavec::__quant_bench as quant;
use stratavec::distance;

const DIMS: [usize; 3] = [128, 384, 768];

/// `n` values from `gen`, the first 64-byte aligned, kept alive by `buf`.
struct AlignedRow<T> {
    buf: Vec<T>,
    start: usize,
    n: usize,
}

impl<T> AlignedRow<T> {
    fn new(n: usize, mut gen: impl FnMut() -> T) -> Self {
        let mut buf: Vec<T> = (0..n + 64).map(|_| gen()).collect();
        let start = buf.as_ptr().align_offset(64);
        assert!(start < 64, "cannot align the row");
        buf.truncate(start + n);
        Self { buf, start, n }
    }

    fn as_slice(&self) -> &[T] {
        &self.buf[self.start..self.start + self.n]
    }
}

fn kernels(c: &mut Criterion) {
    println!(
        "active: distance {}, quant {}",
        distance::active_kernels().name,
        quant::active_name()
    );
    let mut group = c.benchmark_group("quant");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    for dim in DIMS {
        let a = AlignedRow::new(dim, || rng.random_range(-1.0f32..1.0));
        let w = AlignedRow::new(dim, || rng.random_range(-1.0f32..1.0));
        let b = AlignedRow::new(dim, || rng.random_range(-1.0f32..1.0));
        let c8 = AlignedRow::new(dim, || rng.random::<u8>());
        let c4: Vec<u8> = (0..dim).map(|_| rng.random_range(0..16u8)).collect();
        let p4 = {
            let mut row = AlignedRow::new(dim.div_ceil(2), || 0u8);
            let start = row.start;
            quant::pack_u4(&c4, &mut row.buf[start..]);
            row
        };
        let (a, w, b, c8, p4) = (
            a.as_slice(),
            w.as_slice(),
            b.as_slice(),
            c8.as_slice(),
            p4.as_slice(),
        );
        let (q8, q4) = (quant::quantize_query(w, 8), quant::quantize_query(w, 4));
        group.throughput(Throughput::Elements(dim as u64));
        // The dispatched functions, as a caller holding the cached kernel set calls them.
        let f32_dot = black_box(distance::active_kernels().dot);
        group.bench_with_input(BenchmarkId::new("f32", dim), &dim, |bench, _| {
            bench.iter(|| f32_dot(black_box(a), black_box(b)))
        });
        group.bench_with_input(BenchmarkId::new("u8", dim), &dim, |bench, _| {
            bench.iter(|| quant::dot_u8(black_box(w), black_box(c8)))
        });
        group.bench_with_input(BenchmarkId::new("u4", dim), &dim, |bench, _| {
            bench.iter(|| quant::dot_u4(black_box(w), black_box(p4)))
        });
        group.bench_with_input(BenchmarkId::new("i8u8", dim), &dim, |bench, _| {
            bench.iter(|| quant::dot_i8_u8(black_box(&q8), black_box(c8)))
        });
        group.bench_with_input(BenchmarkId::new("i8u4", dim), &dim, |bench, _| {
            bench.iter(|| quant::dot_i8_u4(black_box(&q4), black_box(p4)))
        });
        // Every kernel set, through a fn pointer as the index's hot loop calls it.
        for (name, dot_u8, dot_u4) in quant::kernel_sets() {
            let (dot_u8, dot_u4) = black_box((dot_u8, dot_u4));
            group.bench_with_input(
                BenchmarkId::new(format!("u8/{name}"), dim),
                &dim,
                |bench, _| bench.iter(|| dot_u8(black_box(w), black_box(c8))),
            );
            group.bench_with_input(
                BenchmarkId::new(format!("u4/{name}"), dim),
                &dim,
                |bench, _| bench.iter(|| dot_u4(black_box(w), black_box(p4))),
            );
        }
        // 16 rows scored as one fast-scan batch (what the fast-scan layout does per 16 neighbours;
        // compare with 16 × i8u4).
        let rows: Vec<&[u8]> = vec![p4; quant::FAST_SCAN_BATCH];
        let batch = quant::FastScanBatch::new(&q4, dim, &rows);
        for (name, kernel) in quant::FastScanBatch::kernels() {
            let kernel = black_box(kernel);
            group.bench_with_input(
                BenchmarkId::new(format!("fastscan16/{name}"), dim),
                &dim,
                |bench, _| bench.iter(|| kernel(black_box(&batch))),
            );
        }
        group.bench_with_input(BenchmarkId::new("i8u4x16", dim), &dim, |bench, _| {
            bench.iter(|| {
                let mut s = 0i32;
                for row in &rows {
                    s = s.wrapping_add(quant::dot_i8_u4(black_box(&q4), black_box(row)));
                }
                s
            })
        });
        for (name, ik) in quant::int_kernel_sets() {
            let ik = black_box(ik);
            group.bench_with_input(
                BenchmarkId::new(format!("i8u8/{name}"), dim),
                &dim,
                |bench, _| bench.iter(|| ik.dot_i8_u8(black_box(&q8), black_box(c8))),
            );
            group.bench_with_input(
                BenchmarkId::new(format!("i8u4/{name}"), dim),
                &dim,
                |bench, _| bench.iter(|| ik.dot_i8_u4(black_box(&q4), black_box(p4))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
