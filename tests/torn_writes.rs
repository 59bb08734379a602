//! Torn writes: every directory state a crash during a flush or a compaction can leave, built by
//! hand and reopened. The files a flush writes are produced by a real flush; then, for each file it
//! writes and each offset, the directory is set up as a crash at that point leaves it.
//!
//! Which states are possible follows from the write protocol (`docs/file-format.md`): each file
//! is written as `<name>.tmp-<16 hex>`, fsynced, renamed over `<name>`, and the directory fsynced;
//! in order, a flush writes the changed deletion bitmaps, the new segment, the `MANIFEST` (the
//! commit), the reset `WAL`, then removes the files no manifest names. So a crash leaves:
//!
//! 1. the files written before, complete, plus the temporary file of the one being written, cut
//!    at any offset (0 to its full length: written but not renamed);
//! 2. after the last rename, files the new manifest no longer names, not yet removed.
//!
//! Each such state must reopen with every acknowledged write, no deleted id, `verify` passing,
//! and no temporary file left. Beyond the protocol (a file system that loses the order of data and
//! rename): a new file cut under its final name must be ignored as the orphan it is, and a
//! `MANIFEST` cut under its final name must be a clear `Corrupt` error that removes nothing.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use stratavec::{Collection, CollectionOptions, Durability, Error, Metric, SearchParams};

const DIM: usize = 4;
const WAL_HEADER: usize = 28;
const TMP: &str = ".tmp-0123456789abcdef";

type Files = BTreeMap<String, Vec<u8>>;
type Model = HashMap<u64, Vec<f32>>;

fn options() -> CollectionOptions {
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = Durability::Sync;
    o.index.m = 4;
    o.index.ef_construction = 16;
    o.seal_rows = 10_000;
    o.compact_deleted_fraction = None;
    o
}

fn vector(id: u64, version: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|i| ((id * 13 + i * 5 + version * 3) % 31) as f32 + version as f32 * 0.25)
        .collect()
}

/// Every file of the directory but the lock, by name.
fn snapshot(dir: &Path) -> Files {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "LOCK")
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn restore(dir: &Path, files: &Files) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

fn upsert(col: &Collection, model: &mut Model, ids: &[u64], version: u64) {
    let rows: Vec<f32> = ids.iter().flat_map(|&id| vector(id, version)).collect();
    col.upsert_batch(ids, &rows).unwrap();
    for &id in ids {
        model.insert(id, vector(id, version));
    }
}

fn delete(col: &Collection, model: &mut Model, ids: &[u64]) {
    col.delete_batch(ids).unwrap();
    for id in ids {
        model.remove(id);
    }
}

/// Reopens `dir` and checks it holds exactly `model`.
fn check(dir: &Path, model: &Model, what: &str) {
    let col = Collection::open(dir, options()).unwrap_or_else(|e| panic!("{what}: open: {e}"));
    col.verify()
        .unwrap_or_else(|e| panic!("{what}: verify: {e}"));
    assert_eq!(col.len(), model.len(), "{what}: live count");
    for id in 0..40 {
        match model.get(&id) {
            Some(v) => assert_eq!(
                col.get(id)
                    .unwrap_or_else(|e| panic!("{what}: id {id} lost: {e}")),
                *v,
                "{what}: id {id}"
            ),
            None => assert!(!col.contains(id), "{what}: id {id} should be absent"),
        }
    }
    for hit in col
        .search_with(&vector(3, 0), &SearchParams::new(40).ef(64))
        .unwrap()
    {
        assert!(model.contains_key(&hit.id), "{what}: dead id {}", hit.id);
    }
    drop(col);
    let left: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{what}: temporary files left: {left:?}");
}

/// The files `after` writes over `before`, in the order a flush or compaction writes them
/// (bitmaps, segments, MANIFEST, WAL), and the files it removes.
fn writes(before: &Files, after: &Files) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let rank = |n: &str| match n {
        _ if n.ends_with(".del") => 0,
        _ if n.ends_with(".svs") => 1,
        "MANIFEST" => 2,
        "WAL" => 3,
        _ => panic!("unexpected file {n}"),
    };
    let mut written: Vec<(String, Vec<u8>)> = after
        .iter()
        .filter(|(n, b)| before.get(*n) != Some(b))
        .map(|(n, b)| (n.clone(), b.clone()))
        .collect();
    written.sort_by_key(|(n, _)| (rank(n), n.clone()));
    let removed = before
        .keys()
        .filter(|n| !after.contains_key(*n))
        .cloned()
        .collect();
    (written, removed)
}

/// Every crash state between `before` and `after` (see the module docs), each reopened and
/// checked in a directory of its own; returns how many were checked.
fn torture(scratch: &Path, label: &str, before: &Files, after: &Files, model: &Model) -> usize {
    let (written, removed) = writes(before, after);
    assert!(
        written.iter().any(|(n, _)| n == "MANIFEST"),
        "{label}: nothing committed"
    );
    // States, built lazily: (description, files, expectation).
    let mut states: Vec<(String, Files, bool)> = Vec::new();
    let mut done = before.clone();
    for (name, bytes) in &written {
        for cut in 0..=bytes.len() {
            let mut files = done.clone();
            files.insert(format!("{name}{TMP}"), bytes[..cut].to_vec());
            states.push((format!("{label}: {name} temp cut at {cut}"), files, true));
            if cut < bytes.len() {
                let mut files = done.clone();
                files.insert(name.clone(), bytes[..cut].to_vec());
                // Beyond the protocol: a new file cut under its own name is an orphan; a cut
                // MANIFEST, or a WAL cut inside its header, is an error; a WAL cut after its
                // header is a torn log (every record it held is sealed by then).
                let ok = name != "MANIFEST" && !(name == "WAL" && cut < WAL_HEADER);
                states.push((format!("{label}: {name} itself cut at {cut}"), files, ok));
            }
        }
        done.insert(name.clone(), bytes.clone());
    }
    // After the commit and the reset, before the removals.
    for r in &removed {
        let mut files = after.clone();
        files.insert(r.clone(), before[r].clone());
        states.push((format!("{label}: {r} not yet removed"), files, true));
    }
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for t in 0..threads {
            let states = &states;
            let checked = &checked;
            let removed = &removed;
            s.spawn(move || {
                let dir = scratch.join(format!("{label}-{t}"));
                for (what, files, ok) in states.iter().skip(t).step_by(threads) {
                    restore(&dir, files);
                    if *ok {
                        check(&dir, model, what);
                    } else {
                        match Collection::open(&dir, options()) {
                            Err(Error::Corrupt { .. }) => {}
                            Err(e) => panic!("{what}: expected Corrupt, got {e}"),
                            Ok(_) => panic!("{what}: a cut MANIFEST opened"),
                        }
                        // Nothing needed was removed: the segments, bitmaps and log are still
                        // there (files no manifest names may go).
                        let now = snapshot(&dir);
                        let needed = |n: &str| !n.contains(TMP) && !removed.iter().any(|r| r == n);
                        for (n, b) in files.iter().filter(|(n, _)| needed(n)) {
                            assert_eq!(now.get(n), Some(b), "{what}: {n} changed");
                        }
                    }
                    checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    checked.into_inner()
}

#[test]
fn every_crash_point_of_a_flush_and_a_compaction_reopens_with_every_acknowledged_write() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("col");
    let mut model = Model::new();
    let col = Collection::open(&dir, options()).unwrap();
    upsert(&col, &mut model, &(0..16).collect::<Vec<_>>(), 1);
    col.flush().unwrap();
    delete(&col, &mut model, &[1, 2]);
    upsert(&col, &mut model, &[3, 16, 17, 18, 19], 2);
    col.flush().unwrap(); // segment 1 gets a bitmap, segment 2 is new
    delete(&col, &mut model, &[4, 17]);
    upsert(&col, &mut model, &[5, 20, 21, 22], 3);
    let s0 = snapshot(&dir); // acknowledged: in the log, not yet sealed

    col.flush().unwrap(); // new bitmaps for segments 1 and 2 (the old one replaced), segment 3
    let s1 = snapshot(&dir);
    col.compact().unwrap(); // segment 4 replaces 1, 2, 3 and their bitmaps
    let s2 = snapshot(&dir);
    drop(col);
    assert!(s1.keys().any(|n| n.ends_with(".del")));

    let scratch = root.path().join("states");
    let started = std::time::Instant::now();
    let n = torture(&scratch, "flush", &s0, &s1, &model)
        + torture(&scratch, "compact", &s1, &s2, &model);
    eprintln!(
        "{n} crash states of a flush and a compaction reopened in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
