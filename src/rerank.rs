//! Reranking: rescoring the candidates a search found, exactly from the stored originals or with
//! user code.
//!
//! A quantized index walks its graph on codes, whose distances are approximate. It then takes the
//! best `k × oversample` candidates and reranks them: by default exactly, from the f32 originals
//! it keeps; or with a [`Reranker`] of yours — a cross-encoder, a business rule — which sees each
//! candidate's id, approximate distance and original vector and returns the final order.
//!
//! ```
//! use stratavec::rerank::{Candidate, Reranker, RerankError};
//! use stratavec::{Index, IndexOptions, Metric, Neighbor, Quantization, Rerank, SearchParams};
//!
//! /// Exact distances, but ids below 100 (say, sponsored items) first.
//! struct SponsoredFirst;
//!
//! impl Reranker for SponsoredFirst {
//!     fn rerank(&self, query: &[f32], candidates: &[Candidate<'_>]) -> Result<Vec<Neighbor>, RerankError> {
//!         let mut out: Vec<Neighbor> = candidates
//!             .iter()
//!             .map(|c| Neighbor {
//!                 id: c.id,
//!                 distance: Metric::L2.distance(query, c.original().unwrap_or(&[])),
//!             })
//!             .collect();
//!         out.sort_by(|a, b| (a.id >= 100, a.distance).partial_cmp(&(b.id >= 100, b.distance)).unwrap());
//!         Ok(out)
//!     }
//! }
//!
//! let mut options = IndexOptions::new(2, Metric::L2);
//! options.quantization = Quantization::Sq8;
//! let index = Index::new(options)?;
//! index.add_batch(&[7, 150, 151], &[5.0, 5.0, 0.0, 0.1, 0.1, 0.0])?;
//! let hits = index.search_with(&[0.0, 0.0], &SearchParams::new(2).rerank(Rerank::Custom(&SponsoredFirst)))?;
//! assert_eq!(hits[0].id, 7);
//! # Ok::<(), stratavec::Error>(())
//! ```

use crate::base::options::Neighbor;

/// What a [`Reranker`] may fail with; it reaches the caller as [`crate::Error::Rerank`].
pub type RerankError = Box<dyn std::error::Error + Send + Sync>;

/// One candidate handed to a [`Reranker`].
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The user id.
    pub id: u64,
    /// The distance the search computed (approximate when the index is quantized).
    pub distance: f32,
    original: &'a [f32],
}

impl<'a> Candidate<'a> {
    pub(crate) fn new(id: u64, distance: f32, original: &'a [f32]) -> Self {
        Candidate {
            id,
            distance,
            original,
        }
    }

    /// The stored full-precision vector (unit length under cosine, since the index normalises
    /// what it stores), when the index keeps originals.
    pub fn original(&self) -> Option<&'a [f32]> {
        (!self.original.is_empty()).then_some(self.original)
    }
}

/// Rescores and reorders search candidates. `Send + Sync`: searches run on many threads.
pub trait Reranker: Send + Sync {
    /// Given the query (as the caller passed it) and the candidates (nearest first by the search's
    /// distance, `k × oversample` of them at most), returns the final list in the order to report;
    /// the index keeps its first `k`.
    ///
    /// # Errors
    /// Any error; the search returns it as [`crate::Error::Rerank`].
    fn rerank(
        &self,
        query: &[f32],
        candidates: &[Candidate<'_>],
    ) -> Result<Vec<Neighbor>, RerankError>;
}

/// How a search reranks its candidates.
#[derive(Clone, Copy, Default)]
pub enum Rerank<'a> {
    /// Exact reranking for a quantized index (it keeps its originals), none for an f32 index
    /// (its distances are already exact).
    #[default]
    Auto,
    /// Report the traversal's distances as they are.
    None,
    /// Rescore `k × oversample` candidates with the exact distance to the stored originals.
    Exact,
    /// Hand `k × oversample` candidates to user code.
    Custom(&'a dyn Reranker),
}

impl std::fmt::Debug for Rerank<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rerank::Auto => "Auto",
            Rerank::None => "None",
            Rerank::Exact => "Exact",
            Rerank::Custom(_) => "Custom(..)",
        })
    }
}
