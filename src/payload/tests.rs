use super::section::{self, SegmentFields};
use super::*;
use crate::base::bytes::ByteReader;
use codec::{decode_payload, encode_payload};
use std::path::Path;

/// Deterministic rows with every type, some missing fields, some repeated values.
fn rows(n: usize) -> Vec<Option<Payload>> {
    (0..n)
        .map(|i| {
            if i % 11 == 3 {
                return None;
            }
            let mut p = Payload::new()
                .with("tenant", (i % 7) as i64 - 2)
                .with("lang", ["en", "de", "fr", "ja"][i % 4])
                .with("price", (i % 13) as f64 * 0.5 - 1.0)
                .with("date", Value::Timestamp((i as i64 % 17) * 86_400_000_000));
            if i % 3 == 0 {
                p.insert("tags", Value::from(&["a", "b"][..(i % 2) + 1]));
                p.insert("flag", i % 2 == 0);
            }
            if i % 5 == 0 {
                p.insert("doc", Value::Bytes(vec![i as u8; i % 9]));
            }
            if i % 19 == 0 {
                p.insert("price", -0.0);
            }
            Some(p)
        })
        .collect()
}

fn schema_of(rows: &[Option<Payload>]) -> Schema {
    Schema::new()
        .extended(rows.iter().flatten())
        .unwrap()
        .unwrap_or_default()
}

fn filters() -> Vec<Filter> {
    let ts = |d: i64| Value::Timestamp(d * 86_400_000_000);
    vec![
        Filter::eq("tenant", 3),
        Filter::eq("lang", "de"),
        Filter::eq("tags", "b"),
        Filter::eq("flag", true),
        Filter::eq("flag", false),
        Filter::eq("price", 0.0),
        Filter::eq("price", 2),
        Filter::is_in("tenant", [-2, 0, 4]),
        Filter::is_in("lang", ["en", "ja", "xx"]),
        Filter::is_in("tags", ["a", "zz"]),
        Filter::lt("tenant", 0),
        Filter::lte("tenant", 0),
        Filter::gt("price", 1.5),
        Filter::gte("price", -1.0),
        Filter::lt("price", -1e300),
        Filter::gt("tenant", i64::MAX),
        Filter::lt("tenant", i64::MIN),
        Filter::between("date", ts(3), ts(9)),
        Filter::exists("doc"),
        Filter::exists("tags"),
        !Filter::eq("lang", "en"),
        Filter::eq("tenant", 1) | Filter::exists("doc"),
        Filter::all([]),
        Filter::any([]),
        (Filter::eq("lang", "fr") & Filter::gte("date", ts(5))) | !Filter::exists("flag"),
        Filter::parse("tenant != 2 and (price < 0 or tags in [\"a\"])").unwrap(),
    ]
}

#[test]
fn both_indexes_match_the_model_for_every_filter() {
    let rows = rows(700);
    let schema = schema_of(&rows);
    let mut live = LivePayloads::default();
    live.set_schema(schema.clone());
    for (i, p) in rows.iter().enumerate() {
        if let Some(p) = p {
            live.push(i as u32, p);
        }
    }
    let built = section::build(&schema, rows.len(), |r| rows[r as usize].clone());
    let meta = section::check(&built.rows, &built.index, rows.len()).unwrap();
    assert_eq!(meta.schema(), schema);
    let seg = SegmentFields {
        meta: &meta,
        rows_section: &built.rows,
        index: &built.index,
        path: Path::new("test"),
    };
    section::verify(&seg).unwrap();
    for f in filters() {
        f.check(&schema).unwrap();
        let want: Vec<u32> = (0..rows.len() as u32)
            .filter(|&i| f.matches(rows[i as usize].as_ref().unwrap_or(&Payload::new())))
            .collect();
        for (name, src) in [("live", &live as &dyn FieldSource), ("segment", &seg)] {
            let got: Vec<u32> = evaluate(&f, src, rows.len(), true)
                .unwrap()
                .ones()
                .collect();
            assert_eq!(got, want, "{name}: {f}");
        }
    }
    for (i, p) in rows.iter().enumerate() {
        let want = p.clone().unwrap_or_default();
        assert_eq!(live.payload(i as u32), want);
        assert_eq!(seg.payload(i as u32).unwrap(), want);
    }
}

#[test]
fn every_flipped_or_cut_byte_of_the_sections_is_refused_or_harmless() {
    // Without opaque bytes: only the segment's section checksum covers their contents.
    let rows: Vec<Option<Payload>> = rows(90)
        .into_iter()
        .map(|p| {
            p.map(|mut p| {
                p.remove("doc");
                p
            })
        })
        .collect();
    let schema = schema_of(&rows);
    let built = section::build(&schema, rows.len(), |r| rows[r as usize].clone());
    // Whether the damaged sections pass `verify` with the same fields (a flipped letter of a
    // field name renames the field consistently: only the section checksum sees that).
    let probe = |rows_section: &[u8], index: &[u8]| -> bool {
        let Ok(meta) = section::check(rows_section, index, rows.len()) else {
            return false;
        };
        if meta.schema() != schema {
            return false;
        }
        let seg = SegmentFields {
            meta: &meta,
            rows_section,
            index,
            path: Path::new("t"),
        };
        // Whatever the damage, reads give errors, never panics.
        for f in filters() {
            let _ = evaluate(&f, &seg, rows.len(), false);
        }
        for r in 0..rows.len() as u32 {
            let _ = seg.payload(r);
        }
        section::verify(&seg).is_ok()
    };
    assert!(probe(&built.rows, &built.index));
    for which in 0..2 {
        let original = if which == 0 {
            &built.rows
        } else {
            &built.index
        };
        for at in 0..original.len() {
            let mut bad = original.clone();
            bad[at] ^= 0x41;
            let ok = if which == 0 {
                probe(&bad, &built.index)
            } else {
                probe(&built.rows, &bad)
            };
            assert!(!ok, "section {which}: a flip at {at} passed verify");
        }
        for cut in (0..original.len()).step_by(7) {
            let ok = if which == 0 {
                probe(&original[..cut], &built.index)
            } else {
                probe(&built.rows, &original[..cut])
            };
            assert!(!ok, "section {which}: a cut at {cut} passed verify");
        }
    }
}

/// Found by the fuzz target `payload` (see also `tests/fuzz_regressions.rs`): a middle row
/// offset near `u64::MAX` overflowed `base + offset`. With wrapping arithmetic (release builds)
/// the two offsets chosen here land on bytes `0..8` of the section, which the reader then
/// decoded as a row; every row touching a bad offset must be refused as such instead.
#[test]
fn row_offsets_near_u64_max_are_bad_offsets_not_wrapped() {
    let rows = rows(6);
    let schema = schema_of(&rows);
    let built = section::build(&schema, rows.len(), |r| rows[r as usize].clone());
    let base = 8 * (rows.len() as u64 + 2);
    let mut bad = built.rows.clone();
    let set = |bytes: &mut Vec<u8>, i: usize, v: u64| {
        bytes[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
    };
    // Row 2 spans offsets 2..3; wrapped, base + a = 0 and base + b = 8.
    set(&mut bad, 2, 0u64.wrapping_sub(base));
    set(&mut bad, 3, 8u64.wrapping_sub(base));
    let meta = section::check(&bad, &built.index, rows.len()).unwrap();
    let seg = SegmentFields {
        meta: &meta,
        rows_section: &bad,
        index: &built.index,
        path: Path::new("t"),
    };
    for r in 0..rows.len() as u32 {
        match seg.payload(r) {
            Err(Error::Corrupt { reason, .. }) if (1..=3).contains(&r) => {
                assert_eq!(reason, format!("payload row {r} has bad offsets"));
            }
            Ok(p) if !(1..=3).contains(&r) => {
                assert_eq!(p, rows[r as usize].clone().unwrap_or_default());
            }
            other => panic!("row {r}: {other:?}"),
        }
    }
    assert!(section::verify(&seg).is_err());
}

#[test]
fn payloads_round_trip_and_bad_ones_name_their_field() {
    for p in rows(60).into_iter().flatten() {
        p.check().unwrap();
        let mut buf = Vec::new();
        encode_payload(&mut buf, &p);
        assert_eq!(buf.len(), codec::encoded_len(&p));
        let back = decode_payload(&mut ByteReader::new(&buf)).unwrap();
        assert_eq!(back, p);
        for cut in 0..buf.len() {
            let mut r = ByteReader::new(&buf[..cut]);
            assert!(decode_payload(&mut r).is_none() || cut == buf.len());
        }
    }
    let named = |p: Payload, field: &str| match p.check() {
        Err(Error::InvalidPayload { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{other:?}"),
    };
    named(Payload::new().with("x", f64::NAN), "x");
    named(Payload::new().with("x y", 1), "x y");
    named(Payload::new().with("9a", 1), "9a");
    named(Payload::new().with("in", 1), "in");
    named(Payload::new().with("k", "é".repeat(600)), "k");
    named(
        Payload::new().with("big", Value::Bytes(vec![0; MAX_PAYLOAD_BYTES])),
        "big",
    );
    let many: Payload = (0..=MAX_FIELDS).map(|i| (format!("f{i}"), 1)).collect();
    assert!(many.check().is_err());
    let schema = Schema::new().declare("n", FieldType::Int).unwrap();
    match schema.extended([&Payload::new().with("n", 1.5)]) {
        Err(Error::FieldTypeMismatch {
            field,
            expected,
            got,
        }) => assert_eq!((field.as_str(), expected, got), ("n", "int", "float")),
        other => panic!("{other:?}"),
    }
    // Within one batch, the first value fixes a new field's type.
    assert!(Schema::new()
        .extended([&Payload::new().with("a", 1), &Payload::new().with("a", "x")])
        .is_err());
}

#[test]
fn filter_text_round_trips_and_errors_are_clear() {
    for f in filters() {
        let text = f.to_string();
        let back = Filter::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(back.to_string(), text);
    }
    let f = Filter::parse(
        r#"a = "q\"\\\n\u{1}é" or not (b >= -1.5e3 and c in [1, 2]) and d = @2026-03-04T05:06:07.5+01:00"#,
    )
    .unwrap();
    assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    for bad in [
        "",
        "a",
        "a =",
        "a = 1 and",
        "(a = 1",
        "a = 1)",
        "a ~ 1",
        "a = \"open",
        "a = @2026-13-01",
        "a = @2026-02-30",
        "a in [1",
        "1 = a",
        "a = 1e999",
        "exists(1)",
        "a ! 1",
    ] {
        match Filter::parse(bad) {
            Err(Error::InvalidFilter { .. }) => {}
            other => panic!("{bad:?} parsed as {other:?}"),
        }
    }
    let deep = format!("{}a = 1{}", "(".repeat(200), ")".repeat(200));
    assert!(Filter::parse(&deep).is_err());
    let wide = format!("a in [{}]", vec!["1"; MAX_FILTER_TERMS + 1].join(","));
    assert!(Filter::parse(&wide).is_err());
    let schema = Schema::new()
        .declare("n", FieldType::Int)
        .unwrap()
        .declare("k", FieldType::Keyword)
        .unwrap()
        .declare("b", FieldType::Bytes)
        .unwrap();
    for (f, field) in [
        (Filter::eq("zz", 1), "zz"),
        (Filter::eq("n", "x"), "n"),
        (Filter::gt("k", "x"), "k"),
        (Filter::eq("b", 1), "b"),
        (Filter::lt("n", 1.5), "n"),
    ] {
        let msg = f.check(&schema).unwrap_err().to_string();
        assert!(msg.contains(&format!("`{field}`")), "{msg}");
    }
    let nested = (0..40).fold(Filter::eq("n", 1), |f, _| !f);
    assert!(nested.check(&schema).is_err());
}

#[test]
fn timestamps_parse_and_print() {
    let t = |s: &str| parse::timestamp_micros(s);
    assert_eq!(t("1970-01-01"), Some(0));
    assert_eq!(t("1970-01-01T00:00:01Z"), Some(1_000_000));
    assert_eq!(t("1970-01-01T01:00:00+01:00"), Some(0));
    assert_eq!(t("1969-12-31T23:59:59.999999Z"), Some(-1));
    assert_eq!(
        t("2000-02-29T12:00:00.123456789z"),
        t("2000-02-29T12:00:00.123456Z")
    );
    assert_eq!(t("1900-02-29"), None);
    assert_eq!(t("2026-01-01T24:00:00Z"), None);
    assert_eq!(t("2026-01-01T10:00:00"), None);
    for micros in [
        0,
        1,
        -1,
        1_767_225_600_000_000,
        -62_135_596_800_000_000,
        253_402_300_799_999_999,
    ] {
        let text = parse::format_micros(micros);
        assert_eq!(t(&text[..]), Some(micros), "{text}");
    }
    let keys: Vec<u64> = [-3.5, -0.0, 0.0, 1e-300, 2.0, 1e300]
        .map(float_key)
        .to_vec();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(float_key(-0.0), float_key(0.0));
    assert!(int_key(-1) < int_key(0) && int_key(i64::MIN) == 0);
}

/// Writes the fuzzer's seed for the `payload` target (`fuzz/seeds/payload/rows`): run with
/// `cargo test --release --lib payload_fuzz_seed -- --ignored`.
#[test]
#[ignore = "writes a fuzz seed"]
fn payload_fuzz_seed() {
    let rows: Vec<Payload> = rows(40)
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let mut bytes = (rows.len() as u16).to_le_bytes().to_vec();
    bytes.extend(crate::__fuzz::encode_payload_sections(&rows));
    assert!(crate::__fuzz::payload_sections(&bytes[2..], rows.len(), &filters()).is_ok());
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/payload/rows"),
        bytes,
    )
    .unwrap();
}
