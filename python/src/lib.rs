//! `stratavec._stratavec`: the native module of the `stratavec` Python package.
//!
//! A thin layer over the `stratavec` crate: argument parsing, NumPy conversion without copies
//! where possible, error mapping. Every build and search runs with the interpreter detached (the
//! GIL released), so Python threads search in parallel and other Python code keeps running.
//!
//! Module map: [`index`] (the `Index` class: build, search, save, open), [`collection`] (the
//! `Collection` class), [`search`] (the search both share, and `merge_top_k`), [`eval`] (ground
//! truth, recall, benchmarks), [`arrays`] (reading and making NumPy arrays), [`callbacks`]
//! (Python filters and rerankers called from a search, and the per-thread-count pools),
//! [`errors`] (the exception classes).
#![deny(missing_docs)]

use pyo3::prelude::*;

pub mod arrays;
pub mod callbacks;
pub mod collection;
pub mod errors;
pub mod eval;
pub mod index;
pub mod payloads;
pub mod search;

/// The native module.
#[pymodule]
mod _stratavec {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::index::Index;

    #[pymodule_export]
    use crate::collection::Collection;

    #[pymodule_export]
    use crate::search::merge_top_k;

    #[pymodule_export]
    use crate::index::_raise_error;

    #[pymodule_export]
    use crate::eval::{bench_json, ground_truth, recall_at_k};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        super::init(m)
    }
}

fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, class) in errors::exceptions(py)?.all() {
        m.add(name, class.bind(py))?;
    }
    m.add("MISSING_ID", index::MISSING_ID)?;
    m.add("DEFAULT_M", stratavec::DEFAULT_M)?;
    m.add(
        "DEFAULT_EF_CONSTRUCTION",
        stratavec::DEFAULT_EF_CONSTRUCTION,
    )?;
    m.add("DEFAULT_EF_SEARCH", stratavec::DEFAULT_EF_SEARCH)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
