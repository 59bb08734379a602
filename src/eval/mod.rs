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
mod ground_truth;
mod latency;
mod recall;
mod report;

pub use bench::{
    peak_resident_bytes, resident_bytes, run_bench, BenchProgress, BenchSpec, DEFAULT_EFS,
};
pub use ground_truth::{ground_truth, ground_truth_filtered};
pub use latency::{LatencyRecorder, LatencyStats};
pub use recall::{recall_at_k, recall_per_query};
pub use report::{
    render_table, BenchConfig, BenchReport, BenchResult, DatasetInfo, LatencyPercentiles,
    MachineInfo, MemoryBreakdown, TableStyle, WorkPerQuery,
};

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
    use crate::data::Matrix;
    use crate::Metric;
    use std::path::{Path, PathBuf};

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

    // --- Real datasets: a tiny TEXMEX reader, so these tests do not depend on `data`. ---

    /// `$STRATAVEC_DATASETS`, else the first `shared/datasets` folder beside the crate or one of its
    /// ancestors (`../shared/datasets` in the main checkout, `../../shared/datasets` in a worktree).
    fn datasets_dir() -> Option<PathBuf> {
        let dir = match std::env::var_os("STRATAVEC_DATASETS") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .skip(1)
                .map(|a| a.join("shared/datasets"))
                .find(|d| d.is_dir()),
        };
        match dir {
            Some(dir) if dir.is_dir() => Some(dir),
            _ => {
                println!("skipping: datasets folder not found (set STRATAVEC_DATASETS)");
                None
            }
        }
    }

    /// Rows of a `.fvecs`/`.ivecs` file as raw little-endian 4-byte words, and the dimension.
    fn read_vecs(path: &Path) -> (usize, Vec<[u8; 4]>) {
        let bytes = std::fs::read(path).unwrap();
        let words: Vec<[u8; 4]> = bytes
            .chunks_exact(4)
            .map(|w| w.try_into().unwrap())
            .collect();
        let dim = i32::from_le_bytes(words[0]) as usize;
        assert_eq!(words.len() % (dim + 1), 0, "{}", path.display());
        let mut data = Vec::with_capacity(words.len() / (dim + 1) * dim);
        for row in words.chunks_exact(dim + 1) {
            assert_eq!(i32::from_le_bytes(row[0]) as usize, dim);
            data.extend_from_slice(&row[1..]);
        }
        (dim, data)
    }

    fn read_fvecs(path: &Path) -> (usize, Vec<f32>) {
        let (dim, w) = read_vecs(path);
        (dim, w.into_iter().map(f32::from_le_bytes).collect())
    }

    fn read_ivecs(path: &Path) -> Matrix<u32> {
        let (dim, w) = read_vecs(path);
        let ids = w
            .into_iter()
            .map(|x| i32::from_le_bytes(x) as u32)
            .collect();
        Matrix::from_vec(dim, ids).unwrap()
    }

    /// Our ground truth against the shipped one: same ids, or (for ties in the data) the same
    /// distance at that rank.
    fn check_dataset(name: &str, k: usize) {
        let Some(root) = datasets_dir() else { return };
        let dir = root.join(name);
        if !dir.is_dir() {
            println!("skipping: {} not found", dir.display());
            return;
        }
        let metric: Metric = std::fs::read_to_string(dir.join("METRIC"))
            .unwrap()
            .parse()
            .unwrap();
        let (dim, base) = read_fvecs(&dir.join("base.fvecs"));
        let (qdim, queries) = read_fvecs(&dir.join("query.fvecs"));
        assert_eq!(dim, qdim);
        let shipped = read_ivecs(&dir.join("groundtruth.ivecs"));
        let start = std::time::Instant::now();
        let ours = ground_truth(&base, &queries, dim, k, metric).unwrap();
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
