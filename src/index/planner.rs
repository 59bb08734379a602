//! The filter planner: how a search finds its candidates — the graph walk, an exact scan of the
//! vectors a filter keeps when it keeps so few that the walk would cost more, or, for a payload
//! filter in between, the walk that expands through non-matching neighbours (two hops) so that it
//! does not starve.

use super::stats::Path;
use crate::base::groups::{GroupGraph, GroupView};
use crate::base::view::GraphView;
use crate::hnsw::{Accept, Graph, Scratch};
use crate::payload::ones;
use crate::quant::{BlockScorer, Level0, Scorer, VisitScorer};

/// The exact scan of `c` matching rows scores `c` of them, in ascending order with prefetching;
/// a walk at selectivity `s = c / n` scores about `ef × m / s` nodes, each a random access that
/// costs about this many times a scanned one (measured: 2 on wordllama-sent-256-ip and
/// mnist-784-l2, f32 and 4-bit codes). So the scan wins when `c² ≤ EXACT_COST_RATIO × ef × m × n`:
/// on 100,000 rows at ef 64 and m 16, up to 14,311 matches. Measured in `docs/payloads.md`.
pub(crate) const EXACT_COST_RATIO: f64 = 2.0;
/// The widest beam the exact-scan rule counts (the default `ef`): see [`choose`].
pub(crate) const EXACT_REFERENCE_EF: usize = crate::base::options::DEFAULT_EF_SEARCH;
/// A payload filter keeping at least this fraction of the rows (and too many for the exact scan)
/// is answered by the plain walk (non-matching nodes walked through, scored, never returned);
/// below it, by the two-hop walk, which scores matching nodes only and so does not starve when
/// the matches lie far from the query (measured on wordllama at 10%, matches far from the
/// queries: the plain walk scores 8× the nodes of the two-hop one). Measured in
/// `docs/payloads.md`.
pub(crate) const PLAIN_WALK_MIN_FRACTION: f64 = 0.3;
/// Matching nodes spread over the graph that seed a two-hop walk besides the descent's node, so
/// that a query far from every match still starts among them.
pub(crate) const TWO_HOP_SEEDS: usize = 16;

/// What a search wants: its beam, its `k`, and (for a payload filter) how many nodes match.
#[derive(Clone, Copy, Debug)]
pub(super) struct Want<'a> {
    pub ef: usize,
    pub k: usize,
    /// The exact number of nodes `accept` takes (`accept.allow` is their bitmap).
    pub count: Option<usize>,
    /// A group graph that holds every node `accept` takes, if the index has one.
    pub group: Option<GroupGraph<'a>>,
}

/// Runs the traversal (or, for a very selective filter, the exact scan) with `scorer`, leaving the
/// best candidates in `s.results`; returns which path ran. A filtered walk that finds fewer than
/// `k` matches falls back to the exact scan, so a search never returns fewer than `k` when `k`
/// match.
pub(super) fn collect<G: GraphView, S: Scorer, B: BlockScorer, V: VisitScorer>(
    graph: &Graph<'_, G>,
    scorer: &S,
    level0: Level0<'_, B, V>,
    want: Want<'_>,
    accept: &Accept<'_>,
    s: &mut Scratch,
) -> Path {
    let Want { ef, k, count, .. } = want;
    if let (Some(count), Some(allow)) = (count, accept.allow) {
        return collect_allowed(graph, scorer, level0, want, count, allow, accept, s);
    }
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

/// How a payload filter matching exactly `count` of the nodes is searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    Exact,
    Walk,
    TwoHop,
}

#[cfg(test)]
thread_local! {
    /// A path forced by tests that measure each one.
    pub(crate) static FORCE: std::cell::Cell<Option<Choice>> = const { std::cell::Cell::new(None) };
}

/// The planner's rule for a payload filter (see the constants).
pub(crate) fn choose(nodes: usize, count: usize, ef: usize, m: usize) -> Choice {
    // The exact scan's recall is 1 whatever the beam: a beam wider than the reference buys the
    // walk recall, not the scan's place (on mnist-784-l2 at 50%, the scan at ef 128 costs 5× the
    // walk).
    let ef = ef.min(EXACT_REFERENCE_EF);
    let c = count as f64;
    if c * c <= EXACT_COST_RATIO * ef as f64 * m as f64 * nodes as f64 {
        Choice::Exact
    } else if count as f64 >= PLAIN_WALK_MIN_FRACTION * nodes as f64 {
        Choice::Walk
    } else {
        Choice::TwoHop
    }
}

/// [`collect`] with the exact set of matching nodes (`allow`, `count` of them).
#[allow(clippy::too_many_arguments)]
fn collect_allowed<G: GraphView, S: Scorer, B: BlockScorer, V: VisitScorer>(
    graph: &Graph<'_, G>,
    scorer: &S,
    level0: Level0<'_, B, V>,
    want: Want<'_>,
    count: usize,
    allow: &[u64],
    accept: &Accept<'_>,
    s: &mut Scratch,
) -> Path {
    let Want { ef, k, .. } = want;
    let exact = |s: &mut Scratch| graph.exact_over(scorer, ef, s, accept, ones(allow));
    // A group graph holding every match is a graph of `group.len()` nodes that the filter
    // thins as much as the matches are fewer; the same rule decides on it first.
    let in_group = want
        .group
        .map(|g| (g, choose(g.len(), count, ef, graph.st.m())));
    #[cfg(test)]
    let in_group = in_group.filter(|_| FORCE.with(|f| f.get()).is_none());
    if let Some((group, Choice::Walk)) = in_group {
        let view = GroupView {
            main: graph.st,
            group,
        };
        Graph { st: &view }.search_from_seeds(scorer, ef, s, accept, group.seeds);
        if s.results.len() < k.min(count) {
            exact(s);
            return Path::WalkThenExact;
        }
        return Path::Group;
    }
    let choice = choose(graph.st.len(), count, ef, graph.st.m());
    #[cfg(test)]
    let choice = FORCE.with(|f| f.get()).unwrap_or(choice);
    let path = match choice {
        Choice::Exact => {
            exact(s);
            return Path::Exact;
        }
        Choice::Walk => {
            graph.search(scorer, level0, ef, s, accept);
            Path::Walk
        }
        Choice::TwoHop => {
            let seeds = spread(allow, TWO_HOP_SEEDS);
            graph.search_two_hop(scorer, ef, s, accept, &seeds);
            Path::TwoHop
        }
    };
    if s.results.len() < k.min(count) {
        exact(s);
        return Path::WalkThenExact;
    }
    path
}

/// Up to `want` set bits of `words` spread over them: the first set bit at or after each of
/// `want` evenly spaced words (cost: `want` short scans, not a pass over the bitmap).
fn spread(words: &[u64], want: usize) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::with_capacity(want);
    for i in 0..want {
        let from = i * words.len() / want.max(1);
        let next = words[from..]
            .iter()
            .position(|&w| w != 0)
            .map(|j| ((from + j) * 64) as u32 + words[from + j].trailing_zeros());
        match next {
            Some(b) if out.last() != Some(&b) => out.push(b),
            Some(_) => {}
            None => break,
        }
    }
    out
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
