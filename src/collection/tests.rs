//! The collection: upserts, deletes, reopening, sealing, compaction, locking, a torn log,
//! readers beside a writer.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;
use crate::data::synthetic::ClusteredSpec;
use crate::eval::{ground_truth, recall_at_k};

fn options(dim: usize) -> CollectionOptions {
    let mut o = CollectionOptions::new(dim, Metric::L2);
    o.index.ef_construction = 64;
    o.compact_deleted_fraction = None;
    o
}

fn vector(id: u64, version: u32, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|i| ((id * 31 + i as u64 * 7) % 97) as f32 + version as f32 * 1000.0)
        .collect()
}

#[test]
fn upserts_replace_deletes_hide_and_everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 4;
    {
        let col = Collection::open(dir.path(), options(dim)).unwrap();
        for id in 0..50 {
            col.upsert(id, &vector(id, 0, dim)).unwrap();
        }
        col.flush().unwrap();
        for id in 0..10 {
            col.upsert(id, &vector(id, 1, dim)).unwrap(); // supersedes a sealed row
        }
        for id in 40..50 {
            col.upsert(id, &vector(id, 2, dim)).unwrap();
        }
        assert!(col.delete(5).unwrap());
        assert!(col.delete(45).unwrap());
        assert!(!col.delete(1000).unwrap());
        assert_eq!(col.len(), 48);
        assert_eq!(col.get(3).unwrap(), vector(3, 1, dim));
        assert!(matches!(col.get(5), Err(Error::UnknownId { id: 5 })));
        let hits = col.search(&vector(3, 1, dim), 3).unwrap();
        assert_eq!(hits[0].id, 3);
        assert_eq!(hits[0].distance, 0.0);
        // The superseded version of 3 is never returned, even searched for exactly.
        let hits = col.search(&vector(3, 0, dim), 50).unwrap();
        assert_eq!(hits.iter().filter(|h| h.id == 3).count(), 1);
        assert!(hits.iter().all(|h| h.id != 5 && h.id != 45));
    }
    // Reopened: the sealed segment plus the log's writes.
    let col = Collection::open(dir.path(), options(dim)).unwrap();
    assert_eq!(col.len(), 48);
    assert_eq!(col.get(3).unwrap(), vector(3, 1, dim));
    assert_eq!(col.get(42).unwrap(), vector(42, 2, dim));
    assert_eq!(col.get(20).unwrap(), vector(20, 0, dim));
    assert!(!col.contains(5) && !col.contains(45));
    col.flush().unwrap();
    let stats = col.stats();
    assert_eq!((stats.segments, stats.live, stats.unsealed), (2, 48, 0));
    // Sealed first: 20 superseded rows; sealed second: ids 5 and 45 deleted among its 20.
    assert_eq!(stats.deleted, 20 + 2, "{stats:?}");
    drop(col);
    let col = Collection::open(dir.path(), options(dim)).unwrap();
    assert_eq!(col.len(), 48);
    assert_eq!(col.get(3).unwrap(), vector(3, 1, dim));
    assert!(!col.contains(45));
}

#[test]
fn a_batch_keeps_the_last_row_of_a_repeated_id_and_bad_batches_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let col = Collection::open(dir.path(), options(2)).unwrap();
    col.upsert_batch(&[1, 2, 1], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0])
        .unwrap();
    assert_eq!(col.len(), 2);
    assert_eq!(col.get(1).unwrap(), vec![3.0, 3.0]);
    let before = col.stats().wal_bytes;
    assert!(matches!(
        col.upsert(9, &[1.0, f32::NAN]),
        Err(Error::InvalidVector { .. })
    ));
    assert!(matches!(
        col.upsert(9, &[1.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        col.upsert_batch(&[9, 10], &[1.0, 2.0]),
        Err(Error::InvalidParameter { .. })
    ));
    assert_eq!(
        col.stats().wal_bytes,
        before,
        "a refused write reached the log"
    );
    assert!(!col.contains(9));
    // Mismatched options on reopen.
    drop(col);
    let err = Collection::open(dir.path(), options(3)).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
}

#[test]
fn one_writer_at_a_time_and_read_only_opens_see_the_last_flush() {
    let dir = tempfile::tempdir().unwrap();
    let col = Collection::open(dir.path(), options(2)).unwrap();
    let err = Collection::open(dir.path(), options(2)).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    col.upsert(1, &[1.0, 0.0]).unwrap();
    col.flush().unwrap();
    col.upsert(2, &[0.0, 1.0]).unwrap();
    let reader = Collection::open_read_only(dir.path()).unwrap();
    assert!(reader.contains(1) && !reader.contains(2));
    assert!(matches!(
        reader.upsert(3, &[1.0, 1.0]),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(reader.flush(), Err(Error::ReadOnly { .. })));
    col.flush().unwrap();
    reader.refresh().unwrap();
    assert!(reader.contains(2));
    drop(col);
    Collection::open(dir.path(), options(2)).unwrap();
    let missing = Collection::open_read_only(dir.path().join("nothing")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
}

#[test]
fn stored_options_read_the_manifest_without_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Collection::stored_options(dir.path()).unwrap(), None);
    assert_eq!(
        Collection::stored_options(dir.path().join("absent")).unwrap(),
        None
    );
    let mut o = options(5);
    o.index.quantization = Quantization::Sq4;
    o.index.m = 12;
    let col = Collection::open(dir.path(), o.clone()).unwrap();
    // Beside the writer (which holds the lock): the stored options, as created.
    let stored = Collection::stored_options(dir.path()).unwrap().unwrap();
    assert_eq!(stored, o.index);
    // And they open the collection again.
    drop(col);
    let again = Collection::open(
        dir.path(),
        CollectionOptions {
            index: stored,
            ..options(5)
        },
    )
    .unwrap();
    assert_eq!(again.options().index.quantization, Quantization::Sq4);
    drop(again);
    std::fs::write(dir.path().join(manifest::MANIFEST_FILE), b"not a manifest").unwrap();
    let err = Collection::stored_options(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}

#[test]
fn sealing_at_the_threshold_and_quantized_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(16);
    o.seal_rows = 300;
    o.index.quantization = Quantization::Sq8;
    let col = Collection::open(dir.path(), o.clone()).unwrap();
    let data = ClusteredSpec::new(1000, 16).generate().unwrap();
    for (i, row) in data.rows().enumerate() {
        col.upsert(i as u64, row).unwrap();
    }
    let stats = col.stats();
    assert_eq!(stats.segments, 3, "{stats:?}");
    assert_eq!(stats.unsealed, 100);
    assert_eq!(col.len(), 1000);
    for (i, row) in data.rows().enumerate().step_by(37) {
        assert_eq!(col.search(row, 1).unwrap()[0].id, i as u64);
    }
    drop(col);
    let col = Collection::open(dir.path(), o).unwrap();
    assert_eq!(col.len(), 1000);
    assert_eq!(col.options().index.quantization, Quantization::Sq8);
}

/// Recall@10 of the collection on `queries` against exact neighbours among `live` rows.
fn recall(
    col: &Collection,
    data: &crate::data::Matrix<f32>,
    live: &[u64],
    queries: &crate::data::Matrix<f32>,
) -> f64 {
    let dim = data.dim();
    let rows: Vec<f32> = live
        .iter()
        .flat_map(|&i| data.row(i as usize).to_vec())
        .collect();
    let truth = ground_truth(&rows, queries.as_slice(), dim, 10, Metric::L2).unwrap();
    let truth: Vec<u32> = truth
        .as_slice()
        .iter()
        .map(|&r| live[r as usize] as u32)
        .collect();
    let truth = crate::data::Matrix::from_vec(10, truth).unwrap();
    let found: Vec<Vec<u64>> = queries
        .rows()
        .map(|q| {
            col.search_with(q, &SearchParams::new(10).ef(64))
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect()
        })
        .collect();
    recall_at_k(&found, &truth, 10).unwrap()
}

#[test]
fn compaction_drops_deleted_rows_keeps_recall_and_shrinks_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 24;
    let mut o = options(dim);
    o.seal_rows = 1500;
    let col = Collection::open(dir.path(), o.clone()).unwrap();
    let (data, queries) = ClusteredSpec::new(6000, dim)
        .generate_with_queries(100)
        .unwrap();
    let ids: Vec<u64> = (0..6000).collect();
    col.upsert_batch(&ids, data.as_slice()).unwrap();
    for chunk in ids.chunks(1000) {
        let rows: Vec<f32> = chunk
            .iter()
            .flat_map(|&i| data.row(i as usize).to_vec())
            .collect();
        col.upsert_batch(chunk, &rows).unwrap();
    }
    col.flush().unwrap();
    let deleted: HashSet<u64> = ids.iter().copied().filter(|i| i % 10 < 3).collect();
    for &id in &deleted {
        col.delete(id).unwrap();
    }
    col.flush().unwrap();
    let live: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|i| !deleted.contains(i))
        .collect();
    let before = col.stats();
    col.compact().unwrap();
    let after = col.stats();
    assert_eq!(
        (after.segments, after.live, after.deleted),
        (1, live.len(), 0)
    );
    assert!(
        after.segment_bytes < before.segment_bytes / 2,
        "{before:?} → {after:?}"
    );
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(files <= 4, "old files left behind: {files}");
    let compacted = recall(&col, &data, &live, &queries);
    for q in queries.rows() {
        for h in col.search(q, 20).unwrap() {
            assert!(!deleted.contains(&h.id));
        }
    }
    // A fresh build over the live rows, for comparison.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Collection::open(fresh_dir.path(), o).unwrap();
    let rows: Vec<f32> = live
        .iter()
        .flat_map(|&i| data.row(i as usize).to_vec())
        .collect();
    fresh.upsert_batch(&live, &rows).unwrap();
    fresh.flush().unwrap();
    let fresh_recall = recall(&fresh, &data, &live, &queries);
    assert!(
        compacted >= fresh_recall - 0.01,
        "compacted {compacted:.4} vs fresh {fresh_recall:.4}"
    );
    drop(col);
    let col = Collection::open(dir.path(), options(dim)).unwrap();
    assert_eq!(col.len(), live.len());
}

#[test]
fn a_torn_log_gives_back_a_prefix_of_the_writes_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 3;
    let writes = 6u64;
    {
        let col = Collection::open(dir.path(), options(dim)).unwrap();
        for id in 0..writes {
            col.upsert(id, &vector(id, 0, dim)).unwrap();
        }
    }
    let wal = std::fs::read(dir.path().join(WAL_FILE)).unwrap();
    let manifest = std::fs::read(dir.path().join(manifest::MANIFEST_FILE)).unwrap();
    let mut seen_counts = HashSet::new();
    for cut in 0..=wal.len() {
        let copy = tempfile::tempdir().unwrap();
        std::fs::write(copy.path().join(WAL_FILE), &wal[..cut]).unwrap();
        std::fs::write(copy.path().join(manifest::MANIFEST_FILE), &manifest).unwrap();
        let col = match Collection::open(copy.path(), options(dim)) {
            Ok(c) => c,
            // A log cut inside its header is refused as corrupt, never half-read.
            Err(Error::Corrupt { .. }) if cut < wal::WAL_HEADER_LEN => continue,
            Err(e) => panic!("cut {cut}: {e}"),
        };
        let n = col.len() as u64;
        for id in 0..writes {
            assert_eq!(col.contains(id), id < n, "cut {cut}: not a prefix");
        }
        for id in 0..n {
            assert_eq!(col.get(id).unwrap(), vector(id, 0, dim));
        }
        seen_counts.insert(n);
        // The cut log takes new writes after the prefix.
        col.upsert(100, &vector(100, 0, dim)).unwrap();
        drop(col);
        let col = Collection::open(copy.path(), options(dim)).unwrap();
        assert_eq!(col.len() as u64, n + 1);
    }
    assert_eq!(seen_counts.len(), writes as usize + 1, "{seen_counts:?}");
}

#[test]
fn readers_never_fail_or_see_a_deleted_row_while_the_writer_works() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 8;
    let mut o = options(dim);
    o.seal_rows = 400;
    let col = Collection::open(dir.path(), o).unwrap();
    let data = ClusteredSpec::new(3000, dim).generate().unwrap();
    let ids: Vec<u64> = (0..1000).collect();
    let rows: Vec<f32> = data.as_slice()[..1000 * dim].to_vec();
    col.upsert_batch(&ids, &rows).unwrap();
    // Deletions happen in a fixed order; `deleted` counts those finished.
    let order: Vec<u64> = (0..1000).filter(|i| i % 3 == 0).collect();
    let deleted = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let searches = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..2 {
            let (col, data, order, deleted, done, searches) =
                (&col, &data, &order, &deleted, &done, &searches);
            s.spawn(move || {
                let mut i = t;
                while !done.load(Ordering::Acquire) {
                    let gone: HashSet<u64> = order[..deleted.load(Ordering::Acquire)]
                        .iter()
                        .copied()
                        .collect();
                    let q = data.row(i % 3000);
                    for h in col.search_with(q, &SearchParams::new(10).ef(32)).unwrap() {
                        assert!(!gone.contains(&h.id), "deleted id {} returned", h.id);
                        assert!(h.id < 3000);
                    }
                    searches.fetch_add(1, Ordering::Relaxed);
                    i += 7;
                }
            });
        }
        let mut next = 1000u64;
        for (n, &id) in order.iter().enumerate() {
            col.delete(id).unwrap();
            deleted.store(n + 1, Ordering::Release);
            if next < 3000 {
                let row = data.row(next as usize);
                col.upsert(next, row).unwrap();
                next += 1;
            }
            if n % 90 == 0 {
                col.flush().unwrap();
            }
            if n % 200 == 199 {
                col.compact().unwrap();
            }
        }
        done.store(true, Ordering::Release);
    });
    assert!(searches.load(Ordering::Relaxed) > 0);
    let live: HashMap<u64, ()> = (0..1334u64)
        .filter(|i| !(*i < 1000 && i % 3 == 0))
        .map(|i| (i, ()))
        .collect();
    assert_eq!(col.len(), live.len());
    for id in live.keys() {
        assert!(col.contains(*id));
    }
}

#[test]
fn a_flush_compacts_by_itself_past_the_deleted_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(4);
    o.compact_deleted_fraction = Some(0.2);
    let col = Collection::open(dir.path(), o).unwrap();
    let ids: Vec<u64> = (0..100).collect();
    let rows: Vec<f32> = ids.iter().flat_map(|&i| vector(i, 0, 4)).collect();
    col.upsert_batch(&ids, &rows).unwrap();
    col.flush().unwrap();
    col.upsert(100, &vector(100, 0, 4)).unwrap();
    col.flush().unwrap();
    assert_eq!(
        col.stats().segments,
        2,
        "nothing deleted yet: no compaction"
    );
    col.delete_batch(&ids[..30]).unwrap();
    col.flush().unwrap();
    let stats = col.stats();
    assert_eq!(
        (stats.segments, stats.deleted, stats.live),
        (1, 0, 71),
        "{stats:?}"
    );
}

#[test]
fn a_k_far_beyond_the_size_returns_what_there_is() {
    let dir = tempfile::tempdir().unwrap();
    let col = Collection::open(dir.path(), options(4)).unwrap();
    for id in 0..20 {
        col.upsert(id, &vector(id, 0, 4)).unwrap();
    }
    col.flush().unwrap();
    for id in 20..30 {
        col.upsert(id, &vector(id, 0, 4)).unwrap();
    }
    col.delete_batch(&[3, 25]).unwrap();
    let q = vector(7, 0, 4);
    let all = col.search_with(&q, &SearchParams::new(col.len())).unwrap();
    assert_eq!(all.len(), 28);
    // No segment is asked for more than it holds: a k (or beam) of 2^40 would not fit in memory.
    for params in [
        SearchParams::new(1 << 40),
        SearchParams::new(1 << 40).ef(1 << 40),
        SearchParams::new(1 << 40).oversample(1 << 40),
    ] {
        let hits = col.search_with(&q, &params).unwrap();
        assert_eq!(hits, all);
    }
    // Zeros are still refused, as the index refuses them.
    for bad in [
        SearchParams::new(0),
        SearchParams::new(5).ef(0),
        SearchParams::new(5).oversample(0),
    ] {
        assert!(matches!(
            col.search_with(&q, &bad),
            Err(Error::InvalidParameter { .. })
        ));
    }
}

/// The simulated disk, for the regression tests of what the power-loss simulation found.
mod on_sim {
    use super::*;
    use crate::__sim as sim;
    use crate::__sim::{Crash, Fault, SimDisk};

    fn dir() -> &'static Path {
        Path::new("/sim/col")
    }

    fn open(disk: &SimDisk, durability: Durability) -> Collection {
        let mut o = options(4);
        o.durability = durability;
        sim::open(disk, dir(), o).unwrap()
    }

    fn ids(col: &Collection) -> Vec<u64> {
        (0..100).filter(|&id| col.contains(id)).collect()
    }

    /// Numbers of the operations named `name` between `from` and `to` on a run of `disk`.
    fn ops_named(disk: &SimDisk, from: u64, to: u64, name: &str) -> Vec<u64> {
        (from..to)
            .filter(|&n| disk.op_name(n) == Some(name))
            .collect()
    }

    /// A flush whose manifest rename, or the directory sync after it, fails may have committed:
    /// the live directory may name the new segment. It used to remove the segment anyway (the
    /// files it "created"), so the next open found a manifest naming a missing file, and the
    /// log's records it said were sealed were gone.
    #[test]
    fn a_commit_that_fails_after_its_rename_keeps_both_states_recoverable() {
        // Where the manifest's rename and directory sync are in a flush: the second rename
        // (after the segment's) and the second directory sync.
        let probe = SimDisk::new();
        let col = open(&probe, Durability::Sync);
        col.upsert_batch(&[1, 2], &[vector(1, 0, 4), vector(2, 0, 4)].concat())
            .unwrap();
        let start = probe.ops();
        col.flush().unwrap();
        let renames = ops_named(&probe, start, probe.ops(), "rename");
        let dir_syncs = ops_named(&probe, start, probe.ops(), "sync_dir");
        drop(col);
        for (what, at) in [("rename", renames[1]), ("directory sync", dir_syncs[1])] {
            let disk = SimDisk::new();
            let col = open(&disk, Durability::Sync);
            col.upsert_batch(&[1, 2], &[vector(1, 0, 4), vector(2, 0, 4)].concat())
                .unwrap();
            disk.fail_op(at, Fault::Io);
            assert!(
                matches!(col.flush(), Err(Error::Io { .. })),
                "{what}: the flush must fail"
            );
            // Whatever the disk holds now or after a power cut, it opens with both rows.
            for how in [Crash::Everything, Crash::SyncedOnly, Crash::OneDirOp(0)] {
                let cut = disk.crash(how);
                let again = open(&cut, Durability::Sync);
                assert_eq!(ids(&again), [1, 2], "{what}, {how:?}");
                again.verify().unwrap();
            }
            // The same handle carries on, and its next commit settles it.
            col.upsert(3, &vector(3, 0, 4)).unwrap();
            col.flush().unwrap();
            assert_eq!(ids(&col), [1, 2, 3]);
            drop(col);
            let again = open(&disk.crash(Crash::SyncedOnly), Durability::Sync);
            assert_eq!(ids(&again), [1, 2, 3], "{what}: after the next commit");
        }
    }

    /// Under `Buffered`, frames may reach the disk out of order: a power cut can lose the middle
    /// one of three. The open then cuts the log after the first; if that truncation were not
    /// synced before new frames, a new frame of the same size could land where the lost one
    /// was and the old third frame, still behind it, would be replayed after it.
    #[test]
    fn a_log_torn_in_the_middle_never_revives_a_frame_behind_new_ones() {
        let disk = SimDisk::new();
        let col = open(&disk, Durability::Buffered);
        for id in [1, 2, 3] {
            col.upsert(id, &vector(id, 0, 4)).unwrap();
        }
        drop(col);
        disk.power_cut(Crash::AllBut(1)); // the frame of id 2 is lost, the one of 3 kept
        let col = open(&disk, Durability::Buffered);
        assert_eq!(ids(&col), [1], "a prefix");
        col.upsert(4, &vector(4, 0, 4)).unwrap();
        drop(col);
        for k in 0..3 {
            let col = open(&disk.crash(Crash::AllBut(k)), Durability::Buffered);
            let got = ids(&col);
            assert!(got == [1] || got == [1, 4], "AllBut({k}): {got:?}");
        }
    }

    /// A log reset renames a new file over the old one; its directory sync waits for the first
    /// promise. A writer that stops before it leaves a log whose name may not be durable, and
    /// the next writer cannot tell: it syncs the directory before its first promise too.
    #[test]
    fn a_log_renamed_by_a_writer_that_stopped_is_synced_before_the_next_promise() {
        let disk = SimDisk::new();
        let col = open(&disk, Durability::Buffered);
        col.upsert(1, &vector(1, 0, 4)).unwrap();
        col.flush().unwrap(); // resets the log; nothing synced its new name
        drop(col);
        let col = open(&disk, Durability::Sync);
        col.upsert(2, &vector(2, 0, 4)).unwrap(); // acknowledged under Sync
        drop(col);
        for how in [Crash::SyncedOnly, Crash::OneDirOp(0)] {
            let col = open(&disk.crash(how), Durability::Sync);
            assert_eq!(ids(&col), [1, 2], "{how:?}");
        }
    }

    /// After a failed `fdatasync` of an append, Linux may drop the pages while they stay
    /// readable: the frame must not come back on a reopen, and later frames must not sit behind
    /// a hole that a power cut would turn into the end of the log.
    #[test]
    fn a_failed_append_sync_leaves_no_frame_behind_on_a_full_disk() {
        let probe = SimDisk::new();
        let col = open(&probe, Durability::Sync);
        col.upsert(1, &vector(1, 0, 4)).unwrap();
        let start = probe.ops();
        col.upsert(2, &vector(2, 0, 4)).unwrap();
        let sync_at = ops_named(&probe, start, probe.ops(), "sync_data")[0];
        drop(col);

        let disk = SimDisk::new();
        let col = open(&disk, Durability::Sync);
        col.upsert(1, &vector(1, 0, 4)).unwrap();
        disk.fill_from(sync_at); // the append's write works, its sync finds the disk full
        assert!(matches!(
            col.upsert(2, &vector(2, 0, 4)),
            Err(Error::Io { .. })
        ));
        disk.clear_faults();
        drop(col); // no write after the failure: nothing healed the log
        let col = open(&disk, Durability::Sync);
        assert_eq!(ids(&col), [1], "the failed write came back on a reopen");
        col.upsert(3, &vector(3, 0, 4)).unwrap();
        drop(col);
        let col = open(&disk.crash(Crash::SyncedOnly), Durability::Sync);
        assert_eq!(ids(&col), [1, 3]);
    }

    #[test]
    fn two_flipped_bytes_in_the_manifest_version_are_corruption_of_the_named_file() {
        let disk = SimDisk::new();
        drop(open(&disk, Durability::Sync));
        let path = dir().join(manifest::MANIFEST_FILE);
        let mut bytes = disk.files(dir())[manifest::MANIFEST_FILE].clone();
        bytes[10] ^= 0xFF;
        bytes[11] ^= 0xFF;
        let mut f = disk.open_rw(&path).unwrap();
        f.write_at(0, &bytes).unwrap();
        let mut o = options(4);
        o.durability = Durability::Sync;
        match sim::open(&disk, dir(), o) {
            Err(Error::Corrupt { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(reason.contains("checksum"), "{reason}");
                assert!(reason.contains("4294901761"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Sealed segments of a RaBitQ collection carry its one-visit blocks (and compact rows in the
/// compact layout), so a collection searches at RaBitQ's speed, not only a bare index; recall is
/// computed against the exact neighbours, before and after a reopen and a compaction.
#[test]
fn rabitq_collections_seal_their_blocks_and_keep_their_recall() {
    for layout in [Layout::Auto, Layout::Compact] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = options(24);
        o.seal_rows = 700;
        o.index.quantization = Quantization::RaBitQ { bits: 4 };
        o.index.layout = layout;
        let col = Collection::open(dir.path(), o.clone()).unwrap();
        let (data, queries) = ClusteredSpec::new(2000, 24)
            .generate_with_queries(50)
            .unwrap();
        let ids: Vec<u64> = (0..2000).collect();
        col.upsert_batch(&ids, data.as_slice()).unwrap();
        col.flush().unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".svs"))
            .collect();
        assert!(!names.is_empty());
        for name in &names {
            let seg = Index::open(dir.path().join(name)).unwrap();
            seg.verify().unwrap();
            let sections: Vec<&str> = seg
                .segment_info()
                .unwrap()
                .sections
                .iter()
                .map(|s| s.name)
                .collect();
            let want = layout.resolve(o.index.quantization);
            assert_eq!(seg.options().layout, want, "{name}");
            assert_eq!(
                sections.contains(&"rabitq_blocks"),
                want == Layout::FastScan,
                "{name}: {sections:?}"
            );
        }
        let r = recall(&col, &data, &ids, &queries);
        assert!(r >= 0.95, "{layout}: recall@10 {r}");
        drop(col);
        let col = Collection::open(dir.path(), o).unwrap();
        col.compact().unwrap();
        let r = recall(&col, &data, &ids, &queries);
        assert!(r >= 0.95, "{layout} after compaction: recall@10 {r}");
    }
}
