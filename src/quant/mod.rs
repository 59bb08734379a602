//! Vector codecs: 8- and 4-bit scalar quantization and the kernels that score codes.
//!
//! This module knows nothing of graphs or files: it trains a codec, encodes vectors into
//! fixed-width code rows, and prepares a query once so that scoring a code row is one kernel call.

mod codec;
pub(crate) mod fastscan;
pub(crate) mod kernels;
// RaBitQ codes and fast-scan kernels (issue 14); not wired into the index yet.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod rabitq;

pub(crate) use codec::{Codec, FastScanPrepared, PreparedQuery, PARAMS};
pub use codec::{QuantScheme, Quantization};
