//! A simulated disk that forgets what a power cut would: for tests that cut the power at every
//! operation of the collection's real write path (SQLite's crash VFS and redb's fault-injecting
//! backend, in small). Not a stable API; hidden from the documentation.
//!
//! [`SimDisk`] is an in-memory file system behind the same trait as the real one
//! (`fsutil::Vfs`), so [`open`] runs the collection's own code on it. It keeps two views:
//!
//! - the **live** view, what the running system sees (the page cache): every write, rename and
//!   removal as soon as it returns;
//! - the **durable** view, what POSIX promises survives a power loss: a file's data (and length)
//!   as of its last successful `sync_data`, and the names of a directory as of its last
//!   successful directory sync.
//!
//! Every mutating operation is recorded in a **trace**. A [`Replay`] re-applies the trace one
//! operation at a time and, at any point, builds the disk a power cut there can leave
//! ([`Replay::crash`]): the durable view plus, as a [`Crash`] chooses, nothing, everything, one
//! pending directory operation, or a random prefix or subset of the unsynced operations with
//! writes torn at 512-byte or 4 KiB sectors (and files whose length reached the disk before their
//! data, read as zeros). Because the code cannot know where the power will go, the trace of one run
//! gives the states of a cut at every point of that run. A replay can also treat one sync of the
//! trace as if it had not happened ([`Replay::skip_sync`]): how the tests show that each sync is
//! needed.
//!
//! Operations can also fail ([`SimDisk::fail_op`], [`SimDisk::fill_from`]) with `ENOSPC` or
//! `EIO`, to check that the caller reports the error and stays usable. A failed `sync_data` drops
//! the file's unsynced writes from the durable view for good, as Linux does after a failed
//! writeback (the pages stay readable but are marked clean): a later successful sync does not
//! bring them back.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::collection::{Collection, CollectionOptions};
use crate::error::Result;
use crate::fsutil::{LockGuard, Mapped, Vfs, VfsFile};
use crate::segment::AlignedBytes;

/// An error to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// "No space left on device" (`ENOSPC`).
    NoSpace,
    /// An I/O error (`EIO`).
    Io,
}

impl Fault {
    fn error(self) -> io::Error {
        match self {
            Fault::NoSpace => io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (simulated)",
            ),
            Fault::Io => io::Error::other("input/output error (simulated)"),
        }
    }
}

/// What survives a power cut, beyond the durable view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// Nothing that was not synced.
    SyncedOnly,
    /// Everything that was written (what a killed process leaves: the page cache survives).
    Everything,
    /// The synced data and names, plus only the `i`-th pending directory operation (of
    /// [`Replay::pending_dir_ops`]): the directory operations of POSIX are not ordered.
    OneDirOp(usize),
    /// Everything that was written except the `k`-th unsynced file operation (of
    /// [`Replay::pending_file_ops`], counted file after file): one page that never reached the
    /// disk while later ones did.
    AllBut(usize),
    /// A random choice from this seed: either a prefix of the unsynced operations (of the
    /// directory, and of each file) with the next one torn, or a subset of them with each write
    /// kept sector by sector; sectors of 512 bytes or 4 KiB; sometimes a file's new length
    /// without its data (zeros).
    Random(u64),
}

/// A simulated disk. Clones share the disk.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    shared: Arc<Mutex<Disk>>,
}

#[derive(Debug, Default)]
struct Disk {
    fs: Fs,
    /// The state the trace starts from (empty, or what a crash left).
    base: Fs,
    /// Incremented by every power cut: files opened before it are gone.
    epoch: u64,
    trace: Vec<TraceOp>,
    /// Operations so far, reads included.
    ops: u64,
    faults: Vec<FaultRule>,
    locks: HashSet<PathBuf>,
    /// What each operation was, by number.
    names: Vec<&'static str>,
}

#[derive(Clone, Copy, Debug)]
struct FaultRule {
    from: u64,
    /// `None`: until [`SimDisk::clear_faults`].
    until: Option<u64>,
    fault: Fault,
    /// Only operations that need space (create, write, set_len, rename, sync) fail.
    writes_only: bool,
}

/// The file system: inodes, names (live and durable) and the directory operations not yet synced.
#[derive(Clone, Debug, Default)]
struct Fs {
    inodes: Vec<Inode>,
    live: BTreeMap<PathBuf, usize>,
    durable: BTreeMap<PathBuf, usize>,
    pending: Vec<DirOp>,
    dirs: BTreeSet<PathBuf>,
}

#[derive(Clone, Debug, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<FileOp>,
}

#[derive(Clone, Debug)]
enum FileOp {
    Write { at: u64, data: Arc<[u8]> },
    SetLen(u64),
}

/// One directory operation: the names it sets (`None` removes), applied together (a rename sets
/// two names at once).
#[derive(Clone, Debug)]
struct DirOp {
    dir: PathBuf,
    names: Vec<(PathBuf, Option<usize>)>,
}

/// A mutating operation, as recorded in the trace and re-applied by a [`Replay`].
#[derive(Clone, Debug)]
enum TraceOp {
    Mkdir(PathBuf),
    Create(PathBuf),
    Write {
        ino: usize,
        at: u64,
        data: Arc<[u8]>,
    },
    SetLen {
        ino: usize,
        len: u64,
    },
    SyncFile {
        ino: usize,
        ok: bool,
        what: String,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
    Remove(PathBuf),
    SyncDir {
        dir: PathBuf,
        ok: bool,
        what: String,
    },
    PowerCut(Crash),
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found (simulated)", path.display()),
    )
}

fn parent(path: &Path) -> PathBuf {
    crate::fsutil::parent_dir(path).to_path_buf()
}

/// `name` with the random part of a temporary file's name and the hex digits of segment names
/// replaced, so the syncs of a trace can be grouped by what they are for.
fn kind_of(name: &str) -> String {
    let (base, temp) = match name.find(crate::fsutil::TEMP_INFIX) {
        Some(at) => (&name[..at], " (temporary file)"),
        None => (name, ""),
    };
    let base = if base.starts_with("seg-") && base.ends_with(".del") {
        "seg-<id>-<generation>.del"
    } else if base.starts_with("seg-") && base.ends_with(".svs") {
        "seg-<id>.svs"
    } else {
        base
    };
    format!("{base}{temp}")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

impl Inode {
    fn apply_live(&mut self, op: &FileOp) {
        apply_file_op(&mut self.live, op);
    }
}

fn apply_file_op(content: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { at, data } => write_bytes(content, *at, data),
        FileOp::SetLen(len) => content.resize(*len as usize, 0),
    }
}

fn write_bytes(content: &mut Vec<u8>, at: u64, data: &[u8]) {
    let at = at as usize;
    if content.len() < at + data.len() {
        content.resize(at + data.len(), 0);
    }
    content[at..at + data.len()].copy_from_slice(data);
}

impl Fs {
    fn ino(&self, path: &Path) -> io::Result<usize> {
        self.live.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn check_dir(&self, path: &Path) -> io::Result<()> {
        if self.dirs.contains(&parent(path)) {
            Ok(())
        } else {
            Err(not_found(&parent(path)))
        }
    }

    /// Names (live) of `ino`, as kinds, for the description of a sync.
    fn names_of(&self, ino: usize) -> String {
        let names: BTreeSet<String> = self
            .live
            .iter()
            .filter(|(_, &i)| i == ino)
            .map(|(p, _)| kind_of(&file_name(p)))
            .collect();
        names.into_iter().collect::<Vec<_>>().join(", ")
    }

    /// The final names the pending operations of `dir` create (renames and creations, not
    /// temporary files or the lock), as kinds.
    fn pending_of(&self, dir: &Path) -> String {
        let names: BTreeSet<String> = self
            .pending
            .iter()
            .filter(|op| op.dir == dir)
            .flat_map(|op| op.names.iter())
            .filter(|(_, ino)| ino.is_some())
            .map(|(p, _)| file_name(p))
            .filter(|n| !n.contains(crate::fsutil::TEMP_INFIX) && n != "LOCK")
            .map(|n| kind_of(&n))
            .collect();
        names.into_iter().collect::<Vec<_>>().join(", ")
    }

    fn set_names(&mut self, dir: PathBuf, names: Vec<(PathBuf, Option<usize>)>) {
        for (path, ino) in &names {
            match ino {
                Some(i) => self.live.insert(path.clone(), *i),
                None => self.live.remove(path),
            };
        }
        self.pending.push(DirOp { dir, names });
    }

    /// Applies one traced operation (`skip`: a sync that does nothing).
    fn apply(&mut self, op: &TraceOp, skip: bool) {
        match op {
            TraceOp::Mkdir(dir) => {
                self.dirs.insert(dir.clone());
            }
            TraceOp::Create(path) => {
                self.inodes.push(Inode::default());
                let ino = self.inodes.len() - 1;
                self.set_names(parent(path), vec![(path.clone(), Some(ino))]);
            }
            TraceOp::Write { ino, at, data } => {
                let op = FileOp::Write {
                    at: *at,
                    data: data.clone(),
                };
                let inode = &mut self.inodes[*ino];
                inode.apply_live(&op);
                inode.pending.push(op);
            }
            TraceOp::SetLen { ino, len } => {
                let op = FileOp::SetLen(*len);
                let inode = &mut self.inodes[*ino];
                inode.apply_live(&op);
                inode.pending.push(op);
            }
            TraceOp::SyncFile { ino, ok, .. } => {
                let inode = &mut self.inodes[*ino];
                if skip {
                    return;
                }
                // A failed sync loses the unsynced writes for good (see the module docs): the
                // durable content is what the successful syncs wrote, not the live content.
                for op in std::mem::take(&mut inode.pending) {
                    if *ok {
                        apply_file_op(&mut inode.durable, &op);
                    }
                }
            }
            TraceOp::Rename { from, to } => {
                let ino = self.live[from];
                self.set_names(
                    parent(to),
                    vec![(from.clone(), None), (to.clone(), Some(ino))],
                );
            }
            TraceOp::Remove(path) => {
                self.set_names(parent(path), vec![(path.clone(), None)]);
            }
            TraceOp::PowerCut(how) => *self = self.crash(*how),
            TraceOp::SyncDir { dir, ok, .. } => {
                if skip || !ok {
                    return;
                }
                let (done, rest): (Vec<DirOp>, Vec<DirOp>) = std::mem::take(&mut self.pending)
                    .into_iter()
                    .partition(|op| &op.dir == dir);
                self.pending = rest;
                for op in done {
                    apply_names(&mut self.durable, &op);
                }
            }
        }
    }

    /// The file system a power cut leaves now.
    fn crash(&self, how: Crash) -> Fs {
        let mut rng = match how {
            Crash::Random(seed) => Some(Xoshiro256PlusPlus::seed_from_u64(seed)),
            _ => None,
        };
        let prefix = rng.as_mut().is_some_and(|r| r.random_bool(0.5));
        let sector: usize = if rng.as_mut().is_some_and(|r| r.random_bool(0.5)) {
            512
        } else {
            4096
        };
        // Names first.
        let mut names = self.durable.clone();
        let n = self.pending.len();
        let keep: Vec<bool> = match (how, rng.as_mut()) {
            (Crash::SyncedOnly, _) => vec![false; n],
            (Crash::Everything | Crash::AllBut(_), _) => vec![true; n],
            (Crash::OneDirOp(i), _) => (0..n).map(|j| j == i).collect(),
            (Crash::Random(_), Some(r)) if prefix => {
                let j = r.random_range(0..=n);
                (0..n).map(|i| i < j).collect()
            }
            (Crash::Random(_), Some(r)) => (0..n).map(|_| r.random_bool(0.5)).collect(),
            (Crash::Random(_), None) => unreachable!(),
        };
        for (op, keep) in self.pending.iter().zip(keep) {
            if keep {
                apply_names(&mut names, op);
            }
        }
        // Then the content of each file still named.
        let mut out = Fs {
            dirs: self.dirs.clone(),
            ..Fs::default()
        };
        // Which unsynced file operation `AllBut` drops: (inode, index among its pending ops).
        let dropped = match how {
            Crash::AllBut(k) => self
                .inodes
                .iter()
                .enumerate()
                .flat_map(|(ino, inode)| (0..inode.pending.len()).map(move |i| (ino, i)))
                .nth(k),
            _ => None,
        };
        let mut renumber = BTreeMap::new();
        for (path, &ino) in &names {
            let new = *renumber.entry(ino).or_insert_with(|| {
                let content = match (how, rng.as_mut()) {
                    (Crash::Everything, _) => self.inodes[ino].live.clone(),
                    (Crash::AllBut(_), _) => {
                        let inode = &self.inodes[ino];
                        let mut content = inode.durable.clone();
                        for (i, op) in inode.pending.iter().enumerate() {
                            if dropped != Some((ino, i)) {
                                apply_file_op(&mut content, op);
                            }
                        }
                        content
                    }
                    (Crash::Random(_), Some(r)) => survivors(&self.inodes[ino], r, prefix, sector),
                    _ => self.inodes[ino].durable.clone(),
                };
                out.inodes.push(Inode {
                    live: content.clone(),
                    durable: content,
                    pending: Vec::new(),
                });
                out.inodes.len() - 1
            });
            out.live.insert(path.clone(), new);
        }
        out.durable = out.live.clone();
        out
    }
}

fn apply_names(names: &mut BTreeMap<PathBuf, usize>, op: &DirOp) {
    for (path, ino) in &op.names {
        match ino {
            Some(i) => names.insert(path.clone(), *i),
            None => names.remove(path),
        };
    }
}

/// The content of `inode` after a cut that keeps, of its unsynced operations, a prefix (the next
/// one torn at a sector boundary) or a subset (writes kept sector by sector).
fn survivors(inode: &Inode, rng: &mut Xoshiro256PlusPlus, prefix: bool, sector: usize) -> Vec<u8> {
    let mut content = inode.durable.clone();
    let n = inode.pending.len();
    let upto = if prefix { rng.random_range(0..=n) } else { n };
    for (i, op) in inode.pending.iter().enumerate().take((upto + 1).min(n)) {
        let torn = prefix && i == upto;
        match op {
            FileOp::SetLen(_) if torn => {}
            FileOp::SetLen(_) if prefix || rng.random_bool(0.5) => apply_file_op(&mut content, op),
            FileOp::SetLen(_) => {}
            FileOp::Write { at, data } => {
                let pieces = sector_pieces(*at, data.len(), sector);
                if pieces.is_empty() {
                    continue;
                }
                let kept_prefix = if torn {
                    rng.random_range(0..pieces.len())
                } else {
                    pieces.len()
                };
                for (k, &(start, len)) in pieces.iter().enumerate() {
                    let keep = if prefix {
                        k < kept_prefix
                    } else {
                        rng.random_bool(0.5)
                    };
                    if keep {
                        let from = (start - at) as usize;
                        write_bytes(&mut content, start, &data[from..from + len]);
                    }
                }
            }
        }
    }
    // The file's length may have reached the disk without (all of) its data.
    if !prefix && content.len() < inode.live.len() && rng.random_bool(0.5) {
        content.resize(inode.live.len(), 0);
    }
    content
}

/// A write of `len` bytes at `at` cut at multiples of `sector`: (offset, length) pieces.
fn sector_pieces(at: u64, len: usize, sector: usize) -> Vec<(u64, usize)> {
    let mut pieces = Vec::new();
    let end = at + len as u64;
    let mut start = at;
    while start < end {
        let next = ((start / sector as u64) + 1) * sector as u64;
        let stop = next.min(end);
        pieces.push((start, (stop - start) as usize));
        start = stop;
    }
    pieces
}

impl Disk {
    /// Counts an operation and returns the fault it must fail with, if any.
    fn begin(&mut self, name: &'static str, writes: bool) -> io::Result<()> {
        let op = self.ops;
        self.ops += 1;
        self.names.push(name);
        for rule in &self.faults {
            let hit = op >= rule.from
                && rule.until.is_none_or(|u| op < u)
                && (writes || !rule.writes_only);
            if hit {
                return Err(rule.fault.error());
            }
        }
        Ok(())
    }

    fn record(&mut self, op: TraceOp) {
        self.fs.apply(&op, false);
        self.trace.push(op);
    }
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    fn from_fs(fs: Fs) -> SimDisk {
        SimDisk {
            shared: Arc::new(Mutex::new(Disk {
                base: fs.clone(),
                fs,
                ..Disk::default()
            })),
        }
    }

    /// Mutating operations recorded so far: the length of [`SimDisk::replay`]'s trace.
    pub fn trace_len(&self) -> usize {
        self.shared.lock().trace.len()
    }

    /// A power cut now, in place: the disk keeps what survived (as [`SimDisk::crash`] chooses)
    /// and the cut is recorded in the trace, so a replay goes through it too. Files opened
    /// before it refuse every operation afterwards (their process is gone): drop every
    /// collection open on the disk before, and open it again after.
    pub fn power_cut(&self, how: Crash) {
        let mut disk = self.shared.lock();
        disk.epoch += 1;
        disk.locks.clear();
        disk.record(TraceOp::PowerCut(how));
    }

    /// Operations so far (every call into the disk counts one, reads included); the number the
    /// next one gets.
    pub fn ops(&self) -> u64 {
        self.shared.lock().ops
    }

    /// What operation number `op` was (`"write"`, `"sync_data"`, `"rename"`, …).
    pub fn op_name(&self, op: u64) -> Option<&'static str> {
        self.shared.lock().names.get(op as usize).copied()
    }

    /// Makes operation number `op` (as counted by [`SimDisk::ops`]) fail with `fault`.
    pub fn fail_op(&self, op: u64, fault: Fault) {
        self.shared.lock().faults.push(FaultRule {
            from: op,
            until: Some(op + 1),
            fault,
            writes_only: false,
        });
    }

    /// From operation number `op` on, every operation that needs space (creating, writing,
    /// growing a file, renaming, syncing) fails with `ENOSPC`, like a full disk, until
    /// [`SimDisk::clear_faults`]; reads, removals and cutting a file still work.
    pub fn fill_from(&self, op: u64) {
        self.shared.lock().faults.push(FaultRule {
            from: op,
            until: None,
            fault: Fault::NoSpace,
            writes_only: true,
        });
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// A replay of everything recorded on this disk so far, positioned before its first
    /// operation.
    pub fn replay(&self) -> Replay {
        let disk = self.shared.lock();
        Replay {
            trace: Arc::new(disk.trace.clone()),
            fs: disk.base.clone(),
            pos: 0,
            skipped_sync: None,
            syncs_seen: 0,
        }
    }

    /// A power cut now: a new disk holding what survived.
    pub fn crash(&self, how: Crash) -> SimDisk {
        SimDisk::from_fs(self.shared.lock().fs.crash(how))
    }

    /// The live content of the files in `dir`, by name.
    pub fn files(&self, dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let disk = self.shared.lock();
        disk.fs
            .live
            .iter()
            .filter(|(p, _)| parent(p) == dir)
            .map(|(p, &ino)| (file_name(p), disk.fs.inodes[ino].live.clone()))
            .collect()
    }

    /// A hash of the names and contents of every file (live view): equal for equal disks.
    pub fn fingerprint(&self) -> u64 {
        let disk = self.shared.lock();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (path, &ino) in &disk.fs.live {
            path.hash(&mut h);
            disk.fs.inodes[ino].live.hash(&mut h);
        }
        h.finish()
    }

    fn op<T>(
        &self,
        name: &'static str,
        writes: bool,
        f: impl FnOnce(&mut Disk) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut disk = self.shared.lock();
        disk.begin(name, writes)?;
        f(&mut disk)
    }
}

/// Opens (or creates) the collection in `dir` on `disk`, as [`Collection::open`] does on the real
/// file system.
///
/// # Errors
///
/// As [`Collection::open`].
pub fn open(disk: &SimDisk, dir: &Path, options: CollectionOptions) -> Result<Collection> {
    Collection::open_on(Arc::new(disk.clone()), dir, options)
}

/// Opens the collection in `dir` on `disk` read-only, as [`Collection::open_read_only`].
///
/// # Errors
///
/// As [`Collection::open_read_only`].
pub fn open_read_only(disk: &SimDisk, dir: &Path) -> Result<Collection> {
    Collection::open_read_only_on(Arc::new(disk.clone()), dir)
}

/// A file open on a [`SimDisk`].
#[derive(Debug)]
struct SimFile {
    disk: SimDisk,
    ino: usize,
    path: PathBuf,
    epoch: u64,
}

/// The error of a file opened before a power cut.
fn gone() -> io::Error {
    io::Error::other("the power went out after this file was opened (simulated)")
}

impl SimFile {
    /// As [`SimDisk::op`], for a file that must still exist (opened since the last power cut).
    fn op<T>(
        &self,
        name: &'static str,
        writes: bool,
        f: impl FnOnce(&mut Disk) -> io::Result<T>,
    ) -> io::Result<T> {
        let epoch = self.epoch;
        self.disk.op(name, writes, |d| {
            if d.epoch != epoch {
                return Err(gone());
            }
            f(d)
        })
    }
}

#[derive(Debug)]
struct SimLock {
    disk: SimDisk,
    path: PathBuf,
    epoch: u64,
}

impl LockGuard for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut disk = self.disk.shared.lock();
        // A power cut released every lock; a later holder's is not ours to release.
        if disk.epoch == self.epoch {
            disk.locks.remove(&self.path);
        }
    }
}

impl Vfs for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.op("create_dir_all", true, |d| {
            if !d.fs.dirs.contains(dir) {
                for a in dir.ancestors() {
                    if !a.as_os_str().is_empty() && !d.fs.dirs.contains(a) {
                        d.record(TraceOp::Mkdir(a.to_path_buf()));
                    }
                }
            }
            Ok(())
        })
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let ino = self.op("create_new", true, |d| {
            d.fs.check_dir(path)?;
            if d.fs.live.contains_key(path) || d.fs.dirs.contains(path) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists (simulated)", path.display()),
                ));
            }
            d.record(TraceOp::Create(path.to_path_buf()));
            Ok((d.fs.inodes.len() - 1, d.epoch))
        })?;
        Ok(Box::new(SimFile {
            disk: self.clone(),
            ino: ino.0,
            path: path.to_path_buf(),
            epoch: ino.1,
        }))
    }

    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let (ino, epoch) = self.op("open", false, |d| Ok((d.fs.ino(path)?, d.epoch)))?;
        Ok(Box::new(SimFile {
            disk: self.clone(),
            ino,
            path: path.to_path_buf(),
            epoch,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.op("read", false, |d| {
            if d.fs.dirs.contains(path) {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory (simulated)",
                ));
            }
            let ino = d.fs.ino(path)?;
            Ok(d.fs.inodes[ino].live.clone())
        })
    }

    fn map(&self, path: &Path) -> io::Result<Mapped> {
        let bytes = self.read(path)?;
        Ok(Box::new(AlignedBytes::copy(&bytes)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.op("rename", true, |d| {
            d.fs.ino(from)?;
            d.fs.check_dir(to)?;
            d.record(TraceOp::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
            });
            Ok(())
        })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.op("remove", false, |d| {
            d.fs.ino(path)?;
            d.record(TraceOp::Remove(path.to_path_buf()));
            Ok(())
        })
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.shared.lock();
        let what = disk.fs.pending_of(dir);
        let result = disk.begin("sync_dir", true);
        if !disk.fs.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        disk.record(TraceOp::SyncDir {
            dir: dir.to_path_buf(),
            ok: result.is_ok(),
            what,
        });
        result
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        self.op("list", false, |d| {
            if !d.fs.dirs.contains(dir) {
                return Err(not_found(dir));
            }
            Ok(d.fs
                .live
                .keys()
                .filter(|p| parent(p) == dir)
                .filter_map(|p| p.file_name().map(|n| n.to_os_string()))
                .collect())
        })
    }

    fn lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        self.op("lock", false, |d| {
            d.fs.check_dir(path)?;
            if !d.locks.insert(path.to_path_buf()) {
                return Ok(None);
            }
            if !d.fs.live.contains_key(path) {
                d.record(TraceOp::Create(path.to_path_buf()));
            }
            Ok(Some(Box::new(SimLock {
                disk: self.clone(),
                path: path.to_path_buf(),
                epoch: d.epoch,
            }) as Box<dyn LockGuard>))
        })
    }
}

impl VfsFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        self.op(
            "len",
            false,
            |d| Ok(d.fs.inodes[self.ino].live.len() as u64),
        )
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.op("read_at", false, |d| {
            let live = &d.fs.inodes[self.ino].live;
            let start = (offset as usize).min(live.len());
            let n = buf.len().min(live.len() - start);
            buf[..n].copy_from_slice(&live[start..start + n]);
            Ok(n)
        })
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut disk = self.disk.shared.lock();
        if disk.epoch != self.epoch {
            return Err(gone());
        }
        if let Err(e) = disk.begin("write", true) {
            // A write that fails part-way may leave its first sectors written.
            let part = (bytes.len() / 2) / 512 * 512;
            if part > 0 {
                disk.record(TraceOp::Write {
                    ino: self.ino,
                    at: offset,
                    data: bytes[..part].into(),
                });
            }
            return Err(e);
        }
        disk.record(TraceOp::Write {
            ino: self.ino,
            at: offset,
            data: bytes.into(),
        });
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        // Only growing a file needs space: a full disk still lets a file be cut.
        let grows = {
            let d = self.disk.shared.lock();
            len > d.fs.inodes[self.ino].live.len() as u64
        };
        self.op("set_len", grows, |d| {
            d.record(TraceOp::SetLen { ino: self.ino, len });
            Ok(())
        })
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut disk = self.disk.shared.lock();
        if disk.epoch != self.epoch {
            return Err(gone());
        }
        let result = disk.begin("sync_data", true);
        let what = disk.fs.names_of(self.ino);
        let what = if what.is_empty() {
            kind_of(&file_name(&self.path))
        } else {
            what
        };
        disk.record(TraceOp::SyncFile {
            ino: self.ino,
            ok: result.is_ok(),
            what,
        });
        result
    }
}

/// One sync of a trace (see [`Replay::syncs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncPoint {
    /// Its position in the trace: the replay has applied it once [`Replay::position`] is past it.
    pub position: usize,
    /// Which sync of the trace it is (0 for the first).
    pub number: usize,
    /// What it syncs: `file <kinds>` or `directory <kinds of the names it makes durable>`.
    pub what: String,
}

/// Re-applies the trace of a [`SimDisk`] one operation at a time, and builds the disk a power cut
/// at the current position leaves (see the module docs).
#[derive(Clone, Debug)]
pub struct Replay {
    trace: Arc<Vec<TraceOp>>,
    fs: Fs,
    pos: usize,
    skipped_sync: Option<usize>,
    syncs_seen: usize,
}

impl Replay {
    /// The number of operations in the trace.
    pub fn len(&self) -> usize {
        self.trace.len()
    }

    /// Whether the trace is empty.
    pub fn is_empty(&self) -> bool {
        self.trace.is_empty()
    }

    /// How many operations have been applied.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Treats sync number `number` (of [`Replay::syncs`]) as if it had done nothing. Call before
    /// the replay reaches it.
    pub fn skip_sync(&mut self, number: usize) {
        self.skipped_sync = Some(number);
    }

    /// Every sync of the trace, successful or not, in order.
    pub fn syncs(&self) -> Vec<SyncPoint> {
        self.trace
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                TraceOp::SyncFile { what, .. } => Some((i, format!("file {what}"))),
                TraceOp::SyncDir { what, .. } => Some((i, format!("directory: {what}"))),
                _ => None,
            })
            .enumerate()
            .map(|(number, (position, what))| SyncPoint {
                position,
                number,
                what,
            })
            .collect()
    }

    /// Applies the next operation; `false` at the end of the trace.
    pub fn step(&mut self) -> bool {
        let Some(op) = self.trace.get(self.pos) else {
            return false;
        };
        let is_sync = matches!(op, TraceOp::SyncFile { .. } | TraceOp::SyncDir { .. });
        let skip = is_sync && self.skipped_sync == Some(self.syncs_seen);
        self.syncs_seen += is_sync as usize;
        self.fs.apply(op, skip);
        self.pos += 1;
        true
    }

    /// Directory operations not yet synced at the current position.
    pub fn pending_dir_ops(&self) -> usize {
        self.fs.pending.len()
    }

    /// File operations (writes, truncations) not yet synced at the current position, over all
    /// files.
    pub fn pending_file_ops(&self) -> usize {
        self.fs.inodes.iter().map(|i| i.pending.len()).sum()
    }

    /// Whether the operation just applied was a power cut.
    pub fn at_power_cut(&self) -> bool {
        self.pos > 0 && matches!(self.trace[self.pos - 1], TraceOp::PowerCut(_))
    }

    /// Whether anything at all is unsynced at the current position (a file write or a directory
    /// operation): when not, every [`Crash`] leaves the same disk.
    pub fn has_unsynced(&self) -> bool {
        !self.fs.pending.is_empty() || self.fs.inodes.iter().any(|i| !i.pending.is_empty())
    }

    /// The disk a power cut at the current position leaves.
    pub fn crash(&self, how: Crash) -> SimDisk {
        SimDisk::from_fs(self.fs.crash(how))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/d")
    }

    #[test]
    fn unsynced_data_and_names_are_lost_and_synced_ones_kept() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        let a = dir().join("a");
        let mut f = disk.create_new(&a).unwrap();
        f.write_at(0, b"hello").unwrap();
        f.sync_data().unwrap();
        // Data synced, name not: a cut loses the file.
        assert!(disk.crash(Crash::SyncedOnly).files(&dir()).is_empty());
        assert_eq!(disk.crash(Crash::Everything).files(&dir())["a"], b"hello");
        disk.sync_dir(&dir()).unwrap();
        f.write_at(5, b" world").unwrap();
        let cut = disk.crash(Crash::SyncedOnly).files(&dir());
        assert_eq!(cut["a"], b"hello");
        assert_eq!(disk.files(&dir())["a"], b"hello world");
        // A rename without a directory sync may or may not survive; one pending op at a time.
        disk.rename(&a, &dir().join("b")).unwrap();
        assert_eq!(
            disk.crash(Crash::SyncedOnly)
                .files(&dir())
                .keys()
                .collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(
            disk.crash(Crash::OneDirOp(0))
                .files(&dir())
                .keys()
                .collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn random_cuts_tear_writes_at_sector_boundaries_and_keep_synced_bytes() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        let mut f = disk.create_new(&dir().join("f")).unwrap();
        f.write_at(0, &[1u8; 1000]).unwrap();
        f.sync_data().unwrap();
        disk.sync_dir(&dir()).unwrap();
        f.write_at(1000, &[2u8; 9000]).unwrap();
        let mut seen = HashSet::new();
        for seed in 0..400 {
            let files = disk.crash(Crash::Random(seed)).files(&dir());
            let content = &files["f"];
            assert!(content.len() >= 1000);
            assert!(
                content[..1000].iter().all(|&b| b == 1),
                "synced bytes changed"
            );
            // Every byte after the synced ones is new data or zeros, and changes only at
            // sector boundaries.
            for (i, w) in content[1000..].windows(2).enumerate() {
                let at = 1000 + i + 1;
                if w[0] != w[1] {
                    assert!(at % 512 == 0 || at == 1000, "torn inside a sector at {at}");
                }
            }
            seen.insert(content.clone());
        }
        assert!(seen.len() > 20, "only {} distinct outcomes", seen.len());
    }

    #[test]
    fn replay_rebuilds_every_prefix_and_can_skip_a_sync() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        let mut f = disk.create_new(&dir().join("f")).unwrap();
        f.write_at(0, b"abc").unwrap();
        f.sync_data().unwrap();
        disk.sync_dir(&dir()).unwrap();
        let mut r = disk.replay();
        assert_eq!(r.syncs().len(), 2);
        while r.step() {}
        assert_eq!(r.crash(Crash::SyncedOnly).files(&dir())["f"], b"abc");
        let mut r = disk.replay();
        r.skip_sync(1);
        while r.step() {}
        assert!(r.crash(Crash::SyncedOnly).files(&dir()).is_empty());
        let mut r = disk.replay();
        r.skip_sync(0);
        while r.step() {}
        assert_eq!(r.crash(Crash::SyncedOnly).files(&dir())["f"], b"");
    }

    #[test]
    fn faults_fail_the_chosen_operations_and_a_failed_sync_loses_the_writes() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        let mut f = disk.create_new(&dir().join("f")).unwrap();
        disk.sync_dir(&dir()).unwrap();
        f.write_at(0, b"abc").unwrap();
        disk.fail_op(disk.ops(), Fault::Io);
        assert!(f.sync_data().is_err());
        // The next sync succeeds, but the writes the failed one dropped stay lost.
        f.sync_data().unwrap();
        assert_eq!(disk.files(&dir())["f"], b"abc");
        assert_eq!(disk.crash(Crash::SyncedOnly).files(&dir())["f"], b"");
        disk.fill_from(disk.ops());
        let e = f.write_at(3, b"d").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(
            disk.read(&dir().join("f")).is_ok(),
            "reads work on a full disk"
        );
        disk.clear_faults();
        f.write_at(3, b"d").unwrap();
    }

    #[test]
    fn locks_exclude_until_dropped() {
        let disk = SimDisk::new();
        disk.create_dir_all(&dir()).unwrap();
        let lock = disk.lock(&dir().join("LOCK")).unwrap();
        assert!(lock.is_some());
        assert!(disk.lock(&dir().join("LOCK")).unwrap().is_none());
        drop(lock);
        assert!(disk.lock(&dir().join("LOCK")).unwrap().is_some());
    }
}
