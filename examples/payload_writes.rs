//! What payloads cost a collection: write throughput with the three small fields of
//! `stratavec::eval::small_fields` (a keyword, a float, a timestamp) against the same writes
//! without, in alternating rounds (so a burst of outside load hits both), and the bytes per field
//! of the sealed segment's payload sections.
//!
//! ```text
//! cargo run --release --example payload_writes -- [--rows 20000] [--dim 256] [--batch 100]
//!     [--rounds 6] [--dir PATH]
//! ```
//!
//! Each round writes `rows` rows in batches of `batch` into a fresh collection
//! (`Durability::Buffered`, no seal during the round), once with payloads and once without, in
//! alternating order; the medians and their ratio are printed, with the load average. Then the
//! collection with payloads is flushed and its payload sections measured.

use std::path::PathBuf;
use std::time::Instant;

use stratavec::data::ClusteredSpec;
use stratavec::eval::small_fields;
use stratavec::{Collection, CollectionOptions, Durability, Metric, Payload};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Rows per second writing `data` into a fresh collection in `dir`.
fn write(
    dir: &std::path::Path,
    dim: usize,
    data: &[f32],
    batch: usize,
    payloads: Option<&[Payload]>,
) -> f64 {
    let _ = std::fs::remove_dir_all(dir);
    let mut o = CollectionOptions::new(dim, Metric::L2);
    o.durability = Durability::Buffered;
    o.seal_rows = usize::MAX;
    let col = Collection::open(dir, o).expect("open");
    let n = data.len() / dim;
    let started = Instant::now();
    for first in (0..n).step_by(batch) {
        let last = (first + batch).min(n);
        let ids: Vec<u64> = (first as u64..last as u64).collect();
        let rows = &data[first * dim..last * dim];
        match payloads {
            Some(p) => col.upsert_batch_with_payloads(&ids, rows, &p[first..last]),
            None => col.upsert_batch(&ids, rows),
        }
        .expect("upsert");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rows = arg("--rows", 20_000);
    let dim = arg("--dim", 256);
    let batch = arg("--batch", 100);
    let rounds = arg("--rounds", 6);
    let args: Vec<String> = std::env::args().collect();
    let root = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("stratavec-payload-writes"));
    let (base, _) = ClusteredSpec::new(rows, dim)
        .generate_with_queries(1)
        .expect("data");
    let data = base.as_slice();
    let payloads: Vec<Payload> = (0..rows as u64).map(small_fields).collect();
    println!("load before: {}", load());
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let dir = root.join("round");
        if round % 2 == 0 {
            with.push(write(&dir, dim, data, batch, Some(&payloads)));
            without.push(write(&dir, dim, data, batch, None));
        } else {
            without.push(write(&dir, dim, data, batch, None));
            with.push(write(&dir, dim, data, batch, Some(&payloads)));
        }
        println!(
            "round {round}: with payloads {:.0} rows/s, without {:.0} rows/s",
            with[round], without[round]
        );
    }
    let (w, wo) = (median(with), median(without));
    println!(
        "{rows} rows × {dim}, batches of {batch}: median {w:.0} rows/s with three small fields, \
         {wo:.0} without: {:.3}×; load after: {}",
        w / wo,
        load()
    );

    let dir = root.join("sealed");
    let _ = std::fs::remove_dir_all(&dir);
    let col = Collection::open(&dir, CollectionOptions::new(dim, Metric::L2)).expect("open");
    col.upsert_batch_with_payloads(&(0..rows as u64).collect::<Vec<_>>(), data, &payloads)
        .expect("upsert");
    col.flush().expect("flush");
    drop(col);
    let seg = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".svs"))
        .expect("a segment");
    let index = stratavec::Index::open(seg.path()).expect("open segment");
    let info = index.segment_info().expect("a segment");
    for s in info
        .sections
        .iter()
        .filter(|s| s.name.starts_with("payload"))
    {
        println!(
            "{}: {} bytes, {:.1} bytes per row, {:.1} bytes per field",
            s.name,
            s.len,
            s.len as f64 / rows as f64,
            s.len as f64 / (3 * rows) as f64
        );
    }
}
