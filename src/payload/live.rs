//! The payloads and field indexes of a growing index: rows are appended in slot order (slots are
//! never reused), each field keeps the slots that have it, by keyword or by number.

use std::collections::{BTreeMap, HashMap};

use super::codec::{decode_payload, encode_payload};
use super::eval::keys;
use super::{numeric_key, Bits, FieldSource, FieldType, Payload, Schema};
use crate::base::bytes::ByteReader;
use crate::error::Result;

/// One field's index.
#[derive(Default)]
struct LiveField {
    /// Slots that have the field, ascending.
    present: Vec<u32>,
    /// Keyword, keyword-list and bool fields: slots by key, each ascending.
    keys: HashMap<Vec<u8>, Vec<u32>>,
    /// Numeric fields: slots by order key, each ascending.
    numbers: BTreeMap<u64, Vec<u32>>,
}

/// The payloads of slots `0..rows` and their field indexes.
#[derive(Default)]
pub(crate) struct LivePayloads {
    schema: Schema,
    /// Row `i` is `data[offsets[i]..offsets[i + 1]]` ([`encode_payload`]; empty for none).
    data: Vec<u8>,
    offsets: Vec<u64>,
    fields: HashMap<String, LiveField>,
}

impl LivePayloads {
    /// The fields seen and their types.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Slots with a row here (later slots have no payload).
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Adopts a schema that extends this one (checked by [`Schema::extended`]).
    pub fn set_schema(&mut self, schema: Schema) {
        self.schema = schema;
    }

    /// Appends the payload of `slot` (at least [`LivePayloads::rows`]; the slots between get
    /// none). Its values must fit the schema.
    pub fn push(&mut self, slot: u32, p: &Payload) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        while self.rows() < slot as usize {
            self.offsets.push(self.data.len() as u64);
        }
        debug_assert_eq!(
            self.rows(),
            slot as usize,
            "payload slots are appended in order"
        );
        if !p.is_empty() {
            encode_payload(&mut self.data, p);
        }
        self.offsets.push(self.data.len() as u64);
        for (name, v) in p.iter() {
            let field = self.fields.entry(name.to_owned()).or_default();
            field.present.push(slot);
            match numeric_key(v) {
                Some(k) => field.numbers.entry(k).or_default().push(slot),
                None => {
                    for key in keys(v) {
                        let list = field.keys.entry(key.to_vec()).or_default();
                        if list.last() != Some(&slot) {
                            list.push(slot);
                        }
                    }
                }
            }
        }
    }

    /// The payload of `slot` (empty when it has none).
    pub fn payload(&self, slot: u32) -> Payload {
        let i = slot as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) if a < b => {
                let mut r = ByteReader::new(&self.data[a as usize..b as usize]);
                decode_payload(&mut r).expect("a payload encoded here decodes")
            }
            _ => Payload::new(),
        }
    }

    /// Every keyword key of every field with the slots that have it (ascending): what group
    /// graphs are built from.
    pub fn key_lists(&self) -> Vec<(&str, &[u8], &[u32])> {
        let mut out: Vec<(&str, &[u8], &[u32])> = self
            .fields
            .iter()
            .flat_map(|(name, f)| {
                f.keys
                    .iter()
                    .map(move |(k, list)| (name.as_str(), k.as_slice(), list.as_slice()))
            })
            .collect();
        // A stable order (the maps' is not), so a file's sections do not depend on hashing.
        out.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        out
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        let lists: usize = self
            .fields
            .values()
            .map(|f| {
                4 * f.present.capacity()
                    + f.keys
                        .iter()
                        .map(|(k, v)| k.len() + 4 * v.capacity() + 48)
                        .sum::<usize>()
                    + f.numbers
                        .values()
                        .map(|v| 4 * v.capacity() + 32)
                        .sum::<usize>()
            })
            .sum();
        self.data.capacity() + 8 * self.offsets.capacity() + lists
    }
}

fn set_all(list: &[u32], out: &mut Bits) {
    list.iter().for_each(|&s| out.set(s));
}

impl FieldSource for LivePayloads {
    fn field_type(&self, field: &str) -> Option<FieldType> {
        self.schema.get(field)
    }

    fn present(&self, field: &str, out: &mut Bits) -> Result<()> {
        if let Some(f) = self.fields.get(field) {
            set_all(&f.present, out);
        }
        Ok(())
    }

    fn key_rows(&self, field: &str, key: &[u8], out: &mut Bits) -> Result<()> {
        if let Some(list) = self.fields.get(field).and_then(|f| f.keys.get(key)) {
            set_all(list, out);
        }
        Ok(())
    }

    fn numeric_rows(&self, field: &str, low: u64, high: u64, out: &mut Bits) -> Result<()> {
        if let Some(f) = self.fields.get(field) {
            f.numbers
                .range(low..=high)
                .for_each(|(_, list)| set_all(list, out));
        }
        Ok(())
    }
}
