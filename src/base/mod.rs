//! What every layer above shares: the index options, the borrowed views a search reads (rows of
//! vectors or codes, link rows), prefetching, and the byte encoding of file metadata.
//!
//! Nothing here knows how a graph is searched, how a codec scores or how a file is laid out: the
//! layers above ([`crate::quant`], [`crate::hnsw`], [`crate::segment`], [`crate::index`]) agree
//! on these types so that none of them needs another's internals.

pub(crate) mod bytes;
pub(crate) mod calibration;
pub(crate) mod groups;
pub(crate) mod hash;
pub(crate) mod options;
pub(crate) mod prefetch;
pub(crate) mod view;
