//! Thin entry points for the fuzz targets in `fuzz/` into readers that are crate-internal (the
//! write-ahead log, the manifest, the deletion bitmaps), plus an aligned copy for segment bytes.
//! Each takes bytes, runs the reader a collection runs on its files, checks what the reader
//! promises about a success (a round trip to the same bytes, increasing lsns…) and returns the
//! reader's error otherwise. They panic only when such a promise is broken: a fuzzer crash.
//!
//! Not a stable API; hidden from the documentation.

use std::path::Path;

use crate::collection::manifest::Manifest;
use crate::collection::tombstones;
use crate::collection::wal::{self, WalRecord};
use crate::error::Result;
use crate::index::Index;
use crate::segment::AlignedBytes;

/// Opens `bytes` as a segment ([`Index::from_bytes`]) from an 8-byte-aligned copy.
///
/// # Errors
/// As [`Index::from_bytes`].
pub fn segment(bytes: &[u8]) -> Result<Index> {
    Index::from_bytes(AlignedBytes::copy(bytes))
}

/// Replays a write-ahead log held in `bytes` for a collection of dimension `dim`; returns the
/// number of records. Checks that lsns increase from the base lsn, that the good frames end
/// inside the input, that every upsert has `count × dim` components, and that replaying just the
/// good prefix gives the same records.
///
/// # Errors
/// As the log's open: a bad header, another dimension, another version.
pub fn wal_replay(bytes: &[u8], dim: usize) -> Result<usize> {
    let r = wal::fuzz_replay(bytes, dim)?;
    assert!(r.end as usize <= bytes.len(), "replay ended past the input");
    let mut prev = r.base_lsn;
    for (i, (lsn, record)) in r.records.iter().enumerate() {
        assert!(
            if i == 0 { *lsn >= prev } else { *lsn > prev },
            "lsns must increase"
        );
        prev = *lsn;
        if let WalRecord::Upsert {
            ids,
            vectors,
            payloads,
        } = record
        {
            assert_eq!(vectors.len(), ids.len() * dim, "upsert of the wrong shape");
            if let Some(p) = payloads {
                assert_eq!(p.len(), ids.len(), "one payload per id");
                assert!(
                    p.iter().all(|p| p.check().is_ok()),
                    "payloads within the limits"
                );
            }
        }
    }
    let again = wal::fuzz_replay(&bytes[..r.end as usize], dim).expect("the good prefix replays");
    assert!(
        again
            .records
            .iter()
            .map(bits)
            .eq(r.records.iter().map(bits)),
        "the good prefix replays the same"
    );
    assert_eq!(again.end, r.end);
    Ok(r.records.len())
}

/// A record as comparable bits (NaN components included).
fn bits((lsn, record): &(u64, WalRecord)) -> (u64, Vec<u64>, Vec<u32>, String) {
    match record {
        WalRecord::Upsert {
            ids,
            vectors,
            payloads,
        } => (
            *lsn,
            ids.clone(),
            vectors.iter().map(|v| v.to_bits()).collect(),
            format!("{payloads:?}"),
        ),
        WalRecord::Delete { ids } => (*lsn, ids.clone(), vec![u32::MAX], String::new()),
    }
}

/// Decodes `bytes` as a `MANIFEST`; a manifest that decodes must encode back to the same bytes.
/// Returns its segment count.
///
/// # Errors
/// As the manifest's read, without I/O errors.
pub fn manifest(bytes: &[u8]) -> Result<usize> {
    let m = Manifest::decode(bytes, Path::new("<bytes>"))?;
    assert_eq!(m.encode(), bytes, "a decoded manifest encodes to its bytes");
    Ok(m.segments.len())
}

/// Decodes `bytes` as the deletion bitmap of a segment of `rows` rows; a bitmap that decodes must
/// encode back to the same bytes. Returns the number of deleted rows.
///
/// # Errors
/// As the bitmap's read, without I/O errors.
pub fn tombstones(bytes: &[u8], rows: u64) -> Result<u64> {
    let words = tombstones::decode(bytes, Path::new("<bytes>"), rows)?;
    assert_eq!(words.len() as u64, rows.div_ceil(64));
    assert_eq!(
        tombstones::encode(&words, rows),
        bytes,
        "a decoded bitmap encodes to its bytes"
    );
    Ok(words.iter().map(|w| w.count_ones() as u64).sum())
}

/// Parses `text` as a filter ([`crate::Filter::parse`]); a filter that parses must print as text
/// that parses back to the same filter, and pass its own limit checks. Returns its printed form.
///
/// # Errors
/// As [`crate::Filter::parse`].
pub fn filter(text: &str) -> Result<String> {
    let f = crate::payload::Filter::parse(text)?;
    let printed = f.to_string();
    let again = crate::payload::Filter::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?}, printed from a parsed filter, fails: {e}"));
    assert_eq!(again, f, "the printed filter parses to the same filter");
    f.check_limits()
        .expect("a parsed filter is within the limits");
    Ok(printed)
}

/// Reads `bytes` as the two payload sections of a segment of `rows` rows: the first 4 bytes
/// (little-endian) split them. Whatever the bytes, the checks, every payload row, every filter
/// of `filters` and the full check run without panicking; sections that pass the full check
/// give filters the rows [`crate::Filter::matches`] gives on the rows' payloads.
///
/// # Errors
/// [`crate::Error::Corrupt`] from the checks.
pub fn payload_sections(bytes: &[u8], rows: usize, filters: &[crate::Filter]) -> Result<usize> {
    use crate::payload::section::{self, SegmentFields};
    use crate::payload::{evaluate, ones};
    let split = bytes
        .get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let rest = bytes.get(4..).unwrap_or(&[]);
    let (rows_section, index) = rest.split_at(split.min(rest.len()));
    // Aligned copies, as a segment's sections are.
    let rows_section = AlignedBytes::copy(rows_section);
    let index = AlignedBytes::copy(index);
    let (rows_section, index) = (rows_section.as_ref(), index.as_ref());
    let path = Path::new("<bytes>");
    let meta = section::check(rows_section, index, rows)
        .map_err(|reason| crate::Error::corrupt(path, reason))?;
    let fields = SegmentFields {
        meta: &meta,
        rows_section,
        index,
        path,
    };
    let payloads: Vec<Result<crate::Payload>> =
        (0..rows as u32).map(|r| fields.payload(r)).collect();
    let results: Vec<Result<Vec<u32>>> = filters
        .iter()
        .map(|f| evaluate(f, &fields, rows, false).map(|b| ones(b.words()).collect()))
        .collect();
    section::verify(&fields)?;
    for (f, got) in filters.iter().zip(results) {
        let Ok(got) = got else { continue };
        let want: Vec<u32> = (0..rows as u32)
            .filter(|&r| payloads[r as usize].as_ref().is_ok_and(|p| f.matches(p)))
            .collect();
        assert_eq!(got, want, "{f}: verified sections disagree with their rows");
    }
    Ok(meta.schema().len())
}

/// The two payload sections of `payloads` (one per row), in the layout
/// [`payload_sections`] reads: for seeding the fuzzer's corpus.
pub fn encode_payload_sections(payloads: &[crate::Payload]) -> Vec<u8> {
    let schema = crate::Schema::new()
        .extended(payloads)
        .ok()
        .flatten()
        .unwrap_or_default();
    let s = crate::payload::section::build(&schema, payloads.len(), |r| {
        Some(payloads[r as usize].clone())
    });
    let mut out = (s.rows.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&s.rows);
    out.extend_from_slice(&s.index);
    out
}
