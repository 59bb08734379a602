//! Searching an [`Index`]: the parameters, then one path for every codec and layout — check and
//! prepare the query, choose its scorer once ([`Traversal`]), find candidates (the planner),
//! rerank them.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use rayon::prelude::*;

use super::filter::Allowed;
use super::groups::group_for;
use super::planner;
use super::stats::{Path, SearchStats, SearchWork};
use super::{Body, Index, Memory};
use crate::base::calibration::Choice;
use crate::base::groups::GroupGraph;
use crate::base::options::{IndexOptions, Neighbor, DEFAULT_EF_SEARCH};
use crate::base::view::{GraphView, RowView};
use crate::distance::{self, VectorDistance, WithDistance};
use crate::error::{Error, Result};
use crate::hnsw::Storage;
use crate::hnsw::{with_scratch, Accept, Graph, Scored, Scratch};
use crate::payload::Filter;
use crate::quant::blocks::PackedBlocks;
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
    /// The Recall@k to reach instead of a beam width: the beam (and, unless `oversample` is
    /// given, the oversampling) is chosen from the index's calibration. In (0, 1]; not with `ef`.
    /// See [`SearchParams::target_recall`].
    pub target_recall: Option<f64>,
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
            target_recall: None,
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

    /// Sets the payload filter.
    pub fn payload_filter(mut self, filter: &'a Filter) -> Self {
        self.payload_filter = Some(filter);
        self
    }

    /// Asks for a Recall@k instead of a beam width: the search uses the smallest beam that the
    /// index's [calibration](crate::Index::calibrate) says reaches `target` (for this `k`, the
    /// oversampling, and the selectivity of the filter), and, when `oversample` is not given, the
    /// index's default oversampling — or the smallest calibrated one that reaches the target.
    /// [`SearchCounts::beam_sum`](crate::SearchCounts) and `targeted` report the beams chosen.
    /// `docs/recall-target.md` says how the calibration is measured and how accurate it is.
    ///
    /// An index opened from a segment file uses the calibration stored in it; one built in
    /// memory, the one its bulk [`Index::add_batch`] measured. Without one (or once it is stale:
    /// see [`Index::calibrate`]), the first search that asks for a target calibrates the index,
    /// and takes about as long as a few thousand searches; [`Index::calibrate`] pays that up
    /// front.
    ///
    /// # Errors (of the search)
    /// [`Error::InvalidParameter`] when `target` is not in (0, 1] or `ef` is given too;
    /// [`Error::UnreachableRecall`] (with the best recall the calibration saw) when no calibrated
    /// beam reaches it.
    pub fn target_recall(mut self, target: f64) -> Self {
        self.target_recall = Some(target);
        self
    }
}

/// The beam and candidate counts of one search, from its parameters.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    k: usize,
    /// The beam width used.
    pub ef: usize,
    /// Candidates kept for the reranking (`k` without one).
    pool: usize,
    /// Whether the beam was widened past the one asked for to hold `pool`.
    raised: bool,
    rerank_exact: bool,
    /// Whether the beam came from a recall target.
    targeted: bool,
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
        self.search_tuned(query, params, dead, 1.0)
    }

    /// [`Index::search_masked`] with the beam of a recall target multiplied by `beam_scale` (a
    /// collection's live correction of the calibration, issue 17; 1 leaves it as calibrated).
    pub(crate) fn search_tuned(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
        dead: Option<&[AtomicU64]>,
        beam_scale: f64,
    ) -> Result<Vec<Neighbor>> {
        // Not through `on_view`: the payload filter's matching rows are computed on the same
        // snapshot the search reads.
        match &self.body {
            Body::Memory(mem) => {
                let (st, packed) = self.memory_view(mem);
                let allowed = params
                    .payload_filter
                    .map(|f| self.allowed_in_memory(&st, f, dead))
                    .transpose()?;
                let groups = mem.groups.read().clone().filter(|g| g.nodes == st.len());
                let masks = Masks {
                    dead,
                    allowed: allowed.as_ref(),
                    group: params
                        .payload_filter
                        .zip(groups.as_deref())
                        .and_then(|(f, g)| group_for(g, f)),
                };
                let view = View {
                    st: &*st,
                    codec: mem.codec.get(),
                    blocks: current_blocks(packed.as_deref(), st.len()),
                };
                self.search_view(view, query, params, masks, beam_scale)
            }
            Body::Segment(seg) => {
                let allowed = params
                    .payload_filter
                    .map(|f| self.allowed_in_segment(f, dead))
                    .transpose()?;
                let masks = Masks {
                    dead,
                    allowed: allowed.as_ref(),
                    group: params
                        .payload_filter
                        .filter(|_| seg.groups().is_some())
                        .and_then(|f| group_for(&**seg, f)),
                };
                let view = View {
                    st: &**seg,
                    codec: seg.codec(),
                    blocks: seg.blocks(),
                };
                self.search_view(view, query, params, masks, beam_scale)
            }
        }
    }

    /// The current storage of an in-memory index and its packed blocks (packed now when the graph
    /// changed and no add runs).
    fn memory_view(&self, mem: &Memory) -> (Arc<Storage>, Option<Arc<PackedBlocks>>) {
        let packed = self.packed_blocks(mem);
        (mem.snapshot(), packed)
    }

    /// Runs `job` on the index's current view: the in-memory storage (with the fast-scan blocks
    /// of its current graph, when packed) or the segment.
    pub(super) fn on_view<J: OnView>(&self, job: J) -> J::Output {
        match &self.body {
            Body::Memory(mem) => {
                let (st, packed) = self.memory_view(mem);
                job.run(
                    self,
                    View {
                        st: &*st,
                        codec: mem.codec.get(),
                        blocks: current_blocks(packed.as_deref(), st.len()),
                    },
                )
            }
            Body::Segment(seg) => job.run(
                self,
                View {
                    st: &**seg,
                    codec: seg.codec(),
                    blocks: seg.blocks(),
                },
            ),
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
        self.search_exact_masked(query, params, None)
    }

    /// [`Index::search_exact`] that also skips the slots set in `dead` (see
    /// [`Index::search_masked`]).
    pub(crate) fn search_exact_masked(
        &self,
        query: &[f32],
        params: &SearchParams<'_>,
        dead: Option<&[AtomicU64]>,
    ) -> Result<Vec<Neighbor>> {
        self.plan(params, false, None)?;
        if let Some(f) = params.payload_filter {
            f.check(&self.schema())?;
        }
        match &self.body {
            Body::Memory(mem) => {
                let st = mem.snapshot();
                let allowed = params
                    .payload_filter
                    .map(|f| self.allowed_in_memory(&st, f, dead))
                    .transpose()?;
                let masks = Masks {
                    dead,
                    allowed: allowed.as_ref(),
                    group: None,
                };
                self.exact_view(&*st, query, params, masks)
            }
            Body::Segment(seg) => {
                let allowed = params
                    .payload_filter
                    .map(|f| self.allowed_in_segment(f, dead))
                    .transpose()?;
                let masks = Masks {
                    dead,
                    allowed: allowed.as_ref(),
                    group: None,
                };
                self.exact_view(&**seg, query, params, masks)
            }
        }
    }

    fn exact_view<G: GraphView>(
        &self,
        st: &G,
        query: &[f32],
        params: &SearchParams<'_>,
        masks: Masks<'_>,
    ) -> Result<Vec<Neighbor>> {
        let accept = masks.accept(params, st);
        with_scratch(|s| {
            let q = prepare_query(s, query, &self.options, st.vectors().stride())?;
            let hits = self.exact_scan(st, &q, params.k, &accept, s);
            s.query = q;
            Ok(hits.iter().map(|h| neighbor(st, h)).collect())
        })
    }

    /// The exact `k` nearest nodes `accept` takes of the prepared query `q`, nearest first.
    pub(super) fn exact_scan<G: GraphView>(
        &self,
        st: &G,
        q: &[f32],
        k: usize,
        accept: &Accept<'_>,
        s: &mut Scratch,
    ) -> Vec<Scored> {
        let exact = ExactScan {
            graph: Graph { st },
            k,
            accept,
            s: &mut *s,
        };
        self.options.metric.with_best_distance(FloatJob {
            query: q,
            rows: st.vectors(),
            job: exact,
        });
        sorted_results(s, k)
    }

    /// One search on a view: the plan, the query, the candidates, the reranking.
    fn search_view<G: GraphView>(
        &self,
        view: View<'_, G>,
        query: &[f32],
        params: &SearchParams<'_>,
        masks: Masks<'_>,
        beam_scale: f64,
    ) -> Result<Vec<Neighbor>> {
        let View { st, codec, blocks } = view;
        let quantized = view.reranks();
        let count = masks.allowed.map(|a| a.count);
        // Recall-target hook (issue 17, index/target.rs): the beam from the calibration, for
        // the payload filter's exact selectivity when there is one.
        let chosen = self.choose_beam(view, params, quantized, beam_scale, count)?;
        let plan = self.plan(params, quantized, chosen)?;
        let accept = masks.accept(params, st);
        with_scratch(|s| {
            let q = prepare_query(s, query, &self.options, st.vectors().stride())?;
            let out = if st.len() == 0 {
                Ok(Vec::new())
            } else {
                let found = Found {
                    accept: &accept,
                    count,
                    group: masks.group,
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
        let want = planner::Want {
            ef: plan.ef,
            k: plan.k,
            count: found.count,
            group: found.group,
        };
        let path = self.walk(st, codec, blocks, q, want, found.accept, s);
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
                targeted: plan.targeted,
                bytes,
            });
        }
        Ok(out)
    }

    /// Finds the candidates of the prepared query `q` with the beam of `want` (the planner's
    /// walk, two-hop walk or exact scan), leaving the best `want.ef` in `s.results`; returns the
    /// path taken.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn walk<G: GraphView>(
        &self,
        st: &G,
        codec: Option<&Codec>,
        blocks: Option<&[u8]>,
        q: &[f32],
        want: planner::Want<'_>,
        accept: &Accept<'_>,
        s: &mut Scratch,
    ) -> Path {
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
        traversal.run(Candidates {
            graph: Graph { st },
            want,
            accept,
            s,
        })
    }

    /// The bytes a search read, by part (blocks, code rows, f32 vectors), from its counters: a
    /// block per visited node when level 0 was walked on blocks, a code row (or f32 row) per
    /// distance otherwise (the exact scan and the two-hop walk score rows through the scorer,
    /// never blocks), an original per reranked candidate. Upper levels are not counted
    /// (a few nodes a query).
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
        self.score_exact(q, rows, hits);
        hits.sort_unstable();
    }

    /// Replaces the distances of `hits` with exact ones on the f32 `rows`, in place.
    pub(super) fn score_exact(&self, q: &[f32], rows: RowView<'_, f32>, hits: &mut [Scored]) {
        struct Rescore<'h> {
            hits: &'h mut [Scored],
        }
        impl ScoreFloat for Rescore<'_> {
            fn run<S: Scorer>(self, exact: &S) {
                self.hits
                    .iter_mut()
                    .for_each(|h| h.dist = exact.score(h.id));
            }
        }
        self.options.metric.with_best_distance(FloatJob {
            query: q,
            rows,
            job: Rescore { hits },
        });
    }

    /// Validates the parameters and derives the beam: `ef` (or the default, or the beam
    /// `chosen` for a recall target), at least `k`, widened to hold the `k × oversample`
    /// candidates a reranking needs.
    pub(super) fn plan(
        &self,
        params: &SearchParams<'_>,
        quantized: bool,
        chosen: Option<Choice>,
    ) -> Result<Plan> {
        check_params(params)?;
        let k = params.k;
        let asked = match chosen {
            Some(c) => c.beam.max(k),
            None => params.ef.unwrap_or(DEFAULT_EF_SEARCH).max(k),
        };
        let rerank_exact = match params.rerank {
            Rerank::Auto | Rerank::Exact => quantized,
            Rerank::None | Rerank::Custom(_) => false,
        };
        let pool = match params.rerank {
            Rerank::None => k,
            Rerank::Auto if !quantized => k,
            Rerank::Auto | Rerank::Exact | Rerank::Custom(_) => {
                let oversample = chosen
                    .map(|c| c.oversample)
                    .or(params.oversample)
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
            targeted: chosen.is_some(),
        })
    }
}

/// The checks of every search's parameters (see [`Index::search_with`]).
pub(super) fn check_params(params: &SearchParams<'_>) -> Result<()> {
    if params.k == 0 {
        return Err(Error::invalid_parameter("k", "must be at least 1"));
    }
    if params.oversample == Some(0) {
        return Err(Error::invalid_parameter("oversample", "must be at least 1"));
    }
    if params.ef == Some(0) {
        return Err(Error::invalid_parameter("ef", "must be at least 1"));
    }
    if let Some(t) = params.target_recall {
        if !(t > 0.0 && t <= 1.0) {
            return Err(Error::invalid_parameter(
                "target_recall",
                format!("must be in (0, 1], got {t}"),
            ));
        }
        if params.ef.is_some() {
            return Err(Error::invalid_parameter(
                "ef",
                "give either a beam width (ef) or a recall target (target_recall), not both",
            ));
        }
    }
    Ok(())
}

/// What a search runs on: a graph view, the codec of its codes, the blocks of its layout.
pub(super) struct View<'a, G> {
    pub st: &'a G,
    pub codec: Option<&'a Codec>,
    pub blocks: Option<&'a [u8]>,
}

impl<G> Clone for View<'_, G> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<G> Copy for View<'_, G> {}

impl<G> View<'_, G> {
    /// Whether the walk's distances are estimates that an exact reranking improves.
    pub fn reranks(&self) -> bool {
        self.codec.is_some_and(|c| !c.exact_results())
    }
}

/// Code that runs on an index's current view ([`Index::on_view`]), compiled for each kind of view.
pub(super) trait OnView {
    type Output;
    fn run<G: GraphView>(self, index: &Index, view: View<'_, G>) -> Self::Output;
}

impl Index {}

/// Finds a search's candidates with the scorer the traversal chose (the job of
/// [`Traversal::run`]).
struct Candidates<'a, 's, G> {
    graph: Graph<'a, G>,
    want: planner::Want<'a>,
    accept: &'a Accept<'a>,
    s: &'s mut Scratch,
}

/// The masks of one search beyond the view's own deletes: the caller's dead rows, the payload
/// filter's allowed rows (which already leave out every deleted and dead row).
#[derive(Clone, Copy)]
struct Masks<'a> {
    dead: Option<&'a [AtomicU64]>,
    allowed: Option<&'a Allowed>,
    /// The group graph that holds every row the payload filter matches, if the index has one.
    group: Option<GroupGraph<'a>>,
}

impl<'a> Masks<'a> {
    fn accept<G: GraphView>(self, params: &SearchParams<'a>, st: &G) -> Accept<'a> {
        match self.allowed {
            Some(a) => Accept {
                filter: params.filter,
                allow: Some(a.bits.words()),
                dead: None,
                view_has_deletes: false,
                hidden: None,
            },
            None => Accept {
                filter: params.filter,
                allow: None,
                dead: self.dead,
                view_has_deletes: st.has_deletes(),
                hidden: None,
            },
        }
    }
}

/// What the candidates of a search must pass, and how many nodes do.
#[derive(Clone, Copy)]
struct Found<'a> {
    accept: &'a Accept<'a>,
    count: Option<usize>,
    group: Option<GroupGraph<'a>>,
}

/// The blocks packed for a graph of `nodes` nodes, if `packed` is: blocks packed from another
/// length of graph (an add started meanwhile) are not used, and the search reads the code rows.
fn current_blocks(packed: Option<&PackedBlocks>, nodes: usize) -> Option<&[u8]> {
    packed.filter(|p| p.nodes == nodes).map(|p| p.bytes())
}

impl<G: GraphView> WithScorer for Candidates<'_, '_, G> {
    type Output = Path;

    fn run<S: Scorer, B: BlockScorer, V: VisitScorer>(
        self,
        scorer: &S,
        level0: Level0<'_, B, V>,
    ) -> Path {
        planner::collect(&self.graph, scorer, level0, self.want, self.accept, self.s)
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
pub(super) fn sorted_results(s: &mut Scratch, n: usize) -> Vec<Scored> {
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
pub(super) fn prepare_query(
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
