//! Arbitrary bytes as a NumPy `.npy` file (written to a scratch file first: the reader takes a
//! path). An array that reads has a consistent shape and survives the writer and the reader again.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stratavec::data::{read_npy_f32, write_npy_f32};

/// `/dev/shm` when there is one (no disk writes per execution), else the temporary directory.
fn scratch_root() -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch_root().join(format!("stratavec-fuzz-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch().join("in.npy");
    std::fs::write(&path, data).unwrap();
    let Ok(m) = read_npy_f32(&path) else {
        return;
    };
    assert_eq!(m.as_slice().len(), m.len() * m.dim());
    let out = scratch().join("out.npy");
    write_npy_f32(&out, &m).unwrap();
    let again = read_npy_f32(&out).unwrap();
    assert_eq!(again.dim(), m.dim());
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(again.as_slice()), bits(m.as_slice()), "npy round trip");
});
