//! TEXMEX `fvecs` / `ivecs` / `bvecs` files.
//!
//! Each row is a little-endian `i32` dimension `d` followed by `d` values: `f32` (fvecs), `i32`
//! (ivecs) or `u8` (bvecs). Every row of a file must have the same dimension.
//!
//! ```text
//! row 0: [d: i32 LE][v0 .. v(d-1)]   row 1: [d: i32 LE][v0 .. v(d-1)]   ...
//! ```
//!
//! Decisions the format leaves open:
//! * **An empty file is an error** ("no rows"): a TEXMEX file records its dimension only in its
//!   rows, so an empty file cannot say what it holds, and for a dataset it is almost always a
//!   mistake. Symmetrically the writers refuse an empty matrix.
//! * A dimension must be between 1 and [`MAX_VECS_DIM`]; anything else is taken as a sign that the
//!   file is not what its name says.
//!
//! The readers stream the file in 1 MiB blocks straight into the result (peak memory is the matrix
//! plus one block) and decode with `from_le_bytes`, so they run at memory speed.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::{file_len_hint, malformed, read_full, write_atomically, Matrix, IO_CHUNK_BYTES};
use crate::error::{Error, Result};

/// The largest row dimension the TEXMEX readers accept (and the writers write): `2^20`.
pub const MAX_VECS_DIM: usize = 1 << 20;

/// A value type a TEXMEX file can hold.
trait Element: Copy {
    /// The format's name for messages: `"fvecs"`, …
    const FORMAT: &'static str;
    /// Bytes per value.
    const SIZE: usize;
    /// Appends the values encoded in `src` (a multiple of `SIZE` bytes) to `out`.
    fn decode(src: &[u8], out: &mut Vec<Self>);
    /// Appends the little-endian encoding of `src` to `out`.
    fn encode(src: &[Self], out: &mut Vec<u8>);
}

#[inline]
fn le4(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

impl Element for f32 {
    const FORMAT: &'static str = "fvecs";
    const SIZE: usize = 4;
    #[inline]
    fn decode(src: &[u8], out: &mut Vec<f32>) {
        out.extend(src.chunks_exact(4).map(|b| f32::from_le_bytes(le4(b))));
    }
    #[inline]
    fn encode(src: &[f32], out: &mut Vec<u8>) {
        for v in src {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

impl Element for i32 {
    const FORMAT: &'static str = "ivecs";
    const SIZE: usize = 4;
    #[inline]
    fn decode(src: &[u8], out: &mut Vec<i32>) {
        out.extend(src.chunks_exact(4).map(|b| i32::from_le_bytes(le4(b))));
    }
    #[inline]
    fn encode(src: &[i32], out: &mut Vec<u8>) {
        for v in src {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

impl Element for u8 {
    const FORMAT: &'static str = "bvecs";
    const SIZE: usize = 1;
    #[inline]
    fn decode(src: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(src);
    }
    #[inline]
    fn encode(src: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(src);
    }
}

/// Reads an `fvecs` file: rows of `f32`.
///
/// Cost: one sequential pass over the file; memory is the result plus a 1 MiB buffer.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::MalformedFile`] (format `"fvecs"`) when it
/// is empty, when a dimension is ≤ 0 or above [`MAX_VECS_DIM`], when a row's dimension differs from
/// the first row's (naming the row and its byte offset), or when the last row is truncated (the file
/// length is not a multiple of the row size).
pub fn read_fvecs(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    read_vecs(path.as_ref(), None)
}

/// Reads at most the first `max_rows` rows of an `fvecs` file (all of them when the file is
/// shorter). Only the rows read are checked, and only those bytes are read; `max_rows = 0` gives a
/// matrix with no rows and the file's dimension.
///
/// # Errors
/// As [`read_fvecs`], for the part of the file that is read.
pub fn read_fvecs_limit(path: impl AsRef<Path>, max_rows: usize) -> Result<Matrix<f32>> {
    read_vecs(path.as_ref(), Some(max_rows))
}

/// Reads an `ivecs` file: rows of `i32` (ground-truth neighbour lists, for instance).
///
/// # Errors
/// As [`read_fvecs`], with format `"ivecs"`.
pub fn read_ivecs(path: impl AsRef<Path>) -> Result<Matrix<i32>> {
    read_vecs(path.as_ref(), None)
}

/// Reads at most the first `max_rows` rows of an `ivecs` file; see [`read_fvecs_limit`].
///
/// # Errors
/// As [`read_ivecs`], for the part of the file that is read.
pub fn read_ivecs_limit(path: impl AsRef<Path>, max_rows: usize) -> Result<Matrix<i32>> {
    read_vecs(path.as_ref(), Some(max_rows))
}

/// Reads a `bvecs` file: rows of `u8` (SIFT1B-style byte vectors).
///
/// # Errors
/// As [`read_fvecs`], with format `"bvecs"`.
pub fn read_bvecs(path: impl AsRef<Path>) -> Result<Matrix<u8>> {
    read_vecs(path.as_ref(), None)
}

/// Reads at most the first `max_rows` rows of a `bvecs` file; see [`read_fvecs_limit`].
///
/// # Errors
/// As [`read_bvecs`], for the part of the file that is read.
pub fn read_bvecs_limit(path: impl AsRef<Path>, max_rows: usize) -> Result<Matrix<u8>> {
    read_vecs(path.as_ref(), Some(max_rows))
}

/// Writes `m` as an `fvecs` file, atomically (temporary file in the same folder, synced, renamed).
///
/// # Errors
/// [`Error::InvalidParameter`] when `m` has no rows or its dimension is above [`MAX_VECS_DIM`];
/// [`Error::Io`] when writing fails (the destination is then untouched).
pub fn write_fvecs(path: impl AsRef<Path>, m: &Matrix<f32>) -> Result<()> {
    write_vecs(path.as_ref(), m)
}

/// Writes `m` as an `ivecs` file, atomically.
///
/// # Errors
/// As [`write_fvecs`].
pub fn write_ivecs(path: impl AsRef<Path>, m: &Matrix<i32>) -> Result<()> {
    write_vecs(path.as_ref(), m)
}

/// Writes `m` as a `bvecs` file, atomically.
///
/// # Errors
/// As [`write_fvecs`].
pub fn write_bvecs(path: impl AsRef<Path>, m: &Matrix<u8>) -> Result<()> {
    write_vecs(path.as_ref(), m)
}

fn read_vecs<T: Element>(path: &Path, max_rows: Option<usize>) -> Result<Matrix<T>> {
    let format = T::FORMAT;
    let io_err = |e| Error::io(path, e);
    let mut file = File::open(path).map_err(io_err)?;
    let len_hint = file_len_hint(&file);

    let mut head = [0u8; 4];
    let got = read_full(&mut file, &mut head).map_err(io_err)?;
    if got == 0 {
        return Err(malformed(
            format,
            path,
            format!(
                "the file is empty (no rows); a {format} file records its dimension in its rows"
            ),
        ));
    }
    if got < 4 {
        return Err(malformed(
            format,
            path,
            format!("the file is {got} bytes long, too short for the 4-byte dimension of row 0"),
        ));
    }
    let d = i32::from_le_bytes(head);
    if d <= 0 {
        return Err(malformed(
            format,
            path,
            format!("row 0 (byte offset 0) has dimension {d}; a dimension must be at least 1"),
        ));
    }
    let dim = d as usize;
    if dim > MAX_VECS_DIM {
        return Err(malformed(
            format,
            path,
            format!(
                "row 0 (byte offset 0) has dimension {d}, above the maximum {MAX_VECS_DIM}; \
                 is this really a {format} file?"
            ),
        ));
    }
    let row_bytes = 4 + dim * T::SIZE;
    let limit = max_rows.unwrap_or(usize::MAX);

    // Capacity from the file length (never more than the file can hold, so a lying header cannot
    // make us allocate much).
    let cap_rows = len_hint
        .map(|l| usize::try_from(l / row_bytes as u64).unwrap_or(usize::MAX))
        .unwrap_or(0)
        .min(limit);
    let mut data: Vec<T> = Vec::with_capacity(cap_rows * dim);

    let mut chunk_rows = (IO_CHUNK_BYTES / row_bytes).max(1).min(limit.max(1));
    if len_hint.is_some() {
        chunk_rows = chunk_rows.min(cap_rows.max(1));
    }
    let mut buf = vec![0u8; chunk_rows * row_bytes];
    buf[..4].copy_from_slice(&head);
    let mut filled = 4;
    let mut row = 0usize;
    while row < limit {
        let want = chunk_rows.min(limit - row) * row_bytes;
        let n = filled + read_full(&mut file, &mut buf[filled..want]).map_err(io_err)?;
        let complete = n / row_bytes;
        for (i, r) in buf[..complete * row_bytes]
            .chunks_exact(row_bytes)
            .enumerate()
        {
            let rd = i32::from_le_bytes(le4(r));
            if rd != d {
                return Err(row_dim_mismatch(format, path, row + i, row_bytes, rd, d));
            }
            T::decode(&r[4..], &mut data);
        }
        row += complete;
        if n < want {
            // End of file.
            let rest = n - complete * row_bytes;
            if rest > 0 {
                let tail = &buf[complete * row_bytes..n];
                if rest >= 4 {
                    let rd = i32::from_le_bytes(le4(tail));
                    if rd != d {
                        return Err(row_dim_mismatch(format, path, row, row_bytes, rd, d));
                    }
                }
                let offset = row as u64 * row_bytes as u64;
                return Err(malformed(
                    format,
                    path,
                    format!(
                        "the last row (row {row}, byte offset {offset}) is truncated: {rest} of \
                         {row_bytes} bytes; the file length {} is not a multiple of the row size \
                         {row_bytes} (dimension {dim})",
                        offset + rest as u64
                    ),
                ));
            }
            break;
        }
        filled = 0;
    }
    Matrix::from_vec(dim, data)
}

fn row_dim_mismatch(
    format: &'static str,
    path: &Path,
    row: usize,
    row_bytes: usize,
    got: i32,
    expected: i32,
) -> Error {
    malformed(
        format,
        path,
        format!(
            "row {row} (byte offset {}) has dimension {got}, but row 0 has {expected}",
            row as u64 * row_bytes as u64
        ),
    )
}

fn write_vecs<T: Element>(path: &Path, m: &Matrix<T>) -> Result<()> {
    let format = T::FORMAT;
    if m.is_empty() {
        return Err(Error::invalid_parameter(
            "matrix",
            format!("has no rows; a {format} file cannot hold an empty matrix"),
        ));
    }
    let dim = m.dim();
    if dim > MAX_VECS_DIM {
        return Err(Error::invalid_parameter(
            "matrix",
            format!("dimension {dim} is above {MAX_VECS_DIM}, the most a {format} reader accepts"),
        ));
    }
    let head = (dim as i32).to_le_bytes();
    let row_bytes = 4 + dim * T::SIZE;
    let chunk_rows = (IO_CHUNK_BYTES / row_bytes).max(1);
    write_atomically(path, |w| {
        let mut buf = Vec::with_capacity(chunk_rows * row_bytes);
        for block in m.as_slice().chunks(chunk_rows * dim) {
            buf.clear();
            for r in block.chunks_exact(dim) {
                buf.extend_from_slice(&head);
                T::encode(r, &mut buf);
            }
            w.write_all(&buf)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn raw_row(dim: i32, values: &[f32]) -> Vec<u8> {
        let mut v = dim.to_le_bytes().to_vec();
        for x in values {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    }

    fn expect_malformed<T: std::fmt::Debug>(r: Result<T>, format: &str, needle: &str) {
        match r {
            Err(Error::MalformedFile {
                format: f, reason, ..
            }) => {
                assert_eq!(f, format);
                assert!(
                    reason.contains(needle),
                    "reason {reason:?} does not mention {needle:?}"
                );
            }
            other => panic!("expected MalformedFile, got {other:?}"),
        }
    }

    #[test]
    fn fvecs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        let data: Vec<f32> = (0..7 * 5).map(|i| i as f32 * 0.5 - 3.25).collect();
        let m = Matrix::from_vec(5, data).unwrap();
        write_fvecs(&p, &m).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 7 * (4 + 5 * 4));
        assert_eq!(read_fvecs(&p).unwrap(), m);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn fvecs_round_trip_special_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        let m = Matrix::from_vec(
            3,
            vec![
                f32::INFINITY,
                -0.0,
                f32::MIN_POSITIVE,
                f32::MAX,
                1e-45,
                -1.0,
            ],
        )
        .unwrap();
        write_fvecs(&p, &m).unwrap();
        let back = read_fvecs(&p).unwrap();
        let bits = |m: &Matrix<f32>| m.as_slice().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&m));
    }

    #[test]
    fn ivecs_and_bvecs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let pi = dir.path().join("a.ivecs");
        let mi = Matrix::from_vec(3, vec![0, -1, i32::MAX, i32::MIN, 5, 6]).unwrap();
        write_ivecs(&pi, &mi).unwrap();
        assert_eq!(read_ivecs(&pi).unwrap(), mi);

        let pb = dir.path().join("a.bvecs");
        let mb = Matrix::from_vec(4, (0..=255u8).collect()).unwrap();
        write_bvecs(&pb, &mb).unwrap();
        assert_eq!(fs::metadata(&pb).unwrap().len(), 64 * (4 + 4));
        assert_eq!(read_bvecs(&pb).unwrap(), mb);
    }

    #[test]
    fn large_file_crosses_block_boundaries() {
        // Rows of 1000 f32 (4004 bytes) do not divide the 1 MiB block.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.fvecs");
        let dim = 1000;
        let data: Vec<f32> = (0..700 * dim).map(|i| i as f32).collect();
        let m = Matrix::from_vec(dim, data).unwrap();
        write_fvecs(&p, &m).unwrap();
        assert_eq!(read_fvecs(&p).unwrap(), m);
        assert_eq!(read_fvecs_limit(&p, 300).unwrap(), m.clone().truncated(300));
    }

    #[test]
    fn limit_reads_first_rows_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        let m = Matrix::from_vec(2, (0..20).map(|i| i as f32).collect()).unwrap();
        write_fvecs(&p, &m).unwrap();
        assert_eq!(read_fvecs_limit(&p, 3).unwrap(), m.clone().truncated(3));
        assert_eq!(read_fvecs_limit(&p, 100).unwrap(), m);
        let none = read_fvecs_limit(&p, 0).unwrap();
        assert_eq!((none.len(), none.dim()), (0, 2));

        // Garbage after the rows asked for is not looked at.
        let mut bytes = fs::read(&p).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]);
        fs::write(&p, &bytes).unwrap();
        assert_eq!(read_fvecs_limit(&p, 10).unwrap(), m);
        expect_malformed(read_fvecs(&p), "fvecs", "truncated");

        let pi = dir.path().join("a.ivecs");
        let mi = Matrix::from_vec(1, vec![1, 2, 3]).unwrap();
        write_ivecs(&pi, &mi).unwrap();
        assert_eq!(read_ivecs_limit(&pi, 2).unwrap(), mi.clone().truncated(2));
        let pb = dir.path().join("a.bvecs");
        let mb = Matrix::from_vec(1, vec![1u8, 2, 3]).unwrap();
        write_bvecs(&pb, &mb).unwrap();
        assert_eq!(read_bvecs_limit(&pb, 1).unwrap(), mb.clone().truncated(1));
    }

    #[test]
    fn empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.fvecs");
        fs::write(&p, b"").unwrap();
        expect_malformed(read_fvecs(&p), "fvecs", "empty");
        expect_malformed(read_ivecs(&p), "ivecs", "empty");
        expect_malformed(read_bvecs(&p), "bvecs", "empty");
        expect_malformed(read_fvecs_limit(&p, 0), "fvecs", "empty");
    }

    #[test]
    fn short_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short.fvecs");
        fs::write(&p, [3u8, 0]).unwrap();
        expect_malformed(read_fvecs(&p), "fvecs", "too short");
    }

    #[test]
    fn non_positive_dimension_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        fs::write(&p, raw_row(0, &[])).unwrap();
        expect_malformed(read_fvecs(&p), "fvecs", "dimension 0");
        fs::write(&p, raw_row(-4, &[1.0, 2.0, 3.0, 4.0])).unwrap();
        expect_malformed(read_fvecs(&p), "fvecs", "dimension -4");
    }

    #[test]
    fn absurd_dimension_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        // An npy file read as fvecs: the magic decodes to a huge dimension.
        fs::write(&p, b"\x93NUMPY\x01\x00").unwrap();
        expect_malformed(read_fvecs(&p), "fvecs", "above the maximum");
        fs::write(&p, ((1 << 20) + 1i32).to_le_bytes()).unwrap();
        expect_malformed(read_fvecs(&p), "fvecs", "above the maximum");
    }

    #[test]
    fn differing_row_dimension_names_row_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        let mut bytes = raw_row(2, &[1.0, 2.0]);
        bytes.extend(raw_row(2, &[3.0, 4.0]));
        bytes.extend(raw_row(3, &[5.0, 6.0, 7.0]));
        bytes.extend(raw_row(2, &[8.0, 9.0]));
        fs::write(&p, &bytes).unwrap();
        expect_malformed(
            read_fvecs(&p),
            "fvecs",
            "row 2 (byte offset 24) has dimension 3, but row 0 has 2",
        );
        // Also when the odd row is the (short) last one.
        let mut bytes = raw_row(2, &[1.0, 2.0]);
        bytes.extend(raw_row(1, &[3.0]));
        fs::write(&p, &bytes).unwrap();
        expect_malformed(
            read_fvecs(&p),
            "fvecs",
            "row 1 (byte offset 12) has dimension 1",
        );
    }

    #[test]
    fn truncated_last_row_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        let mut bytes = raw_row(2, &[1.0, 2.0]);
        bytes.extend(raw_row(2, &[3.0, 4.0]));
        bytes.truncate(bytes.len() - 1);
        fs::write(&p, &bytes).unwrap();
        expect_malformed(
            read_fvecs(&p),
            "fvecs",
            "the last row (row 1, byte offset 12) is truncated: 11 of 12 bytes",
        );
        // A few stray bytes (not even a dimension) after whole rows.
        let mut bytes = raw_row(2, &[1.0, 2.0]);
        bytes.extend([0u8, 0]);
        fs::write(&p, &bytes).unwrap();
        expect_malformed(read_fvecs(&p), "fvecs", "not a multiple of the row size 12");

        let pi = dir.path().join("a.ivecs");
        fs::write(&pi, [1u8, 0, 0, 0, 7, 0]).unwrap();
        expect_malformed(read_ivecs(&pi), "ivecs", "truncated");
        let pb = dir.path().join("a.bvecs");
        fs::write(&pb, [4u8, 0, 0, 0, 7, 0]).unwrap();
        expect_malformed(read_bvecs(&pb), "bvecs", "truncated");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope.fvecs");
        match read_fvecs(&p) {
            Err(Error::Io { path, .. }) => assert_eq!(path, p),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn writers_refuse_empty_matrices_and_failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        let empty = Matrix::<f32>::from_vec(3, vec![]).unwrap();
        assert!(matches!(
            write_fvecs(&p, &empty),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(!p.exists());
        let m = Matrix::from_vec(1, vec![1.0f32]).unwrap();
        let bad = dir.path().join("no-such-dir").join("a.fvecs");
        assert!(matches!(write_fvecs(&bad, &m), Err(Error::Io { .. })));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
