//! `stratavec`: the command-line tool. Thin: argument parsing, progress, printing; the work is
//! in the library (`stratavec::eval::run_bench`).

mod compare_pgvector;
mod groundtruth;

use std::path::PathBuf;
use std::process::ExitCode;

mod plot;
mod segment_cmds;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use stratavec::data::synthetic::ClusteredSpec;
use stratavec::data::Dataset;
use stratavec::eval::{run_bench, BenchProgress, BenchReport, BenchSpec, DEFAULT_EFS};
use stratavec::{Layout, Metric, QuantScheme, Quantization, DEFAULT_EF_CONSTRUCTION, DEFAULT_M};

/// Vectors in the built-in default benchmark.
const DEFAULT_SYNTHETIC_N: usize = 500_000;
/// Dimension of the built-in default benchmark.
const DEFAULT_SYNTHETIC_DIM: usize = 128;
/// Queries of the built-in default benchmark.
const DEFAULT_SYNTHETIC_QUERIES: usize = 1_000;

#[derive(Parser)]
#[command(
    name = "stratavec",
    version,
    about = "An embedded vector database engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an index and sweep ef: Recall@K, QPS, latency percentiles, build time, memory.
    ///
    /// Without --dataset it runs on built-in synthetic clustered data (500,000 × 128, L2).
    /// With --index it measures an existing segment file instead of building one.
    Bench(BenchArgs),
    /// Build an index and write it as a segment file.
    Build(segment_cmds::BuildArgs),
    /// Describe a segment file: options, counts, sections.
    Info(segment_cmds::InfoArgs),
    /// Check a segment file completely (checksums, links, id index); exit 0 when intact.
    Verify(segment_cmds::VerifyArgs),
    /// The same benchmark against pgvector's HNSW on a PostgreSQL server (needs the `pgvector`
    /// feature; scripts/pgvector-up starts a server).
    ComparePgvector(compare_pgvector::ComparePgvectorArgs),
    /// Put several result files on one recall-vs-QPS plot (SVG): `bench --json` and
    /// `compare-pgvector --json` reports, and benches/peers/peers.py's JSON.
    Plot(plot::PlotArgs),
    /// Compute a TEXMEX folder's exact ground truth (top 100 by default) into groundtruth.ivecs.
    Groundtruth(groundtruth::GroundtruthArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemeArg {
    PerVector,
    PerDimension,
}

impl SchemeArg {
    fn scheme(self) -> QuantScheme {
        match self {
            SchemeArg::PerVector => QuantScheme::PerVector,
            SchemeArg::PerDimension => QuantScheme::PerDimension,
        }
    }
}

/// How an index is built (shared by `bench` and `build`).
#[derive(Args)]
struct BuildParams {
    /// Quantization scheme: per-vector (LVQ-style, the default) or per-dimension (FAISS-style).
    #[arg(long, default_value = "per-vector")]
    quant_scheme: SchemeArg,
    /// HNSW links per node.
    #[arg(long, default_value_t = DEFAULT_M)]
    m: usize,
    /// Beam width while building.
    #[arg(long, default_value_t = DEFAULT_EF_CONSTRUCTION)]
    ef_construction: usize,
    /// Threads for the build (and, in `bench`, the all-threads QPS); default: all cores.
    #[arg(long)]
    threads: Option<usize>,
}

/// Where the vectors come from (shared by `bench` and `build`).
#[derive(Args)]
struct DataArgs {
    /// A TEXMEX folder (base.fvecs or base.npy, query.fvecs or query.npy, optional
    /// groundtruth.ivecs and METRIC), or an ann-benchmarks .hdf5 file (feature `hdf5`).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Metric (l2, ip, cosine); default: the dataset's METRIC file, else l2.
    #[arg(long)]
    metric: Option<Metric>,
    /// Use only the first N queries.
    #[arg(long)]
    queries: Option<usize>,
    /// Use only the first N base vectors (the ground truth is then recomputed).
    #[arg(long)]
    limit: Option<usize>,
    /// Synthetic data: number of vectors.
    #[arg(long, default_value_t = DEFAULT_SYNTHETIC_N)]
    synthetic_n: usize,
    /// Synthetic data: dimension.
    #[arg(long, default_value_t = DEFAULT_SYNTHETIC_DIM)]
    synthetic_dim: usize,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Measure this segment file (made by `stratavec build`) instead of building an index; the
    /// queries and ground truth come from --dataset (or the synthetic data it was built from).
    #[arg(long)]
    index: Option<PathBuf>,
    /// With --index: read the file into memory (huge pages when the kernel offers them) instead
    /// of mapping it.
    #[arg(long, requires = "index")]
    load: bool,
    /// Neighbours per query (the K of Recall@K).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Beam widths to sweep.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_EFS)]
    ef: Vec<usize>,
    /// Codecs to compare: none (f32), sq8, sq4, rabitq, rabitq2 … rabitq8; one index each.
    #[arg(long, value_delimiter = ',', default_value = "none")]
    quant: Vec<Quantization>,
    /// Reranking oversampling factors to sweep for quantized indexes (k × oversample candidates
    /// rescored exactly; default 2 for sq8, 3 for sq4; RaBitQ: 1 in blocks, 2 in blocks with
    /// extended bits, 3 on compact rows with extended bits, 10 on 1-bit compact rows).
    #[arg(long, value_delimiter = ',')]
    oversample: Vec<usize>,
    /// Code layouts for the RaBitQ indexes: compact (one code row per vector), fastscan (one-visit
    /// blocks: each node holds its neighbours' codes and its own vector) or auto (fastscan); one
    /// index each. Other codecs are compact (SQ4 blocks measured slower and are no longer built).
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    layout: Vec<Layout>,
    #[command(flatten)]
    build: BuildParams,
    /// Single-thread passes per ef; each chunk of 25 queries counts its fastest pass (robust
    /// against other processes on a shared machine).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the results as CSV to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the results as a Markdown table to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Also measure filtered searches: a number keeps that fraction of the ids (e.g.
    /// 0.01,0.1,0.5; a closure on ids); `payload` stores the benchmark payloads
    /// (`stratavec::eval::bench_payloads`) and measures their six filters (kw-0.1%, kw-1%,
    /// kw-10%, kw-50%, range-10%, far-10%), or name some of them. Recall is against the exact
    /// neighbours among the matching rows.
    #[arg(long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Draw Recall@K against single-thread QPS (log scale), one line per configuration, as SVG.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Also search with these recall targets instead of a beam (e.g. 0.9,0.95,0.99): per target,
    /// the Recall@K achieved on the real queries, the QPS, the mean beam chosen, and the QPS
    /// against the fastest ef of the sweep that reaches the same recall.
    #[arg(long, value_delimiter = ',')]
    target_recall: Vec<f64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Bench(args) => match &args.index {
            Some(path) => segment_cmds::bench_index(path, &args),
            None => bench(args),
        },
        Command::Build(args) => segment_cmds::build(args),
        Command::Info(args) => segment_cmds::info(args),
        Command::Verify(args) => segment_cmds::verify(args),
        Command::ComparePgvector(args) => compare_pgvector::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Groundtruth(args) => groundtruth::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult<T> = Result<T, Box<dyn std::error::Error>>;

/// A TEXMEX (or `.npy`) folder, or an ann-benchmarks `.hdf5` file (with the `hdf5` feature).
fn load_dataset(path: &std::path::Path) -> CliResult<Dataset> {
    let is_hdf5 = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("hdf5") || e.eq_ignore_ascii_case("h5"));
    if !is_hdf5 {
        return Ok(Dataset::load_texmex(path)?);
    }
    #[cfg(feature = "hdf5")]
    return Ok(Dataset::load_hdf5(path)?);
    #[cfg(not(feature = "hdf5"))]
    Err(format!(
        "{} is an HDF5 file: build with `--features hdf5` (needs the system's HDF5 library, \
         e.g. Debian's libhdf5-dev)",
        path.display()
    )
    .into())
}

fn load(args: &DataArgs) -> CliResult<Dataset> {
    let data = match &args.dataset {
        Some(path) => load_dataset(path)?,
        None => {
            let spec = ClusteredSpec::new(args.synthetic_n, args.synthetic_dim);
            let (base, queries) = spec.generate_with_queries(DEFAULT_SYNTHETIC_QUERIES)?;
            Dataset {
                base,
                queries,
                ground_truth: None,
                metric: Some(Metric::L2),
                name: format!(
                    "synthetic-clustered-{}x{}",
                    args.synthetic_n, args.synthetic_dim
                ),
            }
        }
    };
    Ok(truncate(data, args.queries, args.limit))
}

/// `--queries N`: only the first N queries (and their ground truth); `--limit N`: only the first
/// N base vectors (the ground truth is then dropped, to be recomputed).
fn truncate(mut data: Dataset, queries: Option<usize>, limit: Option<usize>) -> Dataset {
    if let Some(n) = queries {
        data.queries = data.queries.truncated(n);
        data.ground_truth = data.ground_truth.map(|gt| gt.truncated(n));
    }
    if let Some(n) = limit.filter(|&n| n < data.base.len()) {
        data.base = data.base.truncated(n);
        data.ground_truth = None;
    }
    data
}

/// The `--filter` values: id fractions, and payload filters by name (`payload`: all).
fn filters(args: &BenchArgs) -> CliResult<(Vec<f64>, Vec<stratavec::eval::FilterCase>)> {
    let cases = stratavec::eval::bench_filters();
    let mut fractions = Vec::new();
    let mut payload = Vec::new();
    for f in &args.filter {
        if let Ok(x) = f.parse::<f64>() {
            fractions.push(x);
        } else if f == "payload" {
            payload.extend(cases.iter().cloned());
        } else if let Some(c) = cases.iter().find(|c| c.name == *f) {
            payload.push(c.clone());
        } else {
            let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "--filter {f:?}: not a fraction, `payload` or one of {}",
                names.join(", ")
            )
            .into());
        }
    }
    Ok((fractions, payload))
}

/// The bench spec the flags describe.
fn bench_spec(args: &BenchArgs) -> CliResult<BenchSpec> {
    let (filters, payload_filters) = filters(args)?;
    Ok(BenchSpec {
        m: args.build.m,
        ef_construction: args.build.ef_construction,
        efs: args.ef.clone(),
        quants: args.quant.clone(),
        layouts: args.layout.clone(),
        oversamples: args.oversample.clone(),
        quant_scheme: args.build.quant_scheme.scheme(),
        k: args.k,
        repeats: args.repeats,
        filters,
        payload_filters,
        targets: args.target_recall.clone(),
        ..BenchSpec::default()
    })
}

/// A rayon pool with `threads` threads (default: all cores).
fn thread_pool(threads: Option<usize>) -> CliResult<rayon::ThreadPool> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        pool = pool.num_threads(t);
    }
    Ok(pool.build()?)
}

/// Writes each text to its file when the flag gave one, saying so on stderr.
fn write_files<const N: usize>(outputs: [(&Option<PathBuf>, String); N]) -> CliResult<()> {
    for (path, text) in outputs {
        if let Some(path) = path {
            std::fs::write(path, text).map_err(|e| stratavec::Error::io(path.clone(), e))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Prints the report's table and writes the files the flags ask for.
fn write_outputs(report: &BenchReport, args: &BenchArgs) -> CliResult<()> {
    print!("{}", report.to_text_table());
    print_targets(report);
    write_files([
        (&args.json, serde_json::to_string_pretty(report)?),
        (&args.csv, report.to_csv()),
        (&args.markdown, report.to_markdown()),
    ])?;
    if let Some(path) = &args.svg {
        plot::write_svg(report, path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// One line per recall target: what it achieved against the best fixed ef, and the calibration's
/// share of the build.
fn print_targets(report: &BenchReport) {
    for r in report
        .results
        .iter()
        .filter(|r| r.config.target_recall.is_some())
    {
        let c = &r.config;
        let versus = match r.qps_best_ef {
            Some(q) => format!(
                "{:.2}× the QPS of the fastest ef reaching it",
                r.qps_single_thread / q
            ),
            None => "no ef of the sweep reaches it".into(),
        };
        let calibration = match r.calibration_seconds {
            Some(s) if r.build_seconds > 0.0 => format!(
                "; calibration {s:.2} s = {:.1} % of the build",
                100.0 * s / r.build_seconds
            ),
            _ => String::new(),
        };
        println!(
            "target {} ({}{}): Recall@{} {:.4} ({:+.4}), mean beam {:.1}, {:.0} QPS, {versus}{calibration}",
            c.target_recall.unwrap_or_default(),
            c.quant,
            c.filter.map_or(String::new(), |f| format!(", filter {f}")),
            c.k,
            r.recall_at_k,
            r.recall_at_k - c.target_recall.unwrap_or_default(),
            r.mean_beam.unwrap_or_default(),
            r.qps_single_thread,
        );
    }
}

fn bench(args: BenchArgs) -> CliResult<()> {
    let mut data = load(&args.data)?;
    let metric = args.data.metric.or(data.metric).unwrap_or(Metric::L2);
    if data.metric.is_some_and(|m| m != metric) {
        // The dataset's ground truth is for its own metric: recompute it for the one asked for.
        data.ground_truth = None;
    }
    let spec = bench_spec(&args)?;
    let pool = thread_pool(args.build.threads)?;
    eprintln!(
        "dataset {}: {} × {} base, {} queries, metric {metric}; M {} efC {}; {} threads",
        data.name,
        data.base.len(),
        data.dim(),
        data.queries.len(),
        spec.m,
        spec.ef_construction,
        pool.current_num_threads()
    );

    let bar = ProgressBar::new(data.base.len() as u64).with_style(ProgressStyle::with_template(
        "{msg:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
    )?);
    bar.set_message("building");
    let on_progress = |p: BenchProgress| match p {
        BenchProgress::GroundTruth => bar.set_message("truth"),
        BenchProgress::Build { done, .. } => bar.set_position(done as u64),
        BenchProgress::Search { ef } => {
            bar.finish_and_clear();
            eprintln!("searching with ef {ef}");
        }
        BenchProgress::Target { target } => {
            bar.finish_and_clear();
            eprintln!("searching with target recall {target}");
        }
    };
    let report: BenchReport = pool.install(|| run_bench(&data, metric, &spec, &on_progress))?;
    bar.finish_and_clear();

    write_outputs(&report, &args)
}
