//! Per-thread search scratch: the visited set and the two heaps, reused across searches so the
//! hot loop never allocates.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A node with its distance; ordered by distance, then id, so the order is total.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scored {
    pub dist: f32,
    pub id: u32,
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.id.cmp(&other.id))
    }
}

/// Epoch-tagged visited marks: resetting is O(1) except once every 65 535 searches.
pub(crate) struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    fn new() -> Self {
        Visited {
            marks: Vec::new(),
            epoch: 0,
        }
    }

    /// Forgets every mark and makes room for `n` nodes.
    pub(crate) fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Whether `i` is marked.
    #[inline(always)]
    pub(crate) fn contains(&self, i: u32) -> bool {
        self.marks[i as usize] == self.epoch
    }

    /// Marks `i`; returns `true` when it was not marked before.
    #[inline(always)]
    pub(crate) fn insert(&mut self, i: u32) -> bool {
        let mark = &mut self.marks[i as usize];
        if *mark == self.epoch {
            false
        } else {
            *mark = self.epoch;
            true
        }
    }
}

/// Everything one search needs besides the index.
pub(crate) struct Scratch {
    pub visited: Visited,
    /// Nodes to expand, nearest first.
    pub candidates: BinaryHeap<Reverse<Scored>>,
    /// The best `ef` found, farthest on top.
    pub results: BinaryHeap<Scored>,
    /// The query, padded to the index's stride (and normalised for cosine).
    pub query: Vec<f32>,
    /// Nodes whose links were read in this search.
    pub expanded: u64,
    /// Distances computed in this search (traversal and exact scans).
    pub scored: u64,
    /// Calibration hook (issue 17): the level-0 start the last greedy descent reached, and
    /// whether the next search starts there instead of descending again — the descent does not
    /// depend on the beam, so a calibration sample walking a ladder of beams descends once.
    pub descent: Option<Scored>,
    pub reuse_descent: bool,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            visited: Visited::new(),
            candidates: BinaryHeap::new(),
            results: BinaryHeap::new(),
            query: Vec::new(),
            expanded: 0,
            scored: 0,
            descent: None,
            reuse_descent: false,
        }
    }
}

thread_local! {
    static POOL: RefCell<Vec<Scratch>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch. Re-entrant (a filter or reranker that searches again gets
/// a scratch of its own).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut scratch = POOL
        .with(|p| p.borrow_mut().pop())
        .unwrap_or_else(Scratch::new);
    let out = f(&mut scratch);
    POOL.with(|p| p.borrow_mut().push(scratch));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visited_resets_and_survives_epoch_wrap() {
        let mut v = Visited::new();
        v.reset(4);
        assert!(v.insert(2));
        assert!(!v.insert(2));
        for _ in 0..70_000 {
            v.reset(4);
            assert!(v.insert(3));
        }
        assert!(v.insert(2));
    }

    #[test]
    fn scored_orders_by_distance_then_id() {
        let a = Scored { dist: 1.0, id: 5 };
        let b = Scored { dist: 1.0, id: 2 };
        let c = Scored { dist: 0.5, id: 9 };
        let mut v = vec![a, b, c];
        v.sort();
        assert_eq!(v, vec![c, b, a]);
    }
}
