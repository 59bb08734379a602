//! Arbitrary bytes as a write-ahead log, replayed as `Collection::open` replays its `WAL`, for the
//! dimension the header names (so real logs in the corpus get past the header check).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dim = data
        .get(12..16)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .filter(|&d| (1..=4096).contains(&d))
        .unwrap_or(1);
    let _ = stratavec::__fuzz::wal_replay(data, dim);
});
