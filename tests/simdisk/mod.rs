//! Shared by the simulated-disk tests (`power_loss.rs`, `torn_writes.rs`, `full_disk.rs`,
//! `sync_necessity.rs`; each declares `mod simdisk;`): workloads of real collection operations run on a
//! [`stratavec::__sim::SimDisk`], the model of what each acknowledged operation must leave, and
//! the explorer that cuts the power after every operation of a run's trace and checks what a
//! reopen finds.
//!
//! **The promise checked** (docs/reliability.md): after a power cut, the collection opens,
//! `verify` passes, and its content equals the model after some prefix of the operations: at
//! least every operation acknowledged under `Durability::Sync` (under `Buffered`, at least those
//! before the last acknowledged `flush`, `compact` or `sync`), at most those plus the one in
//! flight; never a part of a batch. Searches return the model's answers (exact distances, with
//! integer vectors and graphs small enough to be searched exhaustively).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use stratavec::__sim::{self, Crash, Fault, Replay, SimDisk};
use stratavec::{
    Collection, CollectionOptions, Durability, Error, Filter, Metric, Payload, SearchParams,
};

/// The collection's directory on the simulated disk.
pub const DIR: &str = "/sim/col";
pub const DIM: usize = 4;
/// Ids are drawn from `0..IDS`.
pub const IDS: u64 = 24;

pub fn dir() -> &'static Path {
    Path::new(DIR)
}

/// Version `version` of `id`: small integers, so distances are exact in `f32`, and distinct for
/// distinct versions below 256.
pub fn vector(id: u64, version: u64) -> Vec<f32> {
    vec![
        (version % 16) as f32,
        (version / 16 % 16) as f32,
        (id % 16) as f32,
        ((id * 5 + version) % 16) as f32,
    ]
}

/// The payload of version `version` of an id (`None`: written without one — every third
/// version, so workloads mix both kinds of upsert and go through the log's upgrade to
/// version 2).
pub fn payload(id: u64, version: u64) -> Option<Payload> {
    (!version.is_multiple_of(3)).then(|| {
        Payload::new()
            .with("v", version as i64)
            .with("tag", ["a", "b", "c"][(id % 3) as usize])
            .with("odd", version % 2 == 1)
    })
}

/// What the collection holds: id → version.
pub type Model = BTreeMap<u64, u64>;

/// One operation of a workload.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// The first open (creates the collection).
    Open,
    /// `upsert_batch` of these ids; each row's version is the operation's index in the workload.
    Upsert(Vec<u64>),
    Delete(Vec<u64>),
    Flush,
    Compact,
    Sync,
    /// Drop the handle and open again (no power cut).
    Reopen,
    /// [`Op::Reopen`] with another durability from here on.
    ReopenAs(Durability),
    /// A power cut leaving what `Crash` chooses, then an open.
    PowerCut(Crash),
}

impl Op {
    fn starts_epoch(&self) -> bool {
        matches!(self, Op::Open | Op::PowerCut(_))
    }

    /// Whether, acknowledged, it makes every earlier acknowledged operation durable under
    /// `Durability::Buffered`.
    fn durable_point(&self) -> bool {
        matches!(self, Op::Flush | Op::Compact | Op::Sync)
    }

    /// A short name for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Upsert(_) => "upsert",
            Op::Delete(_) => "delete",
            Op::Flush => "flush",
            Op::Compact => "compact",
            Op::Sync => "sync",
            Op::Reopen | Op::ReopenAs(_) => "reopen",
            Op::PowerCut(_) => "power cut + open",
        }
    }

    fn is_write(&self) -> bool {
        matches!(self, Op::Upsert(_) | Op::Delete(_))
    }
}

/// A workload: collection options and operations (the first is [`Op::Open`]).
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub options: CollectionOptions,
    pub ops: Vec<Op>,
}

pub fn options(
    durability: Durability,
    seal_rows: usize,
    compact: Option<f64>,
) -> CollectionOptions {
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = durability;
    o.index.ef_construction = 32;
    o.seal_rows = seal_rows;
    o.compact_deleted_fraction = compact;
    o
}

/// A random workload of `len` operations after the open: upserts of 1–3 ids (repeats
/// included), deletes of 1–2 (present or not), flushes, compactions, syncs, reopens and, with
/// `power_cuts`, power cuts of every kind. Small `seal_rows` and compaction by policy make
/// upserts seal and flushes compact by themselves. It ends with an upsert, so that the last log
/// reset is followed by an append.
pub fn random_workload(seed: u64, len: usize, power_cuts: bool) -> Workload {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let durability = if rng.random_bool(0.5) {
        Durability::Sync
    } else {
        Durability::Buffered
    };
    let seal_rows = rng.random_range(3..=10);
    let compact = [None, Some(0.2), Some(0.4)][rng.random_range(0..3)];
    let mut ops = vec![Op::Open];
    let ids = |rng: &mut Xoshiro256PlusPlus, n: usize| -> Vec<u64> {
        (0..n).map(|_| rng.random_range(0..IDS)).collect()
    };
    for i in 0..len {
        let op = if i + 1 == len {
            Op::Upsert(ids(&mut rng, 1))
        } else {
            match rng.random_range(0..100) {
                0..45 => {
                    let n = rng.random_range(1..=3);
                    Op::Upsert(ids(&mut rng, n))
                }
                45..65 => {
                    let n = rng.random_range(1..=2);
                    Op::Delete(ids(&mut rng, n))
                }
                65..75 => Op::Flush,
                75..80 => Op::Compact,
                80..86 => Op::Sync,
                86..91 => Op::Reopen,
                _ if power_cuts => Op::PowerCut(match rng.random_range(0..4) {
                    0 => Crash::SyncedOnly,
                    1 => Crash::Everything,
                    2 => Crash::AllBut(rng.random_range(0..4)),
                    _ => Crash::Random(rng.random()),
                }),
                _ => Op::Flush,
            }
        };
        ops.push(op);
    }
    Workload {
        name: format!(
            "random seed {seed} ({durability:?}, seal_rows {seal_rows}, compact {compact:?})"
        ),
        options: options(durability, seal_rows, compact),
        ops,
    }
}

/// One executed operation: where its disk operations are in the trace, and what it left.
#[derive(Clone, Debug)]
pub struct Step {
    pub index: usize,
    pub op: Op,
    /// Trace positions: the operation's disk operations are `start..end`.
    pub start: usize,
    pub end: usize,
    pub ok: bool,
    /// The model after it: for an epoch start (open, power cut), what the open found.
    pub model: Model,
    /// The durability it ran with.
    pub durability: Durability,
}

/// A workload run on a disk.
pub struct Run {
    pub workload: Workload,
    pub disk: SimDisk,
    pub steps: Vec<Step>,
    /// The operation that failed under an injected fault, if one did.
    pub failed: Option<usize>,
}

/// An injected fault for [`Run::with_fault`].
#[derive(Clone, Copy, Debug)]
pub enum FaultPlan {
    /// Disk operation number `.0` fails once with `.1`.
    Once(u64, Fault),
    /// From disk operation number `.0` on, the disk is full (`ENOSPC` for everything that needs
    /// space) until the operation that hit it has returned.
    Full(u64),
}

fn apply(model: &Model, op: &Op, index: usize) -> Model {
    let mut m = model.clone();
    match op {
        Op::Upsert(ids) => ids.iter().for_each(|&id| {
            m.insert(id, index as u64);
        }),
        Op::Delete(ids) => ids.iter().for_each(|id| {
            m.remove(id);
        }),
        _ => {}
    }
    m
}

/// Runs one operation (not an epoch start) on `col`.
pub fn execute(col: &Collection, op: &Op, index: usize) -> stratavec::Result<()> {
    match op {
        Op::Upsert(ids) => {
            let rows: Vec<f32> = ids
                .iter()
                .flat_map(|&id| vector(id, index as u64))
                .collect();
            let version = index as u64;
            match payload(0, version) {
                None => col.upsert_batch(ids, &rows),
                Some(_) => {
                    let payloads: Vec<Payload> = ids
                        .iter()
                        .map(|&id| payload(id, version).expect("a payload version"))
                        .collect();
                    col.upsert_batch_with_payloads(ids, &rows, &payloads)
                }
            }
        }
        Op::Delete(ids) => col.delete_batch(ids).map(drop),
        Op::Flush => col.flush(),
        Op::Compact => col.compact(),
        Op::Sync => col.sync(),
        Op::Open | Op::Reopen | Op::ReopenAs(_) | Op::PowerCut(_) => {
            unreachable!("handled by the runner")
        }
    }
}

/// Whether `col` holds exactly `model`.
pub fn equals(col: &Collection, model: &Model) -> Result<(), String> {
    if col.len() != model.len() {
        return Err(format!("{} live, the model has {}", col.len(), model.len()));
    }
    for id in 0..IDS {
        match (model.get(&id), col.get(id).ok()) {
            (Some(&v), Some(got)) if got == vector(id, v) => {}
            (None, None) => {}
            (want, got) => return Err(format!("id {id}: want version {want:?}, got {got:?}")),
        }
        if let Some(&v) = model.get(&id) {
            let want = payload(id, v).unwrap_or_default();
            match col.payload(id) {
                Ok(got) if got == want => {}
                got => {
                    return Err(format!(
                        "id {id} version {v}: payload {got:?}, the model's {want:?}"
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Searches return the model's answers: the same distances, from ids of the model.
pub fn searches_match(col: &Collection, model: &Model) -> Result<(), String> {
    for q in [3u64, 17] {
        let query = vector(q, 7);
        let k = 8;
        let hits = col
            .search_with(&query, &SearchParams::new(k).ef(64))
            .map_err(|e| format!("search: {e}"))?;
        let l2 = |v: &[f32]| -> f32 { v.iter().zip(&query).map(|(a, b)| (a - b) * (a - b)).sum() };
        let mut exact: Vec<f32> = model.iter().map(|(&id, &v)| l2(&vector(id, v))).collect();
        exact.sort_by(f32::total_cmp);
        exact.truncate(k);
        let got: Vec<f32> = hits.iter().map(|h| h.distance).collect();
        if got != exact {
            return Err(format!(
                "search {q}: distances {got:?}, the model's {exact:?}"
            ));
        }
        for h in &hits {
            match model.get(&h.id) {
                Some(&v) if l2(&vector(h.id, v)) == h.distance => {}
                _ => return Err(format!("search {q}: id {} is not the model's", h.id)),
            }
        }
        // A payload filter, where the collection knows the field: the model's matches.
        if col.schema().get("odd").is_none() {
            continue;
        }
        let odd = Filter::eq("odd", true);
        let hits = col
            .search_with(&query, &SearchParams::new(k).ef(64).payload_filter(&odd))
            .map_err(|e| format!("filtered search: {e}"))?;
        let mut exact: Vec<f32> = model
            .iter()
            .filter(|&(&id, &v)| payload(id, v).is_some_and(|p| odd.matches(&p)))
            .map(|(&id, &v)| l2(&vector(id, v)))
            .collect();
        exact.sort_by(f32::total_cmp);
        exact.truncate(k);
        let got: Vec<f32> = hits.iter().map(|h| h.distance).collect();
        if got != exact {
            return Err(format!(
                "filtered search {q}: distances {got:?}, the model's {exact:?}"
            ));
        }
    }
    Ok(())
}

/// Opens `disk` and finds which of `allowed` (candidate models, most advanced last) it holds;
/// checks `verify` and the searches. Returns the index in `allowed` and the open collection.
pub fn recover(
    disk: &SimDisk,
    options: &CollectionOptions,
    allowed: &[&Model],
) -> Result<(usize, Collection), String> {
    let col = __sim::open(disk, dir(), options.clone()).map_err(|e| format!("open: {e}"))?;
    col.verify().map_err(|e| format!("verify: {e}"))?;
    let temporary: Vec<String> = disk
        .files(dir())
        .into_keys()
        .filter(|n| n.contains(".tmp-"))
        .collect();
    if !temporary.is_empty() {
        return Err(format!(
            "temporary files left after the open: {temporary:?}"
        ));
    }
    let mut why = Vec::new();
    for (i, m) in allowed.iter().enumerate().rev() {
        match equals(&col, m) {
            Ok(()) => {
                searches_match(&col, m)?;
                return Ok((i, col));
            }
            Err(e) => why.push(e),
        }
    }
    Err(format!(
        "the collection matches none of the {} allowed states ({})",
        allowed.len(),
        why.join("; ")
    ))
}

/// Accepts the one I/O error an injected fault may cause (and clears the fault: the disk works
/// again); anything else is a violation.
fn expect_io(
    disk: &SimDisk,
    injected: bool,
    failed: &mut Option<usize>,
    index: usize,
    e: &Error,
) -> Result<(), String> {
    match e {
        Error::Io { path, source } if injected && failed.is_none() => {
            if !path.starts_with(dir()) {
                return Err(format!("op {index}: the error names {}", path.display()));
            }
            if source.to_string().is_empty() {
                return Err(format!("op {index}: an I/O error without a message"));
            }
            *failed = Some(index);
            disk.clear_faults();
            Ok(())
        }
        e => Err(format!("op {index}: {e}")),
    }
}

impl Run {
    /// Runs `workload` on a fresh disk. Power cuts are applied in place; the open after each
    /// must find an allowed state, which the model continues from.
    pub fn new(workload: &Workload) -> Result<Run, String> {
        Run::with_fault(workload, None)
    }

    /// [`Run::new`] with `fault` injected. The operation that meets it must return
    /// `Error::Io` naming a file of the collection; searches must work right after; once the
    /// fault is gone (a single failure, or the full disk cleared when that call returned) every
    /// later operation must succeed on the same handle. The failed operation's write may or may
    /// not have happened: the model takes what the handle shows.
    pub fn with_fault(workload: &Workload, fault: Option<FaultPlan>) -> Result<Run, String> {
        let disk = SimDisk::new();
        match fault {
            Some(FaultPlan::Once(op, f)) => disk.fail_op(op, f),
            Some(FaultPlan::Full(op)) => disk.fill_from(op),
            None => {}
        }
        let mut run = Run {
            workload: workload.clone(),
            disk: disk.clone(),
            steps: Vec::new(),
            failed: None,
        };
        let mut options = workload.options.clone();
        let mut col: Option<Collection> = None;
        let injected = fault.is_some();
        let mut failed = None;
        for (index, op) in workload.ops.iter().enumerate() {
            let start = disk.trace_len();
            let before = run
                .steps
                .last()
                .map(|s| s.model.clone())
                .unwrap_or_default();
            if let Op::ReopenAs(d) = op {
                options.durability = *d;
            }
            let options = &options;
            let (ok, model) = match op {
                Op::Open | Op::Reopen | Op::ReopenAs(_) => {
                    drop(col.take());
                    let opened = match __sim::open(&disk, dir(), options.clone()) {
                        Ok(c) => (c, true),
                        Err(e) => {
                            expect_io(&disk, injected, &mut failed, index, &e)?;
                            let c = __sim::open(&disk, dir(), options.clone())
                                .map_err(|e| format!("op {index}: open after the fault: {e}"))?;
                            (c, false)
                        }
                    };
                    col = Some(opened.0);
                    (opened.1, before)
                }
                Op::PowerCut(how) => {
                    drop(col.take());
                    disk.power_cut(*how);
                    let allowed = run.allowed(start + 1);
                    let allowed: Vec<Model> = allowed.into_iter().cloned().collect();
                    let refs: Vec<&Model> = allowed.iter().collect();
                    let (i, c) = recover(&disk, options, &refs)
                        .map_err(|e| format!("op {index}: after the power cut ({how:?}): {e}"))?;
                    col = Some(c);
                    (true, allowed[i].clone())
                }
                op => {
                    let c = col.as_ref().expect("open");
                    match execute(c, op, index) {
                        Ok(()) => (true, apply(&before, op, index)),
                        Err(e) => {
                            if matches!(fault, Some(FaultPlan::Full(_))) && failed.is_none() {
                                // While the disk is full, another write fails cleanly too.
                                match c.upsert(0, &vector(0, 255)) {
                                    Err(Error::Io { .. }) => {}
                                    other => {
                                        return Err(format!(
                                            "op {index}: a write on the full disk gave {other:?}"
                                        ))
                                    }
                                }
                            }
                            expect_io(&disk, injected, &mut failed, index, &e)?;
                            searches_match(c, &before)
                                .or_else(|_| searches_match(c, &apply(&before, op, index)))
                                .map_err(|e| format!("op {index}: after the fault: {e}"))?;
                            let with = apply(&before, op, index);
                            let model = if equals(c, &before).is_ok() {
                                before
                            } else if equals(c, &with).is_ok() {
                                with
                            } else {
                                return Err(format!(
                                    "op {index}: after the fault the handle holds neither the \
                                     state before the failed operation nor the one after"
                                ));
                            };
                            (false, model)
                        }
                    }
                }
            };
            run.steps.push(Step {
                index,
                op: op.clone(),
                start,
                end: disk.trace_len(),
                ok,
                model,
                durability: options.durability,
            });
        }
        if let Some(c) = &col {
            equals(c, &run.steps.last().expect("steps").model)
                .map_err(|e| format!("at the end: {e}"))?;
        }
        run.failed = failed;
        Ok(run)
    }

    /// The models a power cut after `n` operations of the trace may leave (see the module docs),
    /// the least advanced first.
    pub fn allowed(&self, n: usize) -> Vec<&Model> {
        let Some(e) = self
            .steps
            .iter()
            .rposition(|s| s.op.starts_epoch() && s.start < n)
        else {
            return Vec::new();
        };
        let epoch = &self.steps[e];
        if n <= epoch.end {
            // During (or right after) the open: nothing it does changes the content.
            // (The first open may not have created the collection yet: empty either way.)
            return vec![&epoch.model];
        }
        let mut floor = e;
        let mut last = e;
        let mut in_flight = None;
        for (i, s) in self.steps.iter().enumerate().skip(e + 1) {
            if s.end <= n {
                last = i;
                if s.ok && (s.durability == Durability::Sync || s.op.durable_point()) {
                    floor = i;
                }
            } else {
                if s.start < n {
                    in_flight = Some(i);
                }
                break;
            }
        }
        let mut models: Vec<&Model> = self.steps[floor..=last].iter().map(|s| &s.model).collect();
        models.extend(in_flight.map(|i| &self.steps[i].model));
        models
    }

    /// The acknowledged writes (upserts and deletes) at trace position `n`.
    pub fn acknowledged_writes(&self, n: usize) -> usize {
        self.steps
            .iter()
            .filter(|s| s.end <= n && s.op.is_write())
            .count()
    }

    /// The workload operation running at trace position `position` (the one whose disk
    /// operations include it).
    pub fn step_at(&self, position: usize) -> &Step {
        self.steps
            .iter()
            .find(|s| s.start <= position && position < s.end)
            .expect("every traced operation belongs to a step")
    }
}

/// What an exploration counted.
#[derive(Default, Debug)]
pub struct Stats {
    /// Positions of the traces at which the power was cut.
    pub positions: u64,
    /// Crash images checked (a position and a choice of what survived): the power cuts.
    pub cuts: u64,
    /// Sum over the cuts of the acknowledged writes that had to be found.
    pub acked_checked: u64,
    /// Fingerprints of the distinct disks the cuts left.
    pub states: HashSet<u64>,
    /// What went wrong, one line each.
    pub violations: Vec<String>,
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        self.positions += other.positions;
        self.cuts += other.cuts;
        self.acked_checked += other.acked_checked;
        self.states.extend(other.states);
        self.violations.extend(other.violations);
    }
}

/// How to explore a run's trace.
#[derive(Clone, Copy, Debug)]
pub struct Explore {
    /// Random crash images per position, on top of the deterministic ones (nothing unsynced,
    /// everything, each pending directory operation alone, each unsynced file operation lost
    /// alone).
    pub random: usize,
    /// Seed of the random images.
    pub seed: u64,
    /// Replay as if this sync (its number in the trace) had done nothing; explore from it up to
    /// the next power cut of the trace.
    pub skip_sync: Option<usize>,
    /// Stop at the first violation.
    pub stop_at_first: bool,
    /// Only positions inside these steps (by index), when set.
    pub only_steps: Option<(usize, usize)>,
}

impl Default for Explore {
    fn default() -> Self {
        Explore {
            random: 4,
            seed: 0,
            skip_sync: None,
            stop_at_first: false,
            only_steps: None,
        }
    }
}

/// The crash images worth checking at the current position of `replay`.
pub fn images(replay: &Replay, random: usize, seed: u64) -> Vec<Crash> {
    if !replay.has_unsynced() {
        return vec![Crash::SyncedOnly];
    }
    let mut all = vec![Crash::SyncedOnly, Crash::Everything];
    all.extend((0..replay.pending_dir_ops()).map(Crash::OneDirOp));
    all.extend((0..replay.pending_file_ops()).map(Crash::AllBut));
    let pos = replay.position() as u64;
    all.extend((0..random as u64).map(|r| Crash::Random(seed ^ (pos << 20) ^ r)));
    all
}

/// Cuts the power after every operation of `run`'s trace, with the images [`images`] gives,
/// reopens each and checks it against [`Run::allowed`].
pub fn explore(run: &Run, how: Explore) -> Stats {
    let mut stats = Stats::default();
    let mut replay = run.disk.replay();
    let skip_at = how.skip_sync.map(|k| {
        replay.skip_sync(k);
        replay.syncs()[k].position
    });
    let range = how
        .only_steps
        .map(|(a, b)| (run.steps[a].start, run.steps[b].end));
    while replay.step() {
        let n = replay.position();
        if let Some(at) = skip_at {
            if n <= at {
                continue; // nothing differs before the skipped sync
            }
            if replay.at_power_cut() {
                break; // what the cut left differs from what the run continued from
            }
        }
        if let Some((a, b)) = range {
            if n <= a || n > b {
                continue;
            }
        }
        let allowed = run.allowed(n);
        stats.positions += 1;
        let mut seen = HashSet::new();
        for image in images(&replay, how.random, how.seed) {
            let disk = replay.crash(image);
            let fingerprint = disk.fingerprint();
            stats.states.insert(fingerprint);
            if !seen.insert(fingerprint) {
                continue; // the same disk as another image here: same answer
            }
            stats.cuts += 1;
            stats.acked_checked += run.acknowledged_writes(n) as u64;
            if let Err(e) = recover(&disk, &run.workload.options, &allowed) {
                let step = run.step_at(n - 1);
                stats.violations.push(format!(
                    "{}: power cut after trace op {n} (during op {} {:?}), {image:?}: {e}",
                    run.workload.name, step.index, step.op
                ));
                if how.stop_at_first {
                    return stats;
                }
            }
        }
    }
    stats
}
