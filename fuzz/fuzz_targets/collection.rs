//! Operation sequences on a collection against a model `HashMap` (redb's fuzzer, in small):
//! upserts (repeated ids in a batch included), deletes, flushes, compactions, reopens, searches,
//! and writes that fail after an arbitrary number of file writes (a full disk, through
//! `stratavec::__fault`). After every step the collection equals the model — after a failed step,
//! with or without that step's write — and after the fault clears, a flush makes it writable
//! again. Ends with a reopen and `verify`.
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use stratavec::{Collection, CollectionOptions, Durability, Metric, SearchParams};

const DIM: usize = 2;
const IDS: u64 = 24;
type Model = HashMap<u64, Vec<f32>>;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let root = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        root.join(format!("stratavec-fuzz-collection-{}", std::process::id()))
    })
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
        Write::Flush | Write::Compact => {}
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let dir = scratch();
    let _ = std::fs::remove_dir_all(dir);
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = Durability::Buffered;
    o.index.m = 4;
    o.index.ef_construction = 16;
    o.seal_rows = u.int_in_range(1usize..=10)?;
    o.compact_deleted_fraction = match u.int_in_range(0u8..=3)? {
        0 => None,
        f => Some(f64::from(f) * 0.15),
    };
    let mut col = Collection::open(dir, o.clone()).expect("open");
    let mut model = Model::new();
    for step in 0..u.int_in_range(1u8..=24)? {
        let write = match u.int_in_range(0u8..=9)? {
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
            8 => {
                drop(col);
                col = Collection::open(dir, o.clone()).expect("reopen");
                check(&col, &model, "reopened");
                continue;
            }
            _ => {
                check(&col, &model, "check");
                continue;
            }
        };
        let fault = u.ratio(1u8, 5u8)?;
        if fault {
            stratavec::__fault::fail_writes_after(u.int_in_range(0u64..=6)?);
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
        };
        stratavec::__fault::clear();
        match result {
            Ok(()) => apply(&mut model, &write),
            Err(stratavec::Error::Io { .. }) if fault => {
                let mut with = model.clone();
                apply(&mut with, &write);
                if equals(&col, &with) {
                    model = with;
                }
                check(&col, &model, "after a failed write");
                col.flush().expect("a flush once the disk has room again");
            }
            Err(e) => panic!("step {step}: {e}"),
        }
        check(&col, &model, "after a write");
    }
    drop(col);
    let col = Collection::open(dir, o).expect("final reopen");
    col.verify().expect("verify");
    check(&col, &model, "final reopen");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
