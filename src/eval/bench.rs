//! The benchmark runner behind `stratavec bench`: build an index on a dataset, sweep `ef`, and
//! measure recall, latency and throughput the same way for every configuration.
//!
//! It uses only the public API ([`Index`], [`SearchParams`]), so what it measures is what a user
//! gets.

use std::time::{Duration, Instant};

use super::{
    bench_payloads, ground_truth, ground_truth_filtered, recall_at_k, BenchConfig, BenchReport,
    BenchResult, DatasetInfo, FilterCase, LatencyRecorder, MachineInfo, MemoryBreakdown,
    WorkPerQuery,
};
use crate::data::{Dataset, Matrix};
use crate::error::{Error, Result};
use crate::{
    Index, IndexOptions, Layout, Metric, Payload, QuantScheme, Quantization, Rerank, SearchParams,
    SearchStats, DEFAULT_EF_CONSTRUCTION, DEFAULT_M,
};

/// The `ef` values swept when none are given.
pub const DEFAULT_EFS: [usize; 6] = [16, 32, 64, 128, 256, 512];

/// What [`run_bench`] measures.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchSpec {
    /// HNSW links per node.
    pub m: usize,
    /// Beam width while building.
    pub ef_construction: usize,
    /// Beam widths to sweep, one result each.
    pub efs: Vec<usize>,
    /// Codecs to build, one index each.
    pub quants: Vec<Quantization>,
    /// The quantization scheme of the quantized indexes.
    pub quant_scheme: QuantScheme,
    /// Code layouts to build for each RaBitQ index, one index each ([`Layout::FastScan`]: one-visit
    /// blocks; other codecs are built once, compact).
    pub layouts: Vec<Layout>,
    /// Reranking oversampling factors to sweep for quantized indexes (empty: each codec's
    /// default); an f32 index is measured once per ef, without reranking.
    pub oversamples: Vec<usize>,
    /// Neighbours per query: the K of Recall@K.
    pub k: usize,
    /// Seed of the index's level draws.
    pub seed: u64,
    /// Queries run once, unmeasured, before each measured pass (to warm caches).
    pub warmup_queries: usize,
    /// Single-thread passes over the queries. With more than one, each query's latency is its
    /// fastest pass, and the single-thread QPS counts, for each run of [`BenchSpec::chunk`]
    /// consecutive queries, its fastest pass — so a pass slowed by another process on a shared
    /// machine does not count against the index.
    pub repeats: usize,
    /// Queries per timed chunk (see [`BenchSpec::repeats`]).
    pub chunk: usize,
    /// Filters to measure besides the unfiltered search, as the fraction of ids each keeps (e.g.
    /// 0.01, 0.1, 0.5). The filter keeps an id when a hash of it falls in that fraction, so the
    /// kept ids are spread evenly; recall is against the exact neighbours among them.
    pub filters: Vec<f64>,
    /// Recall targets to measure besides the `ef` sweep ([`SearchParams::target_recall`], with the
    /// index's automatic oversampling, reported as the mean it reranked with): one result each,
    /// with the recall achieved, the mean beam chosen and the QPS of the fastest `ef` of the
    /// sweep that reaches the same recall.
    pub targets: Vec<f64>,
    /// Payload filters to measure besides (usually [`super::bench_filters`]): the index is
    /// built with [`super::bench_payloads`], and each filter gets its exact ground truth.
    pub payload_filters: Vec<FilterCase>,
}

impl Default for BenchSpec {
    fn default() -> Self {
        BenchSpec {
            m: DEFAULT_M,
            ef_construction: DEFAULT_EF_CONSTRUCTION,
            efs: DEFAULT_EFS.to_vec(),
            quants: vec![Quantization::None],
            oversamples: Vec::new(),
            quant_scheme: QuantScheme::default(),
            layouts: vec![Layout::Auto],
            k: 10,
            seed: IndexOptions::new(1, Metric::L2).seed,
            warmup_queries: 200,
            repeats: 1,
            chunk: 25,
            filters: Vec::new(),
            targets: Vec::new(),
            payload_filters: Vec::new(),
        }
    }
}

/// Where a benchmark is, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BenchProgress {
    /// Computing the exact ground truth (the dataset has none, or too few columns).
    GroundTruth,
    /// Building: `done` of `total` vectors linked.
    Build {
        /// Vectors linked so far.
        done: usize,
        /// Vectors to link.
        total: usize,
    },
    /// Measuring one `ef`.
    Search {
        /// The beam width being measured.
        ef: usize,
    },
    /// Measuring one recall target.
    Target {
        /// The target being measured.
        target: f64,
    },
}

/// The beam of a measured configuration: a fixed `ef`, or a recall target.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Beam {
    Ef(usize),
    Target(f64),
}

/// Builds an index on `data.base` and measures every `ef` of `spec` against `data.queries`.
///
/// Single-thread figures (`qps_single_thread`, latency percentiles) come from the calling thread
/// searching one query at a time, as an application does; `qps_all_threads` from
/// [`Index::search_batch`] on the current rayon pool (run inside `ThreadPool::install` to choose the
/// thread count). Recall is computed against `data.ground_truth`, or against an exact ground truth
/// computed here when the dataset has none (or fewer than `k` columns).
///
/// # Errors
/// [`Error::InvalidParameter`] for an empty dataset, `k` = 0 or an empty `efs`; any error of
/// [`Index::new`], [`Index::add_batch`] or the searches.
pub fn run_bench(
    data: &Dataset,
    metric: Metric,
    spec: &BenchSpec,
    progress: &(dyn Fn(BenchProgress) + Sync),
) -> Result<BenchReport> {
    check_bench(data, spec)?;
    let truth = unfiltered_truth(data, metric, spec, progress)?;
    let payloads = (!spec.payload_filters.is_empty())
        .then(|| bench_payloads(&data.base, &data.queries, metric));
    let mut payload_truths = Vec::new();
    for case in &spec.payload_filters {
        let payloads = payloads.as_deref().expect("made above");
        progress(BenchProgress::GroundTruth);
        let keep: Vec<bool> = payloads.iter().map(|p| case.filter.matches(p)).collect();
        let fraction = keep.iter().filter(|&&k| k).count() as f64 / keep.len() as f64;
        let gt = ground_truth_filtered(
            data.base.as_slice(),
            data.queries.as_slice(),
            data.dim(),
            spec.k,
            metric,
            |row| keep[row],
        )?;
        payload_truths.push((fraction, gt));
    }
    let mut filtered_truths = Vec::new();
    let mut results = Vec::new();
    for (quant, layout) in configurations(spec) {
        let built = build(
            data,
            metric,
            spec,
            quant,
            layout,
            payloads.as_deref(),
            progress,
        )?;
        let fractions: Vec<f64> = payload_truths.iter().map(|t| t.0).collect();
        for (mut result, found) in sweep(&built.index, &data.queries, spec, &fractions, progress)? {
            let payload_case = result
                .config
                .filter_name
                .as_ref()
                .and_then(|n| spec.payload_filters.iter().position(|c| &c.name == n));
            let truth = match (payload_case, result.config.filter) {
                (Some(i), _) => &payload_truths[i].1,
                (None, None) => &truth,
                (None, Some(keep)) => {
                    filtered_truth(&mut filtered_truths, data, metric, spec, keep, progress)?
                }
            };
            result.recall_at_k = recall_at_k(&found, truth, spec.k)?;
            result.build_seconds = built.seconds;
            result.index_bytes = built.index_bytes;
            result.build_peak_bytes = built.peak_bytes;
            result.calibration_seconds = built.index.calibration_seconds();
            results.push(result);
        }
    }
    compare_targets(&mut results);
    Ok(BenchReport {
        dataset: DatasetInfo {
            name: data.name.clone(),
            n_base: data.base.len(),
            n_queries: data.queries.len(),
            dim: data.dim(),
            metric,
        },
        machine: MachineInfo::current(),
        results,
    })
}

/// The errors [`run_bench`] reports before doing any work.
fn check_bench(data: &Dataset, spec: &BenchSpec) -> Result<()> {
    if data.base.is_empty() || data.queries.is_empty() {
        return Err(Error::invalid_parameter(
            "dataset",
            "needs at least one base vector and one query",
        ));
    }
    if spec.k == 0 || spec.efs.is_empty() {
        return Err(Error::invalid_parameter(
            "spec",
            "k must be at least 1 and at least one ef is needed",
        ));
    }
    Ok(())
}

/// The dataset's ground truth when it has at least `k` columns (or every base vector), else the
/// exact one computed here.
fn unfiltered_truth(
    data: &Dataset,
    metric: Metric,
    spec: &BenchSpec,
    progress: &(dyn Fn(BenchProgress) + Sync),
) -> Result<Matrix<u32>> {
    match &data.ground_truth {
        Some(gt) if gt.dim() >= spec.k.min(data.base.len()) => Ok(gt.clone()),
        _ => {
            progress(BenchProgress::GroundTruth);
            ground_truth(
                data.base.as_slice(),
                data.queries.as_slice(),
                data.dim(),
                spec.k,
                metric,
            )
        }
    }
}

/// The exact neighbours among the ids the filter of selectivity `keep` keeps: computed once per
/// selectivity and kept in `cache` for the other indexes.
fn filtered_truth<'a>(
    cache: &'a mut Vec<(f64, Matrix<u32>)>,
    data: &Dataset,
    metric: Metric,
    spec: &BenchSpec,
    keep: f64,
    progress: &(dyn Fn(BenchProgress) + Sync),
) -> Result<&'a Matrix<u32>> {
    let at = match cache.iter().position(|(f, _)| *f == keep) {
        Some(at) => at,
        None => {
            progress(BenchProgress::GroundTruth);
            let gt = ground_truth_filtered(
                data.base.as_slice(),
                data.queries.as_slice(),
                data.dim(),
                spec.k,
                metric,
                |row| keeps(keep, row as u64),
            )?;
            cache.push((keep, gt));
            cache.len() - 1
        }
    };
    Ok(&cache[at].1)
}

/// The (codec, layout) pairs to build, in `spec`'s order, each once: the fast-scan layout exists
/// for RaBitQ codes only, so other codecs are built compact whatever `spec.layouts` says.
fn configurations(spec: &BenchSpec) -> Vec<(Quantization, Layout)> {
    let mut configs = Vec::new();
    for &quant in &spec.quants {
        for &layout in &spec.layouts {
            // Layouts apply to the codes that have blocks; the rest are compact.
            let layout = match quant {
                Quantization::RaBitQ { .. } => layout.resolve(quant),
                _ => Layout::Compact,
            };
            if !configs.contains(&(quant, layout)) {
                configs.push((quant, layout));
            }
        }
    }
    configs
}

/// An index built for the benchmark, with what its build cost.
struct Built {
    index: Index,
    seconds: f64,
    /// The process's peak resident bytes after the build.
    peak_bytes: Option<u64>,
    index_bytes: u64,
}

/// Builds one index of `spec` on `data.base` (ids are row numbers), timed; packing the fast-scan
/// blocks is part of building that layout.
#[allow(clippy::too_many_arguments)]
fn build(
    data: &Dataset,
    metric: Metric,
    spec: &BenchSpec,
    quantization: Quantization,
    layout: Layout,
    payloads: Option<&[Payload]>,
    progress: &(dyn Fn(BenchProgress) + Sync),
) -> Result<Built> {
    let options = IndexOptions {
        m: spec.m,
        ef_construction: spec.ef_construction,
        seed: spec.seed,
        quantization,
        quant_scheme: spec.quant_scheme,
        layout,
        ..IndexOptions::new(data.dim(), metric)
    };
    let index = Index::new(options)?;
    let ids: Vec<u64> = (0..data.base.len() as u64).collect();
    let started = Instant::now();
    match payloads {
        // Payloads are stored with the rows (the build then has no progress reports).
        Some(p) => index.add_batch_with_payloads(&ids, data.base.as_slice(), p)?,
        None => index.add_batch_with_progress(&ids, data.base.as_slice(), &|done, total| {
            progress(BenchProgress::Build { done, total })
        })?,
    }
    index.pack_fast_scan();
    if payloads.is_some() {
        // What a save does when it seals the index: part of building it.
        index.build_filter_graphs()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Built {
        peak_bytes: peak_resident_bytes(),
        index_bytes: index.memory_bytes() as u64,
        index,
        seconds,
    })
}

/// Runs every `ef` (and oversampling factor) of `spec` on `index`; returns each result (recall
/// left at 0) with the ids found per query, for the caller to score against its ground truth.
fn sweep(
    index: &Index,
    queries: &Matrix<f32>,
    spec: &BenchSpec,
    payload_fractions: &[f64],
    progress: &(dyn Fn(BenchProgress) + Sync),
) -> Result<Vec<(BenchResult, Vec<Vec<u64>>)>> {
    let quant = index.options().quantization;
    let oversamples: Vec<Option<usize>> = match quant {
        Quantization::None => vec![None],
        _ if spec.oversamples.is_empty() => vec![Some(index.options().default_oversample())],
        _ => spec.oversamples.iter().map(|&o| Some(o)).collect(),
    };
    let memory = index.memory();
    let mut out = Vec::new();
    let filters: Vec<Filtering<'_>> = std::iter::once(Filtering::None)
        .chain(spec.filters.iter().map(|&f| Filtering::Ids(f)))
        .chain(
            spec.payload_filters
                .iter()
                .zip(payload_fractions)
                .map(|(c, &f)| Filtering::Payload(c, f)),
        )
        .collect();
    let mut runs: Vec<(Beam, Option<usize>)> = Vec::new();
    for &ef in &spec.efs {
        runs.extend(oversamples.iter().map(|&o| (Beam::Ef(ef), o)));
    }
    // A target chooses its own oversampling (reported as the index's default).
    let automatic = oversamples[0].map(|_| index.options().default_oversample());
    runs.extend(spec.targets.iter().map(|&t| (Beam::Target(t), automatic)));
    for (beam, oversample) in runs {
        for filter in &filters {
            progress(match beam {
                Beam::Ef(ef) => BenchProgress::Search { ef },
                Beam::Target(target) => BenchProgress::Target { target },
            });
            let (mut result, found) = measure(index, queries, spec, beam, oversample, filter)?;
            result.resident_bytes_after_queries = resident_bytes();
            result.memory = Some(MemoryBreakdown {
                codes_bytes: memory.codes_bytes as u64,
                originals_bytes: memory.originals_bytes as u64,
                graph_bytes: (memory.graph_bytes + memory.ids_bytes) as u64,
                fast_scan_bytes: memory.fast_scan_bytes as u64,
            });
            out.push((result, found));
        }
    }
    Ok(out)
}

/// How one measured configuration filters.
#[derive(Clone, Copy)]
enum Filtering<'a> {
    None,
    /// An id filter keeping this fraction ([`keeps`]).
    Ids(f64),
    /// A payload filter, with the fraction of rows it matches.
    Payload(&'a FilterCase, f64),
}

/// Whether the `--filter` of selectivity `fraction` keeps `id`: a hash of the id falls below
/// `fraction` of the hash range (deterministic, spread evenly over the ids).
pub fn keeps(fraction: f64, id: u64) -> bool {
    let mut x = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    ((x >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// How an index under [`bench_opened_index`] was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OpenInfo {
    /// Milliseconds [`Index::open`] took.
    pub open_ms: f64,
    /// Resident bytes of the process right after the open.
    pub resident_bytes_after_open: Option<u64>,
    /// Bytes of the segment file.
    pub file_bytes: u64,
}

/// Measures an index opened from a segment file (`stratavec bench --index`): every `ef` of
/// `spec` on `queries`, then recall against `truth()` — called only after the queries ran, so that
/// loading or computing the ground truth does not count in the resident memory measured after
/// them. `spec.m`, `spec.ef_construction` and `spec.quants` are taken from the index.
///
/// # Errors
/// [`Error::DimensionMismatch`] when the queries' dimension is not the index's; errors of the
/// searches and of `truth`.
pub fn bench_opened_index(
    index: &Index,
    queries: &Matrix<f32>,
    truth: impl FnOnce() -> Result<Matrix<u32>>,
    spec: &BenchSpec,
    opened: OpenInfo,
    progress: &(dyn Fn(BenchProgress) + Sync),
) -> Result<Vec<BenchResult>> {
    if queries.dim() != index.dim() {
        return Err(Error::DimensionMismatch {
            expected: index.dim(),
            got: queries.dim(),
        });
    }
    if !spec.filters.is_empty() || !spec.payload_filters.is_empty() {
        return Err(Error::invalid_parameter(
            "filters",
            "filtered figures need the base vectors for their ground truth: run them with a \
             build (`stratavec bench --dataset … --filter …`), not on an opened index",
        ));
    }
    let spec = BenchSpec {
        m: index.options().m,
        ef_construction: index.options().ef_construction,
        ..spec.clone()
    };
    let swept = sweep(index, queries, &spec, &[], progress)?;
    let truth = truth()?;
    let mut results = swept
        .into_iter()
        .map(|(mut result, found)| {
            result.recall_at_k = recall_at_k(&found, &truth, spec.k)?;
            result.index_bytes = opened.file_bytes;
            result.open_ms = Some(opened.open_ms);
            result.resident_bytes_after_open = opened.resident_bytes_after_open;
            Ok(result)
        })
        .collect::<Result<Vec<_>>>()?;
    compare_targets(&mut results);
    Ok(results)
}

/// Fills each recall target's `qps_best_ef`: the single-thread QPS of the fastest fixed-ef
/// result of the same index and filter whose recall is at least the target's.
fn compare_targets(results: &mut [BenchResult]) {
    let same = |a: &BenchConfig, b: &BenchConfig| {
        a.quant == b.quant
            && a.layout == b.layout
            && a.filter == b.filter
            && a.filter_name == b.filter_name
            && a.k == b.k
    };
    let best: Vec<Option<f64>> = results
        .iter()
        .map(|t| {
            t.config.target_recall?;
            results
                .iter()
                .filter(|r| r.config.target_recall.is_none() && same(&r.config, &t.config))
                .filter(|r| r.recall_at_k >= t.recall_at_k)
                .map(|r| r.qps_single_thread)
                .max_by(f64::total_cmp)
        })
        .collect();
    for (r, b) in results.iter_mut().zip(best) {
        r.qps_best_ef = b;
    }
}

/// Measures one `ef` or recall target: a warm-up, the single-thread pass (latencies and
/// recall), and the all-threads pass.
fn measure(
    index: &Index,
    queries: &Matrix<f32>,
    spec: &BenchSpec,
    beam: Beam,
    oversample: Option<usize>,
    filtering: &Filtering<'_>,
) -> Result<(BenchResult, Vec<Vec<u64>>)> {
    let stats = SearchStats::new();
    let (filter, filter_name) = match filtering {
        Filtering::None => (None, None),
        Filtering::Ids(f) => (Some(*f), None),
        Filtering::Payload(c, f) => (Some(*f), Some(c.name.clone())),
    };
    let id_fraction = match filtering {
        Filtering::Ids(f) => Some(*f),
        _ => None,
    };
    let keep = move |id: u64| id_fraction.is_none_or(|f| keeps(f, id));
    let params = match beam {
        Beam::Ef(ef) => SearchParams::new(spec.k).ef(ef),
        Beam::Target(t) => SearchParams::new(spec.k).target_recall(t),
    };
    let params = match filtering {
        Filtering::None => params,
        Filtering::Ids(_) => params.filter(&keep),
        Filtering::Payload(c, _) => params.payload_filter(&c.filter),
    };
    let params = match (oversample, beam) {
        (Some(_), Beam::Target(_)) => params.rerank(Rerank::Exact),
        (Some(o), Beam::Ef(_)) => params.oversample(o).rerank(Rerank::Exact),
        (None, _) => params.rerank(Rerank::None),
    };
    for q in queries.rows().cycle().take(spec.warmup_queries) {
        index.search_with(q, &params)?;
    }

    let n = queries.len();
    let chunk = spec.chunk.max(1);
    let mut best_latency = vec![Duration::MAX; n];
    let mut best_chunk = vec![Duration::MAX; n.div_ceil(chunk)];
    let mut found: Vec<Vec<u64>> = Vec::with_capacity(n);
    let cpu_started = thread_cpu_time();
    for pass in 0..spec.repeats.max(1) {
        for (c, rows) in queries.as_slice().chunks(chunk * queries.dim()).enumerate() {
            let chunk_started = Instant::now();
            for (j, q) in rows.chunks_exact(queries.dim()).enumerate() {
                let t = Instant::now();
                let hits = if pass == 0 {
                    index.search_with(q, &params.stats(&stats))?
                } else {
                    index.search_with(q, &params)?
                };
                let i = c * chunk + j;
                best_latency[i] = best_latency[i].min(t.elapsed());
                if pass == 0 {
                    found.push(hits.into_iter().map(|h| h.id).collect());
                }
            }
            best_chunk[c] = best_chunk[c].min(chunk_started.elapsed());
        }
    }
    let cpu_us_per_query = cpu_started.zip(thread_cpu_time()).map(|(start, end)| {
        end.saturating_sub(start).as_secs_f64() * 1e6 / (n * spec.repeats.max(1)).max(1) as f64
    });
    let mut latencies = LatencyRecorder::new();
    best_latency.iter().for_each(|&d| latencies.record(d));
    let single = latencies.finish(best_chunk.iter().sum());

    let t = Instant::now();
    let batch = index.search_batch(queries.as_slice(), &params)?;
    let all_threads_qps = batch.len() as f64 / t.elapsed().as_secs_f64();

    let counts = stats.counts();
    let mean_beam = counts.beam_sum as f64 / counts.queries.max(1) as f64;
    let config = BenchConfig {
        m: spec.m,
        ef_construction: spec.ef_construction,
        ef: match beam {
            Beam::Ef(ef) => ef,
            Beam::Target(_) => mean_beam.round() as usize,
        },
        k: spec.k,
        quant: index.options().quantization.name().into(),
        // A target chooses its own oversampling: the one its searches reranked with.
        oversample: match (beam, oversample) {
            (Beam::Target(_), Some(_)) if counts.queries > 0 => Some(
                (counts.reranked as f64 / counts.queries as f64 / spec.k as f64).round() as usize,
            ),
            _ => oversample,
        },
        layout: oversample.map(|_| index.options().layout.name().into()),
        engine: None,
        filter,
        target_recall: match beam {
            Beam::Ef(_) => None,
            Beam::Target(t) => Some(t),
        },
        filter_name,
    };
    let per_query = |x: u64| x as f64 / counts.queries.max(1) as f64;
    let mut result = BenchResult::new(config, 0.0, &single, 0.0, 0)
        .with_all_threads(all_threads_qps, rayon::current_num_threads());
    result.work = Some(WorkPerQuery {
        nodes_expanded: per_query(counts.nodes_expanded),
        distances: per_query(counts.distances),
        reranked: per_query(counts.reranked),
        ns_per_expanded_node: single.mean_us * 1e3 / per_query(counts.nodes_expanded).max(1.0),
        bytes_read: per_query(counts.bytes_read()),
        cpu_us: cpu_us_per_query,
    });
    if let Beam::Target(_) = beam {
        result.mean_beam = Some(mean_beam);
    }
    Ok((result, found))
}

/// CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`); `None` where there is no
/// such clock. Unlike wall time, it leaves out the time the thread waited for a core — the
/// benchmark's cost per query on a shared machine.
pub fn thread_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Resident memory of this process in bytes (Linux `VmRSS`); `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`); `None` elsewhere.
pub fn peak_resident_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|kib| kib * 1024)
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::ClusteredSpec;

    /// A seeded synthetic dataset without ground truth (the runner computes it).
    fn synthetic(n: usize, dim: usize, queries: usize) -> Dataset {
        let (base, queries) = ClusteredSpec::new(n, dim)
            .generate_with_queries(queries)
            .unwrap();
        Dataset {
            base,
            queries,
            ground_truth: None,
            metric: None,
            name: "synthetic".into(),
        }
    }

    #[test]
    fn bench_on_synthetic_data_reports_every_ef_with_computed_recall() {
        let data = synthetic(3000, 16, 50);
        let spec = BenchSpec {
            efs: vec![10, 100],
            warmup_queries: 10,
            ..BenchSpec::default()
        };
        let report = run_bench(&data, Metric::L2, &spec, &|_| {}).unwrap();
        assert_eq!(report.results.len(), 2);
        let (low, high) = (&report.results[0], &report.results[1]);
        assert!(high.recall_at_k >= low.recall_at_k);
        assert!(high.recall_at_k > 0.9, "{}", high.recall_at_k);
        assert!(low.qps_single_thread > 0.0 && low.latency_us.p50 > 0.0);
        assert!(low.build_seconds > 0.0 && low.index_bytes > 0);
        assert_eq!(report.dataset.n_base, 3000);
        // Cost per query: an f32 index reads one 64-byte row per distance; a wider beam reads more.
        let (lw, hw) = (low.work.unwrap(), high.work.unwrap());
        assert_eq!(lw.bytes_read, lw.distances * 64.0);
        assert!(hw.bytes_read > lw.bytes_read);
        if cfg!(unix) {
            let cpu = lw.cpu_us.unwrap();
            assert!(cpu > 0.0 && cpu < 1e6, "{cpu}");
        }
        let table = report.to_text_table();
        assert!(
            table.contains("KiB/q") && table.contains("CPU µs"),
            "{table}"
        );
        let csv = report.to_csv();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let at = header.iter().position(|h| *h == "bytes_per_query").unwrap();
        let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(row[at].parse::<f64>().unwrap(), lw.bytes_read);
    }

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let Some(start) = thread_cpu_time() else {
            return;
        };
        let wall = Instant::now();
        while thread_cpu_time().unwrap() - start < Duration::from_millis(5) {
            assert!(
                wall.elapsed() < Duration::from_secs(20),
                "the thread clock does not move"
            );
            std::hint::black_box(wall.elapsed());
        }
    }

    #[test]
    fn filtered_figures_have_their_own_ground_truth() {
        let data = synthetic(4000, 12, 40);
        let spec = BenchSpec {
            efs: vec![64],
            warmup_queries: 5,
            filters: vec![0.01, 0.1, 0.5],
            ..BenchSpec::default()
        };
        let report = run_bench(&data, Metric::L2, &spec, &|_| {}).unwrap();
        let filters: Vec<Option<f64>> = report.results.iter().map(|r| r.config.filter).collect();
        assert_eq!(filters, [None, Some(0.01), Some(0.1), Some(0.5)]);
        for r in &report.results {
            let floor = if r.config.filter == Some(0.1) {
                0.9
            } else {
                0.95
            };
            assert!(
                r.recall_at_k >= floor,
                "{:?}: {}",
                r.config.filter,
                r.recall_at_k
            );
        }
        let kept = (0..4000u64).filter(|&id| keeps(0.1, id)).count();
        assert!((300..500).contains(&kept), "{kept}");
        assert!(report.to_text_table().contains("filter"));
        let csv = report.to_csv();
        let column = |line: &str, name: &str| {
            let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
            let at = header.iter().position(|h| *h == name).unwrap();
            line.split(',').nth(at).unwrap().to_owned()
        };
        assert_eq!(column(csv.lines().nth(2).unwrap(), "filter"), "0.01");
        assert_eq!(column(csv.lines().nth(1).unwrap(), "filter"), "");
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().unwrap() > 0);
            assert!(peak_resident_bytes().unwrap() >= resident_bytes().unwrap() / 2);
        }
    }
}
