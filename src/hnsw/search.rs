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
use crate::base::view::{atomic_bit, link_ids, GraphView, LinkCell};
use crate::quant::{BlockScorer, Scorer};

/// Which nodes a search may return: not deleted in the view, not dead in the caller's extra
/// bitmap, and passing the user's filter.
#[derive(Clone, Copy, Default)]
pub(crate) struct Accept<'a> {
    /// The user's filter on user ids.
    pub filter: Option<&'a (dyn Fn(u64) -> bool + Sync)>,
    /// Extra deleted slots (a collection's deletes in a sealed segment), as bitmap words.
    pub dead: Option<&'a [AtomicU64]>,
    /// Whether the view has deleted nodes at all (skips the check when not).
    pub view_has_deletes: bool,
}

impl Accept<'_> {
    /// Whether every node is accepted (no filter and nothing deleted).
    #[inline(always)]
    pub fn all(&self) -> bool {
        self.filter.is_none() && self.dead.is_none() && !self.view_has_deletes
    }

    #[inline(always)]
    pub fn accepts<G: GraphView>(&self, view: &G, node: u32) -> bool {
        if self.view_has_deletes && view.is_deleted(node) {
            return false;
        }
        if self.dead.is_some_and(|d| atomic_bit(d, node)) {
            return false;
        }
        self.filter.is_none_or(|f| f(view.label(node)))
    }
}

/// How a beam search gets the distances of the neighbours of the node it expands.
pub(crate) trait Expand {
    /// Starts fetching what expanding `node` will read.
    fn prefetch(&self, node: u32);

    /// Writes the neighbours of `node` not in `visited` (marking them) and their distances into
    /// `ids` and `dists`; returns how many.
    fn expand(
        &self,
        node: u32,
        visited: &mut Visited,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
    ) -> usize;
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
        visited: &mut Visited,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
    ) -> usize {
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
        self.scorer.score_many(&ids[..fresh], dists);
        fresh
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
        visited: &mut Visited,
        ids: &mut [u32; MAX_LINKS],
        dists: &mut [f32; MAX_LINKS],
    ) -> usize {
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
        fresh
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
    /// `s.candidates` (and those `accept` takes into `s.results`). On return `s.results` holds
    /// the best `ef` nodes that `accept` takes.
    pub(crate) fn beam<E: Expand>(&self, e: &E, ef: usize, s: &mut Scratch, accept: &Accept<'_>) {
        let all = accept.all();
        let mut bound = s.results.peek().map_or(f32::INFINITY, |w| w.dist);
        let mut ids = [0u32; MAX_LINKS];
        let mut dists = [0f32; MAX_LINKS];
        while let Some(Reverse(c)) = s.candidates.pop() {
            if c.dist > bound && (s.results.len() >= ef || all) {
                break;
            }
            // The next candidate will be expanded soon: start fetching what that reads.
            if let Some(Reverse(next)) = s.candidates.peek() {
                e.prefetch(next.id);
            }
            s.expanded += 1;
            let fresh = e.expand(c.id, &mut s.visited, &mut ids, &mut dists);
            s.scored += fresh as u64;
            for (&id, &dist) in ids[..fresh].iter().zip(&dists[..fresh]) {
                self.offer(Scored { dist, id }, ef, s, accept, all, &mut bound);
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
    /// the visited set and the heaps and pushes the node reached. `false` for an empty graph.
    fn descend<S: Scorer>(&self, q: &S, s: &mut Scratch, accept: &Accept<'_>) -> bool {
        s.candidates.clear();
        s.results.clear();
        let Some(ep) = self.st.entry() else {
            return false;
        };
        let mut cur = Scored {
            dist: q.score(ep.node),
            id: ep.node,
        };
        for level in (1..=ep.level).rev() {
            cur = self.greedy(q, cur, level);
        }
        s.visited.reset(self.st.node_bound());
        s.visited.insert(cur.id);
        s.candidates.push(Reverse(cur));
        if accept.accepts(self.st, cur.id) {
            s.results.push(cur);
        }
        true
    }

    /// The `ef`-beam search for the query of `scorer` from the entry point down to level 0;
    /// leaves the best `ef` accepted nodes in `s.results`. With `blocks`, level 0 is walked on
    /// the blocks (which give the distances `scorer` would give, so the walk visits the same
    /// nodes in the same order and returns the same results).
    pub(crate) fn search<S: Scorer, B: BlockScorer>(
        &self,
        scorer: &S,
        blocks: Option<&B>,
        ef: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
    ) {
        if !self.descend(scorer, s, accept) {
            return;
        }
        match blocks {
            Some(blocks) => {
                let cap = self.st.node_bound() as u32;
                self.beam(&ByBlocks { blocks, cap }, ef, s, accept)
            }
            None => {
                let by_links = ByLinks {
                    st: self.st,
                    scorer,
                    level: 0,
                };
                self.beam(&by_links, ef, s, accept)
            }
        }
    }

    /// Exact search over every node `accept` takes: the best `k` into `s.results`.
    pub(crate) fn exact<S: Scorer>(&self, q: &S, k: usize, s: &mut Scratch, accept: &Accept<'_>) {
        s.results.clear();
        for node in 0..self.st.len() as u32 {
            if !accept.accepts(self.st, node) {
                continue;
            }
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
