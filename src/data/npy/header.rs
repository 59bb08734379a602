//! The `.npy` header: a Python dict literal (`{'descr': '<f4', 'fortran_order': False, 'shape':
//! (n, d), }`), parsed by a small recursive-descent reader that never trusts its input (bounded
//! depth and length, every malformed literal a message).

use super::MAX_DEPTH;

/// The element types we read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum DType {
    F4 { big: bool },
    F8 { big: bool },
}

impl DType {
    pub(super) fn parse(descr: &str) -> Option<DType> {
        match descr {
            "<f4" => Some(DType::F4 { big: false }),
            ">f4" => Some(DType::F4 { big: true }),
            "<f8" => Some(DType::F8 { big: false }),
            ">f8" => Some(DType::F8 { big: true }),
            _ => None,
        }
    }

    pub(super) fn size(self) -> usize {
        match self {
            DType::F4 { .. } => 4,
            DType::F8 { .. } => 8,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            DType::F4 { big: false } => "'<f4'",
            DType::F4 { big: true } => "'>f4'",
            DType::F8 { big: false } => "'<f8'",
            DType::F8 { big: true } => "'>f8'",
        }
    }

    /// Appends the values in `src` (a multiple of `size()` bytes) to `out` as `f32`.
    pub(super) fn decode(self, src: &[u8], out: &mut Vec<f32>) {
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
pub(super) struct HeaderInfo {
    pub(super) dtype: DType,
    pub(super) fortran_order: bool,
    pub(super) shape: Vec<u64>,
}

impl HeaderInfo {
    /// The shape as Python prints it: `(3, 4)`, `(5,)`.
    pub(super) fn shape_text(&self) -> String {
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
pub(super) fn parse_header(text: &str) -> std::result::Result<HeaderInfo, String> {
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
