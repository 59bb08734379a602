//! Arbitrary bytes as an `fvecs`, `ivecs` and `bvecs` file (the readers take a path, so the bytes
//! go to a scratch file first). A file that reads has a consistent shape and round-trips through
//! the writer bit for bit.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stratavec::data::{
    read_bvecs, read_fvecs, read_fvecs_limit, read_ivecs, write_bvecs, write_fvecs, write_ivecs,
};

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
        let dir = scratch_root().join(format!("stratavec-fuzz-texmex-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch().join("in.vecs");
    std::fs::write(&path, data).unwrap();
    let out = scratch().join("out.vecs");
    if let Ok(m) = read_fvecs(&path) {
        assert_eq!(m.as_slice().len(), m.len() * m.dim());
        write_fvecs(&out, &m).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), data, "fvecs round trip");
    }
    if let Ok(m) = read_fvecs_limit(&path, 2) {
        assert!(m.len() <= 2);
    }
    if let Ok(m) = read_ivecs(&path) {
        write_ivecs(&out, &m).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), data, "ivecs round trip");
    }
    if let Ok(m) = read_bvecs(&path) {
        write_bvecs(&out, &m).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), data, "bvecs round trip");
    }
});
