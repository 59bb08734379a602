//! The text form of filters ([`Filter::parse`]) and of timestamps (RFC 3339).

use super::filter::{Cmp, MAX_FILTER_DEPTH, MAX_FILTER_TERMS};
use super::{Filter, Value};
use crate::error::{Error, Result};

/// Longest filter text, in bytes.
const MAX_FILTER_TEXT: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Value(Value),
    Op(&'static str),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(usize, Token)>,
    at: usize,
    terms: usize,
}

pub(super) fn parse_filter(text: &str) -> Result<Filter> {
    if text.len() > MAX_FILTER_TEXT {
        return Err(Error::invalid_filter(format!(
            "a filter text of {} bytes is longer than {MAX_FILTER_TEXT}",
            text.len()
        )));
    }
    let mut p = Parser {
        text,
        tokens: tokenize(text)?,
        at: 0,
        terms: 0,
    };
    let f = p.expr(1)?;
    if let Some((pos, t)) = p.tokens.get(p.at) {
        return Err(p.error(*pos, &format!("unexpected {}", describe(t))));
    }
    f.check_limits()?;
    Ok(f)
}

fn describe(t: &Token) -> String {
    match t {
        Token::Ident(s) => format!("`{s}`"),
        Token::Value(v) => format!("value {v}"),
        Token::Op(o) => format!("`{o}`"),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::OpenList => "`[`".into(),
        Token::CloseList => "`]`".into(),
        Token::Comma => "`,`".into(),
    }
}

impl Parser<'_> {
    fn error(&self, pos: usize, what: &str) -> Error {
        Error::invalid_filter(format!("{what} at byte {pos} of {:?}", self.text))
    }

    fn end(&self) -> usize {
        self.text.len()
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn pos(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end(), |(p, _)| *p)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(s)) if s == word)
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<()> {
        let pos = self.pos();
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(self.error(pos, &format!("expected {what}, found {}", describe(&t)))),
            None => Err(self.error(pos, &format!("expected {what}, found the end"))),
        }
    }

    fn count(&mut self, n: usize) -> Result<()> {
        self.terms += n;
        if self.terms > MAX_FILTER_TERMS {
            return Err(Error::invalid_filter(format!(
                "the expression has more than {MAX_FILTER_TERMS} terms"
            )));
        }
        Ok(())
    }

    fn deeper(&self, depth: usize) -> Result<usize> {
        if depth > MAX_FILTER_DEPTH {
            return Err(Error::invalid_filter(format!(
                "the expression is nested deeper than {MAX_FILTER_DEPTH}"
            )));
        }
        Ok(depth + 1)
    }

    fn expr(&mut self, depth: usize) -> Result<Filter> {
        self.list(depth, "or", Filter::Or, Parser::term)
    }

    fn term(&mut self, depth: usize) -> Result<Filter> {
        self.list(depth, "and", Filter::And, Parser::factor)
    }

    /// `item (word item)*`, one node when there is more than one item.
    fn list(
        &mut self,
        depth: usize,
        word: &str,
        node: fn(Vec<Filter>) -> Filter,
        item: fn(&mut Self, usize) -> Result<Filter>,
    ) -> Result<Filter> {
        let first = item(self, depth + 1)?;
        if !self.keyword(word) {
            return Ok(first);
        }
        self.deeper(depth)?;
        self.count(1)?;
        let mut items = vec![first];
        while self.keyword(word) {
            self.at += 1;
            items.push(item(self, depth + 1)?);
        }
        Ok(node(items))
    }

    fn factor(&mut self, depth: usize) -> Result<Filter> {
        let depth = self.deeper(depth)?;
        let pos = self.pos();
        match self.next() {
            Some(Token::Open) => {
                let f = self.expr(depth)?;
                self.expect(Token::Close, "`)`")?;
                Ok(f)
            }
            Some(Token::Ident(word)) => match (word.as_str(), self.peek()) {
                ("not", Some(t)) if !matches!(t, Token::Op(_)) && !is_in(t) => {
                    self.count(1)?;
                    Ok(Filter::Not(Box::new(self.factor(depth)?)))
                }
                ("exists", Some(Token::Open)) => {
                    self.at += 1;
                    let field = self.field()?;
                    self.expect(Token::Close, "`)`")?;
                    self.count(1)?;
                    Ok(Filter::Exists { field })
                }
                ("all", None | Some(Token::Ident(_) | Token::Close)) => {
                    self.count(1)?;
                    Ok(Filter::And(Vec::new()))
                }
                ("none", None | Some(Token::Ident(_) | Token::Close)) => {
                    self.count(1)?;
                    Ok(Filter::Or(Vec::new()))
                }
                _ => {
                    super::check_field_name(&word)
                        .map_err(|_| self.error(pos, &format!("`{word}` is not a field name")))?;
                    self.comparison(word)
                }
            },
            Some(t) => Err(self.error(
                pos,
                &format!("expected a condition, found {}", describe(&t)),
            )),
            None => Err(self.error(pos, "expected a condition, found the end")),
        }
    }

    fn field(&mut self) -> Result<String> {
        let pos = self.pos();
        match self.next() {
            Some(Token::Ident(s)) if super::check_field_name(&s).is_ok() => Ok(s),
            Some(t) => Err(self.error(
                pos,
                &format!("expected a field name, found {}", describe(&t)),
            )),
            None => Err(self.error(pos, "expected a field name, found the end")),
        }
    }

    fn comparison(&mut self, field: String) -> Result<Filter> {
        let pos = self.pos();
        self.count(1)?;
        match self.next() {
            Some(Token::Ident(w)) if w == "in" => {
                self.expect(Token::OpenList, "`[`")?;
                let mut values = Vec::new();
                if self.peek() != Some(&Token::CloseList) {
                    loop {
                        values.push(self.value()?);
                        self.count(1)?;
                        if self.peek() == Some(&Token::Comma) {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(Token::CloseList, "`,` or `]`")?;
                Ok(Filter::In { field, values })
            }
            Some(Token::Op(op)) => {
                let value = self.value()?;
                let range = |op| Filter::Range {
                    field: field.clone(),
                    op,
                    value: value.clone(),
                };
                Ok(match op {
                    "=" | "==" => Filter::Eq {
                        field: field.clone(),
                        value: value.clone(),
                    },
                    "!=" => Filter::Not(Box::new(Filter::Eq {
                        field: field.clone(),
                        value: value.clone(),
                    })),
                    "<" => range(Cmp::Lt),
                    "<=" => range(Cmp::Le),
                    ">" => range(Cmp::Gt),
                    _ => range(Cmp::Ge),
                })
            }
            Some(t) => Err(self.error(
                pos,
                &format!(
                    "expected an operator after `{field}`, found {}",
                    describe(&t)
                ),
            )),
            None => Err(self.error(pos, &format!("expected an operator after `{field}`"))),
        }
    }

    fn value(&mut self) -> Result<Value> {
        let pos = self.pos();
        match self.next() {
            Some(Token::Value(v)) => Ok(v),
            Some(Token::Ident(w)) if w == "true" => Ok(Value::Bool(true)),
            Some(Token::Ident(w)) if w == "false" => Ok(Value::Bool(false)),
            Some(Token::OpenList) => {
                let mut list = Vec::new();
                if self.peek() != Some(&Token::CloseList) {
                    loop {
                        let at = self.pos();
                        match self.next() {
                            Some(Token::Value(Value::Keyword(s))) => list.push(s),
                            _ => return Err(self.error(at, "expected a string in a list")),
                        }
                        self.count(1)?;
                        if self.peek() == Some(&Token::Comma) {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(Token::CloseList, "`,` or `]`")?;
                Ok(Value::Keywords(list))
            }
            Some(t) => Err(self.error(pos, &format!("expected a value, found {}", describe(&t)))),
            None => Err(self.error(pos, "expected a value, found the end")),
        }
    }
}

fn is_in(t: &Token) -> bool {
    matches!(t, Token::Ident(w) if w == "in")
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err =
        |pos: usize, what: &str| Error::invalid_filter(format!("{what} at byte {pos} of {text:?}"));
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let token = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => Token::Open,
            b')' => Token::Close,
            b'[' => Token::OpenList,
            b']' => Token::CloseList,
            b',' => Token::Comma,
            b'=' | b'!' | b'<' | b'>' => {
                let two = bytes.get(i + 1) == Some(&b'=');
                let op = match (c, two) {
                    (b'=', true) => "==",
                    (b'=', false) => "=",
                    (b'!', true) => "!=",
                    (b'<', true) => "<=",
                    (b'<', false) => "<",
                    (b'>', true) => ">=",
                    (b'>', false) => ">",
                    _ => return Err(err(i, "`!` must be followed by `=`")),
                };
                i += op.len();
                out.push((start, Token::Op(op)));
                continue;
            }
            b'"' => {
                let (s, end) = read_string(text, i).map_err(|(pos, what)| err(pos, &what))?;
                i = end;
                out.push((start, Token::Value(Value::Keyword(s))));
                continue;
            }
            b'@' => {
                let end = text[i + 1..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || "-:.+".contains(ch)))
                    .map_or(text.len(), |e| i + 1 + e);
                let micros = timestamp_micros(&text[i + 1..end])
                    .ok_or_else(|| err(i, "not an RFC 3339 timestamp"))?;
                i = end;
                out.push((start, Token::Value(Value::Timestamp(micros))));
                continue;
            }
            b'-' | b'0'..=b'9' => {
                let end = text[i + 1..]
                    .find(|ch: char| {
                        !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '+' || ch == '-')
                    })
                    .map_or(text.len(), |e| i + 1 + e);
                let word = &text[i..end];
                let v = number(word).ok_or_else(|| err(i, &format!("`{word}` is not a number")))?;
                i = end;
                out.push((start, Token::Value(v)));
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = text[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || "_-.".contains(ch)))
                    .map_or(text.len(), |e| i + e);
                out.push((start, Token::Ident(text[i..end].to_owned())));
                i = end;
                continue;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(err(i, &format!("unexpected character {ch:?}")));
            }
        };
        i += 1;
        out.push((start, token));
    }
    Ok(out)
}

/// An integer (no `.` or exponent) or a finite float.
fn number(word: &str) -> Option<Value> {
    let float = word.contains(['.', 'e', 'E']);
    if float {
        let x: f64 = word.parse().ok()?;
        x.is_finite().then_some(Value::Float(x))
    } else {
        word.parse().ok().map(Value::Int)
    }
}

/// The string starting with the quote at `at`, unescaped, and the offset after its closing
/// quote.
fn read_string(text: &str, at: usize) -> std::result::Result<(String, usize), (usize, String)> {
    let mut out = String::new();
    let mut chars = text[at + 1..].char_indices();
    while let Some((i, ch)) = chars.next() {
        let pos = at + 1 + i;
        match ch {
            '"' => return Ok((out, pos + 1)),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 'u')) => {
                    let rest = &text[pos + 2..];
                    let close = rest.find('}').filter(|_| rest.starts_with('{'));
                    let ch = close
                        .and_then(|c| u32::from_str_radix(&rest[1..c], 16).ok())
                        .and_then(char::from_u32)
                        .ok_or((pos, "a bad \\u{…} escape".to_owned()))?;
                    out.push(ch);
                    for _ in 0..=close.unwrap_or(0) {
                        chars.next();
                    }
                }
                _ => return Err((pos, "an unknown escape".to_owned())),
            },
            ch => out.push(ch),
        }
    }
    Err((at, "an unterminated string".to_owned()))
}

/// Writes `s` as the filter syntax's string literal.
pub(super) fn quote(f: &mut std::fmt::Formatter<'_>, s: &str) -> std::fmt::Result {
    f.write_str("\"")?;
    for ch in s.chars() {
        match ch {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Microseconds since the epoch of an RFC 3339 date (`YYYY-MM-DD`, midnight UTC) or date-time
/// (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `t` and `z` accepted, up to 9 fraction digits,
/// truncated to microseconds); years 0000 to 9999.
pub(super) fn timestamp_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let s = b.get(from..from + n)?;
        s.iter().all(u8::is_ascii_digit).then(|| {
            s.iter()
                .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (y, m, d) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let day = days_from_civil(y, m, d);
    if b.len() == 10 {
        return Some(day * 86_400_000_000);
    }
    if !matches!(b.get(10), Some(b'T' | b't')) {
        return None;
    }
    let (hh, mm, ss) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let mut at = 19;
    let mut micros = 0i64;
    if b.get(at) == Some(&b'.') {
        let n = b[at + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&n) {
            return None;
        }
        let frac = digits(at + 1, n)?;
        micros = frac * 10i64.pow(6u32.saturating_sub(n as u32))
            / 10i64.pow((n as u32).saturating_sub(6));
        at += 1 + n;
    }
    let offset = match b.get(at) {
        Some(b'Z' | b'z') if b.len() == at + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == at + 6 && b[at + 3] == b':' => {
            let (oh, om) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = (oh * 60 + om) * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let secs = day * 86_400 + hh * 3600 + mm * 60 + ss - offset;
    Some(secs * 1_000_000 + micros)
}

/// RFC 3339 in UTC of microseconds since the epoch: `YYYY-MM-DDTHH:MM:SSZ`, with `.ffffff`
/// when there is a fraction; years past 0000..=9999 are written with their sign and all digits
/// (and do not parse back).
pub(super) fn format_micros(t: i64) -> String {
    let secs = t.div_euclid(1_000_000);
    let micros = t.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let frac = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else {
        format!("{y:+}")
    };
    format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}
