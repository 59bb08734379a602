//! Calibrating an index (issue 17): sample queries drawn from the index's own vectors are searched
//! at a ladder of beams through the index's own search path — whatever its codec and layout —
//! against exact ground truth computed in the same pass; the mean Recall@k at each beam, for a
//! few `k` and oversampling factors, becomes its [`Calibration`].
//!
//! Two kinds of samples (`docs/recall-target.md` compares them with real queries):
//!
//! - **Held back** (a bulk [`Index::add_batch`]): the sample rows are written but linked into the
//!   graph only after the calibration, so each is a query from the data's own distribution that
//!   the graph has never seen — as a new query is. Its ground truth is over the linked rows.
//! - **Hidden** (an index calibrated later: [`Index::calibrate`] after many small adds, a segment
//!   saved without a calibration, a collection sealing a segment): the sample is a stored vector
//!   whose node the search never sees (scored, expanded nor returned). Its neighbours lost their
//!   link to it, which a graph that never held it would have spent elsewhere, so such a curve
//!   is pessimistic (it says a little less recall than real queries get): a wider beam, never a
//!   lower recall. Only level-0 nodes are drawn (the greedy descent never meets them).
//!
//! Per sample, the walk runs once per beam of the ladder, and its candidates give every
//! (k, oversample) cell at once (the walk depends on the beam only; `k × oversample` of its
//! candidates are reranked). The samples climb together, one beam at a time: a sample stops
//! climbing for a `k` once it found all its `k` neighbours and its top `k × default oversample`
//! candidates stayed the same at two beams in a row (the wider beams keep its last values),
//! and the ladder ends where the mean recall of every `k` reaches 0.9995 (or at its widest
//! beam).

use std::sync::atomic::AtomicU64;

use rayon::prelude::*;

use super::save::pack_blocks;
use super::search::{prepare_query, sorted_results, OnView, View};
use super::{Index, Memory};
use crate::base::calibration::{Calibration, Shape};
use crate::base::hash::{splitmix64, unit};
use crate::base::options::Layout;
use crate::base::view::{atomic_bit, EntryPoint, GraphView, RowView};
use crate::distance::{VectorDistance, WithDistance};
use crate::hnsw::Storage;
use crate::hnsw::{with_scratch, Accept, Scored, Scratch};
use crate::quant::blocks::PackedBlocks;

/// Sample queries of the curves for `k` ≤ 10.
pub(crate) const SAMPLES: usize = 1000;
/// Sample queries of the curves for larger `k` (they need wider beams: fewer, to bound the cost).
const SAMPLES_LARGE_K: usize = 100;
/// The `k` values calibrated (a smaller `k` uses the curve of 10: its recall at a beam is higher).
const KS: [u32; 2] = [10, 100];
/// Oversampling factors calibrated for an index whose walk is on estimates (besides its default).
const OVERSAMPLES: [u32; 6] = [1, 2, 3, 4, 6, 10];
/// Most candidates a calibrated cell reranks (`k × oversample`); larger cells are not measured.
const MAX_POOL: u32 = 512;
/// The widest beam of the ladder.
pub(crate) const MAX_BEAM: u32 = 1024;
/// Beams in a row with the same candidates after which a sample that found all its neighbours
/// stops climbing.
const STABLE_BEAMS: usize = 2;
/// The ladder ends at the beam where the mean recall of every curve reaches this.
const STOP_RECALL: f64 = 0.9995;
/// The selectivity of the filtered curves (a filter keeping a tenth of the ids).
const FILTER_SELECTIVITY: f32 = 0.1;
/// Samples of the filtered curves (for k ≤ 10): each costs about ten unfiltered ones (the walk
/// goes through ten times the nodes to fill its beam with matches).
const SAMPLES_FILTERED: usize = 100;
/// Live vectors an index needs for filtered curves (a tenth of them must still be a graph).
const FILTERED_MIN_LIVE: usize = 2000;
/// Queries whose exact ground truth is computed in one pass over the vectors.
const TRUTH_CHUNK: usize = 32;
/// Rows scored against the chunk's queries before moving on (they stay in cache).
const TRUTH_BLOCK: usize = 256;

/// The ladder of beams: the smallest k, then about √2 apart (a beam chosen between two rungs is
/// interpolated in log(beam) over at most 41 %: the curves are smooth there), plus every
/// `k × oversample` (the narrowest beam of each cell), up to `cap`.
pub(crate) fn ladder(ks: &[u32], oversamples: &[u32], cap: u32) -> Vec<u32> {
    let mut beams: Vec<u32> = vec![ks[0]];
    let mut x = f64::from(ks[0]);
    while (x as u32) < cap {
        x *= std::f64::consts::SQRT_2;
        beams.push((x.round() as u32).min(cap));
    }
    for &k in ks {
        for &o in oversamples {
            if k * o <= MAX_POOL {
                beams.push(k * o);
            }
        }
    }
    beams.retain(|&b| b <= cap);
    beams.push(cap);
    beams.sort_unstable();
    beams.dedup();
    beams
}

/// Which nodes are the sample queries, and how they are kept out of their own searches.
pub(super) enum Samples<'a> {
    /// Rows written but not linked (their slots are set in the bitmap, which every search and
    /// ground truth of the calibration skips).
    HeldBack {
        nodes: &'a [u32],
        unlinked: &'a [AtomicU64],
    },
    /// Drawn from the live level-0 nodes, each hidden from its own search; `dead` are slots to
    /// skip besides the view's deletes.
    Hidden { dead: Option<&'a [AtomicU64]> },
}

impl Index {
    /// Measures a calibration of the current graph with hidden samples (see the module's
    /// documentation). `None` when no node can be a sample.
    pub(crate) fn measure_calibration(&self, dead: Option<&[AtomicU64]>) -> Option<Calibration> {
        self.on_view(Measure {
            samples: Samples::Hidden { dead },
            default_oversample: self.options.default_oversample(),
        })
    }
}

/// Measures the calibration of `view` (what a file will hold, or a graph being built) for
/// `index`; `default_oversample` is that of the options the view is searched with (a file saved
/// with another codec or layout than the index's own has its own).
pub(super) fn measure_view<G: GraphView>(
    index: &Index,
    view: View<'_, G>,
    samples: Samples<'_>,
    default_oversample: usize,
) -> Option<Calibration> {
    Measure {
        samples,
        default_oversample,
    }
    .run(index, view)
}

/// The job of [`Index::measure_calibration`] on one view.
struct Measure<'a> {
    samples: Samples<'a>,
    /// The default oversampling of the searches the view serves.
    default_oversample: usize,
}

impl OnView for Measure<'_> {
    type Output = Option<Calibration>;

    fn run<G: GraphView>(self, index: &Index, view: View<'_, G>) -> Option<Calibration> {
        let st = view.st;
        let nodes = st.len();
        let seed = index.options.seed ^ nodes as u64;
        // `skip`: slots no ground truth holds; `walk_dead`: what the searches skip, as a real
        // search would (held-back rows are unreachable — nothing links to them yet — so the
        // walks run exactly as a query's, with nothing to skip).
        let (skip, walk_dead, queries, hidden) = match self.samples {
            Samples::HeldBack { nodes, unlinked } => (Some(unlinked), None, nodes.to_vec(), false),
            Samples::Hidden { dead } => {
                let entry = st.entry()?.node;
                let eligible = (0..nodes as u32)
                    .filter(|&i| i != entry && st.level(i) == 0 && is_live(st, dead, i));
                (dead, dead, draw(eligible, seed, SAMPLES), true)
            }
        };
        let live = (0..nodes as u32).filter(|&i| is_live(st, skip, i)).count();
        if queries.is_empty() || live < 2 {
            return None;
        }
        let reranks = view.reranks();
        let default_oversample = if reranks {
            self.default_oversample as u32
        } else {
            1
        };
        let mut oversamples = vec![1];
        if reranks {
            oversamples = OVERSAMPLES.to_vec();
            oversamples.push(default_oversample);
            oversamples.sort_unstable();
            oversamples.dedup();
        }
        let ks = KS.to_vec();
        let cap = MAX_BEAM.min((live as u32).max(KS[1]));
        let filtered = live >= FILTERED_MIN_LIVE;
        let shape = Shape {
            beams: ladder(&ks, &oversamples, cap),
            ks,
            oversamples,
            selectivities: if filtered {
                vec![1.0, FILTER_SELECTIVITY]
            } else {
                vec![1.0]
            },
        };
        // The filter of the filtered curves: a seeded hash of the id keeps a fraction of them,
        // spread evenly.
        let filter_seed = splitmix64(seed ^ 0xF117_E4ED);
        let keep =
            move |id: u64| unit(splitmix64(filter_seed ^ id)) < f64::from(FILTER_SELECTIVITY);
        let kmax = |sel: usize, i: usize| {
            if sel == 0 && i < SAMPLES_LARGE_K {
                100
            } else {
                10
            }
        };
        let mut groups = vec![(0usize, &queries[..])];
        if filtered {
            groups.push((1, &queries[..SAMPLES_FILTERED.min(queries.len())]));
        }
        let mut climbs: Vec<Climb> = Vec::new();
        for &(sel, group) in &groups {
            let filter: Option<&(dyn Fn(u64) -> bool + Sync)> = (sel > 0).then_some(&keep);
            let truths = ground_truths(index, st, group, skip, hidden, filter, |i| kmax(sel, i));
            climbs.extend(group.iter().zip(truths).enumerate().filter_map(
                |(i, (&node, truth))| {
                    let row = &st.vectors().row(node)[..index.options.dim];
                    let query = with_scratch(|s| {
                        let q = prepare_query(s, row, &index.options, st.vectors().stride());
                        let q = q.ok()?;
                        let copy = q.clone();
                        s.query = q;
                        Some(copy)
                    })?;
                    let ks = shape
                        .ks
                        .iter()
                        .filter(|&&k| k as usize <= kmax(sel, i))
                        .count();
                    Some(Climb {
                        node,
                        sel,
                        descent: None,
                        query,
                        truth,
                        out: vec![f32::NAN; shape.cells()],
                        previous: vec![Vec::new(); ks],
                        same: vec![0; ks],
                        stopped: vec![false; ks],
                    })
                },
            ));
        }
        let context = Context {
            index,
            view,
            shape: &shape,
            stable_pool: default_oversample as usize,
            o_stable: shape
                .oversamples
                .iter()
                .position(|&o| o == default_oversample)
                .unwrap_or(0),
        };
        let mut measured = shape.beams.len();
        for b in 0..shape.beams.len() {
            climbs.par_iter_mut().for_each(|c| {
                let accept = Accept {
                    filter: (c.sel > 0).then_some(&keep as &(dyn Fn(u64) -> bool + Sync)),
                    allow: None,
                    dead: walk_dead,
                    view_has_deletes: st.has_deletes(),
                    hidden: hidden.then_some(c.node),
                };
                with_scratch(|s| c.step(&context, &accept, b, s));
            });
            // A curve whose mean recall is all but perfect is done: wider beams would only cost.
            let mut all_done = true;
            for sel in 0..shape.selectivities.len() {
                for ki in 0..shape.ks.len() {
                    let at = shape.at(sel, ki, context.o_stable, b);
                    let ours = |c: &&mut Climb| c.sel == sel && ki < c.stopped.len();
                    let (sum, n) = climbs
                        .iter_mut()
                        .filter(ours)
                        .fold((0.0, 0usize), |(s, n), c| (s + f64::from(c.out[at]), n + 1));
                    let done = n == 0 || sum / n as f64 >= STOP_RECALL;
                    let mut all_stopped = true;
                    for c in climbs.iter_mut().filter(ours) {
                        c.stopped[ki] |= done;
                        all_stopped &= c.stopped[ki];
                    }
                    all_done &= all_stopped;
                }
            }
            if all_done {
                measured = b + 1;
                break;
            }
        }
        let per_sample: Vec<Vec<f32>> = climbs.into_iter().map(|c| c.out).collect();
        let (samples, recall, stderr) = mean_cells(&shape, &per_sample);
        let nb = shape.beams.len();
        let shape = Shape {
            beams: shape.beams[..measured].to_vec(),
            ..shape
        };
        Some(Calibration::new(
            shape,
            samples,
            first_beams(recall, nb, measured),
            first_beams(stderr, nb, measured),
            nodes as u64,
            live as u64,
            seed,
        ))
    }
}

/// A table of curves of `nb` beams each, cut to their first `beams` (where the ladder ended).
fn first_beams(table: Vec<f32>, nb: usize, beams: usize) -> Vec<f32> {
    table
        .chunks(nb)
        .flat_map(|curve| curve[..beams].iter().copied())
        .collect()
}

/// Whether node `i` is neither deleted in the view nor set in `dead`.
fn is_live<G: GraphView>(st: &G, dead: Option<&[AtomicU64]>, i: u32) -> bool {
    let deleted = st.has_deletes() && st.is_deleted(i);
    !deleted && !dead.is_some_and(|d| atomic_bit(d, i))
}

/// Up to `n` of `nodes`, drawn by a seeded hash (the same seed and nodes give the same draw).
pub(super) fn draw(nodes: impl Iterator<Item = u32>, seed: u64, n: usize) -> Vec<u32> {
    let mut keyed: Vec<(u64, u32)> = nodes
        .map(|i| (splitmix64(seed ^ u64::from(i)), i))
        .collect();
    if n == 0 {
        return Vec::new();
    }
    if n < keyed.len() {
        keyed.select_nth_unstable(n - 1);
        keyed.truncate(n);
    }
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The mean of every cell over the samples that measured it, its standard error, and how many
/// samples stand behind each k's curves.
fn mean_cells(shape: &Shape, per_sample: &[Vec<f32>]) -> (Vec<u32>, Vec<f32>, Vec<f32>) {
    let cells = shape.cells();
    let mut sums = vec![0f64; cells];
    let mut squares = vec![0f64; cells];
    let mut counts = vec![0u32; cells];
    for sample in per_sample {
        for (c, &r) in sample.iter().enumerate() {
            if !r.is_nan() {
                sums[c] += f64::from(r);
                squares[c] += f64::from(r) * f64::from(r);
                counts[c] += 1;
            }
        }
    }
    let stderr = (0..cells)
        .map(|c| {
            if counts[c] == 0 {
                return f32::NAN;
            }
            let n = f64::from(counts[c]);
            let mean = sums[c] / n;
            let var = ((squares[c] - n * mean * mean) / (n - 1.0).max(1.0)).max(0.0);
            ((var / n).sqrt() as f32).min(1.0)
        })
        .collect();
    let per_k = shape.oversamples.len() * shape.beams.len();
    let samples = counts
        .chunks(per_k)
        .map(|c| c.iter().copied().max().unwrap_or(0))
        .collect();
    let recall = sums
        .iter()
        .zip(&counts)
        .map(|(&s, &n)| {
            if n == 0 {
                f32::NAN
            } else {
                (s / f64::from(n)) as f32
            }
        })
        .collect();
    (samples, recall, stderr)
}

/// The exact `kmax(i)` nearest rows of each query node (its own node excluded when `hidden`,
/// `skip` and the view's deletes always, and the ids `filter` refuses), as slots nearest first:
/// chunks of queries in parallel, each streaming the vectors once in cache-sized blocks.
fn ground_truths<G: GraphView>(
    index: &Index,
    st: &G,
    queries: &[u32],
    skip: Option<&[AtomicU64]>,
    hidden: bool,
    filter: Option<&(dyn Fn(u64) -> bool + Sync)>,
    kmax: impl Fn(usize) -> usize + Sync,
) -> Vec<Vec<u32>> {
    struct Truths<'a, G, F> {
        st: &'a G,
        queries: &'a [u32],
        skip: Option<&'a [AtomicU64]>,
        hidden: bool,
        filter: Option<&'a (dyn Fn(u64) -> bool + Sync)>,
        kmax: F,
    }
    impl<G: GraphView, F: Fn(usize) -> usize + Sync> WithDistance for Truths<'_, G, F> {
        type Output = Vec<Vec<u32>>;

        fn run<D: VectorDistance>(self, distance: D) -> Vec<Vec<u32>> {
            let st = self.st;
            let rows = st.vectors();
            let n = st.len() as u32;
            let chunks: Vec<Vec<Vec<u32>>> = self
                .queries
                .par_chunks(TRUTH_CHUNK)
                .enumerate()
                .map(|(c, chunk)| {
                    let first = c * TRUTH_CHUNK;
                    let qs: Vec<&[f32]> = chunk.iter().map(|&q| rows.row(q)).collect();
                    let ks: Vec<usize> = (0..chunk.len()).map(|j| (self.kmax)(first + j)).collect();
                    let mut heaps: Vec<std::collections::BinaryHeap<Scored>> = ks
                        .iter()
                        .map(|&k| std::collections::BinaryHeap::with_capacity(k + 1))
                        .collect();
                    for start in (0..n).step_by(TRUTH_BLOCK) {
                        let end = (start + TRUTH_BLOCK as u32).min(n);
                        let block: Vec<u32> = (start..end)
                            .filter(|&i| is_live(st, self.skip, i))
                            .filter(|&i| self.filter.is_none_or(|f| f(st.label(i))))
                            .collect();
                        for (j, q) in qs.iter().enumerate() {
                            let heap = &mut heaps[j];
                            for &i in &block {
                                if self.hidden && i == chunk[j] {
                                    continue;
                                }
                                let d = distance.distance(q, rows.row(i));
                                if heap.len() < ks[j] {
                                    heap.push(Scored { dist: d, id: i });
                                } else if heap.peek().is_some_and(|w| d < w.dist) {
                                    heap.pop();
                                    heap.push(Scored { dist: d, id: i });
                                }
                            }
                        }
                    }
                    heaps
                        .into_iter()
                        .map(|h| h.into_sorted_vec().into_iter().map(|s| s.id).collect())
                        .collect()
                })
                .collect();
            chunks.into_iter().flatten().collect()
        }
    }
    index.options.metric.with_best_distance(Truths {
        st,
        queries,
        skip,
        hidden,
        filter,
        kmax,
    })
}

/// What every sample's step shares.
struct Context<'a, G> {
    index: &'a Index,
    view: View<'a, G>,
    shape: &'a Shape,
    /// The oversampling whose candidates must stop changing before a sample stops climbing, and
    /// its index in the shape.
    stable_pool: usize,
    o_stable: usize,
}

/// One sample query climbing the ladder: its node, prepared query and ground truth, its recall
/// in every cell so far, and when it stopped.
struct Climb {
    node: u32,
    /// The selectivity index of its curves (0: unfiltered).
    sel: usize,
    /// Where its greedy descent reached level 0 (the same for every beam: descended once).
    descent: Option<Scored>,
    query: Vec<f32>,
    /// The exact nearest slots, nearest first (as many as its largest k, or fewer).
    truth: Vec<u32>,
    /// Its recall per cell (NaN where not measured).
    out: Vec<f32>,
    /// Per k it measures (a prefix of the shape's): the top candidates at the last beam, how
    /// many beams in a row they stayed the same, and whether it stopped climbing.
    previous: Vec<Vec<u32>>,
    same: Vec<usize>,
    stopped: Vec<bool>,
}

impl Climb {
    /// Measures rung `b`: one walk, then every cell of every k still climbing; a k that stopped
    /// keeps its values of the rung before.
    fn step<G: GraphView>(
        &mut self,
        cx: &Context<'_, G>,
        accept: &Accept<'_>,
        b: usize,
        s: &mut Scratch,
    ) {
        let shape = cx.shape;
        let ks = self.stopped.len();
        let sel = self.sel;
        let copy = |out: &mut [f32], ki: usize| {
            for oi in 0..shape.oversamples.len() {
                if b > 0 {
                    out[shape.at(sel, ki, oi, b)] = out[shape.at(sel, ki, oi, b - 1)];
                }
            }
        };
        if self.stopped.iter().all(|&s| s) {
            (0..ks).for_each(|ki| copy(&mut self.out, ki));
            return;
        }
        let st = cx.view.st;
        let beam = shape.beams[b] as usize;
        let v = cx.view;
        // (k = 10 like the searches the curves describe: a filtered walk that finds fewer
        // matches falls back to the exact scan.)
        s.descent = self.descent;
        s.reuse_descent = true;
        let want = super::planner::Want {
            ef: beam,
            k: 10,
            count: None,
            group: None,
        };
        cx.index
            .walk(st, v.codec, v.blocks, &self.query, want, accept, s);
        s.reuse_descent = false;
        self.descent = s.descent;
        let hits = sorted_results(s, beam);
        // The largest pool of each k (its largest oversampling within MAX_POOL).
        let o_top = |k: usize| {
            shape
                .oversamples
                .iter()
                .rposition(|&o| k * o as usize <= MAX_POOL as usize)
                .unwrap_or(0)
        };
        // Exact distances of the candidates any cell reranks, in the walk's order.
        let widest = (0..ks)
            .filter(|&ki| !self.stopped[ki])
            .map(|ki| {
                let k = shape.ks[ki] as usize;
                k * shape.oversamples[o_top(k)] as usize
            })
            .max()
            .unwrap_or(0)
            .min(hits.len());
        let mut exact = hits[..widest].to_vec();
        if cx.view.reranks() {
            cx.index.score_exact(&self.query, st.vectors(), &mut exact);
        }
        for ki in 0..ks {
            if self.stopped[ki] {
                copy(&mut self.out, ki);
                continue;
            }
            let k = shape.ks[ki] as usize;
            let want = &self.truth[..k.min(self.truth.len())];
            for (oi, &o) in shape.oversamples.iter().enumerate() {
                let pool = k * o as usize;
                if pool > beam || oi > o_top(k) {
                    continue;
                }
                let mut cand: Vec<Scored> = exact[..pool.min(exact.len())].to_vec();
                cand.sort_unstable();
                let found = cand.iter().take(k).filter(|c| want.contains(&c.id)).count();
                self.out[shape.at(sel, ki, oi, b)] = found as f32 / want.len().max(1) as f32;
            }
            let stable = k * cx.stable_pool;
            let top: Vec<u32> = hits.iter().take(stable).map(|h| h.id).collect();
            self.same[ki] = if beam >= stable && top == self.previous[ki] {
                self.same[ki] + 1
            } else {
                0
            };
            let full = self.out[shape.at(sel, ki, cx.o_stable, b)] == 1.0;
            if full && self.same[ki] + 1 >= STABLE_BEAMS {
                self.stopped[ki] = true;
            }
            self.previous[ki] = top;
        }
    }
}

/// A graph view whose code rows are given apart from it: an index's graph with the codes the
/// file will hold — encoded by a codec trained at save time (how a collection seals its
/// in-memory segment), or none for a layout without code rows — so the calibration searches
/// what the file will hold, and the writer stores these rows as they are.
pub(super) struct Recoded<'a, G> {
    pub inner: &'a G,
    pub codes: Option<RowView<'a, u8>>,
}

impl<G: GraphView> GraphView for Recoded<'_, G> {
    type Link = G::Link;

    #[inline(always)]
    fn len(&self) -> usize {
        self.inner.len()
    }
    #[inline(always)]
    fn node_bound(&self) -> usize {
        self.inner.node_bound()
    }
    #[inline(always)]
    fn m(&self) -> usize {
        self.inner.m()
    }
    #[inline(always)]
    fn vectors(&self) -> RowView<'_, f32> {
        self.inner.vectors()
    }
    #[inline(always)]
    fn codes(&self) -> Option<RowView<'_, u8>> {
        self.codes
    }
    #[inline(always)]
    fn links(&self, level: usize, node: u32) -> &[G::Link] {
        self.inner.links(level, node)
    }
    #[inline(always)]
    fn prefetch_links(&self, level: usize, node: u32) {
        self.inner.prefetch_links(level, node)
    }
    fn level(&self, node: u32) -> usize {
        self.inner.level(node)
    }
    #[inline(always)]
    fn label(&self, node: u32) -> u64 {
        self.inner.label(node)
    }
    #[inline(always)]
    fn is_deleted(&self, node: u32) -> bool {
        self.inner.is_deleted(node)
    }
    fn has_deletes(&self) -> bool {
        self.inner.has_deletes()
    }
    fn entry(&self) -> Option<EntryPoint> {
        self.inner.entry()
    }
}

impl Index {
    /// Calibrates a graph being built on the rows `held` of `st`, written but not linked yet
    /// (the caller holds the writer lock and links them next), and makes it the index's
    /// calibration.
    pub(super) fn calibrate_held_back(&self, mem: &Memory, st: &Storage, held: &[u32]) {
        let unlinked: Vec<AtomicU64> = (0..st.len().div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect();
        for &h in held {
            unlinked[h as usize / 64].fetch_or(1 << (h % 64), std::sync::atomic::Ordering::Relaxed);
        }
        let started = std::time::Instant::now();
        let codec = mem.codec.get();
        let packed = (self.options.layout == Layout::FastScan)
            .then(|| pack_blocks(st, &self.options, codec));
        let view = View {
            st,
            codec,
            blocks: packed.as_ref().map(PackedBlocks::bytes),
        };
        let samples = Samples::HeldBack {
            nodes: held,
            unlinked: &unlinked,
        };
        if let Some(c) = measure_view(self, view, samples, self.options.default_oversample()) {
            // The calibration describes the graph with the held rows (linked next).
            let c = c.with_counts(st.len() as u64, self.len() as u64);
            self.store_calibration(std::sync::Arc::new(c), started);
        }
    }
}
