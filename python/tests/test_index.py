"""stratavec.Index: construction, add, search, get, contains, len, memory, repr."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import stratavec
from stratavec import MISSING_ID


def brute_force(base, queries, k, metric="l2"):
    return stratavec.eval.ground_truth(base, queries, k=k, metric=metric)


def test_defaults_and_properties():
    index = stratavec.Index(8)
    assert index.dim == 8
    assert index.metric == "l2"
    assert index.quantization == "none"
    assert index.m == stratavec.DEFAULT_M == 16
    assert index.ef_construction == stratavec.DEFAULT_EF_CONSTRUCTION == 200
    assert isinstance(index.seed, int)
    assert len(index) == 0
    assert repr(index) == (
        "stratavec.Index(dim=8, metric='l2', quantization='none', m=16, ef_construction=200, len=0)"
    )
    index = stratavec.Index(4, metric="cosine", quantization="sq8", m=8, ef_construction=50, seed=3)
    assert (index.metric, index.quantization, index.m, index.ef_construction, index.seed) == (
        "cosine",
        "sq8",
        8,
        50,
        3,
    )
    assert stratavec.Index(4, metric="ip").metric == "ip"


def test_an_empty_index_returns_zero_wide_arrays():
    index = stratavec.Index(3)
    ids, dist = index.search(np.zeros((2, 3), np.float32), k=4)
    assert ids.shape == (2, 0) and dist.shape == (2, 0)
    assert ids.dtype == np.uint64 and dist.dtype == np.float32
    # The queries are still checked.
    with pytest.raises(stratavec.InvalidVectorError):
        index.search(np.full((1, 3), np.nan, np.float32), k=4)


def test_add_default_ids_are_a_running_count(small):
    base, _ = small
    index = stratavec.Index(16)
    index.add(base[:10])
    index.add(base[10:15])
    index.add(base[15])  # 1-d: one row
    assert len(index) == 16
    assert all(i in index for i in range(16))
    assert 16 not in index
    np.testing.assert_array_equal(index.get(15), base[15])
    np.testing.assert_array_equal(index.get(12), base[12])


def test_add_explicit_ids_of_any_integer_kind(small):
    base, _ = small
    index = stratavec.Index(16)
    index.add(base[:3], ids=[100, 200, 300])
    index.add(base[3:5], ids=np.array([7, 8], dtype=np.int32))
    index.add(base[5:7], ids=np.array([2**63, 2**64 - 2], dtype=np.uint64))
    index.add(base[7], ids=42)
    index.add(base[8:10], ids=np.array([11, 12], dtype=np.uint8))
    assert len(index) == 10
    for i in [100, 200, 300, 7, 8, 2**63, 2**64 - 2, 42, 11, 12]:
        assert i in index
    np.testing.assert_array_equal(index.get(2**64 - 2), base[6])
    np.testing.assert_array_equal(index.get(np.uint64(42)), base[7])
    ids, _ = index.search(base[7], k=1)
    assert ids[0] == 42


def test_contains_is_false_for_non_ids(small_index):
    assert 0 in small_index
    assert -1 not in small_index
    assert 2**64 not in small_index
    assert "0" not in small_index
    assert None not in small_index


def test_search_shapes_and_exactness(small, small_index):
    base, queries = small
    ids, dist = small_index.search(queries, k=5, ef=200)
    assert ids.shape == (20, 5) and dist.shape == (20, 5)
    truth = brute_force(base, queries, 5)
    assert stratavec.eval.recall_at_k(ids, truth) >= 0.99
    # Distances are squared L2, nearest first.
    for q, row_ids, row_d in zip(queries, ids, dist):
        want = ((base[row_ids.astype(np.int64)] - q) ** 2).sum(axis=1)
        np.testing.assert_allclose(row_d, want, rtol=1e-4, atol=1e-4)
        assert np.all(np.diff(row_d) >= 0)
    # A 1-d query gives 1-d results, equal to the batch's first row.
    one_ids, one_d = small_index.search(queries[0], k=5, ef=200)
    assert one_ids.shape == (5,) and one_d.shape == (5,)
    np.testing.assert_array_equal(one_ids, ids[0])
    # A (1, dim) query stays 2-d.
    assert small_index.search(queries[:1], k=5)[0].shape == (1, 5)
    # No queries: empty (0, k) arrays.
    e_ids, e_d = small_index.search(np.empty((0, 16), np.float32), k=3)
    assert e_ids.shape == (0, 3) and e_d.shape == (0, 3)


def test_a_k_beyond_the_size_is_clamped_to_it():
    index = stratavec.Index(2)
    index.add(np.array([[0, 0], [1, 0], [0, 2]], np.float32))
    ids, dist = index.search(np.array([0, 0], np.float32), k=5)
    assert ids.tolist() == [0, 1, 2]
    assert dist.tolist() == [0.0, 1.0, 4.0]
    # A deleted vector leaves filler in the width the index had when the search started.
    index.delete(1)
    ids, dist = index.search(np.array([[0, 0]], np.float32), k=5)
    assert ids.shape == (1, 2) and ids.tolist() == [[0, 2]]


def test_a_huge_k_allocates_nothing_for_it():
    """k = 10**8 and 10**9 on a 2,000-vector index: two (nq, 2000) arrays, not 10**8-wide ones
    (2.3 GB) or ~24 GB ones."""
    rng = np.random.default_rng(3)
    index = stratavec.Index(8, m=8, ef_construction=32)
    index.add(rng.standard_normal((2000, 8)).astype(np.float32))
    queries = rng.standard_normal((3, 8)).astype(np.float32)
    want, want_d = index.search(queries, k=2000, ef=2000)
    for k in (10**8, 10**9, 2**63 - 1):
        ids, dist = index.search(queries, k=k)
        assert ids.shape == dist.shape == (3, 2000)
        assert ids.nbytes == 3 * 2000 * 8
        np.testing.assert_array_equal(ids, want)
        np.testing.assert_array_equal(dist, want_d)
        one, _ = index.search(queries[0], k=k, ef=k, oversample=k)
        assert one.shape == (2000,)


def test_threads_give_the_same_answers(small, small_index):
    _, queries = small
    ids_all, d_all = small_index.search(queries, k=10, ef=64)
    for t in (1, 2, 3):
        ids_t, d_t = small_index.search(queries, k=10, ef=64, threads=t)
        np.testing.assert_array_equal(ids_t, ids_all)
        np.testing.assert_array_equal(d_t, d_all)


def test_other_dtypes_and_layouts_are_converted(small):
    base, queries = small
    index = stratavec.Index(16)
    index.add(base.astype(np.float64))  # converted once
    index.add(np.asfortranarray(base[:5]), ids=[5000, 5001, 5002, 5003, 5004])
    index.add(base[::2][:3], ids=[6000, 6001, 6002])  # strided view
    index.add(base[:2].tolist(), ids=[7000, 7001])  # a list
    np.testing.assert_array_equal(index.get(5003), base[3])
    np.testing.assert_array_equal(index.get(6002), base[4])
    np.testing.assert_array_equal(index.get(7001), base[1])
    ro = base[:4].copy()
    ro.flags.writeable = False  # read-only arrays are read in place too
    index.add(ro, ids=[8000, 8001, 8002, 8003])
    ref_ids, ref_d = index.search(queries, k=4)
    for q in (queries.astype(np.float64), np.asfortranarray(queries), queries.tolist()):
        ids, d = index.search(q, k=4)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(d, ref_d)


def test_float32_input_is_not_copied_but_other_dtypes_are_once(rng):
    """NumPy reports its allocations to tracemalloc; the index's own (Rust) memory is not
    traced. So a float32 C-contiguous add traces (almost) nothing, a float64 one one float32
    copy."""
    data32 = rng.standard_normal((20_000, 32)).astype(np.float32)
    data64 = data32.astype(np.float64)
    for data, expect_copy in ((data32, False), (data64, True)):
        index = stratavec.Index(32, m=4, ef_construction=8)
        tracemalloc.start()
        index.add(data)
        index.search(data[:1000], k=1, ef=8)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        copy = 20_000 * 32 * 4
        if expect_copy:
            assert peak >= copy, peak
        else:
            assert peak < copy // 10, peak


def test_get_returns_a_float32_copy(small, small_index):
    base, _ = small
    v = small_index.get(3)
    assert v.dtype == np.float32 and v.shape == (16,)
    np.testing.assert_array_equal(v, base[3])
    v[:] = 0  # our copy: the index is unchanged
    np.testing.assert_array_equal(small_index.get(3), base[3])


def test_cosine_normalises(rng):
    index = stratavec.Index(4, metric="cosine")
    index.add(np.array([[3, 0, 0, 0], [0, 0, 2, 0]], np.float32))
    np.testing.assert_allclose(index.get(0), [1, 0, 0, 0])
    ids, dist = index.search(np.array([10, 0, 0.1, 0], np.float32), k=2)
    assert ids.tolist() == [0, 1]
    assert dist[0] == pytest.approx(1 - 10 / np.sqrt(100.01), abs=1e-5)


@pytest.mark.parametrize("quantization", ["sq8", "sq4", "rabitq", "rabitq4"])
def test_quantized_indexes_rerank_exactly(small, quantization):
    base, queries = small
    index = stratavec.Index(16, quantization=quantization)
    index.add(base)
    assert index.quantization == quantization
    truth = brute_force(base, queries, 10)
    ids, dist = index.search(queries, k=10, ef=200, oversample=4)
    memory = index.memory()
    assert memory["codes_bytes"] + memory["fast_scan_bytes"] > 0
    assert stratavec.eval.recall_at_k(ids, truth) >= 0.95
    # Reranked distances are the exact ones.
    exact = ((base[ids[:, 0].astype(np.int64)] - queries) ** 2).sum(axis=1)
    np.testing.assert_allclose(dist[:, 0], exact, rtol=1e-4, atol=1e-4)


def test_memory(small_index):
    mem = small_index.memory()
    assert set(mem) == {
        "codes_bytes", "originals_bytes", "graph_bytes", "ids_bytes", "fast_scan_bytes", "total_bytes"
    }
    assert mem["originals_bytes"] >= 1000 * 16 * 4
    assert mem["codes_bytes"] == 0
    assert mem["total_bytes"] == sum(v for k, v in mem.items() if k != "total_bytes")


def test_ids_reach_u64_max_minus_one_but_filler_is_distinct():
    index = stratavec.Index(2)
    index.add(np.array([1, 1], np.float32), ids=2**64 - 2)
    index.add(np.array([5, 5], np.float32), ids=0)
    ids, _ = index.search(np.array([1, 1], np.float32), k=2, filter=[2**64 - 2])
    assert ids.tolist() == [2**64 - 2, MISSING_ID]


def test_add_on_a_chosen_number_of_threads(small):
    base, queries = small
    a, b = stratavec.Index(16, seed=1), stratavec.Index(16, seed=1)
    a.add(base, threads=1)
    b.add(base, threads=2)
    assert len(a) == len(b) == 1000
    truth = brute_force(base, queries, 10)
    for index in (a, b):
        assert stratavec.eval.recall_at_k(index.search(queries, k=10, ef=100)[0], truth) >= 0.97


def test_every_public_name_is_documented():
    import stratavec.ann_benchmarks
    import stratavec.eval

    for name in stratavec.__all__:
        obj = getattr(stratavec, name)
        if callable(obj) or isinstance(obj, type):
            assert obj.__doc__, name
    for method in ("add", "search", "get", "memory"):
        assert len(getattr(stratavec.Index, method).__doc__) > 100, method
    for fn in (stratavec.eval.ground_truth, stratavec.eval.recall_at_k, stratavec.eval.bench):
        assert fn.__doc__
    for method in ("fit", "set_query_arguments", "query", "batch_query", "get_batch_results",
                   "get_memory_usage"):
        assert getattr(stratavec.ann_benchmarks.Stratavec, method).__doc__, method
