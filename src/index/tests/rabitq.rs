//! RaBitQ indexes: recall computed against exact search in every metric, layout and extended
//! width, round trips through segment files, and damaged blocks caught by `verify`.

use crate::base::options::{IndexOptions, Layout, Quantization};
use crate::data::synthetic::ClusteredSpec;
use crate::distance::Metric;
use crate::index::{Index, SearchParams};
use crate::rerank::Rerank;

fn rabitq(bits: u8) -> Quantization {
    Quantization::RaBitQ { bits }
}

/// An index of `n` clustered `dim`-dimensional vectors and 40 queries from the same mixture.
fn build(
    n: usize,
    dim: usize,
    metric: Metric,
    quant: Quantization,
    layout: Layout,
) -> (Index, Vec<f32>) {
    let (base, queries) = ClusteredSpec::new(n, dim)
        .generate_with_queries(40)
        .unwrap();
    let mut o = IndexOptions::new(dim, metric);
    o.quantization = quant;
    o.layout = layout;
    o.ef_construction = 80;
    let index = Index::new(o).unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| 3 * i + 1).collect();
    index.add_batch(&ids, base.as_slice()).unwrap();
    (index, queries.as_slice().to_vec())
}

/// Recall@10 of `index` with `params` against its exact search.
fn recall(index: &Index, queries: &[f32], params: &SearchParams<'_>) -> f64 {
    let (mut hits, mut total) = (0usize, 0usize);
    for q in queries.chunks_exact(index.dim()) {
        let exact = index.search_exact(q, &SearchParams::new(10)).unwrap();
        let got = index.search_with(q, params).unwrap();
        assert_eq!(got.len(), 10);
        hits += got
            .iter()
            .filter(|g| exact.iter().any(|e| e.id == g.id))
            .count();
        total += exact.len();
    }
    hits as f64 / total as f64
}

#[test]
fn rabitq_indexes_find_the_nearest_neighbours_in_every_layout_and_metric() {
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        for (bits, layout) in [
            (0, Layout::FastScan),
            (8, Layout::FastScan),
            (0, Layout::Compact),
            (4, Layout::Compact),
            (8, Layout::Compact),
        ] {
            let (index, queries) = build(3000, 48, metric, rabitq(bits), layout);
            assert_eq!(index.options().layout, layout);
            let what = format!("{metric} rabitq{bits} {layout}");
            let r = recall(&index, &queries, &SearchParams::new(10).ef(64));
            eprintln!("{what}: recall@10 {r}");
            assert!(r >= 0.9, "{what}: recall@10 {r}");
            if layout == Layout::FastScan && bits == 0 {
                // The walk's results are the visited nodes with their exact distances.
                let q = &queries[..48];
                let got = index.search_with(q, &SearchParams::new(10).ef(64)).unwrap();
                let exact = index.search_exact(q, &SearchParams::new(50)).unwrap();
                for g in &got {
                    if let Some(e) = exact.iter().find(|e| e.id == g.id) {
                        assert_eq!(g.distance, e.distance, "{what}: not an exact distance");
                    }
                }
            }
            if layout == Layout::Compact && bits >= 4 {
                // From the extended codes alone, without the exact reranking.
                let p = SearchParams::new(10).ef(64).rerank(Rerank::None);
                let r = recall(&index, &queries, &p);
                eprintln!("{what} without reranking: recall@10 {r}");
                let floor = if bits == 8 { 0.95 } else { 0.8 };
                assert!(r >= floor, "{what} without reranking: recall@10 {r}");
            }
        }
    }
}

#[test]
fn the_auto_layout_of_rabitq_is_the_blocks_and_bits_are_checked() {
    let mut o = IndexOptions::new(8, Metric::L2);
    o.quantization = rabitq(0);
    assert_eq!(
        Index::new(o.clone()).unwrap().options().layout,
        Layout::FastScan
    );
    o.quantization = rabitq(1);
    assert!(
        Index::new(o.clone()).is_err(),
        "1 extended bit is the walk's own code"
    );
    o.quantization = rabitq(9);
    assert!(Index::new(o).is_err());
    assert_eq!("rabitq4".parse::<Quantization>().unwrap(), rabitq(4));
    assert_eq!("rabitq".parse::<Quantization>().unwrap(), rabitq(0));
    assert!("rabitq9".parse::<Quantization>().is_err());
    for q in [rabitq(0), rabitq(2), rabitq(8)] {
        assert_eq!(q.name().parse::<Quantization>().unwrap(), q);
    }
}

#[test]
fn rabitq_segments_search_exactly_like_the_original_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    for (bits, layout) in [
        (0, Layout::FastScan),
        (4, Layout::FastScan),
        (4, Layout::Compact),
    ] {
        for metric in [Metric::L2, Metric::Cosine] {
            let (index, queries) = build(1500, 37, metric, rabitq(bits), layout);
            let path = dir.path().join(format!("{metric}-{bits}-{layout}.svs"));
            index.save(&path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
                3,
                "version 3"
            );
            let opened = Index::open(&path).unwrap();
            opened.verify().unwrap();
            assert_eq!(opened.options().quantization, rabitq(bits));
            assert_eq!(opened.options().layout, layout);
            let loaded = Index::load(&path).unwrap();
            for q in queries.chunks_exact(37) {
                let p = SearchParams::new(10).ef(40);
                let want = index.search_with(q, &p).unwrap();
                assert_eq!(opened.search_with(q, &p).unwrap(), want);
                assert_eq!(loaded.search_with(q, &p).unwrap(), want);
            }
            if layout == Layout::FastScan {
                let info = opened.segment_info().unwrap();
                let s = info
                    .sections
                    .iter()
                    .find(|s| s.name == "rabitq_blocks")
                    .unwrap();
                // A byte of a block flipped: the checksum, then the repacked block, disagree.
                let mut bad = bytes.clone();
                bad[s.offset as usize + s.len as usize / 2] ^= 0x10;
                let damaged = Index::from_bytes(crate::segment::AlignedBytes::copy(&bad));
                assert!(damaged.and_then(|i| i.verify()).is_err());
            }
        }
    }
}

/// The bytes a RaBitQ walk reads: one block per visited node and one original per reranked
/// candidate on the blocks; one code row per distance on compact rows.
#[test]
fn rabitq_searches_count_the_bytes_they_read() {
    use crate::index::SearchStats;
    let dim = 48;
    for layout in [Layout::FastScan, Layout::Compact] {
        let (index, queries) = build(2000, dim, Metric::L2, rabitq(4), layout);
        let stats = SearchStats::new();
        let p = SearchParams::new(10).ef(48).stats(&stats);
        for q in queries.chunks_exact(dim) {
            index.search_with(q, &p).unwrap();
        }
        let c = stats.counts();
        let memory = index.memory();
        assert_eq!(c.original_bytes, c.reranked * dim as u64 * 4, "{layout:?}");
        match layout {
            Layout::FastScan => {
                let block = (memory.fast_scan_bytes / index.len()) as u64;
                assert!(block > 0);
                assert_eq!(c.block_bytes, c.nodes_expanded * block);
                assert_eq!(c.code_bytes, 0);
            }
            _ => {
                let row = (memory.codes_bytes / index.len()) as u64;
                assert_eq!(c.code_bytes, c.distances * row);
                assert_eq!(c.block_bytes, 0);
            }
        }
    }
}
