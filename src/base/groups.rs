//! Group graphs, as borrowed views: for a payload key that many rows share (one keyword value),
//! a graph over those rows alone, so that a search filtered on the key walks a graph as dense as
//! an unfiltered one (Qdrant's payload-index links, built at seal).
//!
//! A group's graph has one link row per member, in the order of the members' node ids, holding
//! node ids of the whole index (so scorers, labels and deletes are the index's own). The row of a
//! node is found by rank over the members' bitmap: `rank[w]` members lie in the words before `w`.
//! Everything is read from slices that may come from a file: nothing is trusted, a link past the
//! node bound is skipped by the algorithms, a row past the rows is empty.

use super::bytes::{ByteReader, ByteWriter};
use super::prefetch::prefetch;
use super::view::{prefetch_link_row, EntryPoint, GraphView, RowView};

/// Most groups a `filter_graphs` section may hold (a hostile directory cannot make `open`
/// allocate more).
pub(crate) const MAX_GROUPS: usize = 4096;

/// One group's graph, borrowed from memory or from a segment file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupGraph<'a> {
    /// The members, as a bitmap over node ids.
    pub members: &'a [u64],
    /// `rank[w]`: members in `members[..w]` (one entry per word).
    pub rank: &'a [u32],
    /// The link rows, `1 + width` values each (`[count, ids…]`), one per member in node order.
    pub rows: &'a [u32],
    /// Ids per row (the level-0 width of the index, `2·m`).
    pub width: usize,
    /// Members the walk starts from, spread over the group's graph.
    pub seeds: &'a [u32],
}

impl<'a> GroupGraph<'a> {
    /// Members of the group (rows of its graph).
    pub fn len(&self) -> usize {
        self.rows.len() / (self.width + 1)
    }

    /// Whether the group has no member.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row number of `node`, when it is a member with a row.
    #[inline(always)]
    fn row_of(&self, node: u32) -> Option<usize> {
        let w = node as usize / 64;
        let word = *self.members.get(w)?;
        let bit = node % 64;
        if word >> bit & 1 == 0 {
            return None;
        }
        let below = (word & ((1u64 << bit) - 1)).count_ones() as usize;
        let r = *self.rank.get(w)? as usize + below;
        (r < self.len()).then_some(r)
    }

    /// The link row of `node` (`[count, ids…]`); empty when it is not a member.
    #[inline(always)]
    pub fn links(&self, node: u32) -> &'a [u32] {
        match self.row_of(node) {
            Some(r) => {
                let stride = self.width + 1;
                &self.rows[r * stride..(r + 1) * stride]
            }
            None => &[],
        }
    }

    /// Starts fetching `node`'s row (and the bitmap word that finds it).
    #[inline(always)]
    pub fn prefetch(&self, node: u32) {
        if let Some(r) = self.row_of(node) {
            let stride = self.width + 1;
            prefetch_link_row(self.rows[r * stride..].as_ptr().cast(), stride);
        } else if let Some(w) = self.members.get(node as usize / 64) {
            prefetch((w as *const u64).cast());
        }
    }
}

/// An index's graph seen through one group: level 0 is the group's graph, there is no upper
/// level (the walk starts from the group's seeds), and everything else is the index's own.
pub(crate) struct GroupView<'a, G> {
    pub main: &'a G,
    pub group: GroupGraph<'a>,
}

impl<G: GraphView> GraphView for GroupView<'_, G> {
    type Link = u32;

    fn len(&self) -> usize {
        self.main.len()
    }

    fn node_bound(&self) -> usize {
        self.main.node_bound()
    }

    fn m(&self) -> usize {
        self.main.m()
    }

    fn vectors(&self) -> RowView<'_, f32> {
        self.main.vectors()
    }

    fn codes(&self) -> Option<RowView<'_, u8>> {
        self.main.codes()
    }

    #[inline(always)]
    fn links(&self, level: usize, node: u32) -> &[u32] {
        if level == 0 {
            self.group.links(node)
        } else {
            &[]
        }
    }

    #[inline(always)]
    fn prefetch_links(&self, level: usize, node: u32) {
        if level == 0 {
            self.group.prefetch(node);
        }
    }

    fn level(&self, _: u32) -> usize {
        0
    }

    fn label(&self, node: u32) -> u64 {
        self.main.label(node)
    }

    fn is_deleted(&self, node: u32) -> bool {
        self.main.is_deleted(node)
    }

    fn has_deletes(&self) -> bool {
        self.main.has_deletes()
    }

    fn entry(&self) -> Option<EntryPoint> {
        self.group
            .seeds
            .first()
            .map(|&node| EntryPoint { node, level: 0 })
    }
}

/// One key's group graph, owned (an in-memory index's, or one being written to a file).
pub(crate) struct OwnedGroup {
    pub field: String,
    pub key: Vec<u8>,
    pub members: Vec<u64>,
    pub rank: Vec<u32>,
    pub rows: Vec<u32>,
    pub seeds: Vec<u32>,
    pub width: usize,
}

impl OwnedGroup {
    /// The borrowed view.
    pub(crate) fn graph(&self) -> GroupGraph<'_> {
        GroupGraph {
            members: &self.members,
            rank: &self.rank,
            rows: &self.rows,
            width: self.width,
            seeds: &self.seeds,
        }
    }
}

/// The `filter_graphs` section of `groups` (rows of `width` ids, bitmaps over `nodes` nodes):
/// a directory — `u32` groups, `u32` width, `u64` nodes, then per group its field and key
/// (length-prefixed), `u32` members and `u32` seeds — zero-padded to 8 bytes, then per group its
/// members bitmap (`u64` words), rank table (`u32` per word), link rows (`u32`) and seeds
/// (`u32`), each part zero-padded to 8 bytes. Little-endian, as the whole file.
pub(crate) fn encode(groups: &[OwnedGroup], nodes: usize, width: usize) -> Vec<u8> {
    let mut w = ByteWriter::new();
    w.u32(groups.len() as u32)
        .u32(width as u32)
        .u64(nodes as u64);
    for g in groups {
        w.str(&g.field).bytes(&g.key);
        w.u32(g.graph().len() as u32).u32(g.seeds.len() as u32);
    }
    let mut buf = w.buf;
    let pad = |b: &mut Vec<u8>| b.resize(b.len().next_multiple_of(8), 0);
    pad(&mut buf);
    for g in groups {
        g.members
            .iter()
            .for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
        for part in [&g.rank, &g.rows, &g.seeds] {
            part.iter()
                .for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
            pad(&mut buf);
        }
    }
    buf
}

/// Where one group's parts lie in a `filter_graphs` section (byte offsets) and its key.
#[derive(Clone, Debug)]
struct Entry {
    field: String,
    key: Vec<u8>,
    members: usize,
    rank: usize,
    rows: (usize, usize),
    seeds: (usize, usize),
}

/// The directory of a `filter_graphs` section, read when a segment opens (its size grows with
/// the number of groups, not of rows); the parts are viewed in place.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupDirectory {
    entries: Vec<Entry>,
    words: usize,
    width: usize,
}

impl GroupDirectory {
    /// Reads the directory of `section` for an index of `nodes` nodes with rows of `width` ids,
    /// and checks that every part lies inside the section, which it must fill; `None` when it
    /// does not.
    pub(crate) fn read(section: &[u8], nodes: usize, width: usize) -> Option<GroupDirectory> {
        let mut r = ByteReader::new(section);
        let count = r.u32()? as usize;
        if count > MAX_GROUPS || r.u32()? as usize != width || r.u64()? != nodes as u64 {
            return None;
        }
        let words = nodes.div_ceil(64);
        let mut heads = Vec::with_capacity(count);
        for _ in 0..count {
            let field = r.str()?.to_owned();
            let key = r.bytes()?.to_vec();
            let members = r.u32()? as usize;
            let seeds = r.u32()? as usize;
            if members > nodes || seeds > members {
                return None;
            }
            heads.push((field, key, members, seeds));
        }
        let mut at = r.position().next_multiple_of(8);
        let part = |at: &mut usize, bytes: usize| -> Option<usize> {
            let start = *at;
            *at = start.checked_add(bytes)?.next_multiple_of(8);
            Some(start)
        };
        let mut entries = Vec::with_capacity(count);
        for (field, key, members, seeds) in heads {
            let row_values = members.checked_mul(width + 1)?;
            entries.push(Entry {
                field,
                key,
                members: part(&mut at, 8 * words)?,
                rank: part(&mut at, 4 * words)?,
                rows: (part(&mut at, 4 * row_values)?, row_values),
                seeds: (part(&mut at, 4 * seeds)?, seeds),
            });
        }
        (at == section.len()).then_some(GroupDirectory {
            entries,
            words,
            width,
        })
    }

    /// Groups in the section.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The group of `field = key` over `section` (the bytes [`GroupDirectory::read`] checked,
    /// 8-byte aligned), if there is one.
    pub(crate) fn group<'a>(
        &self,
        section: &'a [u8],
        field: &str,
        key: &[u8],
    ) -> Option<GroupGraph<'a>> {
        let i = self
            .entries
            .iter()
            .position(|e| e.field == field && e.key == key)?;
        self.at(section, i)
    }

    /// The group at place `i`, with its field and key.
    pub(crate) fn nth<'a>(
        &'a self,
        section: &'a [u8],
        i: usize,
    ) -> Option<(&'a str, &'a [u8], GroupGraph<'a>)> {
        let e = self.entries.get(i)?;
        Some((&e.field, &e.key, self.at(section, i)?))
    }

    fn at<'a>(&self, section: &'a [u8], i: usize) -> Option<GroupGraph<'a>> {
        let e = self.entries.get(i)?;
        Some(GroupGraph {
            members: values(section, e.members, self.words)?,
            rank: values(section, e.rank, self.words)?,
            rows: values(section, e.rows.0, e.rows.1)?,
            width: self.width,
            seeds: values(section, e.seeds.0, e.seeds.1)?,
        })
    }
}

/// Integers a section stores, viewed in place.
trait Word: Copy {}
impl Word for u32 {}
impl Word for u64 {}

/// `len` values of `T` at byte `at` of `bytes`, in place; `None` when they do not fit or are
/// misaligned.
fn values<T: Word>(bytes: &[u8], at: usize, len: usize) -> Option<&[T]> {
    let size = std::mem::size_of::<T>();
    let part = bytes.get(at..at.checked_add(len.checked_mul(size)?)?)?;
    if !(part.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return None;
    }
    // SAFETY: `part` holds exactly `len · size_of::<T>()` initialised bytes, its start is aligned
    // for `T` (checked above), and `T` (u32 or u64) is valid for every bit pattern; the slice
    // borrows `bytes`, so it lives no longer than they do.
    Some(unsafe { std::slice::from_raw_parts(part.as_ptr().cast::<T>(), len) })
}

/// The rank table of a members bitmap: for each word, the members in the words before it.
pub(crate) fn rank_of(members: &[u64]) -> Vec<u32> {
    let mut below = 0u32;
    members
        .iter()
        .map(|w| {
            let r = below;
            below += w.count_ones();
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_found_by_rank_and_nothing_past_them() {
        // Members 3, 64 and 130 of 192 nodes; rows of width 2.
        let mut members = vec![0u64; 3];
        for n in [3u32, 64, 130] {
            members[n as usize / 64] |= 1 << (n % 64);
        }
        let rank = rank_of(&members);
        assert_eq!(rank, [0, 1, 2]);
        let rows = [1, 64, 0, 2, 3, 130, 1, 3, 0];
        let g = GroupGraph {
            members: &members,
            rank: &rank,
            rows: &rows,
            width: 2,
            seeds: &[64],
        };
        assert_eq!(g.len(), 3);
        assert!(!g.is_empty());
        assert_eq!(g.links(3), &[1, 64, 0]);
        assert_eq!(g.links(64), &[2, 3, 130]);
        assert_eq!(g.links(130), &[1, 3, 0]);
        assert!(g.links(4).is_empty() && g.links(1_000_000).is_empty());
        // A hostile rank table points past the rows: no row, no panic.
        let bad = [0, 7, 9];
        let h = GroupGraph { rank: &bad, ..g };
        assert!(h.links(64).is_empty() && h.links(130).is_empty());
        h.prefetch(130);
        h.prefetch(u32::MAX);
    }

    /// An aligned copy, as a segment's section is.
    fn aligned(bytes: &[u8]) -> Vec<u64> {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (i, b) in bytes.iter().enumerate() {
            words[i / 8] |= u64::from(*b) << (8 * (i % 8));
        }
        words
    }

    fn as_bytes(words: &[u64], len: usize) -> &[u8] {
        // SAFETY: `words` holds `8 · words.len() ≥ len` initialised bytes.
        unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), len) }
    }

    #[test]
    fn a_section_round_trips_and_a_damaged_directory_is_refused() {
        let mut members = vec![0u64; 2];
        members[0] = 0b1010;
        members[1] = 1;
        let g = OwnedGroup {
            field: "tag".into(),
            key: b"x".to_vec(),
            rank: rank_of(&members),
            members,
            rows: vec![2, 3, 64, 1, 1, 0, 1, 3, 0],
            seeds: vec![3, 64],
            width: 2,
        };
        let bytes = encode(std::slice::from_ref(&g), 100, 2);
        let words = aligned(&bytes);
        let section = as_bytes(&words, bytes.len());
        let dir = GroupDirectory::read(section, 100, 2).expect("a written section reads");
        assert_eq!(dir.len(), 1);
        let back = dir.group(section, "tag", b"x").expect("the group");
        assert_eq!(back.members, &g.members[..]);
        assert_eq!(back.rank, &g.rank[..]);
        assert_eq!(back.rows, &g.rows[..]);
        assert_eq!(back.seeds, &g.seeds[..]);
        assert_eq!(back.links(64), &[1, 3, 0]);
        assert!(dir.group(section, "tag", b"y").is_none());
        let (field, key, _) = dir.nth(section, 0).expect("the first");
        assert_eq!((field, key), ("tag", &b"x"[..]));
        // Another shape, a truncated or extended section, any one byte of the directory changed:
        // refused or still in bounds, never a panic.
        assert!(GroupDirectory::read(section, 101, 2).is_none());
        assert!(GroupDirectory::read(section, 100, 4).is_none());
        assert!(GroupDirectory::read(&section[..section.len() - 8], 100, 2).is_none());
        for at in 0..40 {
            let mut bad = bytes.clone();
            bad[at] ^= 0x5a;
            let words = aligned(&bad);
            let section = as_bytes(&words, bad.len());
            if let Some(dir) = GroupDirectory::read(section, 100, 2) {
                for i in 0..dir.len() {
                    let (_, _, g) = dir.nth(section, i).expect("parts were checked");
                    (0..200).for_each(|n| assert!(g.links(n).len() <= 3));
                }
            }
        }
    }
}
