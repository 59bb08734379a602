//! The RaBitQ codec's kernels (`src/quant/rabitq`), per instruction set this CPU supports:
//!
//! - `rotate/<D>/<set>`: the FHT + Kac-walk rotation of one vector (`<D>` the input dimension,
//!   padded to a multiple of 64); `rotate-pow2/<D>/<set>` pads to the next power of two instead;
//! - `fastscan32/<D>/<set>`: the integer sums of one fast-scan batch (32 neighbours' 1-bit codes);
//! - `block64/<D>`: estimates and lower bounds of 64 neighbours (two batches, factors applied) on
//!   the active set — the per-visit work of a degree-32 graph's node with `m = 16`·2 neighbours;
//! - `row1/<D>/<set>`: the estimate of one compact 1-bit row (popcount kernel, 8-bit query);
//! - `ex<B>/<D>/<set>`: the extended-code kernel, one `B`-bit row (`B` = 2, 4, 8);
//! - `prepare/<D>`: rotate + fast-scan table + bit planes of one query.
//!
//! The module is compiled into this bench from its source (`#[path]`), with the crate modules
//! it uses re-exported from the public API, because the crate does not expose it (yet).
//!
//! `nice -n 10 cargo bench --bench rabitq` (add `-- fastscan32` to filter).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// What `src/quant/rabitq` imports from `crate::distance`.
mod distance {
    pub use stratavec::distance::{dot, l2_squared};
    pub use stratavec::Metric;
}

/// What `src/quant/rabitq` imports from `crate::error`.
mod error {
    pub use stratavec::{Error, Result};
}

/// Stand-ins for the CPU level types of `crate::simd`: the module implements its kernel trait for
/// them, which this bench never calls (it measures the function-pointer sets).
#[allow(dead_code)]
mod simd {
    #[derive(Clone, Copy)]
    pub struct Scalar;
    #[derive(Clone, Copy)]
    pub struct Avx2;
    #[derive(Clone, Copy)]
    pub struct Avx512;
    #[derive(Clone, Copy)]
    pub struct Avx512Vnni;
}

/// What the module's tests import from `crate::data` (cargo builds benches with `cfg(test)`).
#[allow(unused_imports)]
mod data {
    pub use stratavec::data::*;
}

#[allow(dead_code, unused_imports)]
#[path = "../src/quant/rabitq/mod.rs"]
mod rabitq;

use rabitq::{binary, extended, fastscan, kernels, CentroidTerms, RabitqCodec, Rotation, BATCH};
use stratavec::Metric;

const DIMS: [usize; 5] = [256, 384, 768, 784, 1536];

fn vector(rng: &mut Xoshiro256PlusPlus, d: usize) -> Vec<f32> {
    (0..d)
        .map(|_| (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum())
        .collect()
}

fn benches(c: &mut Criterion) {
    println!("active RaBitQ kernels: {}", kernels::active().name);
    let mut group = c.benchmark_group("rabitq");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    for dim in DIMS {
        let codec = RabitqCodec::new(dim, Metric::L2, 7).unwrap();
        let padded = codec.padded_dim();
        let x = vector(&mut rng, dim);
        let mut out = vec![0f32; padded];
        group.throughput(Throughput::Elements(1));
        for k in kernels::supported() {
            let rotate = black_box(k.rotate);
            group.bench_with_input(
                BenchmarkId::new(format!("rotate/{dim}"), k.name),
                &dim,
                |b, _| b.iter(|| rotate(codec.rotation(), black_box(&x), black_box(&mut out))),
            );
        }
        let pow2 = Rotation::with_padded_dim(dim, padded.next_power_of_two(), 7).unwrap();
        if pow2.padded_dim() != padded {
            let mut out2 = vec![0f32; pow2.padded_dim()];
            let rotate = black_box(kernels::active().rotate);
            group.bench_with_input(
                BenchmarkId::new(format!("rotate-pow2/{dim}"), kernels::active().name),
                &dim,
                |b, _| b.iter(|| rotate(&pow2, black_box(&x), black_box(&mut out2))),
            );
        }

        // One node (the centroid) and 64 neighbours in two batches.
        let centre = vector(&mut rng, dim);
        let c_rot = codec.rotate(&centre).unwrap();
        let rot: Vec<Vec<f32>> = (0..2 * BATCH)
            .map(|_| codec.rotate(&vector(&mut rng, dim)).unwrap())
            .collect();
        let bb = codec.batch_bytes();
        let mut block = vec![0u8; 2 * bb];
        for (i, chunk) in rot.chunks(BATCH).enumerate() {
            let refs: Vec<&[f32]> = chunk.iter().map(|v| v.as_slice()).collect();
            codec
                .pack_batch(&refs, &c_rot, &mut block[i * bb..(i + 1) * bb])
                .unwrap();
        }
        let q = vector(&mut rng, dim);
        group.bench_with_input(BenchmarkId::new("prepare", dim), &dim, |b, _| {
            b.iter(|| codec.prepare_query(black_box(&q)).unwrap())
        });
        let query = codec.prepare_query(&q).unwrap();
        let terms = CentroidTerms::exact(codec.space(), &q, &centre);
        let cb = fastscan::batch_code_bytes(padded);
        let mut sums = [0u32; BATCH];
        group.throughput(Throughput::Elements(BATCH as u64));
        for k in kernels::supported() {
            let fastscan = black_box(k.fastscan);
            group.bench_with_input(
                BenchmarkId::new(format!("fastscan32/{dim}"), k.name),
                &dim,
                |b, _| {
                    b.iter(|| {
                        fastscan(
                            black_box(&block[..cb]),
                            black_box(&query.lut.table),
                            &mut sums,
                        );
                        sums[0]
                    })
                },
            );
        }
        let (mut est, mut low) = ([0f32; 2 * BATCH], [0f32; 2 * BATCH]);
        let active = kernels::active();
        group.throughput(Throughput::Elements(2 * BATCH as u64));
        group.bench_with_input(BenchmarkId::new("block64", dim), &dim, |b, _| {
            b.iter(|| {
                codec.estimate_block(
                    active,
                    black_box(&block),
                    2,
                    &query,
                    terms,
                    1.9,
                    &mut est,
                    &mut low,
                );
                low[0]
            })
        });

        group.throughput(Throughput::Elements(1));
        let mut row = vec![0u8; binary::row_bytes(padded)];
        codec.encode_binary_row(&rot[0], &c_rot, &mut row).unwrap();
        for k in kernels::supported() {
            group.bench_with_input(
                BenchmarkId::new(format!("row1/{dim}"), k.name),
                &dim,
                |b, _| b.iter(|| codec.estimate_binary_row(k, black_box(&row), &query, terms, 1.9)),
            );
        }
        for bits in [2u32, 4, 8] {
            let mut ex = vec![0u8; extended::row_bytes(padded, bits)];
            codec.encode_ex_row(bits, &rot[0], &c_rot, &mut ex).unwrap();
            for k in kernels::supported() {
                group.bench_with_input(
                    BenchmarkId::new(format!("ex{bits}/{dim}"), k.name),
                    &dim,
                    |b, _| {
                        b.iter(|| {
                            codec.estimate_ex_row(k, bits, black_box(&ex), &query, terms, 1.9)
                        })
                    },
                );
            }
        }
    }
    group.finish();
}

criterion_group!(rabitq_benches, benches);
criterion_main!(rabitq_benches);
