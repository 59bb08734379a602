//! HNSW insertion: the neighbour heuristic and the linking of a new node.
//!
//! As in Malkov & Yashunin (TPAMI 2018) and hnswlib's `addPoint`: a beam search per level for
//! candidates, the "heuristic" selection (keep a candidate only if it is closer to the new node
//! than to every neighbour already kept), and reverse links that shrink with the same heuristic
//! when a list is full. One difference: a new node searches every level first and writes its own
//! lists before it links itself into others', so no thread can reach a node whose lists are
//! half-written, and a thread never holds more than one node lock.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use super::scratch::{with_scratch, Scored};
use super::search::{Accept, ByLinks, Graph};
use super::storage::Storage;
use crate::base::view::{link_count, EntryPoint, GraphView, RowView};
use crate::distance::VectorDistance;
use crate::quant::Scorer;

/// Links new nodes into a growing graph; `distance` is the exact distance between stored vectors.
pub(crate) struct Builder<'a, D> {
    st: &'a Storage,
    vectors: RowView<'a, f32>,
    distance: D,
    /// Serialises changes of the entry point.
    entry_lock: &'a Mutex<()>,
}

impl<'a, D: VectorDistance> Builder<'a, D> {
    /// A builder over `st`.
    pub(crate) fn new(st: &'a Storage, distance: D, entry_lock: &'a Mutex<()>) -> Self {
        Builder {
            st,
            vectors: st.vectors(),
            distance,
            entry_lock,
        }
    }

    #[inline(always)]
    fn dist_between(&self, a: u32, b: u32) -> f32 {
        self.distance
            .distance(self.vectors.row(a), self.vectors.row(b))
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

    /// [`Builder::select_neighbors`] for candidates of `base` sorted by approximate distances:
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

    /// Links node `slot` (already written to storage) into the graph. `q` scores nodes against
    /// the node's vector for the beam searches; `approximate` when its distances are (temporary
    /// codes of a bulk build), so the candidates found are rescored exactly before neighbours
    /// are chosen.
    pub(crate) fn insert<S: Scorer>(
        &self,
        slot: u32,
        q: &S,
        approximate: bool,
        ef_construction: usize,
    ) {
        let graph = Graph { st: self.st };
        let level = self.st.level(slot);
        let ep = match self.st.entry() {
            Some(ep) => ep,
            None => {
                let _guard = self.entry_lock.lock();
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
            cur = graph.greedy(q, cur, l);
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
                let by_links = ByLinks {
                    st: self.st,
                    scorer: q,
                    level: l,
                };
                graph.beam(&by_links, ef_construction, s, &Accept::default());
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
            let _guard = self.entry_lock.lock();
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
