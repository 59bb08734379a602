//! Golden segment files: small segments of each format version, written once by the code of that
//! version and committed under `tests/golden/`, with the search results that code returned. Today's
//! reader must open every one of them (mapped, loaded and from bytes), pass `verify()`, and return
//! the same ids with the same distance bits — so a format change can never silently break an old
//! file.
//!
//! The files (each with a `.expected` text file beside it):
//!
//! | file | version | codec | metric | scheme | layout | rows |
//! |---|---:|---|---|---|---|---|
//! | `segment-v1-f32-l2.svs` | 1 | f32 | l2 | – | compact | 500 |
//! | `segment-v1-sq8-ip.svs` | 1 | sq8 | ip | per-dimension | compact | 500 |
//! | `segment-v1-sq4-cosine.svs` | 1 | sq4 | cosine | per-vector | compact | 500 |
//! | `segment-v1-sq8-l2-deleted.svs` | 1 | sq8 | l2 | per-vector | compact | 500, 50 deleted |
//! | `segment-v2-sq4-l2-fastscan.svs` | 2 | sq4 | l2 | per-vector | fast-scan | 200 |
//!
//! The data is seeded and synthetic, of dimension 23 (so rows are padded to the stride of 32 and
//! code rows to theirs), with values chosen so that every exact distance is computed without
//! rounding in any order of summation: integers for l2 and ip, and for cosine vectors `k / 64`
//! with integer `k` and `Σ k² = 64²` (unit length exactly, so normalising leaves them as they are).
//! The exactly reranked results are then the same bits on every CPU, whatever SIMD kernel sums
//! them, and are compared bit for bit (the test also checks that each recorded distance is the
//! scalar reference's). The traversal's own distances on codes (`Rerank::None`, the `codes`
//! lines) are rounded: the 8-bit kernels sum in their own order on each CPU, so these are
//! compared to 0.1% of the query's distance scale, which a misread code row, codec or fast-scan
//! block fails by far.
//!
//! The writer is [`write_golden_segments`], an ignored test. **Run it only with the code of the
//! format version being frozen, and never regenerate an existing golden file**: it writes only
//! the files that are missing and refuses to touch the others. A new format version gets new
//! files (`segment-v3-….svs`); the old ones stay, and this test keeps reading them.
//!
//! ```sh
//! STRATAVEC_WRITE_GOLDEN=1 cargo test --release --test golden_segments -- --ignored
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use stratavec::distance::scalar;
use stratavec::{Index, IndexOptions, Metric, QuantScheme, Quantization, Rerank, SearchParams};
use stratavec::{Layout, Neighbor};

/// Dimension of every golden file: odd, and not a multiple of 16 or 8.
const DIM: usize = 23;
/// Neighbours per query.
const K: usize = 10;
/// Queries per file.
const QUERIES: usize = 20;
/// The beam of the recorded searches.
const EF: usize = 64;
/// Candidates reranked per result in the exact searches of quantized files: wide enough that the
/// exact top 10 is among them whatever the code kernel's rounding.
const OVERSAMPLE: usize = 5;
/// Links per node (small, to keep the files small).
const M: usize = 8;

/// One golden file's recipe.
struct Golden {
    name: &'static str,
    version: u32,
    metric: Metric,
    quantization: Quantization,
    scheme: QuantScheme,
    layout: Layout,
    rows: usize,
    /// Every `delete_every`-th row is deleted before the file is written (0: none).
    delete_every: usize,
    seed: u64,
}

const GOLDEN: [Golden; 5] = [
    Golden {
        name: "segment-v1-f32-l2",
        version: 1,
        metric: Metric::L2,
        quantization: Quantization::None,
        scheme: QuantScheme::PerVector,
        layout: Layout::Compact,
        rows: 500,
        delete_every: 0,
        seed: 1,
    },
    Golden {
        name: "segment-v1-sq8-ip",
        version: 1,
        metric: Metric::InnerProduct,
        quantization: Quantization::Sq8,
        scheme: QuantScheme::PerDimension,
        layout: Layout::Compact,
        rows: 500,
        delete_every: 0,
        seed: 2,
    },
    Golden {
        name: "segment-v1-sq4-cosine",
        version: 1,
        metric: Metric::Cosine,
        quantization: Quantization::Sq4,
        scheme: QuantScheme::PerVector,
        layout: Layout::Compact,
        rows: 500,
        delete_every: 0,
        seed: 3,
    },
    Golden {
        name: "segment-v1-sq8-l2-deleted",
        version: 1,
        metric: Metric::L2,
        quantization: Quantization::Sq8,
        scheme: QuantScheme::PerVector,
        layout: Layout::Compact,
        rows: 500,
        delete_every: 10,
        seed: 4,
    },
    Golden {
        name: "segment-v2-sq4-l2-fastscan",
        version: 2,
        metric: Metric::L2,
        quantization: Quantization::Sq4,
        scheme: QuantScheme::PerVector,
        layout: Layout::FastScan,
        rows: 200,
        delete_every: 0,
        seed: 5,
    },
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

// --- What a golden file is checked against ---

/// The contents of a `.expected` file.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    format_version: u32,
    live: usize,
    deleted: usize,
    /// FNV-1a over every live id and the bits of its stored vector, ids ascending.
    vectors_hash: u64,
    queries: Vec<Vec<f32>>,
    /// Per query: the exactly reranked hits.
    exact: Vec<Vec<Neighbor>>,
    /// Per query: the traversal's hits on codes (`Rerank::None`; quantized files only).
    codes: Vec<Vec<Neighbor>>,
}

impl Expected {
    /// What `index` holds and returns for `queries`.
    fn record(index: &Index, queries: Vec<Vec<f32>>) -> Expected {
        let info = index.segment_info().expect("an opened segment");
        let quantized = index.options().quantization != Quantization::None;
        let mut exact = Vec::new();
        let mut codes = Vec::new();
        for q in &queries {
            exact.push(search(index, q, exact_params()));
            if quantized {
                codes.push(search(index, q, codes_params()));
            }
        }
        Expected {
            format_version: info.format_version,
            live: info.live,
            deleted: info.deleted,
            vectors_hash: vectors_hash(index),
            queries,
            exact,
            codes,
        }
    }

    fn to_text(&self, g: &Golden) -> String {
        let mut s = format!(
            "# tests/golden/{}.expected: what the code that wrote {}.svs returned (format version \
             {}).\n# Written once by tests/golden_segments.rs (write_golden_segments); never \
             regenerate.\n# f32 values are their bits in hex; hits are id:distance-bits, nearest \
             first.\n",
            g.name, g.name, g.version
        );
        writeln!(s, "format_version {}", self.format_version).unwrap();
        writeln!(s, "live {}", self.live).unwrap();
        writeln!(s, "deleted {}", self.deleted).unwrap();
        writeln!(s, "vectors_hash {:016x}", self.vectors_hash).unwrap();
        writeln!(s, "k {K} ef {EF} oversample {OVERSAMPLE}").unwrap();
        let hits = |hits: &[Neighbor]| -> String {
            hits.iter()
                .map(|h| format!(" {}:{:08x}", h.id, h.distance.to_bits()))
                .collect()
        };
        for (i, q) in self.queries.iter().enumerate() {
            let bits: String = q.iter().map(|x| format!(" {:08x}", x.to_bits())).collect();
            writeln!(s, "query{bits}").unwrap();
            writeln!(s, "exact{}", hits(&self.exact[i])).unwrap();
            if let Some(codes) = self.codes.get(i) {
                writeln!(s, "codes{}", hits(codes)).unwrap();
            }
        }
        s
    }

    fn parse(text: &str) -> Expected {
        let mut e = Expected::default();
        let bits = |t: &str| f32::from_bits(u32::from_str_radix(t, 16).expect("hex f32 bits"));
        let hits = |rest: &[&str]| -> Vec<Neighbor> {
            rest.iter()
                .map(|t| {
                    let (id, d) = t.split_once(':').expect("id:bits");
                    Neighbor {
                        id: id.parse().expect("an id"),
                        distance: bits(d),
                    }
                })
                .collect()
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["format_version", v] => e.format_version = v.parse().unwrap(),
                ["live", v] => e.live = v.parse().unwrap(),
                ["deleted", v] => e.deleted = v.parse().unwrap(),
                ["vectors_hash", v] => e.vectors_hash = u64::from_str_radix(v, 16).unwrap(),
                ["k", k, "ef", ef, "oversample", o] => assert_eq!(
                    [k, ef, o].map(|v| v.parse::<usize>().unwrap()),
                    [K, EF, OVERSAMPLE],
                    "the search parameters of the file are those of this test"
                ),
                ["query", rest @ ..] => e.queries.push(rest.iter().map(|t| bits(t)).collect()),
                ["exact", rest @ ..] => e.exact.push(hits(rest)),
                ["codes", rest @ ..] => e.codes.push(hits(rest)),
                [] => {}
                other => panic!("unexpected line in a .expected file: {other:?}"),
            }
        }
        e
    }
}

fn exact_params() -> SearchParams<'static> {
    SearchParams::new(K)
        .ef(EF)
        .oversample(OVERSAMPLE)
        .rerank(Rerank::Auto)
}

fn codes_params() -> SearchParams<'static> {
    SearchParams::new(K).ef(EF).rerank(Rerank::None)
}

fn search(index: &Index, query: &[f32], params: SearchParams<'_>) -> Vec<Neighbor> {
    index.search_with(query, &params).expect("a golden search")
}

/// The distance by the scalar reference kernels, summing in index order.
fn scalar_distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2 => scalar::l2_squared(a, b),
        Metric::InnerProduct | Metric::Cosine => scalar::ip_distance(a, b),
    }
}

fn vectors_hash(index: &Index) -> u64 {
    let mut ids = index.ids();
    ids.sort_unstable();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for id in ids {
        eat(&id.to_le_bytes());
        for x in index.get(id).expect("a live id") {
            eat(&x.to_bits().to_le_bytes());
        }
    }
    h
}

// --- The test ---

/// The bytes of a file, copied to an 8-byte boundary as `Index::from_bytes` needs.
struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn read(path: &Path) -> Aligned {
        let bytes = std::fs::read(path).unwrap();
        let mut buf = vec![0u8; bytes.len() + 8];
        let start = buf.as_ptr().align_offset(8);
        buf[start..start + bytes.len()].copy_from_slice(&bytes);
        Aligned {
            buf,
            start,
            len: bytes.len(),
        }
    }
}

impl AsRef<[u8]> for Aligned {
    fn as_ref(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

#[test]
fn every_golden_segment_opens_verifies_and_returns_what_its_writer_returned() {
    for g in &GOLDEN {
        let path = golden_dir().join(format!("{}.svs", g.name));
        let text = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|e| panic!("{}.expected: {e}", g.name));
        let want = Expected::parse(&text);
        assert_eq!(want.queries.len(), QUERIES, "{}", g.name);
        assert_eq!(want.format_version, g.version, "{}", g.name);
        let opened = [
            ("open", Index::open(&path)),
            ("load", Index::load(&path)),
            ("from_bytes", Index::from_bytes(Aligned::read(&path))),
        ];
        for (how, index) in opened {
            let what = format!("{} ({how})", g.name);
            let index = index.unwrap_or_else(|e| panic!("{what}: {e}"));
            index
                .verify()
                .unwrap_or_else(|e| panic!("{what}: verify: {e}"));
            check_options(&index, g, &what);
            check_results(&index, &want, &what);
        }
    }
}

fn check_options(index: &Index, g: &Golden, what: &str) {
    let o = index.options();
    assert_eq!(
        (o.dim, o.metric, o.m, o.quantization, o.layout),
        (DIM, g.metric, M, g.quantization, g.layout),
        "{what}"
    );
    if g.quantization != Quantization::None {
        assert_eq!(o.quant_scheme, g.scheme, "{what}");
    }
    assert!(index.is_read_only(), "{what}");
}

fn check_results(index: &Index, want: &Expected, what: &str) {
    let got = Expected::record(index, want.queries.clone());
    assert_eq!(
        (got.format_version, got.live, got.deleted),
        (want.format_version, want.live, want.deleted),
        "{what}: version, live and deleted counts"
    );
    assert_eq!(
        got.vectors_hash, want.vectors_hash,
        "{what}: stored vectors"
    );
    for (q, (g, w)) in got.exact.iter().zip(&want.exact).enumerate() {
        assert_eq!(g.len(), K, "{what}: query {q}");
        let bits = |hits: &[Neighbor]| -> Vec<(u64, u32)> {
            hits.iter().map(|h| (h.id, h.distance.to_bits())).collect()
        };
        assert_eq!(bits(g), bits(w), "{what}: query {q}, exact hits");
        for h in w {
            let v = index.get(h.id).unwrap();
            assert_eq!(
                h.distance.to_bits(),
                scalar_distance(index.metric(), &want.queries[q], &v).to_bits(),
                "{what}: query {q}, id {}: a recorded distance is the scalar reference's, so \
                 any kernel gives the same bits",
                h.id
            );
        }
    }
    assert_eq!(got.codes.len(), want.codes.len(), "{what}");
    for (q, (g, w)) in got.codes.iter().zip(&want.codes).enumerate() {
        assert_codes_close(g, w, &format!("{what}: query {q}, hits on codes"));
    }
}

/// The traversal's hits on codes against the recorded ones: at least 8 of the 10 ids in common
/// (a rounding difference may swap the last ones), each common id's distance within 0.1% of the
/// recorded distances' scale. Bit-identical on the CPU that wrote the file; another code kernel
/// rounds differently, while a misread code row, codec or block gives unrelated distances.
fn assert_codes_close(got: &[Neighbor], want: &[Neighbor], what: &str) {
    let scale = want.iter().map(|h| h.distance.abs()).fold(1e-3, f32::max);
    let mut common = 0;
    for w in want {
        if let Some(g) = got.iter().find(|g| g.id == w.id) {
            common += 1;
            let diff = (g.distance - w.distance).abs();
            assert!(
                diff <= 1e-3 * scale,
                "{what}: id {} at {} instead of {} (scale {scale})",
                w.id,
                g.distance,
                w.distance
            );
        }
    }
    assert!(
        got.len() == want.len() && common >= want.len() - 2,
        "{what}: {common} of {} ids in common: {got:?} vs {want:?}",
        want.len()
    );
}

// --- The writer (run once per format version; never regenerates a file) ---

/// splitmix64: the data does not depend on any crate's generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An integer in `-r ..= r`.
    fn int(&mut self, r: i64) -> i64 {
        (self.next() % (2 * r as u64 + 1)) as i64 - r
    }
}

/// A vector whose exact distances to others like it need no rounding: integers in ±300 for l2
/// and ip (squares and products of 23 of them stay below 2²⁴), or `k / 64` with `Σ k² = 64²`
/// for cosine (unit length exactly; products are multiples of 2⁻¹² below 1).
fn exact_vector(rng: &mut Rng, metric: Metric) -> Vec<f32> {
    if metric != Metric::Cosine {
        return (0..DIM).map(|_| rng.int(300) as f32).collect();
    }
    loop {
        // The last component completes the norm when what remains is a perfect square.
        let k: Vec<i64> = (0..DIM - 1).map(|_| rng.int(24)).collect();
        let rest = 64 * 64 - k.iter().map(|x| x * x).sum::<i64>();
        if rest < 0 {
            continue;
        }
        let last = (rest as f64).sqrt().round() as i64;
        if last * last == rest {
            let sign = if rng.next() & 1 == 0 { 1 } else { -1 };
            let mut v: Vec<f32> = k.iter().map(|&x| x as f32 / 64.0).collect();
            v.push((sign * last) as f32 / 64.0);
            return v;
        }
    }
}

/// The user id of row `i`: spread over the u64 range, so the labels' high bits are exercised.
fn user_id(i: usize) -> u64 {
    (1u64 << 40) + i as u64 * 1_000_003
}

/// Queries whose exact top `K + 1` distances are all different among the live rows, so the
/// expected hits have no ties whose order a correct reader could change.
fn untied_queries(
    rng: &mut Rng,
    metric: Metric,
    base: &[Vec<f32>],
    live: &[bool],
) -> Vec<Vec<f32>> {
    let mut queries = Vec::new();
    while queries.len() < QUERIES {
        let q = exact_vector(rng, metric);
        let mut d: Vec<f32> = base
            .iter()
            .zip(live)
            .filter(|(_, &l)| l)
            .map(|(v, _)| metric.distance(&q, v))
            .collect();
        d.sort_by(f32::total_cmp);
        if d[..=K].windows(2).all(|w| w[0] != w[1]) {
            queries.push(q);
        }
    }
    queries
}

fn write_golden(g: &Golden, path: &Path) {
    let mut rng = Rng(0x601D_E000 + g.seed);
    let base: Vec<Vec<f32>> = (0..g.rows)
        .map(|_| exact_vector(&mut rng, g.metric))
        .collect();
    let live: Vec<bool> = (0..g.rows)
        .map(|i| g.delete_every == 0 || i % g.delete_every != 3)
        .collect();
    let options = IndexOptions {
        m: M,
        quantization: g.quantization,
        quant_scheme: g.scheme,
        layout: g.layout,
        ..IndexOptions::new(DIM, g.metric)
    };
    let index = Index::new(options).unwrap();
    let ids: Vec<u64> = (0..g.rows).map(user_id).collect();
    index.add_batch(&ids, &base.concat()).unwrap();
    for (i, _) in live.iter().enumerate().filter(|(_, &l)| !l) {
        index.delete(user_id(i)).unwrap();
    }
    index.save(path).unwrap();

    let opened = Index::open(path).unwrap();
    opened.verify().unwrap();
    let queries = untied_queries(&mut rng, g.metric, &base, &live);
    let expected = Expected::record(&opened, queries);
    assert_eq!(expected.format_version, g.version, "{}", g.name);
    // How the recorded hits compare with the exact neighbours, for the person freezing the files.
    let mut found = 0;
    for (q, hits) in expected.queries.iter().zip(&expected.exact) {
        let truth = opened.search_exact(q, &SearchParams::new(K)).unwrap();
        found += hits
            .iter()
            .filter(|h| truth.iter().any(|t| t.id == h.id))
            .count();
    }
    eprintln!(
        "wrote {} ({} bytes): recall@{K} of the recorded hits {:.3}",
        path.display(),
        std::fs::metadata(path).unwrap().len(),
        found as f64 / (K * QUERIES) as f64
    );
    std::fs::write(path.with_extension("expected"), expected.to_text(g)).unwrap();
}

/// Writes the golden files that are missing (never one that exists). Run only with the code of
/// the format version being frozen; see the module docs.
#[test]
#[ignore = "writes golden files; run once per format version (see the module docs)"]
fn write_golden_segments() {
    if std::env::var_os("STRATAVEC_WRITE_GOLDEN").is_none() {
        eprintln!("set STRATAVEC_WRITE_GOLDEN=1 to write the missing golden files");
        return;
    }
    for g in &GOLDEN {
        let path = golden_dir().join(format!("{}.svs", g.name));
        if path.exists() || path.with_extension("expected").exists() {
            eprintln!(
                "keeping {} (golden files are never regenerated)",
                path.display()
            );
            continue;
        }
        write_golden(g, &path);
    }
}
