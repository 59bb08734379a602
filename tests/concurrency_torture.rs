//! Concurrency torture: one writer (upserts and deletes), a thread flushing and compacting, reader
//! threads searching and reading, and a read-only handle refreshing, all at once for a bounded
//! time. Readers check every answer (at most `k` hits, sorted, distinct, and the ids written once
//! and never touched again always there with their vector); afterwards the collection — and the
//! collection reopened — equals a model `HashMap` of what the writer had acknowledged.
//!
//! Time: `STRATAVEC_TORTURE_SECS` (default 6 s); readers: one per core.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use stratavec::{Collection, CollectionOptions, Durability, Metric, SearchParams};

const DIM: usize = 16;
/// Ids `0..STABLE` are written once, before the threads start, and never touched again.
const STABLE: u64 = 50;
const IDS: u64 = 3000;

fn options() -> CollectionOptions {
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = Durability::Buffered;
    o.index.m = 8;
    o.index.ef_construction = 32;
    o.seal_rows = 400;
    o.compact_deleted_fraction = Some(0.2);
    o
}

fn vector(id: u64, version: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|i| ((id.wrapping_mul(2654435761) >> (i % 13)) % 101) as f32 + version as f32 * 0.5)
        .collect()
}

fn equals_model(col: &Collection, model: &HashMap<u64, Vec<f32>>, when: &str) {
    assert_eq!(col.len(), model.len(), "{when}: live count");
    for id in 0..IDS {
        match model.get(&id) {
            Some(v) => assert_eq!(
                col.get(id)
                    .unwrap_or_else(|e| panic!("{when}: id {id} lost: {e}")),
                *v,
                "{when}: id {id} has another version"
            ),
            None => assert!(!col.contains(id), "{when}: id {id} should be absent"),
        }
    }
}

#[test]
fn readers_a_writer_flushes_and_compactions_together_end_equal_to_the_model() {
    let secs: u64 = std::env::var("STRATAVEC_TORTURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().unwrap();
    let col = Collection::open(dir.path(), options()).unwrap();
    let stable: Vec<u64> = (0..STABLE).collect();
    let rows: Vec<f32> = stable.iter().flat_map(|&id| vector(id, 0)).collect();
    col.upsert_batch(&stable, &rows).unwrap();
    col.flush().unwrap();

    let stop = AtomicBool::new(false);
    let searches = AtomicUsize::new(0);
    let refreshes = AtomicUsize::new(0);
    let flushes = AtomicUsize::new(0);
    let compactions = AtomicUsize::new(0);
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let deadline = Instant::now() + Duration::from_secs(secs);

    let (model, writes) = std::thread::scope(|s| {
        let col = &col;
        let stop = &stop;
        for r in 0..readers {
            let searches = &searches;
            s.spawn(move || {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(100 + r as u64);
                while !stop.load(Ordering::Relaxed) {
                    let q = vector(rng.random_range(0..IDS), rng.random_range(0..5));
                    let k = rng.random_range(1..=20);
                    let hits = col.search_with(&q, &SearchParams::new(k).ef(48)).unwrap();
                    assert!(hits.len() <= k);
                    for w in hits.windows(2) {
                        assert!(w[0].distance <= w[1].distance, "unsorted hits");
                    }
                    let mut ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    assert_eq!(ids.len(), hits.len(), "an id returned twice");
                    let id = rng.random_range(0..STABLE);
                    assert_eq!(col.get(id).unwrap(), vector(id, 0), "stable id {id}");
                    searches.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // A read-only handle beside the writer, catching up with its flushes.
        {
            let refreshes = &refreshes;
            let path = dir.path().to_path_buf();
            s.spawn(move || {
                let ro = Collection::open_read_only(&path).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    ro.refresh().unwrap();
                    for id in 0..STABLE {
                        assert_eq!(ro.get(id).unwrap(), vector(id, 0), "read-only: id {id}");
                    }
                    let _ = ro.search(&vector(7, 1), 10).unwrap();
                    refreshes.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        // Flushes and compactions, from their own thread.
        {
            let (flushes, compactions) = (&flushes, &compactions);
            s.spawn(move || {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(rng.random_range(5..60)));
                    if rng.random_range(0..4) == 0 {
                        col.compact().unwrap();
                        compactions.fetch_add(1, Ordering::Relaxed);
                    } else {
                        col.flush().unwrap();
                        flushes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        // The one writer, keeping the model of what it acknowledged.
        let writer = s.spawn(move || {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
            let mut model: HashMap<u64, Vec<f32>> =
                (0..STABLE).map(|id| (id, vector(id, 0))).collect();
            let mut version = 0;
            let mut writes = 0usize;
            while Instant::now() < deadline {
                version += 1;
                let n = rng.random_range(1..=8);
                let ids: Vec<u64> = (0..n).map(|_| rng.random_range(STABLE..IDS)).collect();
                if rng.random_range(0..10) < 7 {
                    let rows: Vec<f32> = ids.iter().flat_map(|&id| vector(id, version)).collect();
                    col.upsert_batch(&ids, &rows).unwrap();
                    for &id in &ids {
                        model.insert(id, vector(id, version));
                    }
                } else {
                    col.delete_batch(&ids).unwrap();
                    for id in &ids {
                        model.remove(id);
                    }
                }
                writes += 1;
            }
            stop.store(true, Ordering::Relaxed);
            (model, writes)
        });
        writer.join().unwrap()
    });
    eprintln!(
        "{secs} s: {writes} write batches, {} searches on {readers} readers, {} read-only \
         refreshes, {} flushes and {} compactions by hand; stats {:?}",
        searches.load(Ordering::Relaxed),
        refreshes.load(Ordering::Relaxed),
        flushes.load(Ordering::Relaxed),
        compactions.load(Ordering::Relaxed),
        col.stats()
    );
    assert!(searches.load(Ordering::Relaxed) > 0 && flushes.load(Ordering::Relaxed) > 0);
    equals_model(&col, &model, "after the run");
    col.verify().unwrap();
    drop(col);
    let col = Collection::open(dir.path(), options()).unwrap();
    equals_model(&col, &model, "reopened");
    col.verify().unwrap();
    col.compact().unwrap();
    equals_model(&col, &model, "compacted");
}
