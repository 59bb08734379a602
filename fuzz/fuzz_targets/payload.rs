//! Arbitrary bytes as the payload sections of a segment (`payload_rows`, `payload_index`; the
//! first 4 bytes split them, the next 2 give the row count): never a panic, and sections that
//! pass the full check answer filters as their rows say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratavec::{Filter, Value};

fuzz_target!(|data: &[u8]| {
    let rows = data
        .get(..2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize % 512);
    let filters = [
        Filter::eq("tenant", 3),
        Filter::eq("lang", "de"),
        Filter::lt("price", 5.0),
        Filter::eq("tags", "b"),
        Filter::gte("date", Value::Timestamp(0)),
        !Filter::exists("flag") | Filter::eq("flag", true),
    ];
    let _ = stratavec::__fuzz::payload_sections(data.get(2..).unwrap_or(&[]), rows, &filters);
});
