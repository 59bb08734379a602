//! Writes the seed corpus of `fuzz/` from real, small files: segments (f32, SQ8, SQ4, RaBitQ, cosine,
//! empty, with deletes), a collection's `MANIFEST`, `WAL` and deletion bitmap, `fvecs`/`ivecs`/
//! `bvecs` and `.npy` files, all from the first rows of the digits-64-l2 dataset.
//!
//! ```text
//! cargo run --release --example fuzz_seeds -- fuzz/seeds
//! ```
//!
//! The dataset comes from `$STRATAVEC_DATASETS/digits-64-l2` (default `../shared/datasets`).

use std::fs;
use std::path::Path;

use stratavec::data::{
    datasets_dir, read_fvecs_limit, read_ivecs_limit, write_bvecs, write_fvecs, write_ivecs,
    write_npy_f32, Matrix,
};
use stratavec::{
    Collection, CollectionOptions, Index, IndexOptions, Metric, Payload, Quantization,
};

type Res = Result<(), Box<dyn std::error::Error>>;

fn main() -> Res {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds".to_string());
    let out = Path::new(&out);
    let digits = datasets_dir().join("digits-64-l2");
    let base = read_fvecs_limit(digits.join("base.fvecs"), 40)?;
    let dim = base.dim();
    let dir = |name: &str| -> Result<std::path::PathBuf, std::io::Error> {
        let d = out.join(name);
        fs::create_dir_all(&d)?;
        Ok(d)
    };

    // Segments.
    let seg = dir("segment")?;
    for (name, metric, quant, rows) in [
        ("l2-f32", Metric::L2, Quantization::None, 24),
        ("l2-sq8", Metric::L2, Quantization::Sq8, 24),
        ("cos-sq4", Metric::Cosine, Quantization::Sq4, 24),
        ("ip-f32-small", Metric::InnerProduct, Quantization::None, 6),
        // RaBitQ: one-visit blocks (f32 own vectors) and, with extended codes, 4-bit own codes.
        (
            "l2-rabitq-blocks",
            Metric::L2,
            Quantization::RaBitQ { bits: 0 },
            24,
        ),
        (
            "cos-rabitq4-blocks",
            Metric::Cosine,
            Quantization::RaBitQ { bits: 4 },
            12,
        ),
        ("empty", Metric::L2, Quantization::None, 0),
    ] {
        let mut o = IndexOptions::new(dim, metric);
        o.m = 4;
        o.ef_construction = 16;
        o.quantization = quant;
        let index = Index::new(o)?;
        let ids: Vec<u64> = (0..rows as u64).map(|i| i * 3 + 1).collect();
        index.add_batch(&ids, &base.as_slice()[..rows * dim])?;
        if rows > 4 {
            index.delete(ids[2])?;
        }
        index.save(seg.join(format!("{name}.svs")))?;
    }
    // A tiny dimension keeps the whole file small for the fuzzer.
    let mut o = IndexOptions::new(3, Metric::L2);
    o.m = 2;
    let tiny = Index::new(o)?;
    tiny.add_batch(&[7, 8, 9], &[0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 2.0, 0.0])?;
    tiny.save(seg.join("tiny.svs"))?;
    // Group graphs: with m 2 a keyword value needs 4 · 64 · 2 = 512 rows (and under 30% of
    // them) for its own graph; `tag = "a"` has 600 of 2,400 two-dimensional rows.
    let mut o = IndexOptions::new(2, Metric::L2);
    o.m = 2;
    o.ef_construction = 16;
    let grouped = Index::new(o)?;
    let rows: Vec<f32> = (0..2400 * 2).map(|i| ((i * 37) % 101) as f32).collect();
    let ids: Vec<u64> = (0..2400).collect();
    let payloads: Vec<Payload> = (0..2400)
        .map(|i| Payload::new().with("tag", if i % 4 == 0 { "a" } else { "b" }))
        .collect();
    grouped.add_batch_with_payloads(&ids, &rows, &payloads)?;
    grouped.save(seg.join("l2-groups.svs"))?;

    // A collection: a sealed segment, a deletion bitmap, a manifest naming both, a log with
    // upserts and deletes in it.
    let tmp = tempfile::tempdir()?;
    let mut co = CollectionOptions::new(dim, Metric::L2);
    co.index.m = 4;
    co.index.ef_construction = 16;
    co.compact_deleted_fraction = None;
    let col = Collection::open(tmp.path(), co)?;
    let ids: Vec<u64> = (0..20).collect();
    col.upsert_batch(&ids, &base.as_slice()[..20 * dim])?;
    col.flush()?;
    col.delete_batch(&[1, 5, 9])?;
    col.upsert_batch(&[2, 30], &base.as_slice()[20 * dim..22 * dim])?;
    col.flush()?;
    col.upsert_batch(&[3, 31], &base.as_slice()[22 * dim..24 * dim])?;
    col.delete(4)?;
    drop(col);
    for entry in fs::read_dir(tmp.path())? {
        let entry = entry?;
        let name = entry.file_name().into_string().unwrap_or_default();
        let target = if name == "MANIFEST" {
            dir("manifest")?.join("collection.manifest")
        } else if name == "WAL" {
            dir("wal")?.join("collection.wal")
        } else if name.ends_with(".del") {
            dir("tombstones")?.join(&name)
        } else if name.ends_with(".svs") {
            seg.join(format!("collection-{name}"))
        } else {
            continue;
        };
        fs::copy(entry.path(), target)?;
    }

    // TEXMEX files.
    let tx = dir("texmex")?;
    let few = base.clone().truncated(4);
    write_fvecs(tx.join("digits.fvecs"), &few)?;
    let gt = read_ivecs_limit(digits.join("groundtruth.ivecs"), 2)?;
    write_ivecs(tx.join("digits-gt.ivecs"), &gt.truncated(2))?;
    let bytes: Vec<u8> = few.as_slice().iter().map(|&x| x as u8).collect();
    write_bvecs(tx.join("digits.bvecs"), &Matrix::from_vec(dim, bytes)?)?;

    // NumPy files: what `write_npy_f32` writes, a 1-D array, and float64 in format 2.0.
    let np = dir("npy")?;
    write_npy_f32(np.join("digits.npy"), &few.clone().truncated(3))?;
    fs::write(
        np.join("row.npy"),
        npy(1, "<f4", "(3,)", &f32_bytes(&[1.0, 2.0, 3.0])),
    )?;
    let f64s: Vec<u8> = [0.5f64, -1.0, 2.25, 8.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    fs::write(np.join("f8-v2.npy"), npy(2, "<f8", "(2, 2)", &f64s))?;

    // The search target reads its input as a stream of choices: any bytes will do.
    let search = dir("search")?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..8 {
        let blob: Vec<u8> = (0..64 + 96 * i)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        fs::write(search.join(format!("random-{i}")), blob)?;
    }
    println!("seeds written to {}", out.display());
    Ok(())
}

fn f32_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A `.npy` file of format `major`.0 with the given dtype, shape and data.
fn npy(major: u8, descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (prefix + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([major, 0]);
    if major == 1 {
        out.extend((header.len() as u16).to_le_bytes());
    } else {
        out.extend((header.len() as u32).to_le_bytes());
    }
    out.extend(header.as_bytes());
    out.extend(data);
    out
}
