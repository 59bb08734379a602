//! The helpers over the real file system, and the same helpers on the simulated disk.

use super::*;
use crate::__sim::{Crash, Fault, SimDisk};

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn write_atomic_creates_and_replaces_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("MANIFEST");
    write_atomic(&RealFs, &path, b"first", DirSync::Now).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"first");
    write_atomic(&RealFs, &path, b"second, longer", DirSync::Now).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second, longer");
    write_atomic(&RealFs, &path, b"", DirSync::Caller).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"");
    assert_eq!(names(dir.path()), vec!["MANIFEST"]);
}

#[test]
fn write_atomic_into_a_missing_directory_is_an_io_error_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent").join("MANIFEST");
    match write_atomic(&RealFs, &path, b"x", DirSync::Now) {
        Err(ReplaceError {
            error: Error::Io { path: p, .. },
            uncertain: false,
        }) => assert!(p.starts_with(dir.path().join("absent"))),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn write_atomic_needs_a_file_name() {
    assert!(matches!(
        write_atomic(&RealFs, Path::new("/"), b"x", DirSync::Now),
        Err(ReplaceError {
            error: Error::InvalidParameter { name: "path", .. },
            ..
        })
    ));
}

#[test]
fn read_optional_distinguishes_absent_from_empty_and_names_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    assert_eq!(read_optional(&RealFs, &path).unwrap(), None);
    fs::write(&path, b"").unwrap();
    assert_eq!(read_optional(&RealFs, &path).unwrap(), Some(vec![]));
    match read_optional(&RealFs, dir.path()) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.kind(), io::ErrorKind::IsADirectory);
            assert!(source.to_string().contains("is a directory"), "{source}");
        }
        other => panic!("{other:?}"),
    }
    let e = map_file(dir.path()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
}

#[test]
fn sync_dir_and_parent_dir() {
    let dir = tempfile::tempdir().unwrap();
    sync_dir(&RealFs, dir.path()).unwrap();
    assert!(matches!(
        sync_dir(&RealFs, &dir.path().join("absent")),
        Err(Error::Io { .. })
    ));
    assert_eq!(parent_dir(Path::new("MANIFEST")), Path::new("."));
    assert_eq!(parent_dir(Path::new("a/b")), Path::new("a"));
}

#[test]
fn real_files_write_read_truncate_and_seek_through_the_trait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut f = RealFs.create_new(&path).unwrap();
    assert!(
        RealFs.create_new(&path).is_err(),
        "create_new must not replace"
    );
    f.write_at(0, b"hello").unwrap();
    f.write_at(7, b"!").unwrap();
    f.sync_data().unwrap();
    assert_eq!(f.len().unwrap(), 8);
    assert_eq!(fs::read(&path).unwrap(), b"hello\0\0!");
    f.set_len(5).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(f.read_at(1, &mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"ello");
    let mut cursor = FileCursor::new(RealFs.open_rw(&path).unwrap());
    cursor.seek(SeekFrom::End(0)).unwrap();
    cursor.write_all(b", world").unwrap();
    cursor.seek(SeekFrom::Start(0)).unwrap();
    cursor.write_all(b"H").unwrap();
    assert_eq!(cursor.stream_position().unwrap(), 1);
    assert!(cursor.seek(SeekFrom::Current(-2)).is_err());
    let mut all = String::new();
    FileReader::new(&*RealFs.open_rw(&path).unwrap())
        .read_to_string(&mut all)
        .unwrap();
    assert_eq!(all, "Hello, world");
    assert_eq!(RealFs.read(&path).unwrap(), b"Hello, world");
    assert_eq!(&(*RealFs.map(&path).unwrap()).as_ref()[..5], b"Hello");
    let mut listed = RealFs.list(dir.path()).unwrap();
    listed.sort();
    assert_eq!(listed, vec![OsString::from("f")]);
    RealFs.rename(&path, &dir.path().join("g")).unwrap();
    RealFs.remove(&dir.path().join("g")).unwrap();
    assert!(names(dir.path()).is_empty());
}

#[test]
fn remove_temp_files_removes_only_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "MANIFEST",
        "MANIFEST.tmp-0123456789abcdef",
        "wal.tmp-00000000000000ff",
        "seg.tmp-short",
        ".tmp-0123456789abcdef",
        "x.tmp-0123456789abcdeg",
    ] {
        fs::write(dir.path().join(name), b"").unwrap();
    }
    assert_eq!(remove_temp_files(&RealFs, dir.path()).unwrap(), 2);
    assert_eq!(
        names(dir.path()),
        vec![
            ".tmp-0123456789abcdef",
            "MANIFEST",
            "seg.tmp-short",
            "x.tmp-0123456789abcdeg"
        ]
    );
}

#[test]
fn plain_file_names() {
    for ok in ["seg-000000000000002a.svs", "MANIFEST", "a", "x_y.z-1"] {
        assert!(is_plain_file_name(ok), "{ok}");
    }
    let long = "a".repeat(MAX_FILE_NAME_LEN + 1);
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "a\\b",
        "/abs",
        ".hidden",
        "nul\0",
        "sp ace",
        "é",
        "c:x",
        "a..b",
        long.as_str(),
    ] {
        assert!(!is_plain_file_name(bad), "{bad:?}");
    }
}

/// The replacement's crash promise on the simulated disk, at every operation: the old content
/// or the new, never a mix, under the name; the new one for sure once it returned.
#[test]
fn write_atomic_leaves_the_old_or_the_new_file_at_every_cut() {
    let disk = SimDisk::new();
    let dir = Path::new("/c");
    disk.create_dir_all(dir).unwrap();
    let path = dir.join("MANIFEST");
    write_atomic(&disk, &path, &[1u8; 3000], DirSync::Now).unwrap();
    let done = disk.replay().len();
    write_atomic(&disk, &path, &[2u8; 5000], DirSync::Now).unwrap();
    let mut replay = disk.replay();
    let mut outcomes = std::collections::BTreeSet::new();
    while replay.step() {
        if replay.position() < done {
            continue;
        }
        for how in [Crash::SyncedOnly, Crash::Everything]
            .into_iter()
            .chain((0..replay.pending_dir_ops()).map(Crash::OneDirOp))
            .chain((0..40).map(Crash::Random))
        {
            let files = replay.crash(how).files(dir);
            let got = &files["MANIFEST"];
            assert!(
                got == &[1u8; 3000][..] || got == &[2u8; 5000][..],
                "a mix of {} bytes after op {}",
                got.len(),
                replay.position()
            );
            outcomes.insert(got[0]);
        }
    }
    assert_eq!(outcomes.len(), 2, "both outcomes reached");
    for how in [Crash::SyncedOnly, Crash::Random(7)] {
        let files = replay.crash(how).files(dir);
        assert_eq!(files["MANIFEST"], [2u8; 5000], "after it returned");
    }
}

#[test]
fn a_failed_replacement_says_whether_the_rename_was_reached() {
    let disk = SimDisk::new();
    let dir = Path::new("/c");
    disk.create_dir_all(dir).unwrap();
    let path = dir.join("f");
    write_atomic(&disk, &path, b"old", DirSync::Now).unwrap();
    // Operations of a replacement: create, write, sync, rename, directory sync.
    let start = disk.ops();
    for (step, uncertain) in [(0, false), (1, false), (2, false), (3, true), (4, true)] {
        let disk_ops = disk.ops();
        disk.fail_op(disk_ops + step, Fault::Io);
        let e = write_atomic(&disk, &path, b"new", DirSync::Now).unwrap_err();
        assert_eq!(e.uncertain, uncertain, "failure at step {step}");
        assert!(matches!(e.error, Error::Io { .. }));
        disk.clear_faults();
        let files = disk.files(dir);
        if !uncertain {
            assert_eq!(
                files.keys().collect::<Vec<_>>(),
                ["f"],
                "temporary file left"
            );
            assert_eq!(files["f"], b"old");
        }
    }
    assert!(disk.ops() > start);
}
