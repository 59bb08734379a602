//! `stratavec compare-pgvector`: stratavec against pgvector's HNSW on a PostgreSQL server, on the
//! same data, with the same M, ef_construction and ef sweep, timed the same way.
//!
//! Thin like the rest of the CLI: the measuring (recall, latency histograms, reports, QPS at a
//! target recall) is `stratavec::eval`; this file talks to PostgreSQL and prints. It needs the
//! `pgvector` cargo feature (the PostgreSQL client); without it the subcommand says so.
//!
//! Distances: pgvector's operators give the same order as stratavec's metrics, not the same
//! numbers — `<->` is the Euclidean distance (stratavec's `l2` is its square), `<#>` is the
//! negative inner product (stratavec's `ip` is `1 − a·b`), `<=>` is `1 − cos` (as stratavec's
//! `cosine`). Only ids are compared, so the difference does not matter.

use std::path::PathBuf;

use clap::Args;
use stratavec::{Metric, Quantization, DEFAULT_EF_CONSTRUCTION, DEFAULT_M};

use super::{CliResult, SchemeArg};

/// The ef values swept when none are given.
const DEFAULT_COMPARE_EFS: [usize; 6] = [10, 20, 40, 80, 160, 320];

/// `stratavec compare-pgvector` arguments.
#[derive(Args)]
pub struct ComparePgvectorArgs {
    /// A TEXMEX folder: base.fvecs, query.fvecs, optional groundtruth.ivecs and METRIC.
    #[arg(long)]
    dataset: PathBuf,
    /// The PostgreSQL server, e.g. postgresql://postgres@127.0.0.1:5432/postgres (the DSN that
    /// scripts/pgvector-up prints).
    #[arg(long)]
    dsn: String,
    /// Metric (l2, ip, cosine); default: the dataset's METRIC file, else l2.
    #[arg(long)]
    metric: Option<Metric>,
    /// HNSW links per node, for both (pgvector allows 2–100).
    #[arg(long, default_value_t = DEFAULT_M)]
    m: usize,
    /// Beam width while building, for both (pgvector allows 4–1000, at least 2·m).
    #[arg(long, default_value_t = DEFAULT_EF_CONSTRUCTION)]
    ef_construction: usize,
    /// Beam widths to sweep; pgvector's `hnsw.ef_search` is set to each (it allows 1–1000).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_COMPARE_EFS)]
    ef: Vec<usize>,
    /// stratavec codecs to measure against the same pgvector build, as in `stratavec bench`:
    /// none (f32), sq8, sq4; one stratavec index each, each with its own QPS and build ratio.
    #[arg(long, value_delimiter = ',', default_value = "none")]
    quant: Vec<Quantization>,
    /// Reranking oversampling factors for the quantized indexes (k × oversample candidates
    /// rescored exactly from the f32 originals; default 2 for sq8, 3 for sq4), as in `bench`.
    #[arg(long, value_delimiter = ',')]
    oversample: Vec<usize>,
    /// Quantization scheme of the quantized indexes: per-vector (the default) or per-dimension.
    #[arg(long, default_value = "per-vector")]
    quant_scheme: SchemeArg,
    /// Neighbours per query (the K of Recall@K and the LIMIT of the SQL query).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Use only the first N queries.
    #[arg(long)]
    queries: Option<usize>,
    /// Use only the first N base vectors (the ground truth is then recomputed).
    #[arg(long)]
    limit: Option<usize>,
    /// Threads for both builds: stratavec's build threads, and pgvector's parallel build (leader
    /// plus max_parallel_maintenance_workers = threads − 1). Default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// pgvector's maintenance_work_mem for the build, in MiB. Default: enough for the whole graph
    /// (pgvector slows down sharply once the graph outgrows it).
    #[arg(long)]
    maintenance_work_mem_mib: Option<u64>,
    /// Measured passes over the queries per ef, for both; each query counts its fastest pass and
    /// each chunk of 25 queries its fastest pass (as `stratavec bench --repeats`).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// The Recall@K at which QPS is interpolated for the headline ratio.
    #[arg(long, default_value_t = 0.95)]
    target_recall: f64,
    /// The table to (re)create on the server; it is dropped first if it exists, and kept after.
    #[arg(long, default_value = "stratavec_compare")]
    table: String,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results as CSV (one line per engine and ef) to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the side-by-side table and the summary as Markdown to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Draw both engines' Recall@K against single-thread QPS on one plot, as SVG.
    #[arg(long)]
    svg: Option<PathBuf>,
}

/// Runs `stratavec compare-pgvector`.
#[cfg(feature = "pgvector")]
pub fn run(args: ComparePgvectorArgs) -> CliResult<()> {
    imp::run(args)
}

/// Without the `pgvector` feature there is no PostgreSQL client to run it with.
#[cfg(not(feature = "pgvector"))]
pub fn run(_args: ComparePgvectorArgs) -> CliResult<()> {
    Err(
        "this stratavec was built without the `pgvector` feature; build it with \
         `cargo build --release -p stratavec-cli --features pgvector`"
            .into(),
    )
}

#[cfg(feature = "pgvector")]
mod imp {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use pgvector::Vector;
    use postgres::binary_copy::BinaryCopyInWriter;
    use postgres::types::Type;
    use postgres::{Client, NoTls, Statement};
    use serde::Serialize;
    use stratavec::data::Dataset;
    use stratavec::eval::{
        ground_truth, interpolate_qps_at_recall, recall_at_k, render_grid, BenchConfig,
        BenchReport, BenchResult, DatasetInfo, LatencyRecorder, LatencyStats, MachineInfo,
        TableStyle,
    };
    use stratavec::{Index, IndexOptions, Metric, Quantization, Rerank, SearchParams};

    use super::ComparePgvectorArgs;
    use crate::plot::series_label;
    use crate::CliResult;

    /// pgvector's limits (`hnsw.ef_search`, the index's `m` and `ef_construction`, dimensions
    /// of an HNSW index on `vector`).
    const PG_MAX_EF_SEARCH: usize = 1000;
    const PG_M_RANGE: std::ops::RangeInclusive<usize> = 2..=100;
    const PG_EF_CONSTRUCTION_RANGE: std::ops::RangeInclusive<usize> = 4..=1000;
    const PG_MAX_HNSW_DIM: usize = 2000;
    /// Queries per timed chunk when `--repeats` > 1 (as `stratavec bench`).
    const CHUNK: usize = 25;
    /// Round trips of a no-op statement timed to show the client–server overhead.
    const ROUND_TRIPS: usize = 1000;

    /// What `compare-pgvector --json` writes: the `stratavec bench` report shape (dataset,
    /// machine, one result per engine and ef, each with `config.engine`), plus each side's build
    /// and the summary.
    #[derive(Serialize)]
    struct CompareReport {
        #[serde(flatten)]
        bench: BenchReport,
        pgvector: PgvectorSide,
        stratavec: StratavecSide,
        summary: Summary,
    }

    #[derive(Serialize)]
    struct PgvectorSide {
        server_version: String,
        extension_version: String,
        table: String,
        index: String,
        /// The operator class and the distance operator of the query.
        opclass: String,
        operator: String,
        /// `CREATE TABLE` and the binary `COPY`, committed.
        load_seconds: f64,
        /// The `VACUUM ANALYZE` after the load (not in `load_seconds`).
        vacuum_seconds: f64,
        build_seconds: f64,
        index_bytes: u64,
        table_bytes: u64,
        maintenance_work_mem_mib: u64,
        max_parallel_maintenance_workers: usize,
        /// Median latency of a prepared no-op statement: the client–server round trip that every
        /// pgvector query pays and an in-process stratavec search does not.
        round_trip_p50_us: f64,
        /// Whether sequential scans had to be turned off for the planner to use the index.
        forced_index_scan: bool,
        /// Notices the server sent (e.g. the graph outgrowing maintenance_work_mem).
        notices: Vec<String>,
    }

    /// stratavec's side. The top-level `build_seconds` and `index_bytes` are those of the first
    /// configuration (`--quant`'s first codec); `builds` has every configuration's.
    #[derive(Serialize)]
    struct StratavecSide {
        version: String,
        build_seconds: f64,
        build_threads: usize,
        index_bytes: u64,
        builds: Vec<StratavecBuild>,
    }

    /// One stratavec index of the comparison.
    #[derive(Serialize)]
    struct StratavecBuild {
        /// `"none"` (f32), `"sq8"` or `"sq4"`.
        quant: String,
        build_seconds: f64,
        index_bytes: u64,
    }

    /// The headline numbers. The top-level `stratavec_*`, `qps_ratio_at_target` and
    /// `build_ratio` are those of the first stratavec configuration (f32 by default), as before
    /// `--quant` existed; `configs` has one entry per stratavec configuration.
    #[derive(Serialize)]
    struct Summary {
        target_recall: f64,
        /// QPS at the target recall, interpolated between the two ef around it; when even the
        /// smallest ef reaches the target, that ef's QPS (a lower bound, `*_lower_bound` true).
        stratavec_qps_at_target: Option<f64>,
        stratavec_lower_bound: bool,
        pgvector_qps_at_target: Option<f64>,
        pgvector_lower_bound: bool,
        /// stratavec QPS / pgvector QPS at the target recall.
        qps_ratio_at_target: Option<f64>,
        /// pgvector build seconds / stratavec build seconds.
        build_ratio: f64,
        configs: Vec<ConfigSummary>,
    }

    /// The headline numbers of one stratavec configuration against pgvector.
    #[derive(Serialize)]
    struct ConfigSummary {
        /// The line's label, e.g. `stratavec f32` or `stratavec sq4 ×3`.
        series: String,
        quant: String,
        /// Reranking oversampling (quantized indexes only).
        #[serde(skip_serializing_if = "Option::is_none")]
        oversample: Option<usize>,
        qps_at_target: Option<f64>,
        lower_bound: bool,
        /// This configuration's QPS / pgvector's QPS at the target recall.
        qps_ratio_at_target: Option<f64>,
        build_seconds: f64,
        /// pgvector build seconds / this configuration's build seconds.
        build_ratio: f64,
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

    /// A PostgreSQL error with what was being done, the server's message, detail and hint.
    fn pg_err(context: impl std::fmt::Display) -> impl FnOnce(postgres::Error) -> String {
        move |e| match e.as_db_error() {
            Some(db) => {
                let mut s = format!("{context}: {}", db.message());
                if let Some(d) = db.detail() {
                    s.push_str(&format!(" ({d})"));
                }
                if let Some(h) = db.hint() {
                    s.push_str(&format!("; hint: {h}"));
                }
                s
            }
            None => {
                let mut s = format!("{context}: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(inner) = source {
                    let text = inner.to_string();
                    if !s.contains(&text) {
                        s.push_str(&format!(": {text}"));
                    }
                    source = inner.source();
                }
                s
            }
        }
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
            return Err(format!(
                "--ef {ef}: pgvector's hnsw.ef_search takes 1 to {PG_MAX_EF_SEARCH}"
            )
            .into());
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
        let mut data = Dataset::load_texmex(&args.dataset)
            .map_err(|e| format!("dataset {}: {e}", args.dataset.display()))?;
        if let Some(n) = args.queries {
            data.queries = data.queries.truncated(n);
            data.ground_truth = data.ground_truth.map(|gt| gt.truncated(n));
        }
        if let Some(n) = args.limit.filter(|&n| n < data.base.len()) {
            data.base = data.base.truncated(n);
            data.ground_truth = None;
        }
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

    /// Connects, with a 10 s connect timeout unless the DSN sets one, collecting notices.
    fn connect(dsn: &str, notices: &Arc<Mutex<Vec<String>>>) -> CliResult<Client> {
        let mut config: postgres::Config = dsn.parse().map_err(|e| {
            format!("--dsn is not a PostgreSQL connection string or URL ({e}): {dsn:?}")
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let sink = Arc::clone(notices);
        config.notice_callback(move |notice| {
            let text = notice.message().to_string();
            eprintln!("pgvector: notice: {text}");
            if let Ok(mut v) = sink.lock() {
                v.push(text);
            }
        });
        // Say where, without a password the DSN may hold.
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
        let place = format!(
            "PostgreSQL at {} port {} database {}",
            if hosts.is_empty() {
                "localhost".to_string()
            } else {
                hosts.join(",")
            },
            if ports.is_empty() {
                "5432".to_string()
            } else {
                ports.join(",")
            },
            config.get_dbname().unwrap_or("(default)")
        );
        config.connect(NoTls).map_err(|e| {
            // No server answer (refused, timed out, unknown host): say how to get one.
            let hint = if e.as_db_error().is_none() {
                " (is the server running? scripts/pgvector-up starts one)"
            } else {
                ""
            };
            format!("{}{hint}", pg_err(format!("cannot connect to {place}"))(e)).into()
        })
    }

    /// The installed pgvector version, installing the extension if the server has it available.
    fn ensure_vector_extension(client: &mut Client) -> CliResult<String> {
        let installed = |client: &mut Client| -> CliResult<Option<String>> {
            Ok(client
                .query_opt(
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
                    &[],
                )
                .map_err(pg_err("reading pg_extension"))?
                .map(|row| row.get(0)))
        };
        if let Some(v) = installed(client)? {
            return Ok(v);
        }
        let available = client
            .query_opt(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'",
                &[],
            )
            .map_err(pg_err("reading pg_available_extensions"))?;
        if available.is_none() {
            return Err(
                "the server has no pgvector: the extension `vector` is not installed \
                        (pg_available_extensions has no `vector`); install pgvector on the \
                        server, or start one with scripts/pgvector-up"
                    .into(),
            );
        }
        client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
            .map_err(|e| {
                format!(
                    "{} (run `CREATE EXTENSION vector` as a role allowed to)",
                    pg_err("pgvector is available but CREATE EXTENSION vector failed")(e)
                )
            })?;
        installed(client)?
            .ok_or_else(|| "CREATE EXTENSION vector left no `vector` extension".into())
    }

    /// Enough maintenance_work_mem for pgvector to keep the whole graph in memory while it
    /// builds: per vector its value, its neighbour lists (level 0 has 2·m, each entry a pointer
    /// and a distance) and bookkeeping, doubled for slack, plus 64 MiB.
    fn default_maintenance_work_mem_mib(n: usize, dim: usize, m: usize) -> u64 {
        let per_vector = (dim * 4 + 64 * m + 512) as u64;
        (n as u64 * per_vector * 2).div_ceil(1 << 20) + 64
    }

    pub(super) fn run(args: ComparePgvectorArgs) -> CliResult<()> {
        check_args(&args)?;
        let mut data = load(&args)?;
        let metric = args.metric.or(data.metric).unwrap_or(Metric::L2);
        if data.metric != Some(metric) {
            // The shipped ground truth was computed with another metric (or an unknown one).
            data.ground_truth = None;
        }
        let (n, dim, nq, k) = (data.base.len(), data.dim(), data.queries.len(), args.k);
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(t) = args.threads {
            pool = pool.num_threads(t);
        }
        let pool = pool.build()?;
        let threads = pool.current_num_threads();
        let (opclass, operator) = match metric {
            Metric::L2 => ("vector_l2_ops", "<->"),
            Metric::InnerProduct => ("vector_ip_ops", "<#>"),
            Metric::Cosine => ("vector_cosine_ops", "<=>"),
        };
        eprintln!(
            "dataset {}: {n} × {dim} base, {nq} queries, metric {metric} (pgvector {opclass}, \
             {operator}); M {} efC {}; {threads} build threads",
            data.name, args.m, args.ef_construction
        );

        // --- pgvector: connect, load, build. ---
        let notices = Arc::new(Mutex::new(Vec::new()));
        let mut client = connect(&args.dsn, &notices)?;
        let truth = match &data.ground_truth {
            Some(gt) if gt.dim() >= k.min(n) => gt.clone(),
            _ => {
                eprintln!("computing the exact ground truth");
                ground_truth(
                    data.base.as_slice(),
                    data.queries.as_slice(),
                    dim,
                    k,
                    metric,
                )?
            }
        };
        let server_version: String = client
            .query_one("SHOW server_version", &[])
            .map_err(pg_err("reading server_version"))?
            .get(0);
        let extension_version = ensure_vector_extension(&mut client)?;
        eprintln!("PostgreSQL {server_version}, pgvector {extension_version}");

        let table = args.table.as_str();
        let index_name = format!("{table}_hnsw");
        eprintln!("pgvector: loading {n} vectors into table {table} (binary COPY)");
        let started = Instant::now();
        let mut tx = client
            .transaction()
            .map_err(pg_err("starting a transaction"))?;
        tx.batch_execute(&format!(
            "SET LOCAL client_min_messages = warning; DROP TABLE IF EXISTS {table}; \
             RESET client_min_messages; CREATE TABLE {table} (id bigint PRIMARY KEY, embedding vector({dim}))"
        ))
        .map_err(pg_err(format!("creating table {table}")))?;
        // The vector type's OID is the server's: let it resolve `vector` for us.
        let vector_type: Type = tx
            .prepare("SELECT $1::vector")
            .map_err(pg_err("looking up the vector type"))?
            .params()[0]
            .clone();
        let sink = tx
            .copy_in(&format!(
                "COPY {table} (id, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ))
            .map_err(pg_err("starting COPY"))?;
        let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT8, vector_type]);
        for (i, row) in data.base.rows().enumerate() {
            let id = i as i64;
            writer
                .write(&[&id, &Vector::from(row.to_vec())])
                .map_err(|e| pg_err(format!("COPY, row {i}"))(e))?;
        }
        writer.finish().map_err(pg_err("finishing COPY"))?;
        tx.commit().map_err(pg_err("committing the load"))?;
        let load_seconds = started.elapsed().as_secs_f64();
        // As after any bulk load: statistics for the planner, hint bits and the visibility map
        // set, and nothing left for autovacuum to start in the middle of the measurements.
        let started = Instant::now();
        client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .map_err(pg_err("VACUUM ANALYZE"))?;
        let vacuum_seconds = started.elapsed().as_secs_f64();
        eprintln!("pgvector: loaded in {load_seconds:.2} s, VACUUM ANALYZE {vacuum_seconds:.2} s");

        let work_mem_mib = args
            .maintenance_work_mem_mib
            .unwrap_or_else(|| default_maintenance_work_mem_mib(n, dim, args.m));
        let workers = threads.saturating_sub(1);
        client
            .batch_execute(&format!(
                "SET maintenance_work_mem = '{work_mem_mib}MB'; \
                 SET max_parallel_maintenance_workers = {workers}"
            ))
            .map_err(pg_err(
                "setting maintenance_work_mem and max_parallel_maintenance_workers",
            ))?;
        eprintln!(
            "pgvector: building HNSW (m {}, ef_construction {}, maintenance_work_mem \
             {work_mem_mib} MiB, leader + {workers} parallel workers)",
            args.m, args.ef_construction
        );
        let started = Instant::now();
        client
            .batch_execute(&format!(
                "CREATE INDEX {index_name} ON {table} USING hnsw (embedding {opclass}) \
                 WITH (m = {}, ef_construction = {})",
                args.m, args.ef_construction
            ))
            .map_err(pg_err("building pgvector's HNSW index"))?;
        let pg_build_seconds = started.elapsed().as_secs_f64();
        let sizes = client
            .query_one(
                "SELECT pg_relation_size($1::text::regclass), pg_relation_size($2::text::regclass)",
                &[&index_name, &table],
            )
            .map_err(pg_err("reading the index size"))?;
        let (pg_index_bytes, table_bytes): (i64, i64) = (sizes.get(0), sizes.get(1));
        eprintln!(
            "pgvector: built in {pg_build_seconds:.2} s, index {:.1} MiB",
            pg_index_bytes as f64 / (1u64 << 20) as f64
        );

        // The plan must be the index scan, or we would time a sequential scan. On a small table
        // the planner may prefer scanning and sorting; then, as pgvector's documentation does for
        // testing, turn sequential scans off for this session.
        let query_sql =
            format!("SELECT id FROM {table} ORDER BY embedding {operator} $1 LIMIT {k}");
        let first = Vector::from(data.queries.row(0).to_vec());
        let plan = |client: &mut Client| -> CliResult<Vec<String>> {
            Ok(client
                .query(&format!("EXPLAIN {query_sql}"), &[&first])
                .map_err(pg_err("EXPLAIN of the search query"))?
                .iter()
                .map(|r| r.get(0))
                .collect())
        };
        let uses_index = |plan: &[String]| plan.iter().any(|l| l.contains(&index_name));
        let forced_index_scan = !uses_index(&plan(&mut client)?);
        if forced_index_scan {
            eprintln!(
                "pgvector: the planner prefers a sequential scan; setting enable_seqscan = off"
            );
            client
                .batch_execute("SET enable_seqscan = off")
                .map_err(pg_err("SET enable_seqscan"))?;
            let plan = plan(&mut client)?;
            if !uses_index(&plan) {
                return Err(format!(
                    "PostgreSQL does not use the HNSW index for `{query_sql}`; its plan:\n{}",
                    plan.join("\n")
                )
                .into());
            }
        }
        let statement: Statement = client
            .prepare(&query_sql)
            .map_err(pg_err("preparing the search query"))?;
        let queries: Vec<Vector> = data
            .queries
            .rows()
            .map(|q| Vector::from(q.to_vec()))
            .collect();

        // --- stratavec: one index per codec, on the same data. ---
        let ids: Vec<u64> = (0..n as u64).collect();
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
                ..IndexOptions::new(dim, metric)
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
        let round_trip_p50_us = round_trip_p50_us(&mut client)?;

        // --- The sweep: the same ef on both, one query at a time on one thread. ---
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
            };
        let mut results = Vec::new();
        for &ef in &args.ef {
            eprintln!("ef {ef}: pgvector");
            client
                .batch_execute(&format!("SET hnsw.ef_search = {ef}"))
                .map_err(pg_err("SET hnsw.ef_search"))?;
            let pg = measure(nq, args.repeats, |i| {
                let rows = client
                    .query(&statement, &[&queries[i]])
                    .map_err(|e| pg_err(format!("pgvector search, query {i}"))(e))?;
                Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
            })?;
            let recall = recall_at_k(&pg.found, &truth, k)?;
            results.push(BenchResult::new(
                config("pgvector", ef, Quantization::None, None),
                recall,
                &pg.stats,
                pg_build_seconds,
                pg_index_bytes as u64,
            ));

            for (index, build) in &ours {
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
                    let recall = recall_at_k(&sv.found, &truth, k)?;
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

        // (QPS at the target, whether every ef already reached it) of one line.
        let at_target = |series: &str| {
            let points: Vec<(f64, f64)> = results
                .iter()
                .filter(|r| series_label(&r.config) == series)
                .map(|r| (r.recall_at_k, r.qps_single_thread))
                .collect();
            let all_above = points.iter().all(|&(r, _)| r >= args.target_recall);
            (
                interpolate_qps_at_recall(&points, args.target_recall),
                all_above,
            )
        };
        let (pg_at, pg_bound) = at_target("pgvector f32");
        let mut configs: Vec<ConfigSummary> = Vec::new();
        for r in &results {
            let series = series_label(&r.config);
            if r.config.engine.as_deref() != Some("stratavec")
                || configs.iter().any(|c| c.series == series)
            {
                continue;
            }
            let (at, lower_bound) = at_target(&series);
            configs.push(ConfigSummary {
                quant: r.config.quant.clone(),
                oversample: r.config.oversample,
                qps_at_target: at,
                lower_bound,
                qps_ratio_at_target: at.zip(pg_at).map(|(s, p)| s / p),
                build_seconds: r.build_seconds,
                build_ratio: pg_build_seconds / r.build_seconds,
                series,
            });
        }
        let first = configs
            .first()
            .ok_or("no stratavec configuration measured")?;
        let summary = Summary {
            target_recall: args.target_recall,
            stratavec_qps_at_target: first.qps_at_target,
            stratavec_lower_bound: first.lower_bound,
            pgvector_qps_at_target: pg_at,
            pgvector_lower_bound: pg_bound,
            qps_ratio_at_target: first.qps_ratio_at_target,
            build_ratio: first.build_ratio,
            configs,
        };
        let builds: Vec<StratavecBuild> = ours.into_iter().map(|(_, b)| b).collect();
        let report = CompareReport {
            bench: BenchReport {
                dataset: DatasetInfo {
                    name: data.name.clone(),
                    n_base: n,
                    n_queries: nq,
                    dim,
                    metric,
                },
                machine: pool.install(MachineInfo::current),
                results,
            },
            pgvector: PgvectorSide {
                server_version,
                extension_version,
                table: table.into(),
                index: index_name,
                opclass: opclass.into(),
                operator: operator.into(),
                load_seconds,
                vacuum_seconds,
                build_seconds: pg_build_seconds,
                index_bytes: pg_index_bytes as u64,
                table_bytes: table_bytes as u64,
                maintenance_work_mem_mib: work_mem_mib,
                max_parallel_maintenance_workers: workers,
                round_trip_p50_us,
                forced_index_scan,
                notices: notices.lock().map(|v| v.clone()).unwrap_or_default(),
            },
            stratavec: StratavecSide {
                version: env!("CARGO_PKG_VERSION").into(),
                build_seconds: builds[0].build_seconds,
                build_threads: threads,
                index_bytes: builds[0].index_bytes,
                builds,
            },
            summary,
        };

        print!("{}", side_by_side(&report, TableStyle::Text));
        print!("{}", summary_lines(&report, ""));
        let markdown = format!(
            "{}\n{}",
            side_by_side(&report, TableStyle::Markdown),
            summary_lines(&report, "* ")
        );
        let outputs = [
            (&args.json, serde_json::to_string_pretty(&report)?),
            (&args.csv, report.bench.to_csv()),
            (&args.markdown, markdown),
        ];
        for (path, text) in outputs {
            if let Some(path) = path {
                std::fs::write(path, text).map_err(|e| stratavec::Error::io(path.clone(), e))?;
                eprintln!("wrote {}", path.display());
            }
        }
        if let Some(path) = &args.svg {
            crate::plot::write_svg(&report.bench, path)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }

    /// Median latency of a prepared `SELECT $1::int` from this client.
    fn round_trip_p50_us(client: &mut Client) -> CliResult<f64> {
        let noop = client
            .prepare("SELECT $1::int")
            .map_err(pg_err("preparing a no-op statement"))?;
        let mut latencies = LatencyRecorder::new();
        let started = Instant::now();
        for i in 0..ROUND_TRIPS as i32 {
            let t = Instant::now();
            client
                .query(&noop, &[&i])
                .map_err(pg_err("a no-op round trip"))?;
            latencies.record(t.elapsed());
        }
        Ok(latencies.finish(started.elapsed()).p50_us)
    }

    /// One row per ef: each stratavec configuration's recall, QPS, p50 and p99, then pgvector's,
    /// then each configuration's QPS ratio. With f32 alone the columns are named as before
    /// `--quant` existed (`stratavec R@K`, `QPS ratio`).
    fn side_by_side(report: &CompareReport, style: TableStyle) -> String {
        let results = &report.bench.results;
        let series: Vec<String> = report
            .summary
            .configs
            .iter()
            .map(|c| c.series.clone())
            .collect();
        let find = |series: &str, ef: usize| {
            results
                .iter()
                .find(|r| series_label(&r.config) == series && r.config.ef == ef)
        };
        let k = results.first().map_or(10, |r| r.config.k);
        let only_f32 = series.len() == 1 && report.summary.configs[0].quant == "none";
        let name = |s: &str| {
            if only_f32 {
                "stratavec".to_string()
            } else {
                s.to_string()
            }
        };
        let mut headers = vec!["ef".to_string()];
        for s in &series {
            headers.extend([
                format!("{} R@{k}", name(s)),
                "QPS".into(),
                "p50 µs".into(),
                "p99 µs".into(),
            ]);
        }
        headers.extend([
            format!("pgvector R@{k}"),
            "QPS".into(),
            "p50 µs".into(),
            "p99 µs".into(),
        ]);
        for s in &series {
            headers.push(if only_f32 {
                "QPS ratio".into()
            } else {
                format!("ratio {}", s.trim_start_matches("stratavec "))
            });
        }
        let mut efs: Vec<usize> = results.iter().map(|r| r.config.ef).collect();
        efs.dedup();
        let cells = |r: Option<&BenchResult>| match r {
            Some(r) => vec![
                format!("{:.4}", r.recall_at_k),
                format!("{:.0}", r.qps_single_thread),
                format!("{:.0}", r.latency_us.p50),
                format!("{:.0}", r.latency_us.p99),
            ],
            None => vec!["-".into(); 4],
        };
        let rows: Vec<Vec<String>> = efs
            .iter()
            .map(|&ef| {
                let pg = find("pgvector f32", ef);
                let mut row = vec![ef.to_string()];
                for s in &series {
                    row.extend(cells(find(s, ef)));
                }
                row.extend(cells(pg));
                for s in &series {
                    row.push(match (find(s, ef), pg) {
                        (Some(s), Some(p)) if p.qps_single_thread > 0.0 => {
                            format!("{:.1}×", s.qps_single_thread / p.qps_single_thread)
                        }
                        _ => "-".into(),
                    });
                }
                row
            })
            .collect();
        render_grid(&headers, &rows, style)
    }

    /// The builds and the QPS at the target recall, one line each (per stratavec configuration),
    /// each line starting `bullet`.
    fn summary_lines(report: &CompareReport, bullet: &str) -> String {
        let (pg, sv, s) = (&report.pgvector, &report.stratavec, &report.summary);
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        let qps = |q: Option<f64>, lower_bound: bool| match q {
            Some(q) if lower_bound => format!("≥ {q:.0} (reached at the smallest ef)"),
            Some(q) => format!("{q:.0}"),
            None => "not reached".into(),
        };
        let ratio = |r: Option<f64>| r.map_or_else(|| "-".into(), |r| format!("{r:.1}×"));
        let k = report.bench.results.first().map_or(10, |r| r.config.k);
        let mut out = String::new();
        for c in &s.configs {
            out.push_str(&format!(
                "{bullet}QPS at Recall@{k} {}: {} {}, pgvector {}, ratio {}\n",
                s.target_recall,
                c.series,
                qps(c.qps_at_target, c.lower_bound),
                qps(s.pgvector_qps_at_target, s.pgvector_lower_bound),
                ratio(c.qps_ratio_at_target)
            ));
        }
        for c in &s.configs {
            out.push_str(&format!(
                "{bullet}build: {} {:.2} s on {} threads, pgvector {:.2} s (leader + {} \
                 parallel workers), ratio {:.1}×; pgvector load (COPY) {:.2} s\n",
                c.series,
                c.build_seconds,
                sv.build_threads,
                pg.build_seconds,
                pg.max_parallel_maintenance_workers,
                c.build_ratio,
                pg.load_seconds
            ));
        }
        let ours: Vec<String> = sv
            .builds
            .iter()
            .map(|b| {
                let codec = if b.quant == "none" { "f32" } else { &b.quant };
                format!("{codec} {:.1} MiB", mib(b.index_bytes))
            })
            .collect();
        out.push_str(&format!(
            "{bullet}index: stratavec {} in memory, pgvector {:.1} MiB (table {:.1} MiB)\n",
            ours.join(", "),
            mib(pg.index_bytes),
            mib(pg.table_bytes)
        ));
        out.push_str(&format!(
            "{bullet}PostgreSQL {}, pgvector {}; client–server round trip p50 {:.0} µs\n",
            pg.server_version, pg.extension_version, pg.round_trip_p50_us
        ));
        out
    }
}
