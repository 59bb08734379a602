//! PostgreSQL and pgvector: connecting, loading the base vectors with binary `COPY`, building
//! pgvector's HNSW index with the same M and ef_construction, making sure the search query runs on
//! that index, and searching one query at a time through a prepared statement.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, NoTls, Statement};
use stratavec::data::{Dataset, Matrix};
use stratavec::eval::LatencyRecorder;
use stratavec::Metric;

use super::report::PgvectorSide;
use super::ComparePgvectorArgs;
use crate::CliResult;

/// pgvector's limits (`hnsw.ef_search`, the index's `m` and `ef_construction`, dimensions
/// of an HNSW index on `vector`).
pub(super) const PG_MAX_EF_SEARCH: usize = 1000;
pub(super) const PG_M_RANGE: std::ops::RangeInclusive<usize> = 2..=100;
pub(super) const PG_EF_CONSTRUCTION_RANGE: std::ops::RangeInclusive<usize> = 4..=1000;
pub(super) const PG_MAX_HNSW_DIM: usize = 2000;
/// Round trips of a no-op statement timed to show the client–server overhead.
const ROUND_TRIPS: usize = 1000;

/// pgvector's operator class and distance operator for `metric`.
pub(super) fn operators(metric: Metric) -> (&'static str, &'static str) {
    match metric {
        Metric::L2 => ("vector_l2_ops", "<->"),
        Metric::InnerProduct => ("vector_ip_ops", "<#>"),
        Metric::Cosine => ("vector_cosine_ops", "<=>"),
    }
}

/// A connection to the server, with the notices it has sent.
pub(super) struct Server {
    client: Client,
    notices: Arc<Mutex<Vec<String>>>,
}

/// The prepared search query (`SELECT id … ORDER BY embedding <op> $1 LIMIT k`) and the queries
/// as pgvector values.
pub(super) struct Search {
    statement: Statement,
    queries: Vec<Vector>,
}

impl Server {
    /// Connects to `dsn` (see [`connect`]).
    pub(super) fn connect(dsn: &str) -> CliResult<Server> {
        let notices = Arc::new(Mutex::new(Vec::new()));
        let client = connect(dsn, &notices)?;
        Ok(Server { client, notices })
    }

    /// Everything pgvector's side of the comparison needs before the sweep: the versions, the
    /// table loaded and vacuumed, the HNSW index built, and the search query prepared and checked
    /// to use that index. The report's round trip and notices are filled in later.
    pub(super) fn load_and_index(
        &mut self,
        args: &ComparePgvectorArgs,
        data: &Dataset,
        metric: Metric,
        threads: usize,
    ) -> CliResult<(PgvectorSide, Search)> {
        let (opclass, operator) = operators(metric);
        let server_version: String = self
            .client
            .query_one("SHOW server_version", &[])
            .map_err(pg_err("reading server_version"))?
            .get(0);
        let extension_version = ensure_vector_extension(&mut self.client)?;
        eprintln!("PostgreSQL {server_version}, pgvector {extension_version}");

        let table = args.table.as_str();
        let index = format!("{table}_hnsw");
        let (load_seconds, vacuum_seconds) = self.load(table, &data.base)?;
        let build = self.build_index(args, data, &index, opclass, threads)?;
        let (statement, forced_index_scan) =
            self.prepare_search(table, &index, operator, args.k, data.queries.row(0))?;
        let queries = data
            .queries
            .rows()
            .map(|q| Vector::from(q.to_vec()))
            .collect();
        let side = PgvectorSide {
            server_version,
            extension_version,
            table: table.into(),
            index,
            opclass: opclass.into(),
            operator: operator.into(),
            load_seconds,
            vacuum_seconds,
            build_seconds: build.seconds,
            index_bytes: build.index_bytes,
            table_bytes: build.table_bytes,
            maintenance_work_mem_mib: build.work_mem_mib,
            max_parallel_maintenance_workers: build.workers,
            round_trip_p50_us: 0.0,
            forced_index_scan,
            notices: Vec::new(),
        };
        Ok((side, Search { statement, queries }))
    }

    /// (Re)creates `table` and fills it with `base` (ids are row numbers) by binary `COPY` in
    /// one transaction, then `VACUUM ANALYZE`s it. Returns the seconds of each.
    fn load(&mut self, table: &str, base: &Matrix<f32>) -> CliResult<(f64, f64)> {
        let (n, dim) = (base.len(), base.dim());
        eprintln!("pgvector: loading {n} vectors into table {table} (binary COPY)");
        let started = Instant::now();
        let mut tx = self
            .client
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
        for (i, row) in base.rows().enumerate() {
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
        self.client
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .map_err(pg_err("VACUUM ANALYZE"))?;
        let vacuum_seconds = started.elapsed().as_secs_f64();
        eprintln!("pgvector: loaded in {load_seconds:.2} s, VACUUM ANALYZE {vacuum_seconds:.2} s");
        Ok((load_seconds, vacuum_seconds))
    }

    /// Builds pgvector's HNSW index `index` on the table, in parallel (leader plus `threads − 1`
    /// workers) with enough maintenance_work_mem unless `--maintenance-work-mem-mib` says.
    fn build_index(
        &mut self,
        args: &ComparePgvectorArgs,
        data: &Dataset,
        index: &str,
        opclass: &str,
        threads: usize,
    ) -> CliResult<IndexBuild> {
        let table = args.table.as_str();
        let work_mem_mib = args.maintenance_work_mem_mib.unwrap_or_else(|| {
            default_maintenance_work_mem_mib(data.base.len(), data.dim(), args.m)
        });
        let workers = threads.saturating_sub(1);
        self.client
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
        self.client
            .batch_execute(&format!(
                "CREATE INDEX {index} ON {table} USING hnsw (embedding {opclass}) \
                 WITH (m = {}, ef_construction = {})",
                args.m, args.ef_construction
            ))
            .map_err(pg_err("building pgvector's HNSW index"))?;
        let seconds = started.elapsed().as_secs_f64();
        let sizes = self
            .client
            .query_one(
                "SELECT pg_relation_size($1::text::regclass), pg_relation_size($2::text::regclass)",
                &[&index, &table],
            )
            .map_err(pg_err("reading the index size"))?;
        let (index_bytes, table_bytes): (i64, i64) = (sizes.get(0), sizes.get(1));
        eprintln!(
            "pgvector: built in {seconds:.2} s, index {:.1} MiB",
            index_bytes as f64 / (1u64 << 20) as f64
        );
        Ok(IndexBuild {
            seconds,
            index_bytes: index_bytes as u64,
            table_bytes: table_bytes as u64,
            work_mem_mib,
            workers,
        })
    }

    /// Prepares the search query, after making sure its plan is the index scan (or we would time
    /// a sequential scan). On a small table the planner may prefer scanning and sorting; then, as
    /// pgvector's documentation does for testing, sequential scans are turned off for this
    /// session (the returned flag).
    fn prepare_search(
        &mut self,
        table: &str,
        index: &str,
        operator: &str,
        k: usize,
        first_query: &[f32],
    ) -> CliResult<(Statement, bool)> {
        let query_sql =
            format!("SELECT id FROM {table} ORDER BY embedding {operator} $1 LIMIT {k}");
        let first = Vector::from(first_query.to_vec());
        let plan = |client: &mut Client| -> CliResult<Vec<String>> {
            Ok(client
                .query(&format!("EXPLAIN {query_sql}"), &[&first])
                .map_err(pg_err("EXPLAIN of the search query"))?
                .iter()
                .map(|r| r.get(0))
                .collect())
        };
        let uses_index = |plan: &[String]| plan.iter().any(|l| l.contains(index));
        let forced_index_scan = !uses_index(&plan(&mut self.client)?);
        if forced_index_scan {
            eprintln!(
                "pgvector: the planner prefers a sequential scan; setting enable_seqscan = off"
            );
            self.client
                .batch_execute("SET enable_seqscan = off")
                .map_err(pg_err("SET enable_seqscan"))?;
            let plan = plan(&mut self.client)?;
            if !uses_index(&plan) {
                return Err(format!(
                    "PostgreSQL does not use the HNSW index for `{query_sql}`; its plan:\n{}",
                    plan.join("\n")
                )
                .into());
            }
        }
        let statement = self
            .client
            .prepare(&query_sql)
            .map_err(pg_err("preparing the search query"))?;
        Ok((statement, forced_index_scan))
    }

    /// Sets `hnsw.ef_search` for the searches that follow.
    pub(super) fn set_ef_search(&mut self, ef: usize) -> CliResult<()> {
        self.client
            .batch_execute(&format!("SET hnsw.ef_search = {ef}"))
            .map_err(pg_err("SET hnsw.ef_search"))?;
        Ok(())
    }

    /// The ids pgvector finds for query `i`, nearest first.
    pub(super) fn search(&mut self, search: &Search, i: usize) -> CliResult<Vec<u64>> {
        let rows = self
            .client
            .query(&search.statement, &[&search.queries[i]])
            .map_err(|e| pg_err(format!("pgvector search, query {i}"))(e))?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
    }

    /// Median latency of a prepared `SELECT $1::int` from this client.
    pub(super) fn round_trip_p50_us(&mut self) -> CliResult<f64> {
        let noop = self
            .client
            .prepare("SELECT $1::int")
            .map_err(pg_err("preparing a no-op statement"))?;
        let mut latencies = LatencyRecorder::new();
        let started = Instant::now();
        for i in 0..ROUND_TRIPS as i32 {
            let t = Instant::now();
            self.client
                .query(&noop, &[&i])
                .map_err(pg_err("a no-op round trip"))?;
            latencies.record(t.elapsed());
        }
        Ok(latencies.finish(started.elapsed()).p50_us)
    }

    /// The notices the server has sent so far.
    pub(super) fn notices(&self) -> Vec<String> {
        self.notices.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// What building pgvector's index took and made.
struct IndexBuild {
    seconds: f64,
    index_bytes: u64,
    table_bytes: u64,
    work_mem_mib: u64,
    workers: usize,
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
    installed(client)?.ok_or_else(|| "CREATE EXTENSION vector left no `vector` extension".into())
}

/// Enough maintenance_work_mem for pgvector to keep the whole graph in memory while it
/// builds: per vector its value, its neighbour lists (level 0 has 2·m, each entry a pointer
/// and a distance) and bookkeeping, doubled for slack, plus 64 MiB.
fn default_maintenance_work_mem_mib(n: usize, dim: usize, m: usize) -> u64 {
    let per_vector = (dim * 4 + 64 * m + 512) as u64;
    (n as u64 * per_vector * 2).div_ceil(1 << 20) + 64
}
