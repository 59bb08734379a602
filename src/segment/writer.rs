//! Writes an in-memory index as a segment file: temporary file, fsync, rename, fsync directory.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use super::{
    header_checksum, Kind, ALIGN, ENTRY_BYTES, FAST_SCAN_VERSION, HEADER_BYTES, MAGIC, MIN_VERSION,
};
use crate::error::{Error, Result};
use crate::format::ByteWriter;
use crate::fsutil::{replace_with, write_atomic, FileCursor, ReplaceError, Replacement};
use crate::hnsw::fastscan::{pack_block, BlockShape};
use crate::hnsw::storage::Storage;
use crate::hnsw::view::GraphView;
use crate::hnsw::{IndexOptions, Layout};
use crate::quant::Codec;

/// What goes into a segment: the index's options, codec and storage, and its live ids with their
/// slots (in any order).
pub(crate) struct SegmentSource<'a> {
    pub options: &'a IndexOptions,
    pub codec: Option<&'a Codec>,
    pub storage: &'a Storage,
    /// Slots `0..nodes` are written (a storage may hold more, not yet published).
    pub nodes: usize,
    pub ids: Vec<(u64, u32)>,
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

    fn pad_to(&mut self, align: usize) -> std::io::Result<()> {
        let pad = self.pos.next_multiple_of(align) - self.pos;
        self.w.write_all(&[0u8; ALIGN][..pad])?;
        self.pos += pad;
        Ok(())
    }
}

/// Writes `src` to `path` atomically ([`replace_with`], as `to` says). Returns the file's size.
pub(crate) fn write_segment(
    to: Replacement<'_>,
    path: &Path,
    src: &SegmentSource<'_>,
) -> Result<u64, ReplaceError> {
    replace_with(to.vfs, path, to.dir_sync, |file, tmp| {
        write_to(file, tmp, src)
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

fn write_to(file: &mut FileCursor, tmp: &Path, src: &SegmentSource<'_>) -> Result<u64> {
    let io = |e| Error::io(tmp, e);
    let st = src.storage;
    let o = src.options;
    let n = src.nodes;
    let m = o.m;
    let stride = st.stride();
    let dim = o.dim;
    let code_row = o
        .quantization
        .bits()
        .map_or(0, |b| Codec::row_bytes(b, dim).next_multiple_of(16));
    let levels: Vec<usize> = (0..n as u32).map(|i| st.level(i)).collect();
    let upper_rows: usize = levels.iter().sum();
    let mut ids = src.ids.clone();
    ids.sort_unstable();
    let deleted = n - ids.len();
    let entry = st.entry();

    let mut meta = ByteWriter::new();
    meta.options(o)
        .u64(n as u64)
        .u32(stride as u32)
        .u32(code_row as u32)
        .u32(entry.map_or(u32::MAX, |e| e.node))
        .u32(entry.map_or(0, |e| e.level as u32))
        .u64(upper_rows as u64)
        .u64(deleted as u64);
    match src.codec {
        Some(c) => {
            meta.u8(1);
            c.write_params(&mut meta);
        }
        None => {
            meta.u8(0);
        }
    }

    let fast_scan = o.layout == Layout::FastScan;
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|&k| k != Kind::Codes || src.codec.is_some())
        .filter(|&k| k != Kind::FastScan || fast_scan)
        .collect();
    // The fast-scan blocks repeat neighbours' code rows: those not stored with the graph (an f32
    // index saved with a codec) are encoded once, up front.
    let encoded: Vec<u8> = match src.codec {
        Some(codec) if fast_scan && (n == 0 || st.code(0).len() != code_row) => {
            let mut all = vec![0u8; n * code_row];
            all.chunks_exact_mut(code_row)
                .enumerate()
                .for_each(|(i, row)| codec.encode(&st.vector(i as u32)[..dim], row));
            all
        }
        _ => Vec::new(),
    };
    let code_of = |id: u32| -> &[u8] {
        if encoded.is_empty() {
            st.code(id)
        } else {
            &encoded[id as usize * code_row..][..code_row]
        }
    };
    let table_end = HEADER_BYTES + kinds.len() * ENTRY_BYTES;
    let first = table_end.next_multiple_of(ALIGN);

    let mut out = Out {
        w: BufWriter::with_capacity(1 << 20, file),
        pos: first,
        crc: 0,
    };
    out.w.seek(SeekFrom::Start(first as u64)).map_err(io)?;
    let mut table = Vec::with_capacity(kinds.len());
    let mut words = Vec::<u8>::with_capacity(4 * (1 + 2 * m).max(stride));
    for &kind in &kinds {
        let offset = out.pos;
        out.crc = 0;
        match kind {
            Kind::Meta => out.put(&meta.buf),
            Kind::Vectors => (0..n as u32).try_for_each(|i| out.put(f32_bytes(st.vector(i)))),
            Kind::Codes => {
                // Codes stored with the graph are written as they are; an f32 index saved with a
                // codec (a collection sealing its in-memory segment) is encoded here.
                let mut row = vec![0u8; code_row];
                (0..n as u32).try_for_each(|i| match (st.code(i), src.codec) {
                    (stored, _) if stored.len() == code_row => out.put(stored),
                    (_, Some(codec)) => {
                        codec.encode(&st.vector(i)[..dim], &mut row);
                        out.put(&row)
                    }
                    (_, None) => unreachable!("a codes section is written only with a codec"),
                })
            }
            Kind::Level0 => (0..n as u32).try_for_each(|i| {
                words.clear();
                st.links(0, i)
                    .iter()
                    .for_each(|l| words.extend(l.load(ACQ).to_le_bytes()));
                out.put(&words)
            }),
            Kind::UpperOffsets => {
                let mut at = 0u64;
                let mut r = Ok(());
                for l in levels.iter().copied().chain([0]) {
                    r = r.and(out.put(&at.to_le_bytes()));
                    at += l as u64;
                }
                r
            }
            Kind::UpperLinks => (0..n as u32).try_for_each(|i| {
                (1..=levels[i as usize]).try_for_each(|l| {
                    words.clear();
                    st.links(l, i)
                        .iter()
                        .for_each(|x| words.extend(x.load(ACQ).to_le_bytes()));
                    // A level whose list was never allocated is written as an empty row.
                    words.resize(4 * (1 + m), 0);
                    out.put(&words)
                })
            }),
            Kind::Labels => (0..n as u32).try_for_each(|i| out.put(&st.label(i).to_le_bytes())),
            Kind::IdKeys => ids
                .iter()
                .try_for_each(|(id, _)| out.put(&id.to_le_bytes())),
            Kind::IdSlots => ids
                .iter()
                .try_for_each(|(_, slot)| out.put(&slot.to_le_bytes())),
            Kind::Tombstones => st
                .deleted_words(n)
                .iter()
                .try_for_each(|w| out.put(&w.to_le_bytes())),
            Kind::FastScan => {
                let shape = BlockShape::new(dim, m);
                let mut block = vec![0u8; shape.stride];
                (0..n as u32).try_for_each(|i| {
                    pack_block(st.links(0, i), n as u32, code_of, &shape, &mut block);
                    out.put(&block)
                })
            }
        }
        .map_err(io)?;
        table.push((kind, offset, out.pos - offset, out.crc));
        out.pad_to(ALIGN).map_err(io)?;
    }
    let file_len = out.pos;

    let mut head = ByteWriter::new();
    head.buf.extend_from_slice(&MAGIC);
    head.u32(if fast_scan {
        FAST_SCAN_VERSION
    } else {
        MIN_VERSION
    })
    .u32(kinds.len() as u32)
    .u64(file_len as u64)
    .u32(0);
    head.buf.resize(HEADER_BYTES, 0);
    for &(kind, offset, len, crc) in &table {
        head.u32(kind as u32)
            .u32(0)
            .u64(offset as u64)
            .u64(len as u64)
            .u32(crc)
            .u32(0);
    }
    let crc = header_checksum(&head.buf);
    head.buf[24..28].copy_from_slice(&crc.to_le_bytes());
    head.buf.resize(first, 0);
    let file = out.w.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&head.buf).map_err(io)?;
    Ok(file_len as u64)
}

const ACQ: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Acquire;

/// The bytes of an f32 slice (the target is little-endian: see the module's `compile_error!`).
fn f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: any initialised f32 slice is a valid byte slice of 4× its length, alignment 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len() * 4) }
}
