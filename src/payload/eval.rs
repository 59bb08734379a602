//! A filter over one segment's field indexes, into the exact bitmap of the rows it matches.

use super::filter::{literal, Cmp};
use super::{numeric_key, Bits, FieldType, Filter, Value};
use crate::error::{Error, Result};

/// The field indexes of one segment (a growing one in memory, or a file's sections).
pub(crate) trait FieldSource {
    /// The type of `field` here, if any row of the segment's schema has it.
    fn field_type(&self, field: &str) -> Option<FieldType>;

    /// Adds the rows that have `field` to `out`.
    fn present(&self, field: &str, out: &mut Bits) -> Result<()>;

    /// Adds the rows whose value of the keyword, keyword-list or bool `field` is (or contains)
    /// `key` (a keyword's UTF-8 bytes; `[0]`/`[1]` for a bool) to `out`.
    fn key_rows(&self, field: &str, key: &[u8], out: &mut Bits) -> Result<()>;

    /// Adds the rows whose numeric `field` has an order key ([`super::int_key`],
    /// [`super::float_key`]) in `low..=high` to `out`.
    fn numeric_rows(&self, field: &str, low: u64, high: u64, out: &mut Bits) -> Result<()>;
}

/// The rows of `0..rows` that `filter` matches in `src`. A field `src` does not know matches
/// no row (a collection's other segments may have it), unless `strict`, when it is an error.
///
/// # Errors
/// [`Error::InvalidFilter`] for a value of the wrong type (or an unknown field when `strict`);
/// the source's errors (a corrupt section).
pub(crate) fn evaluate(
    filter: &Filter,
    src: &dyn FieldSource,
    rows: usize,
    strict: bool,
) -> Result<Bits> {
    let ty = |field: &str| -> Result<Option<FieldType>> {
        match src.field_type(field) {
            Some(t) => Ok(Some(t)),
            None if strict => Err(Error::invalid_filter(format!("unknown field `{field}`"))),
            None => Ok(None),
        }
    };
    let mut out = Bits::none(rows);
    match filter {
        Filter::Eq { field, value } => {
            if let Some(t) = ty(field)? {
                matching(src, field, t, value, &mut out)?;
            }
        }
        Filter::In { field, values } => {
            if let Some(t) = ty(field)? {
                for v in values {
                    matching(src, field, t, v, &mut out)?;
                }
            }
        }
        Filter::Range { field, op, value } => {
            if let Some(t) = ty(field)? {
                if !t.is_numeric() {
                    return Err(Error::invalid_filter(format!(
                        "field `{field}` holds {t} values, which have no order"
                    )));
                }
                let key = numeric_key(&literal(field, t, value)?).expect("a numeric literal");
                let range = match op {
                    Cmp::Lt => key.checked_sub(1).map(|k| (0, k)),
                    Cmp::Le => Some((0, key)),
                    Cmp::Gt => key.checked_add(1).map(|k| (k, u64::MAX)),
                    Cmp::Ge => Some((key, u64::MAX)),
                };
                if let Some((low, high)) = range {
                    src.numeric_rows(field, low, high, &mut out)?;
                }
            }
        }
        Filter::Exists { field } => {
            if ty(field)?.is_some() {
                src.present(field, &mut out)?;
            }
        }
        Filter::And(list) => {
            out = Bits::all(rows);
            for f in list {
                if out.count() == 0 {
                    break;
                }
                out.and(&evaluate(f, src, rows, strict)?);
            }
        }
        Filter::Or(list) => {
            for f in list {
                out.or(&evaluate(f, src, rows, strict)?);
            }
        }
        Filter::Not(f) => {
            out = evaluate(f, src, rows, strict)?;
            out.invert();
        }
    }
    Ok(out)
}

/// Adds the rows where `field` (of type `ty`) equals (or contains) `v`.
fn matching(
    src: &dyn FieldSource,
    field: &str,
    ty: FieldType,
    v: &Value,
    out: &mut Bits,
) -> Result<()> {
    let v = literal(field, ty, v)?;
    match &v {
        Value::Keyword(s) => src.key_rows(field, s.as_bytes(), out),
        Value::Bool(b) => src.key_rows(field, &[u8::from(*b)], out),
        _ => {
            let key = numeric_key(&v).expect("literal gives numbers or keys");
            src.numeric_rows(field, key, key, out)
        }
    }
}

/// The dictionary keys of a value (a keyword, each keyword of a list, a bool's byte); empty for
/// numbers and bytes.
pub(crate) fn keys(v: &Value) -> Vec<&[u8]> {
    const BOOLS: [[u8; 1]; 2] = [[0], [1]];
    match v {
        Value::Keyword(s) => vec![s.as_bytes()],
        Value::Keywords(list) => list.iter().map(|s| s.as_bytes()).collect(),
        Value::Bool(b) => vec![&BOOLS[usize::from(*b)][..]],
        _ => Vec::new(),
    }
}

/// The `field = keyword` (or bool) terms every row `filter` matches must pass: the filter itself,
/// or the terms of an `and` at its top (including one-value `in`s) — the keys whose group graph
/// holds every match.
pub(crate) fn required_keys(filter: &Filter) -> Vec<(&str, Vec<u8>)> {
    fn term(f: &Filter) -> Option<(&str, Vec<u8>)> {
        let (field, value) = match f {
            Filter::Eq { field, value } => (field, value),
            Filter::In { field, values } if values.len() == 1 => (field, &values[0]),
            _ => return None,
        };
        match value {
            Value::Keyword(s) => Some((field.as_str(), s.as_bytes().to_vec())),
            Value::Bool(b) => Some((field.as_str(), vec![u8::from(*b)])),
            _ => None,
        }
    }
    match filter {
        Filter::And(terms) => terms.iter().filter_map(term).collect(),
        f => term(f).into_iter().collect(),
    }
}
