//! Every sync of the collection's write path is needed: for each sync a run performs (file
//! `fdatasync`s and directory syncs, by number in the trace), the run's trace is replayed as if
//! that one sync had done nothing, and the power-cut explorer of `power_loss.rs` must then find a
//! state that breaks a promise (an acknowledged write lost, a reordering, a collection that no
//! longer opens). This shows both that the power-loss test can fail and that no sync is wasted.
//!
//! Every instance must be caught, with two exceptions the test allows by name, both argued in
//! `docs/file-format.md`:
//!
//! - the `fdatasync` of an upsert under `Durability::Sync` whose batch fills the in-memory
//!   segment: the seal that follows in the same call makes the rows durable again before it
//!   returns, so no power cut can tell; the sync is kept because a row is visible to searches only
//!   once it is durable (readers, which the simulation does not model, never see a row a crash
//!   could take back);
//! - the truncation of a torn log tail at open, in a run whose log was only ever written with
//!   `Durability::Sync`: such a log can only have its last frame torn, and the next synced append
//!   makes the truncation durable too; it is needed for a log written with `Buffered` (the second
//!   workload below shows the reordering it prevents).

mod simdisk;

use std::collections::BTreeMap;

use simdisk::{explore, options, random_workload, Explore, Op, Run, Workload};
use stratavec::__sim::Crash;
use stratavec::Durability;

/// What a sync is for, from what it synced and the operation that issued it.
fn site(op: &Op, what: &str) -> String {
    let opening = matches!(
        op,
        Op::Open | Op::Reopen | Op::ReopenAs(_) | Op::PowerCut(_)
    );
    let s = match what {
        "file WAL" if opening => "WAL: truncation after a torn tail, at open",
        "file WAL" if *op == Op::Sync => "WAL: Collection::sync (Buffered)",
        "file WAL" => "WAL: append (Sync)",
        "file WAL (temporary file)" if opening => "WAL: created (temporary file)",
        "file WAL (temporary file)" => "WAL: reset (temporary file)",
        "file MANIFEST (temporary file)" if opening => "MANIFEST: created (temporary file)",
        "file MANIFEST (temporary file)" => "MANIFEST: commit (temporary file)",
        "file seg-<id>.svs (temporary file)" => "segment: new file (temporary file)",
        "file seg-<id>-<generation>.del (temporary file)" => {
            "deletion bitmap: new file (temporary file)"
        }
        w if w.starts_with("directory: ") && w.contains("seg-") => {
            "directory: after the new segment/bitmap files"
        }
        // The log's name (and, for a new collection, the manifest's), synced before the log's
        // first promise after it was created, reset or opened.
        "directory: MANIFEST, WAL" | "directory: WAL" | "directory: " => {
            "directory: the log's name, before its first promise"
        }
        "directory: MANIFEST" => "directory: after the MANIFEST commit",
        other => return format!("other: {other}"),
    };
    s.to_string()
}

/// Hand-made workloads that reach every sync site, plus random ones.
fn workloads() -> Vec<Workload> {
    let up = |ids: &[u64]| Op::Upsert(ids.to_vec());
    let del = |ids: &[u64]| Op::Delete(ids.to_vec());
    let mut all = vec![
        Workload {
            name: "sync: seal with bitmaps, compaction".into(),
            options: options(Durability::Sync, 100, None),
            ops: vec![
                Op::Open,
                up(&[1, 2, 3]),
                up(&[4, 5]),
                Op::Flush,
                del(&[2]),
                up(&[3, 6]),
                Op::Flush,
                del(&[4]),
                Op::Compact,
                up(&[7]),
            ],
        },
        Workload {
            name: "buffered: sync, and a log torn in the middle by a power cut".into(),
            options: options(Durability::Buffered, 100, None),
            ops: vec![
                Op::Open,
                up(&[1, 2]),
                Op::Sync,
                up(&[3]),
                up(&[4]),
                up(&[5]),
                // The three frames above are unsynced: lose the middle one only.
                Op::PowerCut(Crash::AllBut(1)),
                up(&[6]),
                up(&[7]),
                Op::Flush,
                up(&[8]),
            ],
        },
        Workload {
            name: "buffered writer resets the log and stops, a sync writer opens it".into(),
            options: options(Durability::Buffered, 100, None),
            ops: vec![
                Op::Open,
                up(&[1, 2]),
                Op::Flush,
                Op::ReopenAs(Durability::Sync),
                up(&[3]),
            ],
        },
    ];
    for seed in 0..6 {
        all.push(random_workload(1000 + seed, 24, true));
    }
    all
}

#[test]
fn skipping_any_one_sync_lets_a_power_cut_break_a_promise() {
    // site → (instances, caught, an example of what was found)
    let mut sites: BTreeMap<String, (usize, usize, String)> = BTreeMap::new();
    let mut uncaught = Vec::new();
    for workload in workloads() {
        let run = Run::new(&workload).unwrap_or_else(|e| panic!("{}: {e}", workload.name));
        let syncs = run.disk.replay().syncs();
        for sync in &syncs {
            let step = run.step_at(sync.position);
            let name = site(&step.op, &sync.what);
            let sealed_in_step = syncs.iter().any(|s| {
                (step.start..step.end).contains(&s.position) && s.what == "directory: MANIFEST"
            });
            let stats = explore(
                &run,
                Explore {
                    random: 8,
                    seed: sync.number as u64,
                    skip_sync: Some(sync.number),
                    stop_at_first: true,
                    ..Explore::default()
                },
            );
            let entry = sites.entry(name.clone()).or_default();
            entry.0 += 1;
            match stats.violations.first() {
                Some(v) => {
                    entry.1 += 1;
                    if entry.2.is_empty() {
                        entry.2 = v.clone();
                    }
                }
                None => uncaught.push((
                    format!(
                        "{}: sync {} ({name}, in op {} {:?})",
                        workload.name, sync.number, step.index, step.op
                    ),
                    name.clone(),
                    sync.what.clone(),
                    sealed_in_step,
                    workload.options.durability,
                )),
            }
        }
    }
    eprintln!("sync necessity: site | instances | skipped and caught");
    for (name, (n, caught, example)) in &sites {
        eprintln!("  {name} | {n} | {caught}");
        eprintln!(
            "      e.g. {}",
            example.chars().take(300).collect::<String>()
        );
    }
    for (u, ..) in &uncaught {
        eprintln!("  not caught: {u}");
    }
    let missing: Vec<&String> = sites
        .iter()
        .filter(|(_, (_, caught, _))| *caught == 0)
        .map(|(name, _)| name)
        .collect();
    assert!(
        missing.is_empty(),
        "sync sites never shown necessary: {missing:?}"
    );
    // Every instance is caught, except the two kinds of the module docs.
    for (u, name, what, sealed_in_step, durability) in &uncaught {
        let allowed = match name.as_str() {
            "WAL: append (Sync)" => *sealed_in_step,
            "WAL: truncation after a torn tail, at open" => *durability == Durability::Sync,
            // Nothing was pending: in this history the log's name was durable already (the
            // writer syncs it after an open because it cannot know; the third workload above
            // shows the loss when it is not).
            "directory: the log's name, before its first promise" => what == "directory: ",
            _ => false,
        };
        assert!(allowed, "an instance not caught: {u}");
    }
    for expected in [
        "WAL: append (Sync)",
        "WAL: Collection::sync (Buffered)",
        "WAL: truncation after a torn tail, at open",
        "WAL: created (temporary file)",
        "WAL: reset (temporary file)",
        "MANIFEST: created (temporary file)",
        "MANIFEST: commit (temporary file)",
        "segment: new file (temporary file)",
        "deletion bitmap: new file (temporary file)",
        "directory: the log's name, before its first promise",
        "directory: after the MANIFEST commit",
        "directory: after the new segment/bitmap files",
    ] {
        assert!(
            sites.contains_key(expected),
            "no sync of {expected} was exercised"
        );
    }
}
