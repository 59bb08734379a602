//! HNSW: the graph algorithms (search, insertion) over borrowed views, and the growing in-memory
//! storage they build into.
//!
//! Everything here is generic over a [`crate::base::view::GraphView`] (this module's
//! [`Storage`], or a segment file read in place) and over a scorer from [`crate::quant`]; it
//! never sees codes, files or user-facing types. The [`crate::index`] layer above picks the
//! scorer and the view and runs these algorithms.

mod insert;
mod rows;
mod scratch;
mod search;
mod storage;

pub(crate) use insert::Builder;
pub(crate) use scratch::{with_scratch, Scored, Scratch};
pub(crate) use search::{Accept, Graph};
pub(crate) use storage::Storage;
