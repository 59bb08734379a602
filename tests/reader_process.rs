//! Read-only processes under a live writer, with real processes on the real file system: a
//! writer process upserts, deletes, flushes and compacts in a loop (small `seal_rows`,
//! compaction by policy and by hand); a reader process opens the collection read-only and
//! refreshes as fast as it can. After every refresh the reader must see exactly the writer's
//! flushed state of the generation it found — every write acknowledged before that flush,
//! nothing else — and it must never get an error or die of a signal (`SIGBUS`: a mapped file
//! truncated or replaced under it).
//!
//! The writer reports, in a progress file, how many operations it had done when each generation
//! appeared; both processes derive the operations from the same seed, so the reader knows the
//! model of every generation. Both are this test binary, re-run on the ignored tests below.
//!
//! Time: `STRATAVEC_READER_SECS` (default 4); `scripts/reader-torture MINUTES` runs it longer.

#![cfg(unix)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use stratavec::{Collection, CollectionOptions, Durability, Metric, SearchParams};

const DIR_ENV: &str = "STRATAVEC_READER_DIR";
const PROGRESS_ENV: &str = "STRATAVEC_READER_PROGRESS";
const SECS_ENV: &str = "STRATAVEC_READER_SECS";
const SEED: u64 = 0x5EED;
const DIM: usize = 8;
const IDS: u64 = 600;

fn options() -> CollectionOptions {
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = Durability::Buffered;
    o.index.m = 8;
    o.index.ef_construction = 32;
    o.seal_rows = 60;
    o.compact_deleted_fraction = Some(0.25);
    o
}

fn vector(id: u64, version: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|i| ((id * 31 + i * 7 + version * 13) % 101) as f32)
        .collect()
}

enum Op {
    Upsert(Vec<u64>),
    Delete(Vec<u64>),
    Flush,
    Compact,
}

/// The writer's operations, the same in both processes.
struct Ops(Xoshiro256PlusPlus);

impl Ops {
    fn new() -> Ops {
        Ops(Xoshiro256PlusPlus::seed_from_u64(SEED))
    }

    fn next_op(&mut self) -> Op {
        let r = &mut self.0;
        let n = r.random_range(1..=5);
        let ids = (0..n).map(|_| r.random_range(0..IDS)).collect();
        match r.random_range(0..100) {
            0..70 => Op::Upsert(ids),
            70..94 => Op::Delete(ids),
            94..98 => Op::Flush,
            _ => Op::Compact,
        }
    }
}

type Model = HashMap<u64, u64>;

fn apply(model: &mut Model, op: &Op, index: u64) {
    match op {
        Op::Upsert(ids) => ids.iter().for_each(|&id| {
            model.insert(id, index);
        }),
        Op::Delete(ids) => ids.iter().for_each(|id| {
            model.remove(id);
        }),
        Op::Flush | Op::Compact => {}
    }
}

fn secs() -> u64 {
    std::env::var(SECS_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// The writer: operations until the time is up, a progress line `<generation> <operations done>`
/// whenever the generation changes, then `done`.
#[test]
#[ignore = "run by a_reader_process_follows_a_writer_process_that_compacts"]
fn reader_process_writer() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let progress = std::env::var(PROGRESS_ENV).unwrap();
    let mut out = std::fs::File::create(progress).unwrap();
    let col = Collection::open(&dir, options()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs());
    let mut ops = Ops::new();
    let mut generation = col.stats().generation;
    writeln!(out, "{generation} 0").unwrap();
    let mut done = 0u64;
    while Instant::now() < deadline {
        match ops.next_op() {
            Op::Upsert(ids) => {
                let rows: Vec<f32> = ids.iter().flat_map(|&id| vector(id, done)).collect();
                col.upsert_batch(&ids, &rows).unwrap();
            }
            Op::Delete(ids) => {
                col.delete_batch(&ids).unwrap();
            }
            Op::Flush => col.flush().unwrap(),
            Op::Compact => col.compact().unwrap(),
        }
        done += 1;
        let g = col.stats().generation;
        if g != generation {
            generation = g;
            writeln!(out, "{g} {done}").unwrap();
            out.flush().unwrap();
        }
    }
    writeln!(out, "done").unwrap();
    out.flush().unwrap();
}

/// The progress file as the writer has written it so far.
struct Progress {
    reader: BufReader<std::fs::File>,
    ops_at: BTreeMap<u64, u64>,
    done: bool,
    partial: String,
}

impl Progress {
    fn open(path: &Path) -> Progress {
        Progress {
            reader: BufReader::new(std::fs::File::open(path).unwrap()),
            ops_at: BTreeMap::new(),
            done: false,
            partial: String::new(),
        }
    }

    fn poll(&mut self) {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap() == 0 {
                return;
            }
            self.partial.push_str(&line);
            if !self.partial.ends_with('\n') {
                return; // the rest of the line is not written yet
            }
            let full = std::mem::take(&mut self.partial);
            let full = full.trim();
            if full == "done" {
                self.done = true;
            } else if let Some((g, n)) = full.split_once(' ') {
                self.ops_at.insert(g.parse().unwrap(), n.parse().unwrap());
            }
        }
    }

    /// How many operations the writer had done when `generation` appeared (waits for the line).
    fn ops_at(&mut self, generation: u64) -> u64 {
        let start = Instant::now();
        loop {
            self.poll();
            if let Some(&n) = self.ops_at.get(&generation) {
                return n;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "generation {generation} never reported"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The reader: refreshes until the writer is done; checks each state; prints one summary line
/// and exits 0, or prints the first error and exits 1.
#[test]
#[ignore = "run by a_reader_process_follows_a_writer_process_that_compacts"]
fn reader_process_reader() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let progress_path = PathBuf::from(std::env::var(PROGRESS_ENV).unwrap());
    let fail = |what: String| -> ! {
        eprintln!("READER ERROR: {what}");
        std::process::exit(1);
    };
    let start = Instant::now();
    while !progress_path.exists() || Collection::stored_options(&dir).ok().flatten().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            fail("the writer never created the collection".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut progress = Progress::open(&progress_path);
    let ro = Collection::open_read_only(&dir).unwrap_or_else(|e| fail(format!("open: {e}")));
    let mut ops = Ops::new();
    let mut model = Model::new();
    let mut applied = 0u64;
    let (mut refreshes, mut generations, mut checks) = (0u64, 0u64, 0u64);
    let mut last_generation = u64::MAX;
    loop {
        progress.poll();
        let finished = progress.done;
        if let Err(e) = ro.refresh() {
            fail(format!("refresh {refreshes}: {e}"));
        }
        refreshes += 1;
        let g = ro.stats().generation;
        let n = progress.ops_at(g);
        if n < applied {
            fail(format!(
                "generation {g} (after {n} operations) after one after {applied}: went back"
            ));
        }
        while applied < n {
            let op = ops.next_op();
            apply(&mut model, &op, applied);
            applied += 1;
        }
        if g != last_generation {
            generations += 1;
            last_generation = g;
            // Exactly the writes acknowledged before this generation's flush.
            if ro.len() != model.len() {
                fail(format!(
                    "generation {g}: {} live, the writer had acknowledged {} after {n} operations",
                    ro.len(),
                    model.len()
                ));
            }
            for id in 0..IDS {
                match (model.get(&id), ro.get(id)) {
                    (Some(&v), Ok(got)) if got == vector(id, v) => {}
                    (None, Err(stratavec::Error::UnknownId { .. })) => {}
                    (want, got) => fail(format!(
                        "generation {g}: id {id}: want version {want:?}, got {got:?}"
                    )),
                }
            }
            checks += 1;
        }
        match ro.search_with(&vector(refreshes % IDS, 3), &SearchParams::new(10).ef(32)) {
            Ok(hits) => {
                if let Some(h) = hits.iter().find(|h| !model.contains_key(&h.id)) {
                    fail(format!("generation {g}: search returned dead id {}", h.id));
                }
            }
            Err(e) => fail(format!("search: {e}")),
        }
        if finished {
            break;
        }
    }
    println!(
        "READER SUMMARY {refreshes} refreshes, {generations} generations checked ({checks} full \
         checks), last generation {last_generation} after {applied} writer operations, 0 errors"
    );
}

fn child(test: &str, dir: &Path, progress: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(PROGRESS_ENV, progress)
        .env(SECS_ENV, secs().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_reader_process_follows_a_writer_process_that_compacts() {
    use std::os::unix::process::ExitStatusExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("col");
    let progress = root.path().join("progress");
    let started = Instant::now();
    let writer = child("reader_process_writer", &dir, &progress);
    let reader = child("reader_process_reader", &dir, &progress);
    let writer = writer.wait_with_output().unwrap();
    let reader = reader.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        writer.status.success(),
        "writer failed: {}",
        text(&writer.stderr)
    );
    if let Some(signal) = reader.status.signal() {
        panic!(
            "the reader was killed by signal {signal}{}",
            if signal == libc::SIGBUS {
                " (SIGBUS: a mapped file changed under it)"
            } else {
                ""
            }
        );
    }
    assert!(
        reader.status.success(),
        "reader failed: {}{}",
        text(&reader.stdout),
        text(&reader.stderr)
    );
    let out = text(&reader.stdout);
    let summary = out
        .lines()
        .find_map(|l| l.find("READER SUMMARY").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no summary from the reader: {out}{}", text(&reader.stderr)));
    let generations: u64 = summary
        .split(", ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let compacted = Collection::open(&dir, options()).unwrap().stats();
    // One line for scripts/reader-torture.
    eprintln!(
        "reader process: {} s, {}; writer ended at generation {}; 0 SIGBUS",
        started.elapsed().as_secs(),
        summary.trim_start_matches("READER SUMMARY "),
        compacted.generation
    );
    assert!(
        generations > 2,
        "the reader saw too few generations: {summary}"
    );
}
