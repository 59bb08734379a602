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
//! The public modules: [`distance`] (metrics and SIMD kernels), [`rerank`] (the reranking hook),
//! [`data`] (TEXMEX and `.npy` files, synthetic data) and [`eval`] (exact ground truth, Recall@K,
//! latency statistics, benchmark reports); the types at the root are the engine: [`Index`] (one
//! HNSW index, in memory or a mapped segment file) and [`Collection`] (durable, many segments).
//! `docs/architecture.md` draws the layers inside and which way they import.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// The layers, bottom up (each imports only those above it in this list; tests/architecture.rs
// checks it): error; simd; distance, fsutil; base; quant, rerank, payload; hnsw, segment; index;
// collection; eval; the hidden test modules (__fuzz, __sim).
mod base;
mod collection;
pub mod data;
pub mod distance;
mod error;
pub mod eval;
mod fsutil;
mod hnsw;
mod index;
mod payload;
mod quant;
pub mod rerank;
mod segment;
mod simd;

pub use base::calibration::{Calibration, CurvePoint};
pub use base::options::{
    IndexOptions, Layout, Neighbor, QuantScheme, Quantization, DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH, DEFAULT_M, MAX_M,
};
pub use collection::{
    merge_top_k, Collection, CollectionOptions, CollectionStats, Durability, Hit, QualityLatency,
    QualityOptions, QualityReport, TargetQuality,
};
pub use distance::Metric;
pub use error::{Error, Result};
pub use index::{Index, MemoryUsage, SearchCounts, SearchParams, SearchStats};
pub use payload::{
    Cmp, FieldType, Filter, Payload, Schema, Value, MAX_FIELDS, MAX_FIELD_NAME_BYTES,
    MAX_FILTER_DEPTH, MAX_FILTER_TERMS, MAX_KEYWORDS, MAX_KEYWORD_BYTES, MAX_PAYLOAD_BYTES,
    MAX_SCHEMA_FIELDS,
};
pub use rerank::Rerank;
pub use segment::{SectionInfo, SegmentInfo};

#[doc(hidden)]
pub use quant::kernels::bench_api as __quant_bench;

/// Entry points for `fuzz/` into the crate-internal file readers. Not a stable API.
#[doc(hidden)]
#[path = "fuzz_api.rs"]
pub mod __fuzz;

// A simulated disk for crash and fault tests, behind the collection's I/O trait. Not a stable
// API. (Its own module docs say so; an outer doc comment here would make rustdoc resolve the
// module's intra-doc links in this scope.)
#[doc(hidden)]
#[path = "sim/mod.rs"]
pub mod __sim;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
