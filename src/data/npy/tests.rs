//! `.npy` round trips against files NumPy wrote, and every kind of malformed file.

use super::*;
use std::fs;

/// An npy file as NumPy would write it, from its parts.
fn npy_bytes(version: (u8, u8), header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    v.extend([version.0, version.1]);
    if version.0 == 1 {
        v.extend((header.len() as u16).to_le_bytes());
    } else {
        v.extend((header.len() as u32).to_le_bytes());
    }
    v.extend(header.as_bytes());
    v.extend(data);
    v
}

fn f32_bytes(vals: &[f32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn expect_malformed<T: std::fmt::Debug>(r: Result<T>, needle: &str) {
    match r {
        Err(Error::MalformedFile { format, reason, .. }) => {
            assert_eq!(format, "npy");
            assert!(
                reason.contains(needle),
                "reason {reason:?} does not mention {needle:?}"
            );
        }
        other => panic!("expected MalformedFile, got {other:?}"),
    }
}

#[test]
fn round_trip_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let m = Matrix::from_vec(3, (0..12).map(|i| i as f32 * 1.5 - 2.0).collect()).unwrap();
    write_npy_f32(&p, &m).unwrap();
    let bytes = fs::read(&p).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hl = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + hl) % 64, 0);
    assert_eq!(bytes[10 + hl - 1], b'\n');
    assert!(std::str::from_utf8(&bytes[10..10 + hl])
        .unwrap()
        .starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }"));
    assert_eq!(bytes.len(), 10 + hl + 12 * 4);
    assert_eq!(read_npy_f32(&p).unwrap(), m);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn empty_matrix_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let m = Matrix::<f32>::from_vec(7, vec![]).unwrap();
    write_npy_f32(&p, &m).unwrap();
    assert_eq!(read_npy_f32(&p).unwrap(), m);
}

#[test]
fn reads_numpy_style_headers_of_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let vals = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let expected = Matrix::from_vec(3, vals.to_vec()).unwrap();
    for (version, header) in [
        // What numpy 2.x writes (with the growth padding), v1.0.
        (
            (1, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                     \n",
        ),
        (
            (2, 0),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n",
        ),
        (
            (3, 0),
            "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}",
        ),
        // Odd white space, no trailing comma, Python 2 longs, a list shape, extra keys.
        (
            (1, 0),
            "{ 'shape' : [ 2L , 3L ] ,\n'descr':'<f4','fortran_order' :False, 'x': None,}",
        ),
    ] {
        fs::write(&p, npy_bytes(version, header, &f32_bytes(&vals))).unwrap();
        assert_eq!(read_npy_f32(&p).unwrap(), expected, "header {header:?}");
    }
}

#[test]
fn one_dimensional_is_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n";
    fs::write(
        &p,
        npy_bytes((1, 0), header, &f32_bytes(&[1.0, 2.0, 3.0, 4.0])),
    )
    .unwrap();
    let m = read_npy_f32(&p).unwrap();
    assert_eq!((m.len(), m.dim()), (1, 4));
}

#[test]
fn float64_and_big_endian_are_converted() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let vals = [0.5f64, -1.25, 3.0, 1e10];
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }\n";
    fs::write(&p, npy_bytes((1, 0), header, &data)).unwrap();
    let m = read_npy_f32(&p).unwrap();
    assert_eq!(m.as_slice(), &[0.5f32, -1.25, 3.0, 1e10]);

    let data: Vec<u8> = [1.5f32, 2.5].iter().flat_map(|v| v.to_be_bytes()).collect();
    let header = "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }\n";
    fs::write(&p, npy_bytes((1, 0), header, &data)).unwrap();
    assert_eq!(read_npy_f32(&p).unwrap().as_slice(), &[1.5f32, 2.5]);
}

#[test]
fn malformed_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n";
    let four = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "bad magic"),
        (b"\x93NUMPZ\x01\x00\x00\x00".to_vec(), "bad magic"),
        (b"PK\x03\x04 a zip file".to_vec(), "bad magic"),
        (
            npy_bytes((4, 0), good, &four),
            "unsupported format version 4.0",
        ),
        (
            npy_bytes((1, 1), good, &four),
            "unsupported format version 1.1",
        ),
        (
            b"\x93NUMPY\x01\x00\x40".to_vec(),
            "ends inside the header length",
        ),
        (
            b"\x93NUMPY\x01\x00\x40\x00{'descr'".to_vec(),
            "ends inside the",
        ),
        (
            b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec(),
            "above the limit",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }",
                &four,
            ),
            "unsupported dtype \"<i8\"",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }",
                &four,
            ),
            "unsupported dtype \"<f2\"",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                &four,
            ),
            "structured",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                &four,
            ),
            "Fortran",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }",
                &four,
            ),
            "the data is 16 bytes, but shape (2, 1) of '<f4' needs 8",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                &four,
            ),
            "the data is 16 bytes, but shape (3, 2) of '<f4' needs 24",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                &four,
            ),
            "absurd",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 2), }",
                &four,
            ),
            "absurd",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 1), }",
                &four,
            ),
            "3 dimensions",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                &four,
            ),
            "0 dimensions",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0), }",
                &four,
            ),
            "zero columns",
        ),
        (
            npy_bytes(
                (1, 0),
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2), }",
                &four,
            ),
            "non-negative integers",
        ),
        (
            npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': False}", &four),
            "no 'shape' key",
        ),
        (
            npy_bytes((1, 0), "{'descr': '<f4', 'shape': (2, 2)}", &four),
            "no 'fortran_order' key",
        ),
        (
            npy_bytes((1, 0), "{'descr': '<f4', 'shape': (2, 2)", &four),
            "expected",
        ),
        (
            npy_bytes((1, 0), "{'descr': '<f4, 'shape': (2, 2)}", &four),
            "expected",
        ),
        (npy_bytes((1, 0), "[1, 2]", &four), "not a dict"),
        (npy_bytes((1, 0), "{'a': 1} x", &four), "after the dict"),
        (
            npy_bytes((1, 0), &"(".repeat(1000), &four),
            "nested more than",
        ),
        (
            npy_bytes((1, 0), "{'descr': '<f4', 'fortran_order': Maybe}", &four),
            "Maybe",
        ),
    ];
    for (bytes, needle) in cases {
        fs::write(&p, &bytes).unwrap();
        expect_malformed(read_npy_f32(&p), needle);
    }
}

#[test]
fn fortran_order_with_one_row_or_column_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 1), }";
    fs::write(
        &p,
        npy_bytes((1, 0), header, &f32_bytes(&[1.0, 2.0, 3.0, 4.0])),
    )
    .unwrap();
    assert_eq!(
        read_npy_f32(&p).unwrap().as_slice(),
        &[1.0f32, 2.0, 3.0, 4.0]
    );
}
