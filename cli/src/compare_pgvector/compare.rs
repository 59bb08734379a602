//! The steps of `compare-pgvector`: check the arguments, load the data, set up pgvector (load,
//! index) and stratavec (one index per codec), time both over the same ef sweep — one query at a
//! time on one thread, each query's fastest pass — and report.

use std::time::{Duration, Instant};

use stratavec::data::{Dataset, Matrix};
use stratavec::eval::{
    ground_truth, recall_at_k, BenchConfig, BenchReport, BenchResult, DatasetInfo, LatencyRecorder,
    LatencyStats, MachineInfo,
};
use stratavec::{Index, IndexOptions, Metric, Quantization, Rerank, SearchParams};

use super::pg::{
    self, Search, Server, PG_EF_CONSTRUCTION_RANGE, PG_MAX_EF_SEARCH, PG_MAX_HNSW_DIM, PG_M_RANGE,
};
use super::report::{self, CompareReport, PgvectorSide, StratavecBuild, StratavecSide, Summary};
use super::ComparePgvectorArgs;
use crate::plot::series_label;
use crate::CliResult;

/// Queries per timed chunk when `--repeats` > 1 (as `stratavec bench`).
const CHUNK: usize = 25;

pub(super) fn run(args: ComparePgvectorArgs) -> CliResult<()> {
    check_args(&args)?;
    let mut data = load(&args)?;
    let metric = args.metric.or(data.metric).unwrap_or(Metric::L2);
    if data.metric != Some(metric) {
        // The shipped ground truth was computed with another metric (or an unknown one).
        data.ground_truth = None;
    }
    let pool = crate::thread_pool(args.threads)?;
    let threads = pool.current_num_threads();
    let (opclass, operator) = pg::operators(metric);
    eprintln!(
        "dataset {}: {} × {} base, {} queries, metric {metric} (pgvector {opclass}, \
         {operator}); M {} efC {}; {threads} build threads",
        data.name,
        data.base.len(),
        data.dim(),
        data.queries.len(),
        args.m,
        args.ef_construction
    );

    let mut server = Server::connect(&args.dsn)?;
    let truth = truth(&data, args.k, metric)?;
    let (mut pgvector, search) = server.load_and_index(&args, &data, metric, threads)?;
    let ours = build_ours(&args, &data, metric, &pool)?;
    pgvector.round_trip_p50_us = server.round_trip_p50_us()?;
    let results = sweep(&args, &data, &truth, &mut server, &search, &pgvector, &ours)?;
    pgvector.notices = server.notices();

    let summary = Summary::of(&results, args.target_recall, pgvector.build_seconds)?;
    let builds: Vec<StratavecBuild> = ours.into_iter().map(|(_, b)| b).collect();
    let report = CompareReport {
        bench: BenchReport {
            dataset: DatasetInfo {
                name: data.name.clone(),
                n_base: data.base.len(),
                n_queries: data.queries.len(),
                dim: data.dim(),
                metric,
            },
            machine: pool.install(MachineInfo::current),
            results,
        },
        pgvector,
        stratavec: StratavecSide {
            version: env!("CARGO_PKG_VERSION").into(),
            build_seconds: builds[0].build_seconds,
            build_threads: threads,
            index_bytes: builds[0].index_bytes,
            builds,
        },
        summary,
    };
    report::emit(&report, &args)
}

/// The dataset's ground truth when it covers `k`, else the exact one computed here.
fn truth(data: &Dataset, k: usize, metric: Metric) -> CliResult<Matrix<u32>> {
    match &data.ground_truth {
        Some(gt) if gt.dim() >= k.min(data.base.len()) => Ok(gt.clone()),
        _ => {
            eprintln!("computing the exact ground truth");
            Ok(ground_truth(
                data.base.as_slice(),
                data.queries.as_slice(),
                data.dim(),
                k,
                metric,
            )?)
        }
    }
}

/// One stratavec index per `--quant` codec on the same data (ids are row numbers), each with
/// its build time and size, built on `pool`.
fn build_ours(
    args: &ComparePgvectorArgs,
    data: &Dataset,
    metric: Metric,
    pool: &rayon::ThreadPool,
) -> CliResult<Vec<(Index, StratavecBuild)>> {
    let ids: Vec<u64> = (0..data.base.len() as u64).collect();
    let mut ours = Vec::new();
    for &quant in &args.quant {
        eprintln!(
            "stratavec: building HNSW (m {}, ef_construction {}, codec {quant})",
            args.m, args.ef_construction
        );
        let options = IndexOptions {
            m: args.m,
            ef_construction: args.ef_construction,
            quantization: quant,
            quant_scheme: args.quant_scheme.scheme(),
            ..IndexOptions::new(data.dim(), metric)
        };
        let index = Index::new(options)?;
        let started = Instant::now();
        pool.install(|| index.add_batch(&ids, data.base.as_slice()))?;
        let build = StratavecBuild {
            quant: quant.to_string(),
            build_seconds: started.elapsed().as_secs_f64(),
            index_bytes: index.memory_bytes() as u64,
        };
        eprintln!("stratavec: built in {:.2} s", build.build_seconds);
        ours.push((index, build));
    }
    Ok(ours)
}

/// The sweep: for each ef, pgvector with `hnsw.ef_search = ef`, then every stratavec index at the
/// same ef (quantized ones at each oversampling factor), one query at a time on this thread.
fn sweep(
    args: &ComparePgvectorArgs,
    data: &Dataset,
    truth: &Matrix<u32>,
    server: &mut Server,
    search: &Search,
    pgvector: &PgvectorSide,
    ours: &[(Index, StratavecBuild)],
) -> CliResult<Vec<BenchResult>> {
    let (nq, k) = (data.queries.len(), args.k);
    let config =
        |engine: &str, ef: usize, quant: Quantization, oversample: Option<usize>| BenchConfig {
            m: args.m,
            ef_construction: args.ef_construction,
            ef,
            k,
            quant: quant.to_string(),
            oversample,
            layout: oversample.map(|_| "compact".into()),
            engine: Some(engine.into()),
            filter: None,
            target_recall: None,
            filter_name: None,
        };
    let mut results = Vec::new();
    for &ef in &args.ef {
        eprintln!("ef {ef}: pgvector");
        server.set_ef_search(ef)?;
        let pg = measure(nq, args.repeats, |i| server.search(search, i))?;
        let recall = recall_at_k(&pg.found, truth, k)?;
        results.push(BenchResult::new(
            config("pgvector", ef, Quantization::None, None),
            recall,
            &pg.stats,
            pgvector.build_seconds,
            pgvector.index_bytes,
        ));

        for (index, build) in ours {
            let quant = index.options().quantization;
            let oversamples: Vec<Option<usize>> = match quant {
                Quantization::None => vec![None],
                _ if args.oversample.is_empty() => vec![Some(quant.default_oversample())],
                _ => args.oversample.iter().map(|&o| Some(o)).collect(),
            };
            for oversample in oversamples {
                let c = config("stratavec", ef, quant, oversample);
                eprintln!("ef {ef}: {}", series_label(&c));
                let params = SearchParams::new(k).ef(ef);
                let params = match oversample {
                    Some(o) => params.oversample(o).rerank(Rerank::Exact),
                    None => params.rerank(Rerank::None),
                };
                let sv = measure(nq, args.repeats, |i| {
                    Ok(index
                        .search_with(data.queries.row(i), &params)?
                        .into_iter()
                        .map(|h| h.id)
                        .collect())
                })?;
                let recall = recall_at_k(&sv.found, truth, k)?;
                results.push(BenchResult::new(
                    c,
                    recall,
                    &sv.stats,
                    build.build_seconds,
                    build.index_bytes,
                ));
            }
        }
    }
    Ok(results)
}

/// The per-query latencies (fastest pass) and the ids found in the first measured pass.
struct Measured {
    stats: LatencyStats,
    found: Vec<Vec<u64>>,
}

/// One unmeasured pass over the `n` queries, then `repeats` measured ones: each query's
/// latency is its fastest pass, and the throughput counts each chunk of [`CHUNK`] queries at
/// its fastest pass. The same for both engines.
fn measure(
    n: usize,
    repeats: usize,
    mut search: impl FnMut(usize) -> CliResult<Vec<u64>>,
) -> CliResult<Measured> {
    for i in 0..n {
        search(i)?;
    }
    let mut best = vec![Duration::MAX; n];
    let mut best_chunk = vec![Duration::MAX; n.div_ceil(CHUNK)];
    let mut found = Vec::with_capacity(n);
    for pass in 0..repeats.max(1) {
        let chunks = best_chunk.iter_mut().zip(best.chunks_mut(CHUNK));
        for (c, (chunk_best, best)) in chunks.enumerate() {
            let chunk_started = Instant::now();
            for (j, best) in best.iter_mut().enumerate() {
                let t = Instant::now();
                let ids = search(c * CHUNK + j)?;
                *best = (*best).min(t.elapsed());
                if pass == 0 {
                    found.push(ids);
                }
            }
            *chunk_best = (*chunk_best).min(chunk_started.elapsed());
        }
    }
    let mut latencies = LatencyRecorder::new();
    best.iter().for_each(|&d| latencies.record(d));
    Ok(Measured {
        stats: latencies.finish(best_chunk.iter().sum()),
        found,
    })
}

fn check_args(args: &ComparePgvectorArgs) -> CliResult<()> {
    if args.k == 0 {
        return Err("--k must be at least 1".into());
    }
    if args.ef.is_empty() {
        return Err("--ef needs at least one value".into());
    }
    if args.quant.is_empty() {
        return Err("--quant needs at least one codec".into());
    }
    if args.oversample.contains(&0) {
        return Err("--oversample values must be at least 1".into());
    }
    if let Some(&ef) = args.ef.iter().find(|&&ef| ef == 0 || ef > PG_MAX_EF_SEARCH) {
        return Err(
            format!("--ef {ef}: pgvector's hnsw.ef_search takes 1 to {PG_MAX_EF_SEARCH}").into(),
        );
    }
    if !PG_M_RANGE.contains(&args.m) {
        return Err(format!("--m {}: pgvector's HNSW takes m from 2 to 100", args.m).into());
    }
    if !PG_EF_CONSTRUCTION_RANGE.contains(&args.ef_construction)
        || args.ef_construction < 2 * args.m
    {
        return Err(format!(
            "--ef-construction {}: pgvector takes 4 to 1000 and at least 2 × m ({})",
            args.ef_construction,
            2 * args.m
        )
        .into());
    }
    let t = &args.table;
    let valid = t
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && t.len() <= 50
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(format!(
            "--table {t:?}: use lower-case letters, digits and _ (at most 50), starting with a letter"
        )
        .into());
    }
    if !(args.target_recall > 0.0 && args.target_recall <= 1.0) {
        return Err("--target-recall must be in (0, 1]".into());
    }
    Ok(())
}

fn load(args: &ComparePgvectorArgs) -> CliResult<Dataset> {
    let data = Dataset::load_texmex(&args.dataset)
        .map_err(|e| format!("dataset {}: {e}", args.dataset.display()))?;
    let data = crate::truncate(data, args.queries, args.limit);
    if data.base.is_empty() || data.queries.is_empty() {
        return Err(format!(
            "dataset {}: needs at least one base vector and one query",
            args.dataset.display()
        )
        .into());
    }
    if data.dim() > PG_MAX_HNSW_DIM {
        return Err(format!(
            "dataset {}: dimension {} is above the {PG_MAX_HNSW_DIM} that pgvector's HNSW \
             index takes on the vector type",
            data.name,
            data.dim()
        )
        .into());
    }
    Ok(data)
}
