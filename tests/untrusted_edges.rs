//! Untrusted input at the edges: segment files claiming huge sizes, links pointing out of range
//! behind valid checksums, a manifest naming missing files, a read-only directory. Each must be a
//! clear error (never a panic), and no acknowledged write may be lost: once the fault is gone,
//! the collection has every write and keeps working. (A full disk is in `tests/full_disk.rs`: its
//! fault hook is process-wide.)

use std::fs;
use std::path::Path;

use stratavec::{
    Collection, CollectionOptions, Durability, Error, Index, IndexOptions, Metric, SearchParams,
};

// ---------------------------------------------------------------- segment files

const HEADER: usize = 64;
const ENTRY: usize = 32;

/// A real segment: 60 nodes of dimension 4, a few deleted.
fn segment_bytes(dir: &Path) -> Vec<u8> {
    let mut o = IndexOptions::new(4, Metric::L2);
    o.m = 4;
    o.ef_construction = 24;
    let index = Index::new(o).unwrap();
    let ids: Vec<u64> = (0..60).map(|i| 1000 + i).collect();
    let rows: Vec<f32> = (0..60 * 4).map(|i| ((i * 37) % 23) as f32).collect();
    index.add_batch(&ids, &rows).unwrap();
    index.delete(1003).unwrap();
    let path = dir.join("s.svs");
    index.save(&path).unwrap();
    fs::read(&path).unwrap()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The table entry (its offset in the file) of section `kind`, and the section's bounds.
fn section(b: &[u8], kind: u32) -> (usize, usize, usize) {
    let count = u32_at(b, 12) as usize;
    (0..count)
        .map(|i| HEADER + i * ENTRY)
        .find(|&e| u32_at(b, e) == kind)
        .map(|e| (e, u64_at(b, e + 8) as usize, u64_at(b, e + 16) as usize))
        .unwrap_or_else(|| panic!("no section {kind}"))
}

/// Recomputes the section checksums in the table, then the header checksum (what a hostile file
/// would carry: everything `open` checks is consistent).
fn reseal(b: &mut [u8]) {
    let count = u32_at(b, 12) as usize;
    reseal_with(b, count);
}

/// [`reseal`] over the first `count` table entries.
fn reseal_with(b: &mut [u8], count: usize) {
    for i in 0..count {
        let e = HEADER + i * ENTRY;
        let (off, len) = (u64_at(b, e + 8) as usize, u64_at(b, e + 16) as usize);
        if off.checked_add(len).is_some_and(|end| end <= b.len()) {
            let crc = crc32c::crc32c(&b[off..off + len]);
            put_u32(b, e + 24, crc);
        }
    }
    let end = HEADER + count * ENTRY;
    let mut h = b[..HEADER].to_vec();
    h[24..28].fill(0);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h), &b[HEADER..end]);
    put_u32(b, 24, crc);
}

fn open(bytes: &[u8]) -> stratavec::Result<Index> {
    stratavec::__fuzz::segment(bytes)
}

/// Searches every way without panicking. On a file that fails `verify` the answers may be wrong
/// (the documented contract: "a damaged but openable file can give wrong answers, never a
/// crash"), so only their length is checked.
fn search_all_ways(index: &Index, what: &str) {
    let q = [1.0, 2.0, 3.0, 4.0];
    for k in [1, 10, 100] {
        for ef in [1, 16, 500] {
            if let Ok(hits) = index.search_with(&q, &SearchParams::new(k).ef(ef)) {
                assert!(hits.len() <= k, "{what}");
            }
        }
        let odd = |id: u64| id % 2 == 1;
        let _ = index.search_with(&q, &SearchParams::new(k).filter(&odd));
        let _ = index.search_exact(&q, &SearchParams::new(k));
    }
    for id in index.ids().into_iter().take(10) {
        let _ = index.get(id);
    }
}

fn corrupt_reason(r: stratavec::Result<Index>) -> String {
    match r {
        Err(Error::Corrupt { reason, .. }) => reason,
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("a hostile segment opened"),
    }
}

#[test]
fn a_segment_claiming_huge_sizes_is_refused_by_open() {
    let dir = tempfile::tempdir().unwrap();
    let good = segment_bytes(dir.path());
    open(&good).unwrap().verify().unwrap();
    // The header's file length.
    for len in [u64::MAX, 1 << 40, good.len() as u64 + 64] {
        let mut b = good.clone();
        put_u64(&mut b, 16, len);
        reseal(&mut b);
        corrupt_reason(open(&b));
    }
    // A section count past the table's limit.
    let count = u32_at(&good, 12) as usize;
    for claimed in [u32::MAX, 11, 0] {
        let mut b = good.clone();
        put_u32(&mut b, 12, claimed);
        reseal_with(&mut b, count);
        corrupt_reason(open(&b));
    }
    // Each section's length and offset, huge or past the end.
    let count = u32_at(&good, 12) as usize;
    for i in 0..count {
        for (field, v) in [
            (16, u64::MAX),
            (16, 1 << 40),
            (8, u64::MAX - 63),
            (8, 1 << 40),
        ] {
            let mut b = good.clone();
            put_u64(&mut b, HEADER + i * ENTRY + field, v);
            reseal(&mut b);
            corrupt_reason(open(&b));
        }
    }
    // The metadata's node count, upper row count and stride, each huge.
    let (_, meta, _) = section(&good, 1);
    for (at, wide) in [(23, true), (31, false), (47, true), (55, true)] {
        for v in [u32::MAX as u64, u64::MAX, 1 << 33] {
            let mut b = good.clone();
            if wide {
                put_u64(&mut b, meta + at, v);
            } else {
                put_u32(&mut b, meta + at, v as u32);
            }
            reseal(&mut b);
            corrupt_reason(open(&b));
        }
    }
}

#[test]
fn links_out_of_range_behind_valid_checksums_are_caught_by_verify_and_searches_survive() {
    let dir = tempfile::tempdir().unwrap();
    let good = segment_bytes(dir.path());
    let (_, level0, len0) = section(&good, 4);
    let row = 4 * (1 + 2 * 4); // m = 4: [count, 8 ids]
    assert_eq!(len0, 60 * row);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for node in [0usize, 1, 30, 59] {
        for (what, at, v) in [
            ("a link to a node past the end", 4, 60u32),
            ("a link to u32::MAX", 4, u32::MAX),
            ("a count past the row", 0, 9),
            ("a count of u32::MAX", 0, u32::MAX),
        ] {
            let mut b = good.clone();
            put_u32(&mut b, level0 + node * row + at, v);
            reseal(&mut b);
            cases.push((what, b));
        }
    }
    // Upper levels: offsets that decrease or point past the upper rows.
    let (_, offs, _) = section(&good, 5);
    for (node, v) in [(1usize, u64::MAX), (30, 1 << 40), (59, 0)] {
        let mut b = good.clone();
        put_u64(&mut b, offs + node * 8, v);
        reseal(&mut b);
        cases.push(("upper offsets out of order", b));
    }
    // Upper links past the end.
    let (_, upper, ulen) = section(&good, 6);
    if ulen >= 8 {
        let mut b = good.clone();
        put_u32(&mut b, upper + 4, 1000);
        put_u32(&mut b, upper, 1);
        reseal(&mut b);
        cases.push(("an upper link past the end", b));
    }
    // The id index: a slot past the end, keys out of order.
    let (_, slots, _) = section(&good, 9);
    let mut b = good.clone();
    put_u32(&mut b, slots + 8, u32::MAX);
    reseal(&mut b);
    cases.push(("an id slot past the end", b));
    let (_, keys, _) = section(&good, 8);
    let mut b = good.clone();
    put_u64(&mut b, keys, u64::MAX);
    reseal(&mut b);
    cases.push(("id keys out of order", b));
    // Tombstones: a bit past the last node.
    let (_, tomb, _) = section(&good, 10);
    let mut b = good.clone();
    put_u64(&mut b, tomb + 8, u64::MAX);
    reseal(&mut b);
    cases.push(("a tombstone past the end", b));

    for (what, b) in &cases {
        match open(b) {
            Ok(index) => {
                search_all_ways(&index, what);
                match index.verify() {
                    Err(Error::Corrupt { .. }) => {}
                    Err(e) => panic!("{what}: verify gave {e}, not Corrupt"),
                    Ok(()) => panic!("{what}: verify passed"),
                }
                search_all_ways(&index, what);
            }
            // open may catch some of them already (the entry point, counts).
            Err(Error::Corrupt { .. }) => {}
            Err(e) => panic!("{what}: open gave {e}"),
        }
    }
}

// ---------------------------------------------------------------- collections

const DIM: usize = 4;

fn options() -> CollectionOptions {
    let mut o = CollectionOptions::new(DIM, Metric::L2);
    o.durability = Durability::Sync;
    o.index.m = 4;
    o.compact_deleted_fraction = None;
    o
}

fn v(id: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|i| ((id * 7 + i) % 19) as f32)
        .collect()
}

/// A collection with sealed rows, a deletion bitmap and rows only in the log: ids 0..30 but 3.
fn build(dir: &Path) {
    let col = Collection::open(dir, options()).unwrap();
    for id in 0..20 {
        col.upsert(id, &v(id)).unwrap();
    }
    col.flush().unwrap();
    col.delete(3).unwrap();
    for id in 20..25 {
        col.upsert(id, &v(id)).unwrap();
    }
    col.flush().unwrap();
    for id in 25..30 {
        col.upsert(id, &v(id)).unwrap();
    }
}

fn check_all(col: &Collection) {
    assert_eq!(col.len(), 29);
    for id in 0..30 {
        if id == 3 {
            assert!(!col.contains(3));
        } else {
            assert_eq!(col.get(id).unwrap(), v(id), "id {id}");
        }
    }
    col.verify().unwrap();
}

fn names(dir: &Path, ext: &str) -> Vec<String> {
    let mut n: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(ext))
        .collect();
    n.sort();
    n
}

#[test]
fn a_manifest_naming_missing_files_is_a_clear_error_and_destroys_nothing() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let wal = fs::read(dir.path().join("WAL")).unwrap();
    let mut missing: Vec<String> = names(dir.path(), ".svs");
    missing.extend(names(dir.path(), ".del"));
    assert!(missing.len() >= 3, "{missing:?}");
    for name in &missing {
        let path = dir.path().join(name);
        let held = dir.path().join("held-aside");
        fs::rename(&path, &held).unwrap();
        for (how, r) in [
            ("open", Collection::open(dir.path(), options())),
            ("open_read_only", Collection::open_read_only(dir.path())),
        ] {
            match r {
                Err(Error::Io { path: p, source }) => {
                    assert_eq!(source.kind(), std::io::ErrorKind::NotFound, "{how} {name}");
                    assert!(p.ends_with(name), "{how}: the error names {}", p.display());
                }
                Err(e) => panic!("{how} without {name}: {e}"),
                Ok(_) => panic!("{how} without {name} succeeded"),
            }
        }
        // Nothing was removed or reset by the failed opens.
        assert_eq!(fs::read(dir.path().join("WAL")).unwrap(), wal);
        fs::rename(&held, &path).unwrap();
        check_all(&Collection::open(dir.path(), options()).unwrap());
    }
}

/// Whether this process can write into a directory it made read-only (root can).
fn permissions_ignored(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("probe");
    fs::create_dir(&probe).unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o555)).unwrap();
    let ignored = fs::write(probe.join("x"), b"x").is_ok();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir_all(&probe).unwrap();
    ignored
}

const RO_DIR_ENV: &str = "STRATAVEC_RO_DIR";

/// The read-only scenario; run directly, or by a child as an unprivileged user when the test
/// runs as root (root ignores permissions).
fn read_only_scenario(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let col_dir = dir.join("col");
    build(&col_dir);
    let mode = |m| fs::Permissions::from_mode(m);
    fs::set_permissions(&col_dir, mode(0o555)).unwrap();

    // Readers need no write access.
    let ro = Collection::open_read_only(&col_dir).unwrap();
    assert_eq!(ro.len(), 24); // the flushed rows only
    drop(ro);
    // A writer opens (its files exist and are writable) and takes appends, but cannot create
    // files: a flush fails with the path, the log keeps every write.
    let col = Collection::open(&col_dir, options()).unwrap();
    check_all(&col);
    col.upsert(30, &v(30)).unwrap();
    match col.flush() {
        Err(Error::Io { source, path }) => {
            assert_eq!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied,
                "{}",
                path.display()
            );
        }
        other => panic!("flush into a read-only directory: {other:?}"),
    }
    assert!(col.compact().is_err());
    assert_eq!(col.get(30).unwrap(), v(30));
    drop(col);
    // Read-only files too: the writer cannot open, with a clear error; readers still can.
    for f in fs::read_dir(&col_dir).unwrap() {
        fs::set_permissions(f.unwrap().path(), mode(0o444)).unwrap();
    }
    match Collection::open(&col_dir, options()) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied)
        }
        other => panic!("open of read-only files: {other:?}"),
    }
    assert_eq!(Collection::open_read_only(&col_dir).unwrap().len(), 24);
    // A new collection in a read-only directory.
    let empty = dir.join("empty");
    fs::create_dir(&empty).unwrap();
    fs::set_permissions(&empty, mode(0o555)).unwrap();
    assert!(matches!(
        Collection::open(&empty, options()),
        Err(Error::Io { .. })
    ));
    // The fault clears: everything is there, and it works.
    for f in fs::read_dir(&col_dir).unwrap() {
        fs::set_permissions(f.unwrap().path(), mode(0o644)).unwrap();
    }
    fs::set_permissions(&col_dir, mode(0o755)).unwrap();
    let col = Collection::open(&col_dir, options()).unwrap();
    assert_eq!(col.get(30).unwrap(), v(30));
    col.delete(30).unwrap();
    check_all(&col);
    col.flush().unwrap();
    col.compact().unwrap();
    check_all(&col);
}

#[test]
#[ignore = "run by a_read_only_directory_is_a_clear_error_and_loses_nothing as a child"]
fn read_only_child() {
    if let Ok(dir) = std::env::var(RO_DIR_ENV) {
        read_only_scenario(Path::new(&dir));
    }
}

#[test]
fn a_read_only_directory_is_a_clear_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    if !permissions_ignored(dir.path()) {
        read_only_scenario(dir.path());
        return;
    }
    // Root: run the scenario as `nobody` (uid/gid 65534) in a directory it owns.
    use std::os::unix::process::CommandExt;
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["read_only_child", "--exact", "--ignored", "--nocapture"])
        .env(RO_DIR_ENV, dir.path())
        .uid(65534)
        .gid(65534)
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
        }
        Ok(out) => panic!(
            "the read-only scenario failed as uid 65534:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!(
            "SKIPPED: running as root (permissions are not enforced) and the test binary could \
             not be re-run as uid 65534 to enforce them: {e}"
        ),
    }
}
