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
    /// each node's block (RaBitQ and 4-bit codes; more memory, one sequential read per visited
    /// node). [`Layout::Auto`] (the default) picks the quantization's default. See [`Layout`].
    pub layout: Layout,
}

/// How a quantized index lays out the codes its graph walk reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// The quantization's default ([`Quantization::default_layout`]): blocks for RaBitQ,
    /// compact rows for the rest. An index resolves it when it is created.
    #[default]
    Auto,
    /// One code row per vector; visiting a node reads each fresh neighbour's row.
    Compact,
    /// Each node keeps a block with its level-0 neighbours' codes transposed for SIMD: visiting a
    /// node is one sequential read that scores all its neighbours at once (the layout of
    /// SymphonyQG's and FAISS's fast-scan). For [`Quantization::RaBitQ`] (1-bit codes, 32 per
    /// batch, plus the node's own vector: see there) and [`Quantization::Sq4`] (16 per batch, on
    /// top of the code rows; about `2·m · dim / 2` bytes per vector, 4 KiB at m = 16,
    /// dim = 256). An index built in memory packs them when first searched after a change (or at
    /// [`Index::pack_fast_scan`](crate::Index::pack_fast_scan)); a segment file stores them.
    FastScan,
}

impl Layout {
    /// The name used by the CLI and reports: `auto`, `compact` or `fastscan`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Auto => "auto",
            Layout::Compact => "compact",
            Layout::FastScan => "fastscan",
        }
    }

    /// The layout itself, or for [`Layout::Auto`] the quantization's default.
    pub fn resolve(self, quantization: Quantization) -> Layout {
        match self {
            Layout::Auto => quantization.default_layout(),
            other => other,
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

    /// Parses `auto`, `compact` or `fastscan` (also `fast-scan`, `blocks`), case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Layout::Auto),
            "compact" => Ok(Layout::Compact),
            "fastscan" | "fast-scan" | "fast_scan" | "blocks" => Ok(Layout::FastScan),
            other => Err(Error::invalid_parameter(
                "layout",
                format!("unknown layout {other:?}; expected auto, compact or fastscan"),
            )),
        }
    }
}

impl IndexOptions {
    /// How many times `k` candidates the exact reranking rescores by default for these options:
    /// [`Quantization::default_oversample`], except for RaBitQ, whose walk's precision depends
    /// on the layout — exact results from the blocks' f32 vectors need no reranking (1), the
    /// blocks' extended own codes little (2), compact rows with extended codes as many as 4-bit
    /// codes (3), and compact rows of 1-bit codes alone many (10; measured in
    /// `docs/quantization.md`).
    pub fn default_oversample(&self) -> usize {
        match (self.quantization, self.layout.resolve(self.quantization)) {
            (Quantization::RaBitQ { bits: 0 }, Layout::FastScan) => 1,
            (Quantization::RaBitQ { bits: 0 }, _) => 10,
            (Quantization::RaBitQ { .. }, Layout::FastScan) => 2,
            (Quantization::RaBitQ { .. }, _) => 3,
            (q, _) => q.default_oversample(),
        }
    }

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
            layout: Layout::Auto,
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
    /// RaBitQ codes (Gao & Long, SIGMOD 2024; extended RaBitQ, SIGMOD 2025) on a random
    /// rotation: 1 bit per dimension with an unbiased distance estimate and its error bound, for
    /// the walk. `bits` (0, or 2 to 8) adds an extended code of that many bits per dimension for
    /// a more exact second estimate; 0 adds none.
    ///
    /// With [`Layout::FastScan`] (the default for RaBitQ) every node keeps one block: its
    /// neighbours' 1-bit codes, coded against the node itself, in batches of 32, and its own
    /// vector — f32 when `bits` is 0 (the walk's results are then exact), else its extended
    /// code. With [`Layout::Compact`] every node keeps one row: its 1-bit code and its extended
    /// code against the data's mean. See `docs/quantization.md`.
    RaBitQ {
        /// Bits per dimension of the extended code: 0 (none) or 2 to 8.
        bits: u8,
    },
}

/// The names of the RaBitQ variants, by extended bits.
const RABITQ_NAMES: [&str; 9] = [
    "rabitq", "rabitq1", "rabitq2", "rabitq3", "rabitq4", "rabitq5", "rabitq6", "rabitq7",
    "rabitq8",
];

impl Quantization {
    /// The name used by the CLI and reports: `none`, `sq8`, `sq4`, `rabitq` or `rabitqB` (B
    /// extended bits).
    pub fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Sq8 => "sq8",
            Quantization::Sq4 => "sq4",
            Quantization::RaBitQ { bits } => RABITQ_NAMES[usize::from(bits.min(8))],
        }
    }

    /// Bits per dimension of scalar codes; `None` for f32 and RaBitQ.
    pub fn bits(self) -> Option<u32> {
        match self {
            Quantization::None | Quantization::RaBitQ { .. } => None,
            Quantization::Sq8 => Some(8),
            Quantization::Sq4 => Some(4),
        }
    }

    /// Whether the traversal reads codes (anything but f32).
    pub fn is_quantized(self) -> bool {
        self != Quantization::None
    }

    /// Whether this is one of the RaBitQ variants.
    pub fn is_rabitq(self) -> bool {
        matches!(self, Quantization::RaBitQ { .. })
    }

    /// The layout an index with this quantization gets unless told otherwise: the one-visit
    /// blocks for RaBitQ, compact rows for the rest.
    pub fn default_layout(self) -> Layout {
        match self {
            Quantization::RaBitQ { .. } => Layout::FastScan,
            _ => Layout::Compact,
        }
    }

    /// How many times `k` candidates the exact reranking rescores by default: 1 for f32, 2 for
    /// 8-bit, 3 for 4-bit and RaBitQ codes.
    pub fn default_oversample(self) -> usize {
        match self {
            Quantization::None => 1,
            Quantization::Sq8 => 2,
            Quantization::Sq4 | Quantization::RaBitQ { .. } => 3,
        }
    }

    /// Checks that the variant is one an index can be built with (RaBitQ's `bits` is 0 or 2–8).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the quantization.
    pub fn check(self) -> Result<()> {
        match self {
            Quantization::RaBitQ { bits } if bits == 1 || bits > 8 => {
                Err(Error::invalid_parameter(
                    "quantization",
                    format!(
                        "RaBitQ extended codes have 2 to 8 bits (or 0 for none), got {bits} \
                         (1 bit is the walk's own code: use rabitq)"
                    ),
                ))
            }
            _ => Ok(()),
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

    /// Parses `none` (also `f32`), `sq8`, `sq4`, `rabitq` or `rabitqB` (B = 2 to 8),
    /// case-insensitively.
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim().to_ascii_lowercase();
        let q = match name.as_str() {
            "none" | "f32" => Quantization::None,
            "sq8" => Quantization::Sq8,
            "sq4" => Quantization::Sq4,
            "rabitq" => Quantization::RaBitQ { bits: 0 },
            other => match other.strip_prefix("rabitq").map(str::parse::<u8>) {
                Some(Ok(bits)) => Quantization::RaBitQ { bits },
                _ => {
                    return Err(Error::invalid_parameter(
                        "quantization",
                        format!(
                            "unknown quantization {other:?}; expected none, sq8, sq4, rabitq or \
                             rabitq2 … rabitq8"
                        ),
                    ))
                }
            },
        };
        q.check()?;
        Ok(q)
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
