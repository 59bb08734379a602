//! The manifest: which segment files (and deletion bitmaps) make up a collection, its index
//! options, and how far the write-ahead log has been sealed into segments.
//!
//! One file, `MANIFEST`, replaced as a whole with [`write_atomic`]: a commit of the collection
//! is the rename of a new manifest. Files it does not name are not part of the collection.
//!
//! # File layout (all integers little-endian; see `docs/file-format.md`)
//!
//! ```text
//! magic "SVMAN\0\0\x01" [8] | version u32 | generation u64 | options [23] | flushed_lsn u64
//! | next_segment_id u64 | segment_count u32 | segment × segment_count | crc32c u32 (of all before)
//! segment: id u64 | file str | rows u64 | bytes u64 | has_tombstones u8 (0/1)
//!          | tombstones str (only if 1) | deleted u64
//! str:     len u32 | UTF-8 bytes [len]
//! ```
//!
//! Version 2 adds the payload schema after the segments, before the checksum:
//! `field_count u32 | (name str | type u8) × field_count`, names strictly ascending. A
//! collection without payload fields writes version 1.

use std::collections::HashSet;
use std::path::Path;

use super::trailer::check_versions;
use crate::base::bytes::{checksum, ByteReader, ByteWriter};
use crate::base::options::IndexOptions;
use crate::error::{Error, Result};
use crate::fsutil::{is_plain_file_name, read_optional, write_atomic, DirSync, ReplaceError, Vfs};
use crate::payload::{FieldType, Schema};

/// The manifest's file name inside a collection directory.
pub(crate) const MANIFEST_FILE: &str = "MANIFEST";
/// The first 8 bytes of every manifest (the same in every format version).
pub(crate) const MANIFEST_MAGIC: [u8; 8] = *b"SVMAN\0\0\x01";
/// The newest format version this build reads and writes (2: the payload schema).
pub(crate) const MANIFEST_VERSION: u32 = 2;
/// The oldest format version this build reads, and the one it writes without payload fields.
pub(crate) const MANIFEST_MIN_VERSION: u32 = 1;
/// The most rows a segment can hold (its internal ids are `u32`).
pub(crate) const MAX_SEGMENT_ROWS: u64 = u32::MAX as u64;

/// The file name of segment `id`: `seg-<id as 16 hex digits>.svs`, e.g.
/// `seg-000000000000002a.svs`.
pub(crate) fn segment_file_name(id: u64) -> String {
    format!("seg-{id:016x}.svs")
}

/// The file name of a deletion bitmap of segment `id` written in manifest `generation`:
/// `seg-<id>-<generation>.del`, both as 16 hex digits. Bitmaps are immutable, so each new version
/// of a segment's deletions gets a new name.
pub(crate) fn tombstones_file_name(id: u64, generation: u64) -> String {
    format!("seg-{id:016x}-{generation:016x}.del")
}

/// The state of a collection as of one commit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Manifest {
    /// Incremented by each commit; the first manifest written has the generation its creator
    /// chose (usually 1).
    pub generation: u64,
    /// The options every segment of the collection is built with.
    pub options: IndexOptions,
    /// Every write-ahead log record with an lsn up to this one is in the segments; replay skips
    /// them. 0 when nothing has been sealed.
    pub flushed_lsn: u64,
    /// The id the next new segment gets; above every id in `segments`.
    pub next_segment_id: u64,
    /// The live segments, in the order the collection keeps them (oldest first).
    pub segments: Vec<SegmentEntry>,
    /// The payload fields and their types (every field any acknowledged write up to
    /// `flushed_lsn` used, and the declared ones).
    pub schema: Schema,
}

/// One sealed segment named by a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentEntry {
    /// Unique within the collection, below the manifest's `next_segment_id`.
    pub id: u64,
    /// The segment's file name inside the collection directory (see [`segment_file_name`]).
    pub file: String,
    /// Rows (vectors) in the segment, including deleted ones.
    pub rows: u64,
    /// The segment file's size in bytes.
    pub bytes: u64,
    /// The deletion bitmap's file name inside the collection directory, if any row is deleted or
    /// superseded (see [`tombstones_file_name`]).
    pub tombstones: Option<String>,
    /// How many rows the bitmap marks; 0 without a bitmap.
    pub deleted: u64,
}

impl Manifest {
    /// A manifest of generation 0 with no segments, nothing flushed and segment ids starting at 1.
    pub(crate) fn new(options: IndexOptions) -> Manifest {
        Manifest {
            generation: 0,
            options,
            flushed_lsn: 0,
            next_segment_id: 1,
            segments: Vec::new(),
            schema: Schema::new(),
        }
    }

    /// Every file the manifest names (segments and bitmaps): the files a collection directory
    /// must keep.
    pub(crate) fn file_names(&self) -> impl Iterator<Item = &str> {
        self.segments
            .iter()
            .flat_map(|s| std::iter::once(s.file.as_str()).chain(s.tombstones.as_deref()))
    }

    /// Reads and checks `dir/MANIFEST`; `None` when there is none.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] (with the file's path) for a short file, a bad magic or checksum,
    /// malformed options, a file name that is not a plain name (see [`is_plain_file_name`]), a
    /// duplicate segment id or file, a segment id at or above `next_segment_id`, more deleted
    /// rows than rows, or trailing bytes; [`Error::UnsupportedVersion`] for another format
    /// version (with a matching checksum); [`Error::Io`] for I/O failures.
    pub(crate) fn read(vfs: &dyn Vfs, dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        match read_optional(vfs, &path)? {
            Some(bytes) => Manifest::decode(&bytes, &path).map(Some),
            None => Ok(None),
        }
    }

    /// Replaces `dir/MANIFEST` with this manifest, atomically ([`write_atomic`]): this is a
    /// commit, durable when this returns with [`DirSync::Now`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] when the manifest breaks a rule [`Manifest::read`] checks
    /// (nothing is written then); [`Error::Io`] for I/O failures, with
    /// [`ReplaceError::uncertain`] set when the new manifest may be the one in place (or the one
    /// found after a crash).
    pub(crate) fn write(
        &self,
        vfs: &dyn Vfs,
        dir: &Path,
        dir_sync: DirSync,
    ) -> Result<(), ReplaceError> {
        self.check().map_err(|reason| ReplaceError {
            error: Error::invalid_parameter("manifest", reason),
            uncertain: false,
        })?;
        write_atomic(vfs, &dir.join(MANIFEST_FILE), &self.encode(), dir_sync)
    }

    /// The manifest's bytes, checksum included. Does not check the manifest (see
    /// [`Manifest::write`]).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::new();
        w.buf.extend_from_slice(&MANIFEST_MAGIC);
        let version = if self.schema.is_empty() {
            MANIFEST_MIN_VERSION
        } else {
            MANIFEST_VERSION
        };
        w.u32(version)
            .u64(self.generation)
            .options(&self.options)
            .u64(self.flushed_lsn)
            .u64(self.next_segment_id)
            .u32(u32::try_from(self.segments.len()).expect("more than 4 G segments"));
        for s in &self.segments {
            w.u64(s.id).str(&s.file).u64(s.rows).u64(s.bytes);
            match &s.tombstones {
                Some(name) => w.u8(1).str(name),
                None => w.u8(0),
            };
            w.u64(s.deleted);
        }
        if version >= 2 {
            w.u32(self.schema.len() as u32);
            for (name, ty) in self.schema.iter() {
                w.str(name).u8(ty.tag());
            }
        }
        let crc = checksum(&w.buf);
        w.u32(crc);
        w.buf
    }

    /// Decodes and checks a manifest read from `path` (used in error messages only).
    ///
    /// # Errors
    ///
    /// As [`Manifest::read`], without the I/O errors.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        const MIN_LEN: usize = 8 + 4 + 4;
        if bytes.len() < MIN_LEN {
            return Err(Error::corrupt(
                path,
                format!("manifest of {} bytes is too short", bytes.len()),
            ));
        }
        if bytes[..8] != MANIFEST_MAGIC {
            return Err(Error::corrupt(path, "not a stratavec manifest (bad magic)"));
        }
        let version = check_versions(
            bytes,
            path,
            "manifest",
            MANIFEST_MIN_VERSION..=MANIFEST_VERSION,
        )?;
        let body = &bytes[..bytes.len() - 4];
        let mut r = ByteReader::new(&body[12..]);
        let manifest = decode_fields(&mut r, version).ok_or_else(|| {
            Error::corrupt(
                path,
                format!(
                    "malformed manifest: a field is short or invalid at byte {}",
                    12 + r.position()
                ),
            )
        })?;
        if r.remaining() != 0 {
            return Err(Error::corrupt(
                path,
                format!("{} unexpected bytes after the segments", r.remaining()),
            ));
        }
        manifest
            .check()
            .map_err(|reason| Error::corrupt(path, reason))?;
        Ok(manifest)
    }

    /// The rules every manifest keeps; the reason for the first one broken.
    fn check(&self) -> std::result::Result<(), String> {
        let mut ids = HashSet::with_capacity(self.segments.len());
        let mut names = HashSet::with_capacity(self.segments.len() * 2);
        for s in &self.segments {
            if !ids.insert(s.id) {
                return Err(format!("segment id {} appears twice", s.id));
            }
            if s.id >= self.next_segment_id {
                return Err(format!(
                    "segment id {} is not below next_segment_id {}",
                    s.id, self.next_segment_id
                ));
            }
            for name in std::iter::once(&s.file).chain(s.tombstones.as_ref()) {
                if !is_plain_file_name(name) {
                    return Err(format!(
                        "segment {}: {name:?} is not a plain file name",
                        s.id
                    ));
                }
                if !names.insert(name.as_str()) {
                    return Err(format!("file {name:?} is named twice"));
                }
            }
            if s.rows > MAX_SEGMENT_ROWS {
                return Err(format!(
                    "segment {} has {} rows, more than a segment holds ({MAX_SEGMENT_ROWS})",
                    s.id, s.rows
                ));
            }
            if s.deleted > s.rows {
                return Err(format!(
                    "segment {} has {} deleted rows of {}",
                    s.id, s.deleted, s.rows
                ));
            }
            if s.tombstones.is_none() && s.deleted != 0 {
                return Err(format!(
                    "segment {} has {} deleted rows but no deletion bitmap",
                    s.id, s.deleted
                ));
            }
        }
        Ok(())
    }
}

/// The fields after the version, up to the checksum; `None` when one is short or invalid.
fn decode_fields(r: &mut ByteReader<'_>, version: u32) -> Option<Manifest> {
    let generation = r.u64()?;
    let options = r.options()?;
    let flushed_lsn = r.u64()?;
    let next_segment_id = r.u64()?;
    let count = r.u32()?;
    // No preallocation from `count`: each entry is read before it is stored, so a hostile count
    // runs out of bytes instead of memory.
    let mut segments = Vec::new();
    for _ in 0..count {
        let id = r.u64()?;
        let file = r.str()?.to_owned();
        let rows = r.u64()?;
        let bytes = r.u64()?;
        let tombstones = match r.u8()? {
            0 => None,
            1 => Some(r.str()?.to_owned()),
            _ => return None,
        };
        let deleted = r.u64()?;
        segments.push(SegmentEntry {
            id,
            file,
            rows,
            bytes,
            tombstones,
            deleted,
        });
    }
    let mut schema = Schema::new();
    if version >= 2 {
        let fields = r.u32()?;
        let mut last: Option<String> = None;
        for _ in 0..fields {
            let name = r.str()?.to_owned();
            let ty = FieldType::from_tag(r.u8()?)?;
            // Strictly ascending, so that the manifest encodes back to its bytes.
            if last.as_ref().is_some_and(|l| *l >= name) {
                return None;
            }
            schema.add(&name, ty).ok()?;
            last = Some(name);
        }
        if schema.is_empty() {
            return None;
        }
    }
    Some(Manifest {
        generation,
        options,
        flushed_lsn,
        next_segment_id,
        segments,
        schema,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::options::Quantization;
    use crate::distance::Metric;
    use crate::fsutil::RealFs;
    use std::fs;

    fn sample() -> Manifest {
        let mut options = IndexOptions::new(96, Metric::Cosine);
        options.m = 24;
        options.ef_construction = 300;
        options.seed = 42;
        options.quantization = Quantization::Sq4;
        Manifest {
            generation: 7,
            options,
            flushed_lsn: 1234,
            next_segment_id: 44,
            segments: vec![
                SegmentEntry {
                    id: 42,
                    file: segment_file_name(42),
                    rows: 100_000,
                    bytes: 52_428_800,
                    tombstones: Some(tombstones_file_name(42, 7)),
                    deleted: 17,
                },
                SegmentEntry {
                    id: 43,
                    file: segment_file_name(43),
                    rows: 5,
                    bytes: 4096,
                    tombstones: None,
                    deleted: 0,
                },
            ],
            schema: Schema::new(),
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(42), "seg-000000000000002a.svs");
        assert_eq!(
            tombstones_file_name(42, 7),
            "seg-000000000000002a-0000000000000007.del"
        );
        assert!(is_plain_file_name(&segment_file_name(u64::MAX)));
        assert!(is_plain_file_name(&tombstones_file_name(
            u64::MAX,
            u64::MAX
        )));
        assert_eq!(
            sample().file_names().collect::<Vec<_>>(),
            vec![
                "seg-000000000000002a.svs",
                "seg-000000000000002a-0000000000000007.del",
                "seg-000000000000002b.svs"
            ]
        );
    }

    #[test]
    fn round_trip_through_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::read(&RealFs, dir.path()).unwrap(), None);
        let empty = Manifest::new(IndexOptions::new(3, Metric::L2));
        empty.write(&RealFs, dir.path(), DirSync::Now).unwrap();
        assert_eq!(Manifest::read(&RealFs, dir.path()).unwrap(), Some(empty));
        let m = sample();
        m.write(&RealFs, dir.path(), DirSync::Now).unwrap();
        assert_eq!(Manifest::read(&RealFs, dir.path()).unwrap(), Some(m));
        // Only the manifest is in the directory: no temporary file left.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn every_truncation_is_corrupt() {
        let bytes = sample().encode();
        let path = Path::new("MANIFEST");
        for cut in 0..bytes.len() {
            match Manifest::decode(&bytes[..cut], path) {
                Err(Error::Corrupt { path: p, .. }) => assert_eq!(p, path),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Manifest::decode(&longer, path).is_err());
    }

    #[test]
    fn every_flipped_byte_is_an_error() {
        let bytes = sample().encode();
        let path = Path::new("MANIFEST");
        for at in 0..bytes.len() {
            for mask in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[at] ^= mask;
                // Flips in the version field too: the checksum is checked first.
                match Manifest::decode(&b, path) {
                    Err(Error::Corrupt { .. }) => {}
                    other => panic!("flip {mask:#x} at {at}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn hostile_and_inconsistent_manifests_are_refused_on_read_and_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut cases: Vec<(Manifest, &str)> = Vec::new();
        for bad in ["../escape.svs", "/etc/passwd", "a/b", "..", ".", "", "x\0y"] {
            let mut m = sample();
            m.segments[1].file = bad.to_owned();
            cases.push((m, "plain file name"));
            let mut m = sample();
            m.segments[1].tombstones = Some(bad.to_owned());
            m.segments[1].deleted = 1;
            cases.push((m, "plain file name"));
        }
        let mut m = sample();
        m.segments[1].id = 42;
        cases.push((m, "twice"));
        let mut m = sample();
        m.segments[1].file = m.segments[0].file.clone();
        cases.push((m, "twice"));
        let mut m = sample();
        m.segments[1].tombstones = Some(m.segments[0].file.clone());
        cases.push((m, "twice"));
        let mut m = sample();
        m.next_segment_id = 43;
        cases.push((m, "next_segment_id"));
        let mut m = sample();
        m.segments[0].deleted = m.segments[0].rows + 1;
        cases.push((m, "deleted rows of"));
        let mut m = sample();
        m.segments[1].deleted = 1;
        cases.push((m, "no deletion bitmap"));
        let mut m = sample();
        m.segments[1].rows = MAX_SEGMENT_ROWS + 1;
        cases.push((m, "more than a segment holds"));

        let path = dir.path().join(MANIFEST_FILE);
        for (m, expect) in cases {
            match m
                .write(&RealFs, dir.path(), DirSync::Now)
                .map_err(Error::from)
            {
                Err(Error::InvalidParameter { name, reason }) => {
                    assert_eq!(name, "manifest");
                    assert!(reason.contains(expect), "{reason} / {expect}");
                }
                other => panic!("{m:?} written: {other:?}"),
            }
            // `encode` does not check: this is what a hostile writer could produce.
            fs::write(&path, m.encode()).unwrap();
            match Manifest::read(&RealFs, dir.path()) {
                Err(Error::Corrupt { path: p, reason }) => {
                    assert_eq!(p, path);
                    assert!(reason.contains(expect), "{reason} / {expect}");
                }
                other => panic!("{m:?} read: {other:?}"),
            }
        }
    }

    /// Replaces the checksum of `bytes` with a valid one.
    fn reseal(bytes: &mut [u8]) {
        let n = bytes.len() - 4;
        let crc = checksum(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn hostile_counts_and_tags_with_valid_checksums_are_corrupt() {
        let path = Path::new("MANIFEST");
        let good = sample().encode();
        // The segment count sits just before the first entry: header 12 + generation 8 +
        // options 23 + flushed 8 + next id 8.
        let count_at = 12 + 8 + 23 + 8 + 8;
        assert_eq!(&good[count_at..count_at + 4], &2u32.to_le_bytes());
        for count in [0u32, 1, 3, u32::MAX] {
            let mut b = good.clone();
            b[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
            reseal(&mut b);
            assert!(
                matches!(Manifest::decode(&b, path), Err(Error::Corrupt { .. })),
                "count {count}"
            );
        }
        // The first string length claims 4 GiB.
        let mut b = good.clone();
        b[count_at + 4 + 8..count_at + 4 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        reseal(&mut b);
        assert!(matches!(
            Manifest::decode(&b, path),
            Err(Error::Corrupt { .. })
        ));
        // A metric tag no build knows (options start at 20; the metric follows dim).
        let mut b = good.clone();
        b[24] = 200;
        reseal(&mut b);
        assert!(matches!(
            Manifest::decode(&b, path),
            Err(Error::Corrupt { .. })
        ));
        // A tombstone flag other than 0 or 1.
        let mut b = good.clone();
        let flag_at = count_at + 4 + 8 + 4 + segment_file_name(42).len() + 16;
        assert_eq!(b[flag_at], 1);
        b[flag_at] = 2;
        reseal(&mut b);
        assert!(matches!(
            Manifest::decode(&b, path),
            Err(Error::Corrupt { .. })
        ));
        // Invalid UTF-8 in a file name.
        let mut b = good.clone();
        b[count_at + 4 + 8 + 4] = 0xff;
        reseal(&mut b);
        assert!(matches!(
            Manifest::decode(&b, path),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn future_version_and_bad_magic() {
        let path = Path::new("MANIFEST");
        let mut b = sample().encode();
        b[8..12].copy_from_slice(&3u32.to_le_bytes());
        reseal(&mut b);
        assert!(matches!(
            Manifest::decode(&b, path),
            Err(Error::UnsupportedVersion {
                found: 3,
                supported: MANIFEST_VERSION,
                ..
            })
        ));
        let mut b = sample().encode();
        b[..8].copy_from_slice(b"SVWAL\0\0\x01");
        match Manifest::decode(&b, path) {
            Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("magic"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_directory_in_place_of_the_manifest_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(MANIFEST_FILE)).unwrap();
        assert!(matches!(
            Manifest::read(&RealFs, dir.path()),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn golden_v1_file_still_reads() {
        let golden: &[u8] = include_bytes!("../../tests/golden/manifest-v1.bin");
        let m = Manifest::decode(golden, Path::new("MANIFEST")).unwrap();
        assert_eq!(m, sample());
        assert_eq!(m.encode(), golden);
    }
}
