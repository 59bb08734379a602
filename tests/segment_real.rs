//! Segments on real data: an index saved and opened with a memory map returns exactly what the
//! in-memory index returns, for every query of `wordpiece-384-l2` (a hard set), with f32, SQ8 and
//! SQ4 codes; and its recall, computed against the dataset's ground truth, is the original's.

mod common;

use stratavec::eval::recall_at_k;
use stratavec::{Index, IndexOptions, Metric, Quantization, SearchParams};

#[test]
fn mapped_segments_answer_every_wordpiece_query_exactly_like_the_in_memory_index() {
    let Some(data) = common::dataset("wordpiece-384-l2") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dim = data.dim();
    for quant in [Quantization::None, Quantization::Sq8, Quantization::Sq4] {
        let mut options = IndexOptions::new(dim, data.metric.unwrap_or(Metric::L2));
        options.quantization = quant;
        options.ef_construction = 100;
        let index = Index::new(options).unwrap();
        index
            .add_batch(&common::row_ids(data.base.len()), data.base.as_slice())
            .unwrap();
        let path = dir.path().join(format!("wordpiece-{quant}.svs"));
        index.save(&path).unwrap();
        let mapped = Index::open(&path).unwrap();
        mapped.verify().unwrap();
        let params = SearchParams::new(10).ef(64);
        let mut found = Vec::new();
        for q in data.queries.as_slice().chunks_exact(dim) {
            let in_memory = index.search_with(q, &params).unwrap();
            let from_file = mapped.search_with(q, &params).unwrap();
            assert_eq!(in_memory, from_file, "{quant}: results differ");
            found.push(from_file.iter().map(|h| h.id).collect::<Vec<_>>());
        }
        let recall = recall_at_k(&found, data.ground_truth.as_ref().unwrap(), 10).unwrap();
        eprintln!("wordpiece {quant}: Recall@10 at ef 64 = {recall:.4} (mapped = in memory)");
        assert!(recall > 0.3, "{quant}: recall {recall} is implausibly low");
    }
}
