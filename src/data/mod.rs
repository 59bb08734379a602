//! Reading and writing vector files, and seeded synthetic data.
//!
//! * TEXMEX `fvecs` / `ivecs` / `bvecs`: each row is a little-endian `i32` dimension followed by
//!   that many `f32` / `i32` / `u8` values.
//! * NumPy `.npy` (version 1.0–3.0), `float32` (`<f4`), C order, two dimensions.
//! * ann-benchmarks HDF5 files (`train`, `test`, `neighbors`, attribute `distance`) with the
//!   `hdf5` feature: `Dataset::load_hdf5`.
//! * [`synthetic`]: a seeded Gaussian-mixture generator for the built-in default benchmark.
//! * [`Dataset`]: a TEXMEX folder (`base.fvecs`, `query.fvecs`, `groundtruth.ivecs`, `METRIC`), and
//!   [`datasets_dir`], where the project's test and benchmark datasets are found.
//!
//! Readers never trust a file: every malformed input gives [`crate::Error::MalformedFile`] naming
//! the file, the format and what is wrong (with the row and byte offset where it helps), never a
//! panic. Writers write a temporary file in the destination's folder, flush and sync it, then rename
//! it over the destination, so a reader never sees a half-written file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

mod dataset;
#[cfg(feature = "hdf5")]
mod hdf5;
mod npy;
pub mod synthetic;
mod texmex;

pub use dataset::{datasets_dir, Dataset, DATASETS_ENV};
pub use npy::{read_npy_f32, write_npy_f32};
pub use synthetic::ClusteredSpec;
pub use texmex::{
    read_bvecs, read_bvecs_limit, read_fvecs, read_fvecs_limit, read_ivecs, read_ivecs_limit,
    write_bvecs, write_fvecs, write_ivecs, MAX_VECS_DIM,
};

/// A dense row-major matrix: `len()` rows of `dim` values each.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<T> {
    dim: usize,
    data: Vec<T>,
}

impl<T> Matrix<T> {
    /// Wraps `data` as rows of `dim` values.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] when `dim` is 0 or `data.len()` is not a multiple of it.
    pub fn from_vec(dim: usize, data: Vec<T>) -> crate::Result<Self> {
        if dim == 0 {
            return Err(crate::Error::invalid_parameter("dim", "must be at least 1"));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(crate::Error::invalid_parameter(
                "data",
                format!("length {} is not a multiple of dim {dim}", data.len()),
            ));
        }
        Ok(Matrix { dim, data })
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i >= self.len()`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// All rows in order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, T> {
        self.data.chunks_exact(self.dim)
    }

    /// The values, row after row.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The first `n` rows (all when `n >= len()`).
    pub fn truncated(mut self, n: usize) -> Self {
        self.data.truncate(n.saturating_mul(self.dim));
        self
    }

    /// Gives back the values, row after row.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
}

/// Bytes the readers and writers move per system call.
const IO_CHUNK_BYTES: usize = 1 << 20;

/// Writes `path` atomically: `fill` writes into a temporary file in the same folder, which is then
/// flushed, synced and renamed over `path`. On any error the temporary file is removed.
pub(crate) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        Error::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut w = BufWriter::with_capacity(IO_CHUNK_BYTES, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Reads until `buf` is full or the reader is exhausted; returns the number of bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The length of an open file when it is a regular file (a capacity hint only).
pub(crate) fn file_len_hint(file: &File) -> Option<u64> {
    file.metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// Shorthand for a [`Error::MalformedFile`].
pub(crate) fn malformed(format: &'static str, path: &Path, reason: impl Into<String>) -> Error {
    Error::MalformedFile {
        format,
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
