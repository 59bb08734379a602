//! Writes an index as a segment file: temporary file, fsync, rename, fsync directory.
//!
//! The writer reads the index only through [`GraphView`] (the rows and links a search reads), so
//! it works for any in-memory body; each section is one step below, in file order.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use super::{
    code_row_width, header_checksum, Kind, ALIGN, CALIBRATION_VERSION, ENTRY_BYTES,
    FAST_SCAN_VERSION, GROUPS_VERSION, HEADER_BYTES, HEADER_CRC_AT, MAGIC, MIN_VERSION,
    PAYLOAD_VERSION, RABITQ_VERSION,
};
use crate::base::bytes::ByteWriter;
use crate::base::calibration::Calibration;
use crate::base::options::{IndexOptions, Layout, MAX_LINKS};
use crate::base::view::{block_neighbours, neighbours_below, GraphView, LinkCell, RowView};
use crate::error::Error;
use crate::fsutil::{replace_with, write_atomic, FileCursor, ReplaceError, Replacement};
use crate::payload::section::Sections;
use crate::quant::blocks::{pack_block, BlockShape};
use crate::quant::Codec;

/// What goes into a segment: the index's options, codec and graph, and its live ids with their
/// slots (in any order).
pub(crate) struct SegmentSource<'a, G> {
    pub options: &'a IndexOptions,
    pub codec: Option<&'a Codec>,
    pub view: &'a G,
    /// Slots `0..nodes` are written (a growing index may hold more, not yet published).
    pub nodes: usize,
    pub ids: Vec<(u64, u32)>,
    /// The recall-vs-beam calibration to store (format version 4), if any.
    pub calibration: Option<&'a Calibration>,
    /// The payload sections of rows `0..nodes` (`payload::section::build`), when any row has a
    /// payload or the index knows payload fields.
    pub payloads: Option<&'a Sections>,
    /// The `filter_graphs` section (`base::groups::encode`), when the index has group graphs.
    pub groups: Option<&'a [u8]>,
}

/// Writes `src` to `path` atomically ([`replace_with`], as `to` says: which file system, who
/// syncs the directory). Returns the file's size.
pub(crate) fn write_segment<G: GraphView>(
    to: Replacement<'_>,
    path: &Path,
    src: &SegmentSource<'_, G>,
) -> Result<u64, ReplaceError> {
    replace_with(to.vfs, path, to.dir_sync, |file, tmp| {
        Writer::new(src).write(file).map_err(|e| Error::io(tmp, e))
    })
}

/// Writes the bytes of a segment to `path` atomically (as `to` says). Returns their length.
pub(crate) fn write_bytes(
    to: Replacement<'_>,
    path: &Path,
    bytes: &[u8],
) -> Result<u64, ReplaceError> {
    write_atomic(to.vfs, path, bytes, to.dir_sync)?;
    Ok(bytes.len() as u64)
}

/// Streams bytes to a file, counting them and computing the CRC-32C of the current section.
struct Out<'f> {
    w: BufWriter<&'f mut FileCursor>,
    pos: usize,
    crc: u32,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.pos += bytes.len();
        self.w.write_all(bytes)
    }

    fn put_u32s(&mut self, words: impl IntoIterator<Item = u32>) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(4 * (1 + MAX_LINKS));
        words.into_iter().for_each(|w| buf.extend(w.to_le_bytes()));
        self.put(&buf)
    }

    fn pad_to(&mut self, align: usize) -> std::io::Result<()> {
        let pad = self.pos.next_multiple_of(align) - self.pos;
        self.w.write_all(&[0u8; ALIGN][..pad])?;
        self.pos += pad;
        Ok(())
    }
}

/// One section's place in the file, for the table.
struct Placed {
    kind: Kind,
    offset: usize,
    len: usize,
    crc: u32,
}

/// A segment being written: the source and what is derived from it once.
struct Writer<'s, 'a, G> {
    src: &'s SegmentSource<'a, G>,
    /// Bytes of one stored code row (0 for f32).
    code_row: usize,
    /// Each node's number of upper levels.
    levels: Vec<usize>,
    /// The live ids with their slots, ascending.
    ids: Vec<(u64, u32)>,
    /// The code rows of every node, when the source does not store them (an f32 index saved
    /// with a codec: a collection sealing its in-memory segment).
    encoded: Option<Vec<u8>>,
    kinds: Vec<Kind>,
}

impl<'s, 'a, G: GraphView> Writer<'s, 'a, G> {
    fn new(src: &'s SegmentSource<'a, G>) -> Self {
        let code_row = code_row_width(src.options);
        let levels = (0..src.nodes as u32).map(|i| src.view.level(i)).collect();
        let mut ids = src.ids.clone();
        ids.sort_unstable();
        let blocks = src.options.layout == Layout::FastScan;
        let rabitq = matches!(src.codec, Some(Codec::Rq(_)));
        let stored = src.view.codes().filter(|c| c.stride() == code_row);
        let encoded = match src.codec {
            Some(codec) if stored.is_none() && code_row > 0 => {
                Some(encode_all(codec, src, code_row))
            }
            _ => None,
        };
        let kinds = Kind::ALL
            .into_iter()
            .filter(|&k| k != Kind::Codes || code_row > 0)
            .filter(|&k| k != Kind::FastScan || (blocks && !rabitq))
            .filter(|&k| k != Kind::RabitqBlocks || (blocks && rabitq))
            .filter(|&k| k != Kind::Calibration || src.calibration.is_some())
            .filter(|&k| {
                !matches!(k, Kind::PayloadRows | Kind::PayloadIndex) || src.payloads.is_some()
            })
            .filter(|&k| k != Kind::FilterGraphs || src.groups.is_some())
            .collect();
        Writer {
            src,
            code_row,
            levels,
            ids,
            encoded,
            kinds,
        }
    }

    /// The code row of `node`: stored with the graph, or encoded by [`encode_all`].
    fn code_rows(&self) -> Option<RowView<'_, u8>> {
        match &self.encoded {
            Some(rows) => Some(RowView::from_slice(rows, self.code_row)),
            None => self.src.view.codes(),
        }
    }

    /// Writes the whole file: the sections after room for the header and table, then the header.
    fn write(&self, file: &mut FileCursor) -> std::io::Result<u64> {
        let table_end = HEADER_BYTES + self.kinds.len() * ENTRY_BYTES;
        let first = table_end.next_multiple_of(ALIGN);
        let mut out = Out {
            w: BufWriter::with_capacity(1 << 20, file),
            pos: first,
            crc: 0,
        };
        out.w.seek(SeekFrom::Start(first as u64))?;
        let mut table = Vec::with_capacity(self.kinds.len());
        for &kind in &self.kinds {
            let offset = out.pos;
            out.crc = 0;
            self.write_section(kind, &mut out)?;
            table.push(Placed {
                kind,
                offset,
                len: out.pos - offset,
                crc: out.crc,
            });
            out.pad_to(ALIGN)?;
        }
        let file_len = out.pos;
        let file = out.w.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&self.header(&table, file_len, first))?;
        Ok(file_len as u64)
    }

    fn write_section(&self, kind: Kind, out: &mut Out<'_>) -> std::io::Result<()> {
        let n = self.src.nodes as u32;
        let view = self.src.view;
        match kind {
            Kind::Meta => out.put(&self.meta()),
            Kind::Vectors => {
                let rows = view.vectors();
                (0..n).try_for_each(|i| out.put(f32_bytes(rows.row(i))))
            }
            Kind::Codes => {
                let rows = self
                    .code_rows()
                    .expect("a codes section is written with a codec");
                (0..n).try_for_each(|i| out.put(rows.row(i)))
            }
            Kind::Level0 => (0..n).try_for_each(|i| out.put_u32s(cells(view.links(0, i)))),
            Kind::UpperOffsets => {
                let mut at = 0u64;
                for l in self.levels.iter().copied().chain([0]) {
                    out.put(&at.to_le_bytes())?;
                    at += l as u64;
                }
                Ok(())
            }
            Kind::UpperLinks => self.write_upper_links(out),
            Kind::Labels => (0..n).try_for_each(|i| out.put(&view.label(i).to_le_bytes())),
            Kind::IdKeys => self
                .ids
                .iter()
                .try_for_each(|(id, _)| out.put(&id.to_le_bytes())),
            Kind::IdSlots => self
                .ids
                .iter()
                .try_for_each(|(_, s)| out.put(&s.to_le_bytes())),
            Kind::Tombstones => deleted_words(view, self.src.nodes)
                .iter()
                .try_for_each(|w| out.put(&w.to_le_bytes())),
            Kind::FastScan => self.write_fast_scan(out),
            Kind::RabitqBlocks => self.write_rabitq_blocks(out),
            Kind::Calibration => {
                let mut w = ByteWriter::new();
                if let Some(c) = self.src.calibration {
                    c.write(&mut w);
                }
                out.put(&w.buf)
            }
            Kind::PayloadRows => out.put(&self.payloads().rows),
            Kind::PayloadIndex => out.put(&self.payloads().index),
            Kind::FilterGraphs => out.put(self.src.groups.unwrap_or_default()),
        }
    }

    fn payloads(&self) -> &Sections {
        self.src
            .payloads
            .expect("payload sections are written only with payloads")
    }

    /// The metadata: options, counts, shapes, entry point, then the codec's parameters.
    fn meta(&self) -> Vec<u8> {
        let src = self.src;
        let entry = src.view.entry();
        let mut meta = ByteWriter::new();
        meta.options(src.options)
            .u64(src.nodes as u64)
            .u32(src.view.vectors().stride() as u32)
            .u32(self.code_row as u32)
            .u32(entry.map_or(u32::MAX, |e| e.node))
            .u32(entry.map_or(0, |e| e.level as u32))
            .u64(self.levels.iter().sum::<usize>() as u64)
            .u64((src.nodes - self.ids.len()) as u64);
        match src.codec {
            Some(c) => {
                meta.u8(1);
                c.write_params(&mut meta);
            }
            None => {
                meta.u8(0);
            }
        }
        meta.buf
    }

    /// Every node's upper-level rows, level 1 first; a level whose list was never allocated is
    /// written as an empty row.
    fn write_upper_links(&self, out: &mut Out<'_>) -> std::io::Result<()> {
        let width = 1 + self.src.options.m;
        for (i, &levels) in self.levels.iter().enumerate() {
            for l in 1..=levels {
                let row = self.src.view.links(l, i as u32);
                out.put_u32s(cells(row).chain(std::iter::repeat(0)).take(width))?;
            }
        }
        Ok(())
    }

    /// Each node's fast-scan block, packed from its level-0 links and its neighbours' code rows.
    fn write_fast_scan(&self, out: &mut Out<'_>) -> std::io::Result<()> {
        let src = self.src;
        let n = src.nodes as u32;
        let shape = BlockShape::new(src.options.dim, src.options.m);
        let rows = self.code_rows().expect("the fast-scan layout needs codes");
        let mut block = vec![0u8; shape.stride];
        for i in 0..n {
            let mut ids = [0u32; MAX_LINKS];
            let count = neighbours_below(src.view.links(0, i), n, &mut ids);
            pack_block(&ids[..count], |id| Some(rows.row(id)), &shape, &mut block);
            out.put(&block)?;
        }
        Ok(())
    }

    /// Each node's RaBitQ one-visit block, packed from its level-0 links and the vectors, a few
    /// thousand nodes at a time.
    fn write_rabitq_blocks(&self, out: &mut Out<'_>) -> std::io::Result<()> {
        let Some(Codec::Rq(rq)) = self.src.codec else {
            unreachable!("a rabitq_blocks section is written only with a RaBitQ codec");
        };
        let n = self.src.nodes;
        let view = self.src.view;
        let vectors = view.vectors();
        let shape = rq.block_shape(self.src.options.m, vectors.stride());
        let rotated = rq.rotate_all(n, vectors);
        let neighbours = block_neighbours(view, n as u32);
        const CHUNK: usize = 4096;
        let mut buf = vec![0u8; shape.stride * CHUNK.min(n.max(1))];
        for first in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - first) * shape.stride;
            let chunk = &mut buf[..len];
            rq.pack_blocks(&shape, first, vectors, rotated.as_ref(), &neighbours, chunk);
            out.put(chunk)?;
        }
        Ok(())
    }

    /// The header and the section table, zero-padded to the first section.
    fn header(&self, table: &[Placed], file_len: usize, first: usize) -> Vec<u8> {
        let version = if self.kinds.contains(&Kind::FilterGraphs) {
            GROUPS_VERSION
        } else if self.kinds.contains(&Kind::PayloadRows) {
            PAYLOAD_VERSION
        } else if self.kinds.contains(&Kind::Calibration) {
            CALIBRATION_VERSION
        } else if self.src.options.quantization.is_rabitq() {
            RABITQ_VERSION
        } else if self.kinds.contains(&Kind::FastScan) {
            FAST_SCAN_VERSION
        } else {
            MIN_VERSION
        };
        let mut head = ByteWriter::new();
        head.buf.extend_from_slice(&MAGIC);
        head.u32(version)
            .u32(table.len() as u32)
            .u64(file_len as u64)
            .u32(0);
        head.buf.resize(HEADER_BYTES, 0);
        for p in table {
            head.u32(p.kind as u32)
                .u32(0)
                .u64(p.offset as u64)
                .u64(p.len as u64)
                .u32(p.crc)
                .u32(0);
        }
        let crc = header_checksum(&head.buf);
        head.buf[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        head.buf.resize(first, 0);
        head.buf
    }
}

/// Every node's code row, encoded from its vector (in parallel).
fn encode_all<G: GraphView>(codec: &Codec, src: &SegmentSource<'_, G>, code_row: usize) -> Vec<u8> {
    encode_rows(codec, src.view, src.nodes, src.options.dim, code_row)
}

/// The code rows (`code_row` bytes each) of nodes `0..nodes` of `view`, encoded from their
/// vectors with `codec`, in parallel.
pub(crate) fn encode_rows<G: GraphView>(
    codec: &Codec,
    view: &G,
    nodes: usize,
    dim: usize,
    code_row: usize,
) -> Vec<u8> {
    use rayon::prelude::*;
    let vectors = view.vectors();
    let mut all = vec![0u8; nodes * code_row];
    all.par_chunks_exact_mut(code_row.max(1))
        .enumerate()
        .for_each(|(i, row)| codec.encode(&vectors.row(i as u32)[..dim], row));
    all
}

/// The deletion bitmap of nodes `0..nodes`.
fn deleted_words<G: GraphView>(view: &G, nodes: usize) -> Vec<u64> {
    let mut words = vec![0u64; nodes.div_ceil(64)];
    for i in 0..nodes as u32 {
        if view.is_deleted(i) {
            words[i as usize / 64] |= 1 << (i % 64);
        }
    }
    words
}

/// The values of a row of link cells.
fn cells<L: LinkCell>(row: &[L]) -> impl Iterator<Item = u32> + '_ {
    row.iter().map(LinkCell::get)
}

/// The bytes of an f32 slice (the target is little-endian: see the module's `compile_error!`).
fn f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: any initialised f32 slice is a valid byte slice of 4× its length, alignment 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len() * 4) }
}
