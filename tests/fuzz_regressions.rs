//! Inputs the fuzzers in `fuzz/` found, kept as tests so the bugs stay fixed. Each names the
//! target that found it.

use stratavec::{Index, IndexOptions, Metric, QuantScheme, Quantization, SearchParams};

/// fuzz target `search`: an empty index with per-dimension SQ4/SQ8 saved a codec trained on no
/// rows (offsets +inf, steps NaN), which `Index::open` then refused as "metadata is malformed".
#[test]
fn an_empty_per_dimension_quantized_index_saves_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    for quant in [Quantization::Sq4, Quantization::Sq8] {
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let mut o = IndexOptions::new(3, metric);
            o.quantization = quant;
            o.quant_scheme = QuantScheme::PerDimension;
            let index = Index::new(o).unwrap();
            // A batch refused for an infinite component leaves it empty.
            assert!(index.add(1, &[f32::INFINITY, 0.0, 0.0]).is_err());
            let path = dir.path().join("empty.svs");
            index.save(&path).unwrap();
            let opened = Index::open(&path).unwrap();
            opened.verify().unwrap();
            assert!(opened.search(&[1.0, 2.0, 3.0], 5).unwrap().is_empty());
        }
    }
}

/// Same root cause: components near ±f32::MAX (finite, so accepted) made the per-dimension step
/// `(max - min) / levels` overflow to infinity in f32; the saved file did not open.
#[test]
fn components_near_f32_max_save_and_open() {
    let dir = tempfile::tempdir().unwrap();
    for quant in [Quantization::Sq4, Quantization::Sq8] {
        let mut o = IndexOptions::new(2, Metric::L2);
        o.quantization = Quantization::None;
        o.quant_scheme = QuantScheme::PerDimension;
        let index = Index::new(o).unwrap();
        index
            .add_batch(
                &[1, 2, 3],
                &[f32::MAX, -f32::MAX, -f32::MAX, f32::MAX, 0.0, 1.0],
            )
            .unwrap();
        let path = dir.path().join("huge.svs");
        // Trained at save time, as a collection seals.
        let mut q = IndexOptions::new(2, Metric::L2);
        q.quantization = quant;
        q.quant_scheme = QuantScheme::PerDimension;
        let direct = Index::new(q).unwrap();
        direct
            .add_batch(
                &[1, 2, 3],
                &[f32::MAX, -f32::MAX, -f32::MAX, f32::MAX, 0.0, 1.0],
            )
            .unwrap();
        direct.save(&path).unwrap();
        let opened = Index::open(&path).unwrap();
        opened.verify().unwrap();
        let hits = opened
            .search_with(&[0.0, 1.0], &SearchParams::new(3))
            .unwrap();
        assert_eq!(hits.len(), 3);
        index.save(&path).unwrap();
        Index::open(&path).unwrap().verify().unwrap();
    }
}

/// fuzz target `collection`: `delete_batch(&[5, 5])` returned 2 for one id deleted (and logged
/// the id twice).
#[test]
fn a_repeated_id_in_a_delete_batch_counts_once() {
    use stratavec::{Collection, CollectionOptions};
    let dir = tempfile::tempdir().unwrap();
    let col = Collection::open(dir.path(), CollectionOptions::new(2, Metric::L2)).unwrap();
    col.upsert_batch(&[5, 6], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(col.delete_batch(&[5, 5, 7, 5]).unwrap(), 1);
    col.flush().unwrap();
    assert_eq!(col.delete_batch(&[6, 6]).unwrap(), 1);
    assert_eq!(col.len(), 0);
    drop(col);
    let col = Collection::open(dir.path(), CollectionOptions::new(2, Metric::L2)).unwrap();
    assert!(col.is_empty());
}

/// fuzz target `payload`: a payload row offset of `u64::MAX` in the middle of `payload_rows`
/// (the open-time check looks at the first and the last only) overflowed `base + offset` when the
/// row was read (a panic with overflow checks, a wrapped range without). Now the row, and the
/// sections, are refused as corrupt.
#[test]
fn a_payload_row_offset_near_u64_max_is_corrupt_not_a_panic() {
    use stratavec::{Error, Filter, Payload};
    let payloads: Vec<Payload> = (0..5i64)
        .map(|i| Payload::new().with("tenant", i).with("lang", "de"))
        .collect();
    let good = stratavec::__fuzz::encode_payload_sections(&payloads);
    let filters = [Filter::eq("tenant", 3), Filter::eq("lang", "de")];
    assert!(stratavec::__fuzz::payload_sections(&good, payloads.len(), &filters).is_ok());
    // The layout: 4 bytes giving the split, then `payload_rows` (row count, 6 offsets, rows).
    for (row, v) in [(2, u64::MAX), (3, u64::MAX - 7), (2, 1 << 63)] {
        let mut bad = good.clone();
        let at = 4 + 8 + 8 * row;
        bad[at..at + 8].copy_from_slice(&v.to_le_bytes());
        match stratavec::__fuzz::payload_sections(&bad, payloads.len(), &filters) {
            Err(Error::Corrupt { reason, .. }) => {
                assert_eq!(reason, format!("payload row {} has bad offsets", row - 1));
            }
            other => panic!("offset {row} = {v:#x}: {other:?}"),
        }
    }
}
