//! Recall targets (issue 17) on small synthetic indexes: parameters, errors, where the
//! calibration comes from and goes, every codec and layout. Accuracy on real data is in
//! `tests/recall_target_real.rs`.

use super::*;
use crate::base::calibration::Calibration;
use crate::data::synthetic::ClusteredSpec;

/// A clustered synthetic index (base and queries from the same clusters) of `quantization` and
/// `layout`, built in one batch.
fn clustered(
    n: usize,
    dim: usize,
    quantization: Quantization,
    layout: Layout,
) -> (Index, Vec<f32>) {
    let (base, queries) = ClusteredSpec::new(n, dim)
        .generate_with_queries(200)
        .unwrap();
    let options = IndexOptions {
        quantization,
        layout,
        ..IndexOptions::new(dim, Metric::L2)
    };
    let index = Index::new(options).unwrap();
    let ids: Vec<u64> = (0..n as u64).collect();
    index.add_batch(&ids, base.as_slice()).unwrap();
    (index, queries.as_slice().to_vec())
}

/// Recall@k of searches with `params` against exact searches, and the mean beam used.
fn measured(index: &Index, queries: &[f32], params: SearchParams<'_>) -> (f64, f64) {
    let stats = SearchStats::new();
    let params = params.stats(&stats);
    let k = params.k;
    let mut hits = 0;
    let mut total = 0;
    for q in queries.chunks_exact(index.dim()) {
        let exact = index.search_exact(q, &SearchParams::new(k)).unwrap();
        let found = index.search_with(q, &params).unwrap();
        hits += found
            .iter()
            .filter(|f| exact.iter().any(|e| e.id == f.id))
            .count();
        total += exact.len();
    }
    let c = stats.counts();
    assert_eq!(c.targeted, c.queries, "every search counts as targeted");
    (
        hits as f64 / total as f64,
        c.beam_sum as f64 / c.queries as f64,
    )
}

#[test]
fn targets_out_of_range_and_with_ef_are_refused() {
    let (index, queries) = clustered(2000, 8, Quantization::None, Layout::Auto);
    let q = &queries[..8];
    for bad in [0.0, -0.5, 1.01, f64::NAN, f64::INFINITY] {
        let err = index
            .search_with(q, &SearchParams::new(10).target_recall(bad))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidParameter {
                    name: "target_recall",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    let err = index
        .search_with(q, &SearchParams::new(10).ef(50).target_recall(0.9))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { name: "ef", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not both"), "{err}");
    // 1 is a valid target, but the ladder ends where the samples' mean recall reaches 0.9995
    // (or at its widest beam): the search says so, with the best the calibration saw.
    // (Unless every sample found all its neighbours at the widest beam measured: then 1 is
    // reached there.)
    let c = index.calibration().unwrap();
    let perfect = c
        .curve(0, 0, 0)
        .iter()
        .any(|p| p.recall == 1.0 && p.stderr == 0.0);
    match index.search_with(q, &SearchParams::new(10).target_recall(1.0)) {
        Err(Error::UnreachableRecall { best, .. }) => {
            assert!(!perfect && (0.99..1.0).contains(&best), "{best}")
        }
        Ok(found) => assert!(perfect, "1 reached without a perfect rung: {found:?}"),
        Err(err) => panic!("{err}"),
    }
    index
        .search_with(q, &SearchParams::new(10).target_recall(0.999))
        .unwrap();
}

#[test]
fn an_unreachable_target_says_the_best_recall_the_calibration_saw() {
    // 4-bit codes without reranking: the codes' own order is returned, which misses some
    // neighbours at every beam.
    let (index, queries) = clustered(4000, 24, Quantization::Sq4, Layout::Compact);
    let params = SearchParams::new(10)
        .rerank(Rerank::None)
        .target_recall(1.0);
    let err = index.search_with(&queries[..24], &params).unwrap_err();
    let Error::UnreachableRecall {
        target,
        best,
        beam,
        oversample,
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!((target, oversample), (1.0, 1));
    assert!(best < 1.0 && best > 0.5, "{best}");
    assert!(beam >= 10, "{beam}");
    assert!(err_text(&index, &queries).contains("out of reach"));
    // With reranking (the default) the same target is reached: a wider oversampling is chosen.
    let (recall, _) = measured(&index, &queries, SearchParams::new(10).target_recall(0.99));
    assert!(recall >= 0.97, "{recall}");
}

fn err_text(index: &Index, queries: &[f32]) -> String {
    let params = SearchParams::new(10)
        .rerank(Rerank::None)
        .target_recall(1.0);
    index
        .search_with(&queries[..index.dim()], &params)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_bulk_build_calibrates_on_held_back_rows_and_a_target_chooses_its_beam() {
    let (index, queries) = clustered(6000, 16, Quantization::None, Layout::Auto);
    let c = index.calibration().expect("measured while building");
    assert!(index.calibration_seconds().is_some());
    let k10 = c.ks().iter().position(|&k| k == 10).unwrap();
    // An eighth of the batch, held back.
    assert_eq!(c.samples(0, k10), 750);
    assert_eq!((c.nodes(), c.live()), (6000, 6000));
    // The curves rise with the beam, and the beams chosen with the target.
    let curve = c.curve(0, k10, 0);
    assert!(curve.windows(2).all(|w| w[0].recall <= w[1].recall));
    let mut last = 0.0;
    for target in [0.8, 0.9, 0.95, 0.99] {
        let (recall, beam) = measured(
            &index,
            &queries,
            SearchParams::new(10).target_recall(target),
        );
        assert!(beam >= last, "{target}: beam {beam} < {last}");
        last = beam;
        // Loose on synthetic data (200 queries); the ±0.01 band is tested on real data.
        assert!(recall >= target - 0.03, "{target}: {recall} at beam {beam}");
    }
    // A small add keeps the calibration; a batch that grows the graph by half holds rows back
    // again.
    let more = random_rows(500, 16, 9);
    index
        .add_batch(&(6000..6500).collect::<Vec<u64>>(), &more)
        .unwrap();
    assert!(Arc::ptr_eq(
        &index.calibrate().unwrap(),
        &index.calibration().unwrap()
    ));
    assert_eq!(index.calibrate().unwrap().nodes(), 6000);
    let grow = random_rows(2600, 16, 10);
    index
        .add_batch(&(6500..9100).collect::<Vec<u64>>(), &grow)
        .unwrap();
    let fresh = index.calibrate().unwrap();
    assert_eq!(fresh.nodes(), 9100, "measured on the grown graph");
}

#[test]
fn a_calibration_is_stored_in_the_segment_and_used_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let (index, queries) = clustered(3000, 12, Quantization::Sq8, Layout::Auto);
    let path = dir.path().join("calibrated.svs");
    index.save(&path).unwrap();
    let opened = Index::open(&path).unwrap();
    opened.verify().unwrap();
    let info = opened.segment_info().unwrap();
    assert_eq!(info.format_version, 4);
    assert!(info.sections.iter().any(|s| s.name == "calibration"));
    let stored = info.calibration.expect("a calibration section");
    let ours = index.calibration().unwrap();
    let bytes = |c: &Calibration| {
        let mut w = crate::base::bytes::ByteWriter::new();
        c.write(&mut w);
        w.buf
    };
    assert_eq!(bytes(&stored), bytes(&ours));
    assert!(opened.calibration_seconds().is_none(), "read, not measured");
    // The same beams, hence the same results, in memory and from the file.
    for target in [0.9, 0.99] {
        let params = SearchParams::new(10).target_recall(target);
        for q in queries.chunks_exact(12).take(30) {
            assert_eq!(
                index.search_with(q, &params).unwrap(),
                opened.search_with(q, &params).unwrap()
            );
        }
    }
    // A damaged calibration section is refused when the file is opened.
    let section = info
        .sections
        .iter()
        .find(|s| s.name == "calibration")
        .unwrap();
    let mut damaged = std::fs::read(&path).unwrap();
    damaged[section.offset as usize + 3] ^= 0x10;
    let err = Index::from_bytes(crate::segment::AlignedBytes::copy(&damaged)).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn an_index_saved_without_a_current_calibration_measures_one_with_hidden_nodes() {
    let dir = tempfile::tempdir().unwrap();
    // Built in small batches: no batch is large enough to hold rows back.
    let data = random_rows(2400, 8, 3);
    let index = Index::new(IndexOptions::new(8, Metric::InnerProduct)).unwrap();
    for (i, rows) in data.chunks(800 * 8).enumerate() {
        let ids: Vec<u64> = (i as u64 * 800..(i as u64 + 1) * 800).collect();
        index.add_batch(&ids, rows).unwrap();
    }
    assert!(index.calibration().is_none());
    let path = dir.path().join("late.svs");
    index.save(&path).unwrap();
    let c = index.calibration().expect("measured by the save");
    assert_eq!(c.nodes(), 2400);
    let k10 = c.ks().iter().position(|&k| k == 10).unwrap();
    assert_eq!(c.samples(0, k10), 1000);
    assert!(Index::open(&path).unwrap().calibration().is_some());
}

#[test]
fn every_codec_and_layout_calibrates_through_its_own_search() {
    let cases = [
        (Quantization::None, Layout::Auto),
        (Quantization::Sq8, Layout::Compact),
        (Quantization::Sq4, Layout::Compact),
        (Quantization::RaBitQ { bits: 0 }, Layout::FastScan),
        (Quantization::RaBitQ { bits: 4 }, Layout::Compact),
    ];
    for (quantization, layout) in cases {
        let (index, queries) = clustered(3000, 32, quantization, layout);
        let c = index
            .calibration()
            .unwrap_or_else(|| panic!("{quantization} {layout}"));
        let reranks = index.options().quantization.is_quantized()
            && !matches!(
                (quantization, index.options().layout),
                (Quantization::RaBitQ { bits: 0 }, Layout::FastScan)
            );
        assert_eq!(
            c.oversamples().len() > 1,
            reranks,
            "{quantization} {layout}"
        );
        let (recall, beam) = measured(&index, &queries, SearchParams::new(10).target_recall(0.95));
        assert!(
            recall >= 0.9,
            "{quantization} {layout}: {recall} at beam {beam}"
        );
    }
}

/// How a collection seals its in-memory segment: an f32 graph saved with a codec trained at
/// save time, in every layout (scalar and RaBitQ, rows and blocks). The file stores a
/// calibration measured on what it holds (read from the file, not measured at open), and a
/// target searched from the file reaches its recall against exact search.
#[test]
fn an_f32_graph_saved_with_a_codec_stores_the_calibration_of_that_codec() {
    let dir = tempfile::tempdir().unwrap();
    let (index, queries) = clustered(3000, 32, Quantization::None, Layout::Auto);
    let cases = [
        (Quantization::Sq8, Layout::Compact),
        (Quantization::Sq4, Layout::Compact),
        (Quantization::RaBitQ { bits: 0 }, Layout::FastScan),
        (Quantization::RaBitQ { bits: 0 }, Layout::Compact),
        (Quantization::RaBitQ { bits: 4 }, Layout::FastScan),
        (Quantization::RaBitQ { bits: 4 }, Layout::Compact),
    ];
    for (quantization, layout) in cases {
        let path = dir.path().join(format!("{quantization}-{layout}.svs"));
        index.save_as(&path, quantization, layout).unwrap();
        let opened = Index::open(&path).unwrap();
        opened.verify().unwrap();
        let info = opened.segment_info().unwrap();
        assert_eq!(info.format_version, 4, "{quantization} {layout}");
        let c = opened
            .calibration()
            .unwrap_or_else(|| panic!("{quantization} {layout}: no calibration stored"));
        assert!(opened.calibration_seconds().is_none(), "read, not measured");
        let reranks = !matches!(
            (quantization, layout),
            (Quantization::RaBitQ { bits: 0 }, Layout::FastScan)
        );
        assert_eq!(
            c.oversamples().len() > 1,
            reranks,
            "{quantization} {layout}: calibrated with its codec's reranking"
        );
        for target in [0.9, 0.95] {
            let (recall, beam) = measured(
                &opened,
                &queries,
                SearchParams::new(10).target_recall(target),
            );
            assert!(
                recall >= target - 0.01,
                "{quantization} {layout}: target {target}, {recall} at beam {beam}"
            );
        }
        // The calibration describes this file's codec: measured again on the opened file (the
        // same graph, codes and blocks; hidden samples drawn by the same seed), it is the same.
        let bytes = |c: &Calibration| {
            let mut w = crate::base::bytes::ByteWriter::new();
            c.write(&mut w);
            w.buf
        };
        let again = opened.measure_calibration(None).unwrap();
        assert!(bytes(&again) == bytes(&c), "{quantization} {layout}");
    }
}

#[test]
fn a_graph_smaller_than_the_small_limit_is_searched_whole() {
    let (index, data) = build(40, 6, Metric::L2);
    for q in data.chunks_exact(6).take(10) {
        let exact = index.search_exact(q, &SearchParams::new(5)).unwrap();
        let found = index
            .search_with(q, &SearchParams::new(5).target_recall(1.0))
            .unwrap();
        assert_eq!(found, exact);
    }
}
