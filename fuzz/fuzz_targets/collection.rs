//! Operation sequences on a collection on the simulated disk (`stratavec::__sim`) against a model
//! `HashMap` (redb's fuzzer, in small): upserts (repeated ids in a batch included), deletes,
//! flushes, compactions, syncs, reopens, searches, power cuts of every kind followed by a
//! reopen, and operations that fail with `EIO` or `ENOSPC` at an arbitrary disk operation (or a
//! disk that stays full until the call returns). After every step the collection equals the
//! model — after a failed step, with or without that step's write; after a power cut, the model
//! after some prefix of the writes since the last durable point (the last acknowledged write under
//! `Durability::Sync`; the last flush, compaction or sync under `Buffered`). Ends with a reopen and
//! `verify`.
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use stratavec::__sim::{self, Crash, Fault, SimDisk};
use stratavec::{Collection, CollectionOptions, Durability, Metric, SearchParams};

const DIM: usize = 2;
const IDS: u64 = 24;
type Model = HashMap<u64, Vec<f32>>;

fn dir() -> &'static Path {
    Path::new("/fuzz/col")
}

fn equals(col: &Collection, model: &Model) -> bool {
    col.len() == model.len()
        && (0..IDS).all(|id| match (model.get(&id), col.get(id).ok()) {
            (Some(want), Some(got)) => *want == got,
            (None, None) => true,
            _ => false,
        })
}

fn check(col: &Collection, model: &Model, what: &str) {
    assert!(
        equals(col, model),
        "{what}: the collection differs from the model"
    );
    let hits = col
        .search_with(&[1.0, 1.0], &SearchParams::new(IDS as usize).ef(64))
        .expect("search");
    assert!(hits.len() <= model.len());
    let mut seen = std::collections::HashSet::new();
    for h in &hits {
        assert!(model.contains_key(&h.id), "{what}: dead id {} found", h.id);
        assert!(seen.insert(h.id), "{what}: id {} twice", h.id);
    }
}

enum Write {
    Upsert(Vec<u64>, Vec<f32>),
    Delete(Vec<u64>),
    Flush,
    Compact,
    Sync,
}

fn apply(model: &mut Model, w: &Write) {
    match w {
        Write::Upsert(ids, rows) => {
            for (i, &id) in ids.iter().enumerate() {
                model.insert(id, rows[i * DIM..(i + 1) * DIM].to_vec());
            }
        }
        Write::Delete(ids) => ids.iter().for_each(|id| {
            model.remove(id);
        }),
        Write::Flush | Write::Compact | Write::Sync => {}
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let disk = SimDisk::new();
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = if u.arbitrary()? {
        Durability::Sync
    } else {
        Durability::Buffered
    };
    o.index.m = 4;
    o.index.ef_construction = 16;
    o.seal_rows = u.int_in_range(1usize..=10)?;
    o.compact_deleted_fraction = match u.int_in_range(0u8..=3)? {
        0 => None,
        f => Some(f64::from(f) * 0.15),
    };
    let sync = o.durability == Durability::Sync;
    let mut col = __sim::open(&disk, dir(), o.clone()).expect("open");
    let mut model = Model::new();
    // The models a power cut may leave: from the last durable point on.
    let mut since_durable = vec![model.clone()];
    for step in 0..u.int_in_range(1u8..=32)? {
        let write = match u.int_in_range(0u8..=11)? {
            0..=3 => {
                let n = u.int_in_range(1usize..=4)?;
                let ids = (0..n)
                    .map(|_| u.int_in_range(0..=IDS - 1))
                    .collect::<Result<Vec<u64>>>()?;
                let rows = (0..n * DIM)
                    .map(|_| Ok(f32::from(u.int_in_range(0u8..=20)?)))
                    .collect::<Result<Vec<f32>>>()?;
                Write::Upsert(ids, rows)
            }
            4 | 5 => {
                let n = u.int_in_range(1usize..=3)?;
                Write::Delete(
                    (0..n)
                        .map(|_| u.int_in_range(0..=IDS - 1))
                        .collect::<Result<Vec<u64>>>()?,
                )
            }
            6 => Write::Flush,
            7 => Write::Compact,
            8 => Write::Sync,
            9 => {
                drop(col);
                col = __sim::open(&disk, dir(), o.clone()).expect("reopen");
                check(&col, &model, "reopened");
                continue;
            }
            10 => {
                let how = match u.int_in_range(0u8..=3)? {
                    0 => Crash::SyncedOnly,
                    1 => Crash::Everything,
                    2 => Crash::AllBut(u.int_in_range(0usize..=8)?),
                    _ => Crash::Random(u.arbitrary()?),
                };
                drop(col);
                disk.power_cut(how);
                col = __sim::open(&disk, dir(), o.clone()).expect("open after a power cut");
                col.verify().expect("verify after a power cut");
                let found = since_durable
                    .iter()
                    .rev()
                    .find(|m| equals(&col, m))
                    .unwrap_or_else(|| {
                        panic!("step {step}: after a power cut ({how:?}) no allowed state")
                    })
                    .clone();
                model = found;
                since_durable = vec![model.clone()];
                check(&col, &model, "after a power cut");
                continue;
            }
            _ => {
                check(&col, &model, "check");
                continue;
            }
        };
        let fault = u.ratio(1u8, 5u8)?;
        if fault {
            let at = disk.ops() + u.int_in_range(0u64..=12)?;
            match u.int_in_range(0u8..=2)? {
                0 => disk.fail_op(at, Fault::Io),
                1 => disk.fail_op(at, Fault::NoSpace),
                _ => disk.fill_from(at),
            }
        }
        let result = match &write {
            Write::Upsert(ids, rows) => col.upsert_batch(ids, rows),
            Write::Delete(ids) => {
                let present = {
                    let mut d = ids.clone();
                    d.sort_unstable();
                    d.dedup();
                    d.iter().filter(|id| model.contains_key(id)).count()
                };
                col.delete_batch(ids)
                    .map(|n| assert_eq!(n, present, "delete count"))
            }
            Write::Flush => col.flush(),
            Write::Compact => col.compact(),
            Write::Sync => col.sync(),
        };
        disk.clear_faults();
        match result {
            Ok(()) => {
                apply(&mut model, &write);
                let durable_point = matches!(write, Write::Flush | Write::Compact | Write::Sync);
                if sync || durable_point {
                    since_durable.clear();
                }
                since_durable.push(model.clone());
            }
            Err(stratavec::Error::Io { .. }) if fault => {
                let mut with = model.clone();
                apply(&mut with, &write);
                if !equals(&col, &model) && equals(&col, &with) {
                    model = with;
                }
                check(&col, &model, "after a failed write");
                // Either state may be the durable one now.
                since_durable.push(model.clone());
            }
            Err(e) => panic!("step {step}: {e}"),
        }
        check(&col, &model, "after a write");
    }
    drop(col);
    let col = __sim::open(&disk, dir(), o).expect("final reopen");
    col.verify().expect("verify");
    check(&col, &model, "final reopen");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
