//! Group graphs: a keyword value held by enough rows gets its own graph, searches filtered on it
//! walk that graph (in memory and from a saved file) with a recall computed against the exact
//! filtered answer, an add drops them, and a damaged section fails `open` or `verify`.

use super::*;
use crate::payload::{Filter, Payload};
use crate::SearchStats;

/// Rows of a clustered synthetic set: `tag = "a"` on every fifth row (one group: 4,800 of 24,000
/// rows, at least 4,096 and under 30%), `tag = "b"` on the rest (too many for a group), `x` an
/// integer.
fn data(n: usize, dim: usize) -> (Vec<u64>, Vec<f32>, Vec<Payload>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let centres: Vec<f32> = (0..32 * dim).map(|_| rng.random::<f32>() * 4.0).collect();
    let mut rows = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centres[(i % 32) * dim..(i % 32 + 1) * dim];
        rows.extend(c.iter().map(|&x| x + rng.random::<f32>()));
    }
    let ids = (0..n as u64).map(|i| 10 * i + 3).collect();
    let payloads = (0..n)
        .map(|i| {
            Payload::new()
                .with("tag", if i % 5 == 0 { "a" } else { "b" })
                .with("x", (i % 3) as i64)
        })
        .collect();
    (ids, rows, payloads)
}

/// Recall@10 of `index` under `filter` on `queries` against the exact filtered answer, and the
/// search counters.
fn recall(
    index: &Index,
    rows: &[f32],
    dim: usize,
    ids: &[u64],
    payloads: &[Payload],
    filter: &Filter,
    queries: &[Vec<f32>],
) -> (f64, crate::SearchCounts) {
    let stats = SearchStats::new();
    let params = SearchParams::new(10)
        .ef(64)
        .payload_filter(filter)
        .stats(&stats);
    let mut hit = 0;
    for q in queries {
        let got = index.search_with(q, &params).unwrap();
        let mut want: Vec<(f32, u64)> = (0..ids.len())
            .filter(|&i| filter.matches(&payloads[i]))
            .map(|i| {
                (
                    Metric::L2.distance(q, &rows[i * dim..(i + 1) * dim]),
                    ids[i],
                )
            })
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0));
        want.truncate(10);
        assert_eq!(got.len(), 10, "{filter}: exactly k hits");
        for h in &got {
            let i = ((h.id - 3) / 10) as usize;
            assert!(
                filter.matches(&payloads[i]),
                "{filter}: {} does not match",
                h.id
            );
        }
        hit += got
            .iter()
            .filter(|h| want.iter().any(|w| w.1 == h.id))
            .count();
    }
    (hit as f64 / (10 * queries.len()) as f64, stats.counts())
}

#[test]
fn searches_filtered_on_a_frequent_keyword_walk_its_group_graph() {
    let (n, dim) = (24_000, 8);
    let (ids, rows, payloads) = data(n, dim);
    let index = Index::new(IndexOptions::new(dim, Metric::L2)).unwrap();
    index
        .add_batch_with_payloads(&ids, &rows, &payloads)
        .unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let queries: Vec<Vec<f32>> = (0..50)
        .map(|_| (0..dim).map(|_| rng.random::<f32>() * 5.0).collect())
        .collect();
    let tag_a = Filter::eq("tag", "a");
    // Two thirds of the group: walked on it. A third (1,600 rows): the exact scan is cheaper.
    let tag_a_not_x = Filter::eq("tag", "a") & !Filter::eq("x", 1);
    let tag_a_x = Filter::eq("tag", "a") & Filter::eq("x", 1);
    let case = |idx: &Index, f: &Filter| recall(idx, &rows, dim, &ids, &payloads, f, &queries);

    // Before the graphs are built the filter is served without them.
    let (_, before) = case(&index, &tag_a);
    assert_eq!(before.group_walks, 0);

    index.build_filter_graphs().unwrap();
    assert!(index.memory().filter_graph_bytes > 0);
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path().join("s")).unwrap();
    let opened = Index::open(dir.path().join("s")).unwrap();
    opened.verify().unwrap();
    assert!(opened.memory().filter_graph_bytes > 0);
    for (what, idx) in [("memory", &index), ("segment", &opened)] {
        // The value alone, and with a second term that thins the group's walk.
        for f in [&tag_a, &tag_a_not_x] {
            let (r, c) = case(idx, f);
            assert_eq!(c.group_walks, c.queries, "{what} {f}: {c:?}");
            assert!(r >= 0.95, "{what} {f}: recall {r}");
        }
        let (r, c) = case(idx, &tag_a_x);
        assert_eq!(c.exact_scans, c.queries, "{what}: {c:?}");
        assert_eq!(r, 1.0, "{what}");
        // A value without a group (80% of the rows) takes the plain walk.
        let (r, c) = case(idx, &Filter::eq("tag", "b"));
        assert_eq!(c.group_walks, 0, "{what}");
        assert!(r >= 0.9, "{what}: recall {r}");
    }

    // An add drops the in-memory graphs (a new row must be reachable).
    let far = vec![100.0; dim];
    index
        .add_with_payload(1, &far, &Payload::new().with("tag", "a"))
        .unwrap();
    let stats = SearchStats::new();
    let params = SearchParams::new(10).payload_filter(&tag_a).stats(&stats);
    let got = index.search_with(&far, &params).unwrap();
    assert_eq!(got[0].id, 1);
    assert_eq!(stats.counts().group_walks, 0);
}

#[test]
fn a_damaged_filter_graphs_section_fails_open_or_verify() {
    let (n, dim) = (5_000, 4);
    let (ids, rows, _) = data(n, dim);
    // With m 4 a key needs 4 · 64 · 4 = 1,024 rows: `tag = "a"` has 1,250 of 5,000 (under 30%).
    let payloads: Vec<Payload> = (0..n)
        .map(|i| Payload::new().with("tag", if i % 4 == 0 { "a" } else { "b" }))
        .collect();
    let index = Index::new(IndexOptions {
        m: 4,
        ..IndexOptions::new(dim, Metric::L2)
    })
    .unwrap();
    index
        .add_batch_with_payloads(&ids, &rows, &payloads)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    index.save(&path).unwrap();
    let opened = Index::open(&path).unwrap();
    opened.verify().unwrap();
    let info = opened.segment_info().unwrap();
    let section = info
        .sections
        .iter()
        .find(|s| s.name == "filter_graphs")
        .expect("the file has a filter_graphs section");
    assert_eq!(info.format_version, 6);
    drop(opened);
    let good = std::fs::read(&path).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    for round in 0..40 {
        let mut bad = good.clone();
        let at = section.offset as usize + rng.random_range(0..section.len as usize);
        bad[at] ^= 1 << (round % 8);
        std::fs::write(&path, &bad).unwrap();
        // The section's checksum is checked by verify, and nothing panics meanwhile.
        if let Ok(idx) = Index::open(&path) {
            let q = &rows[..dim];
            let _ = idx.search_with(
                q,
                &SearchParams::new(5).payload_filter(&Filter::eq("tag", "a")),
            );
            assert!(
                idx.verify().is_err(),
                "round {round}: byte {at} changed, verify passed"
            );
        }
    }
}
