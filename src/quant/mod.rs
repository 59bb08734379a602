//! Vector codecs and the scorers a search walks with: f32 rows (exact), 8- and 4-bit scalar
//! quantization, and the fast-scan block layout of 4-bit codes.
//!
//! This module knows nothing of graphs or files: it trains a codec, encodes vectors into
//! fixed-width code rows, and turns a query into a concrete [`Scorer`] once per search
//! ([`Traversal`]), so that scoring a node is one direct kernel call. The graph algorithms are
//! generic over [`Scorer`] and [`BlockScorer`]; the index layer hands them the scorer this
//! module chose.

pub(crate) mod blocks;
mod dispatch;
pub(crate) mod fastscan;
pub(crate) mod kernels;
// RaBitQ codes and fast-scan kernels (issue 14); not wired into the index yet.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod rabitq;
mod scorer;
mod sq;

pub(crate) use dispatch::{with_kernels, Kernels, Traversal, WithKernels, WithScorer};
pub(crate) use scorer::{BlockScorer, FloatScorer, Scorer};
pub(crate) use sq::Codec;
