//! The check every collection file (the `WAL` header, `MANIFEST`, a deletion bitmap) starts
//! with, after its magic: the checksum before the version.
//!
//! In every format version of these files, the last 4 bytes of the checked block (the whole
//! manifest or bitmap, the 28-byte log header) are the CRC-32C of the bytes before them, and the
//! version is the `u32` after the 8-byte magic. So a reader can check the checksum before it
//! trusts the version: two flipped bits in the version field are reported as the corruption they
//! are, not as a file from a future release ("unsupported format version 4294901761").

use std::path::Path;

use crate::base::bytes::{checksum, ByteReader};
use crate::error::{Error, Result};

/// Checks the trailing checksum of `block` (magic already checked, at least 16 bytes long), then
/// its version; returns the version, which is `supported`.
///
/// # Errors
///
/// [`Error::Corrupt`] naming `path` when the checksum does not match (the reason names `what`
/// and, when it differs from `supported`, what the version field reads);
/// [`Error::UnsupportedVersion`] when the checksum matches and the version is another.
pub(crate) fn check_version(block: &[u8], path: &Path, what: &str, supported: u32) -> Result<u32> {
    check_versions(block, path, what, supported..=supported)
}

/// [`check_version`] for a reader of several versions: the version must be in `supported`.
///
/// # Errors
///
/// As [`check_version`]; the newest of `supported` is the one named.
pub(crate) fn check_versions(
    block: &[u8],
    path: &Path,
    what: &str,
    supported: std::ops::RangeInclusive<u32>,
) -> Result<u32> {
    let newest = *supported.end();
    debug_assert!(block.len() >= 16);
    let version = ByteReader::new(&block[8..12]).u32().unwrap_or(0);
    let (body, crc) = block.split_at(block.len() - 4);
    if ByteReader::new(crc).u32() != Some(checksum(body)) {
        let version_note = if supported.contains(&version) {
            String::new()
        } else {
            format!(" (its version field reads {version}; this build reads version {newest})")
        };
        return Err(Error::corrupt(
            path,
            format!("{what} checksum mismatch{version_note}"),
        ));
    }
    if !supported.contains(&version) {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: newest,
        });
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(version: u32) -> Vec<u8> {
        let mut b = b"SVTST\0\0\x01".to_vec();
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&[7; 8]);
        let crc = checksum(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn checksum_first_then_version() {
        let path = Path::new("MANIFEST");
        assert_eq!(check_version(&block(1), path, "manifest", 1).unwrap(), 1);
        assert!(matches!(
            check_version(&block(2), path, "manifest", 1),
            Err(Error::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            })
        ));
        // Two flipped bytes in the version field of a version-1 file: corruption, named.
        let mut b = block(1);
        b[10] ^= 0xFF;
        b[11] ^= 0xFF;
        match check_version(&b, path, "manifest", 1) {
            Err(Error::Corrupt { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(reason.contains("manifest checksum mismatch"), "{reason}");
                assert!(reason.contains("4294901761"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut b = block(1);
        b[13] ^= 1;
        match check_version(&b, path, "manifest", 1) {
            Err(Error::Corrupt { reason, .. }) => assert!(!reason.contains("version"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
