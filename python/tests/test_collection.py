"""stratavec.Collection: create and reopen, upsert/delete/get, search like Index.search, flush,
compact, the writer lock, read-only opens, close and the context manager, threads."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import stratavec
from stratavec import MISSING_ID


def rows(n, dim=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_create_needs_dim_and_reopen_reads_it(tmp_path):
    with pytest.raises(stratavec.InvalidParameterError, match="`dim`.*required"):
        stratavec.Collection(tmp_path / "c")
    with stratavec.Collection(
        tmp_path / "c", dim=8, metric="ip", quantization="sq8", m=12, ef_construction=50
    ) as col:
        assert (col.dim, col.metric, col.quantization, col.m, col.ef_construction) == (
            8,
            "ip",
            "sq8",
            12,
            50,
        )
        assert col.durability == "sync" and not col.read_only and not col.closed
        assert col.path == str(tmp_path / "c")
        assert len(col) == 0
    # dim, metric and the rest come from the manifest.
    with stratavec.Collection(tmp_path / "c") as col:
        assert (col.dim, col.metric, col.quantization, col.m, col.ef_construction) == (
            8,
            "ip",
            "sq8",
            12,
            50,
        )
    # Given ones must match.
    with pytest.raises(stratavec.InvalidParameterError, match="dim 8"):
        stratavec.Collection(tmp_path / "c", dim=9)
    with pytest.raises(stratavec.InvalidParameterError, match="metric"):
        stratavec.Collection(tmp_path / "c", metric="l2")
    stratavec.Collection(tmp_path / "c", dim=8, metric="ip").close()


def test_bad_options(tmp_path):
    for kwargs, what in [
        ({"dim": 0}, "dim"),
        ({"dim": 4, "metric": "hamming"}, "metric"),
        ({"dim": 4, "quantization": "pq"}, "quantization"),
        ({"dim": 4, "durability": "never"}, "durability"),
        ({"dim": 4, "seal_rows": 0}, "seal_rows"),
        ({"dim": 4, "compact_deleted_fraction": 1.5}, "compact_deleted_fraction"),
        ({"dim": 4, "m": 1}, "m"),
    ]:
        with pytest.raises(stratavec.InvalidParameterError, match=what):
            stratavec.Collection(tmp_path / "bad", **kwargs)


def test_upsert_delete_reopen_round_trip(tmp_path):
    data = rows(300)
    path = tmp_path / "col"
    col = stratavec.Collection(path, dim=8, seal_rows=100, compact_deleted_fraction=None)
    col.upsert(np.arange(300), data)  # seals at 100 rows: segments and an unsealed tail
    col.upsert(5, data[0] + 10)  # a replacement, one 1-d row with a scalar id
    assert col.delete([7, 8, 9999]) == 2
    assert col.delete(7) == 0
    assert len(col) == 298 and 7 not in col and 5 in col and "x" not in col
    np.testing.assert_array_equal(col.get(5), data[0] + 10)
    with pytest.raises(stratavec.UnknownIdError):
        col.get(7)
    stats = col.stats()
    assert stats["live"] == 298 and stats["segments"] >= 1 and stats["wal_bytes"] > 0
    expected = {i: data[i] for i in range(300) if i not in (7, 8)}
    expected[5] = data[0] + 10
    col.close()

    col = stratavec.Collection(path)
    assert len(col) == 298
    for i in (0, 5, 150, 299):
        np.testing.assert_array_equal(col.get(i), expected[i])
    ids, dist = col.search(data[0] + 10, k=1)
    assert ids[0] == 5 and dist[0] == pytest.approx(0.0, abs=1e-4)
    col.flush()
    col.compact()
    stats = col.stats()
    assert stats["segments"] == 1 and stats["deleted"] == 0 and stats["unsealed"] == 0
    col.verify()
    col.close()
    with stratavec.Collection(path) as col:
        assert len(col) == 298 and 8 not in col


def test_search_has_the_index_signature_and_outputs(tmp_path):
    data = rows(500, dim=16, seed=3)
    queries = rows(20, dim=16, seed=4)
    with stratavec.Collection(tmp_path / "s", dim=16, seal_rows=200) as col:
        col.upsert(np.arange(500), data)
        ids, dist = col.search(queries, k=10, ef=200)
        assert ids.shape == dist.shape == (20, 10)
        assert ids.dtype == np.uint64 and dist.dtype == np.float32
        exact = stratavec.eval.ground_truth(data, queries, k=10)
        assert stratavec.eval.recall_at_k(ids, exact) >= 0.95
        # 1-d query, filter as an array and as a callable, reranker, threads, filler.
        one, _ = col.search(queries[0], k=10, ef=200)
        np.testing.assert_array_equal(one, ids[0])
        even, _ = col.search(queries, k=5, filter=np.arange(0, 500, 2))
        assert np.all(even % 2 == 0)
        odd, _ = col.search(queries[:3], k=5, filter=lambda i: i % 2 == 1)
        assert np.all(odd % 2 == 1)
        rev, _ = col.search(queries[0], k=3, oversample=2, reranker=lambda q, c, d: -d)
        assert rev.shape == (3,)
        single, _ = col.search(queries, k=10, ef=200, threads=1)
        np.testing.assert_array_equal(single, ids)
        few, fdist = col.search(queries[0], k=5, filter=[1, 2])
        assert sorted(few[:2].tolist()) == [1, 2]
        assert np.all(few[2:] == MISSING_ID) and np.all(np.isinf(fdist[2:]))
        with pytest.raises(stratavec.DimensionMismatchError, match=r"\(n, 16\)"):
            col.search(np.zeros((2, 3), np.float32))
        with pytest.raises(stratavec.InvalidParameterError):
            col.search(queries, k=0)
        with pytest.raises(ZeroDivisionError):
            col.search(queries[0], filter=lambda i: 1 / 0)
    with stratavec.Collection(tmp_path / "empty", dim=4) as empty:
        ids, dist = empty.search(np.ones((2, 4), np.float32), k=3)
        assert ids.shape == dist.shape == (2, 0)


def test_a_huge_k_is_clamped_to_the_collection(tmp_path):
    rng = np.random.default_rng(5)
    with stratavec.Collection(tmp_path / "k", dim=8, seal_rows=700) as col:
        col.upsert(np.arange(1500), rng.standard_normal((1500, 8)).astype(np.float32))
        col.delete([0, 1, 2])
        assert len(col) == 1497
        q = rng.standard_normal((2, 8)).astype(np.float32)
        want, _ = col.search(q, k=1497, ef=1500)
        for k in (10**8, 10**9):
            ids, dist = col.search(q, k=k)
            assert ids.shape == dist.shape == (2, 1497)
            np.testing.assert_array_equal(ids, want)


def test_upsert_errors_write_nothing(tmp_path):
    with stratavec.Collection(tmp_path / "e", dim=4) as col:
        with pytest.raises(stratavec.DimensionMismatchError):
            col.upsert([1], np.ones((1, 3), np.float32))
        with pytest.raises(stratavec.InvalidParameterError, match="expected 2 ids"):
            col.upsert([1], np.ones((2, 4), np.float32))
        bad = np.ones((2, 4), np.float32)
        bad[1, 2] = np.nan
        with pytest.raises(stratavec.InvalidVectorError):
            col.upsert([1, 2], bad)
        with pytest.raises(stratavec.InvalidParameterError, match="reserved"):
            col.upsert(2**64 - 1, np.ones(4, np.float32))
        with pytest.raises(stratavec.InvalidParameterError, match="non-negative"):
            col.upsert(-1, np.ones(4, np.float32))
        assert len(col) == 0 and col.stats()["wal_bytes"] == col.stats()["wal_bytes"]


def test_one_writer_and_read_only_opens_see_the_flushed_state(tmp_path):
    path = tmp_path / "lock"
    data = rows(50)
    writer = stratavec.Collection(path, dim=8)
    with pytest.raises(stratavec.LockedError):
        stratavec.Collection(path)
    writer.upsert(np.arange(20), data[:20])
    writer.flush()
    writer.upsert(np.arange(20, 50), data[20:])  # logged, not flushed
    reader = stratavec.Collection.open_read_only(path)
    assert reader.read_only and len(reader) == 20 and 25 not in reader
    ids, _ = reader.search(data[25], k=1)
    assert ids[0] != 25
    with pytest.raises(stratavec.ReadOnlyError):
        reader.upsert(99, data[0])
    with pytest.raises(stratavec.ReadOnlyError):
        reader.delete(1)
    with pytest.raises(stratavec.ReadOnlyError):
        reader.flush()
    writer.flush()
    reader.refresh()
    assert len(reader) == 50
    ids, _ = reader.search(data[25], k=1)
    assert ids[0] == 25
    assert reader.stats()["live"] == 50
    # Another process is refused too (the lock is a file lock, not a flag in this process).
    child = subprocess.run(
        [sys.executable, "-c", f"import stratavec; stratavec.Collection({str(path)!r})"],
        capture_output=True,
        text=True,
    )
    assert child.returncode != 0 and "LockedError" in child.stderr, child.stderr
    writer.close()
    # The lock went with close(): a new writer opens.
    stratavec.Collection(path).close()
    reader.close()
    with pytest.raises(FileNotFoundError):
        stratavec.Collection.open_read_only(tmp_path / "nothing-here")


def test_close_and_the_context_manager(tmp_path):
    path = tmp_path / "cm"
    with stratavec.Collection(path, dim=4, durability="buffered") as col:
        assert col.durability == "buffered"
        col.upsert([1, 2], np.eye(4, dtype=np.float32)[:2])
        col.sync()
    assert col.closed
    assert "closed" in repr(col)
    for call in (
        lambda: len(col),
        lambda: 1 in col,
        lambda: col.upsert(3, np.ones(4, np.float32)),
        lambda: col.search(np.ones(4, np.float32)),
        lambda: col.flush(),
        lambda: col.stats(),
        lambda: col.get(1),
    ):
        with pytest.raises(stratavec.ClosedError, match="closed"):
            call()
    assert issubclass(stratavec.ClosedError, ValueError)
    col.close()  # again: nothing happens
    # The lock was released and the buffered writes were made durable by close().
    with stratavec.Collection(path) as again:
        assert len(again) == 2
        # An exception inside the block propagates and still closes.
        with pytest.raises(RuntimeError):
            with stratavec.Collection.open_read_only(path) as reader:
                raise RuntimeError("boom")
        assert reader.closed


def test_verify_finds_a_corrupted_segment(tmp_path):
    path = tmp_path / "v"
    with stratavec.Collection(path, dim=8) as col:
        col.upsert(np.arange(200), rows(200))
        col.flush()
        col.verify()
    segment = next(path.glob("seg-*.svs"))
    info = stratavec.Index.open(segment).info()
    vectors = next(s for s in info["sections"] if s["name"] == "vectors")
    data = bytearray(segment.read_bytes())
    data[vectors["offset"] + 100] ^= 0xFF
    segment.write_bytes(bytes(data))
    with stratavec.Collection(path) as col:
        with pytest.raises(stratavec.CorruptFileError, match="seg-"):
            col.verify()


def test_threads_search_while_another_upserts(tmp_path):
    dim = 16
    first = rows(2000, dim, seed=10)
    more = rows(4000, dim, seed=11)
    queries = rows(30, dim, seed=12)
    col = stratavec.Collection(tmp_path / "t", dim=dim, ef_construction=64, seal_rows=1500)
    col.upsert(np.arange(2000), first)
    stop = threading.Event()

    def upsert_more():
        try:
            for i in range(0, 4000, 500):
                col.upsert(np.arange(10_000 + i, 10_500 + i), more[i : i + 500])
                # Replace some of the first rows too: each id must stay unique in results.
                col.upsert(np.arange(i // 10, i // 10 + 20), more[i : i + 20])
        finally:
            stop.set()

    def search_until_done(t):
        rounds = 0
        while not stop.is_set() or rounds < 3:
            ids, dist = col.search(queries, k=10, ef=64, threads=1 + t % 2)
            assert np.all(ids != MISSING_ID)
            assert np.all(np.diff(dist, axis=1) >= 0)
            for row in ids:
                assert len(set(row.tolist())) == 10
            assert np.all((ids < 2000) | ((ids >= 10_000) & (ids < 14_000)))
            rounds += 1
        return rounds

    with ThreadPoolExecutor(max_workers=4) as pool:
        writer = pool.submit(upsert_more)
        searchers = [pool.submit(search_until_done, t) for t in range(3)]
        writer.result()
        assert all(s.result() >= 3 for s in searchers)
    assert len(col) == 6000
    assert col.stats()["segments"] >= 2
    exact_ids = np.concatenate([np.arange(2000), np.arange(10_000, 14_000)])
    current = np.concatenate([first, more])
    for i in range(0, 4000, 500):
        current[i // 10 : i // 10 + 20] = more[i : i + 20]
    truth = exact_ids[stratavec.eval.ground_truth(current, queries, k=10).astype(np.int64)]
    ids, _ = col.search(queries, k=10, ef=200)
    hits = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), truth.tolist())])
    assert hits >= 0.9
    col.close()
