"""Threads: searches from several Python threads at once while another adds, and the GIL is
released during builds and searches."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import stratavec
from stratavec import MISSING_ID


def test_searches_from_many_threads_while_another_adds(rng):
    dim = 32
    first = rng.standard_normal((4000, dim)).astype(np.float32)
    more = rng.standard_normal((8, 1000, dim)).astype(np.float32)
    queries = rng.standard_normal((50, dim)).astype(np.float32)
    index = stratavec.Index(dim, m=8, ef_construction=64)
    index.add(first)
    expected_first = stratavec.eval.ground_truth(first, queries, k=1)[:, 0]
    stop = threading.Event()

    def add_more():
        try:
            for i, batch in enumerate(more):
                index.add(batch, ids=np.arange(10_000 + i * 1000, 10_000 + (i + 1) * 1000))
        finally:
            stop.set()

    def search_until_done(t):
        rounds = 0
        while not stop.is_set() or rounds < 3:
            ids, dist = index.search(queries, k=5, ef=64, threads=1 + t % 2)
            assert ids.shape == (50, 5)
            assert np.all(ids != MISSING_ID)
            assert np.all(np.isfinite(dist)) and np.all(np.diff(dist, axis=1) >= 0)
            # Every hit is a real vector: either an original row or an added one.
            assert np.all((ids < 4000) | ((ids >= 10_000) & (ids < 18_000)))
            rounds += 1
        return rounds

    with ThreadPoolExecutor(max_workers=5) as pool:
        adder = pool.submit(add_more)
        searchers = [pool.submit(search_until_done, t) for t in range(4)]
        adder.result()
        rounds = [s.result() for s in searchers]
    assert all(r >= 3 for r in rounds)
    assert len(index) == 12_000
    # After the adds, the originals are still found exactly (they are still the nearest among
    # themselves, and the search keeps working).
    ids, _ = index.search(queries, k=1, ef=200, filter=np.arange(4000))
    assert np.mean(ids[:, 0] == expected_first) >= 0.95


def test_concurrent_single_query_searches_agree(small, small_index):
    _, queries = small
    want, _ = small_index.search(queries, k=10, ef=64)

    def one(i):
        return small_index.search(queries[i], k=10, ef=64)[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(one, list(range(len(queries))) * 5))
    for i, ids in enumerate(got):
        np.testing.assert_array_equal(ids, want[i % len(queries)])


def ticks_during(fn) -> int:
    """How often this thread gets to run (one 1 ms sleep each time) while `fn` runs in another
    thread, counted from the moment that thread is about to call it. (Also used by
    `python/benches/measure.py gil`.)"""
    started = threading.Event()
    done = threading.Event()
    ticks = 0

    def run():
        started.set()
        try:
            fn()
        finally:
            done.set()

    t = threading.Thread(target=run)
    t.start()
    started.wait()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    return ticks


def test_gil_is_released_while_building_and_searching(rng):
    """While a build or a search runs in another thread, this one keeps running. With the GIL
    held for the whole call it could not run at all until the call returns: at most a tick or two
    (a thread switch between `started.set()` and the call). How much it runs — a throughput, not
    a property — is measured by `python/benches/measure.py gil`, not asserted here."""
    data = rng.standard_normal((20_000, 64)).astype(np.float32)
    index = stratavec.Index(64, m=8, ef_construction=100)
    ticks = ticks_during(lambda: index.add(data))
    assert ticks >= 5, f"this thread ran {ticks} times during a 20,000-vector build"
    assert len(index) == 20_000
    queries = rng.standard_normal((3000, 64)).astype(np.float32)
    ticks = ticks_during(lambda: index.search(queries, k=10, ef=200, threads=1))
    assert ticks >= 5, f"this thread ran {ticks} times during 3,000 searches"
