//! A full disk, through the write-fault hook (`stratavec::__fault`): from the Nth write on, every
//! write of a collection file fails with `StorageFull`, as on a full file system, until the fault
//! is cleared. For every N over a sequence of upserts, deletes, flushes and compactions: the
//! failing call returns `Error::Io` naming a file, searches keep working meanwhile, and once the
//! disk has room again — on the same handle after a flush, and after a reopen — the collection
//! holds every acknowledged write (the failed call's write may or may not be there), nothing else,
//! and keeps working.
//!
//! The hook is process-wide, so this file holds one test.

use std::collections::HashMap;

use stratavec::{Collection, CollectionOptions, Durability, Error, Metric, SearchParams};

const DIM: usize = 4;
type Model = HashMap<u64, Vec<f32>>;

fn options() -> CollectionOptions {
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = Durability::Sync;
    o.index.m = 4;
    o.index.ef_construction = 16;
    o.seal_rows = 12; // upserts seal by themselves now and then
    o.compact_deleted_fraction = Some(0.25); // and flushes compact
    o
}

fn vector(id: u64, version: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|i| ((id * 11 + i * 3 + version) % 29) as f32 + version as f32 * 0.5)
        .collect()
}

enum Op {
    Upsert(Vec<u64>, u64),
    Delete(Vec<u64>),
    Flush,
    Compact,
}

/// The workload: every kind of write, enough to seal, write bitmaps and compact several times.
fn ops() -> Vec<Op> {
    let mut ops = Vec::new();
    for round in 0..6u64 {
        ops.push(Op::Upsert((round * 5..round * 5 + 5).collect(), round));
        ops.push(Op::Upsert(vec![round, round + 7], round + 100));
        ops.push(Op::Delete(vec![round * 3 + 1]));
        ops.push(match round % 3 {
            0 => Op::Flush,
            1 => Op::Compact,
            _ => Op::Upsert(vec![40 + round], round),
        });
    }
    ops
}

fn apply(col: &Collection, model: &mut Model, op: &Op) -> stratavec::Result<()> {
    match op {
        Op::Upsert(ids, version) => {
            let rows: Vec<f32> = ids.iter().flat_map(|&id| vector(id, *version)).collect();
            col.upsert_batch(ids, &rows)?;
            for &id in ids {
                model.insert(id, vector(id, *version));
            }
        }
        Op::Delete(ids) => {
            col.delete_batch(ids)?;
            for id in ids {
                model.remove(id);
            }
        }
        Op::Flush => col.flush()?,
        Op::Compact => col.compact()?,
    }
    Ok(())
}

fn equals(col: &Collection, model: &Model) -> Result<(), String> {
    if col.len() != model.len() {
        return Err(format!("{} live, the model has {}", col.len(), model.len()));
    }
    for id in 0..60 {
        match (model.get(&id), col.get(id).ok()) {
            (Some(want), Some(got)) if *want == got => {}
            (None, None) => {}
            (want, got) => return Err(format!("id {id}: want {want:?}, got {got:?}")),
        }
    }
    Ok(())
}

/// Equal to the model, with or without the failed operation's effect.
fn equals_either(col: &Collection, model: &mut Model, failed: Option<&Op>, when: &str) {
    if let Err(before) = equals(col, model) {
        let op = failed.unwrap_or_else(|| panic!("{when}: {before}"));
        let mut with = model.clone();
        match op {
            Op::Upsert(ids, version) => ids.iter().for_each(|&id| {
                with.insert(id, vector(id, *version));
            }),
            Op::Delete(ids) => ids.iter().for_each(|id| {
                with.remove(id);
            }),
            _ => {}
        }
        if let Err(after) = equals(col, &with) {
            panic!("{when}: neither without the failed write ({before}) nor with it ({after})");
        }
        *model = with;
    }
}

#[test]
fn a_full_disk_at_every_write_is_a_clear_error_and_loses_nothing() {
    let ops = ops();
    let mut faults_hit = 0;
    let mut n = 0u64;
    loop {
        let dir = tempfile::tempdir().unwrap();
        let col = Collection::open(dir.path(), options()).unwrap();
        let mut model = Model::new();
        stratavec::__fault::fail_writes_after(n);
        let mut failed = None;
        for (i, op) in ops.iter().enumerate() {
            match apply(&col, &mut model, op) {
                Ok(()) => {}
                Err(Error::Io { path, source }) => {
                    assert!(
                        path.starts_with(dir.path()),
                        "the error names {}",
                        path.display()
                    );
                    assert!(!source.to_string().is_empty());
                    failed = Some(i);
                    break;
                }
                Err(e) => panic!("fault after {n} writes, op {i}: not an I/O error: {e}"),
            }
        }
        let Some(i) = failed else {
            stratavec::__fault::clear();
            // The fault came after the whole workload: every write point has been tried.
            equals(&col, &model).unwrap();
            break;
        };
        faults_hit += 1;
        // While the disk is full: reads work, writes keep failing cleanly.
        let _ = col
            .search_with(&vector(1, 0), &SearchParams::new(5))
            .unwrap();
        assert!(col.upsert(59, &vector(59, 9)).is_err());
        stratavec::__fault::clear();
        let when = format!("fault after {n} writes (op {i})");
        equals_either(
            &col,
            &mut model,
            Some(&ops[i]),
            &format!("{when}, same handle"),
        );
        // Room again: a flush recovers the handle (it seals, commits and resets a refused log).
        col.flush()
            .unwrap_or_else(|e| panic!("{when}: flush after the fault: {e}"));
        col.upsert(50, &vector(50, 1))
            .unwrap_or_else(|e| panic!("{when}: upsert after the fault: {e}"));
        model.insert(50, vector(50, 1));
        equals_either(&col, &mut model, None, &format!("{when}, after recovery"));
        drop(col);
        let col = Collection::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("{when}: reopen: {e}"));
        col.verify().unwrap();
        equals_either(&col, &mut model, None, &format!("{when}, reopened"));
        // And it keeps working.
        for op in &ops[..4] {
            apply(&col, &mut model, op).unwrap();
        }
        col.compact().unwrap();
        equals_either(
            &col,
            &mut model,
            None,
            &format!("{when}, reopened and written"),
        );
        n += 1;
    }
    eprintln!("{faults_hit} fault points, each recovered with every acknowledged write");
    assert!(faults_hit > 20, "only {faults_hit} write points");
}
