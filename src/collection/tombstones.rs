//! Deletion bitmaps: for one sealed segment, which of its rows are deleted or superseded.
//!
//! A bitmap file is immutable once written: a new set of deletions for a segment is a new file
//! (see [`super::manifest::tombstones_file_name`]), named by the next manifest. Bit `i % 64` of
//! word `i / 64` is set when row `i` is deleted.
//!
//! # File layout (all integers little-endian; see `docs/file-format.md`)
//!
//! ```text
//! magic "SVDEL\0\0\x01" [8] | version u32 | reserved u32 (0) | rows u64
//! | words u64 × ceil(rows / 64) | crc32c u32 (of all before)
//! ```
//!
//! The words start at byte 24, so they are 8-byte aligned in a mapped file. Bits at or above
//! `rows` in the last word are zero.

use std::path::Path;

use super::trailer::check_version;
use crate::base::bytes::{checksum, ByteReader, ByteWriter};
use crate::error::{Error, Result};
use crate::fsutil::{write_atomic, DirSync, ReplaceError, Vfs};

/// The first 8 bytes of every deletion bitmap file (the same in every format version).
pub(crate) const TOMBSTONES_MAGIC: [u8; 8] = *b"SVDEL\0\0\x01";
/// The format version this build reads and writes.
pub(crate) const TOMBSTONES_VERSION: u32 = 1;
/// Bytes before the words: magic, version, reserved, rows.
const HEADER_LEN: usize = 8 + 4 + 4 + 8;

/// The number of `u64` words of a bitmap of `rows` rows, or `None` when it does not fit a
/// `usize`.
pub(crate) fn bitmap_words(rows: u64) -> Option<usize> {
    usize::try_from(rows.div_ceil(64)).ok()
}

/// The file length of a bitmap of `rows` rows, or `None` on overflow.
fn file_len(rows: u64) -> Option<usize> {
    bitmap_words(rows)?
        .checked_mul(8)?
        .checked_add(HEADER_LEN + 4)
}

/// Whether `bits` has a bit set at or above `rows`.
fn has_bits_past(bits: &[u64], rows: u64) -> bool {
    let tail = rows % 64;
    match bits.last() {
        Some(&last) if tail != 0 => last >> tail != 0,
        _ => false,
    }
}

/// Writes the deletion bitmap `bits` of a segment of `rows` rows to `path`, atomically
/// ([`write_atomic`]; the directory is synced as `dir_sync` says).
///
/// # Errors
///
/// [`Error::InvalidParameter`] when `bits` is not `ceil(rows / 64)` words long or has a bit set
/// at or above `rows` (nothing is written then); [`Error::Io`] for I/O failures.
pub(crate) fn write_tombstones(
    vfs: &dyn Vfs,
    path: &Path,
    bits: &[u64],
    rows: u64,
    dir_sync: DirSync,
) -> Result<(), ReplaceError> {
    let refuse = |error| ReplaceError {
        error,
        uncertain: false,
    };
    if bitmap_words(rows) != Some(bits.len()) {
        return Err(refuse(Error::invalid_parameter(
            "bits",
            format!(
                "a bitmap of {rows} rows has {} words, got {}",
                rows.div_ceil(64),
                bits.len()
            ),
        )));
    }
    if has_bits_past(bits, rows) {
        return Err(refuse(Error::invalid_parameter(
            "bits",
            format!("a bit at or above row {rows} is set"),
        )));
    }
    write_atomic(vfs, path, &encode(bits, rows), dir_sync)
}

/// The bytes of a bitmap file, checksum included.
pub(crate) fn encode(bits: &[u64], rows: u64) -> Vec<u8> {
    let mut w = ByteWriter::new();
    w.buf.reserve(HEADER_LEN + bits.len() * 8 + 4);
    w.buf.extend_from_slice(&TOMBSTONES_MAGIC);
    w.u32(TOMBSTONES_VERSION).u32(0).u64(rows);
    for &word in bits {
        w.u64(word);
    }
    let crc = checksum(&w.buf);
    w.u32(crc);
    w.buf
}

/// Reads and checks the deletion bitmap at `path` of a segment of `expected_rows` rows; returns
/// its `ceil(expected_rows / 64)` words.
///
/// # Errors
///
/// [`Error::Corrupt`] (with `path`) for a bad magic, a length other than the one `expected_rows`
/// gives, a checksum mismatch, a nonzero reserved field, a row count other than `expected_rows`,
/// or a bit set past the last row; [`Error::UnsupportedVersion`] for another format version;
/// [`Error::Io`] for I/O failures (a missing file included).
pub(crate) fn read_tombstones(vfs: &dyn Vfs, path: &Path, expected_rows: u64) -> Result<Vec<u64>> {
    let bytes = vfs.read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes, path, expected_rows)
}

/// Decodes and checks bitmap file bytes read from `path` (used in error messages only).
pub(crate) fn decode(bytes: &[u8], path: &Path, expected_rows: u64) -> Result<Vec<u64>> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(Error::corrupt(
            path,
            format!("deletion bitmap of {} bytes is too short", bytes.len()),
        ));
    }
    if bytes[..8] != TOMBSTONES_MAGIC {
        return Err(Error::corrupt(
            path,
            "not a stratavec deletion bitmap (bad magic)",
        ));
    }
    check_version(bytes, path, "deletion bitmap", TOMBSTONES_VERSION)?;
    let expected_len = file_len(expected_rows).ok_or_else(|| {
        Error::invalid_parameter("expected_rows", format!("{expected_rows} is too many"))
    })?;
    if bytes.len() != expected_len {
        return Err(Error::corrupt(
            path,
            format!(
                "deletion bitmap is {} bytes, expected {expected_len} for {expected_rows} rows",
                bytes.len()
            ),
        ));
    }
    let body = &bytes[..bytes.len() - 4];
    let mut r = ByteReader::new(&body[12..]);
    let (Some(reserved), Some(rows)) = (r.u32(), r.u64()) else {
        return Err(Error::corrupt(path, "deletion bitmap header is short"));
    };
    if reserved != 0 {
        return Err(Error::corrupt(
            path,
            format!("deletion bitmap reserved field is {reserved}, not 0"),
        ));
    }
    if rows != expected_rows {
        return Err(Error::corrupt(
            path,
            format!("deletion bitmap is for {rows} rows, the segment has {expected_rows}"),
        ));
    }
    let bits = (0..r.remaining() / 8)
        .map(|_| r.u64())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::corrupt(path, "deletion bitmap words are short"))?;
    if has_bits_past(&bits, rows) {
        return Err(Error::corrupt(
            path,
            format!("deletion bitmap marks a row at or above {rows}"),
        ));
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::RealFs;
    use std::fs;

    /// 130 rows (3 words), rows 0, 63, 64 and 129 deleted.
    fn sample() -> (Vec<u64>, u64) {
        (vec![1 | 1 << 63, 1, 1 << 1], 130)
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.del");
        for (bits, rows) in [
            sample(),
            (vec![], 0),
            (vec![u64::MAX], 64),
            (vec![0b101], 3),
            (vec![0; 16], 1000),
        ] {
            write_tombstones(&RealFs, &path, &bits, rows, DirSync::Now).unwrap();
            assert_eq!(read_tombstones(&RealFs, &path, rows).unwrap(), bits);
            assert_eq!(
                fs::metadata(&path).unwrap().len(),
                file_len(rows).unwrap() as u64
            );
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn bad_bitmaps_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.del");
        for (bits, rows) in [
            (vec![0u64; 2], 130),
            (vec![0u64; 4], 130),
            (vec![0u64], 0),
            (vec![1u64 << 3], 3),
            (vec![0, 0, 1 << 2], 130),
        ] {
            assert!(
                matches!(
                    write_tombstones(&RealFs, &path, &bits, rows, DirSync::Now),
                    Err(ReplaceError {
                        error: Error::InvalidParameter { name: "bits", .. },
                        uncertain: false
                    })
                ),
                "{bits:?} {rows}"
            );
        }
        assert!(!path.exists());
    }

    #[test]
    fn every_truncation_and_flip_is_an_error() {
        let (bits, rows) = sample();
        let bytes = encode(&bits, rows);
        let path = Path::new("seg.del");
        assert_eq!(decode(&bytes, path, rows).unwrap(), bits);
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    decode(&bytes[..cut], path, rows),
                    Err(Error::Corrupt { .. })
                ),
                "cut {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 8]);
        assert!(matches!(
            decode(&longer, path, rows),
            Err(Error::Corrupt { .. })
        ));
        for at in 0..bytes.len() {
            for mask in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[at] ^= mask;
                // Flips in the version field too: the checksum is checked first.
                match decode(&b, path, rows) {
                    Err(Error::Corrupt { .. }) => {}
                    other => panic!("flip {mask:#x} at {at}: {other:?}"),
                }
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
    fn well_checksummed_but_wrong_files_are_corrupt() {
        let (bits, rows) = sample();
        let path = Path::new("seg.del");
        let bytes = encode(&bits, rows);

        // A row count other than the segment's, with the same number of words.
        for expected in [129, 131, 192] {
            match decode(&bytes, path, expected) {
                Err(Error::Corrupt { reason, .. }) => {
                    assert!(reason.contains("130 rows"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        // A different length for the expected rows.
        assert!(matches!(
            decode(&bytes, path, 64),
            Err(Error::Corrupt { .. })
        ));
        // Reserved field set.
        let mut b = bytes.clone();
        b[12] = 1;
        reseal(&mut b);
        assert!(matches!(decode(&b, path, rows), Err(Error::Corrupt { .. })));
        // A bit past the last row.
        let mut b = bytes.clone();
        let last = b.len() - 4 - 8;
        b[last] |= 1 << 5;
        reseal(&mut b);
        match decode(&b, path, rows) {
            Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("above"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // A future version.
        let mut b = bytes.clone();
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        reseal(&mut b);
        assert!(matches!(
            decode(&b, path, rows),
            Err(Error::UnsupportedVersion {
                found: 2,
                supported: TOMBSTONES_VERSION,
                ..
            })
        ));
        // A huge expected row count is refused without reading anything.
        assert!(decode(&bytes, path, u64::MAX).is_err());
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_tombstones(&RealFs, &dir.path().join("absent.del"), 3),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn golden_v1_file_still_reads() {
        let golden: &[u8] = include_bytes!("../../tests/golden/tombstones-v1.bin");
        let (bits, rows) = sample();
        assert_eq!(decode(golden, Path::new("seg.del"), rows).unwrap(), bits);
        assert_eq!(encode(&bits, rows), golden);
    }
}
