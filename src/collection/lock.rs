//! The writer lock: at most one writer per collection directory, across threads and processes.
//!
//! The lock is an exclusive [`File::try_lock`] on `dir/LOCK` (`flock(2)` on Linux and the BSDs,
//! `LockFileEx` on Windows). `flock` locks belong to an open file description, so a second
//! [`WriterLock::acquire`] fails even inside the same process, and the operating system releases
//! the lock when the process dies, so a crashed writer never leaves a stale lock behind. The file
//! itself stays in the directory (removing it would race with a process that has just opened it);
//! it holds the holder's process id as text, for humans only.
//!
//! `flock` is advisory: it stops other stratavec writers, not arbitrary programs. On some network
//! file systems it is not supported or not shared between hosts; there `acquire` may fail with
//! [`Error::Io`] or, worse, succeed on two hosts: keep a collection on a local disk.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{LockGuard, Vfs};

/// The name of the lock file inside a collection directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Proof that this process is the one writer of a collection directory; dropping it releases the
/// lock.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _guard: Box<dyn LockGuard>,
    #[cfg_attr(not(test), allow(dead_code))]
    dir: PathBuf,
}

impl WriterLock {
    /// Creates or opens `dir/LOCK` and takes an exclusive lock on it without waiting, then writes
    /// this process's id into it ([`Vfs::lock`]).
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] (with `dir`) when another writer, in this process or another, holds the
    /// lock; [`Error::Io`] when the file cannot be created, locked (e.g. a file system without
    /// locks) or written.
    pub(crate) fn acquire(vfs: &dyn Vfs, dir: &Path) -> Result<WriterLock> {
        let path = dir.join(LOCK_FILE);
        match vfs.lock(&path) {
            Ok(Some(guard)) => Ok(WriterLock {
                _guard: guard,
                dir: dir.to_path_buf(),
            }),
            Ok(None) => Err(Error::Locked {
                path: dir.to_path_buf(),
            }),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// The collection directory this lock guards.
    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::RealFs;
    use std::process::{Command, Stdio};

    /// Set in a child process to the directory whose lock it should try to take.
    const CHILD_DIR_VAR: &str = "STRATAVEC_TEST_LOCK_CHILD_DIR";
    const CHILD_LOCKED: i32 = 10;
    const CHILD_ACQUIRED: i32 = 11;
    const CHILD_OTHER_ERROR: i32 = 12;

    #[test]
    fn second_acquire_in_process_is_locked_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = WriterLock::acquire(&RealFs, dir.path()).unwrap();
        assert_eq!(lock.dir(), dir.path());
        match WriterLock::acquire(&RealFs, dir.path()) {
            Err(Error::Locked { path }) => assert_eq!(path, dir.path()),
            other => panic!("expected Locked, got {other:?}"),
        }
        let pid = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(pid, format!("{}\n", std::process::id()));
        drop(lock);
        let again = WriterLock::acquire(&RealFs, dir.path()).unwrap();
        drop(again);
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            WriterLock::acquire(&RealFs, &dir.path().join("absent")),
            Err(Error::Io { .. })
        ));
    }

    /// Runs this test binary again, filtered to [`lock_child_helper`], which tries to take the
    /// lock of `dir` and reports the outcome in its exit code.
    fn child_acquire(dir: &Path) -> i32 {
        let status = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "collection::lock::tests::lock_child_helper",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_VAR, dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        status.code().expect("child killed by a signal")
    }

    #[test]
    fn a_second_process_is_locked_out_until_the_first_releases() {
        let dir = tempfile::tempdir().unwrap();
        let lock = WriterLock::acquire(&RealFs, dir.path()).unwrap();
        assert_eq!(child_acquire(dir.path()), CHILD_LOCKED);
        drop(lock);
        assert_eq!(child_acquire(dir.path()), CHILD_ACQUIRED);
        // The child's lock died with it.
        drop(WriterLock::acquire(&RealFs, dir.path()).unwrap());
    }

    /// Not a test of its own: does nothing unless run as the child of
    /// [`a_second_process_is_locked_out_until_the_first_releases`].
    #[test]
    fn lock_child_helper() {
        let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
            return;
        };
        let code = match WriterLock::acquire(&RealFs, Path::new(&dir)) {
            Err(Error::Locked { .. }) => CHILD_LOCKED,
            Ok(_) => CHILD_ACQUIRED,
            Err(_) => CHILD_OTHER_ERROR,
        };
        std::process::exit(code);
    }
}
