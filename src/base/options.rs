//! What an index is built with: its options and their defaults, shared by every layer.
//!
//! These are plain values: the layers above give them meaning ([`crate::quant`] trains the codec a
//! [`Quantization`] names, the graph uses `m`, the segment format stores them all).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::distance::Metric;
use crate::error::{Error, Result};

/// Default number of links per node on the upper levels (level 0 keeps up to `2·m`).
pub const DEFAULT_M: usize = 16;
/// Default beam width while building.
pub const DEFAULT_EF_CONSTRUCTION: usize = 200;
/// Default beam width while searching (raised to `k` when `k` is larger).
pub const DEFAULT_EF_SEARCH: usize = 64;

/// How an [`Index`](crate::Index) is built.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexOptions {
    /// Vector dimension.
    pub dim: usize,
    /// Distance metric.
    pub metric: Metric,
    /// Links per node on upper levels; level 0 keeps `2·m`.
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Seed for the level draws: the same seed and insert order give the same levels.
    pub seed: u64,
    /// How vectors are stored for the traversal: f32, or 8-/4-bit codes (the f32 originals are
    /// kept too, for exact reranking and for building the graph).
    pub quantization: Quantization,
    /// The quantization scheme (see `docs/quantization.md`); the default is the one measured best.
    pub quant_scheme: QuantScheme,
    /// Where the traversal finds neighbours' codes: in their own rows (compact) or repeated in
    /// each node's fast-scan block (4-bit codes only; several times the memory, fewer scattered
    /// reads). See [`Layout`].
    pub layout: Layout,
}

/// How a quantized index lays out the codes its graph walk reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One code row per vector; visiting a node reads each fresh neighbour's row.
    #[default]
    Compact,
    /// On top of the code rows, each node keeps a block with its level-0 neighbours' 4-bit codes
    /// transposed for SIMD: visiting a node is one sequential read that scores all its neighbours
    /// 16 at a time (the layout of SymphonyQG's and FAISS's fast-scan). Only for
    /// [`Quantization::Sq4`]. The blocks cost about `2·m · dim / 2` bytes per vector (4 KiB at
    /// m = 16, dim = 256). An index built in memory packs them when first searched after a change
    /// (or at [`Index::pack_fast_scan`](crate::Index::pack_fast_scan)); a segment file stores them.
    FastScan,
}

impl Layout {
    /// The name used by the CLI and reports: `compact` or `fastscan`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Compact => "compact",
            Layout::FastScan => "fastscan",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = Error;

    /// Parses `compact` or `fastscan` (also `fast-scan`), case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "compact" => Ok(Layout::Compact),
            "fastscan" | "fast-scan" | "fast_scan" => Ok(Layout::FastScan),
            other => Err(Error::invalid_parameter(
                "layout",
                format!("unknown layout {other:?}; expected compact or fastscan"),
            )),
        }
    }
}

impl IndexOptions {
    /// Options with the defaults for everything but `dim` and `metric`.
    pub fn new(dim: usize, metric: Metric) -> Self {
        IndexOptions {
            dim,
            metric,
            m: DEFAULT_M,
            ef_construction: DEFAULT_EF_CONSTRUCTION,
            seed: 0x5EED,
            quantization: Quantization::None,
            quant_scheme: QuantScheme::default(),
            layout: Layout::Compact,
        }
    }
}

/// Largest `m` (level 0 keeps `2·m` links).
pub const MAX_M: usize = MAX_LINKS / 2;

/// Most links a row can hold (level 0 with m = 64 → 128); sizes the stack buffers of the hot loop.
pub(crate) const MAX_LINKS: usize = 128;

/// Highest level a node can draw (the expected top level of 4 billion nodes at m = 2 is 32).
pub(crate) const MAX_LEVEL: usize = 32;

/// One search hit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The user id.
    pub id: u64,
    /// Its distance to the query under the index's metric.
    pub distance: f32,
}

/// How vectors are stored for the graph traversal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// Full-precision f32 vectors.
    #[default]
    None,
    /// 8 bits per dimension (4× smaller than f32).
    Sq8,
    /// 4 bits per dimension (8× smaller than f32).
    Sq4,
}

impl Quantization {
    /// The name used by the CLI and reports: `none`, `sq8`, `sq4`.
    pub fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Sq8 => "sq8",
            Quantization::Sq4 => "sq4",
        }
    }

    /// Bits per dimension; `None` for f32.
    pub fn bits(self) -> Option<u32> {
        match self {
            Quantization::None => None,
            Quantization::Sq8 => Some(8),
            Quantization::Sq4 => Some(4),
        }
    }

    /// How many times `k` candidates the exact reranking rescores by default: 1 for f32, 2 for
    /// 8-bit, 3 for 4-bit codes.
    pub fn default_oversample(self) -> usize {
        match self {
            Quantization::None => 1,
            Quantization::Sq8 => 2,
            Quantization::Sq4 => 3,
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quantization {
    type Err = Error;

    /// Parses `none` (also `f32`), `sq8` or `sq4`, case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "f32" => Ok(Quantization::None),
            "sq8" => Ok(Quantization::Sq8),
            "sq4" => Ok(Quantization::Sq4),
            other => Err(Error::invalid_parameter(
                "quantization",
                format!("unknown quantization {other:?}; expected none, sq8 or sq4"),
            )),
        }
    }
}

/// Where a codec's offsets and scales come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum QuantScheme {
    /// One range per dimension, trained from the data (FAISS-style).
    PerDimension,
    /// The data's mean, then one range per vector (LVQ-style).
    #[default]
    PerVector,
}
