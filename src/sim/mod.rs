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

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::collection::{Collection, CollectionOptions};
use crate::error::Result;
use crate::fsutil::{LockGuard, Mapped, Vfs, VfsFile};
use crate::segment::AlignedBytes;

mod fs;
mod replay;
#[cfg(test)]
mod tests;
mod vfs;

use fs::{file_name, parent, Fs, TraceOp};
pub use replay::{Replay, SyncPoint};

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
