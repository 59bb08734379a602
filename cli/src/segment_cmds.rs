//! `stratavec build`, `info`, `verify` and `bench --index`: segment files from the command line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use stratavec::data::synthetic::ClusteredSpec;
use stratavec::data::{read_fvecs, read_ivecs, Matrix};
use stratavec::eval::{
    bench_opened_index, ground_truth, resident_bytes, BenchProgress, BenchReport, DatasetInfo,
    MachineInfo, OpenInfo,
};
use stratavec::{Index, IndexOptions, Layout, Metric, Quantization};

use super::{
    bench_spec, load, thread_pool, write_outputs, BenchArgs, BuildParams, CliResult, DataArgs,
    DEFAULT_SYNTHETIC_QUERIES,
};

#[derive(Args)]
pub(crate) struct BuildArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The segment file to write.
    #[arg(long)]
    out: PathBuf,
    /// Codec: none (f32), sq8, sq4, rabitq (1-bit codes in one-visit blocks), rabitq2 … rabitq8
    /// (plus extended bits).
    #[arg(long, default_value = "none")]
    quant: Quantization,
    /// Code layout: auto (one-visit blocks for RaBitQ, compact rows otherwise), compact (one code
    /// row per vector) or fastscan (RaBitQ one-visit blocks; SQ4 blocks are no longer written).
    #[arg(long, default_value = "auto")]
    layout: Layout,
    #[command(flatten)]
    build: BuildParams,
}

#[derive(Args)]
pub(crate) struct InfoArgs {
    /// The segment file.
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The segment file.
    file: PathBuf,
}

pub(crate) fn build(args: BuildArgs) -> CliResult<()> {
    let data = load(&args.data)?;
    let metric = args.data.metric.or(data.metric).unwrap_or(Metric::L2);
    let options = IndexOptions {
        m: args.build.m,
        ef_construction: args.build.ef_construction,
        quantization: args.quant,
        quant_scheme: args.build.quant_scheme.scheme(),
        layout: args.layout,
        ..IndexOptions::new(data.dim(), metric)
    };
    let index = Index::new(options)?;
    let pool = thread_pool(args.build.threads)?;
    eprintln!(
        "building {}: {} × {}, metric {metric}, {}, M {} efC {}, {} threads",
        data.name,
        data.base.len(),
        data.dim(),
        args.quant,
        args.build.m,
        args.build.ef_construction,
        pool.current_num_threads()
    );
    let bar = ProgressBar::new(data.base.len() as u64).with_style(ProgressStyle::with_template(
        "building [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
    )?);
    let ids: Vec<u64> = (0..data.base.len() as u64).collect();
    let started = Instant::now();
    pool.install(|| {
        index.add_batch_with_progress(&ids, data.base.as_slice(), &|done, _| {
            bar.set_position(done as u64)
        })
    })?;
    bar.finish_and_clear();
    let built = started.elapsed();
    let started = Instant::now();
    let bytes = index.save(&args.out)?;
    println!(
        "wrote {}: {} vectors, {} bytes; build {:.1} s, write {:.2} s",
        args.out.display(),
        index.len(),
        bytes,
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(crate) fn info(args: InfoArgs) -> CliResult<()> {
    let index = Index::open(&args.file)?;
    let info = index.segment_info().expect("an opened index has a segment");
    let o = index.options();
    if args.json {
        let json = serde_json::json!({
            "segment": info,
            "options": {
                "dim": o.dim, "metric": o.metric, "m": o.m,
                "ef_construction": o.ef_construction, "seed": o.seed,
                "quantization": o.quantization, "quant_scheme": format!("{:?}", o.quant_scheme),
                "layout": o.layout.name(),
            },
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!("file        {}", info.path.display());
    println!("format      version {}", info.format_version);
    println!("size        {} bytes", info.file_bytes);
    println!(
        "vectors     {} live, {} deleted ({} nodes), top level {}",
        info.live, info.deleted, info.nodes, info.max_level
    );
    println!(
        "options     dim {}, metric {}, m {}, ef_construction {}, quantization {} ({:?}), layout {}, seed {:#x}",
        o.dim, o.metric, o.m, o.ef_construction, o.quantization, o.quant_scheme, o.layout.name(), o.seed
    );
    println!("sections    name            offset          bytes   crc32c");
    for s in &info.sections {
        println!(
            "            {:<13} {:>10} {:>14}   {:08x}",
            s.name, s.offset, s.len, s.crc32c
        );
    }
    match &info.calibration {
        Some(c) => print_calibration(c),
        None => println!("calibration none (a target search measures one in memory)"),
    }
    Ok(())
}

/// The calibration curves of a segment: Recall@k per beam, one column per (k, oversample).
fn print_calibration(c: &stratavec::Calibration) {
    println!(
        "calibration {} nodes, {} live when measured; seed {:#x}",
        c.nodes(),
        c.live(),
        c.seed()
    );
    for (si, &sel) in c.selectivities().iter().enumerate() {
        let mut columns = Vec::new();
        for (ki, &k) in c.ks().iter().enumerate() {
            for (oi, &o) in c.oversamples().iter().enumerate() {
                let curve = c.curve(si, ki, oi);
                if !curve.is_empty() {
                    columns.push((format!("R@{k} o{o}"), curve));
                }
            }
        }
        let samples: Vec<String> = c
            .ks()
            .iter()
            .enumerate()
            .map(|(ki, k)| format!("k {k}: {}", c.samples(si, ki)))
            .collect();
        println!(
            "  selectivity {sel}: samples {}; Recall@k by beam (k, oversample)",
            samples.join(", ")
        );
        let mut header = format!("  {:>6}", "beam");
        for (name, _) in &columns {
            header.push_str(&format!(" {name:>10}"));
        }
        println!("{header}");
        for &beam in c.beams() {
            let mut line = format!("  {beam:>6}");
            for (_, curve) in &columns {
                match curve.iter().find(|p| p.beam == beam as usize) {
                    Some(p) => line.push_str(&format!(" {:>10.4}", p.recall)),
                    None => line.push_str(&format!(" {:>10}", "-")),
                }
            }
            println!("{line}");
        }
    }
}

pub(crate) fn verify(args: VerifyArgs) -> CliResult<()> {
    let started = Instant::now();
    let index = Index::open(&args.file)?;
    index.verify()?;
    println!(
        "ok: {} ({} vectors, {} bytes) verified in {:.2} s",
        args.file.display(),
        index.len(),
        std::fs::metadata(&args.file)
            .map(|m| m.len())
            .unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `stratavec bench --index FILE`: open (or with `--load` read; timed, resident memory before and
/// after), run the queries, then load or compute the ground truth and score them.
pub(crate) fn bench_index(path: &Path, args: &BenchArgs) -> CliResult<()> {
    let queries = load_queries(&args.data)?;
    let before = resident_bytes();
    let started = Instant::now();
    let index = if args.load {
        Index::load(path)?
    } else {
        Index::open(path)?
    };
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let after_open = resident_bytes();
    let file_bytes = std::fs::metadata(path)
        .map_err(|e| stratavec::Error::io(path, e))?
        .len();
    eprintln!(
        "opened {} in {open_ms:.2} ms: {} vectors, {file_bytes} bytes; resident {} → {} MiB",
        path.display(),
        index.len(),
        before.unwrap_or(0) >> 20,
        after_open.unwrap_or(0) >> 20
    );
    let spec = bench_spec(args)?;
    let pool = thread_pool(args.build.threads)?;
    let on_progress = |p: BenchProgress| {
        if let BenchProgress::Search { ef } = p {
            eprintln!("searching with ef {ef}");
        }
    };
    let opened = OpenInfo {
        open_ms,
        resident_bytes_after_open: after_open,
        file_bytes,
    };
    let metric = index.metric();
    let k = args.k;
    let truth = || -> stratavec::Result<Matrix<u32>> {
        eprintln!("loading the ground truth");
        ground_truth_for(&args.data, &queries, index.len(), metric, k)
    };
    let results =
        pool.install(|| bench_opened_index(&index, &queries, truth, &spec, opened, &on_progress))?;
    let name = match &args.data.dataset {
        Some(dir) => dir.display().to_string(),
        None => synthetic_name(&args.data),
    };
    let report = BenchReport {
        dataset: DatasetInfo {
            name: format!("{name} (index {})", path.display()),
            n_base: index.len(),
            n_queries: queries.len(),
            dim: index.dim(),
            metric,
        },
        machine: MachineInfo::current(),
        results,
    };
    println!(
        "open {open_ms:.2} ms; resident after open {} MiB of a {} MiB file",
        after_open.unwrap_or(0) >> 20,
        file_bytes >> 20
    );
    write_outputs(&report, args)
}

fn synthetic_name(d: &DataArgs) -> String {
    format!("synthetic-clustered-{}x{}", d.synthetic_n, d.synthetic_dim)
}

/// The queries alone (the base is not read: it would count in the resident memory measured).
fn load_queries(d: &DataArgs) -> CliResult<Matrix<f32>> {
    let queries = match &d.dataset {
        Some(dir) if dir.is_file() => super::load_dataset(dir)?.queries,
        Some(dir) => read_fvecs(dir.join("query.fvecs"))?,
        None => ClusteredSpec::new(d.synthetic_n, d.synthetic_dim)
            .generate_queries(DEFAULT_SYNTHETIC_QUERIES)?,
    };
    Ok(match d.queries {
        Some(n) => queries.truncated(n),
        None => queries,
    })
}

/// The dataset's ground truth when it matches the index (same base size, k columns), else exact
/// neighbours computed from the base (re-generated for synthetic data).
fn ground_truth_for(
    d: &DataArgs,
    queries: &Matrix<f32>,
    n_index: usize,
    metric: Metric,
    k: usize,
) -> stratavec::Result<Matrix<u32>> {
    if let Some(file) = d.dataset.as_ref().filter(|p| p.is_file()) {
        let data = super::load_dataset(file).map_err(|e| stratavec::Error::InvalidParameter {
            name: "dataset",
            reason: e.to_string(),
        })?;
        return match data.ground_truth {
            Some(gt) if gt.dim() >= k && d.limit.is_none() => Ok(gt.truncated(queries.len())),
            _ => ground_truth(
                data.base.as_slice(),
                queries.as_slice(),
                data.dim(),
                k,
                metric,
            ),
        };
    }
    if let Some(dir) = &d.dataset {
        let gt_path = dir.join("groundtruth.ivecs");
        if gt_path.exists() && d.limit.is_none() {
            let gt = read_ivecs(&gt_path)?.truncated(queries.len());
            if gt.dim() >= k && gt.len() == queries.len() {
                let ids = gt.as_slice().iter().map(|&i| i as u32).collect();
                return Matrix::from_vec(gt.dim(), ids);
            }
        }
    }
    let base = match &d.dataset {
        Some(dir) => read_fvecs(dir.join("base.fvecs"))?,
        None => ClusteredSpec::new(d.synthetic_n, d.synthetic_dim).generate()?,
    };
    let base = match d.limit {
        Some(n) => base.truncated(n),
        None => base,
    };
    if base.len() != n_index {
        return Err(stratavec::Error::InvalidParameter {
            name: "index",
            reason: format!(
                "the index holds {n_index} vectors but the data has {}: pass the same --dataset, \
                 --limit or --synthetic-n as to `stratavec build`",
                base.len()
            ),
        });
    }
    ground_truth(base.as_slice(), queries.as_slice(), base.dim(), k, metric)
}
