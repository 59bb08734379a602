//! Latency percentiles and throughput, on an HDR histogram.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Significant decimal digits the histogram keeps: values are exact to 0.1 %.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Collects per-query latencies (in nanoseconds, 3 significant digits, any range).
///
/// Use one recorder per thread and [`merge`](Self::merge) them; recording is a few nanoseconds and
/// never allocates once the histogram has grown to the largest value seen.
#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        LatencyRecorder {
            histogram: Histogram::new(SIGNIFICANT_DIGITS)
                .expect("3 significant digits is a valid histogram precision"),
        }
    }

    /// Records one latency (saturating at `u64::MAX` nanoseconds, about 584 years).
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // `record` grows the histogram as needed (`saturating_record` would clamp instead).
        if self.histogram.record(nanos).is_err() {
            self.histogram.saturating_record(nanos);
        }
    }

    /// Adds everything `other` recorded to `self`.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        if self.histogram.add(&other.histogram).is_err() {
            // Unreachable with auto-resizing histograms; keep the counts anyway.
            for v in other.histogram.iter_recorded() {
                self.histogram
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    /// Number of latencies recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The summary, with throughput `count / wall_time` (the wall time of the whole run, which
    /// with several threads is shorter than the sum of the latencies).
    ///
    /// With nothing recorded every field is 0; with a zero `wall_time`, `qps` is 0.
    pub fn finish(&self, wall_time: Duration) -> LatencyStats {
        let h = &self.histogram;
        let count = h.len();
        if count == 0 {
            return LatencyStats::default();
        }
        let us = |nanos: u64| nanos as f64 / 1e3;
        let wall = wall_time.as_secs_f64();
        LatencyStats {
            count,
            mean_us: h.mean() / 1e3,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            qps: if wall > 0.0 { count as f64 / wall } else { 0.0 },
        }
    }
}

/// A latency summary in microseconds, and throughput in queries per second.
///
/// Percentiles are the histogram's upper bound of the bucket holding that rank, so they are within
/// 0.1 % of the true value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Number of latencies recorded.
    pub count: u64,
    /// Mean latency.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest latency.
    pub max_us: f64,
    /// Queries per second over the wall time given to [`LatencyRecorder::finish`].
    pub qps: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= want * 2e-3
    }

    #[test]
    fn percentiles_of_1_to_1000_us() {
        let mut r = LatencyRecorder::new();
        for us in (1..=1000).rev() {
            r.record(Duration::from_micros(us));
        }
        let s = r.finish(Duration::from_secs(2));
        assert_eq!(s.count, 1000);
        assert!(close(s.p50_us, 500.0), "{s:?}");
        assert!(close(s.p90_us, 900.0), "{s:?}");
        assert!(close(s.p99_us, 990.0), "{s:?}");
        assert!(close(s.p999_us, 999.0), "{s:?}");
        assert!(close(s.max_us, 1000.0), "{s:?}");
        assert!(close(s.mean_us, 500.5), "{s:?}");
        assert_eq!(s.qps, 500.0);
    }

    #[test]
    fn merge_equals_recording_everything() {
        let mut a = LatencyRecorder::new();
        let mut b = LatencyRecorder::default();
        let mut all = LatencyRecorder::new();
        for us in 1..=500u64 {
            a.record(Duration::from_micros(us));
            all.record(Duration::from_micros(us));
        }
        for ms in 1..=100u64 {
            b.record(Duration::from_millis(ms));
            all.record(Duration::from_millis(ms));
        }
        a.merge(&b);
        assert_eq!(a.count(), 600);
        let wall = Duration::from_millis(300);
        assert_eq!(a.finish(wall), all.finish(wall));
    }

    #[test]
    fn empty_and_zero_wall_time() {
        let r = LatencyRecorder::new();
        assert_eq!(r.finish(Duration::from_secs(1)), LatencyStats::default());
        let mut r = LatencyRecorder::new();
        r.record(Duration::ZERO);
        r.record(Duration::from_secs(3600));
        let s = r.finish(Duration::ZERO);
        assert_eq!(s.qps, 0.0);
        assert!(close(s.max_us, 3.6e9));
    }

    #[test]
    fn serde_round_trip() {
        let mut r = LatencyRecorder::new();
        r.record(Duration::from_micros(42));
        let s = r.finish(Duration::from_millis(1));
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"p999_us\""));
        assert_eq!(serde_json::from_str::<LatencyStats>(&json).unwrap(), s);
    }
}
