//! Payloads in an index: filtered searches against the exact filtered answer on every path of
//! the planner, saved and reopened; and (ignored) the timing of each path on real data that the
//! planner's constants come from.

use std::time::Instant;

use super::super::planner::{Choice, FORCE};
use super::*;
use crate::eval::{bench_filters, bench_payloads, ground_truth_filtered, recall_at_k};
use crate::payload::{Filter, Payload};
use crate::SearchStats;

/// Mean microseconds per query and recall@10 of `index` under `filter` with `choice` forced.
fn timed(
    index: &Index,
    queries: &crate::data::Matrix<f32>,
    filter: Option<&Filter>,
    truth: &crate::data::Matrix<u32>,
    ef: usize,
    choice: Option<Choice>,
) -> (f64, f64, f64) {
    FORCE.with(|f| f.set(choice));
    let stats = SearchStats::new();
    let mut params = SearchParams::new(10).ef(ef).stats(&stats);
    if let Some(f) = filter {
        params = params.payload_filter(f);
    }
    let mut best = f64::MAX;
    let mut found: Vec<Vec<u64>> = Vec::new();
    for round in 0..3 {
        let t = Instant::now();
        let mut out: Vec<Vec<u64>> = Vec::new();
        for q in queries.rows() {
            out.push(
                index
                    .search_with(q, &params)
                    .unwrap()
                    .iter()
                    .map(|h| h.id)
                    .collect(),
            );
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / queries.len() as f64);
        if round == 0 {
            found = out;
        }
    }
    FORCE.with(|f| f.set(None));
    let c = stats.counts();
    (
        best,
        recall_at_k(&found, truth, 10).unwrap(),
        c.distances as f64 / c.queries as f64,
    )
}

/// Run with `cargo test --release --lib paths_timed -- --ignored --nocapture` on a quiet
/// machine: µs/query of each path for each benchmark filter, beside the unfiltered walk.
#[test]
#[ignore = "timing on real data; run on a quiet machine"]
fn paths_timed_on_real_data() {
    for name in ["wordllama-sent-256-ip", "mnist-784-l2"] {
        let dir = crate::data::datasets_dir().join(name);
        if !dir.join("base.fvecs").is_file() {
            eprintln!("skipping {name}");
            continue;
        }
        let data = crate::data::Dataset::load_texmex(&dir).unwrap();
        let queries = data.queries.clone().truncated(300);
        let metric = data.metric.unwrap();
        let payloads = bench_payloads(&data.base, &data.queries, metric);
        let ids: Vec<u64> = (0..data.base.len() as u64).collect();
        let built = Index::new(IndexOptions::new(data.dim(), metric)).unwrap();
        built
            .add_batch_with_payloads(&ids, data.base.as_slice(), &payloads)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        built
            .save_as(dir.path().join("sq4"), Quantization::Sq4, Layout::Compact)
            .unwrap();
        let sq4 = Index::open(dir.path().join("sq4")).unwrap();
        built
            .save_as(
                dir.path().join("rabitq"),
                Quantization::RaBitQ { bits: 0 },
                Layout::FastScan,
            )
            .unwrap();
        let rabitq = Index::open(dir.path().join("rabitq")).unwrap();
        // `STRATAVEC_PATHS_CODECS=rabitq` (say) times one codec only.
        let only = std::env::var("STRATAVEC_PATHS_CODECS").ok();
        for (codec, index) in [("f32", &built), ("sq4", &sq4), ("rabitq", &rabitq)] {
            if only
                .as_deref()
                .is_some_and(|o| !o.split(',').any(|c| c == codec))
            {
                continue;
            }
            let all = data.ground_truth.clone().unwrap().truncated(300);
            for ef in [32, 64, 128] {
                let (us, r, d) = timed(index, &queries, None, &all, ef, None);
                eprintln!("{name} {codec} unfiltered ef {ef}: {us:.0} µs, recall {r:.3}, {d:.0} distances");
            }
            for case in bench_filters() {
                let keep: Vec<bool> = payloads.iter().map(|p| case.filter.matches(p)).collect();
                let truth = ground_truth_filtered(
                    data.base.as_slice(),
                    queries.as_slice(),
                    data.dim(),
                    10,
                    metric,
                    |r| keep[r],
                )
                .unwrap();
                for choice in [Choice::Exact, Choice::Walk, Choice::TwoHop] {
                    for ef in [32, 64, 128] {
                        if choice == Choice::Exact && ef > 32 {
                            continue;
                        }
                        let (us, r, d) = timed(
                            index,
                            &queries,
                            Some(&case.filter),
                            &truth,
                            ef,
                            Some(choice),
                        );
                        eprintln!(
                            "{name} {codec} {} {choice:?} ef {ef}: {us:.0} µs, recall {r:.3}, {d:.0} distances",
                            case.name
                        );
                    }
                }
            }
        }
    }
}

/// Rows `0..n` of a synthetic set, with payloads covering each path.
fn synthetic(n: usize, dim: usize) -> (Vec<u64>, Vec<f32>, Vec<Payload>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let ids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
    let rows: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>()).collect();
    let payloads = (0..n)
        .map(|i| {
            Payload::new()
                .with("g", (i % 100) as i64)
                .with("half", i % 2 == 0)
        })
        .collect();
    (ids, rows, payloads)
}

#[test]
fn every_path_returns_the_exact_filtered_answer_or_close_and_k_hits() {
    let (n, dim) = (6000, 12);
    let (ids, rows, payloads) = synthetic(n, dim);
    let index = Index::new(IndexOptions::new(dim, Metric::L2)).unwrap();
    index
        .add_batch_with_payloads(&ids, &rows, &payloads)
        .unwrap();
    // Deleted rows never come back, on any path.
    for id in ids.iter().step_by(7) {
        index.delete(*id).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    index.save(dir.path().join("s")).unwrap();
    let opened = Index::open(dir.path().join("s")).unwrap();
    opened.verify().unwrap();
    let filters = [
        Filter::eq("g", 3),
        Filter::lt("g", 30),
        Filter::eq("half", true),
        !Filter::eq("half", true) & Filter::gte("g", 90),
        Filter::eq("g", 1000),
    ];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    for idx in [&index, &opened] {
        for f in &filters {
            let live: Vec<usize> = (0..n)
                .filter(|&i| i % 7 != 0 && f.matches(&payloads[i]))
                .collect();
            for choice in [
                None,
                Some(Choice::Exact),
                Some(Choice::Walk),
                Some(Choice::TwoHop),
            ] {
                let mut hit = 0;
                let queries = 30;
                for _ in 0..queries {
                    let q: Vec<f32> = (0..dim).map(|_| rng.random::<f32>()).collect();
                    FORCE.with(|c| c.set(choice));
                    let got = idx
                        .search_with(&q, &SearchParams::new(10).ef(64).payload_filter(f))
                        .unwrap();
                    FORCE.with(|c| c.set(None));
                    let mut want: Vec<(f32, u64)> = live
                        .iter()
                        .map(|&i| {
                            (
                                Metric::L2.distance(&q, &rows[i * dim..(i + 1) * dim]),
                                ids[i],
                            )
                        })
                        .collect();
                    want.sort_by(|a, b| a.0.total_cmp(&b.0));
                    want.truncate(10);
                    assert_eq!(got.len(), want.len(), "{f} {choice:?}");
                    assert!(got.iter().all(|h| {
                        let i = ((h.id - 1) / 3) as usize;
                        !i.is_multiple_of(7) && f.matches(&payloads[i])
                    }));
                    hit += got
                        .iter()
                        .filter(|h| want.iter().any(|w| w.1 == h.id))
                        .count();
                }
                let recall = hit as f64 / (queries * 10.min(live.len().max(1))) as f64;
                let floor = if choice == Some(Choice::Exact) {
                    1.0
                } else {
                    0.9
                };
                assert!(
                    live.is_empty() || recall >= floor,
                    "{f} {choice:?}: {recall}"
                );
            }
        }
        assert_eq!(idx.payload(ids[5]).unwrap(), payloads[5]);
        assert!(matches!(idx.payload(ids[0]), Err(Error::UnknownId { .. })));
    }
    // Unknown fields and wrong types are refused before searching.
    for bad in [
        Filter::eq("nope", 1),
        Filter::eq("g", "x"),
        Filter::gt("half", true),
    ] {
        let e = index
            .search_with(&[0.0; 12], &SearchParams::new(3).payload_filter(&bad))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidFilter { .. }), "{e}");
    }
    // A payload of the wrong type adds nothing.
    let before = index.len();
    let e = index
        .add_batch_with_payloads(
            &[100_000, 100_001],
            &[0.5; 24],
            &[Payload::new().with("g", 1), Payload::new().with("g", 1.5)],
        )
        .unwrap_err();
    assert!(matches!(e, Error::FieldTypeMismatch { .. }), "{e}");
    assert_eq!(index.len(), before);
}

#[test]
fn the_planner_rule_at_the_measured_points() {
    use super::super::planner::choose;
    // wordllama-sent-256-ip (100,000 rows) at ef 64: 10% scans, 50% walks.
    assert_eq!(choose(100_000, 10_101, 64, 16), Choice::Exact);
    assert_eq!(choose(100_000, 49_866, 64, 16), Choice::Walk);
    // mnist-784-l2 (9,000 rows): 10% scans, 50% walks.
    assert_eq!(choose(9_000, 892, 64, 16), Choice::Exact);
    assert_eq!(choose(9_000, 4_455, 64, 16), Choice::Walk);
    // A wider beam does not move a filter to the scan.
    assert_eq!(choose(9_000, 4_455, 256, 16), Choice::Walk);
    // A million rows at 10%: too many to scan, too few for the plain walk.
    assert_eq!(choose(1_000_000, 100_000, 64, 16), Choice::TwoHop);
}

/// Payload filters on RaBitQ segments (one-visit blocks and compact rows with extended bits):
/// each planner path, forced and chosen, on clustered data; recall computed against the exact
/// filtered answer; the path that ran read from the search's counters.
#[test]
fn rabitq_segments_answer_payload_filters_on_every_path() {
    use crate::base::options::{Layout, Quantization};
    use crate::data::synthetic::ClusteredSpec;
    let (n, dim) = (4000, 48);
    let (base, queries) = ClusteredSpec::new(n, dim)
        .generate_with_queries(30)
        .unwrap();
    let rows = base.as_slice();
    let ids: Vec<u64> = (0..n as u64).map(|i| 3 * i + 1).collect();
    // Selectivities 1%, 10% and 50%.
    let payloads: Vec<Payload> = (0..n)
        .map(|i| {
            Payload::new()
                .with("g", (i * 37 % 100) as i64)
                .with("half", i % 2 == 0)
        })
        .collect();
    let filters = [
        Filter::eq("g", 3),
        Filter::lt("g", 10),
        Filter::eq("half", true),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (bits, layout) in [(0, Layout::FastScan), (4, Layout::Compact)] {
        let mut o = IndexOptions::new(dim, Metric::L2);
        o.quantization = Quantization::RaBitQ { bits };
        o.layout = layout;
        o.ef_construction = 80;
        let index = Index::new(o).unwrap();
        index
            .add_batch_with_payloads(&ids, rows, &payloads)
            .unwrap();
        let path = dir.path().join(format!("rq{bits}.svs"));
        index.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 5);
        let opened = Index::open(&path).unwrap();
        opened.verify().unwrap();
        assert_eq!(opened.options().layout, layout);
        for f in &filters {
            let live: Vec<usize> = (0..n).filter(|&i| f.matches(&payloads[i])).collect();
            for choice in [
                None,
                Some(Choice::Exact),
                Some(Choice::Walk),
                Some(Choice::TwoHop),
            ] {
                let stats = SearchStats::new();
                let (mut hit, mut total) = (0, 0);
                for q in queries.as_slice().chunks_exact(dim) {
                    FORCE.with(|c| c.set(choice));
                    let got = opened
                        .search_with(
                            q,
                            &SearchParams::new(10).ef(64).payload_filter(f).stats(&stats),
                        )
                        .unwrap();
                    FORCE.with(|c| c.set(None));
                    let mut want: Vec<(f32, u64)> = live
                        .iter()
                        .map(|&i| {
                            (
                                Metric::L2.distance(q, &rows[i * dim..(i + 1) * dim]),
                                ids[i],
                            )
                        })
                        .collect();
                    want.sort_by(|a, b| a.0.total_cmp(&b.0));
                    want.truncate(10);
                    assert_eq!(got.len(), 10, "{f} {choice:?}");
                    assert!(got
                        .iter()
                        .all(|h| f.matches(&payloads[((h.id - 1) / 3) as usize])));
                    hit += got
                        .iter()
                        .filter(|h| want.iter().any(|w| w.1 == h.id))
                        .count();
                    total += want.len();
                }
                let recall = hit as f64 / total as f64;
                let what = format!("rabitq{bits} {layout} {f} {choice:?}");
                eprintln!("{what}: recall@10 {recall}");
                let c = stats.counts();
                let q = c.queries;
                let paths = [c.exact_scans, c.walks, c.two_hop_walks, c.fallbacks];
                // The path that ran: the forced one (or the exact scan after it), or the
                // planner's, the same for every query of one filter.
                let ran = match choice {
                    Some(forced) => forced,
                    None if paths[0] == q => Choice::Exact,
                    None if paths[1] == q => Choice::Walk,
                    None => Choice::TwoHop,
                };
                match ran {
                    Choice::Exact => assert_eq!(paths, [q, 0, 0, 0], "{what}"),
                    Choice::Walk => assert_eq!(paths[1] + paths[3], q, "{what}"),
                    Choice::TwoHop => assert_eq!(paths[2] + paths[3], q, "{what}"),
                }
                // A walk forced below its range may starve (the two-hop walk at 1% on
                // clustered data: 0.79-0.86 measured, on f32 distances, so not the codes'
                // doing): there exactly k hits passing the filter is asserted, not recall.
                let selective = live.len() * 20 < n;
                let floor = match ran {
                    Choice::Exact => 0.99,
                    _ if choice.is_none() || !selective => 0.9,
                    _ => 0.0,
                };
                assert!(recall >= floor, "{what}: recall@10 {recall}");
                if ran != Choice::Walk && c.fallbacks == 0 {
                    // The exact scan and the two-hop walk score rows, not blocks.
                    assert_eq!(c.block_bytes, 0, "{what}");
                }
            }
        }
    }
}
