//! NumPy `.npy` files of floats.
//!
//! The format (NumPy's `numpy.lib.format`):
//!
//! ```text
//! "\x93NUMPY" | major: u8 | minor: u8 | header_len: u16 LE (v1.0) or u32 LE (v2.0, v3.0)
//! | header: a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }
//!   padded with spaces and ended by '\n' so that the data starts 64-byte aligned
//! | data: n × d values, C order
//! ```
//!
//! [`read_npy_f32`] takes `float32` (`<f4`, or big-endian `>f4`) and `float64` (`<f8` / `>f8`,
//! narrowed to `f32`), C order (or a Fortran-order array whose layout is the same, i.e. one row
//! or one column), shape `(n, d)` or `(d,)` (read as one row). [`write_npy_f32`] writes version
//! 1.0, `<f4`, C order, exactly as `numpy.save` lays it out.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use self::header::parse_header;
use super::{file_len_hint, malformed, read_full, write_atomically, Matrix, IO_CHUNK_BYTES};
use crate::error::{Error, Result};

mod header;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
const FORMAT: &str = "npy";
/// NumPy refuses headers above 10 000 bytes by default; we allow more but not without bound.
const MAX_HEADER_LEN: usize = 1 << 20;
/// Nesting depth of the header literal we follow before calling the file hostile.
const MAX_DEPTH: usize = 32;
/// The data's alignment in files NumPy writes (and we write).
const ARRAY_ALIGN: usize = 64;

/// Reads a NumPy `.npy` file holding a 2-D (or 1-D, read as one row) array of `float32` or
/// `float64` (narrowed to `f32`) into a matrix.
///
/// Cost: one sequential pass over the file; memory is the result plus a 1 MiB buffer. A shape of
/// `(0, d)` gives an empty matrix of dimension `d`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::MalformedFile`] (format `"npy"`) for a bad
/// magic string, a version other than 1.0, 2.0 or 3.0, a header that is not a well-formed dict
/// with `descr`, `fortran_order` and `shape`, an unsupported dtype (named in the message),
/// Fortran order, a shape that is not 1-D or 2-D, has zero columns or whose byte size overflows,
/// and data whose length is not what the shape says.
pub fn read_npy_f32(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    let io_err = |e| Error::io(path, e);
    let bad = |reason: String| malformed(FORMAT, path, reason);
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file_len_hint(&file);

    let mut pre = [0u8; 12];
    let got = read_full(&mut file, &mut pre[..10]).map_err(io_err)?;
    if got < 8 || &pre[..6] != MAGIC {
        let shown = &pre[..got.min(6)];
        return Err(bad(format!(
            "bad magic string: expected \"\\x93NUMPY\", found {}",
            escape(shown)
        )));
    }
    let (major, minor) = (pre[6], pre[7]);
    let len_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(bad(format!(
                "unsupported format version {major}.{minor}; expected 1.0, 2.0 or 3.0"
            )))
        }
    };
    let mut prefix_len = 10;
    if len_bytes == 4 {
        prefix_len = 12;
        let n = read_full(&mut file, &mut pre[10..12]).map_err(io_err)?;
        if n < 2 || got < 10 {
            return Err(bad("the file ends inside the header length".into()));
        }
    } else if got < 10 {
        return Err(bad("the file ends inside the header length".into()));
    }
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([pre[8], pre[9]]) as usize
    } else {
        u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize
    };
    if header_len > MAX_HEADER_LEN {
        return Err(bad(format!(
            "header length {header_len} is above the limit of {MAX_HEADER_LEN} bytes"
        )));
    }
    let mut header = vec![0u8; header_len];
    if read_full(&mut file, &mut header).map_err(io_err)? < header_len {
        return Err(bad(format!(
            "the file ends inside the {header_len}-byte header"
        )));
    }
    let header = std::str::from_utf8(&header)
        .map_err(|e| bad(format!("the header is not valid text: {e}")))?;
    let info = parse_header(header).map_err(bad)?;

    let item = info.dtype.size();
    let shape_text = info.shape_text();
    let (rows, dim) = match info.shape[..] {
        [d] => (1, d),
        [n, d] => (n, d),
        _ => {
            return Err(bad(format!(
                "shape {shape_text} has {} dimensions; expected 1 or 2",
                info.shape.len()
            )))
        }
    };
    if dim == 0 {
        return Err(bad(format!(
            "shape {shape_text} has zero columns; a matrix needs at least one"
        )));
    }
    if info.fortran_order && rows > 1 && dim > 1 {
        return Err(bad(
            "the array is in Fortran (column-major) order; save a C-order copy instead \
             (numpy.ascontiguousarray)"
                .into(),
        ));
    }
    let count = rows
        .checked_mul(dim)
        .and_then(|c| usize::try_from(c).ok())
        .filter(|c| c.checked_mul(item).is_some());
    let (Some(count), Ok(dim)) = (count, usize::try_from(dim)) else {
        return Err(bad(format!(
            "shape {shape_text} is absurd: its size in bytes overflows"
        )));
    };
    let data_bytes = count * item;
    let data_offset = (prefix_len + header_len) as u64;
    let mismatch = |have: u64| {
        bad(format!(
            "the data is {have} bytes, but shape {shape_text} of {} needs {data_bytes}",
            info.dtype.name()
        ))
    };
    if let Some(len) = file_len {
        let have = len.saturating_sub(data_offset);
        if have != data_bytes as u64 {
            return Err(mismatch(have));
        }
    }

    let mut data: Vec<f32> = Vec::with_capacity(if file_len.is_some() { count } else { 0 });
    let mut buf = vec![0u8; IO_CHUNK_BYTES.min(data_bytes.max(1))];
    let mut done = 0usize;
    while done < data_bytes {
        let want = buf.len().min(data_bytes - done);
        let n = read_full(&mut file, &mut buf[..want]).map_err(io_err)?;
        if n < want {
            return Err(mismatch((done + n) as u64));
        }
        info.dtype.decode(&buf[..n], &mut data);
        done += n;
    }
    // Anything after the data is also a length mismatch.
    let extra = read_full(&mut file, &mut buf[..1]).map_err(io_err)?;
    if extra > 0 {
        return Err(bad(format!(
            "there are bytes after the {data_bytes} bytes of data that shape {shape_text} \
             of {} needs",
            info.dtype.name()
        )));
    }
    Matrix::from_vec(dim, data)
}

/// Writes `m` as a NumPy `.npy` file (version 1.0, `<f4`, C order, shape `(len, dim)`, header
/// padded so the data starts at a multiple of 64 bytes, as `numpy.save` does), atomically
/// (temporary file in the same folder, synced, renamed).
///
/// # Errors
/// [`Error::Io`] when writing fails (the destination is then untouched).
pub fn write_npy_f32(path: impl AsRef<Path>, m: &Matrix<f32>) -> Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        m.len(),
        m.dim()
    );
    // As numpy.lib.format._wrap_header: pad with spaces, end with '\n', so that
    // magic (6) + version (2) + length (2) + header is a multiple of 64.
    let hlen = header.len() + 1;
    let pad = ARRAY_ALIGN - (10 + hlen) % ARRAY_ALIGN;
    header.extend(std::iter::repeat_n(' ', pad));
    header.push('\n');
    let header_len = u16::try_from(header.len()).map_err(|_| {
        Error::invalid_parameter("matrix", "shape too long for an npy version 1.0 header")
    })?;
    write_atomically(path.as_ref(), |w| {
        w.write_all(MAGIC)?;
        w.write_all(&[1, 0])?;
        w.write_all(&header_len.to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        let mut buf = Vec::with_capacity(IO_CHUNK_BYTES);
        for block in m.as_slice().chunks(IO_CHUNK_BYTES / 4) {
            buf.clear();
            for v in block {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            w.write_all(&buf)?;
        }
        Ok(())
    })
}

/// `bytes` as a Rust-ish string literal, for messages.
fn escape(bytes: &[u8]) -> String {
    format!("\"{}\"", bytes.escape_ascii())
}

#[cfg(test)]
mod tests;
