//! A payload filter compiled for one search: the exact bitmap of the rows it matches in this
//! index, with the deleted rows taken out, and how many remain — what the planner chooses by.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Body;
use super::Index;
use crate::error::Result;
use crate::hnsw::Storage;
use crate::payload::{evaluate, Bits, FieldSource, FieldType, Filter};

/// The rows a search may return under a payload filter: matched, not deleted in the index, not
/// dead in the caller's bitmap.
pub(crate) struct Allowed {
    pub bits: Bits,
    /// Rows in `bits`.
    pub count: usize,
}

/// The field source of a segment file without payload sections: no field, no row.
struct NoFields;

impl FieldSource for NoFields {
    fn field_type(&self, _: &str) -> Option<FieldType> {
        None
    }

    fn present(&self, _: &str, _: &mut Bits) -> Result<()> {
        Ok(())
    }

    fn key_rows(&self, _: &str, _: &[u8], _: &mut Bits) -> Result<()> {
        Ok(())
    }

    fn numeric_rows(&self, _: &str, _: u64, _: u64, _: &mut Bits) -> Result<()> {
        Ok(())
    }
}

impl Index {
    /// `filter` over the rows of the in-memory snapshot `st` (fields this index has never seen
    /// match no row).
    pub(super) fn allowed_in_memory(
        &self,
        st: &Storage,
        filter: &Filter,
        dead: Option<&[AtomicU64]>,
    ) -> Result<Allowed> {
        let Body::Memory(mem) = &self.body else {
            unreachable!("an in-memory snapshot belongs to an in-memory index");
        };
        let n = crate::base::view::GraphView::len(st);
        let mut bits = evaluate(filter, &*mem.payloads.read(), n, false)?;
        bits.and_not_words(st.deleted_words().iter().map(|w| w.load(Ordering::Relaxed)));
        Ok(finish(bits, dead))
    }

    /// `filter` over the rows of the mapped segment.
    pub(super) fn allowed_in_segment(
        &self,
        filter: &Filter,
        dead: Option<&[AtomicU64]>,
    ) -> Result<Allowed> {
        let Body::Segment(seg) = &self.body else {
            unreachable!("a segment body");
        };
        let n = seg.meta().nodes;
        let mut bits = match seg.payload_fields() {
            Some(fields) => evaluate(filter, &fields, n, false)?,
            None => evaluate(filter, &NoFields, n, false)?,
        };
        bits.and_not_words(seg.tombstone_words().iter().copied());
        Ok(finish(bits, dead))
    }
}

/// Takes the caller's dead rows out and counts what is left.
fn finish(mut bits: Bits, dead: Option<&[AtomicU64]>) -> Allowed {
    if let Some(dead) = dead {
        bits.and_not_words(dead.iter().map(|w| w.load(Ordering::Relaxed)));
    }
    Allowed {
        count: bits.count(),
        bits,
    }
}
