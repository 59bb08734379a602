//! The search API with arbitrary parameters and vectors: an index of arbitrary options built from
//! arbitrary rows (NaN, infinities, zeros, duplicate ids), some deletes, then searches with
//! arbitrary `k` (0, huge), `ef` (0, huge), oversampling, filters, rerankers, query lengths and
//! components; sometimes saved and reopened as a segment and searched again. Errors are fine;
//! panics are not, and every success must be a well-formed answer: at most `k` hits, sorted by
//! distance, distinct live ids that pass the filter.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use stratavec::{
    Index, IndexOptions, Metric, Neighbor, QuantScheme, Quantization, Rerank, SearchParams,
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
        let dir = scratch_root().join(format!("stratavec-fuzz-search-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A component: mostly ordinary numbers, sometimes a special or arbitrary float.
fn component(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => 0.0,
        4 => f32::MAX,
        5 => f32::MIN_POSITIVE,
        6 => f32::from_bits(u.arbitrary()?),
        _ => (u.int_in_range(0u16..=400)? as f32 - 200.0) / 16.0,
    })
}

fn size(u: &mut Unstructured, small: usize) -> Result<usize> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => 0,
        1 => usize::MAX,
        2 => u32::MAX as usize,
        3 => 1 << 20,
        _ => u.int_in_range(1..=small)?,
    })
}

fn check(index: &Index, hits: &[Neighbor], k: usize, filter: Option<&dyn Fn(u64) -> bool>) {
    assert!(hits.len() <= k, "{} hits for k = {k}", hits.len());
    let mut seen = std::collections::HashSet::new();
    for w in hits.windows(2) {
        assert!(
            w[0].distance.partial_cmp(&w[1].distance) != Some(std::cmp::Ordering::Greater),
            "hits out of order: {} then {}",
            w[0].distance,
            w[1].distance
        );
    }
    for h in hits {
        assert!(seen.insert(h.id), "id {} returned twice", h.id);
        assert!(index.contains(h.id), "id {} is not live", h.id);
        if let Some(f) = filter {
            assert!(f(h.id), "id {} fails the filter", h.id);
        }
    }
}

fn searches(u: &mut Unstructured, index: &Index) -> Result<()> {
    let dim = index.dim();
    for _ in 0..u.int_in_range(1u8..=4)? {
        let len = match u.int_in_range(0u8..=9)? {
            0 => 0,
            1 => dim + 1,
            2 => dim - 1,
            _ => dim,
        };
        let query = (0..len)
            .map(|_| component(u))
            .collect::<Result<Vec<f32>>>()?;
        let k = size(u, 64)?;
        let mut params = SearchParams::new(k);
        if u.arbitrary()? {
            params = params.ef(size(u, 256)?);
        }
        if u.arbitrary()? {
            params = params.oversample(size(u, 8)?);
        }
        params = params.rerank(match u.int_in_range(0u8..=2)? {
            0 => Rerank::Auto,
            1 => Rerank::None,
            _ => Rerank::Exact,
        });
        let modulus = u.int_in_range(1u64..=5)?;
        let rest = u.int_in_range(0..=modulus)?;
        let f = move |id: u64| id % modulus == rest;
        let filtered = u.arbitrary()?;
        if filtered {
            params = params.filter(&f);
        }
        let filter: Option<&dyn Fn(u64) -> bool> = if filtered { Some(&f) } else { None };
        if let Ok(hits) = index.search_with(&query, &params) {
            check(index, &hits, k, filter);
        }
        if let Ok(hits) = index.search_exact(&query, &params) {
            check(index, &hits, k, filter);
        }
        if u.arbitrary()? {
            let two: Vec<f32> = query.iter().chain(&query).copied().collect();
            if let Ok(lists) = index.search_batch(&two, &params) {
                for hits in &lists {
                    check(index, hits, k, filter);
                }
            }
        }
    }
    Ok(())
}

fn run(u: &mut Unstructured) -> Result<()> {
    let dim = u.int_in_range(1usize..=24)?;
    let metric = match u.int_in_range(0u8..=2)? {
        0 => Metric::L2,
        1 => Metric::InnerProduct,
        _ => Metric::Cosine,
    };
    let mut options = IndexOptions::new(dim, metric);
    options.m = u.int_in_range(0usize..=12)?;
    options.ef_construction = u.int_in_range(0usize..=48)?;
    options.seed = u.arbitrary()?;
    options.quantization = match u.int_in_range(0u8..=2)? {
        0 => Quantization::None,
        1 => Quantization::Sq8,
        _ => Quantization::Sq4,
    };
    options.quant_scheme = if u.arbitrary()? {
        QuantScheme::PerVector
    } else {
        QuantScheme::PerDimension
    };
    let Ok(index) = Index::new(options) else {
        return Ok(());
    };
    for _ in 0..u.int_in_range(0u8..=3)? {
        let n = u.int_in_range(0usize..=40)?;
        let ids = (0..n)
            .map(|_| {
                Ok(if u.int_in_range(0u8..=9)? == 0 {
                    u.arbitrary::<u64>()?
                } else {
                    u.int_in_range(0u64..=80)?
                })
            })
            .collect::<Result<Vec<u64>>>()?;
        let rows = (0..n * dim)
            .map(|_| component(u))
            .collect::<Result<Vec<f32>>>()?;
        let before = index.len();
        if index.add_batch(&ids, &rows).is_err() {
            assert_eq!(index.len(), before, "a failed batch added rows");
        }
    }
    for _ in 0..u.int_in_range(0u8..=4)? {
        let id = u.int_in_range(0u64..=80)?;
        let _ = index.delete(id);
        assert!(!index.contains(id));
    }
    searches(u, &index)?;
    if u.arbitrary()? {
        let path = scratch().join("index.svs");
        if index.save(&path).is_ok() {
            let opened = Index::open(&path).expect("a saved index opens");
            opened.verify().expect("a saved index verifies");
            assert_eq!(opened.len(), index.len());
            searches(u, &opened)?;
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
