"""Evaluation: exact ground truth, Recall@K, and the benchmark runner behind ``stratavec bench``.

>>> import numpy as np
>>> from stratavec.eval import ground_truth, recall_at_k
>>> base = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32)
>>> truth = ground_truth(base, np.array([[0.9, 0.1]], dtype=np.float32), k=2)
>>> truth.tolist()
[[1, 0]]
>>> recall_at_k(np.array([[1, 3]]), truth)
0.5
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, Optional, Sequence, Union

import numpy as np

from . import _stratavec

__all__ = ["ground_truth", "recall_at_k", "bench", "DEFAULT_EFS"]

#: The ef values :func:`bench` sweeps when none are given (the CLI's default).
DEFAULT_EFS = (16, 32, 64, 128, 256, 512)


def ground_truth(
    base: Any,
    queries: Any,
    k: int = 10,
    metric: str = "l2",
    threads: Optional[int] = None,
) -> np.ndarray:
    """The exact ``k`` nearest base rows of every query, by brute force.

    Args:
        base: ``(n, dim)`` vectors (float32 C-contiguous is read in place; anything else is
            converted once).
        queries: ``(nq, dim)`` vectors, or one ``(dim,)`` vector.
        k: neighbours per query.
        metric: ``"l2"`` (squared Euclidean), ``"ip"`` (``1 - a·b``) or ``"cosine"``.
        threads: threads to use (default: all cores).

    Returns:
        A ``uint32`` array of shape ``(nq, min(k, n))``: row numbers into ``base``, nearest first;
        among equally distant rows the lower row comes first.

    Raises:
        ValueError: (``InvalidParameterError``, ``DimensionMismatchError``,
            ``InvalidVectorError``) for k = 0, mismatched widths, NaN or infinite values.
    """
    return _stratavec.ground_truth(base, queries, k, metric, threads)


def _as_ids(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise _stratavec.InvalidParameterError(
            f"invalid parameter `{name}`: expected a 2-d (n_queries, k) array, got shape {arr.shape}"
        )
    if arr.size and arr.dtype.kind not in "iu":
        raise _stratavec.InvalidParameterError(
            f"invalid parameter `{name}`: expected integer ids, got dtype {arr.dtype}"
        )
    return arr


def recall_at_k(found: Any, truth: Any, k: Optional[int] = None) -> float:
    """Mean Recall@K: for each query, the share of its first ``k`` true neighbours that are among
    the first ``k`` ids found.

    Args:
        found: ``(nq, >= k)`` integer ids, e.g. the ids :meth:`stratavec.Index.search` returned
            (its filler id ``2**64 - 1`` and negative ids such as FAISS's ``-1`` count as misses).
        truth: ``(nq, >= 1)`` true neighbours, nearest first, e.g. :func:`ground_truth` or a
            ``groundtruth.ivecs`` file's rows (non-negative).
        k: the K of Recall@K (default: the number of columns of ``found``). When ``truth`` has
            fewer than ``k`` columns, the denominator is its width.

    Returns:
        The mean over queries, between 0 and 1.

    Raises:
        ValueError: (``InvalidParameterError``) for k = 0, a different number of rows, negative or
            too large truth ids, non-integer arrays.
    """
    f = _as_ids(found, "found")
    t = _as_ids(truth, "truth")
    if k is None:
        k = f.shape[1]
    # Negative ids wrap to values >= 2**63, which no truth id (< 2**32) equals: misses.
    f = np.ascontiguousarray(f.astype(np.uint64, copy=False))
    if t.size and (t.min() < 0 or t.max() > np.iinfo(np.uint32).max):
        raise _stratavec.InvalidParameterError(
            "invalid parameter `truth`: ids must be between 0 and 2**32 - 1"
        )
    t = np.ascontiguousarray(t, dtype=np.uint32)
    return _stratavec.recall_at_k(f, t, k)


def bench(
    dataset: Union[str, "os.PathLike[str]", None] = None,
    *,
    base: Any = None,
    queries: Any = None,
    truth: Any = None,
    metric: Optional[str] = None,
    name: Optional[str] = None,
    k: int = 10,
    m: int = _stratavec.DEFAULT_M,
    ef_construction: int = _stratavec.DEFAULT_EF_CONSTRUCTION,
    ef: Iterable[int] = DEFAULT_EFS,
    quantization: Union[str, Sequence[str]] = "none",
    oversample: Iterable[int] = (),
    repeats: int = 1,
    warmup: int = 200,
    threads: Optional[int] = None,
    seed: Optional[int] = None,
) -> Dict[str, Any]:
    """Runs the crate's benchmark runner (what ``stratavec bench`` runs) and returns its report.

    Builds one index per quantization on the base vectors, sweeps ``ef``, and measures Recall@K,
    QPS on one thread (one query at a time) and on all threads, latency percentiles, build time
    and memory — the same code, and the same numbers, as the CLI.

    Args:
        dataset: a TEXMEX folder (``base.fvecs``, ``query.fvecs``, optional ``groundtruth.ivecs``
            and ``METRIC``). Or pass ``base`` and ``queries`` instead.
        base, queries: arrays (copied once into the runner).
        truth: optional ``(nq, >= k)`` true neighbours for the arrays; computed exactly when absent.
        metric: overrides the folder's ``METRIC`` (default ``"l2"`` when neither says).
        name: the dataset's name in the report (default: the folder's name, or ``"arrays"``).
        k: the K of Recall@K.
        m, ef_construction: the index's build parameters.
        ef: beam widths to sweep, one result each.
        quantization: ``"none"``, ``"sq8"``, ``"sq4"``, or a list of them (one index each).
        oversample: reranking factors to sweep for quantized indexes (empty: each codec's default).
        repeats: single-thread passes per ef (the fastest chunk of each counts).
        warmup: unmeasured queries before each measured pass.
        threads: threads for the build and the all-threads pass (default: all cores).
        seed: seed of the level draws.

    Returns:
        The report as a dict with the CLI's JSON shape: ``{"dataset": {...}, "machine": {...},
        "results": [{"config": {...}, "recall_at_k": ..., "qps_single_thread": ...,
        "latency_us": {...}, "build_seconds": ..., "index_bytes": ..., ...}, ...]}``.

    Raises:
        FileNotFoundError: (and other ``OSError``) when the folder or a file is missing.
        MalformedFileError: when a file is malformed.
        ValueError: for bad parameters.
    """
    if isinstance(quantization, str):
        quantization = [quantization]
    if truth is not None:
        t = _as_ids(truth, "truth")
        if t.size and t.min() < 0:
            raise _stratavec.InvalidParameterError("invalid parameter `truth`: negative id")
        truth = np.ascontiguousarray(t, dtype=np.uint32)
    text = _stratavec.bench_json(
        os.fspath(dataset) if dataset is not None else None,
        base,
        queries,
        truth,
        metric,
        name,
        k,
        m,
        ef_construction,
        [int(e) for e in ef],
        [str(q) for q in quantization],
        [int(o) for o in oversample],
        repeats,
        warmup,
        threads,
        seed,
    )
    return json.loads(text)
