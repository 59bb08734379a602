//! Segment files: one immutable index on disk, searched in place through a memory map.
//!
//! The layout is specified in `docs/file-format.md`. In short: a 64-byte header (magic, version,
//! section count, file length, a CRC-32C over header and section table), a table of sections
//! (kind, offset, length, CRC-32C), then the sections, each 64-byte aligned and zero-padded:
//! metadata, f32 vector rows, code rows, level-0 link rows, upper-level offsets and rows, labels,
//! the sorted id index, and the tombstone bitmap. The sections are the in-memory rows of
//! [`crate::hnsw`] written as they are, so opening maps them back and the same search code runs on
//! them ([`crate::hnsw`]'s `GraphView`).
//!
//! Opening checks the header, the section table, the metadata and the entry point — work that does
//! not grow with the file. [`Segment::verify`] checks every checksum, every link and the id index.
//! Nothing a file contains can make a search read out of bounds: link ids at or past the node count
//! are skipped, counts are clamped to their rows, upper-level offsets are checked when followed.

#[cfg(not(target_endian = "little"))]
compile_error!("stratavec's segment files are read in place and need a little-endian target");

mod verify;
mod writer;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::{checksum, ByteReader};
use crate::hnsw::fastscan::BlockShape;
use crate::hnsw::view::{bit, EntryPoint, GraphView};
use crate::hnsw::{IndexOptions, Layout};
use crate::quant::{Codec, Quantization};

pub(crate) use writer::{write_bytes, write_segment, SegmentSource};

/// The first 8 bytes of every segment file.
pub(crate) const MAGIC: [u8; 8] = *b"SVSEG\0\0\x01";
/// The newest format version this build reads and writes: 2 adds the optional `fast_scan`
/// section. Files without one are written as version 1, which every build reads.
pub(crate) const VERSION: u32 = 2;
/// The oldest format version this build reads.
pub(crate) const MIN_VERSION: u32 = 1;
/// The first version with a `fast_scan` section.
pub(crate) const FAST_SCAN_VERSION: u32 = 2;
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
}

impl Kind {
    const ALL: [Kind; 11] = [
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
    ];

    fn from_u32(v: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u32 == v)
    }

    fn slot(self) -> usize {
        self as usize - 1
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
}

/// One section of a segment file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SectionInfo {
    /// What it holds: `meta`, `vectors`, `codes`, `level0`, `upper_offsets`, `upper_links`,
    /// `labels`, `id_keys`, `id_slots`, `tombstones`, `fast_scan`.
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

    /// Reads the file at `path` into memory (8-byte aligned) and checks it as [`Segment::open`].
    pub(crate) fn load(path: &Path) -> Result<Segment> {
        use std::io::Read;
        let mut file = crate::fsutil::open_file(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let len = usize::try_from(len).map_err(|_| Error::corrupt(path, "larger than memory"))?;
        let mut data = AlignedBytes::zeroed(len);
        file.read_exact(data.as_mut())
            .map_err(|e| Error::io(path, e))?;
        Segment::parse(path.to_path_buf(), Bytes::Owned(Box::new(data)))
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

    fn parse(path: PathBuf, bytes: Bytes) -> Result<Segment> {
        let data = bytes.get();
        let bad = |reason: String| Error::corrupt(&path, reason);
        if data.len() < HEADER_BYTES {
            return Err(bad(format!(
                "{} bytes is shorter than the {HEADER_BYTES}-byte header",
                data.len()
            )));
        }
        if data[..8] != MAGIC {
            return Err(bad("not a stratavec segment file (bad magic)".into()));
        }
        if !(data.as_ptr() as usize).is_multiple_of(8) {
            return Err(Error::invalid_parameter(
                "bytes",
                "segment bytes must start at an 8-byte boundary (use Index::load for a copy)",
            ));
        }
        let mut h = ByteReader::new(&data[8..HEADER_BYTES]);
        let version = h.u32().expect("in header");
        if !(MIN_VERSION..=VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                path,
                found: version,
                supported: VERSION,
            });
        }
        let count = h.u32().expect("in header") as usize;
        let file_len = h.u64().expect("in header");
        let stored_crc = h.u32().expect("in header");
        if file_len != data.len() as u64 {
            return Err(bad(format!(
                "header says {file_len} bytes, file has {} (truncated or extended)",
                data.len()
            )));
        }
        if count == 0 || count > Kind::ALL.len() {
            return Err(bad(format!("section count {count} is out of range")));
        }
        let table_end = HEADER_BYTES + count * ENTRY_BYTES;
        if table_end > data.len() {
            return Err(bad("section table runs past the end of the file".into()));
        }
        if header_checksum(&data[..table_end]) != stored_crc {
            return Err(bad("header or section table checksum mismatch".into()));
        }
        if data[28..HEADER_BYTES].iter().any(|&b| b != 0) {
            return Err(bad("reserved header bytes are not zero".into()));
        }

        let mut sections: [Option<Section>; Kind::ALL.len()] = [None; Kind::ALL.len()];
        let mut t = ByteReader::new(&data[HEADER_BYTES..table_end]);
        for i in 0..count {
            let kind = t.u32().expect("in table");
            let reserved = t.u32().expect("in table");
            let offset = t.u64().expect("in table");
            let len = t.u64().expect("in table");
            let crc = t.u32().expect("in table");
            let reserved2 = t.u32().expect("in table");
            let kind = Kind::from_u32(kind)
                .ok_or_else(|| bad(format!("section {i} has unknown kind {kind}")))?;
            if reserved != 0 || reserved2 != 0 {
                return Err(bad(format!("section {i}: reserved fields are not zero")));
            }
            if sections[kind.slot()].is_some() {
                return Err(bad(format!("section {kind:?} appears twice")));
            }
            let end = offset.checked_add(len).filter(|&e| e <= data.len() as u64);
            if end.is_none() || offset < table_end as u64 || !offset.is_multiple_of(ALIGN as u64) {
                return Err(bad(format!(
                    "section {kind:?} at {offset}+{len} is misplaced in a {}-byte file",
                    data.len()
                )));
            }
            sections[kind.slot()] = Some(Section {
                offset: offset as usize,
                len: len as usize,
                crc,
            });
        }
        let mut placed: Vec<Section> = sections.iter().flatten().copied().collect();
        placed.sort_by_key(|s| s.offset);
        if placed
            .windows(2)
            .any(|w| w[0].offset + w[0].len > w[1].offset)
        {
            return Err(bad("sections overlap".into()));
        }

        let meta_section =
            sections[Kind::Meta.slot()].ok_or_else(|| bad("no metadata section".into()))?;
        let meta_bytes = &data[meta_section.offset..meta_section.offset + meta_section.len];
        if checksum(meta_bytes) != meta_section.crc {
            return Err(bad("metadata checksum mismatch".into()));
        }
        let (meta, codec) =
            read_meta(meta_bytes).ok_or_else(|| bad("metadata is malformed".into()))?;

        let mut seg = Segment {
            m0: 2 * meta.options.m,
            path,
            bytes: Bytes::Owned(Box::new(Vec::<u8>::new())),
            meta,
            codec,
            sections,
            version,
            vectors: Raw::EMPTY,
            codes: Raw::EMPTY,
            level0: Raw::EMPTY,
            upper_offsets: Raw::EMPTY,
            upper_links: Raw::EMPTY,
            labels: Raw::EMPTY,
            id_keys: Raw::EMPTY,
            id_slots: Raw::EMPTY,
            tombstones: Raw::EMPTY,
            fast_scan: Raw::EMPTY,
        };
        let n = seg.meta.nodes;
        let m = seg.meta.options.m;
        seg.vectors = seg.typed(data, Kind::Vectors, n * seg.meta.stride)?;
        seg.codes = if seg.codec.is_some() {
            seg.typed(data, Kind::Codes, n * seg.meta.code_row_bytes)?
        } else {
            seg.absent(Kind::Codes)?;
            Raw::EMPTY
        };
        seg.level0 = seg.typed(data, Kind::Level0, n * (1 + 2 * m))?;
        seg.upper_offsets = seg.typed(data, Kind::UpperOffsets, n + 1)?;
        seg.upper_links = seg.typed(data, Kind::UpperLinks, seg.meta.upper_rows * (1 + m))?;
        seg.labels = seg.typed(data, Kind::Labels, n)?;
        seg.id_keys = seg.typed(data, Kind::IdKeys, seg.meta.live)?;
        seg.id_slots = seg.typed(data, Kind::IdSlots, seg.meta.live)?;
        seg.tombstones = seg.typed(data, Kind::Tombstones, n.div_ceil(64))?;
        if seg.sections[Kind::FastScan.slot()].is_some() {
            if version < FAST_SCAN_VERSION || seg.meta.options.quantization != Quantization::Sq4 {
                return Err(seg.corrupt(format!(
                    "a fast_scan section in a version {version} segment with {} codes",
                    seg.meta.options.quantization
                )));
            }
            let shape = BlockShape::new(seg.meta.options.dim, m);
            seg.fast_scan = seg.typed(data, Kind::FastScan, shape.bytes(n))?;
            seg.meta.options.layout = Layout::FastScan;
        }
        if let Some(e) = seg.meta.entry {
            if e.node as usize >= n || seg.node_levels(e.node) < e.level {
                return Err(seg.corrupt(format!(
                    "entry point {} at level {} is not a node with that level",
                    e.node, e.level
                )));
            }
        } else if seg.meta.live > 0 {
            return Err(seg.corrupt("no entry point in a non-empty segment"));
        }
        seg.bytes = bytes;
        Ok(seg)
    }

    /// The section of `kind` as `expected` values of `T`, checked for size and alignment.
    fn typed<T>(&self, data: &[u8], kind: Kind, expected: usize) -> Result<Raw<T>> {
        let s = self.sections[kind.slot()]
            .ok_or_else(|| self.corrupt(format!("no {kind:?} section")))?;
        let want = expected.checked_mul(std::mem::size_of::<T>());
        if want != Some(s.len) {
            return Err(self.corrupt(format!(
                "{kind:?} section is {} bytes, the metadata implies {}",
                s.len,
                want.map_or("too many".to_string(), |w| w.to_string())
            )));
        }
        let ptr = data[s.offset..].as_ptr();
        if !(ptr as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(self.corrupt(format!("{kind:?} section is misaligned")));
        }
        Ok(Raw {
            ptr: ptr.cast::<T>(),
            len: expected,
        })
    }

    fn absent(&self, kind: Kind) -> Result<()> {
        match self.sections[kind.slot()] {
            Some(_) => Err(self.corrupt(format!("unexpected {kind:?} section"))),
            None => Ok(()),
        }
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

    /// The fast-scan blocks, when the file has them.
    pub(crate) fn fast_scan(&self) -> Option<&[u8]> {
        self.sections[Kind::FastScan.slot()].map(|_| self.slice(self.fast_scan))
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
        }
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
    fn stride(&self) -> usize {
        self.meta.stride
    }

    #[inline(always)]
    fn vector(&self, node: u32) -> &[f32] {
        let s = self.meta.stride;
        &self.slice(self.vectors)[node as usize * s..(node as usize + 1) * s]
    }

    #[inline(always)]
    fn prefetch_vector(&self, node: u32) {
        let row = self
            .vectors
            .ptr
            .wrapping_add(node as usize * self.meta.stride)
            .cast::<u8>();
        for line in 0..(self.meta.stride / 16).min(crate::hnsw::MAX_PREFETCH_LINES) {
            crate::hnsw::prefetch(row.wrapping_add(line * 64));
        }
    }

    #[inline(always)]
    fn code(&self, node: u32) -> &[u8] {
        let w = self.meta.code_row_bytes;
        &self.slice(self.codes)[node as usize * w..(node as usize + 1) * w]
    }

    #[inline(always)]
    fn prefetch_code(&self, node: u32) {
        let w = self.meta.code_row_bytes;
        let row = self.codes.ptr.wrapping_add(node as usize * w);
        for line in 0..w.div_ceil(64).min(crate::hnsw::MAX_PREFETCH_LINES) {
            crate::hnsw::prefetch(row.wrapping_add(line * 64));
        }
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
            let row = self.level0.ptr.wrapping_add(node as usize * w).cast::<u8>();
            crate::hnsw::prefetch(row);
            crate::hnsw::prefetch(row.wrapping_add(w * 4 - 1));
        }
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

/// The header's checksum: CRC-32C over the header with its CRC field zeroed, then the table.
pub(crate) fn header_checksum(header_and_table: &[u8]) -> u32 {
    let mut h = [0u8; HEADER_BYTES];
    h.copy_from_slice(&header_and_table[..HEADER_BYTES]);
    h[HEADER_CRC_AT..HEADER_CRC_AT + 4].fill(0);
    crc32c::crc32c_append(crc32c::crc32c(&h), &header_and_table[HEADER_BYTES..])
}

/// Parses the metadata section.
fn read_meta(bytes: &[u8]) -> Option<(Meta, Option<Codec>)> {
    let mut r = ByteReader::new(bytes);
    let options = r.options()?;
    let nodes = usize::try_from(r.u64()?).ok()?;
    let stride = r.u32()? as usize;
    let code_row_bytes = r.u32()? as usize;
    let entry_node = r.u32()?;
    let entry_level = r.u32()? as usize;
    let upper_rows = usize::try_from(r.u64()?).ok()?;
    let deleted = usize::try_from(r.u64()?).ok()?;
    let has_codec = r.u8()?;
    let codec = match has_codec {
        0 => None,
        1 => Some(Codec::read_params(&mut r, &options)?),
        _ => return None,
    };
    if r.remaining() != 0
        || nodes > u32::MAX as usize
        || stride != options.dim.div_ceil(16) * 16
        || deleted > nodes
        || codec.is_some() != options.quantization.bits().is_some()
        || code_row_bytes
            != options
                .quantization
                .bits()
                .map_or(0, |b| Codec::row_bytes(b, options.dim).div_ceil(16) * 16)
        || entry_level > crate::hnsw::MAX_LEVEL
    {
        return None;
    }
    let entry = (entry_node != u32::MAX).then_some(EntryPoint {
        node: entry_node,
        level: entry_level,
    });
    Some((
        Meta {
            options,
            nodes,
            stride,
            code_row_bytes,
            entry,
            upper_rows,
            deleted,
            live: nodes - deleted,
        },
        codec,
    ))
}

/// Bytes in memory starting on an 8-byte boundary (what [`Segment::load`] reads a file into).
pub(crate) struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    /// `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> AlignedBytes {
        AlignedBytes {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// An aligned copy of `data`.
    pub(crate) fn copy(data: &[u8]) -> AlignedBytes {
        let mut b = AlignedBytes::zeroed(data.len());
        b.as_mut().copy_from_slice(data);
        b
    }
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `words` holds `8 · words.len() >= len` initialised bytes; u64 has no padding.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

impl AsMut<[u8]> for AlignedBytes {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_ref`; `&mut self` makes the view unique, and any byte pattern is a
        // valid u64.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

#[cfg(test)]
mod tests;
