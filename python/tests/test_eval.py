"""stratavec.eval: ground truth, recall, the benchmark runner."""

from __future__ import annotations

import numpy as np
import pytest

import stratavec
from stratavec.eval import bench, ground_truth, recall_at_k

from conftest import dataset_or_skip, read_vecs


def naive(base, queries, k, metric):
    if metric == "l2":
        d = ((queries[:, None, :].astype(np.float64) - base[None, :, :]) ** 2).sum(-1)
    else:
        if metric == "cosine":
            base = base / np.linalg.norm(base, axis=1, keepdims=True)
            queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        d = 1 - queries.astype(np.float64) @ base.T.astype(np.float64)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_ground_truth_matches_numpy(small, metric):
    base, queries = small
    got = ground_truth(base, queries, k=7, metric=metric)
    assert got.dtype == np.uint32 and got.shape == (20, 7)
    assert recall_at_k(got, naive(base, queries, 7, metric)) >= 0.99
    # One query as a 1-d vector, float64 input, explicit threads.
    one = ground_truth(base.astype(np.float64), queries[0], k=7, metric=metric, threads=1)
    np.testing.assert_array_equal(one, got[:1])


def test_ground_truth_k_above_n_and_errors(small):
    base, queries = small
    assert ground_truth(base[:3], queries, k=10).shape == (20, 3)
    with pytest.raises(stratavec.InvalidParameterError):
        ground_truth(base, queries, k=0)
    with pytest.raises(stratavec.DimensionMismatchError):
        ground_truth(base, queries[:, :5])
    bad = base.copy()
    bad[3, 3] = np.nan
    with pytest.raises(stratavec.InvalidVectorError):
        ground_truth(bad, queries)
    with pytest.raises(ValueError):
        ground_truth(np.empty((0, 16), np.float32), queries)


def test_recall_at_k():
    truth = np.array([[0, 1, 2, 3], [10, 11, 12, 13]], dtype=np.int32)
    assert recall_at_k(np.array([[3, 2, 1, 0], [10, 11, 12, 13]]), truth) == 1.0
    assert recall_at_k(np.array([[0, 1, 98, 99], [10, 11, 97, 96]], np.uint64), truth) == 0.5
    # k defaults to found's width; misses, filler and negative ids count as misses.
    found = np.array([[0, stratavec.MISSING_ID], [10, 2**64 - 2]], np.uint64)
    assert recall_at_k(found, truth) == 0.5
    assert recall_at_k(np.array([[0, -1], [-1, 11]]), truth) == 0.5
    assert recall_at_k(np.array([[0, 5, 1], [10, 11, 5]]), truth, k=2) == 0.75
    # A 1-d found/truth is one query.
    assert recall_at_k([0, 1], [1, 0]) == 1.0
    with pytest.raises(ValueError):
        recall_at_k(np.zeros((3, 2), np.int64), truth)  # 3 queries vs 2
    with pytest.raises(ValueError):
        recall_at_k(np.zeros((2, 2), np.int64), truth, k=0)
    with pytest.raises(ValueError):
        recall_at_k(np.zeros((2, 2), np.int64), -truth - 1)
    with pytest.raises(ValueError):
        recall_at_k(np.zeros((2, 2), np.float32), truth)


def test_bench_on_arrays_has_the_cli_report_shape(small):
    base, queries = small
    report = bench(
        base=base, queries=queries, metric="l2", k=5, ef=[16, 64], warmup=5, threads=2,
        m=8, ef_construction=50, name="tiny",
    )
    assert set(report) == {"dataset", "machine", "results"}
    assert report["dataset"] == {
        "name": "tiny", "n_base": 1000, "n_queries": 20, "dim": 16, "metric": "l2",
    }
    assert report["machine"]["threads"] == 2
    assert [r["config"]["ef"] for r in report["results"]] == [16, 64]
    for r in report["results"]:
        assert r["config"] == {"m": 8, "ef_construction": 50, "ef": r["config"]["ef"], "k": 5,
                               "quant": "none"}
        for key in ("recall_at_k", "qps_single_thread", "latency_us", "build_seconds",
                    "index_bytes", "qps_all_threads", "threads"):
            assert key in r
        assert set(r["latency_us"]) == {"p50", "p90", "p99", "p999"}
    assert report["results"][1]["recall_at_k"] >= 0.95
    # Given truth is used as is; quantizations and oversampling are swept.
    truth = ground_truth(base, queries, k=5)
    report = bench(base=base, queries=queries, truth=truth, k=5, ef=[32],
                   quantization=["sq8", "sq4"], oversample=[1, 2], warmup=0)
    assert [(r["config"]["quant"], r["config"]["oversample"]) for r in report["results"]] == [
        ("sq8", 1), ("sq8", 2), ("sq4", 1), ("sq4", 2)]


def test_bench_on_a_texmex_folder():
    folder = dataset_or_skip("digits-64-l2")
    report = bench(folder, ef=[32], warmup=10, ef_construction=64)
    assert report["dataset"]["name"] == "digits-64-l2"
    assert report["dataset"]["metric"] == "l2"
    assert report["results"][0]["recall_at_k"] >= 0.9
    assert report["results"][0]["memory"]["originals_bytes"] > 0


def test_bench_argument_errors(small):
    base, queries = small
    with pytest.raises(ValueError):
        bench()
    with pytest.raises(ValueError):
        bench(base=base)
    with pytest.raises(ValueError):
        bench(base=base, queries=queries, ef=[])
    with pytest.raises(ValueError):
        bench(base=base, queries=queries, quantization="pq")
    with pytest.raises(ValueError):
        bench(base=base, queries=queries, truth=np.full((20, 5), 5000))


def test_ground_truth_agrees_with_the_shipped_one(wordllama):
    """Our exact search against wordllama's groundtruth.ivecs (first 100 queries, full base)."""
    base, queries, truth, metric = wordllama
    ours = ground_truth(base, queries[:100], k=10, metric=metric)
    assert recall_at_k(ours, truth[:100, :10]) >= 0.999
