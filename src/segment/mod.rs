//! Segment files: one immutable index on disk, searched in place through a memory map.
//!
//! The layout is specified in `docs/file-format.md`. In short: a 64-byte header (magic, version,
//! section count, file length, a CRC-32C over header and section table), a table of sections
//! (kind, offset, length, CRC-32C), then the sections, each 64-byte aligned and zero-padded:
//! metadata, f32 vector rows, code rows, level-0 link rows, upper-level offsets and rows, labels,
//! the sorted id index, and the tombstone bitmap. The sections are the in-memory rows of an index
//! written as they are, so opening maps them back and the same search code runs on them (the
//! segment is a [`GraphView`]). This module reads and writes bytes; it knows the graph only
//! through that view, never the growing storage of [`crate::hnsw`].
//!
//! Opening checks the header, the section table, the metadata and the entry point — work that does
//! not grow with the file. [`Segment::verify`] checks every checksum, every link and the id index.
//! Nothing a file contains can make a search read out of bounds: link ids at or past the node count
//! are skipped, counts are clamped to their rows, upper-level offsets are checked when followed.

#[cfg(not(target_endian = "little"))]
compile_error!("stratavec's segment files are read in place and need a little-endian target");

mod aligned;
mod parse;
mod verify;
mod writer;

use std::path::{Path, PathBuf};

use crate::base::calibration::Calibration;
use crate::base::groups::GroupDirectory;
use crate::base::options::IndexOptions;
use crate::base::view::{bit, prefetch_link_row, EntryPoint, GraphView, RowView};
use crate::error::{Error, Result};
use crate::payload::section::{SectionsMeta, SegmentFields};
use crate::quant::Codec;

pub(crate) use aligned::AlignedBytes;
pub(crate) use parse::{code_row_width, header_checksum};
pub(crate) use writer::{encode_rows, write_bytes, write_segment, SegmentSource};

/// The first 8 bytes of every segment file.
pub(crate) const MAGIC: [u8; 8] = *b"SVSEG\0\0\x01";
/// The newest format version this build reads and writes: 2 adds the optional `fast_scan`
/// section, 3 RaBitQ (its quantization tags, codec parameters and `rabitq_blocks` section),
/// 4 the optional `calibration` section (issue 17), 5 the payload sections (`payload_rows`,
/// `payload_index`), 6 the optional `filter_graphs` section (group graphs of frequent keyword
/// values). A file is written with the oldest version that holds what it has, so files
/// without any of them stay version 1, which every build reads.
pub(crate) const VERSION: u32 = 6;
/// The oldest format version this build reads.
pub(crate) const MIN_VERSION: u32 = 1;
/// The first version with a `fast_scan` section.
pub(crate) const FAST_SCAN_VERSION: u32 = 2;
/// The first version with RaBitQ codes.
pub(crate) const RABITQ_VERSION: u32 = 3;
/// The first version with a `calibration` section.
pub(crate) const CALIBRATION_VERSION: u32 = 4;
/// The first version with payload sections.
pub(crate) const PAYLOAD_VERSION: u32 = 5;
/// The first version with a `filter_graphs` section.
pub(crate) const GROUPS_VERSION: u32 = 6;
/// Bytes of the header.
pub(crate) const HEADER_BYTES: usize = 64;
/// Bytes of one section-table entry.
pub(crate) const ENTRY_BYTES: usize = 32;
/// Every section starts at a multiple of this.
pub(crate) const ALIGN: usize = 64;
/// Where the header's CRC is stored.
const HEADER_CRC_AT: usize = 24;

/// The kinds of section, as stored in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Kind {
    Meta = 1,
    Vectors = 2,
    Codes = 3,
    Level0 = 4,
    UpperOffsets = 5,
    UpperLinks = 6,
    Labels = 7,
    IdKeys = 8,
    IdSlots = 9,
    Tombstones = 10,
    FastScan = 11,
    RabitqBlocks = 12,
    Calibration = 13,
    PayloadRows = 14,
    PayloadIndex = 15,
    FilterGraphs = 16,
}

impl Kind {
    const ALL: [Kind; 16] = [
        Kind::Meta,
        Kind::Vectors,
        Kind::Codes,
        Kind::Level0,
        Kind::UpperOffsets,
        Kind::UpperLinks,
        Kind::Labels,
        Kind::IdKeys,
        Kind::IdSlots,
        Kind::Tombstones,
        Kind::FastScan,
        Kind::RabitqBlocks,
        Kind::Calibration,
        Kind::PayloadRows,
        Kind::PayloadIndex,
        Kind::FilterGraphs,
    ];

    fn from_u32(v: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u32 == v)
    }

    /// The kind's place in [`Kind::ALL`] (kinds are not contiguous: 13 is another branch's).
    fn slot(self) -> usize {
        Kind::ALL
            .iter()
            .position(|&k| k == self)
            .expect("every kind is in ALL")
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Meta => "meta",
            Kind::Vectors => "vectors",
            Kind::Codes => "codes",
            Kind::Level0 => "level0",
            Kind::UpperOffsets => "upper_offsets",
            Kind::UpperLinks => "upper_links",
            Kind::Labels => "labels",
            Kind::IdKeys => "id_keys",
            Kind::IdSlots => "id_slots",
            Kind::Tombstones => "tombstones",
            Kind::FastScan => "fast_scan",
            Kind::RabitqBlocks => "rabitq_blocks",
            Kind::Calibration => "calibration",
            Kind::PayloadRows => "payload_rows",
            Kind::PayloadIndex => "payload_index",
            Kind::FilterGraphs => "filter_graphs",
        }
    }
}

/// One entry of the section table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Section {
    pub offset: usize,
    pub len: usize,
    pub crc: u32,
}

/// The counts and shapes stored in the metadata section.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Meta {
    pub options: IndexOptions,
    pub nodes: usize,
    pub stride: usize,
    pub code_row_bytes: usize,
    pub entry: Option<EntryPoint>,
    pub upper_rows: usize,
    pub deleted: usize,
    pub live: usize,
}

/// Where a segment's bytes live. They never change and never move while the segment exists.
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Box<dyn AsRef<[u8]> + Send + Sync>),
}

impl Bytes {
    fn get(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(b) => (**b).as_ref(),
        }
    }
}

/// A slice of the segment's bytes, typed.
#[derive(Clone, Copy)]
struct Raw<T> {
    ptr: *const T,
    len: usize,
}

impl<T> Raw<T> {
    const EMPTY: Raw<T> = Raw {
        ptr: std::ptr::NonNull::dangling().as_ptr(),
        len: 0,
    };
}

/// What a segment file holds, for `stratavec info` and diagnostics ([`crate::Index::segment_info`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SegmentInfo {
    /// The file (or `<bytes>` for an index made with [`crate::Index::from_bytes`]).
    pub path: PathBuf,
    /// The format version of the file.
    pub format_version: u32,
    /// Bytes of the file.
    pub file_bytes: u64,
    /// Nodes in the graph, deleted ones included.
    pub nodes: usize,
    /// Live vectors (nodes not deleted).
    pub live: usize,
    /// Deleted nodes (tombstones).
    pub deleted: usize,
    /// The top level of the graph (0 for an empty index).
    pub max_level: usize,
    /// Each section: its name, offset and length in bytes.
    pub sections: Vec<SectionInfo>,
    /// The recall-vs-beam calibration stored in the file (format version 4), if any.
    pub calibration: Option<Calibration>,
}

/// One section of a segment file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SectionInfo {
    /// What it holds: `meta`, `vectors`, `codes`, `level0`, `upper_offsets`, `upper_links`,
    /// `labels`, `id_keys`, `id_slots`, `tombstones`, `fast_scan`, `rabitq_blocks`,
    /// `calibration`, `payload_rows`, `payload_index`.
    pub name: &'static str,
    /// Byte offset in the file (a multiple of 64).
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// CRC-32C of the section.
    pub crc32c: u32,
}

/// An open segment: its bytes, the parsed metadata and typed views of its sections.
pub(crate) struct Segment {
    path: PathBuf,
    bytes: Bytes,
    meta: Meta,
    codec: Option<Codec>,
    sections: [Option<Section>; Kind::ALL.len()],
    version: u32,
    m0: usize,
    vectors: Raw<f32>,
    codes: Raw<u8>,
    level0: Raw<u32>,
    upper_offsets: Raw<u64>,
    upper_links: Raw<u32>,
    labels: Raw<u64>,
    id_keys: Raw<u64>,
    id_slots: Raw<u32>,
    tombstones: Raw<u64>,
    fast_scan: Raw<u8>,
    rabitq_blocks: Raw<u8>,
    /// The `calibration` section, parsed when the segment is opened (it is small).
    calibration: Option<Calibration>,
    /// The payload sections, checked at open; `None` without payloads.
    payloads: Option<(SectionsMeta, Raw<u8>, Raw<u8>)>,
    /// The `filter_graphs` section and its directory, read at open; `None` without one.
    groups: Option<(GroupDirectory, Raw<u8>)>,
}

// SAFETY: the raw slices point into `bytes`, which the segment owns, never mutates and never moves
// (a memory map, or a heap value behind a `Box`); sharing them between threads is sharing `&[T]`.
unsafe impl Send for Segment {}
// SAFETY: as above; every access is a read.
unsafe impl Sync for Segment {}

impl Segment {
    /// Maps the file at `path` ([`crate::fsutil::map_file`]) and checks its header, section table
    /// and metadata.
    pub(crate) fn open(path: &Path) -> Result<Segment> {
        let map = crate::fsutil::map_file(path).map_err(|e| Error::io(path, e))?;
        Segment::parse(path.to_path_buf(), Bytes::Mapped(map))
    }

    /// Reads the file at `path` into memory (page-aligned huge pages when it is large, else
    /// 8-byte aligned heap) and checks it as [`Segment::open`].
    pub(crate) fn load(path: &Path) -> Result<Segment> {
        use std::io::Read;
        let mut file = crate::fsutil::open_file(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let len = usize::try_from(len).map_err(|_| Error::corrupt(path, "larger than memory"))?;
        // Huge pages for a large file (a search reads it in random order), else the heap.
        let bytes: Box<dyn AsRef<[u8]> + Send + Sync> = match crate::fsutil::huge_zeroed(len) {
            Some(mut map) => {
                file.read_exact(&mut map[..])
                    .map_err(|e| Error::io(path, e))?;
                Box::new(map)
            }
            None => {
                let mut data = AlignedBytes::zeroed(len);
                file.read_exact(data.as_mut())
                    .map_err(|e| Error::io(path, e))?;
                Box::new(data)
            }
        };
        Segment::parse(path.to_path_buf(), Bytes::Owned(bytes))
    }

    /// A segment over bytes already in memory (they must start on an 8-byte boundary; 64 is
    /// better). `name` is used in error messages.
    pub(crate) fn from_bytes(
        name: PathBuf,
        bytes: Box<dyn AsRef<[u8]> + Send + Sync>,
    ) -> Result<Segment> {
        Segment::parse(name, Bytes::Owned(bytes))
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::corrupt(&self.path, reason)
    }

    /// The values behind a typed section.
    #[inline(always)]
    fn slice<T>(&self, raw: Raw<T>) -> &[T] {
        // SAFETY: `raw` was made by `typed` from a range of `self.bytes` that was checked to lie
        // inside the bytes (section table validation), to be aligned for `T`, and to hold exactly
        // `raw.len` values; the bytes are owned by `self`, immutable and never moved, and every
        // `T` used here (u8, u32, u64, f32) is valid for any bit pattern.
        unsafe { std::slice::from_raw_parts(raw.ptr, raw.len) }
    }

    /// The file (or name) this segment was read from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.bytes.get()
    }

    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    pub(crate) fn options(&self) -> &IndexOptions {
        &self.meta.options
    }

    pub(crate) fn codec(&self) -> Option<&Codec> {
        self.codec.as_ref()
    }

    /// The recall-vs-beam calibration stored in the file, if any.
    pub(crate) fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// The blocks of the fast-scan layout, when the file has them: 4-bit blocks, or RaBitQ's
    /// one-visit blocks.
    pub(crate) fn blocks(&self) -> Option<&[u8]> {
        match (
            self.sections[Kind::FastScan.slot()],
            self.sections[Kind::RabitqBlocks.slot()],
        ) {
            (Some(_), _) => Some(self.slice(self.fast_scan)),
            (_, Some(_)) => Some(self.slice(self.rabitq_blocks)),
            _ => None,
        }
    }

    /// The payload sections over the file's bytes; `None` when the file has none.
    pub(crate) fn payload_fields(&self) -> Option<SegmentFields<'_>> {
        self.payloads
            .as_ref()
            .map(|(meta, rows, index)| SegmentFields {
                meta,
                rows_section: self.slice(*rows),
                index: self.slice(*index),
                path: &self.path,
            })
    }

    /// The group graphs' directory and section, when the file has them.
    pub(crate) fn groups(&self) -> Option<(&GroupDirectory, &[u8])> {
        self.groups
            .as_ref()
            .map(|(dir, raw)| (dir, self.slice(*raw)))
    }

    /// The slot of a live user id (binary search of the sorted id index).
    pub(crate) fn slot_of(&self, id: u64) -> Option<u32> {
        let keys = self.slice(self.id_keys);
        let i = keys.binary_search(&id).ok()?;
        self.slice(self.id_slots)
            .get(i)
            .copied()
            .filter(|&s| (s as usize) < self.meta.nodes)
    }

    /// The live user ids, ascending.
    pub(crate) fn ids(&self) -> &[u64] {
        self.slice(self.id_keys)
    }

    /// Number of upper levels of `node` (0 when the offsets are inconsistent).
    fn node_levels(&self, node: u32) -> usize {
        let off = self.slice(self.upper_offsets);
        let i = node as usize;
        match (off.get(i), off.get(i + 1)) {
            (Some(&a), Some(&b)) if a <= b && b <= self.meta.upper_rows as u64 => (b - a) as usize,
            _ => 0,
        }
    }

    /// Bytes of the file by part: codes, vectors, graph (links, labels, id index, tombstones).
    pub(crate) fn memory(&self) -> (usize, usize, usize) {
        let len = |k: Kind| self.sections[k.slot()].map_or(0, |s| s.len);
        let graph = [
            Kind::Level0,
            Kind::UpperOffsets,
            Kind::UpperLinks,
            Kind::Labels,
            Kind::Tombstones,
        ]
        .into_iter()
        .map(len)
        .sum();
        (len(Kind::Codes), len(Kind::Vectors), graph)
    }

    /// A description of the file.
    pub(crate) fn info(&self) -> SegmentInfo {
        let mut sections: Vec<SectionInfo> = Kind::ALL
            .into_iter()
            .filter_map(|k| {
                self.sections[k.slot()].map(|s| SectionInfo {
                    name: k.name(),
                    offset: s.offset as u64,
                    len: s.len as u64,
                    crc32c: s.crc,
                })
            })
            .collect();
        sections.sort_by_key(|s| s.offset);
        SegmentInfo {
            path: self.path.clone(),
            format_version: self.version,
            file_bytes: self.bytes().len() as u64,
            nodes: self.meta.nodes,
            live: self.meta.live,
            deleted: self.meta.deleted,
            max_level: self.meta.entry.map_or(0, |e| e.level),
            sections,
            calibration: self.calibration.clone(),
        }
    }

    /// The tombstone bitmap, as words (bit `i % 64` of word `i / 64` for node `i`).
    pub(crate) fn tombstone_words(&self) -> &[u64] {
        self.slice(self.tombstones)
    }

    /// Bytes of the payload sections.
    pub(crate) fn payload_bytes(&self) -> usize {
        [Kind::PayloadRows, Kind::PayloadIndex]
            .into_iter()
            .map(|k| self.sections[k.slot()].map_or(0, |s| s.len))
            .sum()
    }

    /// Bytes of the sorted id index.
    pub(crate) fn id_index_bytes(&self) -> usize {
        self.meta.live * 12
    }
}

impl GraphView for Segment {
    type Link = u32;

    #[inline(always)]
    fn len(&self) -> usize {
        self.meta.nodes
    }

    #[inline(always)]
    fn node_bound(&self) -> usize {
        self.meta.nodes
    }

    #[inline(always)]
    fn m(&self) -> usize {
        self.meta.options.m
    }

    #[inline(always)]
    fn vectors(&self) -> RowView<'_, f32> {
        RowView::from_slice(self.slice(self.vectors), self.meta.stride)
    }

    #[inline(always)]
    fn codes(&self) -> Option<RowView<'_, u8>> {
        self.codec
            .as_ref()
            .map(|_| RowView::from_slice(self.slice(self.codes), self.meta.code_row_bytes))
    }

    #[inline(always)]
    fn links(&self, level: usize, node: u32) -> &[u32] {
        if level == 0 {
            let w = 1 + self.m0;
            &self.slice(self.level0)[node as usize * w..(node as usize + 1) * w]
        } else {
            if level > self.node_levels(node) {
                return &[];
            }
            let w = 1 + self.meta.options.m;
            let first = self.slice(self.upper_offsets)[node as usize] as usize + level - 1;
            &self.slice(self.upper_links)[first * w..(first + 1) * w]
        }
    }

    #[inline(always)]
    fn prefetch_links(&self, level: usize, node: u32) {
        if level == 0 {
            let w = 1 + self.m0;
            let row = self.level0.ptr.wrapping_add(node as usize * w);
            prefetch_link_row(row.cast::<u8>(), w);
        }
    }

    fn level(&self, node: u32) -> usize {
        self.node_levels(node)
    }

    #[inline(always)]
    fn label(&self, node: u32) -> u64 {
        self.slice(self.labels)[node as usize]
    }

    #[inline(always)]
    fn is_deleted(&self, node: u32) -> bool {
        bit(self.slice(self.tombstones), node)
    }

    fn has_deletes(&self) -> bool {
        self.meta.deleted > 0
    }

    fn entry(&self) -> Option<EntryPoint> {
        self.meta.entry
    }
}
