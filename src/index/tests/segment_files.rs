//! Segment files written and read by an index: round trips, and hostile files — every truncation
//! and every flipped byte.

use std::path::Path;

use crate::base::options::{IndexOptions, Layout, Quantization};
use crate::data::synthetic::ClusteredSpec;
use crate::distance::Metric;
use crate::error::Error;
use crate::index::{Index, SearchParams};
use crate::segment::{header_checksum, AlignedBytes, ENTRY_BYTES, HEADER_BYTES, VERSION};

fn build(n: usize, dim: usize, metric: Metric, quant: Quantization, m: usize) -> (Index, Vec<f32>) {
    build_layout(n, dim, metric, quant, m, Layout::Compact)
}

fn build_layout(
    n: usize,
    dim: usize,
    metric: Metric,
    quant: Quantization,
    m: usize,
    layout: Layout,
) -> (Index, Vec<f32>) {
    let (base, queries) = ClusteredSpec::new(n, dim)
        .generate_with_queries(20)
        .unwrap();
    let mut o = IndexOptions::new(dim, metric);
    o.quantization = quant;
    o.layout = layout;
    o.m = m;
    o.ef_construction = 40;
    let index = Index::new(o).unwrap();
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();
    index.add_batch(&ids, base.as_slice()).unwrap();
    (index, queries.as_slice().to_vec())
}

fn same_results(a: &Index, b: &Index, queries: &[f32]) {
    for q in queries.chunks_exact(a.dim()) {
        for params in [SearchParams::new(10).ef(32), SearchParams::new(3)] {
            assert_eq!(
                a.search_with(q, &params).unwrap(),
                b.search_with(q, &params).unwrap()
            );
        }
        assert_eq!(
            a.search_exact(q, &SearchParams::new(5)).unwrap(),
            b.search_exact(q, &SearchParams::new(5)).unwrap()
        );
    }
}

#[test]
fn saved_indexes_search_exactly_like_the_original_every_way_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        for quant in [Quantization::None, Quantization::Sq8, Quantization::Sq4] {
            let (index, queries) = build(700, 19, metric, quant, 6);
            let path = dir.path().join(format!("{metric}-{quant}.svs"));
            let size = index.save(&path).unwrap();
            assert_eq!(size, std::fs::metadata(&path).unwrap().len());
            let bytes = std::fs::read(&path).unwrap();
            for read in [
                Index::open(&path).unwrap(),
                Index::load(&path).unwrap(),
                Index::from_bytes(AlignedBytes::copy(&bytes)).unwrap(),
            ] {
                read.verify().unwrap();
                assert!(read.is_read_only());
                assert_eq!(read.options(), index.options());
                assert_eq!(read.len(), index.len());
                same_results(&index, &read, &queries);
                for id in [3, 10, 7 * 699 + 3] {
                    assert_eq!(read.get(id).unwrap(), index.get(id).unwrap());
                    assert!(read.contains(id));
                }
                assert!(!read.contains(4));
                assert!(matches!(read.get(4), Err(Error::UnknownId { id: 4 })));
                let mut ids = read.ids();
                ids.sort_unstable();
                let mut want = index.ids();
                want.sort_unstable();
                assert_eq!(ids, want);
                // Saving an opened index copies it.
                let again = dir.path().join("again.svs");
                read.save(&again).unwrap();
                assert_eq!(std::fs::read(&again).unwrap(), bytes);
            }
        }
    }
}

#[test]
fn opened_indexes_refuse_writes_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = build(50, 4, Metric::L2, Quantization::None, 4);
    let path = dir.path().join("x.svs");
    index.save(&path).unwrap();
    let read = Index::open(&path).unwrap();
    let err = read.add(1_000, &[0.0; 4]).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("x.svs"), "{err}");
    assert!(matches!(read.delete(3), Err(Error::ReadOnly { .. })));
}

#[test]
fn deletes_survive_a_round_trip_and_are_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let (index, queries) = build(600, 12, Metric::L2, Quantization::Sq8, 8);
    let deleted: Vec<u64> = (0..600u64).step_by(3).map(|i| i * 7 + 3).collect();
    for &id in &deleted {
        index.delete(id).unwrap();
    }
    assert!(matches!(
        index.delete(deleted[0]),
        Err(Error::UnknownId { .. })
    ));
    assert_eq!(index.len(), 400);
    let path = dir.path().join("d.svs");
    index.save(&path).unwrap();
    let read = Index::open(&path).unwrap();
    read.verify().unwrap();
    assert_eq!(read.len(), 400);
    same_results(&index, &read, &queries);
    for q in queries.chunks_exact(12) {
        for hit in read.search_with(q, &SearchParams::new(20)).unwrap() {
            assert!(!deleted.contains(&hit.id));
        }
        assert_eq!(read.search(q, 20).unwrap().len(), 20);
    }
    assert!(matches!(read.get(deleted[1]), Err(Error::UnknownId { .. })));
    // A deleted id can be added again to the in-memory index.
    index.add(deleted[0], &[0.5; 12]).unwrap();
    assert_eq!(index.search(&[0.5; 12], 1).unwrap()[0].id, deleted[0]);
}

#[test]
fn an_empty_index_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::new(IndexOptions::new(3, Metric::Cosine)).unwrap();
    let path = dir.path().join("empty.svs");
    index.save(&path).unwrap();
    let read = Index::open(&path).unwrap();
    read.verify().unwrap();
    assert!(read.is_empty());
    assert!(read.search(&[1.0, 0.0, 0.0], 3).unwrap().is_empty());
}

/// A small segment whose every byte the tests below damage (compact layout).
fn small_segment(dir: &Path) -> Vec<u8> {
    small_segment_with(dir, Layout::Compact)
}

/// A small 4-bit segment in `layout`, with one deleted node.
fn small_segment_with(dir: &Path, layout: Layout) -> Vec<u8> {
    let (index, _) = build_layout(40, 3, Metric::L2, Quantization::Sq4, 2, Layout::Compact);
    index.delete(10).unwrap();
    let path = dir.join("small.svs");
    match layout {
        Layout::FastScan => index.__save_legacy_sq4_fast_scan(&path).unwrap(),
        _ => index.save(&path).unwrap(),
    };
    std::fs::read(&path).unwrap()
}

/// A small RaBitQ segment in `layout` (extended bits `bits`), with one deleted node.
fn small_rabitq_segment(dir: &Path, bits: u8, layout: Layout) -> Vec<u8> {
    let (index, _) = build_layout(40, 3, Metric::L2, Quantization::RaBitQ { bits }, 2, layout);
    index.delete(10).unwrap();
    let path = dir.join(format!("small-rabitq{bits}-{layout}.svs"));
    index.save(&path).unwrap();
    std::fs::read(&path).unwrap()
}

/// Opens `bytes`; when that succeeds, searches it (must not panic) and returns what verify says.
fn open_and_verify(bytes: &[u8]) -> crate::Result<()> {
    let index = Index::from_bytes(AlignedBytes::copy(bytes))?;
    for q in [[0.0f32, 0.0, 0.0], [1.0, -1.0, 3.0]] {
        let _ = index.search_with(&q, &SearchParams::new(5).ef(20));
        let _ = index.search_exact(&q, &SearchParams::new(5));
    }
    let _ = index.get(3);
    index.verify()
}

#[test]
fn every_truncation_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for layout in [Layout::Compact, Layout::FastScan] {
        let bytes = small_segment_with(dir.path(), layout);
        open_and_verify(&bytes).unwrap();
        for cut in 0..bytes.len() {
            let err = open_and_verify(&bytes[..cut]).expect_err("a truncated file was accepted");
            assert!(
                matches!(err, Error::Corrupt { .. }),
                "{layout}, cut {cut}: {err}"
            );
        }
    }
}

#[test]
fn every_flipped_byte_is_caught_by_open_or_verify() {
    let dir = tempfile::tempdir().unwrap();
    every_flipped_byte_is_caught(&small_segment(dir.path()));
}

#[test]
fn every_flipped_byte_of_a_fast_scan_segment_is_caught_by_open_or_verify() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = small_segment_with(dir.path(), Layout::FastScan);
    assert_eq!(
        Index::from_bytes(AlignedBytes::copy(&bytes))
            .unwrap()
            .options()
            .layout,
        Layout::FastScan
    );
    every_flipped_byte_is_caught(&bytes);
}

#[test]
fn every_flipped_byte_and_truncation_of_a_rabitq_segment_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    for (bits, layout) in [
        (0, Layout::FastScan),
        (4, Layout::FastScan),
        (4, Layout::Compact),
    ] {
        let bytes = small_rabitq_segment(dir.path(), bits, layout);
        open_and_verify(&bytes).unwrap();
        every_flipped_byte_is_caught(&bytes);
        for cut in (0..bytes.len()).step_by(7) {
            let err = open_and_verify(&bytes[..cut]).expect_err("a truncated file was accepted");
            assert!(matches!(err, Error::Corrupt { .. }), "cut {cut}: {err}");
        }
    }
}

/// A fast-scan section whose checksum was fixed up after a block was changed is still caught:
/// `verify` repacks every block from the links and codes.
#[test]
fn a_block_that_disagrees_with_its_links_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = small_segment_with(dir.path(), Layout::FastScan);
    let index = Index::from_bytes(AlignedBytes::copy(&bytes)).unwrap();
    let info = index.segment_info().unwrap();
    let s = info
        .sections
        .iter()
        .find(|s| s.name == "fast_scan")
        .unwrap();
    let (offset, len) = (s.offset as usize, s.len as usize);
    // Swap the first two neighbour ids of node 0's block, then fix the section's checksum.
    bytes.swap(offset + 4, offset + 8);
    bytes.swap(offset + 5, offset + 9);
    let crc = crate::base::bytes::checksum(&bytes[offset..offset + len]);
    let count = info.sections.len();
    let entry = (0..count)
        .map(|i| HEADER_BYTES + i * ENTRY_BYTES)
        .find(|&e| u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) == s.offset)
        .unwrap();
    bytes[entry + 24..entry + 28].copy_from_slice(&crc.to_le_bytes());
    let table_end = HEADER_BYTES + count * ENTRY_BYTES;
    let head = header_checksum(&bytes[..table_end]);
    bytes[24..28].copy_from_slice(&head.to_le_bytes());
    let err = open_and_verify(&bytes).unwrap_err();
    assert!(
        err.to_string().contains("fast-scan block of node 0"),
        "{err}"
    );
}

fn every_flipped_byte_is_caught(bytes: &[u8]) {
    for at in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes.to_vec();
            bad[at] ^= mask;
            let result = open_and_verify(&bad);
            assert!(
                matches!(
                    result,
                    Err(Error::Corrupt { .. } | Error::UnsupportedVersion { .. })
                ),
                "byte {at} ^ {mask:#x} gave {result:?}"
            );
        }
    }
}

#[test]
fn a_future_version_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = small_segment(dir.path());
    let future = VERSION + 1;
    bytes[8..12].copy_from_slice(&future.to_le_bytes());
    let table_end = HEADER_BYTES + 10 * ENTRY_BYTES;
    let crc = header_checksum(&bytes[..table_end]);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
    let err = open_and_verify(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found,
                supported: VERSION,
                ..
            } if found == future
        ),
        "{err}"
    );
    let err = Index::open(dir.path().join("missing.svs")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn misaligned_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = small_segment(dir.path());
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    // A Vec's buffer is at least 8-aligned, so starting one byte in is misaligned.
    struct Offset(Vec<u8>);
    impl AsRef<[u8]> for Offset {
        fn as_ref(&self) -> &[u8] {
            &self.0[1..]
        }
    }
    let err = Index::from_bytes(Offset(shifted)).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
}

#[test]
fn an_f32_index_saved_with_codes_searches_on_them_and_keeps_its_recall() {
    let dir = tempfile::tempdir().unwrap();
    for quant in [Quantization::Sq8, Quantization::Sq4] {
        let (index, queries) = build(2000, 24, Metric::InnerProduct, Quantization::None, 8);
        let path = dir.path().join("q.svs");
        index
            .save_quantized(
                crate::fsutil::Replacement::durable(),
                &path,
                quant,
                crate::Layout::Compact,
            )
            .unwrap();
        let read = Index::open(&path).unwrap();
        read.verify().unwrap();
        assert_eq!(read.options().quantization, quant);
        assert!(read.memory().codes_bytes > 0);
        let (mut hits, mut total) = (0, 0);
        for q in queries.chunks_exact(24) {
            let exact = index.search_exact(q, &SearchParams::new(10)).unwrap();
            let got = read.search_with(q, &SearchParams::new(10).ef(64)).unwrap();
            hits += got
                .iter()
                .filter(|g| exact.iter().any(|e| e.id == g.id))
                .count();
            total += exact.len();
        }
        let recall = hits as f64 / total as f64;
        assert!(recall > 0.9, "{quant}: recall {recall}");
    }
    // An empty quantized index has no codec yet; it still saves and opens.
    let mut o = IndexOptions::new(5, Metric::L2);
    o.quantization = Quantization::Sq4;
    let empty = Index::new(o).unwrap();
    let path = dir.path().join("e.svs");
    empty.save(&path).unwrap();
    Index::open(&path).unwrap().verify().unwrap();
}

/// SQ4 fast-scan blocks (format version 2, read but no longer written) change where the walk
/// reads neighbours' codes, not what it computes: on the same graph such a file returns exactly
/// what the compact layout returns (ids and distances), with filters and deletes, and after the
/// graph grows.
#[test]
fn sq4_fast_scan_files_search_exactly_like_the_compact_layout() {
    let dir = tempfile::tempdir().unwrap();
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let (index, queries) = build_layout(700, 19, metric, Quantization::Sq4, 6, Layout::Compact);
        for id in (0..700u64).step_by(5).map(|i| i * 7 + 3) {
            index.delete(id).unwrap();
        }
        for round in 0..2 {
            let fast = dir.path().join("fast.svs");
            let compact = dir.path().join("compact.svs");
            index.__save_legacy_sq4_fast_scan(&fast).unwrap();
            index.save(&compact).unwrap();
            let fast = Index::open(&fast).unwrap();
            let compact = Index::open(&compact).unwrap();
            fast.verify().unwrap();
            assert_eq!(fast.options().layout, Layout::FastScan);
            assert_eq!(compact.options().layout, Layout::Compact);
            assert_eq!(fast.segment_info().unwrap().format_version, 2);
            assert_eq!(compact.segment_info().unwrap().format_version, 1);
            assert!(fast.memory().fast_scan_bytes > 0);
            assert_eq!(compact.memory().fast_scan_bytes, 0);
            same_results(&compact, &fast, &queries);
            same_results(&index, &fast, &queries);
            let odd = |id: u64| id % 2 == 1;
            for q in queries.chunks_exact(19) {
                let params = SearchParams::new(10).ef(40).filter(&odd);
                let got = fast.search_with(q, &params).unwrap();
                assert_eq!(got, compact.search_with(q, &params).unwrap());
                assert!(got.iter().all(|h| h.id % 2 == 1));
            }
            if round == 0 {
                let extra: Vec<f32> = (0..100 * 19)
                    .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                    .collect();
                let ids: Vec<u64> = (0..100u64).map(|i| 1_000_000 + i).collect();
                index.add_batch(&ids, &extra).unwrap();
            }
        }
    }
}

/// Only RaBitQ codes are written in blocks: f32 and 8-bit indexes have none, and SQ4 blocks (old
/// files) are refused with a message that names what to use instead, for a new index, a
/// collection, or a save with another layout.
#[test]
fn the_fast_scan_layout_needs_rabitq_codes() {
    for quant in [Quantization::None, Quantization::Sq8, Quantization::Sq4] {
        let mut o = IndexOptions::new(8, Metric::L2);
        o.quantization = quant;
        o.layout = Layout::FastScan;
        let err = Index::new(o).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
        assert!(err.to_string().contains("rabitq"), "{err}");
    }
    let (sq4, _) = build_layout(40, 3, Metric::L2, Quantization::Sq4, 2, Layout::Compact);
    let dir = tempfile::tempdir().unwrap();
    let err = sq4
        .save_with_layout(dir.path().join("fast.svs"), Layout::FastScan)
        .unwrap_err();
    assert!(err.to_string().contains("no longer written"), "{err}");
    assert!(!dir.path().join("fast.svs").exists());
    let mut o = crate::CollectionOptions::new(8, Metric::L2);
    o.index.quantization = Quantization::Sq4;
    o.index.layout = Layout::FastScan;
    let err = crate::Collection::open(dir.path().join("sq4"), o).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let mut o = crate::CollectionOptions::new(8, Metric::L2);
    o.index.quantization = Quantization::Sq8;
    o.index.layout = Layout::FastScan;
    let err = crate::Collection::open(dir.path(), o).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
    assert_eq!("fast-scan".parse::<Layout>().unwrap(), Layout::FastScan);
    assert!("rows".parse::<Layout>().is_err());
}
