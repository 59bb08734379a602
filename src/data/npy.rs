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

use super::{file_len_hint, malformed, read_full, write_atomically, Matrix, IO_CHUNK_BYTES};
use crate::error::{Error, Result};

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

/// The element types we read.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DType {
    F4 { big: bool },
    F8 { big: bool },
}

impl DType {
    fn parse(descr: &str) -> Option<DType> {
        match descr {
            "<f4" => Some(DType::F4 { big: false }),
            ">f4" => Some(DType::F4 { big: true }),
            "<f8" => Some(DType::F8 { big: false }),
            ">f8" => Some(DType::F8 { big: true }),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            DType::F4 { .. } => 4,
            DType::F8 { .. } => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DType::F4 { big: false } => "'<f4'",
            DType::F4 { big: true } => "'>f4'",
            DType::F8 { big: false } => "'<f8'",
            DType::F8 { big: true } => "'>f8'",
        }
    }

    /// Appends the values in `src` (a multiple of `size()` bytes) to `out` as `f32`.
    fn decode(self, src: &[u8], out: &mut Vec<f32>) {
        match self {
            DType::F4 { big: false } => out.extend(
                src.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
            DType::F4 { big: true } => out.extend(
                src.chunks_exact(4)
                    .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            ),
            DType::F8 { big } => out.extend(src.chunks_exact(8).map(|b| {
                let a = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
                (if big {
                    f64::from_be_bytes(a)
                } else {
                    f64::from_le_bytes(a)
                }) as f32
            })),
        }
    }
}

/// What the header says.
#[derive(Debug, PartialEq)]
struct HeaderInfo {
    dtype: DType,
    fortran_order: bool,
    shape: Vec<u64>,
}

impl HeaderInfo {
    /// The shape as Python prints it: `(3, 4)`, `(5,)`.
    fn shape_text(&self) -> String {
        match &self.shape[..] {
            [d] => format!("({d},)"),
            s => format!(
                "({})",
                s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A Python literal, as far as `.npy` headers use them.
#[derive(Debug, PartialEq)]
enum Lit {
    Str(String),
    Bool(bool),
    None,
    /// A non-negative integer; `None` when it does not fit a `u64`.
    Int(Option<u64>),
    /// A negative integer (never valid in a shape, kept for the message).
    NegInt,
    Seq(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

/// Parses the header dict and picks out `descr`, `fortran_order` and `shape`.
fn parse_header(text: &str) -> std::result::Result<HeaderInfo, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    let syntax = |reason: String| {
        let shown: String = text.trim_end().chars().take(200).collect();
        format!("cannot parse the header {shown:?}: {reason}")
    };
    let lit = p.value(0).map_err(syntax)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(syntax(format!(
            "unexpected text at byte {} after the dict",
            p.pos
        )));
    }
    let Lit::Dict(entries) = lit else {
        return Err(syntax("not a dict".into()));
    };
    let get = |key: &str| {
        entries
            .iter()
            .rev()
            .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
            .map(|(_, v)| v)
    };
    let descr = match get("descr") {
        Some(Lit::Str(s)) => s.clone(),
        Some(Lit::Seq(_)) => {
            return Err("unsupported dtype: a structured (record) array; \
                 expected float32 ('<f4') or float64 ('<f8')"
                .into())
        }
        Some(_) => return Err("'descr' is not a string".into()),
        None => return Err("no 'descr' key".into()),
    };
    let dtype = DType::parse(&descr).ok_or_else(|| {
        format!(
            "unsupported dtype {descr:?}: expected float32 ('<f4', '>f4') or float64 \
             ('<f8', '>f8', narrowed to float32)"
        )
    })?;
    let fortran_order = match get("fortran_order") {
        Some(Lit::Bool(b)) => *b,
        Some(_) => return Err("'fortran_order' is not True or False".into()),
        None => return Err("no 'fortran_order' key".into()),
    };
    let shape = match get("shape") {
        Some(Lit::Seq(items)) => items
            .iter()
            .map(|it| match it {
                Lit::Int(Some(v)) => Ok(*v),
                Lit::Int(None) => Err("shape is absurd: a dimension does not fit 64 bits"),
                _ => Err("shape holds something other than non-negative integers"),
            })
            .collect::<std::result::Result<Vec<u64>, _>>()?,
        Some(_) => return Err("'shape' is not a tuple".into()),
        None => return Err("no 'shape' key".into()),
    };
    Ok(HeaderInfo {
        dtype,
        fortran_order,
        shape,
    })
}

/// A recursive-descent parser for the Python literals of `.npy` headers: dicts, tuples, lists,
/// strings, integers, `True`, `False`, `None`; trailing commas and any white space are fine.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

type PResult<T> = std::result::Result<T, String>;

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> PResult<()> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(format!(
                "expected '{}' at byte {}, found '{}'",
                c as char,
                self.pos,
                x.escape_ascii()
            )),
            None => Err(format!("expected '{}', found the end", c as char)),
        }
    }

    fn value(&mut self, depth: usize) -> PResult<Lit> {
        if depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} deep"));
        }
        match self.peek() {
            None => Err("unexpected end".into()),
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Lit::Dict(entries));
                    }
                    let k = self.value(depth + 1)?;
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("expected ',' or '}}' at byte {}", self.pos)),
                    }
                }
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        return Ok(Lit::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(c) if c == close => {}
                        _ => {
                            return Err(format!(
                                "expected ',' or '{}' at byte {}",
                                close as char, self.pos
                            ))
                        }
                    }
                }
            }
            Some(q @ (b'\'' | b'"')) => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.pos) {
                        None => return Err("unterminated string".into()),
                        Some(&c) if c == q => {
                            self.pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let Some(&c) = self.s.get(self.pos + 1) else {
                                return Err("unterminated string".into());
                            };
                            out.push(c);
                            self.pos += 2;
                        }
                        Some(&c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
                String::from_utf8(out)
                    .map(Lit::Str)
                    .map_err(|_| "a string is not valid text".into())
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' => {
                let neg = c == b'-';
                if c == b'-' || c == b'+' {
                    self.pos += 1;
                }
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                if start == self.pos {
                    return Err(format!("expected digits at byte {start}"));
                }
                let digits = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
                // Python 2 long suffix, as old NumPy wrote it: (3L, 4L).
                if matches!(self.s.get(self.pos), Some(b'L' | b'l')) {
                    self.pos += 1;
                }
                if neg && digits.bytes().any(|b| b != b'0') {
                    return Ok(Lit::NegInt);
                }
                Ok(Lit::Int(digits.parse::<u64>().ok()))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
                {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    b"None" => Ok(Lit::None),
                    w => Err(format!(
                        "unexpected name \"{}\" at byte {start}",
                        w.escape_ascii()
                    )),
                }
            }
            Some(c) => Err(format!(
                "unexpected '{}' at byte {}",
                c.escape_ascii(),
                self.pos
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// An npy file as NumPy would write it, from its parts.
    fn npy_bytes(version: (u8, u8), header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend([version.0, version.1]);
        if version.0 == 1 {
            v.extend((header.len() as u16).to_le_bytes());
        } else {
            v.extend((header.len() as u32).to_le_bytes());
        }
        v.extend(header.as_bytes());
        v.extend(data);
        v
    }

    fn f32_bytes(vals: &[f32]) -> Vec<u8> {
        vals.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn expect_malformed<T: std::fmt::Debug>(r: Result<T>, needle: &str) {
        match r {
            Err(Error::MalformedFile { format, reason, .. }) => {
                assert_eq!(format, "npy");
                assert!(
                    reason.contains(needle),
                    "reason {reason:?} does not mention {needle:?}"
                );
            }
            other => panic!("expected MalformedFile, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let m = Matrix::from_vec(3, (0..12).map(|i| i as f32 * 1.5 - 2.0).collect()).unwrap();
        write_npy_f32(&p, &m).unwrap();
        let bytes = fs::read(&p).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        assert_eq!(bytes[10 + hl - 1], b'\n');
        assert!(std::str::from_utf8(&bytes[10..10 + hl])
            .unwrap()
            .starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }"));
        assert_eq!(bytes.len(), 10 + hl + 12 * 4);
        assert_eq!(read_npy_f32(&p).unwrap(), m);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn empty_matrix_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let m = Matrix::<f32>::from_vec(7, vec![]).unwrap();
        write_npy_f32(&p, &m).unwrap();
        assert_eq!(read_npy_f32(&p).unwrap(), m);
    }

    #[test]
    fn reads_numpy_style_headers_of_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let vals = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let expected = Matrix::from_vec(3, vals.to_vec()).unwrap();
        for (version, header) in [
            // What numpy 2.x writes (with the growth padding), v1.0.
            (
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                     \n",
            ),
            ((2, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"),
            ((3, 0), "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}"),
            // Odd white space, no trailing comma, Python 2 longs, a list shape, extra keys.
            ((1, 0), "{ 'shape' : [ 2L , 3L ] ,\n'descr':'<f4','fortran_order' :False, 'x': None,}"),
        ] {
            fs::write(&p, npy_bytes(version, header, &f32_bytes(&vals))).unwrap();
            assert_eq!(read_npy_f32(&p).unwrap(), expected, "header {header:?}");
        }
    }

    #[test]
    fn one_dimensional_is_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n";
        fs::write(
            &p,
            npy_bytes((1, 0), header, &f32_bytes(&[1.0, 2.0, 3.0, 4.0])),
        )
        .unwrap();
        let m = read_npy_f32(&p).unwrap();
        assert_eq!((m.len(), m.dim()), (1, 4));
    }

    #[test]
    fn float64_and_big_endian_are_converted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let vals = [0.5f64, -1.25, 3.0, 1e10];
        let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }\n";
        fs::write(&p, npy_bytes((1, 0), header, &data)).unwrap();
        let m = read_npy_f32(&p).unwrap();
        assert_eq!(m.as_slice(), &[0.5f32, -1.25, 3.0, 1e10]);

        let data: Vec<u8> = [1.5f32, 2.5].iter().flat_map(|v| v.to_be_bytes()).collect();
        let header = "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }\n";
        fs::write(&p, npy_bytes((1, 0), header, &data)).unwrap();
        assert_eq!(read_npy_f32(&p).unwrap().as_slice(), &[1.5f32, 2.5]);
    }

    #[test]
    fn malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n";
        let four = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "bad magic"),
            (b"\x93NUMPZ\x01\x00\x00\x00".to_vec(), "bad magic"),
            (b"PK\x03\x04 a zip file".to_vec(), "bad magic"),
            (npy_bytes((4, 0), good, &four), "unsupported format version 4.0"),
            (npy_bytes((1, 1), good, &four), "unsupported format version 1.1"),
            (b"\x93NUMPY\x01\x00\x40".to_vec(), "ends inside the header length"),
            (b"\x93NUMPY\x01\x00\x40\x00{'descr'".to_vec(), "ends inside the"),
            (b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec(), "above the limit"),
            (
                npy_bytes((1, 0), "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", &four),
                "unsupported dtype \"<i8\"",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }", &four),
                "unsupported dtype \"<f2\"",
            ),
            (
                npy_bytes(
                    (1, 0),
                    "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                    &four,
                ),
                "structured",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", &four),
                "Fortran",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", &four),
                "the data is 16 bytes, but shape (2, 1) of '<f4' needs 8",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", &four),
                "the data is 16 bytes, but shape (3, 2) of '<f4' needs 24",
            ),
            (
                npy_bytes(
                    (1, 0),
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                    &four,
                ),
                "absurd",
            ),
            (
                npy_bytes(
                    (1, 0),
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 2), }",
                    &four,
                ),
                "absurd",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 1), }", &four),
                "3 dimensions",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &four),
                "0 dimensions",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0), }", &four),
                "zero columns",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2), }", &four),
                "non-negative integers",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': False}", &four),
                "no 'shape' key",
            ),
            (
                npy_bytes((1, 0), "{'descr': '<f4', 'shape': (2, 2)}", &four),
                "no 'fortran_order' key",
            ),
            (npy_bytes((1, 0), "{'descr': '<f4', 'shape': (2, 2)", &four), "expected"),
            (npy_bytes((1, 0), "{'descr': '<f4, 'shape': (2, 2)}", &four), "expected"),
            (npy_bytes((1, 0), "[1, 2]", &four), "not a dict"),
            (npy_bytes((1, 0), "{'a': 1} x", &four), "after the dict"),
            (npy_bytes((1, 0), &"(".repeat(1000), &four), "nested more than"),
            (npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': Maybe}", &four), "Maybe"),
        ];
        for (bytes, needle) in cases {
            fs::write(&p, &bytes).unwrap();
            expect_malformed(read_npy_f32(&p), needle);
        }
    }

    #[test]
    fn fortran_order_with_one_row_or_column_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 1), }";
        fs::write(
            &p,
            npy_bytes((1, 0), header, &f32_bytes(&[1.0, 2.0, 3.0, 4.0])),
        )
        .unwrap();
        assert_eq!(
            read_npy_f32(&p).unwrap().as_slice(),
            &[1.0f32, 2.0, 3.0, 4.0]
        );
    }
}
