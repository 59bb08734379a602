//! The HNSW algorithms: layer search, greedy descent, neighbour selection and insertion.
//!
//! They follow Malkov & Yashunin (TPAMI 2018) and hnswlib's `hnswalg.h`: a beam search with two
//! heaps per layer, the "heuristic" neighbour selection (keep a candidate only if it is closer to
//! the new node than to every neighbour already kept), and reverse links that shrink with the same
//! heuristic when a list is full. Insertion differs in one way: a new node searches every level
//! first and writes its own lists before it links itself into others', so no thread can reach a
//! node whose lists are half-written, and a thread never holds more than one node lock.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use super::fastscan::BlockScorer;
use super::scratch::{with_scratch, Scored, Scratch};
use super::storage::Storage;
use super::view::{link_count, link_ids, Accept, EntryPoint, GraphView, LinkCell};
use crate::distance::DistanceFn;
use crate::quant::{Codec, PreparedQuery};

/// Most links a row can hold (level 0 with m = 64 → 128); sizes the stack buffer of the hot loop.
pub(crate) const MAX_LINKS: usize = 128;

/// Scores nodes against one prepared query. The graph algorithms see only this, never vectors or
/// codes; they are generic over it, so each scorer gets its own compiled hot loop.
pub(crate) trait Scorer {
    /// The (approximate) distance from the query to `node`.
    fn score(&self, node: u32) -> f32;
    /// Starts fetching what `score(node)` will read.
    fn prefetch(&self, node: u32);
}

/// Exact distances on the stored f32 vectors.
pub(crate) struct FloatScorer<'a, G = Storage> {
    /// The query, padded to the storage's stride.
    pub q: &'a [f32],
    pub st: &'a G,
    pub kernel: DistanceFn,
}

impl<G: GraphView> Scorer for FloatScorer<'_, G> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        (self.kernel)(self.q, self.st.vector(node))
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.st.prefetch_vector(node);
    }
}

/// Approximate distances on the stored codes.
pub(crate) struct CodeScorer<'a, G> {
    pub query: &'a PreparedQuery,
    pub codec: &'a Codec,
    pub st: &'a G,
}

impl<G: GraphView> Scorer for CodeScorer<'_, G> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        self.codec.distance(self.query, self.st.code(node))
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.st.prefetch_code(node);
    }
}

/// Temporary 8-bit codes of every node, for the beam searches of a bulk build: at 4× fewer bytes
/// than the f32 rows they stay in cache where the vectors do not. Only the search for candidates
/// reads them; the neighbour selection and the links use exact distances.
pub(crate) struct BuildCodes {
    pub codec: Codec,
    /// One row per node (`row_bytes` each), for every node a build can reach.
    pub rows: Vec<u8>,
    pub row_bytes: usize,
}

impl BuildCodes {
    /// Encodes nodes `0..nodes` of `st` (in parallel) with an 8-bit codec trained on `sample`.
    pub(crate) fn encode(
        st: &Storage,
        nodes: usize,
        metric: crate::Metric,
        sample: &[f32],
    ) -> Option<Self> {
        use rayon::prelude::*;
        let dim = st.dim;
        let codec = Codec::train(
            crate::Quantization::Sq8,
            crate::QuantScheme::PerVector,
            metric,
            dim,
            sample,
        )?;
        let row_bytes = Codec::row_bytes(8, dim);
        let mut rows = vec![0u8; nodes * row_bytes];
        rows.par_chunks_mut(row_bytes)
            .enumerate()
            .for_each(|(i, row)| codec.encode(&st.vector(i as u32)[..dim], row));
        Some(BuildCodes {
            codec,
            rows,
            row_bytes,
        })
    }
}

/// Approximate distances on [`BuildCodes`].
struct BuildScorer<'a> {
    query: PreparedQuery,
    codes: &'a BuildCodes,
}

impl Scorer for BuildScorer<'_> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        let at = node as usize * self.codes.row_bytes;
        match self.codes.rows.get(at..at + self.codes.row_bytes) {
            Some(row) => self.codes.codec.distance(&self.query, row),
            None => f32::INFINITY,
        }
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        let row = self
            .codes
            .rows
            .as_ptr()
            .wrapping_add(node as usize * self.codes.row_bytes);
        for line in 0..self
            .codes
            .row_bytes
            .div_ceil(64)
            .min(super::MAX_PREFETCH_LINES)
        {
            super::prefetch(row.wrapping_add(line * 64));
        }
    }
}

/// The storage and the distance kernel, everything the algorithms need.
#[derive(Clone, Copy)]
pub(crate) struct Graph<'a, G = Storage> {
    pub st: &'a G,
    pub kernel: DistanceFn,
}

impl<G: GraphView> Graph<'_, G> {
    /// Walks `level` greedily from `cur` to a local minimum.
    pub(crate) fn greedy<S: Scorer>(&self, q: &S, mut cur: Scored, level: usize) -> Scored {
        let cap = self.st.node_bound() as u32;
        loop {
            let mut changed = false;
            let row = self.st.links(level, cur.id);
            for link in link_ids(row) {
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

    /// Beam search on `level`. The caller has reset `s.visited` and pushed the entry points into
    /// `s.candidates` (and those `accept` takes into `s.results`). On return `s.results`
    /// holds the best `ef` nodes that `accept` takes.
    pub(crate) fn search_layer<S: Scorer>(
        &self,
        q: &S,
        level: usize,
        ef: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
    ) {
        let cap = self.st.node_bound() as u32;
        let all = accept.all();
        let mut bound = s.results.peek().map_or(f32::INFINITY, |w| w.dist);
        let mut fresh = [0u32; MAX_LINKS];
        while let Some(Reverse(c)) = s.candidates.pop() {
            if c.dist > bound && (s.results.len() >= ef || all) {
                break;
            }
            // The next candidate's links will be read soon: start fetching them.
            if let Some(Reverse(next)) = s.candidates.peek() {
                self.st.prefetch_links(level, next.id);
            }
            s.expanded += 1;
            // Pass 1: collect the unvisited neighbours and start fetching their vectors.
            let mut n_fresh = 0;
            for link in link_ids(self.st.links(level, c.id)) {
                let n = link.get();
                if n < cap && s.visited.insert(n) {
                    q.prefetch(n);
                    fresh[n_fresh] = n;
                    n_fresh += 1;
                }
            }
            s.scored += n_fresh as u64;
            // Pass 2: score them.
            for &n in &fresh[..n_fresh] {
                self.offer(
                    Scored {
                        dist: q.score(n),
                        id: n,
                    },
                    ef,
                    s,
                    accept,
                    all,
                    &mut bound,
                );
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

    /// The `ef`-beam search for `q` from the entry point down to level 0; leaves the best `ef`
    /// accepted nodes in `s.results`.
    pub(crate) fn search<S: Scorer>(&self, q: &S, ef: usize, s: &mut Scratch, accept: &Accept<'_>) {
        if self.descend(q, s, accept) {
            self.search_layer(q, 0, ef, s, accept);
        }
    }

    /// [`Graph::search`] with level 0 walked on fast-scan blocks: the upper levels use `q` (the
    /// row layout's scorer), level 0 scores each expanded node's neighbours from its block. The
    /// blocks give the distances `q` would give, so the walk visits the same nodes in the same order
    /// and returns the same results as [`Graph::search`] with `q` on the graph the blocks were
    /// packed from.
    pub(crate) fn search_blocks<S: Scorer>(
        &self,
        q: &S,
        blocks: &BlockScorer<'_>,
        ef: usize,
        s: &mut Scratch,
        accept: &Accept<'_>,
    ) {
        if !self.descend(q, s, accept) {
            return;
        }
        let cap = self.st.node_bound() as u32;
        let all = accept.all();
        let mut bound = s.results.peek().map_or(f32::INFINITY, |w| w.dist);
        let mut ids = [0u32; MAX_LINKS];
        let mut dists = [0f32; MAX_LINKS];
        while let Some(Reverse(c)) = s.candidates.pop() {
            if c.dist > bound && (s.results.len() >= ef || all) {
                break;
            }
            if let Some(Reverse(next)) = s.candidates.peek() {
                blocks.prefetch(next.id);
            }
            s.expanded += 1;
            let count = blocks.score(c.id, &mut ids, &mut dists);
            for (&n, &d) in ids[..count].iter().zip(&dists[..count]) {
                if n >= cap || !s.visited.insert(n) {
                    continue;
                }
                s.scored += 1;
                self.offer(Scored { dist: d, id: n }, ef, s, accept, all, &mut bound);
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

impl Graph<'_, Storage> {
    #[inline(always)]
    fn dist_between(&self, a: u32, b: u32) -> f32 {
        (self.kernel)(self.st.vector(a), self.st.vector(b))
    }

    /// The heuristic selection: from `sorted` (nearest first), keep a candidate only when it is
    /// nearer to the base node than to every candidate kept so far; at most `m`.
    fn select_neighbors(&self, sorted: &[Scored], m: usize) -> Vec<Scored> {
        if sorted.len() <= m {
            return sorted.to_vec();
        }
        let mut kept: Vec<Scored> = Vec::with_capacity(m);
        for &c in sorted {
            if kept.len() >= m {
                break;
            }
            if kept.iter().all(|k| self.dist_between(c.id, k.id) >= c.dist) {
                kept.push(c);
            }
        }
        kept
    }

    /// [`Graph::select_neighbors`] for candidates of `base` sorted by approximate distances:
    /// each candidate's exact distance to `base` is computed when the heuristic reaches it.
    fn select_rescored(&self, base: u32, sorted: &[Scored], m: usize) -> Vec<Scored> {
        let mut kept: Vec<Scored> = Vec::with_capacity(m);
        for c in sorted {
            if kept.len() >= m {
                break;
            }
            let c = Scored {
                dist: self.dist_between(base, c.id),
                id: c.id,
            };
            if sorted.len() <= m || kept.iter().all(|k| self.dist_between(c.id, k.id) >= c.dist) {
                kept.push(c);
            }
        }
        kept
    }

    /// Links node `slot` (already written to storage) into the graph; with `codes`, the beam
    /// searches run on them (see [`BuildCodes`]).
    pub(crate) fn insert(
        &self,
        slot: u32,
        ef_construction: usize,
        entry_lock: &Mutex<()>,
        codes: Option<&BuildCodes>,
    ) {
        match codes {
            Some(codes) => {
                let q = BuildScorer {
                    query: codes.codec.prepare(&self.st.vector(slot)[..self.st.dim]),
                    codes,
                };
                self.insert_with(slot, &q, true, ef_construction, entry_lock)
            }
            None => {
                let q = FloatScorer {
                    q: self.st.vector(slot),
                    st: self.st,
                    kernel: self.kernel,
                };
                self.insert_with(slot, &q, false, ef_construction, entry_lock)
            }
        }
    }

    /// [`Graph::insert`] with the scorer of the beam searches; `approximate` when its distances
    /// are, so the candidates found are rescored exactly before neighbours are chosen.
    fn insert_with<S: Scorer>(
        &self,
        slot: u32,
        q: &S,
        approximate: bool,
        ef_construction: usize,
        entry_lock: &Mutex<()>,
    ) {
        let level = self.st.level(slot);
        let ep = match self.st.entry() {
            Some(ep) => ep,
            None => {
                let _guard = entry_lock.lock();
                match self.st.entry() {
                    Some(ep) => ep,
                    None => {
                        self.st.set_entry(EntryPoint { node: slot, level });
                        return;
                    }
                }
            }
        };
        if ep.node == slot {
            return;
        }
        let mut cur = Scored {
            dist: q.score(ep.node),
            id: ep.node,
        };
        for l in (level + 1..=ep.level).rev() {
            cur = self.greedy(q, cur, l);
        }
        let top = level.min(ep.level);

        // Search every level first, keeping the selected neighbours per level.
        let selected: Vec<Vec<Scored>> = with_scratch(|s| {
            let mut per_level = vec![Vec::new(); top + 1];
            for l in (0..=top).rev() {
                s.visited.reset(self.st.capacity());
                s.visited.insert(cur.id);
                s.candidates.clear();
                s.results.clear();
                s.candidates.push(Reverse(cur));
                s.results.push(cur);
                self.search_layer(q, l, ef_construction, s, &Accept::default());
                let mut found: Vec<Scored> = s.results.drain().filter(|c| c.id != slot).collect();
                found.sort_unstable();
                if let Some(&nearest) = found.first() {
                    cur = nearest;
                }
                per_level[l] = if approximate {
                    // In the approximate order, with exact distances computed only for the
                    // candidates the heuristic looks at (a few dozen of ef_construction).
                    self.select_rescored(slot, &found, self.st.m)
                } else {
                    self.select_neighbors(&found, self.st.m)
                };
            }
            per_level
        });

        // Our own lists: nobody can reach us yet, so no lock is needed.
        for (l, sel) in selected.iter().enumerate() {
            self.st
                .write_links(self.st.links(l, slot), sel.iter().map(|c| c.id));
        }
        // Then the reverse links, one neighbour lock at a time.
        for (l, sel) in selected.iter().enumerate() {
            for c in sel {
                self.add_link(c.id, slot, c.dist, l);
            }
        }
        if level > ep.level {
            let _guard = entry_lock.lock();
            if self.st.entry().is_none_or(|e| level > e.level) {
                self.st.set_entry(EntryPoint { node: slot, level });
            }
        }
    }

    /// Adds `to` to `from`'s list on `level`, shrinking the list with the heuristic when full.
    fn add_link(&self, from: u32, to: u32, dist: f32, level: usize) {
        let _guard = self.st.lock(from);
        let row: &[AtomicU32] = self.st.links(level, from);
        let count = link_count(row);
        let max = self.st.max_links(level);
        let links = &row[1..1 + count];
        if links.iter().any(|l| l.load(Ordering::Relaxed) == to) {
            return;
        }
        if count < max {
            row[1 + count].store(to, Ordering::Release);
            row[0].store(count as u32 + 1, Ordering::Release);
            return;
        }
        let mut cands: Vec<Scored> = links
            .iter()
            .map(|l| {
                let id = l.load(Ordering::Relaxed);
                Scored {
                    dist: self.dist_between(from, id),
                    id,
                }
            })
            .collect();
        cands.push(Scored { dist, id: to });
        cands.sort_unstable();
        let kept = self.select_neighbors(&cands, max);
        self.st.write_links(row, kept.iter().map(|c| c.id));
    }
}
