//! Arbitrary bytes as a `MANIFEST`: decoded with every check a collection runs; a manifest that
//! decodes must encode back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stratavec::__fuzz::manifest(data);
});
