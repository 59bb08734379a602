//! The [`SimDisk`] behind the collection's file-system trait (`fsutil::Vfs`): files and locks.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use super::fs::{kind_of, not_found};
use super::*;

/// A file open on a [`SimDisk`].
#[derive(Debug)]
pub(super) struct SimFile {
    pub(super) disk: SimDisk,
    pub(super) ino: usize,
    pub(super) path: PathBuf,
    pub(super) epoch: u64,
}

/// The error of a file opened before a power cut.
pub(super) fn gone() -> io::Error {
    io::Error::other("the power went out after this file was opened (simulated)")
}

impl SimFile {
    /// As [`SimDisk::op`], for a file that must still exist (opened since the last power cut).
    pub(super) fn op<T>(
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
pub(super) struct SimLock {
    pub(super) disk: SimDisk,
    pub(super) path: PathBuf,
    pub(super) epoch: u64,
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
