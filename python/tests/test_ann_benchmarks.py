"""The ann-benchmarks wrapper."""

from __future__ import annotations

import numpy as np
import pytest

import stratavec
from stratavec.ann_benchmarks import Stratavec


@pytest.mark.parametrize("metric, ours", [("euclidean", "l2"), ("angular", "cosine"), ("ip", "ip")])
def test_interface(small, metric, ours):
    base, queries = small
    algo = Stratavec(metric, {"M": 12, "efConstruction": 100})
    assert algo.get_memory_usage() == 0
    algo.fit(base.astype(np.float64))
    assert algo.index.metric == ours and algo.index.m == 12
    assert algo.get_memory_usage() > base.nbytes / 1024
    algo.set_query_arguments(128)
    assert "ef=128" in str(algo) and "M=12" in str(algo) and algo.name == str(algo)
    truth = stratavec.eval.ground_truth(base, queries, k=10, metric=ours)
    found = np.array([algo.query(q, 10) for q in queries])
    assert found.shape == (20, 10)
    assert stratavec.eval.recall_at_k(found, truth) >= 0.95
    algo.batch_query(queries, 10)
    np.testing.assert_array_equal(algo.get_batch_results(), found)
    algo.done()


def test_quantized_and_oversample(small):
    base, queries = small
    algo = Stratavec("euclidean", {"M": 16, "efConstruction": 100, "quantization": "sq4"})
    algo.fit(base)
    algo.set_query_arguments(64, 4)
    assert "oversample=4" in str(algo)
    assert algo.get_additional() == {"quantization": "sq4"}
    assert len(algo.query(queries[0], 10)) == 10


def test_query_drops_filler_and_errors():
    algo = Stratavec("euclidean", {"M": 4, "efConstruction": 10})
    with pytest.raises(RuntimeError):
        algo.query(np.zeros(2, np.float32), 1)
    algo.fit(np.eye(2, dtype=np.float32))
    algo.set_query_arguments(10)
    assert sorted(algo.query(np.zeros(2, np.float32), 5).tolist()) == [0, 1]
    with pytest.raises(ValueError):
        Stratavec("hamming", {})
