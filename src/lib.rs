//! # stratavec
//!
//! An embedded vector database engine: approximate nearest-neighbour search with HNSW, in your
//! process, with no server to run.
//!
//! ```
//! use stratavec::{Index, IndexOptions, Metric, SearchParams};
//!
//! let index = Index::new(IndexOptions::new(3, Metric::L2))?;
//! index.add(10, &[0.0, 0.0, 1.0])?;
//! index.add(11, &[0.0, 1.0, 0.0])?;
//! index.add(12, &[1.0, 0.0, 0.0])?;
//!
//! let hits = index.search(&[0.1, 0.9, 0.0], 2)?;
//! assert_eq!(hits[0].id, 11);
//!
//! // Only even ids, and a wider beam:
//! let even = |id: u64| id % 2 == 0;
//! let hits = index.search_with(&[0.1, 0.9, 0.0], &SearchParams::new(2).ef(64).filter(&even))?;
//! assert!(hits.iter().all(|h| h.id % 2 == 0));
//! # Ok::<(), stratavec::Error>(())
//! ```
//!
//! The modules, from the bottom up: [`distance`] (metrics and SIMD kernels), the HNSW graph behind
//! [`Index`], [`data`] (TEXMEX and `.npy` files, synthetic data) and [`eval`] (exact ground truth,
//! Recall@K, latency statistics, benchmark reports).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod collection;
pub mod data;
pub mod distance;
mod error;
pub mod eval;
mod format;
mod fsutil;
mod hnsw;
mod quant;
pub mod rerank;
mod segment;

pub use collection::{merge_top_k, Collection, CollectionOptions, CollectionStats, Durability};
pub use distance::Metric;
pub use error::{Error, Result};
pub use hnsw::{
    Index, IndexOptions, Layout, MemoryUsage, Neighbor, SearchCounts, SearchParams, SearchStats,
    DEFAULT_EF_CONSTRUCTION, DEFAULT_EF_SEARCH, DEFAULT_M,
};
pub use quant::{QuantScheme, Quantization};
pub use rerank::Rerank;
pub use segment::{SectionInfo, SegmentInfo};

#[doc(hidden)]
pub use quant::kernels::bench_api as __quant_bench;

/// Entry points for `fuzz/` into the crate-internal file readers. Not a stable API.
#[doc(hidden)]
#[path = "fuzz_api.rs"]
pub mod __fuzz;

/// A simulated disk for crash and fault tests (`fsutil::sim`). Not a stable API.
#[doc(hidden)]
pub use fsutil::sim as __sim;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
