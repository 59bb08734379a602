//! Recall targets on a collection that drifts (issue 17): the Recall@10 a target gets on the real
//! queries of a dataset, before and after the collection took 30 % deletes and 30 % new rows
//! without compaction, with the live quality monitor measuring (and correcting) it.
//!
//! ```text
//! cargo run --release --example recall_drift -- --dataset ../shared/datasets/wordllama-sent-256-ip
//!     [--quant none|sq8|sq4] [--targets 0.9,0.95,0.99] [--sample-rate 0.05] [--share 1.0]
//!     [--batch 1000] [--queries 1000] [--passes 3] [--monitor-cost 0]
//! ```
//!
//! 1. Upserts the first 70 % of the base rows in batches of `--batch` and flushes (one sealed
//!    segment, calibrated when sealed).
//! 2. Starts the monitor and searches every query once per target: achieved recall against the
//!    exact neighbours among the live rows, the mean beam, the monitor's estimate.
//! 3. Deletes a seeded 30 % of those rows and upserts 30 % more rows (the next base rows) in
//!    batches, without compaction (they stay in the in-memory segment).
//! 4. Searches every query `--passes` times per target; between passes the monitor's thread
//!    finishes its queue (and its corrections), so later passes run with them.
//!
//! With `--monitor-cost R` (R > 0), step 2 first measures what the monitor costs at its default
//! rate (1 in 1,000, 2 % of a core, corrections off so both sides search with the same beams):
//! R rounds of one pass at the first target without the monitor and one with it, and the ratio
//! of the median QPS. Run it on a quiet machine.
//!
//! Every number is computed here against exact ground truth; nothing is assumed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use stratavec::data::Dataset;
use stratavec::eval::ground_truth;
use stratavec::{
    Collection, CollectionOptions, Durability, Layout, Metric, QualityOptions, Quantization,
    SearchParams, SearchStats,
};

struct Args {
    dataset: String,
    quant: Quantization,
    targets: Vec<f64>,
    sample_rate: f64,
    share: f64,
    batch: usize,
    queries: usize,
    passes: usize,
    monitor_cost: usize,
}

fn args() -> Args {
    let mut a = Args {
        dataset: String::new(),
        quant: Quantization::None,
        targets: vec![0.9, 0.95, 0.99],
        sample_rate: 0.05,
        share: 1.0,
        batch: 1000,
        queries: usize::MAX,
        passes: 3,
        monitor_cost: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--dataset" => a.dataset = value,
            "--quant" => a.quant = value.parse().expect("--quant"),
            "--targets" => {
                a.targets = value
                    .split(',')
                    .map(|t| t.parse().expect("--targets"))
                    .collect()
            }
            "--sample-rate" => a.sample_rate = value.parse().expect("--sample-rate"),
            "--share" => a.share = value.parse().expect("--share"),
            "--batch" => a.batch = value.parse().expect("--batch"),
            "--queries" => a.queries = value.parse().expect("--queries"),
            "--passes" => a.passes = value.parse().expect("--passes"),
            "--monitor-cost" => a.monitor_cost = value.parse().expect("--monitor-cost"),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!a.dataset.is_empty(), "--dataset DIR is required");
    a
}

/// The exact 10 nearest live ids of every query.
fn truth(data: &Dataset, live: &[u64], queries: &[f32], metric: Metric) -> Vec<Vec<u64>> {
    let dim = data.dim();
    let rows: Vec<f32> = live
        .iter()
        .flat_map(|&id| data.base.row(id as usize).iter().copied())
        .collect();
    let gt = ground_truth(&rows, queries, dim, 10, metric).expect("ground truth");
    (0..queries.len() / dim)
        .map(|q| gt.row(q).iter().map(|&r| live[r as usize]).collect())
        .collect()
}

/// One pass of every query with `target`: achieved Recall@10, mean beam per segment search, QPS.
fn pass(
    col: &Collection,
    queries: &[f32],
    dim: usize,
    truth: &[Vec<u64>],
    target: f64,
) -> (f64, f64, f64) {
    let stats = SearchStats::new();
    let params = SearchParams::new(10).target_recall(target).stats(&stats);
    let started = Instant::now();
    let mut hit = 0usize;
    for (q, t) in queries.chunks_exact(dim).zip(truth) {
        let found = col.search_with(q, &params).expect("search");
        hit += found.iter().filter(|n| t.contains(&n.id)).count();
    }
    let secs = started.elapsed().as_secs_f64();
    let c = stats.counts();
    (
        hit as f64 / (10 * truth.len()) as f64,
        c.beam_sum as f64 / c.queries.max(1) as f64,
        truth.len() as f64 / secs,
    )
}

fn settle(col: &Collection) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while col.quality().is_some_and(|q| q.pending > 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn print_quality(col: &Collection) {
    let Some(q) = col.quality() else { return };
    println!(
        "  monitor: {} searches, {} sampled, {} measured, {} dropped; latency p50 {:.0} µs p99 {:.0} µs; deleted {:.1} %{}",
        q.searches,
        q.sampled,
        q.measured,
        q.dropped,
        q.latency_us.p50,
        q.latency_us.p99,
        100.0 * q.deleted_fraction,
        if q.suggest_compaction { "; suggests compaction" } else { "" }
    );
    for t in &q.targets {
        println!(
            "  monitor target {:?}: {} samples, recall {:.4} [{:.4}, {:.4}], mean beam {:.1}, factor ×{:.2}, {} corrections",
            t.target, t.samples, t.recall, t.low, t.high, t.mean_beam, t.beam_factor, t.corrections
        );
    }
    for e in &q.events {
        println!("  event: {e}");
    }
}

/// QPS of `rounds` passes at `target` without the monitor and with it at its default options
/// (corrections off, so both search with the same beams), alternating; prints the medians.
fn monitor_cost(
    col: &Collection,
    queries: &[f32],
    dim: usize,
    truth: &[Vec<u64>],
    target: f64,
    rounds: usize,
) {
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        col.stop_monitor();
        off.push(pass(col, queries, dim, truth, target).2);
        col.monitor(QualityOptions {
            correct: false,
            ..QualityOptions::default()
        })
        .expect("monitor");
        on.push(pass(col, queries, dim, truth, target).2);
    }
    col.stop_monitor();
    let (off, on) = (median(&mut off), median(&mut on));
    println!(
        "monitor cost, target {target}, {rounds} rounds: {off:.0} QPS without, {on:.0} with the \
         default monitor ({:+.2} %)",
        100.0 * (on / off - 1.0)
    );
}

fn main() {
    let a = args();
    let data = Dataset::load_texmex(std::path::Path::new(&a.dataset)).expect("dataset");
    let metric = data.metric.unwrap_or(Metric::L2);
    let dim = data.dim();
    let n = data.base.len();
    let n0 = n * 7 / 10;
    let added = (n0 * 3 / 10).min(n - n0);
    let nq = a.queries.min(data.queries.len());
    let queries = &data.queries.as_slice()[..nq * dim];
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut options = CollectionOptions::new(dim, metric);
    options.index.quantization = a.quant;
    options.index.layout = Layout::Compact;
    options.durability = Durability::Buffered;
    options.seal_rows = n + 1;
    options.compact_deleted_fraction = None;
    let col = Collection::open(dir.path(), options).expect("collection");
    let upsert = |ids: &[u64]| {
        for chunk in ids.chunks(a.batch) {
            let rows: Vec<f32> = chunk
                .iter()
                .flat_map(|&id| data.base.row(id as usize).iter().copied())
                .collect();
            col.upsert_batch(chunk, &rows).expect("upsert");
        }
    };
    let initial: Vec<u64> = (0..n0 as u64).collect();
    let started = Instant::now();
    upsert(&initial);
    col.flush().expect("flush");
    println!(
        "{}: {n0} rows upserted and sealed in {:.1} s ({}), {nq} queries",
        data.name,
        started.elapsed().as_secs_f64(),
        a.quant
    );
    let before = truth(&data, &initial, queries, metric);
    if a.monitor_cost > 0 {
        monitor_cost(&col, queries, dim, &before, a.targets[0], a.monitor_cost);
    }
    col.monitor(QualityOptions {
        sample_rate: a.sample_rate,
        max_cpu_share: a.share,
        ..QualityOptions::default()
    })
    .expect("monitor");
    for &t in &a.targets {
        let (recall, beam, qps) = pass(&col, queries, dim, &before, t);
        println!(
            "before drift, target {t}: achieved {recall:.4} (mean beam {beam:.1}, {qps:.0} QPS)"
        );
    }
    settle(&col);
    print_quality(&col);

    // 30 % deletes and 30 % new rows, no compaction.
    let mut deleted: Vec<u64> = initial
        .iter()
        .copied()
        .filter(|&id| {
            id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32 < (0.3 * (1u64 << 32) as f64) as u64
        })
        .collect();
    deleted.truncate(n0 * 3 / 10);
    col.delete_batch(&deleted).expect("delete");
    let new: Vec<u64> = (n0 as u64..(n0 + added) as u64).collect();
    upsert(&new);
    let gone: HashSet<u64> = deleted.iter().copied().collect();
    let live: Vec<u64> = initial
        .iter()
        .copied()
        .filter(|id| !gone.contains(id))
        .chain(new.iter().copied())
        .collect();
    println!(
        "drift: {} deleted, {} added ({} live); stats {:?}",
        deleted.len(),
        new.len(),
        live.len(),
        {
            let s = col.stats();
            (s.live, s.deleted, s.segments, s.unsealed)
        }
    );
    let after = truth(&data, &live, queries, metric);
    for p in 0..a.passes {
        for &t in &a.targets {
            let (recall, beam, qps) = pass(&col, queries, dim, &after, t);
            println!(
                "after drift, pass {p}, target {t}: achieved {recall:.4} (mean beam {beam:.1}, {qps:.0} QPS)"
            );
        }
        settle(&col);
        print_quality(&col);
    }
}
