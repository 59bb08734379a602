//! The payloads of an index: adding vectors with them, reading them back, the schema.

use super::{Body, Index};
use crate::error::{Error, Result};
use crate::payload::{Payload, Schema};

impl Index {
    /// Adds one vector with its payload.
    ///
    /// # Errors
    /// As [`Index::add_batch_with_payloads`].
    pub fn add_with_payload(&self, id: u64, vector: &[f32], payload: &Payload) -> Result<()> {
        self.add_batch_with_payloads(&[id], vector, std::slice::from_ref(payload))
    }

    /// [`Index::add_batch`] with one payload per id. The payloads are checked first (limits, and
    /// each value against its field's type in [`Index::schema`] — a new field takes the type of
    /// its first value), so a refused batch adds nothing.
    ///
    /// # Errors
    /// As [`Index::add_batch`]; [`Error::InvalidParameter`] when `payloads.len()` is not
    /// `ids.len()`; [`Error::InvalidPayload`], [`Error::FieldTypeMismatch`] naming the field.
    pub fn add_batch_with_payloads(
        &self,
        ids: &[u64],
        vectors: &[f32],
        payloads: &[Payload],
    ) -> Result<()> {
        self.add_rows(ids, vectors, Some(payloads), &|_, _| {})
    }

    /// The payload of `id` (empty when it was added without one).
    ///
    /// # Errors
    /// [`Error::UnknownId`]; [`Error::Corrupt`] when a segment file's payload row is damaged.
    pub fn payload(&self, id: u64) -> Result<Payload> {
        let slot = self.slot_of(id).ok_or(Error::UnknownId { id })?;
        self.payload_of_slot(slot)
    }

    /// The payload of the row in `slot`.
    pub(crate) fn payload_of_slot(&self, slot: u32) -> Result<Payload> {
        match &self.body {
            Body::Memory(mem) => Ok(mem.payloads.read().payload(slot)),
            Body::Segment(seg) => match seg.payload_fields() {
                Some(fields) => fields.payload(slot),
                None => Ok(Payload::new()),
            },
        }
    }

    /// The payload fields the index holds and their types: those of the values added so far, or
    /// of the segment file.
    pub fn schema(&self) -> Schema {
        match &self.body {
            Body::Memory(mem) => mem.payloads.read().schema().clone(),
            Body::Segment(seg) => seg
                .payload_fields()
                .map(|f| f.meta.schema())
                .unwrap_or_default(),
        }
    }

    /// Makes `schema`'s fields known to an in-memory index before any value arrives (a
    /// collection's declared fields).
    ///
    /// # Errors
    /// [`Error::FieldTypeMismatch`] when a field is known with another type.
    pub(crate) fn declare_schema(&self, schema: &Schema) -> Result<()> {
        let mem = self.writable("declare payload fields")?;
        let mut live = mem.payloads.write();
        let mut next = live.schema().clone();
        next.merge(schema)?;
        live.set_schema(next);
        Ok(())
    }
}
