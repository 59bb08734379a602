//! The HNSW search: greedy descent through the upper levels, then one beam search on level 0, and
//! the exact scan a filter may prefer.
//!
//! They follow Malkov & Yashunin (TPAMI 2018) and hnswlib's `searchBaseLayer`: a beam search with
//! two heaps (candidates nearest first, results farthest first) and an epoch-tagged visited set.
//! The code is written once, generic over the graph ([`GraphView`]) and over how the neighbours
//! of an expanded node get their distances ([`Expand`]: one code or vector row per neighbour
//! through a [`Scorer`], or the node's block through a [`BlockScorer`]), so every codec and
//! layout shares one compiled shape of the loop with no indirect call in it.

use std::cmp::Reverse;
use std::sync::atomic::AtomicU64;

use super::scratch::{Scored, Scratch, Visited};
use crate::base::options::MAX_LINKS;
use crate::base::view::{atomic_bit, bit, link_ids, GraphView, LinkCell};
use crate::quant::{BlockScorer, Level0, Scorer, VisitScorer};

/// Which nodes a search may return: not deleted in the view, not dead in the caller's extra
/// bitmap, in the allowed set when there is one, and passing the user's filter.
#[derive(Clone, Copy, Default)]
pub(crate) struct Accept<'a> {
    /// The user's filter on user ids.
    pub filter: Option<&'a (dyn Fn(u64) -> bool + Sync)>,
    /// The nodes a payload filter matched, as bitmap words (the caller folds the deletes into
    /// it and leaves `dead` and `view_has_deletes` unset).
    pub allow: Option<&'a [u64]>,
    /// Extra deleted slots (a collection's deletes in a sealed segment), as bitmap words.
    pub dead: Option<&'a [AtomicU64]>,
    /// Whether the view has deleted nodes at all (skips the check when not).
    pub view_has_deletes: bool,
    /// A node the search must not see at all — neither scored, expanded nor returned, as if it
    /// were not in the graph (a calibration query that is the node's own vector: issue 17's
    /// held-out samples). It must not be the entry point, nor on the upper levels.
    pub hidden: Option<u32>,
}

impl Accept<'_> {
    /// Whether every node is accepted (no filter and nothing deleted).
    #[inline(always)]
    pub fn all(&self) -> bool {
        self.filter.is_none()
            && self.allow.is_none()
            && self.dead.is_none()
            && !self.view_has_deletes
    }

    #[inline(always)]
    pub fn accepts<G: GraphView>(&self, view: &G, node: u32) -> bool {
        if self.view_has_deletes && view.is_deleted(node) {
            return false;
        }
        if self.dead.is_some_and(|d| atomic_bit(d, node)) {
            return false;
        }
        if self.allow.is_some_and(|a| !bit(a, node)) {
            return false;
        }
        self.filter.is_none_or(|f| f(view.label(node)))
    }
}

/// How a beam search gets the distances of the neighbours of the node it expands.
pub(crate) trait Expand {
    /// Whether the walk's results are the expanded nodes, each scored precisely when it is
    /// expanded (RaBitQ's one-visit blocks), rather than the neighbours as `expand` scores them.
    const RESULTS_ON_VISIT: bool = false;

    /// Starts fetching what expanding `node` will read.
    fn prefetch(&self, node: u32);

    /// Writes neighbours of `node` and their distances into `ids` and `dists`; returns `node`'s
    /// own distance (`NaN` unless [`Expand::RESULTS_ON_VISIT`]) and how many.
    ///
    /// Without `RESULTS_ON_VISIT`: the neighbours not in `visited`, marked now, scored with
    /// `bound` (the beam's worst) as the bar a scorer may stop at. With it: every neighbour not
    /// in `visited`, unmarked, `dists` holding estimates and `lower` their lower bounds — the walk
    /// marks those it keeps.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &self,
        node: u32,
        bound: f32,
        visited: &mut Visited,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
        lower: &mut [f32; MAX_LINKS],
    ) -> (f32, usize);
}

/// Neighbours from a level's link rows, scored one row each (hnswlib's two passes: collect and
/// prefetch the fresh ones, then score them).
pub(crate) struct ByLinks<'a, G, S> {
    pub st: &'a G,
    pub scorer: &'a S,
    pub level: usize,
}

impl<G: GraphView, S: Scorer> Expand for ByLinks<'_, G, S> {
    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.st.prefetch_links(self.level, node);
    }

    #[inline(always)]
    fn expand(
        &self,
        node: u32,
        bound: f32,
        visited: &mut Visited,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
        _lower: &mut [f32; MAX_LINKS],
    ) -> (f32, usize) {
        let cap = self.st.node_bound() as u32;
        let mut fresh = 0;
        for link in link_ids(self.st.links(self.level, node))
            .iter()
            .take(MAX_LINKS)
        {
            let n = link.get();
            if n < cap && visited.insert(n) {
                self.scorer.prefetch(n);
                ids[fresh] = n;
                fresh += 1;
            }
        }
        self.scorer.score_many(&ids[..fresh], bound, dists);
        (f32::NAN, fresh)
    }
}

/// Level-0 neighbours for a filtered walk that does not starve (ACORN-1's two hops, Patel et al.,
/// SIGMOD 2024): the neighbours `accept` takes, and, through each neighbour it does not take,
/// that neighbour's neighbours it takes — up to `cap` of them. Only nodes `accept` takes are
/// scored, so the walk stays among them, as dense as the graph around them allows.
pub(crate) struct ByTwoHops<'a, G, S> {
    pub st: &'a G,
    pub scorer: &'a S,
    pub accept: &'a Accept<'a>,
    /// Most nodes one expansion yields.
    pub cap: usize,
}

impl<G: GraphView, S: Scorer> Expand for ByTwoHops<'_, G, S> {
    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.st.prefetch_links(0, node);
    }

    #[inline(always)]
    fn expand(
        &self,
        node: u32,
        bound: f32,
        visited: &mut Visited,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
        _lower: &mut [f32; MAX_LINKS],
    ) -> (f32, usize) {
        let end = self.st.node_bound() as u32;
        let cap = self.cap.min(MAX_LINKS);
        let mut fresh = 0;
        // First hop: the matching neighbours; the others' link rows are fetched meanwhile.
        let mut through = [0u32; MAX_LINKS];
        let mut hops = 0;
        for link in link_ids(self.st.links(0, node)).iter().take(MAX_LINKS) {
            let n = link.get();
            if n >= end || visited.contains(n) {
                continue;
            }
            if self.accept.accepts(self.st, n) {
                // Past the cap it stays unvisited, for a later expansion to yield.
                if fresh < cap {
                    visited.insert(n);
                    self.scorer.prefetch(n);
                    ids[fresh] = n;
                    fresh += 1;
                }
            } else {
                self.st.prefetch_links(0, n);
                through[hops] = n;
                hops += 1;
            }
        }
        // Second hop, through the others (walked through, never scored).
        'links: for &n in &through[..hops] {
            if fresh == cap {
                break;
            }
            visited.insert(n);
            for second in link_ids(self.st.links(0, n)).iter().take(MAX_LINKS) {
                let n2 = second.get();
                if n2 < end && !visited.contains(n2) && self.accept.accepts(self.st, n2) {
                    visited.insert(n2);
                    self.scorer.prefetch(n2);
                    ids[fresh] = n2;
                    fresh += 1;
                    if fresh == cap {
                        break 'links;
                    }
                }
            }
        }
        self.scorer.score_many(&ids[..fresh], bound, dists);
        (f32::NAN, fresh)
    }
}

/// Level-0 neighbours from the expanded node's block, scored all at once.
pub(crate) struct ByBlocks<'a, B> {
    pub blocks: &'a B,
    /// Every valid node id is below this.
    pub cap: u32,
}

impl<B: BlockScorer> Expand for ByBlocks<'_, B> {
    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.blocks.prefetch_block(node);
    }

    #[inline(always)]
    fn expand(
        &self,
        node: u32,
        _bound: f32,
        visited: &mut Visited,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
        _lower: &mut [f32; MAX_LINKS],
    ) -> (f32, usize) {
        let count = self.blocks.score_block(node, ids, dists);
        let mut fresh = 0;
        for i in 0..count {
            let n = ids[i];
            if n < self.cap && visited.insert(n) {
                ids[fresh] = n;
                dists[fresh] = dists[i];
                fresh += 1;
            }
        }
        (f32::NAN, fresh)
    }
}

/// One-visit blocks: the expanded node's own distance and its neighbours' estimates.
pub(crate) struct ByVisits<'a, V> {
    pub visits: &'a V,
    /// Every valid node id is below this.
    pub cap: u32,
}

impl<V: VisitScorer> Expand for ByVisits<'_, V> {
    const RESULTS_ON_VISIT: bool = true;

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.visits.prefetch_block(node);
    }

    #[inline(always)]
    fn expand(
        &self,
        node: u32,
        _bound: f32,
        visited: &mut Visited,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
        lower: &mut [f32; MAX_LINKS],
    ) -> (f32, usize) {
        let (own, count) = self.visits.visit(node, ids, dists, lower);
        let mut fresh = 0;
        for i in 0..count {
            let n = ids[i];
            if n < self.cap && !visited.contains(n) {
                ids[fresh] = n;
                dists[fresh] = dists[i];
                lower[fresh] = lower[i];
                fresh += 1;
            }
        }
        (own, fresh)
    }
}

/// A graph view, everything the algorithms read.
#[derive(Clone, Copy)]
pub(crate) struct Graph<'a, G> {
    pub st: &'a G,
}

impl<G: GraphView> Graph<'_, G> {
    /// Walks `level` greedily from `cur` to a local minimum.
    pub(crate) fn greedy<S: Scorer>(&self, q: &S, mut cur: Scored, level: usize) -> Scored {
        let cap = self.st.node_bound() as u32;
        loop {
            let mut changed = false;
            for link in link_ids(self.st.links(level, cur.id)) {
                let n = link.get();
                if n >= cap {
                    continue;
                }
                let d = q.score(n);
                if d < cur.dist {
                    cur = Scored { dist: d, id: n };
                    changed = true;
                }
            }
            if !changed {
                return cur;
            }
        }
    }

    /// Beam search. The caller has reset `s.visited` and pushed the entry points into
    /// `s.candidates` (and, unless `E::RESULTS_ON_VISIT`, those `accept` takes into
    /// `s.results`). On return `s.results` holds the best `ef` nodes that `accept` takes.
    ///
    /// With `E::RESULTS_ON_VISIT` a node enters the results when it is expanded, with its own
    /// precise distance, and a neighbour enters the candidates (by its estimate) only while the
    /// results are not full or its estimate is below the worst of them; the walk ends when the
    /// results are full and no candidate's estimate is below their worst.
    pub(crate) fn beam<E: Expand>(&self, e: &E, ef: usize, s: &mut Scratch, accept: &Accept<'_>) {
        let all = accept.all();
        let mut bound = s.results.peek().map_or(f32::INFINITY, |w| w.dist);
        let mut ids = [0u32; MAX_LINKS];
        let mut dists = [0f32; MAX_LINKS];
        let mut lower = [0f32; MAX_LINKS];
        while let Some(Reverse(c)) = s.candidates.pop() {
            let full = s.results.len() >= ef;
            if c.dist > bound && (full || (all && !E::RESULTS_ON_VISIT)) {
                break;
            }
            // The next candidate will be expanded soon: start fetching what that reads.
            if let Some(Reverse(next)) = s.candidates.peek() {
                e.prefetch(next.id);
            }
            s.expanded += 1;
            let (own, fresh) = e.expand(
                c.id,
                bound,
                &mut s.visited,
                &mut ids,
                &mut dists,
                &mut lower,
            );
            s.scored += fresh as u64;
            if E::RESULTS_ON_VISIT {
                if all || accept.accepts(self.st, c.id) {
                    self.keep(
                        Scored {
                            dist: own,
                            id: c.id,
                        },
                        ef,
                        s,
                        &mut bound,
                    );
                }
                for i in 0..fresh {
                    // By the estimate: by the lower bound instead, more candidates entered and the
                    // walk measured slower at the same recall (docs/quantization.md).
                    if (s.results.len() < ef || dists[i] < bound) && s.visited.insert(ids[i]) {
                        s.candidates.push(Reverse(Scored {
                            dist: dists[i],
                            id: ids[i],
                        }));
                    }
                }
                // The next candidate may have changed: start fetching its block now, while this
                // visit's results are kept, rather than at its pop (SymphonyQG does the same).
                if let Some(Reverse(next)) = s.candidates.peek() {
                    e.prefetch(next.id);
                }
            } else {
                for (&id, &dist) in ids[..fresh].iter().zip(&dists[..fresh]) {
                    self.offer(Scored { dist, id }, ef, s, accept, all, &mut bound);
                }
            }
        }
    }

    /// Adds a result, keeping the best `ef`; `bound` follows the worst.
    #[inline(always)]
    fn keep(&self, c: Scored, ef: usize, s: &mut Scratch, bound: &mut f32) {
        if s.results.len() < ef || c.dist < *bound {
            s.results.push(c);
            if s.results.len() > ef {
                s.results.pop();
            }
            if let Some(w) = s.results.peek() {
                *bound = w.dist;
            }
        }
    }

    /// One scored, fresh node of a beam search: kept as a candidate when it can still improve
    /// the results, and as a result when `accept` takes it; `bound` follows the worst result.
    #[inline(always)]
    fn offer(
        &self,
        c: Scored,
        ef: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
        all: bool,
        bound: &mut f32,
    ) {
        if s.results.len() < ef || c.dist < *bound {
            s.candidates.push(Reverse(c));
            if all || accept.accepts(self.st, c.id) {
                s.results.push(c);
                if s.results.len() > ef {
                    s.results.pop();
                }
            }
            if let Some(w) = s.results.peek() {
                *bound = w.dist;
            }
        }
    }

    /// Greedy descent from the entry point to level 1, then seeds level 0's beam search: resets
    /// the visited set and the heaps and pushes the node reached (into the results too, unless
    /// they are made `on_visit`). `false` for an empty graph.
    fn descend<S: Scorer>(
        &self,
        q: &S,
        s: &mut Scratch,
        accept: &Accept<'_>,
        on_visit: bool,
    ) -> bool {
        s.candidates.clear();
        s.results.clear();
        let Some(ep) = self.st.entry() else {
            return false;
        };
        let cur = match s.descent.filter(|_| s.reuse_descent) {
            Some(cur) => cur,
            None => {
                let mut cur = Scored {
                    dist: q.score(ep.node),
                    id: ep.node,
                };
                for level in (1..=ep.level).rev() {
                    cur = self.greedy(q, cur, level);
                }
                s.descent = Some(cur);
                cur
            }
        };
        self.reset_visited(s, accept);
        s.visited.insert(cur.id);
        s.candidates.push(Reverse(cur));
        if !on_visit && accept.accepts(self.st, cur.id) {
            s.results.push(cur);
        }
        true
    }

    /// Resets the visited set for a walk of this graph; the calibration hook (issue 17): a hidden
    /// node counts as visited from the start.
    fn reset_visited(&self, s: &mut Scratch, accept: &Accept<'_>) {
        s.visited.reset(self.st.node_bound());
        if let Some(h) = accept
            .hidden
            .filter(|&h| (h as usize) < self.st.node_bound())
        {
            s.visited.insert(h);
        }
    }

    /// The `ef`-beam search for the query of `scorer` from the entry point down to level 0;
    /// leaves the best `ef` accepted nodes in `s.results`. `level0` says how level 0 is scored:
    /// by `scorer` row by row, from fast-scan blocks (which give the distances `scorer` would
    /// give, so the walk visits the same nodes and returns the same results), or from one-visit
    /// blocks.
    pub(crate) fn search<S: Scorer, B: BlockScorer, V: VisitScorer>(
        &self,
        scorer: &S,
        level0: Level0<'_, B, V>,
        ef: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
    ) {
        let cap = self.st.node_bound() as u32;
        let on_visit = matches!(level0, Level0::Visits(_));
        if !self.descend(scorer, s, accept, on_visit) {
            return;
        }
        match level0 {
            Level0::Rows => {
                let by_links = ByLinks {
                    st: self.st,
                    scorer,
                    level: 0,
                };
                self.beam(&by_links, ef, s, accept)
            }
            Level0::Blocks(blocks) => self.beam(&ByBlocks { blocks, cap }, ef, s, accept),
            Level0::Visits(visits) => self.beam(&ByVisits { visits, cap }, ef, s, accept),
        }
    }

    /// The filtered walk that does not starve: the descent, then level 0 expanded by
    /// [`ByTwoHops`] from the node reached and from `seeds` (nodes `accept` takes, spread over
    /// the graph, so that a walk far from every match still starts among them).
    pub(crate) fn search_two_hop<S: Scorer>(
        &self,
        scorer: &S,
        ef: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
        seeds: &[u32],
    ) {
        if !self.descend(scorer, s, accept, false) {
            return;
        }
        self.push_seeds(scorer, ef, s, accept, seeds);
        let two_hops = ByTwoHops {
            st: self.st,
            scorer,
            accept,
            cap: 2 * self.st.m(),
        };
        self.beam(&two_hops, ef, s, accept);
    }

    /// A beam search on level 0 from `seeds` alone, with no descent: the walk of a group's graph
    /// ([`crate::base::groups::GroupView`], which has no upper level). Leaves the best `ef` nodes
    /// `accept` takes in `s.results`.
    pub(crate) fn search_from_seeds<S: Scorer>(
        &self,
        scorer: &S,
        ef: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
        seeds: &[u32],
    ) {
        s.candidates.clear();
        s.results.clear();
        self.reset_visited(s, accept);
        self.push_seeds(scorer, ef, s, accept, seeds);
        let by_links = ByLinks {
            st: self.st,
            scorer,
            level: 0,
        };
        self.beam(&by_links, ef, s, accept);
    }

    /// Scores the `seeds` not visited yet and makes them candidates (and results, those `accept`
    /// takes, keeping the best `ef`).
    fn push_seeds<S: Scorer>(
        &self,
        scorer: &S,
        ef: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
        seeds: &[u32],
    ) {
        let end = self.st.node_bound() as u32;
        for &seed in seeds {
            if seed < end && s.visited.insert(seed) {
                let c = Scored {
                    dist: scorer.score(seed),
                    id: seed,
                };
                s.scored += 1;
                s.candidates.push(Reverse(c));
                if accept.accepts(self.st, seed) {
                    s.results.push(c);
                    if s.results.len() > ef {
                        s.results.pop();
                    }
                }
            }
        }
    }

    /// Exact search over every node `accept` takes: the best `k` into `s.results`.
    pub(crate) fn exact<S: Scorer>(&self, q: &S, k: usize, s: &mut Scratch, accept: &Accept<'_>) {
        self.exact_over(q, k, s, accept, 0..self.st.len() as u32);
    }

    /// Exact search over the `nodes` (ascending, below the node count) that `accept` takes: the
    /// best `k` into `s.results`.
    pub(crate) fn exact_over<S: Scorer>(
        &self,
        q: &S,
        k: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
        nodes: impl Iterator<Item = u32>,
    ) {
        s.results.clear();
        // The nodes come ascending but with gaps the hardware prefetcher does not follow:
        // fetch a few ahead.
        const AHEAD: usize = 8;
        let mut ring = [0u32; AHEAD];
        let mut nodes = nodes.filter(|&n| accept.accepts(self.st, n) && accept.hidden != Some(n));
        let mut queued = 0;
        for slot in ring.iter_mut() {
            match nodes.next() {
                Some(n) => {
                    q.prefetch(n);
                    *slot = n;
                    queued += 1;
                }
                None => break,
            }
        }
        let mut at = 0;
        while queued > 0 {
            let node = ring[at];
            match nodes.next() {
                Some(n) => {
                    q.prefetch(n);
                    ring[at] = n;
                }
                None => queued -= 1,
            }
            at = (at + 1) % AHEAD;
            s.scored += 1;
            let d = q.score(node);
            if s.results.len() < k {
                s.results.push(Scored { dist: d, id: node });
            } else if s.results.peek().is_some_and(|w| d < w.dist) {
                s.results.pop();
                s.results.push(Scored { dist: d, id: node });
            }
        }
    }
}
