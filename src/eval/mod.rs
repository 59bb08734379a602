//! Evaluation: exact ground truth, Recall@K, latency statistics and benchmark reports.
