//! Torn writes: every state a power cut during a flush and during a compaction can leave, on
//! the simulated disk (`stratavec::__sim`), driven by the real code's own operations — not by a
//! copy of the write order (this test used to build the states by hand from its own model of the
//! protocol, so it tested that model rather than the code).
//!
//! The flush writes two new deletion bitmaps (one replacing an older bitmap), a new segment, the
//! manifest (the commit) and the reset log, then removes the replaced bitmap; the compaction
//! writes one segment replacing every file. After each of their disk operations the power is cut
//! with every deterministic choice (nothing unsynced, everything, each pending directory
//! operation alone, each unsynced write lost alone) and 64 random ones (prefixes and subsets of
//! the unsynced writes torn at 512 B or 4 KiB); each disk must reopen with every acknowledged
//! write, no deleted id, `verify` passing, the model's search answers, and no temporary file.
//!
//! Beyond the protocol: a file system that reorders data and rename (the manifest's temporary
//! file not synced before its rename) can leave a cut `MANIFEST` under its final name. That must
//! be a clear `Error::Corrupt` naming it that removes nothing.

mod simdisk;

use simdisk::{dir, explore, options, recover, Explore, Op, Run, Workload};
use stratavec::__sim::{self, Crash};
use stratavec::{Durability, Error};

fn workload() -> Workload {
    let up = |ids: &[u64]| Op::Upsert(ids.to_vec());
    let del = |ids: &[u64]| Op::Delete(ids.to_vec());
    Workload {
        name: "flush and compaction".into(),
        options: options(Durability::Sync, 10_000, None),
        ops: vec![
            Op::Open,
            up(&(0..16).collect::<Vec<_>>()),
            Op::Flush,
            del(&[1, 2]),
            up(&[3, 16, 17, 18, 19]),
            Op::Flush, // segment 1 gets a bitmap, segment 2 is new
            del(&[4, 17]),
            up(&[5, 20, 21, 22]),
            Op::Flush, // new bitmaps for segments 1 and 2 (the old one replaced), segment 3
            Op::Compact, // segment 4 replaces 1, 2, 3 and their bitmaps
        ],
    }
}

#[test]
fn every_cut_of_a_flush_and_a_compaction_reopens_with_every_acknowledged_write() {
    let w = workload();
    let run = Run::new(&w).unwrap();
    let (flush, compact) = (8, 9);
    let stats = explore(
        &run,
        Explore {
            random: 64,
            only_steps: Some((flush, compact)),
            ..Explore::default()
        },
    );
    eprintln!(
        "torn writes: {} positions of a flush and a compaction, {} power cuts, {} distinct \
         crash states, {} violations",
        stats.positions,
        stats.cuts,
        stats.states.len(),
        stats.violations.len()
    );
    for v in stats.violations.iter().take(10) {
        eprintln!("VIOLATION {v}");
    }
    assert!(stats.violations.is_empty());
    let ops = run.steps[compact].end - run.steps[flush].start;
    assert_eq!(stats.positions as usize, ops, "a cut after every operation");
    // Small files tear into few sectors, so many random choices leave the same disk: they are
    // checked once.
    assert!(stats.cuts > 300, "{} cuts", stats.cuts);
}

#[test]
fn a_manifest_cut_under_its_own_name_is_corrupt_and_removes_nothing() {
    let w = workload();
    let run = Run::new(&w).unwrap();
    let flush = &run.steps[8];
    let mut replay = run.disk.replay();
    // The flush's sync of the manifest's temporary file.
    let sync = replay
        .syncs()
        .into_iter()
        .find(|s| {
            (flush.start..flush.end).contains(&s.position)
                && s.what == "file MANIFEST (temporary file)"
        })
        .expect("the flush syncs its manifest");
    replay.skip_sync(sync.number);
    let (mut corrupt, mut fine) = (0, 0);
    while replay.step() {
        let n = replay.position();
        if n <= sync.position || n > flush.end {
            continue;
        }
        for how in [Crash::SyncedOnly]
            .into_iter()
            .chain((0..16).map(Crash::Random))
        {
            let disk = replay.crash(how);
            let before = disk.files(dir());
            match __sim::open(&disk, dir(), w.options.clone()) {
                Ok(col) => {
                    drop(col);
                    recover(&disk, &w.options, &run.allowed(n))
                        .unwrap_or_else(|e| panic!("after op {n}, {how:?}: {e}"));
                    fine += 1;
                }
                Err(Error::Corrupt { path, .. }) => {
                    assert_eq!(path, dir().join("MANIFEST"), "after op {n}, {how:?}");
                    let after = disk.files(dir());
                    for (name, bytes) in &before {
                        if name != "LOCK" && !name.contains(".tmp-") {
                            assert_eq!(after.get(name), Some(bytes), "{name} changed");
                        }
                    }
                    corrupt += 1;
                }
                Err(e) => panic!("after op {n}, {how:?}: {e}"),
            }
        }
    }
    eprintln!("manifest cut under its name: {corrupt} refused as corrupt, {fine} opened fine");
    assert!(corrupt > 0, "the skipped sync never left a cut manifest");
}
