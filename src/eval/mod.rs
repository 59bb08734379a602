//! Evaluation: exact ground truth, Recall@K, latency statistics and benchmark reports.
//!
//! ```
//! use stratavec::eval::{ground_truth, recall_at_k};
//! use stratavec::Metric;
//!
//! let base = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let queries = [0.9, 0.1];
//! let truth = ground_truth(&base, &queries, 2, 2, Metric::L2)?;
//! // Rows 0 and 3 are equally far (0.82): the lower index wins the tie.
//! assert_eq!(truth.row(0), &[1, 0]);
//! assert_eq!(recall_at_k(&[vec![1u64, 3]], &truth, 2)?, 0.5);
//! # Ok::<(), stratavec::Error>(())
//! ```
//!
//! This module uses only the crate's public API.

mod bench;
mod filters;
mod ground_truth;
mod latency;
mod recall;
mod report;
mod table;

pub use bench::{
    bench_opened_index, keeps, peak_resident_bytes, resident_bytes, run_bench, thread_cpu_time,
    BenchProgress, BenchSpec, OpenInfo, DEFAULT_EFS,
};
pub use filters::{bench_filters, bench_payloads, small_fields, FilterCase};
pub use ground_truth::{ground_truth, ground_truth_filtered};
pub use latency::{LatencyRecorder, LatencyStats};
pub use recall::{recall_at_k, recall_per_query};
pub use report::{
    BenchConfig, BenchReport, BenchResult, DatasetInfo, LatencyPercentiles, MachineInfo,
    MemoryBreakdown, WorkPerQuery,
};
pub use table::{render_grid, render_table, TableStyle};

/// The QPS a recall-vs-QPS sweep reaches at recall `target`, by linear interpolation.
///
/// `points` are `(recall, qps)` pairs in any order (points with a NaN are ignored); they are
/// sorted by recall. The answer interpolates linearly between the last point below `target` and
/// the first point at or above it. When the lowest recall is already at or above `target`, it is
/// the QPS of that point (among points of equal recall, the highest QPS). Returns `None` when no
/// point reaches `target`, or when `target` is NaN.
pub fn interpolate_qps_at_recall(points: &[(f64, f64)], target: f64) -> Option<f64> {
    if target.is_nan() {
        return None;
    }
    let mut sorted: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(r, q)| !r.is_nan() && !q.is_nan())
        .collect();
    // By recall, and among equal recalls the fastest first.
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let hi = sorted.iter().position(|&(r, _)| r >= target)?;
    let (r1, q1) = sorted[hi];
    if hi == 0 || r1 == target {
        return Some(q1);
    }
    let (r0, q0) = sorted[hi - 1];
    Some(q0 + (target - r0) / (r1 - r0) * (q1 - q0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation() {
        let sweep = [
            (0.95, 1000.0),
            (0.80, 3000.0),
            (0.99, 200.0),
            (0.90, 2000.0),
        ];
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(interpolate_qps_at_recall(&sweep, 0.90), 2000.0));
        assert!(close(interpolate_qps_at_recall(&sweep, 0.85), 2500.0));
        assert!(close(interpolate_qps_at_recall(&sweep, 0.97), 600.0));
        assert!(close(interpolate_qps_at_recall(&sweep, 0.99), 200.0));
        // Below the whole sweep: the lowest point.
        assert!(close(interpolate_qps_at_recall(&sweep, 0.5), 3000.0));
        assert_eq!(interpolate_qps_at_recall(&sweep, 0.995), None);
        assert_eq!(interpolate_qps_at_recall(&[], 0.9), None);
        assert_eq!(interpolate_qps_at_recall(&sweep, f64::NAN), None);
        // Equal recalls: the faster one counts.
        let flat = [(0.9, 100.0), (0.9, 300.0), (0.8, 500.0)];
        assert!(close(interpolate_qps_at_recall(&flat, 0.9), 300.0));
        assert!(close(interpolate_qps_at_recall(&flat, 0.85), 400.0));
    }

    // --- Real datasets. ---

    /// Our ground truth against the shipped one: same ids, or (for ties in the data) the same
    /// distance at that rank.
    fn check_dataset(name: &str, k: usize) {
        let dir = crate::data::datasets_dir().join(name);
        if !dir.join("base.fvecs").is_file() {
            println!(
                "skipping: dataset {} not found (set STRATAVEC_DATASETS)",
                dir.display()
            );
            return;
        }
        let data = crate::data::Dataset::load_texmex(&dir).unwrap();
        let metric = data.metric.unwrap();
        let dim = data.dim();
        let (base, queries) = (data.base.as_slice(), data.queries.as_slice());
        let shipped = data.ground_truth.unwrap();
        let start = std::time::Instant::now();
        let ours = ground_truth(base, queries, dim, k, metric).unwrap();
        println!(
            "{name}: ground truth of {} × {dim} base, {} queries, k = {k}, {metric}: {:.3} s on {} threads",
            base.len() / dim,
            queries.len() / dim,
            start.elapsed().as_secs_f64(),
            rayon::current_num_threads()
        );
        assert_eq!(ours.len(), shipped.len());
        let row = |i: usize| &base[i * dim..(i + 1) * dim];
        let mut differing = 0;
        for qi in 0..ours.len() {
            let q = &queries[qi * dim..(qi + 1) * dim];
            for (j, (&a, &b)) in ours.row(qi).iter().zip(&shipped.row(qi)[..k]).enumerate() {
                if a != b {
                    differing += 1;
                    let da = metric.distance(q, row(a as usize));
                    let db = metric.distance(q, row(b as usize));
                    assert!(
                        (da - db).abs() <= 1e-5 * da.abs().max(db.abs()).max(1e-3),
                        "{name} query {qi} rank {j}: ours {a} at {da}, shipped {b} at {db}"
                    );
                }
            }
        }
        println!("{name}: {differing} ids differ from the shipped ground truth, all at ties");
        let found: Vec<Vec<u64>> = (0..ours.len())
            .map(|i| ours.row(i).iter().map(|&x| u64::from(x)).collect())
            .collect();
        assert!(recall_at_k(&found, &shipped, k).unwrap() > 0.999);
    }

    #[test]
    fn digits_matches_shipped_ground_truth() {
        check_dataset("digits-64-l2", 10);
    }

    /// Release-mode timing: `cargo test --release --lib eval -- --ignored --nocapture`.
    #[test]
    #[ignore = "large; run in release mode"]
    fn wordllama_matches_shipped_ground_truth() {
        check_dataset("wordllama-sent-256-ip", 100);
    }

    #[test]
    #[ignore = "large; run in release mode"]
    fn mnist_and_wordpiece_match_shipped_ground_truth() {
        check_dataset("mnist-784-l2", 100);
        check_dataset("wordpiece-384-l2", 100);
    }
}
