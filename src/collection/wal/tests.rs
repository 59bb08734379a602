use super::*;
use std::fs;

const DIM: usize = 3;

fn upsert(ids: &[u64]) -> WalRecord {
    WalRecord::Upsert {
        ids: ids.to_vec(),
        vectors: ids
            .iter()
            .flat_map(|&id| (0..DIM).map(move |j| id as f32 + j as f32 * 0.25))
            .collect(),
        payloads: None,
    }
}

fn delete(ids: &[u64]) -> WalRecord {
    WalRecord::Delete { ids: ids.to_vec() }
}

fn five_records() -> Vec<WalRecord> {
    vec![
        upsert(&[1, 2]),
        delete(&[2]),
        upsert(&[3]),
        upsert(&[]),
        delete(&[1, 3, u64::MAX]),
    ]
}

/// Writes `records` to a new log at `path`; returns the file length after each append.
fn write_log(path: &Path, records: &[WalRecord]) -> Vec<u64> {
    let (mut wal, replayed) = Wal::open(path, DIM, Durability::Buffered).unwrap();
    assert!(replayed.is_empty());
    let mut ends = Vec::new();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(wal.append(r).unwrap(), FIRST_LSN + i as u64);
        ends.push(wal.len_bytes());
    }
    wal.sync().unwrap();
    assert_eq!(fs::metadata(path).unwrap().len(), wal.len_bytes());
    ends
}

fn numbered(records: &[WalRecord], first: u64) -> Vec<(u64, WalRecord)> {
    records
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, r)| (first + i as u64, r))
        .collect()
}

#[test]
fn new_log_has_a_durable_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (wal, records) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert!(records.is_empty());
    assert!(wal.is_empty());
    assert_eq!(wal.next_lsn(), FIRST_LSN);
    assert_eq!(wal.base_lsn(), FIRST_LSN);
    assert_eq!(wal.last_lsn(), 0);
    assert_eq!(wal.dim(), DIM);
    assert_eq!(wal.path(), path);
    assert_eq!(wal.durability(), Durability::Sync);
    assert_eq!(fs::read(&path).unwrap(), encode_header(DIM, FIRST_LSN, 1));
    assert_eq!(Durability::default(), Durability::Sync);
}

#[test]
fn mixed_records_round_trip_with_both_durabilities() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let records = five_records();
    {
        let (mut wal, _) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        for r in &records[..2] {
            wal.append(r).unwrap();
        }
        wal.set_durability(Durability::Buffered);
        for r in &records[2..] {
            wal.append(r).unwrap();
        }
        wal.sync().unwrap();
    }
    let (wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert_eq!(replayed, numbered(&records, FIRST_LSN));
    assert_eq!(wal.next_lsn(), FIRST_LSN + 5);
    assert_eq!(wal.cut_bytes(), 0);
    assert_eq!(Wal::read_records(&path, DIM).unwrap(), replayed);
}

#[test]
fn special_floats_and_large_ids_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let vectors = vec![f32::NAN, -0.0, f32::INFINITY, f32::MIN_POSITIVE, -1e30, 7.5];
    {
        let (mut wal, _) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        wal.append_upsert(&[u64::MAX, 0], &vectors).unwrap();
    }
    let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    let [(
        1,
        WalRecord::Upsert {
            ids, vectors: got, ..
        },
    )] = replayed.as_slice()
    else {
        panic!("{replayed:?}")
    };
    assert_eq!(ids, &[u64::MAX, 0]);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(got), bits(&vectors));
}

#[test]
fn inconsistent_upserts_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (mut wal, _) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert!(matches!(
        wal.append_upsert(&[1, 2], &[0.0; 5]),
        Err(Error::InvalidParameter {
            name: "vectors",
            ..
        })
    ));
    assert!(wal.is_empty());
    assert_eq!(wal.append(&delete(&[9])).unwrap(), FIRST_LSN);
    drop(wal);
    let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert_eq!(replayed, vec![(FIRST_LSN, delete(&[9]))]);
}

#[test]
fn truncation_at_every_offset_keeps_exactly_the_complete_frames() {
    let dir = tempfile::tempdir().unwrap();
    let full_path = dir.path().join("full");
    let records = five_records();
    let ends = write_log(&full_path, &records);
    let full = fs::read(&full_path).unwrap();
    assert_eq!(*ends.last().unwrap(), full.len() as u64);

    let path = dir.path().join("wal");
    for cut in 0..=full.len() {
        fs::write(&path, &full[..cut]).unwrap();
        if cut < WAL_HEADER_LEN {
            assert!(
                matches!(
                    Wal::open(&path, DIM, Durability::Buffered),
                    Err(Error::Corrupt { .. })
                ),
                "cut {cut}"
            );
            continue;
        }
        let complete = ends.iter().filter(|&&e| e <= cut as u64).count();
        let good_end = if complete == 0 {
            WAL_HEADER_LEN as u64
        } else {
            ends[complete - 1]
        };
        assert_eq!(
            Wal::read_records(&path, DIM).unwrap(),
            numbered(&records[..complete], FIRST_LSN),
            "read-only, cut {cut}"
        );
        let (mut wal, replayed) = Wal::open(&path, DIM, Durability::Buffered).unwrap();
        assert_eq!(
            replayed,
            numbered(&records[..complete], FIRST_LSN),
            "cut {cut}"
        );
        assert_eq!(wal.cut_bytes(), cut as u64 - good_end, "cut {cut}");
        assert_eq!(fs::metadata(&path).unwrap().len(), good_end, "cut {cut}");
        let extra = upsert(&[100 + cut as u64]);
        let lsn = wal.append(&extra).unwrap();
        assert_eq!(lsn, FIRST_LSN + complete as u64);
        drop(wal);
        let (_, replayed) = Wal::open(&path, DIM, Durability::Buffered).unwrap();
        let mut expected = numbered(&records[..complete], FIRST_LSN);
        expected.push((lsn, extra));
        assert_eq!(replayed, expected, "append after cut {cut}");
    }
}

#[test]
fn a_flipped_byte_in_a_frame_cuts_the_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let full_path = dir.path().join("full");
    let records = five_records();
    let ends = write_log(&full_path, &records);
    let full = fs::read(&full_path).unwrap();

    let path = dir.path().join("wal");
    for at in WAL_HEADER_LEN..full.len() {
        let mut bytes = full.clone();
        bytes[at] ^= 0x20;
        fs::write(&path, &bytes).unwrap();
        // The frame holding byte `at` and everything after it are dropped.
        let frame = ends.iter().filter(|&&e| e <= at as u64).count();
        let good_end = if frame == 0 {
            WAL_HEADER_LEN as u64
        } else {
            ends[frame - 1]
        };
        let (mut wal, replayed) = Wal::open(&path, DIM, Durability::Buffered).unwrap();
        assert_eq!(
            replayed,
            numbered(&records[..frame], FIRST_LSN),
            "flip {at}"
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), good_end, "flip {at}");
        assert_eq!(wal.append(&delete(&[7])).unwrap(), FIRST_LSN + frame as u64);
    }
}

#[test]
fn a_flipped_header_byte_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    write_log(&path, &five_records());
    let full = fs::read(&path).unwrap();
    for at in 0..WAL_HEADER_LEN {
        let mut bytes = full.clone();
        bytes[at] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        // The version field too: the checksum comes first, so a flipped version is
        // corruption, not a file from another release.
        let result = Wal::open(&path, DIM, Durability::Buffered);
        assert!(matches!(result, Err(Error::Corrupt { .. })), "flip {at}");
        // A failed open leaves the file as it was.
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn bad_magic_future_version_and_wrong_dim_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    write_log(&path, &five_records());
    let good = fs::read(&path).unwrap();

    let mut bytes = good.clone();
    bytes[..8].copy_from_slice(b"SVMAN\0\0\x01");
    fs::write(&path, &bytes).unwrap();
    match Wal::open(&path, DIM, Durability::Sync) {
        Err(Error::Corrupt { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(reason.contains("magic"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    let mut bytes = good.clone();
    bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
    let crc = checksum(&bytes[..WAL_HEADER_LEN - 4]);
    bytes[WAL_HEADER_LEN - 4..WAL_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        Wal::open(&path, DIM, Durability::Sync),
        Err(Error::UnsupportedVersion {
            found: 3,
            supported: WAL_VERSION,
            ..
        })
    ));

    fs::write(&path, &good).unwrap();
    match Wal::open(&path, DIM + 1, Durability::Sync) {
        Err(Error::Corrupt { reason, .. }) => {
            assert!(reason.contains("dimension 3"), "{reason}");
            assert!(reason.contains("dimension 4"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Wal::read_records(&path, DIM + 1),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        Wal::open(&path, 0, Durability::Sync),
        Err(Error::InvalidParameter { name: "dim", .. })
    ));
    assert_eq!(
        fs::read(&path).unwrap(),
        good,
        "refusals leave the file alone"
    );
    assert!(matches!(
        Wal::read_records(&dir.path().join("absent"), DIM),
        Err(Error::Io { .. })
    ));
}

#[test]
fn a_frame_whose_counts_disagree_with_its_length_ends_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    write_log(&path, &[delete(&[1])]);
    let mut bytes = fs::read(&path).unwrap();
    // Well-checksummed frames that are still wrong: a delete claiming 2 ids but holding 1, an
    // unknown kind, an upsert short of its vector; then (below) a 4 GiB payload length.
    for payload in [
        {
            let mut w = ByteWriter::new();
            w.u8(KIND_DELETE).u64(2).u32(2).u64(5);
            w.buf
        },
        {
            let mut w = ByteWriter::new();
            w.u8(9).u64(2).u32(0);
            w.buf
        },
        {
            let mut w = ByteWriter::new();
            w.u8(KIND_UPSERT).u64(2).u32(1).u64(5).f32(1.0);
            w.buf
        },
    ] {
        let mut tail = ByteWriter::new();
        tail.u32(payload.len() as u32).u32(checksum(&payload));
        tail.buf.extend_from_slice(&payload);
        let mut b = bytes.clone();
        b.extend_from_slice(&tail.buf);
        fs::write(&path, &b).unwrap();
        let (wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
        assert_eq!(replayed, vec![(1, delete(&[1]))]);
        assert_eq!(wal.cut_bytes(), tail.buf.len() as u64);
    }
    let mut huge = ByteWriter::new();
    huge.u32(u32::MAX).u32(0);
    bytes.extend_from_slice(&huge.buf);
    bytes.extend_from_slice(&[0; 64]);
    fs::write(&path, &bytes).unwrap();
    let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert_eq!(replayed, vec![(1, delete(&[1]))]);
}

#[test]
fn a_non_increasing_lsn_ends_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let ends = write_log(&path, &[delete(&[1]), delete(&[2])]);
    let mut bytes = fs::read(&path).unwrap();
    // Duplicate the first frame after the second: its lsn (1) is not above 2.
    let first = bytes[WAL_HEADER_LEN..ends[0] as usize].to_vec();
    bytes.extend_from_slice(&first);
    fs::write(&path, &bytes).unwrap();
    let (wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert_eq!(replayed, vec![(1, delete(&[1])), (2, delete(&[2]))]);
    assert_eq!(wal.next_lsn(), 3);
    assert_eq!(wal.len_bytes(), ends[1]);
}

#[test]
fn lsns_continue_across_reset_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (mut wal, _) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    for r in five_records() {
        wal.append(&r).unwrap();
    }
    assert_eq!(wal.next_lsn(), 6);
    assert!(matches!(
        wal.reset(5),
        Err(Error::InvalidParameter {
            name: "next_lsn",
            ..
        })
    ));
    wal.reset(wal.next_lsn()).unwrap();
    assert!(wal.is_empty());
    assert_eq!(wal.base_lsn(), 6);
    assert_eq!(wal.last_lsn(), 5);
    assert_eq!(fs::metadata(&path).unwrap().len(), WAL_HEADER_LEN as u64);
    assert_eq!(wal.append(&delete(&[1])).unwrap(), 6);
    drop(wal);

    let (mut wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert_eq!(replayed, vec![(6, delete(&[1]))]);
    assert_eq!(wal.next_lsn(), 7);
    // Reset straight to a later lsn, then reopen the empty log: the base lsn survives.
    wal.reset(100).unwrap();
    drop(wal);
    let (mut wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert!(replayed.is_empty());
    assert_eq!(wal.next_lsn(), 100);
    assert_eq!(wal.append(&upsert(&[4])).unwrap(), 100);
    drop(wal);
    let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert_eq!(replayed, vec![(100, upsert(&[4]))]);
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_frame_below_the_base_lsn_is_not_replayed() {
    // A header saying base 10 followed by a frame with lsn 3 (cannot be written by `Wal`,
    // but a hostile or mixed-up file might hold it).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let mut bytes = encode_header(DIM, 10, 1);
    let mut w = ByteWriter::new();
    w.u8(KIND_DELETE).u64(3).u32(0);
    let mut frame = ByteWriter::new();
    frame.u32(w.buf.len() as u32).u32(checksum(&w.buf));
    bytes.extend_from_slice(&frame.buf);
    bytes.extend_from_slice(&w.buf);
    fs::write(&path, &bytes).unwrap();
    let (wal, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert!(replayed.is_empty());
    assert_eq!(wal.next_lsn(), 10);
}

#[test]
fn golden_v1_file_still_opens() {
    let golden: &[u8] = include_bytes!("../../../tests/golden/wal-v1.bin");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    fs::write(&path, golden).unwrap();
    let (_, replayed) = Wal::open(&path, DIM, Durability::Sync).unwrap();
    assert_eq!(replayed, numbered(&five_records(), FIRST_LSN));
    // And this build writes the same bytes.
    let fresh = dir.path().join("fresh");
    write_log(&fresh, &five_records());
    assert_eq!(fs::read(&fresh).unwrap(), golden);
}
