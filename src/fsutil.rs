//! File-system helpers of the collection: atomic, durable replacement of a file, directory fsync,
//! reading a file that may be absent, and the rule for file names a manifest may hold.
//!
//! Every I/O error is returned as [`Error::Io`] with the path it concerns.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Fault injection for tests: writes left before every write fails (`u64::MAX`: never).
static WRITES_BEFORE_FAULT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Called before each write of the collection's files (a WAL append, the content of a file
/// written by [`replace_with`]): an injected "no space left on device" once the countdown set by
/// [`fault::fail_writes_after`] runs out, else `Ok`. One relaxed load when no fault is armed.
pub(crate) fn write_fault() -> io::Result<()> {
    let left = WRITES_BEFORE_FAULT.load(Ordering::Relaxed);
    if left == u64::MAX {
        return Ok(());
    }
    if left == 0 {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            "no space left on device (injected by stratavec::__fault)",
        ));
    }
    // A write racing with another may count once too few; tests arm faults around one writer.
    WRITES_BEFORE_FAULT.store(left - 1, Ordering::Relaxed);
    Ok(())
}

/// Test hooks that make the collection's writes fail like a full disk. Process-wide: a test that
/// arms one must not share its process with other writing tests (give it its own `tests/` file).
pub mod fault {
    use super::{Ordering, WRITES_BEFORE_FAULT};

    /// After `n` more writes succeed, every write of a collection file fails with
    /// `ErrorKind::StorageFull` until [`clear`] is called (a full disk stays full).
    pub fn fail_writes_after(n: u64) {
        WRITES_BEFORE_FAULT.store(n.min(u64::MAX - 1), Ordering::Relaxed);
    }

    /// Disarms the fault: writes succeed again.
    pub fn clear() {
        WRITES_BEFORE_FAULT.store(u64::MAX, Ordering::Relaxed);
    }
}

/// The infix of the temporary files [`write_atomic`] writes: `<name>.tmp-<16 hex digits>`.
pub(crate) const TEMP_INFIX: &str = ".tmp-";

/// The longest file name [`is_plain_file_name`] accepts, in bytes.
pub(crate) const MAX_FILE_NAME_LEN: usize = 255;

/// Replaces the file at `path` with `bytes`, atomically and durably.
///
/// Writes `path.tmp-<random>` in the same directory, `sync_all`s it, renames it over `path` and
/// then fsyncs the directory. A crash at any point leaves either the old file (or none) or the
/// complete new one under `path`, never a mix; at worst a stray temporary file remains, which
/// [`remove_temp_files`] clears. When this returns `Ok`, the new content and its name are on
/// stable storage.
///
/// Cost: one write of `bytes.len()` bytes and two fsyncs.
///
/// # Errors
///
/// [`Error::Io`] for any failure (the temporary file is removed on a failure before the rename);
/// [`Error::InvalidParameter`] when `path` has no file name.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_with(path, |file, tmp| {
        file.write_all(bytes).map_err(|e| Error::io(tmp, e))
    })
}

/// [`write_atomic`] for content that is streamed: `write` fills the fresh temporary file (given
/// with its path, for errors); then it is synced, renamed over `path`, and the directory synced.
///
/// # Errors
///
/// As [`write_atomic`], and whatever `write` returns.
pub(crate) fn replace_with<T>(
    path: &Path,
    write: impl FnOnce(&mut File, &Path) -> Result<T>,
) -> Result<T> {
    let name = path.file_name().ok_or_else(|| {
        Error::invalid_parameter("path", format!("{} has no file name", path.display()))
    })?;
    let dir = parent_dir(path);
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!("{TEMP_INFIX}{:016x}", rand::random::<u64>()));
    let tmp = dir.join(tmp_name);

    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        write_fault().map_err(|e| Error::io(&tmp, e))?;
        let out = write(&mut file, &tmp)?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(out)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&tmp);
    }
    let out = written?;
    sync_dir(dir)?;
    Ok(out)
}

/// Makes the directory's entries (creations, renames, removals) durable: fsync of the directory.
///
/// On platforms other than Unix this does nothing (Windows cannot open a directory for syncing
/// through std; NTFS journals its metadata).
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be opened or synced.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Makes the directory's entries durable; a no-op off Unix (see the Unix version).
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
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
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Removes the temporary files a crashed [`write_atomic`] may have left in `dir`
/// (`<name>.tmp-<16 hex digits>`); returns how many it removed.
///
/// Only the writer (the holder of the collection's lock) may call this: a temporary file of a
/// write in progress would be removed too.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be listed or a file cannot be removed.
pub(crate) fn remove_temp_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_temp_name(name) {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
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
mod tests {
    use super::*;

    #[test]
    fn write_atomic_creates_and_replaces_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("MANIFEST");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        write_atomic(&path, b"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["MANIFEST"]);
    }

    #[test]
    fn write_atomic_into_a_missing_directory_is_an_io_error_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("MANIFEST");
        match write_atomic(&path, b"x") {
            Err(Error::Io { path: p, .. }) => assert!(p.starts_with(dir.path().join("absent"))),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn write_atomic_needs_a_file_name() {
        assert!(matches!(
            write_atomic(Path::new("/"), b"x"),
            Err(Error::InvalidParameter { name: "path", .. })
        ));
    }

    #[test]
    fn read_optional_distinguishes_absent_from_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert_eq!(read_optional(&path).unwrap(), None);
        fs::write(&path, b"").unwrap();
        assert_eq!(read_optional(&path).unwrap(), Some(vec![]));
        assert!(matches!(read_optional(dir.path()), Err(Error::Io { .. })));
    }

    #[test]
    fn sync_dir_and_parent_dir() {
        let dir = tempfile::tempdir().unwrap();
        sync_dir(dir.path()).unwrap();
        assert!(matches!(
            sync_dir(&dir.path().join("absent")),
            Err(Error::Io { .. })
        ));
        assert_eq!(parent_dir(Path::new("MANIFEST")), Path::new("."));
        assert_eq!(parent_dir(Path::new("a/b")), Path::new("a"));
    }

    #[test]
    fn remove_temp_files_removes_only_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "MANIFEST",
            "MANIFEST.tmp-0123456789abcdef",
            "wal.tmp-00000000000000ff",
            "seg.tmp-short",
            ".tmp-0123456789abcdef",
            "x.tmp-0123456789abcdeg",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(remove_temp_files(dir.path()).unwrap(), 2);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ".tmp-0123456789abcdef",
                "MANIFEST",
                "seg.tmp-short",
                "x.tmp-0123456789abcdeg"
            ]
        );
    }

    #[test]
    fn plain_file_names() {
        for ok in ["seg-000000000000002a.svs", "MANIFEST", "a", "x_y.z-1"] {
            assert!(is_plain_file_name(ok), "{ok}");
        }
        let long = "a".repeat(MAX_FILE_NAME_LEN + 1);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            "/abs",
            ".hidden",
            "nul\0",
            "sp ace",
            "é",
            "c:x",
            "a..b",
            long.as_str(),
        ] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
