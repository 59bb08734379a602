//! Shared helpers of the integration tests: finding the real datasets. Also compiled into the
//! CLI's tests (`cli/tests/`, through `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use stratavec::data::{Dataset, DATASETS_ENV};

/// The datasets folder: `$STRATAVEC_DATASETS`, else `../shared/datasets` beside the workspace root
/// (what `stratavec::data::datasets_dir` finds from the root). Cargo runs each package's tests in
/// that package's folder, so a path relative to the current directory would differ in `cli/`.
pub fn datasets_dir() -> PathBuf {
    match std::env::var_os(DATASETS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = manifest_dir
                .ancestors()
                .find(|d| d.join("Cargo.lock").exists())
                .unwrap_or(manifest_dir);
            root.join("..").join("shared").join("datasets")
        }
    }
}

/// Set (to anything but `0`) to make a missing dataset a failure instead of a skip; `.ci/run`
/// sets it.
pub const REQUIRE_ENV: &str = "STRATAVEC_REQUIRE_DATASETS";

/// Loads `name` from the datasets folder, or returns `None` after saying plainly that the test
/// skips — unless `STRATAVEC_REQUIRE_DATASETS` is set, in which case a missing dataset panics.
pub fn dataset(name: &str) -> Option<Dataset> {
    let dir = datasets_dir().join(name);
    if !dir.join("base.fvecs").exists() {
        let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v != "0");
        assert!(
            !required,
            "dataset {} not found and {REQUIRE_ENV} is set",
            dir.display()
        );
        eprintln!(
            "skipping: dataset {} not found (set STRATAVEC_DATASETS to the datasets folder)",
            dir.display()
        );
        return None;
    }
    Some(Dataset::load_texmex(&dir).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display())))
}

/// Ids `0..n` for a dataset's base rows, so that search results are row indices.
pub fn row_ids(n: usize) -> Vec<u64> {
    (0..n as u64).collect()
}
