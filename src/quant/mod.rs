//! Vector codecs and the scorers a search walks with: f32 rows (exact), 8- and 4-bit scalar
//! quantization with its fast-scan block layout, and RaBitQ codes in compact rows or one-visit
//! blocks.
//!
//! This module knows nothing of graphs or files: it trains a codec, encodes vectors into
//! fixed-width code rows, and turns a query into a concrete [`Scorer`] once per search
//! ([`Traversal`]), so that scoring a node is one direct kernel call. The graph algorithms are
//! generic over [`Scorer`] and [`BlockScorer`]; the index layer hands them the scorer this
//! module chose.

pub(crate) mod blocks;
mod codec;
mod dispatch;
pub(crate) mod fastscan;
pub(crate) mod kernels;
// The RaBitQ primitives; some serve only tests and `verify`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod rabitq;
pub(crate) mod rq;
mod scorer;
mod sq;

pub(crate) use codec::Codec;
pub(crate) use dispatch::{with_kernels, Kernels, Traversal, WithKernels, WithScorer};
pub(crate) use scorer::{BlockScorer, FloatScorer, Level0, Scorer, VisitScorer};
pub(crate) use sq::SqCodec;
