//! The filter planner: how a search finds its candidates — the graph walk, or an exact scan of
//! the vectors a filter keeps when it keeps so few that the walk would cost more.

use super::stats::Path;
use crate::base::view::GraphView;
use crate::hnsw::{Accept, Graph, Scratch};
use crate::quant::{BlockScorer, Level0, Scorer, VisitScorer};

/// Runs the traversal (or, for a very selective filter, the exact scan) with `scorer`, leaving the
/// best candidates in `s.results`; returns which path ran. A filtered walk that finds fewer than
/// `k` matches falls back to the exact scan, so a search never returns fewer than `k` when `k`
/// match.
pub(super) fn collect<G: GraphView, S: Scorer, B: BlockScorer, V: VisitScorer>(
    graph: &Graph<'_, G>,
    scorer: &S,
    level0: Level0<'_, B, V>,
    ef: usize,
    k: usize,
    accept: &Accept<'_>,
    s: &mut Scratch,
) -> Path {
    let Some(filter) = accept.filter else {
        graph.search(scorer, level0, ef, s, accept);
        return Path::Walk;
    };
    if prefer_exact(graph.st, filter, ef) {
        graph.exact(scorer, ef, s, accept);
        return Path::Exact;
    }
    graph.search(scorer, level0, ef, s, accept);
    if s.results.len() < k.min(graph.st.len()) {
        graph.exact(scorer, ef, s, accept);
        return Path::WalkThenExact;
    }
    Path::Walk
}

/// Whether scoring every matching vector is cheaper than a filtered graph walk.
///
/// The filter's selectivity `s` is estimated on an even sample of up to 1,024 nodes. The graph walk
/// must expand about `ef / s` nodes, scoring up to `m` fresh neighbours each; the exact scan calls
/// the filter `n` times (counted as 1/8 of a distance) and scores `s·n` vectors.
pub(super) fn prefer_exact<G: GraphView>(
    st: &G,
    filter: &(dyn Fn(u64) -> bool + Sync),
    ef: usize,
) -> bool {
    let n = st.len();
    let s = selectivity(st, filter);
    if s == 0.0 {
        return true;
    }
    let walk = ef as f64 / s * st.m() as f64;
    let scan = n as f64 / 8.0 + s * n as f64;
    scan <= walk
}

/// The fraction of nodes `filter` keeps, estimated on an even sample of up to 1,024 of them (0
/// when none of the sample passes, or the graph is empty).
pub(super) fn selectivity<G: GraphView>(st: &G, filter: &(dyn Fn(u64) -> bool + Sync)) -> f64 {
    let n = st.len();
    let sample = n.min(1024);
    let step = n / sample.max(1);
    let matches = (0..sample)
        .filter(|&i| filter(st.label((i * step) as u32)))
        .count();
    matches as f64 / sample.max(1) as f64
}
