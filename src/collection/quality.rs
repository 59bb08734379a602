//! Live quality monitoring of a collection (issue 17): Recall@k measured continuously on the
//! real queries, off the query path.
//!
//! With [`Collection::monitor`] on, every search is timed into a latency histogram and a seeded
//! fraction of them (1 in 1,000 by default) is copied — query, parameters, the ids returned, the
//! collection's state — into a small queue. A background thread takes them one at a time,
//! recomputes each exactly over that state (every segment scanned, deletes skipped), and keeps,
//! per recall target (and one group for searches that gave a beam), a rolling window of the
//! measured Recall@k with a confidence interval. The thread holds itself to a CPU share: after
//! each piece of work it sleeps long enough that its busy time stays below
//! [`QualityOptions::max_cpu_share`] of one core; samples that find the queue full are dropped
//! (and counted), so searches never wait for it.
//!
//! When a target's interval lies wholly below the target (or more than 0.01 above it) on at
//! least [`QualityOptions::min_samples`] samples, the thread corrects the calibration for that
//! target: it replays the window's most recent queries at a ladder of beam factors (the beam
//! each segment's calibration gives, times the factor) against their exact neighbours, and
//! keeps the smallest factor whose measured recall reaches the target. Searches with that target
//! use it from then on; the report says so, and suggests a compaction when a tenth or more of
//! the stored rows are deleted (a graph walked through many tombstones is what drifts).
//! `docs/recall-target.md` has the measurements.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use super::{bounded, merge_top_k, state_stats, Collection, State};
use crate::base::hash::{splitmix64, unit};
use crate::base::options::Neighbor;
use crate::error::{Error, Result};
use crate::index::SearchParams;
use crate::rerank::Rerank;

/// Fraction of searches a monitor samples by default.
pub(crate) const DEFAULT_SAMPLE_RATE: f64 = 0.001;
/// Share of one core a monitor's thread may use by default.
pub(crate) const DEFAULT_MAX_CPU_SHARE: f64 = 0.02;
/// Samples of each target's rolling window by default.
pub(crate) const DEFAULT_WINDOW: usize = 1000;
/// Samples a target needs before its calibration is corrected, by default.
pub(crate) const DEFAULT_MIN_SAMPLES: usize = 200;
/// The two-sided normal quantile of the 95 % confidence intervals.
const Z95: f64 = 1.959_964;
/// Samples waiting for the thread; more are dropped.
const QUEUE: usize = 64;
/// The most recent samples of a window replayed to correct a target.
const REPLAY: usize = 300;
/// The beam factors a correction tries, ascending.
const FACTORS: [f64; 20] = [
    0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0, 2.4, 2.8, 3.4, 4.0, 4.8, 5.6, 6.7, 8.0,
    11.0, 16.0,
];
/// Above the target by more than this (the interval's low end), a target's beams are narrowed.
const ABOVE: f64 = 0.01;
/// Deleted share of the stored rows past which a drift suggests compaction.
const COMPACT_HINT: f64 = 0.1;
/// Correction notes the report keeps.
const EVENTS: usize = 16;

/// How a collection's live quality monitor samples ([`Collection::monitor`]).
#[derive(Clone, Debug, PartialEq)]
pub struct QualityOptions {
    /// Fraction of searches sampled, in (0, 1] (default 1 in 1,000).
    pub sample_rate: f64,
    /// Share of one core the background thread may use, in (0, 1] (default 0.02): it sleeps
    /// after each exact recomputation so that its busy time stays below it.
    pub max_cpu_share: f64,
    /// Samples kept per target for the rolling estimate (default 1,000).
    pub window: usize,
    /// Samples a target needs before a drift corrects its beams (default 200).
    pub min_samples: usize,
    /// Whether drifts correct the beams (default `true`); `false` only measures.
    pub correct: bool,
    /// Seed of the sampling (which searches are sampled).
    pub seed: u64,
}

impl Default for QualityOptions {
    fn default() -> Self {
        QualityOptions {
            sample_rate: DEFAULT_SAMPLE_RATE,
            max_cpu_share: DEFAULT_MAX_CPU_SHARE,
            window: DEFAULT_WINDOW,
            min_samples: DEFAULT_MIN_SAMPLES,
            correct: true,
            seed: 0x51A7_E5C0,
        }
    }
}

impl QualityOptions {
    fn check(&self) -> Result<()> {
        let fraction = |v: f64| v > 0.0 && v <= 1.0;
        if !fraction(self.sample_rate) {
            return Err(Error::invalid_parameter(
                "sample_rate",
                format!("must be in (0, 1], got {}", self.sample_rate),
            ));
        }
        if !fraction(self.max_cpu_share) {
            return Err(Error::invalid_parameter(
                "max_cpu_share",
                format!("must be in (0, 1], got {}", self.max_cpu_share),
            ));
        }
        if self.window == 0 || self.min_samples == 0 || self.min_samples > self.window {
            return Err(Error::invalid_parameter(
                "window",
                format!(
                    "window ({}) and min_samples ({}) must be at least 1, min_samples at most \
                     the window",
                    self.window, self.min_samples
                ),
            ));
        }
        Ok(())
    }
}

/// What a collection's monitor has measured ([`Collection::quality`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QualityReport {
    /// Searches seen since monitoring started.
    pub searches: u64,
    /// Searches sampled (drawn at the sample rate).
    pub sampled: u64,
    /// Samples recomputed exactly.
    pub measured: u64,
    /// Samples not measured: the queue was full (the CPU budget), or the search had a filter or
    /// a custom reranker (which cannot be replayed away from the query).
    pub dropped: u64,
    /// Samples waiting in the queue.
    pub pending: usize,
    /// Latency of every search seen, in microseconds.
    pub latency_us: QualityLatency,
    /// One entry per recall target searched for (and one, with `target: None`, for the
    /// searches that gave a beam).
    pub targets: Vec<TargetQuality>,
    /// Deleted (or superseded) share of the stored rows at the last sample.
    pub deleted_fraction: f64,
    /// Whether a drift was seen while a tenth or more of the stored rows were deleted:
    /// [`Collection::compact`] rebuilds the graph without them.
    pub suggest_compaction: bool,
    /// The last corrections, in words, oldest first.
    pub events: Vec<String>,
}

/// Latency percentiles of a [`QualityReport`], in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct QualityLatency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// The slowest.
    pub max: f64,
}

/// The measured quality of the searches with one recall target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetQuality {
    /// The target (`None`: searches that gave `ef`, or neither).
    pub target: Option<f64>,
    /// Samples in the window (measured since the last correction).
    pub samples: usize,
    /// Their mean Recall@k.
    pub recall: f64,
    /// The 95 % confidence interval of the mean: the normal interval of the samples' variance,
    /// never narrower than the Wilson score interval of their neighbours taken one by one.
    pub low: f64,
    /// Its upper end.
    pub high: f64,
    /// The mean beam the samples' segments searched with.
    pub mean_beam: f64,
    /// The correction in force: each segment's calibrated beam is multiplied by it (1 when
    /// never corrected).
    pub beam_factor: f64,
    /// How many times the calibration was corrected for this target.
    pub corrections: u32,
}

/// How a sampled search reranked (filters and custom rerankers are not sampled).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rerank2 {
    Auto,
    Exact,
    None,
}

/// One sampled search.
struct Sample {
    state: Arc<State>,
    query: Vec<f32>,
    k: usize,
    target: Option<f64>,
    ef: Option<usize>,
    oversample: Option<usize>,
    rerank: Rerank2,
    found: Vec<u64>,
}

impl Sample {
    fn params(&self) -> SearchParams<'static> {
        let mut p = SearchParams::new(self.k).rerank(match self.rerank {
            Rerank2::Auto => Rerank::Auto,
            Rerank2::Exact => Rerank::Exact,
            Rerank2::None => Rerank::None,
        });
        p.ef = self.ef;
        p.oversample = self.oversample;
        p.target_recall = self.target;
        p
    }
}

/// A measured sample kept in a window (its query, for replays).
struct Measured {
    recall: f64,
    beam: f64,
    /// The narrowest beam its searches can use (k, or the reranked pool).
    floor: f64,
    query: Vec<f32>,
    k: usize,
    oversample: Option<usize>,
    rerank: Rerank2,
}

/// The window and correction of one target.
struct TargetState {
    target: Option<f64>,
    window: VecDeque<Measured>,
    factor: f64,
    corrections: u32,
}

/// What the searches and the thread share.
struct Shared {
    options: QualityOptions,
    latency: Mutex<Histogram<u64>>,
    searches: AtomicU64,
    sampled: AtomicU64,
    measured: AtomicU64,
    dropped: AtomicU64,
    pending: AtomicUsize,
    /// The beam factor of each corrected target (read by every search with a target).
    factors: RwLock<Vec<(f64, f64)>>,
    targets: Mutex<Vec<TargetState>>,
    deleted_fraction: Mutex<f64>,
    suggest_compaction: Mutex<bool>,
    events: Mutex<VecDeque<String>>,
}

/// A collection's running monitor: the queue to its thread and what they share. Dropping it
/// closes the queue; the thread ends after the sample it is on.
pub(super) struct Monitor {
    tx: SyncSender<Sample>,
    shared: Arc<Shared>,
}

impl Monitor {
    fn start(options: QualityOptions) -> Result<Monitor> {
        options.check()?;
        let (tx, rx) = sync_channel(QUEUE);
        let shared = Arc::new(Shared {
            latency: Mutex::new(
                Histogram::new(3).expect("3 significant digits is a valid histogram precision"),
            ),
            searches: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            measured: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            factors: RwLock::new(Vec::new()),
            targets: Mutex::new(Vec::new()),
            deleted_fraction: Mutex::new(0.0),
            suggest_compaction: Mutex::new(false),
            events: Mutex::new(VecDeque::new()),
            options,
        });
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("stratavec-quality".into())
            .spawn(move || run(&thread_shared, rx))
            .map_err(|e| Error::io("<quality monitor thread>", e))?;
        Ok(Monitor { tx, shared })
    }

    /// The beam factor in force for `target`.
    fn factor(&self, target: Option<f64>) -> f64 {
        self.shared.factor_of(target)
    }

    /// Times a search and maybe samples it (never blocks: a full queue drops the sample).
    fn observe(
        &self,
        state: &Arc<State>,
        query: &[f32],
        params: &SearchParams<'_>,
        hits: &[Neighbor],
        elapsed: Duration,
    ) {
        let sh = &self.shared;
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        {
            let mut h = sh.latency.lock();
            if h.record(micros).is_err() {
                h.saturating_record(micros);
            }
        }
        let n = sh.searches.fetch_add(1, Ordering::Relaxed);
        if unit(splitmix64(sh.options.seed ^ n)) >= sh.options.sample_rate {
            return;
        }
        sh.sampled.fetch_add(1, Ordering::Relaxed);
        let rerank = match params.rerank {
            Rerank::Auto => Some(Rerank2::Auto),
            Rerank::Exact => Some(Rerank2::Exact),
            Rerank::None => Some(Rerank2::None),
            Rerank::Custom(_) => None,
        };
        let (Some(rerank), None) = (rerank, params.filter) else {
            sh.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let sample = Sample {
            state: state.clone(),
            query: query.to_vec(),
            k: params.k,
            target: params.target_recall,
            ef: params.ef,
            oversample: params.oversample,
            rerank,
            found: hits.iter().map(|h| h.id).collect(),
        };
        sh.pending.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(sample)
        {
            sh.pending.fetch_sub(1, Ordering::Relaxed);
            sh.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn report(&self) -> QualityReport {
        let sh = &self.shared;
        let latency = {
            let h = sh.latency.lock();
            if h.is_empty() {
                QualityLatency::default()
            } else {
                let q = |p: f64| h.value_at_quantile(p) as f64;
                QualityLatency {
                    p50: q(0.5),
                    p90: q(0.9),
                    p99: q(0.99),
                    p999: q(0.999),
                    max: h.max() as f64,
                }
            }
        };
        let targets = sh
            .targets
            .lock()
            .iter()
            .map(|t| {
                let n = t.window.len();
                let recall = mean(t.window.iter().map(|m| m.recall));
                let (low, high) = interval(t.window.iter().map(|m| (m.recall, m.k)));
                TargetQuality {
                    target: t.target,
                    samples: n,
                    recall,
                    low,
                    high,
                    mean_beam: mean(t.window.iter().map(|m| m.beam)),
                    beam_factor: t.factor,
                    corrections: t.corrections,
                }
            })
            .collect();
        QualityReport {
            searches: sh.searches.load(Ordering::Relaxed),
            sampled: sh.sampled.load(Ordering::Relaxed),
            measured: sh.measured.load(Ordering::Relaxed),
            dropped: sh.dropped.load(Ordering::Relaxed),
            pending: sh.pending.load(Ordering::Relaxed),
            latency_us: latency,
            targets,
            deleted_fraction: *sh.deleted_fraction.lock(),
            suggest_compaction: *sh.suggest_compaction.lock(),
            events: sh.events.lock().iter().cloned().collect(),
        }
    }
}

/// The mean of `values` (0 when empty).
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The 95 % confidence interval of the mean Recall@k of a window: the normal interval of the
/// samples' own variance, widened where needed to the Wilson score interval of their `n × k`
/// neighbours taken as independent trials (which a window of all-equal samples would otherwise
/// shrink to a point; neighbours of one query are found or missed together more often than
/// not, so that interval is the narrower one in practice). `(0, 1)` for no samples.
fn interval(recalls: impl Iterator<Item = (f64, usize)> + Clone) -> (f64, f64) {
    let n = recalls.clone().count();
    if n == 0 {
        return (0.0, 1.0);
    }
    let p = mean(recalls.clone().map(|(r, _)| r));
    let var = recalls.clone().map(|(r, _)| (r - p) * (r - p)).sum::<f64>() / (n.max(2) - 1) as f64;
    let half = Z95 * (var / n as f64).sqrt();
    let trials: usize = recalls.map(|(_, k)| k.max(1)).sum();
    let (low, high) = wilson(p, trials);
    ((p - half).min(low).max(0.0), (p + half).max(high).min(1.0))
}

/// The 95 % Wilson score interval of a proportion `p` of `n` trials; `(0, 1)` for none.
pub(crate) fn wilson(p: f64, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The monitor's thread: measures the samples one at a time, sleeping to hold its CPU share.
fn run(sh: &Shared, rx: Receiver<Sample>) {
    while let Ok(sample) = rx.recv() {
        let started = Instant::now();
        // A sample whose exact search fails (it cannot: it was searched already) is skipped.
        let _ = sh.measure(sample);
        sh.pending.fetch_sub(1, Ordering::Relaxed);
        let busy = started.elapsed();
        let share = sh.options.max_cpu_share;
        if share < 1.0 {
            std::thread::sleep(busy.mul_f64((1.0 - share) / share));
        }
    }
}

impl Shared {
    /// Recomputes one sample exactly, adds it to its target's window, and corrects the target
    /// when its interval left the target.
    fn measure(&self, sample: Sample) -> Result<()> {
        let truth = exact_top_k(&sample.state, &sample.query, sample.k)?;
        let recall = recall_of(&sample.found, &truth);
        let params = sample.params();
        let factor = self.factor_of(sample.target);
        let beam = mean_beam(&sample.state, &params, factor);
        let floor = mean_beam(&sample.state, &params, f64::MIN_POSITIVE);
        let stats = state_stats(&sample.state);
        let stored = (stats.live + stats.deleted).max(1);
        let deleted = stats.deleted as f64 / stored as f64;
        *self.deleted_fraction.lock() = deleted;
        self.measured.fetch_add(1, Ordering::Relaxed);
        let drift = {
            let mut targets = self.targets.lock();
            let at = match targets.iter().position(|t| t.target == sample.target) {
                Some(at) => at,
                None => {
                    targets.push(TargetState {
                        target: sample.target,
                        window: VecDeque::new(),
                        factor: 1.0,
                        corrections: 0,
                    });
                    targets.len() - 1
                }
            };
            let t = &mut targets[at];
            t.window.push_back(Measured {
                recall,
                beam,
                floor,
                query: sample.query,
                k: sample.k,
                oversample: sample.oversample,
                rerank: sample.rerank,
            });
            if t.window.len() > self.options.window {
                t.window.pop_front();
            }
            self.drift(t)
        };
        if let (Some(target), Some((measured, low, high, n))) = (sample.target, drift) {
            self.correct(&sample.state, target, measured, low, high, n, deleted);
        }
        Ok(())
    }

    /// The factor in force for `target`.
    fn factor_of(&self, target: Option<f64>) -> f64 {
        let Some(t) = target else { return 1.0 };
        self.factors
            .read()
            .iter()
            .find(|(at, _)| *at == t)
            .map_or(1.0, |&(_, f)| f)
    }

    /// `(mean, low, high, n)` when target `t`'s window left it: its interval wholly below the
    /// target, or more than [`ABOVE`] above it, on enough samples.
    fn drift(&self, t: &TargetState) -> Option<(f64, f64, f64, usize)> {
        let target = t.target?;
        let n = t.window.len();
        if !self.options.correct || n < self.options.min_samples {
            return None;
        }
        let recall = mean(t.window.iter().map(|m| m.recall));
        let (low, high) = interval(t.window.iter().map(|m| (m.recall, m.k)));
        // Above the target is a waste only where the beams can still narrow.
        let narrowable = t.window.iter().any(|m| m.beam > m.floor);
        (high < target || (low > target + ABOVE && narrowable)).then_some((recall, low, high, n))
    }

    /// Replays the most recent samples of `target` at the ladder of factors and keeps the
    /// smallest that reaches it; resets the target's window.
    #[allow(clippy::too_many_arguments)]
    fn correct(
        &self,
        state: &Arc<State>,
        target: f64,
        measured: f64,
        low: f64,
        high: f64,
        n: usize,
        deleted: f64,
    ) {
        let replay: Vec<(Vec<f32>, usize, Option<usize>, Rerank2)> = {
            let targets = self.targets.lock();
            let Some(t) = targets.iter().find(|t| t.target == Some(target)) else {
                return;
            };
            t.window
                .iter()
                .rev()
                .take(REPLAY)
                .map(|m| (m.query.clone(), m.k, m.oversample, m.rerank))
                .collect()
        };
        let truths: Vec<Vec<u64>> = replay
            .iter()
            .filter_map(|(q, k, _, _)| exact_top_k(state, q, *k).ok())
            .collect();
        if truths.len() != replay.len() {
            return;
        }
        let recall_at = |factor: f64| -> Option<f64> {
            let mut sum = 0.0;
            for ((q, k, oversample, rerank), truth) in replay.iter().zip(&truths) {
                let sample = Sample {
                    state: state.clone(),
                    query: Vec::new(),
                    k: *k,
                    target: Some(target),
                    ef: None,
                    oversample: *oversample,
                    rerank: *rerank,
                    found: Vec::new(),
                };
                let hits = search_state(state, q, &sample.params(), factor).ok()?;
                let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
                sum += recall_of(&ids, truth);
            }
            Some(sum / replay.len().max(1) as f64)
        };
        let mut chosen = None;
        let mut below: Option<(f64, f64)> = None;
        let mut best = (0.0, FACTORS[0]);
        for &f in &FACTORS {
            let Some(r) = recall_at(f) else { return };
            if r > best.0 {
                best = (r, f);
            }
            if r >= target {
                // Interpolated in log(factor) from the last factor below the target.
                chosen = Some(match below {
                    Some((f0, r0)) if r > r0 => {
                        let t = (target - r0) / (r - r0);
                        (f0.ln() + t * (f.ln() - f0.ln())).exp()
                    }
                    _ => f,
                });
                break;
            }
            below = Some((f, r));
        }
        let (factor, note) = match chosen {
            Some(f) => (f, format!("beams now ×{f:.2} of the calibration")),
            None => (
                best.1,
                format!(
                    "no factor up to ×{} reaches it (best {:.4} at ×{}): beams now ×{}",
                    FACTORS[FACTORS.len() - 1],
                    best.0,
                    best.1,
                    best.1
                ),
            ),
        };
        let mut event = format!(
            "target {target}: measured {measured:.4} [{low:.4}, {high:.4}] on {n} samples; \
             replayed {} of them: {note}",
            replay.len()
        );
        if measured < target && deleted >= COMPACT_HINT {
            *self.suggest_compaction.lock() = true;
            event.push_str(&format!(
                "; {:.0} % of the stored rows are deleted: compaction rebuilds the graph \
                 without them",
                deleted * 100.0
            ));
        }
        {
            let mut factors = self.factors.write();
            factors.retain(|(t, _)| *t != target);
            factors.push((target, factor));
        }
        if let Some(t) = self
            .targets
            .lock()
            .iter_mut()
            .find(|t| t.target == Some(target))
        {
            t.factor = factor;
            t.corrections += 1;
            t.window.clear();
        }
        let mut events = self.events.lock();
        events.push_back(event);
        if events.len() > EVENTS {
            events.pop_front();
        }
    }
}

/// Recall of `found` against the exact `truth` (its length is the k that counts).
fn recall_of(found: &[u64], truth: &[u64]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    found.iter().filter(|id| truth.contains(id)).count() as f64 / truth.len() as f64
}

/// The exact `k` nearest live ids of `query` over every segment of `state`.
fn exact_top_k(state: &State, query: &[f32], k: usize) -> Result<Vec<u64>> {
    let params = SearchParams::new(k);
    let mut lists = Vec::with_capacity(state.sealed.len() + 1);
    let unsealed = bounded(&params, state.unsealed.len(), state.unsealed.segment_rows());
    lists.push(state.unsealed.search_exact_masked(query, &unsealed, None)?);
    for s in &state.sealed {
        let p = bounded(&params, s.live(), s.entry.rows as usize);
        lists.push(s.index.search_exact_masked(query, &p, Some(&s.dead))?);
    }
    Ok(merge_top_k(lists, k).into_iter().map(|n| n.id).collect())
}

/// The mean beam the non-empty segments of `state` search `params` with.
fn mean_beam(state: &State, params: &SearchParams<'_>, factor: f64) -> f64 {
    let beams = std::iter::once(&*state.unsealed)
        .chain(state.sealed.iter().map(|s| &s.index))
        .filter(|i| !i.is_empty())
        .filter_map(|i| i.planned_beam(params, factor).ok())
        .map(|b| b as f64);
    mean(beams)
}

/// A collection's search over `state`: each segment with `params` (a target's beams times
/// `factor`), merged.
pub(super) fn search_state(
    state: &State,
    query: &[f32],
    params: &SearchParams<'_>,
    factor: f64,
) -> Result<Vec<Neighbor>> {
    let mut lists = Vec::with_capacity(state.sealed.len() + 1);
    // Each segment asked for at most the rows it holds (k, beam, k × oversample).
    let unsealed = bounded(params, state.unsealed.len(), state.unsealed.segment_rows());
    lists.push(
        state
            .unsealed
            .search_tuned(query, &unsealed, None, factor)?,
    );
    for s in &state.sealed {
        let p = bounded(params, s.live(), s.entry.rows as usize);
        lists.push(s.index.search_tuned(query, &p, Some(&s.dead), factor)?);
    }
    Ok(merge_top_k(lists, params.k))
}

/// The slot of a collection's monitor.
#[derive(Default)]
pub(super) struct MonitorSlot(RwLock<Option<Arc<Monitor>>>);

/// The search of [`Collection::search_with`]: the monitor's correction for the target, the
/// search, then the monitor's timing and sampling.
pub(super) fn search(
    state: Arc<State>,
    slot: &MonitorSlot,
    query: &[f32],
    params: &SearchParams<'_>,
) -> Result<Vec<Neighbor>> {
    let monitor = slot.0.read().clone();
    let Some(monitor) = monitor else {
        return search_state(&state, query, params, 1.0);
    };
    let started = Instant::now();
    let hits = search_state(&state, query, params, monitor.factor(params.target_recall))?;
    monitor.observe(&state, query, params, &hits, started.elapsed());
    Ok(hits)
}

impl Collection {
    /// Starts measuring this collection's search quality live (replacing a monitor already
    /// running): a seeded fraction of the searches is recomputed exactly by a background thread
    /// held to a CPU share, giving a rolling Recall@k per recall target with a confidence
    /// interval, latency percentiles and the beams used ([`Collection::quality`]); a target
    /// whose measured recall leaves it gets its beams corrected. See [`QualityOptions`] and
    /// `docs/recall-target.md`.
    ///
    /// On the query path it costs two clock reads, a histogram update, and for a sampled search
    /// a copy of the query into a bounded queue (never a wait). Searches with a filter or a
    /// custom reranker are timed but not sampled (the background thread could not replay them).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for options out of range; [`Error::Io`] when the thread
    /// cannot be started.
    pub fn monitor(&self, options: QualityOptions) -> Result<()> {
        let monitor = Arc::new(Monitor::start(options)?);
        *self.quality.0.write() = Some(monitor);
        Ok(())
    }

    /// Stops the quality monitor (its corrections stop applying); does nothing when none runs.
    pub fn stop_monitor(&self) {
        *self.quality.0.write() = None;
    }

    /// What the quality monitor measured so far; `None` when it is not running.
    pub fn quality(&self) -> Option<QualityReport> {
        self.quality.0.read().as_ref().map(|m| m.report())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_follow_the_samples_and_never_shrink_to_a_point() {
        let (low, high) = wilson(1.0, 100);
        assert!(low > 0.95 && low < 1.0 && high == 1.0, "{low} {high}");
        assert_eq!(wilson(0.5, 0), (0.0, 1.0));
        // All samples perfect: the neighbour-level Wilson interval, not a point.
        let perfect = vec![(1.0, 10); 100];
        let (low, high) = interval(perfect.iter().copied());
        assert!(low < 1.0 && low > 0.99 && high == 1.0, "{low} {high}");
        // Half the queries at 0.8, half at 1.0: the normal interval of their spread (sd 0.1).
        let mixed: Vec<(f64, usize)> = (0..400)
            .map(|i| (if i % 2 == 0 { 0.8 } else { 1.0 }, 10))
            .collect();
        let (low, high) = interval(mixed.iter().copied());
        let half = Z95 * (0.1f64 * 0.1 * 400.0 / 399.0 / 400.0).sqrt();
        assert!((low - (0.9 - half)).abs() < 1e-9 && (high - (0.9 + half)).abs() < 1e-9);
        assert_eq!(interval(std::iter::empty()), (0.0, 1.0));
    }

    #[test]
    fn options_out_of_range_are_refused() {
        for bad in [
            QualityOptions {
                sample_rate: 0.0,
                ..QualityOptions::default()
            },
            QualityOptions {
                sample_rate: 1.5,
                ..QualityOptions::default()
            },
            QualityOptions {
                max_cpu_share: f64::NAN,
                ..QualityOptions::default()
            },
            QualityOptions {
                min_samples: 2000,
                ..QualityOptions::default()
            },
        ] {
            assert!(matches!(bad.check(), Err(Error::InvalidParameter { .. })));
        }
        QualityOptions::default().check().unwrap();
    }
}
