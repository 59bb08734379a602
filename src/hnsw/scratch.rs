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

impl Scored {
    /// One integer that orders as `(dist, id)` does under `f32::total_cmp`: the distance's bits
    /// made monotone (negative values flipped), then the id. A comparison of the heaps and pools
    /// of a search is then one integer comparison, without branches.
    #[inline(always)]
    fn key(&self) -> u64 {
        let bits = self.dist.to_bits();
        let monotone = bits ^ ((((bits as i32) >> 31) as u32) | 0x8000_0000);
        (u64::from(monotone) << 32) | u64::from(self.id)
    }
}

impl Ord for Scored {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// The visited set: one bit per node, and the words a search set, so that forgetting costs what
/// the search touched, not the graph's size. At a bit per node the set of 100,000 nodes is
/// 12.5 KB and stays in L1 beside the blocks a walk streams through (`u16` epoch marks, as in
/// hnswlib, are 200 KB; measured in `docs/benchmarks.md`).
pub(crate) struct Visited {
    words: Vec<u64>,
    touched: Vec<u32>,
}

impl Visited {
    fn new() -> Self {
        Visited {
            words: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Forgets every mark and makes room for `n` nodes.
    pub(crate) fn reset(&mut self, n: usize) {
        for &w in &self.touched {
            self.words[w as usize] = 0;
        }
        self.touched.clear();
        let words = n.div_ceil(64);
        if self.words.len() < words {
            self.words.resize(words, 0);
        }
    }

    /// Whether `i` is marked.
    #[inline(always)]
    pub(crate) fn contains(&self, i: u32) -> bool {
        self.words[i as usize / 64] >> (i % 64) & 1 == 1
    }

    /// Marks `i`; returns `true` when it was not marked before.
    #[inline(always)]
    pub(crate) fn insert(&mut self, i: u32) -> bool {
        let word = &mut self.words[i as usize / 64];
        let bit = 1u64 << (i % 64);
        if *word & bit != 0 {
            return false;
        }
        if *word == 0 {
            self.touched.push(i / 64);
        }
        *word |= bit;
        true
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
    fn visited_forgets_exactly_what_it_marked() {
        let mut v = Visited::new();
        v.reset(300);
        for i in [2u32, 63, 64, 65, 299, 130] {
            assert!(v.insert(i));
            assert!(!v.insert(i));
            assert!(v.contains(i));
        }
        assert!(!v.contains(1) && !v.contains(66));
        for _ in 0..3 {
            v.reset(1000);
            assert!((0..1000).all(|i| !v.contains(i)), "a mark survived a reset");
            assert!(v.insert(999) && v.insert(3));
        }
    }

    #[test]
    fn the_integer_key_orders_as_total_cmp_then_id() {
        let values = [
            f32::NEG_INFINITY,
            -3.5,
            -0.0,
            0.0,
            1e-30,
            2.0,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        for &a in &values {
            for &b in &values {
                for (ia, ib) in [(1u32, 2u32), (2, 1), (7, 7)] {
                    let (x, y) = (Scored { dist: a, id: ia }, Scored { dist: b, id: ib });
                    let want = a.total_cmp(&b).then(ia.cmp(&ib));
                    assert_eq!(x.cmp(&y), want, "{a} {ia} vs {b} {ib}");
                }
            }
        }
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
