//! Arbitrary text as a payload filter (`Filter::parse`): never a panic; a filter that parses
//! prints as text that parses back to the same filter.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stratavec::__fuzz::filter(text);
    }
});
