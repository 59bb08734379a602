//! The full check of a segment: every checksum, every byte of padding, every link, the id index.

use super::{Kind, Segment, ALIGN, ENTRY_BYTES, HEADER_BYTES};
use crate::base::bytes::checksum;
use crate::base::groups::rank_of;
use crate::base::options::{MAX_LEVEL, MAX_LINKS};
use crate::base::view::{bit, block_neighbours, neighbours_below, GraphView};
use crate::error::Result;
use crate::payload::{ones, Bits, FieldSource};
use crate::quant::blocks::{pack_block, BlockShape};
use crate::quant::Codec;

impl Segment {
    /// Checks the whole file: section checksums, zero padding, link counts and targets, upper-level
    /// offsets, the id index against the labels and tombstones. Reads every byte once.
    pub(crate) fn verify(&self) -> Result<()> {
        let data = self.bytes();
        for kind in Kind::ALL {
            if let Some(s) = self.sections[kind.slot()] {
                if checksum(&data[s.offset..s.offset + s.len]) != s.crc {
                    return Err(self.corrupt(format!("{kind:?} section checksum mismatch")));
                }
            }
        }
        // Every byte outside the header, the table and the sections is zero padding.
        let count = self.sections.iter().flatten().count();
        let mut covered: Vec<(usize, usize)> = self
            .sections
            .iter()
            .flatten()
            .map(|s| (s.offset, s.offset + s.len))
            .collect();
        covered.push((0, HEADER_BYTES + count * ENTRY_BYTES));
        covered.sort_unstable();
        let mut at = 0;
        for (start, end) in covered.into_iter().chain([(data.len(), data.len())]) {
            if start > at && (start - at >= ALIGN || data[at..start].iter().any(|&b| b != 0)) {
                return Err(self.corrupt(format!("bytes {at}..{start} are not zero padding")));
            }
            at = at.max(end);
        }

        let n = self.meta.nodes;
        let m = self.meta.options.m;
        for node in 0..n as u32 {
            self.check_row(0, node, 2 * m)?;
        }
        let off = self.slice(self.upper_offsets);
        if off.first() != Some(&0) || off.last() != Some(&(self.meta.upper_rows as u64)) {
            return Err(self.corrupt("upper-level offsets do not span the upper rows"));
        }
        for node in 0..n {
            if off[node] > off[node + 1] {
                return Err(self.corrupt(format!("upper-level offsets decrease at node {node}")));
            }
            let levels = (off[node + 1] - off[node]) as usize;
            if levels > MAX_LEVEL {
                return Err(self.corrupt(format!("node {node} has {levels} levels")));
            }
            for level in 1..=levels {
                self.check_row(level, node as u32, m)?;
            }
        }

        if self.sections[Kind::FastScan.slot()].is_some() {
            let blocks = self.slice(self.fast_scan);
            // Each block must be exactly what packing the node's link row and its neighbours'
            // code rows gives.
            let shape = BlockShape::new(self.meta.options.dim, m);
            let codes = self
                .codes()
                .expect("a fast_scan section is opened only with codes");
            let mut want = vec![0u8; shape.stride];
            for (node, got) in blocks.chunks_exact(shape.stride).enumerate() {
                let node = node as u32;
                let mut ids = [0u32; MAX_LINKS];
                let count = neighbours_below(self.links(0, node), n as u32, &mut ids);
                pack_block(&ids[..count], |id| Some(codes.row(id)), &shape, &mut want);
                if got != want.as_slice() {
                    return Err(self.corrupt(format!(
                        "fast-scan block of node {node} does not match its links and codes"
                    )));
                }
            }
        }

        if let (Some(_), Some(Codec::Rq(rq))) =
            (self.sections[Kind::RabitqBlocks.slot()], &self.codec)
        {
            // Each block must be exactly what packing the node's links and the vectors gives.
            let blocks = self.slice(self.rabitq_blocks);
            let vectors = self.vectors();
            let shape = rq.block_shape(m, self.meta.stride);
            let rotated = rq.rotate_all(n, vectors);
            let neighbours = block_neighbours(self, n as u32);
            const CHUNK: usize = 4096;
            let mut want = vec![0u8; shape.stride * CHUNK.min(n.max(1))];
            for first in (0..n).step_by(CHUNK) {
                let len = CHUNK.min(n - first) * shape.stride;
                rq.pack_blocks(
                    &shape,
                    first,
                    vectors,
                    rotated.as_ref(),
                    &neighbours,
                    &mut want[..len],
                );
                let got = &blocks[first * shape.stride..first * shape.stride + len];
                if let Some(i) = (0..len / shape.stride).find(|&i| {
                    let r = i * shape.stride..(i + 1) * shape.stride;
                    got[r.clone()] != want[r]
                }) {
                    return Err(self.corrupt(format!(
                        "RaBitQ block of node {} does not match its links and vectors",
                        first + i
                    )));
                }
            }
        }

        if let Some(fields) = self.payload_fields() {
            crate::payload::section::verify(&fields)?;
        }
        self.verify_groups()?;

        let keys = self.ids();
        let slots = self.slice(self.id_slots);
        let labels = self.slice(self.labels);
        let dead = self.slice(self.tombstones);
        if keys.windows(2).any(|w| w[0] >= w[1]) {
            return Err(self.corrupt("id index is not strictly ascending"));
        }
        for (&key, &slot) in keys.iter().zip(slots) {
            if slot as usize >= n || labels[slot as usize] != key || bit(dead, slot) {
                return Err(self.corrupt(format!(
                    "id index maps {key} to slot {slot}, which does not hold it"
                )));
            }
        }
        let deleted: usize = dead.iter().map(|w| w.count_ones() as usize).sum();
        if deleted != self.meta.deleted
            || (!n.is_multiple_of(64) && dead.last().is_some_and(|w| w >> (n % 64) != 0))
        {
            return Err(self.corrupt("tombstone bitmap does not match the deleted count"));
        }
        Ok(())
    }

    /// Checks the group graphs: each group's members are the rows of its key (deleted rows
    /// aside), its rank table counts them, its rows link members only, its seeds are members.
    fn verify_groups(&self) -> Result<()> {
        let Some((dir, bytes)) = self.groups() else {
            return Ok(());
        };
        let n = self.meta.nodes;
        let dead = self.slice(self.tombstones);
        for i in 0..dir.len() {
            let (field, key, g) = dir
                .nth(bytes, i)
                .expect("the directory's parts were checked at open");
            let bad = |what: &str| self.corrupt(format!("group graph of {field}: {what}"));
            let mut rows = Bits::none(n);
            if let Some(fields) = self.payload_fields() {
                fields.key_rows(field, key, &mut rows)?;
            }
            let members = g
                .members
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>();
            if members != g.len() || g.rank != rank_of(g.members).as_slice() {
                return Err(bad("its rank table does not count its members"));
            }
            if !n.is_multiple_of(64) && g.members.last().is_some_and(|w| w >> (n % 64) != 0) {
                return Err(bad("a member past the last node"));
            }
            for (w, (&have, &want)) in g.members.iter().zip(rows.words()).enumerate() {
                let dead = dead.get(w).copied().unwrap_or(0);
                if want & !have != 0 || have & !want & !dead != 0 {
                    return Err(bad("its members are not the rows of its key"));
                }
            }
            for node in ones(g.members) {
                let row = g.links(node);
                let count = row.first().copied().unwrap_or(0) as usize;
                if count > g.width || row[1..1 + count].iter().any(|&l| !bit(g.members, l)) {
                    return Err(bad(&format!("node {node} links outside the group")));
                }
            }
            if g.seeds.iter().any(|&s| !bit(g.members, s)) {
                return Err(bad("a seed is not a member"));
            }
        }
        Ok(())
    }

    /// Checks one link row: count within `max`, every id a node.
    fn check_row(&self, level: usize, node: u32, max: usize) -> Result<()> {
        let row = self.links(level, node);
        let count = row.first().copied().unwrap_or(0) as usize;
        if row.len() != max + 1 || count > max {
            return Err(self.corrupt(format!(
                "node {node} level {level}: {count} links in a row of {max}"
            )));
        }
        if let Some(&bad) = row[1..1 + count]
            .iter()
            .find(|&&id| id as usize >= self.meta.nodes)
        {
            return Err(self.corrupt(format!(
                "node {node} level {level} links to {bad}, past the last node"
            )));
        }
        Ok(())
    }
}
