//! HNSW: the graph, its parallel build and its search.

use crate::distance::Metric;
use crate::error::Result;

/// Default number of links per node on the upper levels (level 0 keeps up to `2·m`).
pub const DEFAULT_M: usize = 16;
/// Default beam width while building.
pub const DEFAULT_EF_CONSTRUCTION: usize = 200;
/// Default beam width while searching (raised to `k` when `k` is larger).
pub const DEFAULT_EF_SEARCH: usize = 64;

/// How an [`Index`] is built.
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
        }
    }
}

/// One search hit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The user id.
    pub id: u64,
    /// Its distance to the query under the index's metric.
    pub distance: f32,
}

/// Parameters of one search.
#[derive(Clone, Copy)]
pub struct SearchParams<'a> {
    /// How many neighbours to return.
    pub k: usize,
    /// Beam width; `None` means `max(k, DEFAULT_EF_SEARCH)`.
    pub ef: Option<usize>,
    /// Only ids for which this returns `true` are returned.
    pub filter: Option<&'a (dyn Fn(u64) -> bool + Sync)>,
}

impl<'a> SearchParams<'a> {
    /// `k` neighbours with the default beam and no filter.
    pub fn new(k: usize) -> Self {
        SearchParams {
            k,
            ef: None,
            filter: None,
        }
    }

    /// Sets the beam width.
    pub fn ef(mut self, ef: usize) -> Self {
        self.ef = Some(ef);
        self
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: &'a (dyn Fn(u64) -> bool + Sync)) -> Self {
        self.filter = Some(filter);
        self
    }
}

/// An HNSW index held in memory.
pub struct Index {
    options: IndexOptions,
}

impl Index {
    /// Creates an empty index.
    pub fn new(options: IndexOptions) -> Result<Self> {
        Ok(Index { options })
    }

    /// The options it was built with.
    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    /// Adds one vector.
    pub fn add(&self, id: u64, vector: &[f32]) -> Result<()> {
        let _ = (id, vector);
        todo!()
    }

    /// Adds many vectors in parallel; `vectors` holds `ids.len()` rows of `dim` values.
    pub fn add_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        let _ = (ids, vectors);
        todo!()
    }

    /// The `k` nearest neighbours of `query`.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Neighbor>> {
        self.search_with(query, &SearchParams::new(k))
    }

    /// Search with explicit parameters.
    pub fn search_with(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        let _ = (query, params);
        todo!()
    }

    /// Searches `queries` (rows of `dim` values) in parallel.
    pub fn search_batch(
        &self,
        queries: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Vec<Neighbor>>> {
        let _ = (queries, params);
        todo!()
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        0
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.options.dim
    }

    /// Whether `id` is in the index.
    pub fn contains(&self, id: u64) -> bool {
        let _ = id;
        false
    }

    /// The stored vector of `id` (normalised under cosine).
    pub fn get(&self, id: u64) -> Result<Vec<f32>> {
        Err(crate::Error::UnknownId { id })
    }
}
