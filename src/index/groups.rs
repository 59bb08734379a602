//! Group graphs of an index's frequent keyword values ([`crate::base::groups`]): which keys get
//! one, how they are built (when a segment is saved, or on request for an in-memory index), and
//! which one a payload filter walks.
//!
//! A filter `tag = "x"` matching 10% of the rows is the planner's worst case on the whole graph:
//! the exact scan reads every match, and a walk scores ten non-matching nodes for each match (or
//! the two-hop walk reads their links). A graph built over the rows with `tag = "x"` alone is as
//! dense as an unfiltered one, so the walk on it costs what an unfiltered search of that many rows
//! costs. Qdrant builds the same extra links for indexed payload values at seal time.

use std::sync::Arc;

use super::planner::{EXACT_COST_RATIO, EXACT_REFERENCE_EF, PLAIN_WALK_MIN_FRACTION};
use super::{Body, Index};
use crate::base::groups::{rank_of, GroupGraph, OwnedGroup};
use crate::base::options::{IndexOptions, Layout, Quantization};
use crate::base::view::{link_ids, GraphView, LinkCell};
use crate::error::Result;
use crate::hnsw::Storage;
use crate::payload::{required_keys, Filter};

/// A key gets a group graph when at least `GROUP_MIN_FACTOR × ef × m` rows have it (`ef` the
/// default beam): below that, the planner's exact scan of its rows costs no more than a walk on
/// their graph would (`planner::choose` with the group as the graph: the scan wins while
/// `c² ≤ 2·ef·m·c`), and the graph would be built for nothing. 4,096 rows at m 16.
pub(crate) const GROUP_MIN_FACTOR: f64 = 2.0 * EXACT_COST_RATIO;
/// Most rows all of an index's groups hold together, as a multiple of its rows: what bounds the
/// build (a group graph costs what building an index of its rows costs), smallest keys first.
pub(crate) const GROUP_BUDGET: f64 = 1.0;
/// Members each group's walk starts from: the entry point of its graph's build and members spread
/// evenly over it.
pub(crate) const GROUP_SEEDS: usize = 8;

/// The group graphs of an index of `nodes` nodes.
#[derive(Default)]
pub(crate) struct Groups {
    pub nodes: usize,
    pub list: Vec<OwnedGroup>,
}

impl Groups {
    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.list
            .iter()
            .map(|g| {
                8 * g.members.len()
                    + 4 * (g.rank.len() + g.rows.len() + g.seeds.len())
                    + g.key.len()
            })
            .sum()
    }
}

/// Where a search finds the group graph of a key.
pub(crate) trait GroupSource {
    /// The group graph of `field = key`, if the index has one.
    fn group(&self, field: &str, key: &[u8]) -> Option<GroupGraph<'_>>;
}

impl GroupSource for Groups {
    fn group(&self, field: &str, key: &[u8]) -> Option<GroupGraph<'_>> {
        self.list
            .iter()
            .find(|g| g.field == field && g.key == key)
            .map(OwnedGroup::graph)
    }
}

impl GroupSource for crate::segment::Segment {
    fn group(&self, field: &str, key: &[u8]) -> Option<GroupGraph<'_>> {
        let (dir, bytes) = self.groups()?;
        dir.group(bytes, field, key)
    }
}

/// The smallest group graph that holds every row `filter` matches, if `source` has one.
pub(crate) fn group_for<'a>(
    source: &'a dyn GroupSource,
    filter: &Filter,
) -> Option<GroupGraph<'a>> {
    required_keys(filter)
        .into_iter()
        .filter_map(|(field, key)| source.group(field, &key))
        .min_by_key(GroupGraph::len)
}

/// The keys of `keys` (field, key, its rows ascending) that get a group graph in an index of
/// `nodes` rows with `m` links per node: those with enough rows ([`GROUP_MIN_FACTOR`]) and too few
/// for the plain walk to serve well ([`PLAIN_WALK_MIN_FRACTION`]), smallest first within
/// [`GROUP_BUDGET`].
pub(crate) fn chosen_keys<'a>(
    keys: Vec<(&'a str, &'a [u8], &'a [u32])>,
    nodes: usize,
    m: usize,
) -> Vec<(&'a str, &'a [u8], &'a [u32])> {
    let min = GROUP_MIN_FACTOR * EXACT_REFERENCE_EF as f64 * m as f64;
    let max = PLAIN_WALK_MIN_FRACTION * nodes as f64;
    let mut keys: Vec<_> = keys
        .into_iter()
        .filter(|(_, _, rows)| rows.len() as f64 >= min && (rows.len() as f64) < max)
        .collect();
    keys.sort_by_key(|(_, _, rows)| rows.len());
    let mut budget = GROUP_BUDGET * nodes as f64;
    keys.retain(|(_, _, rows)| {
        let fits = rows.len() as f64 <= budget;
        if fits {
            budget -= rows.len() as f64;
        }
        fits
    });
    keys
}

/// Builds the group graph of each key of `keys` over the vectors of `st` (an index built with
/// `options`): an HNSW index of the key's rows alone, built on their f32 vectors with the index's
/// `m` and `ef_construction`, whose level-0 links become the group's rows (in the index's node
/// ids).
pub(crate) fn build_groups(
    options: &IndexOptions,
    st: &Storage,
    keys: &[(&str, &[u8], &[u32])],
) -> Result<Groups> {
    let nodes = st.len();
    let mut list = Vec::with_capacity(keys.len());
    for &(field, key, rows) in keys {
        list.push(build_group(options, st, field, key, rows)?);
    }
    Ok(Groups { nodes, list })
}

fn build_group(
    options: &IndexOptions,
    st: &Storage,
    field: &str,
    key: &[u8],
    members: &[u32],
) -> Result<OwnedGroup> {
    let dim = options.dim;
    let vectors = st.vectors();
    let part = Index::new(IndexOptions {
        quantization: Quantization::None,
        layout: Layout::Auto,
        ..options.clone()
    })?;
    let mut rows = Vec::with_capacity(members.len() * dim);
    for &slot in members {
        rows.extend_from_slice(&vectors.row(slot)[..dim]);
    }
    let ids: Vec<u64> = members.iter().map(|&s| u64::from(s)).collect();
    part.add_batch(&ids, &rows)?;
    let Body::Memory(mem) = &part.body else {
        unreachable!("a new index is in memory");
    };
    let built = mem.snapshot();
    let mut words = vec![0u64; st.len().div_ceil(64)];
    for &slot in members {
        words[slot as usize / 64] |= 1 << (slot % 64);
    }
    let rank = rank_of(&words);
    let width = 2 * options.m;
    let mut link_rows = vec![0u32; members.len() * (width + 1)];
    for local in 0..built.len() as u32 {
        let node = built.label(local) as u32;
        let Some(r) = members.binary_search(&node).ok() else {
            continue;
        };
        let row = &mut link_rows[r * (width + 1)..(r + 1) * (width + 1)];
        let ids = link_ids(built.links(0, local));
        let mut count = 0;
        for link in ids.iter().take(width) {
            if link.get() as usize >= built.len() {
                continue;
            }
            row[1 + count] = built.label(link.get()) as u32;
            count += 1;
        }
        row[0] = count as u32;
    }
    let mut seeds: Vec<u32> = Vec::with_capacity(GROUP_SEEDS);
    if let Some(ep) = built.entry() {
        seeds.push(built.label(ep.node) as u32);
    }
    for i in 0..GROUP_SEEDS {
        let s = members[i * members.len() / GROUP_SEEDS];
        if seeds.len() < GROUP_SEEDS && !seeds.contains(&s) {
            seeds.push(s);
        }
    }
    Ok(OwnedGroup {
        field: field.to_owned(),
        key: key.to_vec(),
        members: words,
        rank,
        rows: link_rows,
        seeds,
        width,
    })
}

impl Index {
    /// Builds the group graphs of the frequent keyword values of an in-memory index now (graphs
    /// over the rows of one value alone, which searches filtered on that value walk), so that the
    /// first such search does not go without; a save builds them anyway. Does nothing for an
    /// opened segment (its graphs are in the file). Waits for a running add; the next add drops
    /// them.
    ///
    /// # Errors
    /// [`crate::Error`] from building a group's graph (none is expected for vectors the index
    /// already holds).
    pub fn build_filter_graphs(&self) -> Result<()> {
        if let Body::Memory(mem) = &self.body {
            let _writer = mem.writer.lock();
            self.groups_locked(mem)?;
        }
        Ok(())
    }

    /// The group graphs of the current in-memory graph, built now unless they are current.
    /// Called with the writer lock held.
    pub(super) fn groups_locked(&self, mem: &super::Memory) -> Result<Arc<Groups>> {
        let st = mem.snapshot();
        if let Some(g) = mem.groups.read().clone().filter(|g| g.nodes == st.len()) {
            return Ok(g);
        }
        let groups = {
            let live = mem.payloads.read();
            let keys = chosen_keys(live.key_lists(), st.len(), self.options.m);
            Arc::new(build_groups(&self.options, &st, &keys)?)
        };
        *mem.groups.write() = Some(groups.clone());
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_chosen_by_size_within_the_budget() {
        let rows: Vec<u32> = (0..60_000).collect();
        // m 16: at least 4,096 rows, below 30% of 100,000.
        let keys = vec![
            ("a", &b"small"[..], &rows[..4_000]),
            ("a", &b"ten"[..], &rows[..10_000]),
            ("b", &b"twenty"[..], &rows[..20_000]),
            ("b", &b"half"[..], &rows[..50_000]),
        ];
        let chosen = chosen_keys(keys.clone(), 100_000, 16);
        let names: Vec<&[u8]> = chosen.iter().map(|k| k.1).collect();
        assert_eq!(names, [&b"ten"[..], &b"twenty"[..]]);
        // A budget of 100,000 rows: ten keys of 25,000 rows fit four times.
        let many: Vec<_> = (0..10).map(|_| ("c", &b"k"[..], &rows[..25_000])).collect();
        assert_eq!(chosen_keys(many, 100_000, 16).len(), 4);
    }
}
