//! Arbitrary bytes as a segment file: open (from an 8-byte-aligned copy), verify, then use it —
//! searches (plain, filtered on ids and on a payload keyword, exact, each rerank), ids, get.
//! Nothing may panic, whether or not `verify` passes; on a verified segment every hit is a live
//! id and the lists are well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratavec::{Filter, Rerank, SearchParams};

fuzz_target!(|data: &[u8]| {
    let Ok(index) = stratavec::__fuzz::segment(data) else {
        return;
    };
    let verified = index.verify().is_ok();
    let _ = index.segment_info();
    let _ = index.memory();
    let dim = index.dim();
    if dim > 1 << 16 {
        return; // a query of that many components is the caller's memory, not the reader's
    }
    let query: Vec<f32> = (0..dim).map(|i| 1.0 + (i % 7) as f32 * 0.5).collect();
    let odd = |id: u64| id % 2 == 1;
    for (k, ef) in [(1, 1), (10, 16), (100, 200)] {
        for rerank in [Rerank::Auto, Rerank::None, Rerank::Exact] {
            let params = SearchParams::new(k).ef(ef).rerank(rerank);
            if let Ok(hits) = index.search_with(&query, &params) {
                assert!(hits.len() <= k);
                if verified {
                    for h in &hits {
                        assert!(index.contains(h.id), "hit {} is not a live id", h.id);
                    }
                }
            }
            if let Ok(hits) = index.search_with(&query, &params.filter(&odd)) {
                assert!(hits.len() <= k);
                assert!(hits.iter().all(|h| h.id % 2 == 1), "filter ignored");
            }
        }
        if let Ok(hits) = index.search_exact(&query, &SearchParams::new(k)) {
            assert!(hits.len() <= k);
        }
        // A payload filter on a keyword: the group graph of its value when the file has one.
        let tag = Filter::eq("tag", "a");
        if let Ok(hits) =
            index.search_with(&query, &SearchParams::new(k).ef(ef).payload_filter(&tag))
        {
            assert!(hits.len() <= k);
            if verified {
                for h in &hits {
                    let p = index.payload(h.id).expect("a hit's payload");
                    assert!(tag.matches(&p), "hit {} does not match the filter", h.id);
                }
            }
        }
    }
    let ids = index.ids();
    if verified {
        assert_eq!(ids.len(), index.len());
    }
    for &id in ids.iter().take(4) {
        if let Ok(v) = index.get(id) {
            assert_eq!(v.len(), dim);
        }
    }
});
