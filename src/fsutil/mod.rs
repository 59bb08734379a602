//! Everything a collection does to its directory, behind one small trait ([`Vfs`]), with the real
//! file system ([`RealFs`]) as the implementation every public entry point uses and a simulated
//! disk (`crate::sim`, for tests that cut the power at any operation).
//!
//! On top of the trait: atomic, durable replacement of a file ([`write_atomic`],
//! [`replace_with`]), reading a file that may be absent, clearing temporary files, and the rule
//! for file names a manifest may hold. The one `memmap2::Mmap::map` of the crate is here
//! ([`map_file`]).
//!
//! Searches never go through the trait: a sealed segment is mapped (or, on the simulated disk,
//! copied) once when it is opened, and queries read those bytes. Only writes, opens and flushes
//! pay for one dynamic call per file operation, next to a system call.
//!
//! Every I/O error is returned as [`Error::Io`] with the path it concerns.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes of a file mapped (or read) for a segment; they never change while held.
pub(crate) type Mapped = Box<dyn AsRef<[u8]> + Send + Sync>;

/// Holding one keeps a lock taken with [`Vfs::lock`]; dropping it releases the lock.
pub(crate) trait LockGuard: Send + Sync + std::fmt::Debug {}

/// The file operations of a collection. Paths are full paths (directory joined with a name).
///
/// The contract is POSIX's, and the simulated disk keeps only what POSIX promises after a power
/// loss: data written to a file is durable after [`VfsFile::sync_data`] on it; a creation, rename
/// or removal is durable after [`Vfs::sync_dir`] on its directory; nothing else is ordered.
pub(crate) trait Vfs: Send + Sync + std::fmt::Debug {
    /// Creates `dir` and its parents when absent.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates the file `path`, which must not exist, open for writing (and reading).
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// Opens the existing file `path` for reading and writing.
    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn VfsFile>>;
    /// The whole content of the file `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The bytes of the file `path` for a segment: mapped read-only by the real file system.
    fn map(&self, path: &Path) -> io::Result<Mapped>;
    /// Renames `from` over `to` (atomically replacing `to` when it exists).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries of `dir` (files only matter; order unspecified).
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Takes an exclusive lock on the file `path` (created when absent) without waiting:
    /// `Ok(None)` when another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>>;
}

/// An open file of a [`Vfs`].
pub(crate) trait VfsFile: Send + Sync + std::fmt::Debug {
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at the end).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes all of `bytes` at `offset`, extending the file when it goes past the end. An
    /// append is a write at the file's length (the log knows its length).
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes the file's data (and its length) durable: `fdatasync`.
    fn sync_data(&mut self) -> io::Result<()>;
}

/// The real file system (`std::fs`, `memmap2`): what every collection opened through the public
/// API uses.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RealFs;

/// A file of [`RealFs`].
#[derive(Debug)]
struct RealFile(File);

/// A lock of [`RealFs`]: an exclusive `flock` on an open file, released when dropped.
#[derive(Debug)]
struct RealLock(File);

impl LockGuard for RealLock {}

impl Drop for RealLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes it explicit. An error
        // here cannot be acted upon and the close that follows releases the lock anyway.
        let _ = self.0.unlock();
    }
}

impl Vfs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut file = open_file(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn map(&self, path: &Path) -> io::Result<Mapped> {
        Ok(Box::new(map_file(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    #[cfg(unix)]
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    /// A no-op off Unix: Windows cannot open a directory for syncing through std, and NTFS
    /// journals its metadata.
    #[cfg(not(unix))]
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect()
    }

    fn lock(&self, path: &Path) -> io::Result<Option<Box<dyn LockGuard>>> {
        // Not truncated on open: until we hold the lock, the content belongs to the holder.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        // The holder's pid, for humans; never read back.
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)?;
        file.write_all(pid.as_bytes())?;
        Ok(Some(Box::new(RealLock(file))))
    }
}

impl VfsFile for RealFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, offset)
    }

    #[cfg(windows)]
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(&self.0, buf, offset)
    }

    #[cfg(not(any(unix, windows)))]
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut f = &self.0;
        f.seek(SeekFrom::Start(offset))?;
        f.read(buf)
    }

    #[cfg(unix)]
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, bytes, offset)
    }

    #[cfg(not(unix))]
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.write_all(bytes)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

/// Opens `path` for reading, refusing a directory with an error that says so (on Linux a
/// directory opens fine and only fails later, as `ENODEV` from `mmap` or `EISDIR` from `read`).
///
/// # Errors
///
/// The open's error; `ErrorKind::IsADirectory` for a directory.
pub(crate) fn open_file(path: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory, not a stratavec file",
        ));
    }
    Ok(file)
}

/// Maps the file at `path` read-only: the one place the crate creates a memory map.
///
/// # Errors
///
/// As [`open_file`], and the map's error.
pub(crate) fn map_file(path: &Path) -> io::Result<memmap2::Mmap> {
    let file = open_file(path)?;
    // SAFETY: the map is read-only and stratavec files that are mapped (segments) are immutable
    // by contract: written to a temporary name, synced, renamed, and never modified after. A
    // process that truncates a mapped file behind stratavec's back can make reads fault — as with
    // every mmap-based database; documented in docs/file-format.md.
    let map = unsafe { memmap2::Mmap::map(&file) }?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}

/// At least this many bytes of memory are asked for as huge pages ([`huge_zeroed`]).
const HUGE_PAGE_MIN_BYTES: usize = 2 << 20;

/// `len` zeroed bytes of anonymous memory, starting on a page boundary, advised as transparent
/// huge pages when `len` is at least 2 MiB (where the kernel offers them: `madvise` mode). Blocks
/// a search reads in random order (one-visit blocks, a loaded segment) then cost one TLB entry per
/// 2 MiB instead of per 4 KiB. `None` when the mapping fails (the caller falls back to the heap).
pub(crate) fn huge_zeroed(len: usize) -> Option<memmap2::MmapMut> {
    if len < HUGE_PAGE_MIN_BYTES {
        return None;
    }
    let map = memmap2::MmapMut::map_anon(len).ok()?;
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    Some(map)
}

/// `Write + Seek` over a [`VfsFile`] (each write is one [`VfsFile::write_at`]): how the segment
/// writer streams a file through the trait. Wrap it in a `BufWriter`.
#[derive(Debug)]
pub(crate) struct FileCursor {
    file: Box<dyn VfsFile>,
    pos: u64,
}

impl FileCursor {
    /// A cursor at offset 0 of `file`.
    pub(crate) fn new(file: Box<dyn VfsFile>) -> FileCursor {
        FileCursor { file, pos: 0 }
    }

    /// The file, for syncing.
    pub(crate) fn file_mut(&mut self) -> &mut dyn VfsFile {
        &mut *self.file
    }
}

impl Write for FileCursor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_at(self.pos, buf)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for FileCursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(at) => {
                self.pos = at;
                return Ok(at);
            }
            SeekFrom::Current(d) => (self.pos, d),
            SeekFrom::End(d) => (self.file.len()?, d),
        };
        self.pos = base
            .checked_add_signed(delta)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

/// `Read` over a [`VfsFile`] from offset 0 (each read is one [`VfsFile::read_at`]).
pub(crate) struct FileReader<'a> {
    file: &'a dyn VfsFile,
    pos: u64,
}

impl<'a> FileReader<'a> {
    /// A reader at offset 0 of `file`.
    pub(crate) fn new(file: &'a dyn VfsFile) -> FileReader<'a> {
        FileReader { file, pos: 0 }
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Whether a replacement syncs the directory itself ([`DirSync::Now`]), or leaves that to the
/// caller, who replaces several files and syncs the directory once for all of them
/// ([`DirSync::Caller`]) before anything that depends on their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DirSync {
    /// Sync the directory after the rename: the new name is durable when the call returns.
    Now,
    /// Do not: the caller calls [`Vfs::sync_dir`] before it relies on the name.
    Caller,
}

/// Where and how a file is replaced: the file system, and who syncs the directory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Replacement<'a> {
    /// The file system.
    pub vfs: &'a dyn Vfs,
    /// Whether the replacement syncs the directory itself.
    pub dir_sync: DirSync,
}

impl Replacement<'static> {
    /// On the real file system, the name durable when the replacement returns: what a user's
    /// `Index::save` does.
    pub(crate) fn durable() -> Replacement<'static> {
        Replacement {
            vfs: &RealFs,
            dir_sync: DirSync::Now,
        }
    }
}

/// How far a failed replacement got.
#[derive(Debug)]
pub(crate) struct ReplaceError {
    /// What failed.
    pub error: Error,
    /// `false`: the failure came before the rename, so the old file (or none) is in place and
    /// stays. `true`: the rename was attempted (and may have happened) or the directory sync after
    /// it failed: after a crash either the old or the new file may be found under the name, and
    /// the new one may be the one in place now.
    pub uncertain: bool,
}

impl From<ReplaceError> for Error {
    fn from(e: ReplaceError) -> Error {
        e.error
    }
}

/// The infix of the temporary files [`write_atomic`] writes: `<name>.tmp-<16 hex digits>`.
pub(crate) const TEMP_INFIX: &str = ".tmp-";

/// The longest file name [`is_plain_file_name`] accepts, in bytes.
pub(crate) const MAX_FILE_NAME_LEN: usize = 255;

/// Replaces the file at `path` with `bytes`, atomically and durably ([`replace_with`]).
///
/// # Errors
///
/// As [`replace_with`].
pub(crate) fn write_atomic(
    vfs: &dyn Vfs,
    path: &Path,
    bytes: &[u8],
    dir_sync: DirSync,
) -> Result<(), ReplaceError> {
    replace_with(vfs, path, dir_sync, |file, tmp| {
        file.write_all(bytes).map_err(|e| Error::io(tmp, e))
    })
}

/// Replaces the file at `path` with what `write` streams into a fresh temporary file (given with
/// its path, for errors; each `write` call on it is one [`VfsFile::write_at`], so buffer small
/// writes), atomically and durably.
///
/// Creates `path.tmp-<random>` in the same directory, lets `write` fill it, syncs it
/// (`fdatasync`), renames it over `path` and, with [`DirSync::Now`], syncs the directory. A crash
/// at any point leaves either the old file (or none) or the complete new one under `path`, never
/// a mix; at worst a stray temporary file remains, which [`remove_temp_files`] clears. With
/// [`DirSync::Now`], when this returns `Ok` the new content and its name are on stable storage;
/// with [`DirSync::Caller`] the content is, and the name is once the caller syncs the directory.
///
/// Cost: one write of the content, one `fdatasync`, one rename, and one directory sync with
/// [`DirSync::Now`].
///
/// # Errors
///
/// [`Error::Io`] for any failure (the temporary file is removed on a failure before the rename),
/// and whatever `write` returns; [`Error::InvalidParameter`] when `path` has no file name.
/// [`ReplaceError::uncertain`] says whether the failure came at or after the rename.
pub(crate) fn replace_with<T>(
    vfs: &dyn Vfs,
    path: &Path,
    dir_sync: DirSync,
    write: impl FnOnce(&mut FileCursor, &Path) -> Result<T>,
) -> Result<T, ReplaceError> {
    let early = |error| ReplaceError {
        error,
        uncertain: false,
    };
    let name = path.file_name().ok_or_else(|| {
        early(Error::invalid_parameter(
            "path",
            format!("{} has no file name", path.display()),
        ))
    })?;
    let dir = parent_dir(path);
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!("{TEMP_INFIX}{:016x}", rand::random::<u64>()));
    let tmp = dir.join(tmp_name);

    let mut renamed = false;
    let written = (|| {
        let file = vfs.create_new(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut cursor = FileCursor::new(file);
        let out = write(&mut cursor, &tmp)?;
        cursor
            .file_mut()
            .sync_data()
            .map_err(|e| Error::io(&tmp, e))?;
        drop(cursor);
        renamed = true;
        vfs.rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(out)
    })();
    let out = match written {
        Ok(out) => out,
        Err(error) => {
            if !renamed {
                // Best effort: the error that matters is the one being returned.
                let _ = vfs.remove(&tmp);
            }
            return Err(ReplaceError {
                error,
                uncertain: renamed,
            });
        }
    };
    if dir_sync == DirSync::Now {
        vfs.sync_dir(dir).map_err(|e| ReplaceError {
            error: Error::io(dir, e),
            uncertain: true,
        })?;
    }
    Ok(out)
}

/// [`Vfs::sync_dir`] with the error naming the directory.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be opened or synced.
pub(crate) fn sync_dir(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    vfs.sync_dir(dir).map_err(|e| Error::io(dir, e))
}

/// The directory holding `path`; `.` for a bare file name.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The whole content of `path`, or `None` when the file does not exist.
///
/// # Errors
///
/// [`Error::Io`] for any failure other than the file being absent.
pub(crate) fn read_optional(vfs: &dyn Vfs, path: &Path) -> Result<Option<Vec<u8>>> {
    match vfs.read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Removes the temporary files a crashed [`write_atomic`] may have left in `dir`
/// (`<name>.tmp-<16 hex digits>`); returns how many it removed.
///
/// The removals are not synced: a temporary file that comes back after a crash is removed again
/// at the next open, and no other file depends on its absence.
///
/// Only the writer (the holder of the collection's lock) may call this: a temporary file of a
/// write in progress would be removed too.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be listed or a file cannot be removed.
pub(crate) fn remove_temp_files(vfs: &dyn Vfs, dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for name in vfs.list(dir).map_err(|e| Error::io(dir, e))? {
        let Some(name) = name.to_str() else { continue };
        if is_temp_name(name) {
            let path = dir.join(name);
            match vfs.remove(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
    }
    Ok(removed)
}

/// Whether `name` is a temporary file name of [`write_atomic`].
fn is_temp_name(name: &str) -> bool {
    match name.rfind(TEMP_INFIX) {
        Some(at) => {
            let suffix = &name[at + TEMP_INFIX.len()..];
            at > 0 && suffix.len() == 16 && suffix.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Whether `name` may name a file inside a collection directory: 1 to [`MAX_FILE_NAME_LEN`]
/// bytes of ASCII letters, digits, `-`, `_` and `.`, not starting with `.` and without `..`.
///
/// This refuses path separators, `.` and `..`, hidden files, NUL and anything a platform might
/// read specially, so a name from a (possibly hostile) manifest can only point inside its
/// directory.
pub(crate) fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_LEN
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests;
