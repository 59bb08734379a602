//! The payloads of a collection: upserts that carry them, reading them back, searches that
//! return them with each hit.

use super::{locate, Collection, Place, State};
use crate::error::{Error, Result};
use crate::index::SearchParams;
use crate::payload::{Payload, Schema};

/// A search hit with its payload ([`Collection::search_with_payload`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The user id.
    pub id: u64,
    /// Its distance to the query (smaller is nearer), as in [`crate::Neighbor`].
    pub distance: f32,
    /// Its payload (empty when it was stored without one).
    pub payload: Payload,
}

impl Collection {
    /// Inserts or replaces one vector with its payload.
    ///
    /// # Errors
    /// As [`Collection::upsert_batch_with_payloads`].
    pub fn upsert_with_payload(&self, id: u64, vector: &[f32], payload: &Payload) -> Result<()> {
        self.upsert_batch_with_payloads(&[id], vector, std::slice::from_ref(payload))
    }

    /// [`Collection::upsert_batch`] with one payload per id, which replaces the id's payload
    /// (an upsert without one leaves the new version without payload). The payloads are checked
    /// before anything is written: each within the limits, each value of its field's type in
    /// [`Collection::schema`] (a new field takes the type of its first value, in this batch or
    /// declared in [`crate::CollectionOptions::schema`]). They go through the log with the
    /// vectors, into the sealed segments, through compaction; [`Collection::payload`] and
    /// [`Collection::search_with_payload`] return them.
    ///
    /// # Errors
    /// As [`Collection::upsert_batch`]; [`Error::InvalidParameter`] when `payloads.len()` is not
    /// `ids.len()`; [`Error::InvalidPayload`] or [`Error::FieldTypeMismatch`] naming the field.
    /// Nothing is written on an error (with the exception [`Collection::upsert_batch`] names).
    pub fn upsert_batch_with_payloads(
        &self,
        ids: &[u64],
        vectors: &[f32],
        payloads: &[Payload],
    ) -> Result<()> {
        let writer = self.writer()?;
        self.snapshot().unsealed.check_batch(ids, vectors)?;
        if payloads.len() != ids.len() {
            return Err(Error::invalid_parameter(
                "payloads",
                format!("{} payloads for {} ids", payloads.len(), ids.len()),
            ));
        }
        if ids.is_empty() {
            return Ok(());
        }
        let mut w = writer.lock();
        // Checked under the writer lock: no other write changes the schema meanwhile.
        let schema = self.schema.read().extended(payloads)?;
        self.writable(&mut w)?;
        if w.wal.version() < 2 {
            // A version 1 log cannot hold the record. An empty one is replaced by a version 2
            // header; one with records is sealed first (which resets it as version 2).
            w.wal.write_payloads();
            if w.wal.is_empty() {
                // Its name is synced by the append below, before the record is written.
                let next_lsn = w.wal.next_lsn();
                w.wal.reset(next_lsn)?;
            } else {
                self.seal(&mut w)?;
            }
        }
        w.wal.append_upsert_payloads(ids, vectors, payloads)?;
        if let Some(schema) = schema {
            *self.schema.write() = schema;
        }
        let record = super::wal::WalRecord::Upsert {
            ids: ids.to_vec(),
            vectors: vectors.to_vec(),
            payloads: Some(payloads.to_vec()),
        };
        self.apply(&record)?;
        if self.snapshot().unsealed.len() >= self.options.seal_rows {
            self.seal_or_compact(&mut w)?;
        }
        Ok(())
    }

    /// The payload of `id` (empty when it was stored without one).
    ///
    /// # Errors
    /// [`Error::UnknownId`] when it is absent (or deleted); [`Error::Corrupt`] for a damaged
    /// segment row.
    pub fn payload(&self, id: u64) -> Result<Payload> {
        payload_in(&self.snapshot(), id)
    }

    /// The payload fields of the collection and their types.
    pub fn schema(&self) -> Schema {
        self.schema.read().clone()
    }

    /// [`Collection::search_with`], each hit with its payload, both read from the same snapshot
    /// of the collection (a write that lands meanwhile changes neither).
    ///
    /// # Errors
    /// As [`Collection::search_with`].
    pub fn search_with_payload(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Hit>> {
        let state = self.snapshot();
        self.search_state(&state, query, params)?
            .into_iter()
            .map(|n| {
                Ok(Hit {
                    id: n.id,
                    distance: n.distance,
                    payload: payload_in(&state, n.id)?,
                })
            })
            .collect()
    }
}

/// The payload of the live version of `id` in `state`.
fn payload_in(state: &State, id: u64) -> Result<Payload> {
    match locate(state, id) {
        Some(Place::Unsealed) => state.unsealed.payload(id),
        Some(Place::Sealed(i)) => {
            let s = &state.sealed[i];
            let slot = s.live_slot(id).ok_or(Error::UnknownId { id })?;
            s.index.payload_of_slot(slot)
        }
        None => Err(Error::UnknownId { id }),
    }
}
