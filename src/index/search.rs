//! Searching an [`Index`]: the parameters, then one path for every codec and layout — check and
//! prepare the query, choose its scorer once ([`Traversal`]), find candidates (the planner),
//! rerank them.

use std::sync::atomic::AtomicU64;

use rayon::prelude::*;

use super::filter::Allowed;
use super::planner;
use super::stats::{Path, SearchStats, SearchWork};
use super::{Body, Index};
use crate::base::options::{IndexOptions, Neighbor, DEFAULT_EF_SEARCH};
use crate::base::view::{GraphView, RowView};
use crate::distance::{self, VectorDistance, WithDistance};
use crate::error::{Error, Result};
use crate::hnsw::{with_scratch, Accept, Graph, Scored, Scratch};
use crate::payload::Filter;
use crate::quant::{BlockScorer, Codec, Level0, Scorer, Traversal, VisitScorer, WithScorer};
use crate::rerank::{Candidate, Rerank};

/// Parameters of one search.
#[derive(Clone, Copy)]
pub struct SearchParams<'a> {
    /// How many neighbours to return.
    pub k: usize,
    /// Beam width; `None` means `max(k, DEFAULT_EF_SEARCH)`.
    pub ef: Option<usize>,
    /// Only ids for which this returns `true` are returned.
    pub filter: Option<&'a (dyn Fn(u64) -> bool + Sync)>,
    /// Only rows whose payload matches this are returned (with [`SearchParams::filter`] too,
    /// both must pass). The filter is compiled once per search into the exact set of matching
    /// rows, and the planner chooses the exact scan, the graph walk or the two-hop walk by its
    /// size.
    pub payload_filter: Option<&'a Filter>,
    /// How the candidates are reranked (default: exactly for a quantized index).
    pub rerank: Rerank<'a>,
    /// Candidates reranked per result: `k × oversample` (default
    /// [`IndexOptions::default_oversample`](crate::IndexOptions::default_oversample); the beam is
    /// widened to hold them, and [`SearchCounts::beams_raised`](crate::SearchCounts) counts it).
    pub oversample: Option<usize>,
    /// Counters to add this search's work to.
    pub stats: Option<&'a SearchStats>,
}

impl<'a> SearchParams<'a> {
    /// `k` neighbours with the default beam and no filter.
    pub fn new(k: usize) -> Self {
        SearchParams {
            k,
            ef: None,
            filter: None,
            payload_filter: None,
            rerank: Rerank::Auto,
            oversample: None,
            stats: None,
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

    /// Sets the payload filter.
    pub fn payload_filter(mut self, filter: &'a Filter) -> Self {
        self.payload_filter = Some(filter);
        self
    }

    /// Sets the reranking.
    pub fn rerank(mut self, rerank: Rerank<'a>) -> Self {
        self.rerank = rerank;
        self
    }

    /// Counts this search's work in `stats`.
    pub fn stats(mut self, stats: &'a SearchStats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Sets the oversampling factor of the reranking.
    pub fn oversample(mut self, oversample: usize) -> Self {
        self.oversample = Some(oversample);
        self
    }
}

/// The beam and candidate counts of one search, from its parameters.
#[derive(Clone, Copy, Debug)]
struct Plan {
    k: usize,
    /// The beam width used.
    ef: usize,
    /// Candidates kept for the reranking (`k` without one).
    pool: usize,
    /// Whether the beam was widened past the one asked for to hold `pool`.
    raised: bool,
    rerank_exact: bool,
}

impl Index {
    /// The `k` nearest neighbours of `query`, nearest first, with the default beam.
    ///
    /// # Errors
    /// As [`Index::search_with`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Neighbor>> {
        self.search_with(query, &SearchParams::new(k))
    }

    /// The nearest neighbours of `query` under `params`, nearest first. An empty index gives an
    /// empty result; fewer than `k` hits come back only when fewer than `k` vectors (that pass the
    /// filter) exist — so a `k` larger than the index returns them all, and costs no memory for
    /// the `k` asked.
    ///
    /// With a filter, the graph search skips non-matching ids in its results but still walks
    /// through them; when the filter is estimated to keep so few ids that walking the graph would
    /// cost more than scoring them all, the search is exact over the matching ids instead, and an
    /// approximate search that finds fewer than `k` matches falls back to the exact one
    /// ([`crate::SearchCounts`] counts which path each search took).
    ///
    /// With a payload filter, the filter is checked against [`Index::schema`] first.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::InvalidVector`] (NaN, infinity, zero under cosine),
    /// [`Error::InvalidParameter`] when `k`, `ef` or `oversample` is 0; [`Error::InvalidFilter`]
    /// for a payload filter on an unknown field, with a value of the wrong type, or too large.
    pub fn search_with(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        if let Some(f) = params.payload_filter {
            f.check(&self.schema())?;
        }
        self.search_masked(query, params, None)
    }

    /// [`Index::search_with`] that also skips the slots set in `dead` (a bitmap over internal
    /// slots: a collection's deletes in a sealed segment).
    pub(crate) fn search_masked(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
        dead: Option<&[AtomicU64]>,
    ) -> Result<Vec<Neighbor>> {
        match &self.body {
            Body::Memory(mem) => {
                let packed = self.packed_blocks(mem);
                let st = mem.snapshot();
                // Blocks packed from another length of graph (an add started meanwhile) are not
                // used: the search then reads the code rows.
                let blocks = packed
                    .as_deref()
                    .filter(|p| p.nodes == st.len())
                    .map(|p| p.bytes());
                let allowed = params
                    .payload_filter
                    .map(|f| self.allowed_in_memory(&st, f, dead))
                    .transpose()?;
                let masks = Masks {
                    dead,
                    allowed: allowed.as_ref(),
                };
                self.search_view(&*st, mem.codec.get(), blocks, query, params, masks)
            }
            Body::Segment(seg) => {
                let allowed = params
                    .payload_filter
                    .map(|f| self.allowed_in_segment(f, dead))
                    .transpose()?;
                let masks = Masks {
                    dead,
                    allowed: allowed.as_ref(),
                };
                self.search_view(&**seg, seg.codec(), seg.blocks(), query, params, masks)
            }
        }
    }

    /// Searches `queries` (row after row) in parallel on the rayon pool; one result list per query.
    ///
    /// # Errors
    /// As [`Index::search_with`]; [`Error::InvalidParameter`] when `queries.len()` is not a
    /// multiple of `dim`.
    pub fn search_batch(
        &self,
        queries: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Vec<Neighbor>>> {
        per_query(queries, self.options.dim, |q| self.search_with(q, params))
    }

    /// The exact `k` nearest neighbours by scoring every vector (for checks and small indexes).
    ///
    /// # Errors
    /// As [`Index::search_with`].
    pub fn search_exact(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        self.plan(params, false)?;
        if let Some(f) = params.payload_filter {
            f.check(&self.schema())?;
        }
        match &self.body {
            Body::Memory(mem) => {
                let st = mem.snapshot();
                let allowed = params
                    .payload_filter
                    .map(|f| self.allowed_in_memory(&st, f, None))
                    .transpose()?;
                self.exact_view(&*st, query, params, allowed.as_ref())
            }
            Body::Segment(seg) => {
                let allowed = params
                    .payload_filter
                    .map(|f| self.allowed_in_segment(f, None))
                    .transpose()?;
                self.exact_view(&**seg, query, params, allowed.as_ref())
            }
        }
    }

    fn exact_view<G: GraphView>(
        &self,
        st: &G,
        query: &[f32],
        params: &SearchParams<'_>,
        allowed: Option<&Allowed>,
    ) -> Result<Vec<Neighbor>> {
        let accept = Masks {
            dead: None,
            allowed,
        }
        .accept(params, st);
        with_scratch(|s| {
            let q = prepare_query(s, query, &self.options, st.vectors().stride())?;
            let exact = ExactScan {
                graph: Graph { st },
                k: params.k,
                accept: &accept,
                s,
            };
            self.options.metric.with_best_distance(FloatJob {
                query: &q,
                rows: st.vectors(),
                job: exact,
            });
            let hits = sorted_results(s, params.k);
            s.query = q;
            Ok(hits.iter().map(|h| neighbor(st, h)).collect())
        })
    }

    /// One search on a view: the plan, the query, the candidates, the reranking.
    fn search_view<G: GraphView>(
        &self,
        st: &G,
        codec: Option<&Codec>,
        blocks: Option<&[u8]>,
        query: &[f32],
        params: &SearchParams<'_>,
        masks: Masks<'_>,
    ) -> Result<Vec<Neighbor>> {
        let plan = self.plan(params, codec.is_some_and(|c| !c.exact_results()))?;
        let accept = masks.accept(params, st);
        let count = masks.allowed.map(|a| a.count);
        with_scratch(|s| {
            let q = prepare_query(s, query, &self.options, st.vectors().stride())?;
            let out = if st.len() == 0 {
                Ok(Vec::new())
            } else {
                let found = Found {
                    accept: &accept,
                    count,
                };
                self.search_prepared(st, codec, blocks, query, &q, &plan, found, params, s)
            };
            s.query = q;
            out
        })
    }

    /// [`Index::search_view`] once the query is checked and prepared (`q`: padded, normalised).
    #[allow(clippy::too_many_arguments)]
    fn search_prepared<G: GraphView>(
        &self,
        st: &G,
        codec: Option<&Codec>,
        blocks: Option<&[u8]>,
        query: &[f32],
        q: &[f32],
        plan: &Plan,
        found: Found<'_>,
        params: &SearchParams<'_>,
        s: &mut Scratch,
    ) -> Result<Vec<Neighbor>> {
        let traversal = Traversal {
            metric: self.options.metric,
            query: q,
            dim: self.options.dim,
            m: self.options.m,
            vectors: st.vectors(),
            codec,
            codes: st.codes(),
            blocks,
        };
        let path = traversal.run(Candidates {
            graph: Graph { st },
            plan,
            accept: found.accept,
            count: found.count,
            s: &mut *s,
        });
        let mut hits = sorted_results(s, plan.pool);
        let mut reranked = 0;
        let out = match params.rerank {
            Rerank::Custom(reranker) => {
                let dim = self.options.dim;
                let vectors = st.vectors();
                let candidates: Vec<Candidate<'_>> = hits
                    .iter()
                    .map(|h| Candidate::new(st.label(h.id), h.dist, &vectors.row(h.id)[..dim]))
                    .collect();
                let mut out = reranker
                    .rerank(query, &candidates)
                    .map_err(|source| Error::Rerank { source })?;
                out.truncate(plan.k);
                out
            }
            _ => {
                if plan.rerank_exact {
                    reranked = hits.len() as u64;
                    self.rescore(q, st.vectors(), &mut hits);
                }
                hits.iter().take(plan.k).map(|h| neighbor(st, h)).collect()
            }
        };
        if let Some(stats) = params.stats {
            let bytes = self.bytes_read(st, codec, blocks.is_some(), path, s, reranked);
            stats.add(&SearchWork {
                expanded: s.expanded,
                scored: s.scored,
                reranked,
                path,
                beam: plan.ef,
                beam_raised: plan.raised,
                bytes,
            });
        }
        Ok(out)
    }

    /// The bytes a search read, by part (blocks, code rows, f32 vectors), from its counters: a
    /// block per visited node when level 0 was walked on blocks, a code row (or f32 row) per
    /// distance otherwise (the exact scan and the two-hop walk score rows through the scorer,
    /// never blocks), an original per reranked candidate. Upper levels are not counted (a few
    /// nodes a query).
    fn bytes_read<G: GraphView>(
        &self,
        st: &G,
        codec: Option<&Codec>,
        has_blocks: bool,
        path: Path,
        s: &Scratch,
        reranked: u64,
    ) -> [u64; 3] {
        let vector = 4 * st.vectors().stride() as u64;
        let row = st.codes().map_or(0, |c| c.stride() as u64);
        let walked_blocks = has_blocks && matches!(path, Path::Walk | Path::WalkThenExact);
        let block = match (walked_blocks, codec) {
            (true, Some(Codec::Rq(rq))) => {
                rq.block_shape(self.options.m, st.vectors().stride()).stride as u64
            }
            (true, Some(Codec::Sq(_))) => {
                crate::quant::blocks::BlockShape::new(self.options.dim, self.options.m).stride
                    as u64
            }
            _ => 0,
        };
        let (blocks, scored_rows) = if block > 0 {
            (s.expanded * block, 0)
        } else {
            (0, s.scored)
        };
        let (codes, originals) = if row > 0 {
            (scored_rows * row, reranked * vector)
        } else {
            (0, (scored_rows + reranked) * vector)
        };
        [blocks, codes, originals]
    }

    /// Replaces the distances of `hits` with exact ones on the f32 `rows` and sorts them.
    fn rescore(&self, q: &[f32], rows: RowView<'_, f32>, hits: &mut [Scored]) {
        struct Rescore<'h> {
            hits: &'h mut [Scored],
        }
        impl ScoreFloat for Rescore<'_> {
            fn run<S: Scorer>(self, exact: &S) {
                self.hits
                    .iter_mut()
                    .for_each(|h| h.dist = exact.score(h.id));
                self.hits.sort_unstable();
            }
        }
        self.options.metric.with_best_distance(FloatJob {
            query: q,
            rows,
            job: Rescore { hits },
        });
    }

    /// Validates the parameters and derives the beam: `ef` (or the default), at least `k`,
    /// widened to hold the `k × oversample` candidates a reranking needs.
    fn plan(&self, params: &SearchParams<'_>, quantized: bool) -> Result<Plan> {
        if params.k == 0 {
            return Err(Error::invalid_parameter("k", "must be at least 1"));
        }
        if params.oversample == Some(0) {
            return Err(Error::invalid_parameter("oversample", "must be at least 1"));
        }
        if params.ef == Some(0) {
            return Err(Error::invalid_parameter("ef", "must be at least 1"));
        }
        let k = params.k;
        let asked = params.ef.unwrap_or(DEFAULT_EF_SEARCH).max(k);
        let rerank_exact = match params.rerank {
            Rerank::Auto | Rerank::Exact => quantized,
            Rerank::None | Rerank::Custom(_) => false,
        };
        let pool = match params.rerank {
            Rerank::None => k,
            Rerank::Auto if !quantized => k,
            Rerank::Auto | Rerank::Exact | Rerank::Custom(_) => {
                let oversample = params
                    .oversample
                    .unwrap_or_else(|| self.options.default_oversample());
                k.saturating_mul(oversample)
            }
        };
        Ok(Plan {
            k,
            ef: asked.max(pool),
            pool,
            raised: pool > asked,
            rerank_exact,
        })
    }
}

/// Finds a search's candidates with the scorer the traversal chose (the job of
/// [`Traversal::run`]).
struct Candidates<'a, 's, G> {
    graph: Graph<'a, G>,
    plan: &'a Plan,
    accept: &'a Accept<'a>,
    /// The exact number of nodes `accept` takes, when a payload filter gave the set.
    count: Option<usize>,
    s: &'s mut Scratch,
}

/// The masks of one search beyond the view's own deletes: the caller's dead rows, the payload
/// filter's allowed rows (which already leave out every deleted and dead row).
#[derive(Clone, Copy)]
struct Masks<'a> {
    dead: Option<&'a [AtomicU64]>,
    allowed: Option<&'a Allowed>,
}

impl<'a> Masks<'a> {
    fn accept<G: GraphView>(self, params: &SearchParams<'a>, st: &G) -> Accept<'a> {
        match self.allowed {
            Some(a) => Accept {
                filter: params.filter,
                allow: Some(a.bits.words()),
                dead: None,
                view_has_deletes: false,
            },
            None => Accept {
                filter: params.filter,
                allow: None,
                dead: self.dead,
                view_has_deletes: st.has_deletes(),
            },
        }
    }
}

/// What the candidates of a search must pass, and how many nodes do.
#[derive(Clone, Copy)]
struct Found<'a> {
    accept: &'a Accept<'a>,
    count: Option<usize>,
}

impl<G: GraphView> WithScorer for Candidates<'_, '_, G> {
    type Output = Path;

    fn run<S: Scorer, B: BlockScorer, V: VisitScorer>(
        self,
        scorer: &S,
        level0: Level0<'_, B, V>,
    ) -> Path {
        let p = self.plan;
        let want = planner::Want {
            ef: p.ef,
            k: p.k,
            count: self.count,
        };
        planner::collect(&self.graph, scorer, level0, want, self.accept, self.s)
    }
}

/// Code that runs with an exact scorer on f32 rows.
trait ScoreFloat {
    fn run<S: Scorer>(self, exact: &S);
}

/// Builds the exact scorer of a metric for [`ScoreFloat`] jobs.
struct FloatJob<'a, J> {
    query: &'a [f32],
    rows: RowView<'a, f32>,
    job: J,
}

impl<J: ScoreFloat> WithDistance for FloatJob<'_, J> {
    type Output = ();

    fn run<D: VectorDistance>(self, distance: D) {
        let scorer = crate::quant::FloatScorer::new(self.query, self.rows, distance);
        self.job.run(&scorer);
    }
}

/// The exact scan of [`Index::search_exact`].
struct ExactScan<'a, 's, G> {
    graph: Graph<'a, G>,
    k: usize,
    accept: &'a Accept<'a>,
    s: &'s mut Scratch,
}

impl<G: GraphView> ScoreFloat for ExactScan<'_, '_, G> {
    fn run<S: Scorer>(self, exact: &S) {
        self.graph.exact(exact, self.k, self.s, self.accept);
    }
}

/// `search(q)` for each row `q` of `queries` (`dim` values each), in parallel on the rayon pool.
///
/// # Errors
/// [`Error::InvalidParameter`] when `queries.len()` is not a multiple of `dim`; the first error
/// of a search.
pub(crate) fn per_query<T: Send>(
    queries: &[f32],
    dim: usize,
    search: impl Fn(&[f32]) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    if !queries.len().is_multiple_of(dim) {
        return Err(Error::invalid_parameter(
            "queries",
            format!("length {} is not a multiple of dim {dim}", queries.len()),
        ));
    }
    queries.par_chunks(dim).map(&search).collect()
}

/// The best `n` results of the scratch, nearest first (the heap is emptied).
fn sorted_results(s: &mut Scratch, n: usize) -> Vec<Scored> {
    let mut hits: Vec<Scored> = s.results.drain().collect();
    hits.sort_unstable();
    hits.truncate(n);
    hits
}

/// A result as the user sees it.
fn neighbor<G: GraphView>(st: &G, h: &Scored) -> Neighbor {
    Neighbor {
        id: st.label(h.id),
        distance: h.dist,
    }
}

/// Checks `query` and copies it into the scratch's buffer, normalised under cosine and padded to
/// `stride`; returns the buffer (the caller puts it back in `s.query` when done), with the
/// scratch's counters reset.
fn prepare_query(
    s: &mut Scratch,
    query: &[f32],
    options: &IndexOptions,
    stride: usize,
) -> Result<Vec<f32>> {
    if query.len() != options.dim {
        return Err(Error::DimensionMismatch {
            expected: options.dim,
            got: query.len(),
        });
    }
    if let Some(pos) = query.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidVector {
            reason: format!("query component {pos} is {}", query[pos]),
        });
    }
    let mut buf = std::mem::take(&mut s.query);
    buf.clear();
    buf.extend_from_slice(query);
    if options.metric.normalizes() && !distance::normalize(&mut buf) {
        s.query = buf;
        return Err(Error::InvalidVector {
            reason: "query has zero norm and cannot be normalised for cosine".into(),
        });
    }
    buf.resize(stride.max(options.dim), 0.0);
    s.expanded = 0;
    s.scored = 0;
    Ok(buf)
}
