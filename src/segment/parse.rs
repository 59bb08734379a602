//! Opening a segment: the checks whose cost does not grow with the file, in the order a reader
//! can follow — the header, the section table, the metadata, then typed views of the sections.

use std::path::PathBuf;

use super::{
    Bytes, Kind, Meta, Raw, Section, Segment, ALIGN, CALIBRATION_VERSION, ENTRY_BYTES,
    FAST_SCAN_VERSION, GROUPS_VERSION, HEADER_BYTES, HEADER_CRC_AT, MAGIC, MIN_VERSION,
    PAYLOAD_VERSION, RABITQ_VERSION, VERSION,
};
use crate::base::bytes::{checksum, ByteReader};
use crate::base::calibration::Calibration;
use crate::base::groups::GroupDirectory;
use crate::base::options::{Layout, Quantization, MAX_LEVEL};
use crate::base::view::EntryPoint;
use crate::error::{Error, Result};
use crate::quant::blocks::BlockShape;
use crate::quant::Codec;

/// Most section-table entries a header may announce before its checksum is even computed (more
/// than any version defines, so a future version is reported as such, not as corruption).
const MAX_TABLE_ENTRIES: usize = 64;

/// The table of a segment: each kind's section, if present.
type Table = [Option<Section>; Kind::ALL.len()];

/// What the fixed header says.
struct Header {
    version: u32,
    sections: usize,
}

impl Segment {
    /// Checks `bytes` as a segment file named `path` and builds the typed views.
    pub(super) fn parse(path: PathBuf, bytes: Bytes) -> Result<Segment> {
        let data = bytes.get();
        let header = read_header(&path, data)?;
        let sections = read_table(&path, data, header.sections)?;
        let meta_section = sections[Kind::Meta.slot()]
            .ok_or_else(|| Error::corrupt(&path, "no metadata section"))?;
        let meta_bytes = &data[meta_section.offset..meta_section.offset + meta_section.len];
        if checksum(meta_bytes) != meta_section.crc {
            return Err(Error::corrupt(&path, "metadata checksum mismatch"));
        }
        let (meta, codec) =
            read_meta(meta_bytes).ok_or_else(|| Error::corrupt(&path, "metadata is malformed"))?;
        let mut seg = Segment {
            m0: 2 * meta.options.m,
            path,
            bytes: Bytes::Owned(Box::new(Vec::<u8>::new())),
            meta,
            codec,
            sections,
            version: header.version,
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
            rabitq_blocks: Raw::EMPTY,
            calibration: None,
            payloads: None,
            groups: None,
        };
        seg.bind_sections(data)?;
        seg.read_calibration(data)?;
        seg.check_entry()?;
        seg.bytes = bytes;
        Ok(seg)
    }

    /// Points the typed views at their sections, each checked against the size the metadata
    /// implies.
    fn bind_sections(&mut self, data: &[u8]) -> Result<()> {
        let n = self.meta.nodes;
        let m = self.meta.options.m;
        self.vectors = self.typed(data, Kind::Vectors, n * self.meta.stride)?;
        self.codes = if self.meta.code_row_bytes > 0 {
            self.typed(data, Kind::Codes, n * self.meta.code_row_bytes)?
        } else {
            self.absent(Kind::Codes)?;
            Raw::EMPTY
        };
        self.level0 = self.typed(data, Kind::Level0, n * (1 + 2 * m))?;
        self.upper_offsets = self.typed(data, Kind::UpperOffsets, n + 1)?;
        self.upper_links = self.typed(data, Kind::UpperLinks, self.meta.upper_rows * (1 + m))?;
        self.labels = self.typed(data, Kind::Labels, n)?;
        self.id_keys = self.typed(data, Kind::IdKeys, self.meta.live)?;
        self.id_slots = self.typed(data, Kind::IdSlots, self.meta.live)?;
        self.tombstones = self.typed(data, Kind::Tombstones, n.div_ceil(64))?;
        if self.sections[Kind::FastScan.slot()].is_some() {
            if self.version < FAST_SCAN_VERSION
                || self.meta.options.quantization != Quantization::Sq4
            {
                return Err(self.corrupt(format!(
                    "a fast_scan section in a version {} segment with {} codes",
                    self.version, self.meta.options.quantization
                )));
            }
            let shape = BlockShape::new(self.meta.options.dim, m);
            self.fast_scan = self.typed(data, Kind::FastScan, shape.bytes(n))?;
            self.meta.options.layout = Layout::FastScan;
        }
        match &self.codec {
            Some(Codec::Rq(rq)) if rq.layout() == Layout::FastScan => {
                let shape = rq.block_shape(m, self.meta.stride);
                self.rabitq_blocks = self.typed(data, Kind::RabitqBlocks, shape.bytes(n))?;
            }
            _ => self.absent(Kind::RabitqBlocks)?,
        }
        self.bind_payloads(data)?;
        self.bind_groups(data)?;
        // A layout the sections did not set is the compact one.
        if self.meta.options.layout == Layout::Auto {
            self.meta.options.layout = Layout::Compact;
        }
        if self.meta.options.quantization.is_rabitq() && self.version < RABITQ_VERSION {
            return Err(self.corrupt(format!(
                "RaBitQ codes in a version {} segment",
                self.version
            )));
        }
        Ok(())
    }

    /// The optional section `kind`, if the file has it: an error when the file's version is older
    /// than `since`, the first version with such a section.
    fn optional_section(&self, kind: Kind, since: u32) -> Result<Option<Section>> {
        match self.sections[kind.slot()] {
            Some(_) if self.version < since => Err(self.corrupt(format!(
                "a {} section in a version {} segment",
                kind.name(),
                self.version
            ))),
            found => Ok(found),
        }
    }

    /// The `calibration` section (format version 4), checked and parsed: it is small.
    fn read_calibration(&mut self, data: &[u8]) -> Result<()> {
        let Some(s) = self.optional_section(Kind::Calibration, CALIBRATION_VERSION)? else {
            return Ok(());
        };
        let bytes = &data[s.offset..s.offset + s.len];
        if checksum(bytes) != s.crc {
            return Err(self.corrupt("calibration checksum mismatch"));
        }
        let calibration = Calibration::read(bytes)
            .ok_or_else(|| self.corrupt("calibration section is malformed"))?;
        self.calibration = Some(calibration);
        Ok(())
    }

    /// The payload sections: both or neither, in a version 5 file, their headers and field
    /// entries checked (`payload::section::check`).
    fn bind_payloads(&mut self, data: &[u8]) -> Result<()> {
        let rows = self.sections[Kind::PayloadRows.slot()];
        let index = self.sections[Kind::PayloadIndex.slot()];
        let (Some(r), Some(i)) = (rows, index) else {
            self.absent(Kind::PayloadRows)?;
            return self.absent(Kind::PayloadIndex);
        };
        if self.version < PAYLOAD_VERSION {
            return Err(self.corrupt(format!(
                "payload sections in a version {} segment",
                self.version
            )));
        }
        let rows_raw: Raw<u8> = self.typed(data, Kind::PayloadRows, r.len)?;
        let index_raw: Raw<u8> = self.typed(data, Kind::PayloadIndex, i.len)?;
        let meta = crate::payload::section::check(
            &data[r.offset..r.offset + r.len],
            &data[i.offset..i.offset + i.len],
            self.meta.nodes,
        )
        .map_err(|reason| self.corrupt(reason))?;
        self.payloads = Some((meta, rows_raw, index_raw));
        Ok(())
    }

    /// The `filter_graphs` section (format version 6): its directory read and every part checked
    /// to lie inside it (the parts' contents are `verify`'s; a search never trusts them).
    fn bind_groups(&mut self, data: &[u8]) -> Result<()> {
        let Some(g) = self.optional_section(Kind::FilterGraphs, GROUPS_VERSION)? else {
            return Ok(());
        };
        let raw: Raw<u8> = self.typed(data, Kind::FilterGraphs, g.len)?;
        let bytes = &data[g.offset..g.offset + g.len];
        let dir = GroupDirectory::read(bytes, self.meta.nodes, 2 * self.meta.options.m)
            .ok_or_else(|| self.corrupt("filter_graphs section is malformed"))?;
        self.groups = Some((dir, raw));
        Ok(())
    }

    /// The entry point must be a node with the level the metadata gives it.
    fn check_entry(&self) -> Result<()> {
        match self.meta.entry {
            Some(e) if e.node as usize >= self.meta.nodes || self.node_levels(e.node) < e.level => {
                Err(self.corrupt(format!(
                    "entry point {} at level {} is not a node with that level",
                    e.node, e.level
                )))
            }
            None if self.meta.live > 0 => {
                Err(self.corrupt("no entry point in a non-empty segment"))
            }
            _ => Ok(()),
        }
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
}

/// The fixed header: magic, alignment of the bytes, the length, the checksum over header and
/// table (checked before the version, so a damaged header reads as corruption), the version.
fn read_header(path: &std::path::Path, data: &[u8]) -> Result<Header> {
    let bad = |reason: String| Error::corrupt(path, reason);
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
    let count = h.u32().expect("in header") as usize;
    let file_len = h.u64().expect("in header");
    let stored_crc = h.u32().expect("in header");
    if file_len != data.len() as u64 {
        return Err(bad(format!(
            "header says {file_len} bytes, file has {} (truncated or extended)",
            data.len()
        )));
    }
    if count == 0 || count > MAX_TABLE_ENTRIES {
        return Err(bad(format!("section count {count} is out of range")));
    }
    let table_end = HEADER_BYTES + count * ENTRY_BYTES;
    if table_end > data.len() {
        return Err(bad("section table runs past the end of the file".into()));
    }
    if header_checksum(&data[..table_end]) != stored_crc {
        return Err(bad("header or section table checksum mismatch".into()));
    }
    if !(MIN_VERSION..=VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: VERSION,
        });
    }
    if count > Kind::ALL.len() {
        return Err(bad(format!("section count {count} is out of range")));
    }
    if data[28..HEADER_BYTES].iter().any(|&b| b != 0) {
        return Err(bad("reserved header bytes are not zero".into()));
    }
    Ok(Header {
        version,
        sections: count,
    })
}

/// The section table: known kinds, each once, 64-byte aligned, inside the file, not overlapping.
fn read_table(path: &std::path::Path, data: &[u8], count: usize) -> Result<Table> {
    let bad = |reason: String| Error::corrupt(path, reason);
    let table_end = HEADER_BYTES + count * ENTRY_BYTES;
    let mut sections: Table = [None; Kind::ALL.len()];
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
    Ok(sections)
}

/// The header's checksum: CRC-32C over the header with its CRC field zeroed, then the table.
pub(crate) fn header_checksum(header_and_table: &[u8]) -> u32 {
    let mut h = [0u8; HEADER_BYTES];
    h.copy_from_slice(&header_and_table[..HEADER_BYTES]);
    h[HEADER_CRC_AT..HEADER_CRC_AT + 4].fill(0);
    crc32c::crc32c_append(crc32c::crc32c(&h), &header_and_table[HEADER_BYTES..])
}

/// Parses the metadata section; `None` when it is malformed or inconsistent.
fn read_meta(bytes: &[u8]) -> Option<(Meta, Option<Codec>)> {
    let mut r = ByteReader::new(bytes);
    let mut options = r.options()?;
    let nodes = usize::try_from(r.u64()?).ok()?;
    let stride = r.u32()? as usize;
    let code_row_bytes = r.u32()? as usize;
    let entry_node = r.u32()?;
    let entry_level = r.u32()? as usize;
    let upper_rows = usize::try_from(r.u64()?).ok()?;
    let deleted = usize::try_from(r.u64()?).ok()?;
    let codec = match r.u8()? {
        0 => None,
        1 => Some(Codec::read_params(&mut r, &options)?),
        _ => return None,
    };
    if let Some(Codec::Rq(rq)) = &codec {
        options.layout = rq.layout();
    }
    if r.remaining() != 0
        || nodes > u32::MAX as usize
        || stride != options.dim.div_ceil(16) * 16
        || deleted > nodes
        || codec.is_some() != options.quantization.is_quantized()
        || code_row_bytes != code_row_width(&options)
        || entry_level > MAX_LEVEL
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

/// Bytes of one stored code row for these options (the codec's row rounded to 16); 0 for f32.
pub(crate) fn code_row_width(options: &crate::base::options::IndexOptions) -> usize {
    Codec::row_bytes(options).next_multiple_of(16)
}
