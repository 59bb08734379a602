"""Filters (id arrays and callables) and Python rerankers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import stratavec
from stratavec import MISSING_ID


def filtered_truth(base, queries, allowed, k):
    allowed = np.asarray(sorted(allowed))
    sub = stratavec.eval.ground_truth(base[allowed], queries, k=k)
    return allowed[sub.astype(np.int64)]


@pytest.mark.parametrize(
    "make",
    [
        lambda ids: np.asarray(ids, dtype=np.uint64),
        lambda ids: np.asarray(ids, dtype=np.int64),
        lambda ids: list(ids),
        lambda ids: set(ids),
    ],
    ids=["uint64", "int64", "list", "set"],
)
def test_filter_by_id_array(small, small_index, make):
    base, queries = small
    allowed = list(range(0, 1000, 7))
    ids, dist = small_index.search(queries, k=10, ef=200, filter=make(allowed))
    allowed_set = set(allowed)
    assert all(int(i) in allowed_set for i in ids.ravel())
    truth = filtered_truth(base, queries, allowed, 10)
    assert stratavec.eval.recall_at_k(ids, truth) >= 0.95


def test_filter_by_callable(small, small_index):
    base, queries = small
    calls = []

    def odd(i: int) -> bool:
        calls.append(i)
        return i % 2 == 1

    ids, _ = small_index.search(queries, k=10, ef=100, filter=odd)
    assert np.all(ids % 2 == 1)
    assert calls and all(isinstance(i, int) for i in calls)
    truth = filtered_truth(base, queries, range(1, 1000, 2), 10)
    assert stratavec.eval.recall_at_k(ids, truth) >= 0.95
    # Truthy values count too, and a filter called from the search threads sees the right ids.
    ids, _ = small_index.search(queries, k=5, filter=lambda i: 1 if i < 50 else 0, threads=2)
    assert np.all(ids < 50)


def test_selective_filters_pad_with_filler(small_index):
    q = np.zeros(16, np.float32)
    ids, dist = small_index.search(q, k=5, filter=np.array([3, 4], np.uint64))
    assert sorted(ids[:2].tolist()) == [3, 4]
    assert ids[2:].tolist() == [MISSING_ID] * 3 and np.all(np.isinf(dist[2:]))
    ids, _ = small_index.search(q, k=5, filter=np.array([], np.uint64))
    assert np.all(ids == MISSING_ID)
    ids, _ = small_index.search(q, k=5, filter=[])
    assert np.all(ids == MISSING_ID)
    ids, _ = small_index.search(q, k=5, filter=lambda i: False)
    assert np.all(ids == MISSING_ID)


def test_filter_exception_propagates_and_stops_calls(small_index):
    calls = 0

    class Boom(Exception):
        pass

    def bad(i):
        nonlocal calls
        calls += 1
        raise Boom(f"no {i}")

    with pytest.raises(Boom, match="no "):
        small_index.search(np.zeros((4, 16), np.float32), k=3, filter=bad)
    assert calls == 1


def test_bad_filters(small_index):
    q = np.zeros(16, np.float32)
    with pytest.raises(stratavec.InvalidParameterError):
        small_index.search(q, filter=np.array([-1, 2]))
    with pytest.raises(stratavec.InvalidParameterError):
        small_index.search(q, filter=np.array([0.5]))


def test_reranker_reorders(small, small_index):
    base, queries = small
    seen = []

    def prefer_high_ids(query, ids, distances):
        assert query.dtype == np.float32 and query.shape == (16,)
        assert ids.dtype == np.uint64 and distances.dtype == np.float32
        assert ids.shape == distances.shape
        seen.append(len(ids))
        return -ids.astype(np.float64)  # any array-like of the same length

    ids, dist = small_index.search(queries, k=5, ef=100, oversample=4, reranker=prefer_high_ids)
    assert seen and all(n == 20 for n in seen)
    for row_ids, row_d in zip(ids, dist):
        assert list(row_ids) == sorted(row_ids, reverse=True)
        np.testing.assert_array_equal(row_d, -row_ids.astype(np.float32))

    # The query it gets is the caller's; exact L2 from `get` reproduces the default ranking.
    def exact(query, ids, distances):
        return [float(((small_index.get(int(i)) - query) ** 2).sum()) for i in ids]

    ids2, d2 = small_index.search(queries[0], k=5, ef=100, reranker=exact)
    ids3, d3 = small_index.search(queries[0], k=5, ef=100)
    np.testing.assert_array_equal(ids2, ids3)
    np.testing.assert_allclose(d2, d3, rtol=1e-5)


def test_reranker_on_a_quantized_index(small):
    base, queries = small
    index = stratavec.Index(16, quantization="sq4")
    index.add(base)
    calls = []
    ids, _ = index.search(
        queries, k=3, reranker=lambda q, i, d: (calls.append(len(i)), d)[1], threads=2
    )
    assert calls and all(n == 9 for n in calls)  # default oversample 3 for sq4


def test_reranker_exception_propagates_unchanged(small_index):
    class RerankBoom(RuntimeError):
        pass

    def bad(query, ids, distances):
        raise RerankBoom("model offline")

    with pytest.raises(RerankBoom, match="model offline"):
        small_index.search(np.zeros(16, np.float32), reranker=bad)
    with pytest.raises(RerankBoom):
        small_index.search(np.zeros((8, 16), np.float32), reranker=bad, threads=2)
    with pytest.raises(stratavec.InvalidParameterError, match="returned 1 distances"):
        small_index.search(np.zeros(16, np.float32), k=3, reranker=lambda q, i, d: d[:1])
    with pytest.raises(TypeError):
        small_index.search(np.zeros(16, np.float32), reranker=42)


def test_callable_filters_run_on_the_calling_thread_rerankers_on_the_pool(small_index):
    """A callable filter is called for many ids under the GIL: its batch runs on the calling
    thread. A reranker (one call per query) runs on the search threads."""
    filter_threads, rerank_threads = set(), set()

    def f(i):
        filter_threads.add(threading.get_ident())
        return True

    def r(q, ids, d):
        rerank_threads.add(threading.get_ident())
        return d

    queries = np.zeros((64, 16), np.float32)
    ids, _ = small_index.search(queries, k=3, filter=f, threads=2)
    assert np.all(ids != MISSING_ID)
    assert filter_threads == {threading.get_ident()}
    ids2, _ = small_index.search(queries, k=3, reranker=r, threads=2)
    np.testing.assert_array_equal(ids, ids2)
    assert rerank_threads and threading.get_ident() not in rerank_threads
