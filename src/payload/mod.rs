//! Payloads: the named, typed fields stored beside each vector, the filter expressions over them,
//! and the per-segment field indexes that turn an expression into an exact bitmap of rows.
//!
//! Each concern is one file:
//!
//! - this file: [`Value`], [`FieldType`], [`Payload`] and the limits every payload keeps;
//! - `schema.rs`: [`Schema`], the field types of an index or collection (inferred on first use,
//!   or declared);
//! - `filter.rs`: [`Filter`], the expression (`eq`, `in`, ranges, `exists`, `and`, `or`, `not`),
//!   and its checks against a schema; `parse.rs`: its text form ([`Filter::parse`]);
//! - `codec.rs`: the byte encoding of one payload (in the write-ahead log, in memory);
//! - `bits.rs`: the dense row bitmap an expression compiles into;
//! - `live.rs`: the field indexes of a growing index (in memory);
//! - `section.rs`: the two segment sections (`payload_rows`, `payload_index`) — writer, reader
//!   over borrowed bytes, and the full check;
//! - `eval.rs`: an expression over either kind of field index, into a bitmap.
//!
//! This module knows nothing of graphs, files or searches: it sees rows by their dense internal
//! number and bytes a caller hands it.

mod bits;
pub(crate) mod codec;
mod eval;
mod filter;
mod live;
mod parse;
mod schema;
pub(crate) mod section;

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

pub(crate) use bits::{ones, Bits};
pub(crate) use eval::{evaluate, required_keys, FieldSource};
pub use filter::{Cmp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_TERMS};
pub(crate) use live::LivePayloads;
pub use schema::{Schema, MAX_SCHEMA_FIELDS};

/// Longest field name, in bytes.
pub const MAX_FIELD_NAME_BYTES: usize = 128;
/// Most fields one payload holds.
pub const MAX_FIELDS: usize = 64;
/// Longest keyword (a [`Value::Keyword`], or one entry of [`Value::Keywords`]), in bytes.
pub const MAX_KEYWORD_BYTES: usize = 1024;
/// Most entries of one [`Value::Keywords`] list.
pub const MAX_KEYWORDS: usize = 256;
/// Largest payload, encoded (names, values and their lengths), in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The type of a payload field. A field has one type in an index or collection: the first value
/// stored decides it (or [`Schema::declare`]), and a value of another type is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FieldType {
    /// A signed 64-bit integer ([`Value::Int`]).
    Int,
    /// A finite 64-bit float ([`Value::Float`]).
    Float,
    /// `true` or `false` ([`Value::Bool`]).
    Bool,
    /// One string ([`Value::Keyword`]), matched exactly.
    Keyword,
    /// A list of strings ([`Value::Keywords`]); `eq` matches a row whose list contains the value.
    Keywords,
    /// A point in time, microseconds since 1970-01-01T00:00:00Z ([`Value::Timestamp`]).
    Timestamp,
    /// Opaque bytes ([`Value::Bytes`], e.g. a JSON document): stored and returned, never
    /// indexed; a filter can only ask whether a row has it (`exists`).
    Bytes,
}

impl FieldType {
    /// The name used in messages, schemas and the filter syntax: `int`, `float`, `bool`,
    /// `keyword`, `keywords`, `timestamp`, `bytes`.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Keyword => "keyword",
            FieldType::Keywords => "keywords",
            FieldType::Timestamp => "timestamp",
            FieldType::Bytes => "bytes",
        }
    }

    /// The type of a name given by [`FieldType::name`].
    pub fn from_name(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Every type, in tag order.
    pub(crate) const ALL: [FieldType; 7] = [
        FieldType::Int,
        FieldType::Float,
        FieldType::Bool,
        FieldType::Keyword,
        FieldType::Keywords,
        FieldType::Timestamp,
        FieldType::Bytes,
    ];

    /// The stable tag of the type in files: int 1, float 2, bool 3, keyword 4, keywords 5,
    /// timestamp 6, bytes 7.
    pub(crate) fn tag(self) -> u8 {
        match self {
            FieldType::Int => 1,
            FieldType::Float => 2,
            FieldType::Bool => 3,
            FieldType::Keyword => 4,
            FieldType::Keywords => 5,
            FieldType::Timestamp => 6,
            FieldType::Bytes => 7,
        }
    }

    pub(crate) fn from_tag(tag: u8) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.tag() == tag)
    }

    /// Whether values of this type are ordered numbers (ranges apply).
    pub(crate) fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int | FieldType::Float | FieldType::Timestamp
        )
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for FieldType {
    type Err = Error;

    fn from_str(s: &str) -> Result<FieldType> {
        FieldType::from_name(s).ok_or_else(|| {
            Error::invalid_parameter(
                "field type",
                format!(
                    "unknown type {s:?} (int, float, bool, keyword, keywords, timestamp, bytes)"
                ),
            )
        })
    }
}

/// One payload value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A signed integer.
    Int(i64),
    /// A finite float (NaN and infinities are refused).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string, matched exactly (at most [`MAX_KEYWORD_BYTES`]).
    Keyword(String),
    /// A list of strings (at most [`MAX_KEYWORDS`]); a filter `eq` matches when the list contains
    /// the value.
    Keywords(Vec<String>),
    /// Microseconds since 1970-01-01T00:00:00Z ([`Value::timestamp`] parses RFC 3339 text).
    Timestamp(i64),
    /// Opaque bytes, returned but never indexed.
    Bytes(Vec<u8>),
}

impl Value {
    /// The value's type.
    pub fn field_type(&self) -> FieldType {
        match self {
            Value::Int(_) => FieldType::Int,
            Value::Float(_) => FieldType::Float,
            Value::Bool(_) => FieldType::Bool,
            Value::Keyword(_) => FieldType::Keyword,
            Value::Keywords(_) => FieldType::Keywords,
            Value::Timestamp(_) => FieldType::Timestamp,
            Value::Bytes(_) => FieldType::Bytes,
        }
    }

    /// A timestamp from RFC 3339 text (`2026-01-01`, `2026-01-01T08:30:00Z`,
    /// `2026-01-01T08:30:00.25+02:00`); a date alone is its midnight in UTC.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for text that is not such a date or time.
    pub fn timestamp(text: &str) -> Result<Value> {
        parse::timestamp_micros(text)
            .map(Value::Timestamp)
            .ok_or_else(|| {
                Error::invalid_parameter(
                    "timestamp",
                    format!(
                        "{text:?} is not an RFC 3339 date or time (2026-01-01, \
                         2026-01-01T08:30:00Z)"
                    ),
                )
            })
    }

    /// Checks the value against the limits, for field `field` (named in the error).
    pub(crate) fn check(&self, field: &str) -> Result<()> {
        let bad = |reason: String| Error::InvalidPayload {
            field: field.to_owned(),
            reason,
        };
        match self {
            Value::Float(x) if !x.is_finite() => Err(bad(format!("{x} is not a finite float"))),
            Value::Keyword(s) if s.len() > MAX_KEYWORD_BYTES => Err(bad(format!(
                "a keyword of {} bytes is longer than {MAX_KEYWORD_BYTES}",
                s.len()
            ))),
            Value::Keywords(list) => {
                if list.len() > MAX_KEYWORDS {
                    return Err(bad(format!(
                        "{} keywords are more than {MAX_KEYWORDS}",
                        list.len()
                    )));
                }
                match list.iter().find(|s| s.len() > MAX_KEYWORD_BYTES) {
                    Some(s) => Err(bad(format!(
                        "a keyword of {} bytes is longer than {MAX_KEYWORD_BYTES}",
                        s.len()
                    ))),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Value {
    /// The value as the filter syntax writes it ([`Filter::parse`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(x) => write!(f, "{x}"),
            // Debug writes a `.` or an exponent, so the text reads back as a float.
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Keyword(s) => parse::quote(f, s),
            Value::Keywords(list) => {
                f.write_str("[")?;
                for (i, s) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    parse::quote(f, s)?;
                }
                f.write_str("]")
            }
            Value::Timestamp(t) => write!(f, "@{}", parse::format_micros(*t)),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $v:ident($conv:expr)),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::$v($conv(x))
            }
        })*
    };
}

value_from! {
    i64 => Int(|x| x),
    i32 => Int(i64::from),
    u32 => Int(i64::from),
    f64 => Float(|x| x),
    f32 => Float(f64::from),
    bool => Bool(|x| x),
    String => Keyword(|x| x),
    &str => Keyword(str::to_owned),
    Vec<String> => Keywords(|x| x),
    Vec<u8> => Bytes(|x| x),
}

impl From<&[&str]> for Value {
    fn from(list: &[&str]) -> Value {
        Value::Keywords(list.iter().map(|s| (*s).to_owned()).collect())
    }
}

/// The fields stored with one vector: names (at most [`MAX_FIELD_NAME_BYTES`], letters, digits,
/// `_`, `-`, `.`, starting with a letter or `_`, and not a word of the filter syntax: `and`,
/// `or`, `not`, `in`, `exists`, `all`, `none`, `true`, `false`) mapped to [`Value`]s, at most [`MAX_FIELDS`]
/// of them and [`MAX_PAYLOAD_BYTES`] encoded. An upsert replaces a vector's whole payload.
///
/// ```
/// use stratavec::{Payload, Value};
///
/// let p = Payload::new()
///     .with("tenant", 7)
///     .with("lang", "en")
///     .with("price", 9.5)
///     .with("date", Value::timestamp("2026-01-01")?);
/// assert_eq!(p.get("tenant"), Some(&Value::Int(7)));
/// assert_eq!(p.len(), 4);
/// # Ok::<(), stratavec::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Payload {
    fields: BTreeMap<String, Value>,
}

impl Payload {
    /// An empty payload.
    pub fn new() -> Payload {
        Payload::default()
    }

    /// This payload with `field` set to `value` (replacing an earlier value of it).
    pub fn with(mut self, field: impl Into<String>, value: impl Into<Value>) -> Payload {
        self.insert(field, value);
        self
    }

    /// Sets `field` to `value`; returns the value it had.
    pub fn insert(&mut self, field: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.fields.insert(field.into(), value.into())
    }

    /// Removes `field`; returns its value.
    pub fn remove(&mut self, field: &str) -> Option<Value> {
        self.fields.remove(field)
    }

    /// The value of `field`.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// The fields, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether it has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Checks names, values and size against the limits.
    ///
    /// # Errors
    /// [`Error::InvalidPayload`] naming the field.
    pub fn check(&self) -> Result<()> {
        if self.fields.len() > MAX_FIELDS {
            return Err(Error::InvalidPayload {
                field: self
                    .fields
                    .keys()
                    .nth(MAX_FIELDS)
                    .cloned()
                    .unwrap_or_default(),
                reason: format!(
                    "a payload of {} fields has more than {MAX_FIELDS}",
                    self.fields.len()
                ),
            });
        }
        for (name, value) in &self.fields {
            check_field_name(name)?;
            value.check(name)?;
        }
        let bytes = codec::encoded_len(self);
        if bytes > MAX_PAYLOAD_BYTES {
            let largest = self
                .fields
                .iter()
                .max_by_key(|(_, v)| codec::value_len(v))
                .map(|(k, _)| k.clone())
                .unwrap_or_default();
            return Err(Error::InvalidPayload {
                field: largest,
                reason: format!(
                    "the payload is {bytes} bytes encoded, more than {MAX_PAYLOAD_BYTES} \
                     (this is its largest field)"
                ),
            });
        }
        Ok(())
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Payload {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Payload {
        Payload {
            fields: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

/// The words of the filter syntax, which no field may be named.
const RESERVED: [&str; 9] = [
    "and", "or", "not", "in", "exists", "all", "none", "true", "false",
];

/// Checks a field name: 1 to [`MAX_FIELD_NAME_BYTES`] bytes of ASCII letters, digits, `_`, `-`
/// and `.`, starting with a letter or `_`.
pub(crate) fn check_field_name(name: &str) -> Result<()> {
    let ok_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let ok_rest = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if RESERVED.contains(&name) {
        return Err(Error::InvalidPayload {
            field: name.to_owned(),
            reason: format!(
                "`{name}` is a word of the filter syntax and cannot name a field ({})",
                RESERVED.join(", ")
            ),
        });
    }
    if name.len() > MAX_FIELD_NAME_BYTES || !ok_start || !ok_rest {
        return Err(Error::InvalidPayload {
            field: name.to_owned(),
            reason: format!(
                "a field name is 1 to {MAX_FIELD_NAME_BYTES} ASCII letters, digits, `_`, `-` \
                 or `.`, starting with a letter or `_`"
            ),
        });
    }
    Ok(())
}

/// The order-preserving key of a number: an unsigned integer that sorts like the value. For
/// integers and timestamps, the value with its sign bit flipped; for floats (finite; `-0.0` is
/// `0.0`), the bits with the sign bit flipped for positives and all bits flipped for negatives.
pub(crate) fn int_key(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

/// See [`int_key`].
pub(crate) fn float_key(x: f64) -> u64 {
    let x = if x == 0.0 { 0.0 } else { x };
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The order key of a numeric value (`None` for other types).
pub(crate) fn numeric_key(v: &Value) -> Option<u64> {
    match v {
        Value::Int(x) | Value::Timestamp(x) => Some(int_key(*x)),
        Value::Float(x) => Some(float_key(*x)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
