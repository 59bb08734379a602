use super::*;

fn dir() -> PathBuf {
    PathBuf::from("/d")
}

#[test]
fn unsynced_data_and_names_are_lost_and_synced_ones_kept() {
    let disk = SimDisk::new();
    disk.create_dir_all(&dir()).unwrap();
    let a = dir().join("a");
    let mut f = disk.create_new(&a).unwrap();
    f.write_at(0, b"hello").unwrap();
    f.sync_data().unwrap();
    // Data synced, name not: a cut loses the file.
    assert!(disk.crash(Crash::SyncedOnly).files(&dir()).is_empty());
    assert_eq!(disk.crash(Crash::Everything).files(&dir())["a"], b"hello");
    disk.sync_dir(&dir()).unwrap();
    f.write_at(5, b" world").unwrap();
    let cut = disk.crash(Crash::SyncedOnly).files(&dir());
    assert_eq!(cut["a"], b"hello");
    assert_eq!(disk.files(&dir())["a"], b"hello world");
    // A rename without a directory sync may or may not survive; one pending op at a time.
    disk.rename(&a, &dir().join("b")).unwrap();
    assert_eq!(
        disk.crash(Crash::SyncedOnly)
            .files(&dir())
            .keys()
            .collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(
        disk.crash(Crash::OneDirOp(0))
            .files(&dir())
            .keys()
            .collect::<Vec<_>>(),
        ["b"]
    );
}

#[test]
fn random_cuts_tear_writes_at_sector_boundaries_and_keep_synced_bytes() {
    let disk = SimDisk::new();
    disk.create_dir_all(&dir()).unwrap();
    let mut f = disk.create_new(&dir().join("f")).unwrap();
    f.write_at(0, &[1u8; 1000]).unwrap();
    f.sync_data().unwrap();
    disk.sync_dir(&dir()).unwrap();
    f.write_at(1000, &[2u8; 9000]).unwrap();
    let mut seen = HashSet::new();
    for seed in 0..400 {
        let files = disk.crash(Crash::Random(seed)).files(&dir());
        let content = &files["f"];
        assert!(content.len() >= 1000);
        assert!(
            content[..1000].iter().all(|&b| b == 1),
            "synced bytes changed"
        );
        // Every byte after the synced ones is new data or zeros, and changes only at
        // sector boundaries.
        for (i, w) in content[1000..].windows(2).enumerate() {
            let at = 1000 + i + 1;
            if w[0] != w[1] {
                assert!(at % 512 == 0 || at == 1000, "torn inside a sector at {at}");
            }
        }
        seen.insert(content.clone());
    }
    assert!(seen.len() > 20, "only {} distinct outcomes", seen.len());
}

#[test]
fn replay_rebuilds_every_prefix_and_can_skip_a_sync() {
    let disk = SimDisk::new();
    disk.create_dir_all(&dir()).unwrap();
    let mut f = disk.create_new(&dir().join("f")).unwrap();
    f.write_at(0, b"abc").unwrap();
    f.sync_data().unwrap();
    disk.sync_dir(&dir()).unwrap();
    let mut r = disk.replay();
    assert_eq!(r.syncs().len(), 2);
    while r.step() {}
    assert_eq!(r.crash(Crash::SyncedOnly).files(&dir())["f"], b"abc");
    let mut r = disk.replay();
    r.skip_sync(1);
    while r.step() {}
    assert!(r.crash(Crash::SyncedOnly).files(&dir()).is_empty());
    let mut r = disk.replay();
    r.skip_sync(0);
    while r.step() {}
    assert_eq!(r.crash(Crash::SyncedOnly).files(&dir())["f"], b"");
}

#[test]
fn faults_fail_the_chosen_operations_and_a_failed_sync_loses_the_writes() {
    let disk = SimDisk::new();
    disk.create_dir_all(&dir()).unwrap();
    let mut f = disk.create_new(&dir().join("f")).unwrap();
    disk.sync_dir(&dir()).unwrap();
    f.write_at(0, b"abc").unwrap();
    disk.fail_op(disk.ops(), Fault::Io);
    assert!(f.sync_data().is_err());
    // The next sync succeeds, but the writes the failed one dropped stay lost.
    f.sync_data().unwrap();
    assert_eq!(disk.files(&dir())["f"], b"abc");
    assert_eq!(disk.crash(Crash::SyncedOnly).files(&dir())["f"], b"");
    disk.fill_from(disk.ops());
    let e = f.write_at(3, b"d").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::StorageFull);
    assert!(
        disk.read(&dir().join("f")).is_ok(),
        "reads work on a full disk"
    );
    disk.clear_faults();
    f.write_at(3, b"d").unwrap();
}

#[test]
fn locks_exclude_until_dropped() {
    let disk = SimDisk::new();
    disk.create_dir_all(&dir()).unwrap();
    let lock = disk.lock(&dir().join("LOCK")).unwrap();
    assert!(lock.is_some());
    assert!(disk.lock(&dir().join("LOCK")).unwrap().is_none());
    drop(lock);
    assert!(disk.lock(&dir().join("LOCK")).unwrap().is_some());
}
