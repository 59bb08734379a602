//! The simulated file system: inodes, live and durable names, the operations not yet synced,
//! and what a power cut leaves of them.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;

/// The file system: inodes, names (live and durable) and the directory operations not yet synced.
#[derive(Clone, Debug, Default)]
pub(super) struct Fs {
    pub(super) inodes: Vec<Inode>,
    pub(super) live: BTreeMap<PathBuf, usize>,
    pub(super) durable: BTreeMap<PathBuf, usize>,
    pub(super) pending: Vec<DirOp>,
    pub(super) dirs: BTreeSet<PathBuf>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Inode {
    pub(super) live: Vec<u8>,
    pub(super) durable: Vec<u8>,
    pub(super) pending: Vec<FileOp>,
}

#[derive(Clone, Debug)]
pub(super) enum FileOp {
    Write { at: u64, data: Arc<[u8]> },
    SetLen(u64),
}

/// One directory operation: the names it sets (`None` removes), applied together (a rename sets
/// two names at once).
#[derive(Clone, Debug)]
pub(super) struct DirOp {
    pub(super) dir: PathBuf,
    pub(super) names: Vec<(PathBuf, Option<usize>)>,
}

/// A mutating operation, as recorded in the trace and re-applied by a [`Replay`].
#[derive(Clone, Debug)]
pub(super) enum TraceOp {
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

pub(super) fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found (simulated)", path.display()),
    )
}

pub(super) fn parent(path: &Path) -> PathBuf {
    crate::fsutil::parent_dir(path).to_path_buf()
}

/// `name` with the random part of a temporary file's name and the hex digits of segment names
/// replaced, so the syncs of a trace can be grouped by what they are for.
pub(super) fn kind_of(name: &str) -> String {
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

pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

impl Inode {
    pub(super) fn apply_live(&mut self, op: &FileOp) {
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
    pub(super) fn ino(&self, path: &Path) -> io::Result<usize> {
        self.live.get(path).copied().ok_or_else(|| not_found(path))
    }

    pub(super) fn check_dir(&self, path: &Path) -> io::Result<()> {
        if self.dirs.contains(&parent(path)) {
            Ok(())
        } else {
            Err(not_found(&parent(path)))
        }
    }

    /// Names (live) of `ino`, as kinds, for the description of a sync.
    pub(super) fn names_of(&self, ino: usize) -> String {
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
    pub(super) fn pending_of(&self, dir: &Path) -> String {
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

    pub(super) fn set_names(&mut self, dir: PathBuf, names: Vec<(PathBuf, Option<usize>)>) {
        for (path, ino) in &names {
            match ino {
                Some(i) => self.live.insert(path.clone(), *i),
                None => self.live.remove(path),
            };
        }
        self.pending.push(DirOp { dir, names });
    }

    /// Applies one traced operation (`skip`: a sync that does nothing).
    pub(super) fn apply(&mut self, op: &TraceOp, skip: bool) {
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
    pub(super) fn crash(&self, how: Crash) -> Fs {
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
