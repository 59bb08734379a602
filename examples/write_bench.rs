//! Write-path benchmark of a collection: what every write pays for the file I/O under it.
//!
//! ```text
//! cargo run --release --example write_bench -- [--rows 20000] [--dim 64] [--reps 5]
//!     [--sync-ops 300] [--dir PATH]
//! ```
//!
//! Phases, each timed `reps` times on a fresh collection (median printed, min and max beside it):
//!
//! - `delete (Buffered)`: one delete per call of a sealed row: a log append without `fdatasync`
//!   plus a bit in memory, so almost all of it is the append's own path;
//! - `upsert (Buffered)`: one new vector per call: the append and an HNSW insert;
//! - `upsert (Sync)`: one vector per call with `fdatasync` (`--sync-ops` calls): the disk's flush;
//! - `flush`: sealing `rows` unsealed rows (segment file, manifest, log reset);
//! - `compact`: rewriting two segments, a tenth of the rows deleted, into one;
//! - `reopen`: opening the collection with `rows` single-row records in its log to replay.
//!
//! Uses only the public API, so the same file measures any revision (`scripts/write-bench`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use stratavec::data::ClusteredSpec;
use stratavec::{Collection, CollectionOptions, Durability, Metric};

struct Args {
    rows: usize,
    dim: usize,
    reps: usize,
    sync_ops: usize,
    dir: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        rows: 20_000,
        dim: 64,
        reps: 5,
        sync_ops: 300,
        dir: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--rows" => a.rows = v.parse().expect("--rows takes a count"),
            "--dim" => a.dim = v.parse().expect("--dim takes a count"),
            "--reps" => a.reps = v.parse().expect("--reps takes a count"),
            "--sync-ops" => a.sync_ops = v.parse().expect("--sync-ops takes a count"),
            "--dir" => a.dir = Some(PathBuf::from(v)),
            other => panic!("unknown argument {other} (see the example's docs)"),
        }
        i += 2;
    }
    a
}

fn options(dim: usize, durability: Durability) -> CollectionOptions {
    let mut o = CollectionOptions::new(dim, Metric::L2);
    o.durability = durability;
    o.index.ef_construction = 64;
    o.seal_rows = usize::MAX;
    o.compact_deleted_fraction = None;
    o
}

/// Seconds per operation of each repetition of `phase`, which returns (operations, seconds).
fn measure(reps: usize, root: &Path, mut phase: impl FnMut(&Path) -> (usize, f64)) -> Vec<f64> {
    (0..reps)
        .map(|r| {
            let dir = root.join(format!("rep-{r}"));
            let _ = std::fs::remove_dir_all(&dir);
            let (ops, secs) = phase(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            secs / ops as f64
        })
        .collect()
}

fn report(name: &str, per_op: &mut [f64]) {
    per_op.sort_by(f64::total_cmp);
    let us = |s: f64| s * 1e6;
    println!(
        "{name:<20} median {:>10.2} µs/op   min {:>10.2}   max {:>10.2}   ({} reps)",
        us(per_op[per_op.len() / 2]),
        us(per_op[0]),
        us(per_op[per_op.len() - 1]),
        per_op.len()
    );
}

fn main() -> stratavec::Result<()> {
    let a = args();
    let scratch = tempfile_dir(a.dir.as_deref());
    let data = ClusteredSpec::new(a.rows * 2, a.dim).generate()?;
    let ids: Vec<u64> = (0..a.rows as u64).collect();
    let first = &data.as_slice()[..a.rows * a.dim];
    println!(
        "rows {} dim {} reps {} in {}; load {}",
        a.rows,
        a.dim,
        a.reps,
        scratch.display(),
        load()
    );

    let mut t = measure(a.reps, &scratch, |dir| {
        let col = Collection::open(dir, options(a.dim, Durability::Buffered)).unwrap();
        col.upsert_batch(&ids, first).unwrap();
        col.flush().unwrap();
        let start = Instant::now();
        for &id in &ids {
            col.delete(id).unwrap();
        }
        (ids.len(), start.elapsed().as_secs_f64())
    });
    report("delete (Buffered)", &mut t);

    let mut t = measure(a.reps, &scratch, |dir| {
        let col = Collection::open(dir, options(a.dim, Durability::Buffered)).unwrap();
        let start = Instant::now();
        for (i, row) in data.rows().take(a.rows).enumerate() {
            col.upsert(i as u64, row).unwrap();
        }
        (a.rows, start.elapsed().as_secs_f64())
    });
    report("upsert (Buffered)", &mut t);

    let mut t = measure(a.reps, &scratch, |dir| {
        let col = Collection::open(dir, options(a.dim, Durability::Sync)).unwrap();
        let start = Instant::now();
        for (i, row) in data.rows().take(a.sync_ops).enumerate() {
            col.upsert(i as u64, row).unwrap();
        }
        (a.sync_ops, start.elapsed().as_secs_f64())
    });
    report("upsert (Sync)", &mut t);

    let mut t = measure(a.reps, &scratch, |dir| {
        let col = Collection::open(dir, options(a.dim, Durability::Buffered)).unwrap();
        col.upsert_batch(&ids, first).unwrap();
        let start = Instant::now();
        col.flush().unwrap();
        (1, start.elapsed().as_secs_f64())
    });
    report("flush", &mut t);

    let mut t = measure(a.reps, &scratch, |dir| {
        let col = Collection::open(dir, options(a.dim, Durability::Buffered)).unwrap();
        let half = a.rows / 2;
        col.upsert_batch(&ids[..half], &first[..half * a.dim])
            .unwrap();
        col.flush().unwrap();
        col.upsert_batch(&ids[half..], &first[half * a.dim..])
            .unwrap();
        col.flush().unwrap();
        let dead: Vec<u64> = ids.iter().copied().filter(|i| i % 10 == 0).collect();
        col.delete_batch(&dead).unwrap();
        let start = Instant::now();
        col.compact().unwrap();
        (1, start.elapsed().as_secs_f64())
    });
    report("compact", &mut t);

    let mut t = measure(a.reps, &scratch, |dir| {
        {
            let col = Collection::open(dir, options(a.dim, Durability::Buffered)).unwrap();
            for (i, row) in data.rows().take(a.rows).enumerate() {
                col.upsert(i as u64, row).unwrap();
            }
            col.sync().unwrap();
        }
        let start = Instant::now();
        let col = Collection::open(dir, options(a.dim, Durability::Buffered)).unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(col.len(), a.rows);
        (1, secs)
    });
    report("reopen", &mut t);
    println!("load after: {}", load());
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// A fresh scratch folder: `--dir`, or one under the system's temporary folder.
fn tempfile_dir(dir: Option<&Path>) -> PathBuf {
    let base = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let path = base.join(format!("stratavec-write-bench-{}", std::process::id()));
    std::fs::create_dir_all(&path).expect("scratch folder");
    path
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
