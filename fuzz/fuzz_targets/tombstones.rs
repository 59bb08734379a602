//! Arbitrary bytes as a deletion bitmap, checked against the row count the header claims (so
//! real bitmaps in the corpus get past the length check) and against a wrong one.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rows = data
        .get(16..24)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .unwrap_or(0);
    let _ = stratavec::__fuzz::tombstones(data, rows);
    let _ = stratavec::__fuzz::tombstones(data, rows.wrapping_add(1));
});
