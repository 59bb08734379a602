//! Crash safety: a child process writes to a collection with `Durability::Sync` and reports every
//! acknowledged write; it is killed with SIGKILL at random moments; the collection is reopened and
//! must hold every acknowledged write (its latest version), no deleted id, and pass `verify`.
//!
//! The child is this test binary itself, re-run on the ignored test `crash_child` with the
//! collection's directory in an environment variable. Rounds: `STRATAVEC_CRASH_ROUNDS` (default 25;
//! `scripts/crash-torture` runs more). After each reopen, recall@10 against an exact scan of the
//! model must stay at or above 0.9.

#![cfg(unix)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use stratavec::{Collection, CollectionOptions, Durability, Metric, SearchParams};

const DIR_ENV: &str = "STRATAVEC_CRASH_DIR";
const SEED_ENV: &str = "STRATAVEC_CRASH_SEED";
const DIM: usize = 8;
const IDS: u64 = 400;

fn options() -> CollectionOptions {
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = Durability::Sync;
    o.seal_rows = 150;
    o.index.ef_construction = 32;
    o.compact_deleted_fraction = Some(0.3);
    o
}

/// The vector of version `version` of `id`.
fn vector(id: u64, version: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|i| ((id * 131 + i * 17 + version * 7) % 1009) as f32 + (version as f32) * 0.001)
        .collect()
}

/// The child: writes until killed. Before each operation it prints `I <op>` (intent), after it
/// returns `A` (acknowledged). `<op>` is `U v id…` or `D id…`.
#[test]
#[ignore = "run by collection_crash_rounds as a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        eprintln!("crash_child only runs as the child of collection_crash_rounds");
        return;
    };
    let seed: u64 = std::env::var(SEED_ENV).unwrap().parse().unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let col = Collection::open(&dir, options()).unwrap();
    let mut out = std::io::stdout().lock();
    // The test harness has printed "test crash_child ... " without a newline: end that line.
    writeln!(out).unwrap();
    let mut version = seed * 1_000_000;
    loop {
        version += 1;
        let n = rng.random_range(1..=4);
        let ids: Vec<u64> = (0..n).map(|_| rng.random_range(0..IDS)).collect();
        match rng.random_range(0..10) {
            0..=6 => {
                let rows: Vec<f32> = ids.iter().flat_map(|&id| vector(id, version)).collect();
                let line = ids
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                writeln!(out, "I U {version} {line}").unwrap();
                out.flush().unwrap();
                col.upsert_batch(&ids, &rows).unwrap();
            }
            7 | 8 => {
                let line = ids
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                writeln!(out, "I D {line}").unwrap();
                out.flush().unwrap();
                col.delete_batch(&ids).unwrap();
            }
            _ => {
                writeln!(out, "I F").unwrap();
                out.flush().unwrap();
                if rng.random_range(0..4) == 0 {
                    col.compact().unwrap();
                } else {
                    col.flush().unwrap();
                }
            }
        }
        writeln!(out, "A").unwrap();
        out.flush().unwrap();
    }
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// What the collection must hold for an id: a version, or nothing.
type Model = HashMap<u64, Option<u64>>;

#[derive(Debug)]
enum Op {
    Upsert(u64, Vec<u64>),
    Delete(Vec<u64>),
    Other,
}

fn parse(line: &str) -> Op {
    let mut parts = line.split_whitespace().skip(1);
    match parts.next() {
        Some("U") => {
            let v = parts.next().unwrap().parse().unwrap();
            Op::Upsert(v, parts.map(|p| p.parse().unwrap()).collect())
        }
        Some("D") => Op::Delete(parts.map(|p| p.parse().unwrap()).collect()),
        _ => Op::Other,
    }
}

fn apply(model: &mut Model, op: &Op) {
    match op {
        Op::Upsert(v, ids) => ids.iter().for_each(|&id| {
            model.insert(id, Some(*v));
        }),
        Op::Delete(ids) => ids.iter().for_each(|&id| {
            model.insert(id, None);
        }),
        Op::Other => {}
    }
}

/// Whether the collection holds exactly `model`.
fn matches(col: &Collection, model: &Model) -> Result<(), String> {
    for id in 0..IDS {
        match model.get(&id).copied().flatten() {
            Some(v) => match col.get(id) {
                Ok(got) if got == vector(id, v) => {}
                Ok(_) => return Err(format!("id {id}: not version {v}")),
                Err(e) => return Err(format!("id {id} (version {v}) lost: {e}")),
            },
            None if col.contains(id) => return Err(format!("id {id} should be absent")),
            None => {}
        }
    }
    Ok(())
}

#[test]
fn collection_crash_rounds() {
    let rounds: usize = std::env::var("STRATAVEC_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(25);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xC0FFEE);
    let mut model: Model = HashMap::new();
    let mut acked_total = 0usize;
    let mut acked_flushes = 0usize;
    let mut killed_in_flush = 0usize;
    let mut min_recall = 1.0f64;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_ENV, dir.path())
            .env(SEED_ENV, (round + 1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(|l| l.ok())
                .collect::<Vec<String>>()
        });
        // Let it run past its start-up (open + replay), then kill it mid-write.
        let wait = Duration::from_millis(rng.random_range(150..900));
        let started = Instant::now();
        while started.elapsed() < wait {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("round {round}: the child exited early ({status})");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();

        // Every acknowledged op is applied; the op in flight (an intent without an ack) may or
        // may not be.
        let mut pending: Option<Op> = None;
        for line in &lines {
            if line == "A" {
                if let Some(op) = pending.take() {
                    apply(&mut model, &op);
                    acked_total += 1;
                    acked_flushes += matches!(op, Op::Other) as usize;
                }
            } else if line.starts_with("I ") {
                pending = Some(parse(line));
            }
        }
        let col = Collection::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        col.verify()
            .unwrap_or_else(|e| panic!("round {round}: verify failed: {e}"));
        if let Err(before) = matches(&col, &model) {
            let op = pending.as_ref().expect("no write in flight");
            let mut with = model.clone();
            apply(&mut with, op);
            if let Err(e) = matches(&col, &with) {
                if std::env::var("CRASH_DEBUG").is_ok() {
                    for l in &lines {
                        eprintln!("{l}");
                    }
                }
                panic!(
                    "round {round}: neither before ({}) nor after the write in flight {op:?} ({e})",
                    before
                );
            }
            model = with;
        }
        killed_in_flush += matches!(pending, Some(Op::Other)) as usize;
        // Searches: no dead id, and recall@10 against an exact scan of the model.
        let live: Vec<(u64, Vec<f32>)> = model
            .iter()
            .filter_map(|(&id, v)| v.map(|v| (id, vector(id, v))))
            .collect();
        let mut found = 0;
        let mut wanted = 0;
        for q in 0..5u64 {
            let query = vector(q * 37 + round as u64, 0);
            let hits = col
                .search_with(&query, &SearchParams::new(10).ef(64))
                .unwrap();
            for hit in &hits {
                assert!(
                    model.get(&hit.id).copied().flatten().is_some(),
                    "dead id {}",
                    hit.id
                );
            }
            let mut exact: Vec<(f32, u64)> =
                live.iter().map(|(id, v)| (l2(v, &query), *id)).collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let truth: Vec<u64> = exact.iter().take(10).map(|e| e.1).collect();
            wanted += truth.len();
            found += hits.iter().filter(|h| truth.contains(&h.id)).count();
        }
        let recall = if wanted == 0 {
            1.0
        } else {
            found as f64 / wanted as f64
        };
        min_recall = min_recall.min(recall);
        assert!(
            recall >= 0.9,
            "round {round}: recall@10 {recall} after the reopen"
        );
    }
    // One line for scripts/crash-torture to pick up. A lost write or a failed verify panics
    // above, so reaching this line means both counts are 0.
    eprintln!(
        "crash torture: {rounds} kill rounds, {acked_total} acknowledged operations \
         ({acked_flushes} flushes or compactions), {killed_in_flush} kills inside a flush or \
         compaction, 0 acknowledged writes lost, 0 verify failures, min recall@10 {min_recall:.3}"
    );
    assert!(
        acked_total > rounds,
        "the children acknowledged too few writes: {acked_total}"
    );
    assert!(acked_flushes > 0, "no flush or compaction ever finished");
}
