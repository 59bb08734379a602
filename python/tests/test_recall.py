"""Recall on real data: wordllama-sent-256-ip (inner product, 256-d sentence embeddings)."""

from __future__ import annotations

import numpy as np

import stratavec


def test_wordllama_recall_at_10_ef_128(wordllama, wordllama_index):
    base, queries, truth, metric = wordllama
    index = wordllama_index
    assert len(index) == len(base) == 100_000
    ids, dist = index.search(queries, k=10, ef=128)
    # Against the dataset's own groundtruth.ivecs (exact top 100 per query; the first 10 count).
    recall = stratavec.eval.recall_at_k(ids, truth[:, :10], k=10)
    print(f"wordllama: Recall@10 at ef 128 = {recall:.4f}")
    assert recall >= 0.95
    # Distances are 1 - dot under ip, nearest first.
    q0 = queries[0]
    want = 1 - base[ids[0].astype(np.int64)] @ q0
    np.testing.assert_allclose(dist[0], want, rtol=1e-4, atol=1e-4)
    assert np.all(np.diff(dist, axis=1) >= 0)
    # One query at a time agrees with the batch; a quantized traversal is not needed here.
    for i in range(0, 1000, 250):
        np.testing.assert_array_equal(index.search(queries[i], k=10, ef=128)[0], ids[i])


def test_wordllama_filtered_recall(wordllama, wordllama_index):
    """A filter keeping every third id: recall against the exact filtered neighbours."""
    base, queries, _, metric = wordllama
    allowed = np.arange(0, len(base), 3, dtype=np.uint64)
    sub = stratavec.eval.ground_truth(base[::3], queries[:200], k=10, metric=metric)
    truth = allowed[sub.astype(np.int64)]
    ids, _ = wordllama_index.search(queries[:200], k=10, ef=128, filter=allowed)
    assert np.all(ids % 3 == 0)
    assert stratavec.eval.recall_at_k(ids, truth) >= 0.9
