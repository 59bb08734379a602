//! The byte encoding of payload values and of whole payloads (little-endian, no varints; the
//! layouts are in `docs/file-format.md`).
//!
//! ```text
//! payload: count u16 | field × count, names strictly ascending
//! field:   name_len u8 | name [name_len] | type u8 | value
//! value:   int, timestamp: i64 | float: f64 (finite) | bool: u8 (0/1)
//!          keyword, bytes: len u32 | bytes [len] (keywords UTF-8)
//!          keywords: count u16 | (len u32 | UTF-8 [len]) × count
//! ```
//!
//! A payload decodes only when it is exactly what [`encode_payload`] writes for some payload
//! that passes [`Payload::check`], so encoding a decoded payload gives back the same bytes.

use super::{check_field_name, FieldType, Payload, Value};
use crate::base::bytes::ByteReader;

/// Appends the encoding of `v` (without its type).
pub(crate) fn encode_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Int(x) | Value::Timestamp(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Float(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Keyword(s) => put_bytes(out, s.as_bytes()),
        Value::Bytes(b) => put_bytes(out, b),
        Value::Keywords(list) => {
            out.extend_from_slice(&(list.len() as u16).to_le_bytes());
            for s in list {
                put_bytes(out, s.as_bytes());
            }
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Bytes of [`encode_value`]'s output for `v`.
pub(crate) fn value_len(v: &Value) -> usize {
    match v {
        Value::Int(_) | Value::Timestamp(_) | Value::Float(_) => 8,
        Value::Bool(_) => 1,
        Value::Keyword(s) => 4 + s.len(),
        Value::Bytes(b) => 4 + b.len(),
        Value::Keywords(list) => 2 + list.iter().map(|s| 4 + s.len()).sum::<usize>(),
    }
}

/// Bytes of [`encode_payload`]'s output for `p`.
pub(crate) fn encoded_len(p: &Payload) -> usize {
    2 + p
        .iter()
        .map(|(name, v)| 1 + name.len() + 1 + value_len(v))
        .sum::<usize>()
}

/// Reads a value of type `ty`; `None` when it is short or breaks a limit.
pub(crate) fn decode_value(r: &mut ByteReader<'_>, ty: FieldType) -> Option<Value> {
    let v = match ty {
        FieldType::Int => Value::Int(i64::from_le_bytes(r.take(8)?.try_into().ok()?)),
        FieldType::Timestamp => Value::Timestamp(i64::from_le_bytes(r.take(8)?.try_into().ok()?)),
        FieldType::Float => Value::Float(f64::from_le_bytes(r.take(8)?.try_into().ok()?)),
        FieldType::Bool => match r.u8()? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            _ => return None,
        },
        FieldType::Keyword => Value::Keyword(std::str::from_utf8(r.bytes()?).ok()?.to_owned()),
        FieldType::Bytes => Value::Bytes(r.bytes()?.to_vec()),
        FieldType::Keywords => {
            let count = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
            let mut list = Vec::new();
            for _ in 0..count {
                list.push(std::str::from_utf8(r.bytes()?).ok()?.to_owned());
            }
            Value::Keywords(list)
        }
    };
    v.check("").ok()?;
    Some(v)
}

/// Appends the self-describing encoding of `p` (names and types inline): how the write-ahead log
/// and a growing index keep payloads. `p` must pass [`Payload::check`].
pub(crate) fn encode_payload(out: &mut Vec<u8>, p: &Payload) {
    out.extend_from_slice(&(p.len() as u16).to_le_bytes());
    for (name, v) in p.iter() {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(v.field_type().tag());
        encode_value(out, v);
    }
}

/// Reads a payload written by [`encode_payload`]; `None` when it is malformed, breaks a limit,
/// or is not in the canonical form (names strictly ascending).
pub(crate) fn decode_payload(r: &mut ByteReader<'_>) -> Option<Payload> {
    let start = r.position();
    let count = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
    let mut p = Payload::new();
    let mut last: Option<&str> = None;
    for _ in 0..count {
        let len = r.u8()? as usize;
        let name = std::str::from_utf8(r.take(len)?).ok()?;
        check_field_name(name).ok()?;
        if last.is_some_and(|l| l >= name) {
            return None;
        }
        last = Some(name);
        let ty = FieldType::from_tag(r.u8()?)?;
        let v = decode_value(r, ty)?;
        p.insert(name, v);
    }
    p.check().ok()?;
    debug_assert_eq!(r.position() - start, encoded_len(&p));
    Some(p)
}
