"""stratavec: an embedded vector database engine — HNSW search in your process, no server.

>>> import numpy as np, stratavec
>>> index = stratavec.Index(dim=3, metric="l2")
>>> index.add(np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float32), ids=[10, 11, 12])
>>> ids, distances = index.search(np.array([0.1, 0.9, 0.0], dtype=np.float32), k=2)
>>> int(ids[0])
11
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d, stratavec.Collection(d, dim=3) as col:
...     col.upsert([1, 2], np.eye(3, dtype=np.float32)[:2])
...     col.flush()
...     print(len(col), 2 in col, col.stats()["segments"])
2 True 1

* :class:`Index` — build (``add``) and search (``search``) an HNSW index; batch searches use
  every core and release the GIL. ``save(path)`` writes it to one segment file;
  ``Index.open(path)`` maps such a file (read-only, opened in O(1)).
* :class:`Collection` — a durable, updatable set of vectors in a directory (write-ahead log,
  segment files, one writer, read-only opens beside it): ``upsert``, ``delete``, ``search``,
  ``flush``, ``compact``, ``close``.
* :func:`merge_top_k` — merges per-shard (or per-segment) results into one top-k.
* :mod:`stratavec.distributed` — sharded build and search on Ray (``pip install
  "stratavec[ray]"``; imported on demand).
* :mod:`stratavec.eval` — exact ground truth, Recall@K and the benchmark runner.
* :mod:`stratavec.ann_benchmarks` — the ann-benchmarks algorithm wrapper.

Where a search finds fewer than ``k`` neighbours, the remaining slots hold the id
:data:`MISSING_ID` (``2**64 - 1``) and the distance ``+inf``.

Errors: every exception derives from :class:`StratavecError`; bad arguments are also
``ValueError`` (:class:`DimensionMismatchError`, :class:`InvalidVectorError`,
:class:`InvalidParameterError`, :class:`DuplicateIdError`), unknown ids also ``KeyError``
(:class:`UnknownIdError`); I/O failures are the standard ``OSError`` subclasses
(``FileNotFoundError``, ``PermissionError``, …). See docs/python.md.
"""

from ._stratavec import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_M,
    MISSING_ID,
    CapacityExceededError,
    ClosedError,
    FieldTypeMismatchError,
    InvalidFilterError,
    InvalidPayloadError,
    Collection,
    CorruptFileError,
    DimensionMismatchError,
    DuplicateIdError,
    Index,
    InvalidParameterError,
    InvalidVectorError,
    LockedError,
    MalformedFileError,
    ReadOnlyError,
    RerankError,
    StratavecError,
    UnknownIdError,
    UnreachableRecallError,
    UnsupportedVersionError,
    __version__,
    merge_top_k,
)
from . import eval  # noqa: E402  (the submodule, importable as stratavec.eval)

__all__ = [
    "Index",
    "Collection",
    "merge_top_k",
    "eval",
    "MISSING_ID",
    "DEFAULT_M",
    "DEFAULT_EF_CONSTRUCTION",
    "DEFAULT_EF_SEARCH",
    "StratavecError",
    "DimensionMismatchError",
    "InvalidVectorError",
    "InvalidParameterError",
    "DuplicateIdError",
    "UnknownIdError",
    "CapacityExceededError",
    "MalformedFileError",
    "RerankError",
    "CorruptFileError",
    "UnsupportedVersionError",
    "UnreachableRecallError",
    "LockedError",
    "ReadOnlyError",
    "ClosedError",
    "FieldTypeMismatchError",
    "InvalidFilterError",
    "InvalidPayloadError",
    "__version__",
]
