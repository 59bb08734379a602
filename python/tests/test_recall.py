"""Recall on real data: wordllama-sent-256-ip (inner product, 256-d sentence embeddings)."""

from __future__ import annotations

import numpy as np

import stratavec
from conftest import SUBSET


def test_wordllama_recall_at_10_ef_128(wordllama, wordllama_index):
    base, queries, _, metric = wordllama
    index = wordllama_index
    assert len(index) == SUBSET
    # The index holds the first SUBSET rows: its exact neighbours are computed on those rows.
    truth = stratavec.eval.ground_truth(base[:SUBSET], queries, k=10, metric=metric)
    ids, dist = index.search(queries, k=10, ef=128)
    recall = stratavec.eval.recall_at_k(ids, truth, k=10)
    print(f"wordllama ({SUBSET} base rows): Recall@10 at ef 128 = {recall:.4f}")
    assert recall >= 0.95
    # Distances are 1 - dot under ip, nearest first.
    q0 = queries[0]
    want = 1 - base[ids[0].astype(np.int64)] @ q0
    np.testing.assert_allclose(dist[0], want, rtol=1e-4, atol=1e-4)
    # One query at a time agrees with the batch.
    for i in range(0, 1000, 250):
        np.testing.assert_array_equal(index.search(queries[i], k=10, ef=128)[0], ids[i])
