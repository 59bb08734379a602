//! The payload sections of a segment file: `payload_rows` (each row's payload) and
//! `payload_index` (per field: the rows that have it, and keyword → rows or sorted numbers →
//! rows). Written once from the rows by [`build`], read in place over borrowed bytes by
//! [`SegmentFields`]; the byte layouts are in `docs/file-format.md`.
//!
//! Opening checks what does not grow with the data ([`check`]: the headers, each field's entry
//! and the extents it names); everything read later is bounds-checked when it is read, and a
//! bad value is [`Error::Corrupt`], never a panic. [`verify`] rebuilds both sections from the
//! decoded rows and compares them byte for byte.

use std::path::Path;

use super::codec::{decode_value, encode_value};
use super::eval::keys;
use super::schema::MAX_SCHEMA_FIELDS;
use super::{check_field_name, numeric_key, Bits, FieldSource, FieldType, Payload, Schema};
use crate::base::bytes::ByteReader;
use crate::error::{Error, Result};

/// The version of the `payload_index` layout.
const INDEX_VERSION: u32 = 1;
/// Bytes of the `payload_index` header: version, field count, rows.
const INDEX_HEADER: usize = 16;
/// Bytes of one field entry.
const FIELD_ENTRY: usize = 64;
/// Bytes of one dictionary entry.
const KEY_ENTRY: usize = 32;
/// A set stored as ascending `u32` rows.
const FORM_LIST: u32 = 0;
/// A set stored as a bitmap of `⌈rows/64⌉` words.
const FORM_BITMAP: u32 = 1;

/// The two sections' bytes.
pub(crate) struct Sections {
    pub rows: Vec<u8>,
    pub index: Vec<u8>,
}

/// Builds the sections of `rows` rows whose payloads `payload(row)` gives (`None`: no payload),
/// over the fields of `schema` (every value must be of its field's type there).
pub(crate) fn build(
    schema: &Schema,
    rows: usize,
    payload: impl Fn(u32) -> Option<Payload>,
) -> Sections {
    let names: Vec<(&str, FieldType)> = schema.iter().collect();
    let mut fields: Vec<Builder> = names.iter().map(|_| Builder::default()).collect();
    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0u64);
    for row in 0..rows as u32 {
        if let Some(p) = payload(row).filter(|p| !p.is_empty()) {
            data.extend_from_slice(&(p.len() as u16).to_le_bytes());
            for (name, v) in p.iter() {
                let at = names
                    .binary_search_by(|(n, _)| (*n).cmp(name))
                    .expect("a payload's fields are in the schema");
                debug_assert_eq!(names[at].1, v.field_type());
                data.extend_from_slice(&(at as u16).to_le_bytes());
                encode_value(&mut data, v);
                let f = &mut fields[at];
                f.present.push(row);
                match numeric_key(v) {
                    Some(k) => f.numbers.push((k, row)),
                    None => {
                        for key in keys(v) {
                            let list = f.keys.entry(key.to_vec()).or_default();
                            if list.last() != Some(&row) {
                                list.push(row);
                            }
                        }
                    }
                }
            }
        }
        offsets.push(data.len() as u64);
    }
    let mut row_section = Vec::with_capacity(8 * (rows + 2) + data.len());
    row_section.extend_from_slice(&(rows as u64).to_le_bytes());
    offsets
        .iter()
        .for_each(|o| row_section.extend_from_slice(&o.to_le_bytes()));
    row_section.extend_from_slice(&data);

    let mut out = Out {
        buf: Vec::new(),
        rows,
    };
    out.u32(INDEX_VERSION)
        .u32(names.len() as u32)
        .u64(rows as u64);
    let entries_at = out.buf.len();
    out.buf.resize(entries_at + FIELD_ENTRY * names.len(), 0);
    for (i, ((name, ty), mut f)) in names.iter().zip(fields).enumerate() {
        let name_off = out.put(name.as_bytes());
        let (pres_form, pres_count, pres_off) = out.set(&f.present);
        let (count, table_off, slots_off) = match ty {
            FieldType::Bool | FieldType::Keyword | FieldType::Keywords => {
                let mut table = Vec::with_capacity(KEY_ENTRY * f.keys.len());
                let mut sorted: Vec<_> = f.keys.into_iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (key, list) in &sorted {
                    let key_off = out.put(key);
                    let (form, n, off) = out.set(list);
                    table.extend_from_slice(&key_off.to_le_bytes());
                    table.extend_from_slice(&(key.len() as u32).to_le_bytes());
                    table.extend_from_slice(&form.to_le_bytes());
                    table.extend_from_slice(&n.to_le_bytes());
                    table.extend_from_slice(&0u32.to_le_bytes());
                    table.extend_from_slice(&off.to_le_bytes());
                }
                (sorted.len() as u64, out.put(&table), 0)
            }
            FieldType::Int | FieldType::Float | FieldType::Timestamp => {
                f.numbers.sort_unstable();
                let keys: Vec<u8> = f
                    .numbers
                    .iter()
                    .flat_map(|(k, _)| k.to_le_bytes())
                    .collect();
                let slots: Vec<u8> = f
                    .numbers
                    .iter()
                    .flat_map(|(_, s)| s.to_le_bytes())
                    .collect();
                (f.numbers.len() as u64, out.put(&keys), out.put(&slots))
            }
            FieldType::Bytes => (0, 0, 0),
        };
        let mut e = Vec::with_capacity(FIELD_ENTRY);
        e.extend_from_slice(&name_off.to_le_bytes());
        e.extend_from_slice(&(name.len() as u32).to_le_bytes());
        e.extend_from_slice(&[ty.tag(), 0, 0, 0]);
        e.extend_from_slice(&pres_form.to_le_bytes());
        e.extend_from_slice(&pres_count.to_le_bytes());
        e.extend_from_slice(&pres_off.to_le_bytes());
        e.extend_from_slice(&count.to_le_bytes());
        e.extend_from_slice(&table_off.to_le_bytes());
        e.extend_from_slice(&slots_off.to_le_bytes());
        e.extend_from_slice(&0u64.to_le_bytes());
        debug_assert_eq!(e.len(), FIELD_ENTRY);
        let at = entries_at + i * FIELD_ENTRY;
        out.buf[at..at + FIELD_ENTRY].copy_from_slice(&e);
    }
    Sections {
        rows: row_section,
        index: out.buf,
    }
}

/// One field's rows, gathered while building.
#[derive(Default)]
struct Builder {
    present: Vec<u32>,
    keys: std::collections::HashMap<Vec<u8>, Vec<u32>>,
    numbers: Vec<(u64, u32)>,
}

/// The `payload_index` being written: every item starts 8-aligned.
struct Out {
    buf: Vec<u8>,
    rows: usize,
}

impl Out {
    fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends `bytes` 8-aligned; returns their offset.
    fn put(&mut self, bytes: &[u8]) -> u64 {
        self.buf.resize(self.buf.len().next_multiple_of(8), 0);
        let at = self.buf.len() as u64;
        self.buf.extend_from_slice(bytes);
        at
    }

    /// Appends an ascending set of rows as a list or a bitmap, whichever is smaller (the list
    /// on a tie); returns (form, count, offset).
    fn set(&mut self, rows: &[u32]) -> (u32, u32, u64) {
        let words = self.rows.div_ceil(64);
        if rows.len() * 4 <= words * 8 {
            let bytes: Vec<u8> = rows.iter().flat_map(|r| r.to_le_bytes()).collect();
            (FORM_LIST, rows.len() as u32, self.put(&bytes))
        } else {
            let mut bits = vec![0u64; words];
            rows.iter()
                .for_each(|&r| bits[r as usize / 64] |= 1 << (r % 64));
            let bytes: Vec<u8> = bits.iter().flat_map(|w| w.to_le_bytes()).collect();
            (FORM_BITMAP, rows.len() as u32, self.put(&bytes))
        }
    }
}

/// A set's place: form, count, offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SetRef {
    form: u32,
    count: u32,
    off: usize,
}

/// A field's entry, checked at open.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldMeta {
    name: String,
    ty: FieldType,
    present: SetRef,
    count: usize,
    table_off: usize,
    slots_off: usize,
}

/// What [`check`] read: the fields, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SectionsMeta {
    fields: Vec<FieldMeta>,
    rows: usize,
}

impl SectionsMeta {
    /// The fields and types of the segment.
    pub fn schema(&self) -> Schema {
        let mut s = Schema::new();
        for f in &self.fields {
            s.add(&f.name, f.ty)
                .expect("checked names are valid and unique");
        }
        s
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Whether `count` items of `size` bytes at `off` lie inside `len` bytes.
fn fits(off: usize, count: usize, size: usize, len: usize) -> bool {
    count
        .checked_mul(size)
        .and_then(|b| b.checked_add(off))
        .is_some_and(|end| end <= len)
}

/// Checks the two sections of a segment of `rows` rows: headers, field entries and the extents
/// they name. Cost grows with the number of fields, not of rows.
pub(crate) fn check(
    rows_section: &[u8],
    index: &[u8],
    rows: usize,
) -> Result<SectionsMeta, String> {
    let offsets_end = rows
        .checked_add(1)
        .and_then(|r| r.checked_mul(8))
        .and_then(|b| b.checked_add(8))
        .filter(|&e| e <= rows_section.len())
        .ok_or("payload_rows is shorter than its row offsets")?;
    if u64_at(rows_section, 0) != Some(rows as u64) {
        return Err("payload_rows does not hold the segment's row count".into());
    }
    let data_len = (rows_section.len() - offsets_end) as u64;
    if u64_at(rows_section, 8) != Some(0) || u64_at(rows_section, offsets_end - 8) != Some(data_len)
    {
        return Err("payload_rows offsets do not span its data".into());
    }

    let bad = |what: String| Err(format!("payload_index: {what}"));
    if index.len() < INDEX_HEADER {
        return bad("shorter than its header".into());
    }
    let version = u32_at(index, 0).unwrap_or(0);
    let count = u32_at(index, 4).unwrap_or(0) as usize;
    if version != INDEX_VERSION {
        return bad(format!(
            "layout version {version}, this build reads {INDEX_VERSION}"
        ));
    }
    if u64_at(index, 8) != Some(rows as u64) {
        return bad("does not hold the segment's row count".into());
    }
    if count > MAX_SCHEMA_FIELDS || !fits(INDEX_HEADER, count, FIELD_ENTRY, index.len()) {
        return bad(format!("{count} fields do not fit"));
    }
    let words = rows.div_ceil(64);
    let set_fits = |s: SetRef| match s.form {
        FORM_LIST => s.off.is_multiple_of(4) && fits(s.off, s.count as usize, 4, index.len()),
        FORM_BITMAP => s.off.is_multiple_of(8) && fits(s.off, words, 8, index.len()),
        _ => false,
    };
    let mut fields: Vec<FieldMeta> = Vec::with_capacity(count);
    for i in 0..count {
        let e = &index[INDEX_HEADER + i * FIELD_ENTRY..INDEX_HEADER + (i + 1) * FIELD_ENTRY];
        let get64 = |at| u64_at(e, at).map(|v| usize::try_from(v).unwrap_or(usize::MAX));
        let name_off = get64(0).unwrap_or(usize::MAX);
        let name_len = u32_at(e, 8).unwrap_or(0) as usize;
        let name = index
            .get(name_off..name_off.saturating_add(name_len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .filter(|n| check_field_name(n).is_ok());
        let Some(name) = name else {
            return bad(format!("field {i} has no valid name"));
        };
        if fields.last().is_some_and(|f| f.name.as_str() >= name) {
            return bad(format!("field `{name}` is out of order"));
        }
        let Some(ty) = FieldType::from_tag(e[12]) else {
            return bad(format!("field `{name}` has unknown type {}", e[12]));
        };
        if e[13..16] != [0, 0, 0] || u64_at(e, 56) != Some(0) {
            return bad(format!("field `{name}`: reserved bytes are not zero"));
        }
        let present = SetRef {
            form: u32_at(e, 16).unwrap_or(u32::MAX),
            count: u32_at(e, 20).unwrap_or(0),
            off: get64(24).unwrap_or(usize::MAX),
        };
        let (n, table_off, slots_off) = (
            get64(32).unwrap_or(usize::MAX),
            get64(40).unwrap_or(usize::MAX),
            get64(48).unwrap_or(usize::MAX),
        );
        let extents = match ty {
            FieldType::Bool | FieldType::Keyword | FieldType::Keywords => {
                table_off.is_multiple_of(8) && fits(table_off, n, KEY_ENTRY, index.len())
            }
            FieldType::Int | FieldType::Float | FieldType::Timestamp => {
                table_off.is_multiple_of(8)
                    && slots_off.is_multiple_of(4)
                    && fits(table_off, n, 8, index.len())
                    && fits(slots_off, n, 4, index.len())
            }
            FieldType::Bytes => n == 0 && table_off == 0 && slots_off == 0,
        };
        if !set_fits(present) || present.count as usize > rows || !extents {
            return bad(format!("field `{name}` names bytes outside the section"));
        }
        fields.push(FieldMeta {
            name: name.to_owned(),
            ty,
            present,
            count: n,
            table_off,
            slots_off,
        });
    }
    Ok(SectionsMeta { fields, rows })
}

/// The payload sections of one open segment, over its bytes.
pub(crate) struct SegmentFields<'a> {
    pub meta: &'a SectionsMeta,
    pub rows_section: &'a [u8],
    pub index: &'a [u8],
    /// The file, for error messages.
    pub path: &'a Path,
}

impl SegmentFields<'_> {
    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(self.path, reason)
    }

    fn field(&self, name: &str) -> Option<&FieldMeta> {
        let f = &self.meta.fields;
        f.binary_search_by(|m| m.name.as_str().cmp(name))
            .ok()
            .map(|i| &f[i])
    }

    /// The payload of `row` (empty when it has none).
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the row's bytes are malformed.
    pub fn payload(&self, row: u32) -> Result<Payload> {
        let rows = self.meta.rows;
        if row as usize >= rows {
            return Err(self.corrupt(format!("payload row {row} is past the {rows} rows")));
        }
        let base = 8 * (rows + 2);
        let (Some(a), Some(b)) = (
            u64_at(self.rows_section, 8 + 8 * row as usize),
            u64_at(self.rows_section, 16 + 8 * row as usize),
        ) else {
            return Err(self.corrupt(format!("payload row {row} is past the rows")));
        };
        let bytes = usize::try_from(a)
            .ok()
            .zip(usize::try_from(b).ok())
            .filter(|&(a, b)| a <= b)
            .and_then(|(a, b)| Some(base.checked_add(a)?..base.checked_add(b)?))
            .and_then(|range| self.rows_section.get(range))
            .ok_or_else(|| self.corrupt(format!("payload row {row} has bad offsets")))?;
        if bytes.is_empty() {
            return Ok(Payload::new());
        }
        decode_row(bytes, &self.meta.fields)
            .ok_or_else(|| self.corrupt(format!("payload row {row} is malformed")))
    }

    /// Adds the rows of a set to `out`.
    fn or_set(&self, s: SetRef, out: &mut Bits) -> Result<()> {
        match s.form {
            FORM_LIST => {
                let bytes = &self.index[s.off..s.off + 4 * s.count as usize];
                bytes
                    .chunks_exact(4)
                    .for_each(|c| out.set(u32::from_le_bytes(c.try_into().expect("4 bytes"))));
            }
            _ => {
                let words = self.meta.rows.div_ceil(64);
                let bytes = &self.index[s.off..s.off + 8 * words];
                out.or_words(
                    bytes
                        .chunks_exact(8)
                        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
                );
            }
        }
        Ok(())
    }

    /// Entry `i` of a dictionary: its key and set, checked.
    fn key_entry(&self, f: &FieldMeta, i: usize) -> Result<(&[u8], SetRef)> {
        let at = f.table_off + i * KEY_ENTRY;
        let e = &self.index[at..at + KEY_ENTRY];
        let key_off = usize::try_from(u64_at(e, 0).unwrap_or(u64::MAX)).unwrap_or(usize::MAX);
        let key_len = u32_at(e, 8).unwrap_or(0) as usize;
        let set = SetRef {
            form: u32_at(e, 12).unwrap_or(u32::MAX),
            count: u32_at(e, 16).unwrap_or(0),
            off: usize::try_from(u64_at(e, 24).unwrap_or(u64::MAX)).unwrap_or(usize::MAX),
        };
        let words = self.meta.rows.div_ceil(64);
        let set_ok = match set.form {
            FORM_LIST => {
                set.off.is_multiple_of(4) && fits(set.off, set.count as usize, 4, self.index.len())
            }
            FORM_BITMAP => set.off.is_multiple_of(8) && fits(set.off, words, 8, self.index.len()),
            _ => false,
        };
        match self.index.get(key_off..key_off.saturating_add(key_len)) {
            Some(key) if set_ok => Ok((key, set)),
            _ => Err(self.corrupt(format!(
                "payload_index: key {i} of field `{}` names bytes outside the section",
                f.name
            ))),
        }
    }

    fn number(&self, f: &FieldMeta, i: usize) -> u64 {
        u64_at(self.index, f.table_off + 8 * i).expect("checked at open")
    }
}

impl FieldSource for SegmentFields<'_> {
    fn field_type(&self, field: &str) -> Option<FieldType> {
        self.field(field).map(|f| f.ty)
    }

    fn present(&self, field: &str, out: &mut Bits) -> Result<()> {
        match self.field(field) {
            Some(f) => self.or_set(f.present, out),
            None => Ok(()),
        }
    }

    fn key_rows(&self, field: &str, key: &[u8], out: &mut Bits) -> Result<()> {
        let Some(f) = self.field(field).filter(|f| !f.ty.is_numeric()) else {
            return Ok(());
        };
        let (mut lo, mut hi) = (0, f.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, set) = self.key_entry(f, mid)?;
            match k.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.or_set(set, out),
            }
        }
        Ok(())
    }

    fn numeric_rows(&self, field: &str, low: u64, high: u64, out: &mut Bits) -> Result<()> {
        let Some(f) = self.field(field).filter(|f| f.ty.is_numeric()) else {
            return Ok(());
        };
        if low > high {
            return Ok(());
        }
        let first = |bound: u64, strict: bool| {
            let (mut lo, mut hi) = (0, f.count);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let k = self.number(f, mid);
                if k < bound || (strict && k == bound) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let (a, b) = (first(low, false), first(high, true));
        for i in a..b.max(a) {
            let slot = u32_at(self.index, f.slots_off + 4 * i).expect("checked at open");
            out.set(slot);
        }
        Ok(())
    }
}

/// A row of `payload_rows`: count u16, then (field u16, value) with fields ascending.
fn decode_row(bytes: &[u8], fields: &[FieldMeta]) -> Option<Payload> {
    let mut r = ByteReader::new(bytes);
    let count = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
    let mut p = Payload::new();
    let mut last = None;
    for _ in 0..count {
        let at = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
        if last.is_some_and(|l| l >= at) {
            return None;
        }
        last = Some(at);
        let f = fields.get(at)?;
        p.insert(f.name.clone(), decode_value(&mut r, f.ty)?);
    }
    (r.remaining() == 0 && count > 0 && p.check().is_ok()).then_some(p)
}

/// The full check: every row decodes, and building the sections again from the rows gives the
/// same bytes.
pub(crate) fn verify(fields: &SegmentFields<'_>) -> Result<()> {
    let rows = fields.meta.rows;
    let mut decoded = Vec::with_capacity(rows);
    for row in 0..rows as u32 {
        decoded.push(fields.payload(row)?);
    }
    let again = build(&fields.meta.schema(), rows, |row| {
        Some(decoded[row as usize].clone())
    });
    if again.rows != fields.rows_section {
        return Err(fields.corrupt("payload_rows is not what its rows encode to"));
    }
    if again.index != fields.index {
        return Err(fields.corrupt("payload_index does not match the payload rows"));
    }
    Ok(())
}
