"""The ann-benchmarks algorithm wrapper: ``stratavec.ann_benchmarks.Stratavec``.

ann-benchmarks (https://github.com/erikbern/ann-benchmarks) constructs the class with the
dataset's metric and one ``arg_groups`` entry of its ``config.yml``, calls ``fit(X)`` once,
then, for each ``query_args`` entry, ``set_query_arguments(...)`` followed by ``query(v, n)`` per
query (or ``batch_query(X, n)`` + ``get_batch_results()`` in ``--batch`` mode). A ``config.yml``
for it is in docs/python.md.

Inside ann-benchmarks the class derives from its ``BaseANN``; outside it (for a quick local run)
it works on its own::

    algo = Stratavec("angular", {"M": 16, "efConstruction": 200})
    algo.fit(X)
    algo.set_query_arguments(64)
    ids = algo.query(X[0], 10)
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ._stratavec import MISSING_ID, Index

try:  # pragma: no cover - only inside an ann-benchmarks checkout
    from ann_benchmarks.algorithms.base.module import BaseANN as _Base
except Exception:  # noqa: BLE001 - any failure means "not inside ann-benchmarks"
    _Base = object

__all__ = ["Stratavec"]

_METRICS = {
    "euclidean": "l2",
    "angular": "cosine",
    "ip": "ip",
    "dot": "ip",
    "l2": "l2",
    "cosine": "cosine",
}


class Stratavec(_Base):  # type: ignore[misc, valid-type]
    """stratavec's HNSW index behind the ann-benchmarks ``BaseANN`` interface.

    Args:
        metric: ann-benchmarks' metric name: ``"euclidean"`` (-> ``"l2"``), ``"angular"``
            (-> ``"cosine"``), or ``"ip"``.
        method_param: build parameters: ``M`` (default 16), ``efConstruction`` (default 200),
            ``quantization`` (``"none"``, ``"sq8"``, ``"sq4"``; default ``"none"``).
    """

    def __init__(self, metric: str, method_param: Optional[Dict[str, Any]] = None):
        if metric not in _METRICS:
            raise ValueError(f"unsupported metric {metric!r}; expected one of {sorted(_METRICS)}")
        self.metric = _METRICS[metric]
        self.method_param = dict(method_param or {})
        self.m = int(self.method_param.get("M", 16))
        self.ef_construction = int(self.method_param.get("efConstruction", 200))
        self.quantization = str(self.method_param.get("quantization", "none"))
        self.index: Optional[Index] = None
        self.ef: Optional[int] = None
        self.oversample: Optional[int] = None
        self.res: Optional[np.ndarray] = None
        self.name = str(self)

    def fit(self, X: np.ndarray) -> None:
        """Builds the index on ``X`` (rows get ids 0..n-1), on all cores."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        self.index = Index(
            X.shape[1],
            metric=self.metric,
            quantization=self.quantization,
            m=self.m,
            ef_construction=self.ef_construction,
        )
        self.index.add(X)

    def set_query_arguments(self, ef: int, oversample: Optional[int] = None) -> None:
        """Sets the search beam width (and, for a quantized index, the reranking factor)."""
        self.ef = int(ef)
        self.oversample = None if oversample is None else int(oversample)
        self.name = str(self)

    def _index(self) -> Index:
        if self.index is None:
            raise RuntimeError("call fit(X) before querying")
        return self.index

    def query(self, v: np.ndarray, n: int) -> np.ndarray:
        """The ids of the ``n`` nearest neighbours of one vector (one thread), without filler."""
        ids, _ = self._index().search(v, k=n, ef=self.ef, oversample=self.oversample)
        return ids[ids != MISSING_ID]

    def batch_query(self, X: np.ndarray, n: int) -> None:
        """Searches all rows of ``X`` at once on all cores; read with :meth:`get_batch_results`."""
        ids, _ = self._index().search(X, k=n, ef=self.ef, oversample=self.oversample)
        self.res = ids

    def get_batch_results(self) -> np.ndarray:
        """The ``(nq, n)`` ids of the last :meth:`batch_query`."""
        if self.res is None:
            raise RuntimeError("call batch_query first")
        return self.res

    def get_memory_usage(self) -> Optional[float]:
        """The index's memory in kilobytes (vectors, codes, links, id map), or 0 before ``fit``."""
        if self.index is None:
            return 0.0
        return self.index.memory()["total_bytes"] / 1024.0

    def get_additional(self) -> Dict[str, Any]:
        """Extra fields ann-benchmarks stores with each run."""
        return {"quantization": self.quantization}

    def done(self) -> None:
        """Frees the index."""
        self.index = None
        self.res = None

    def __str__(self) -> str:
        extra = "" if self.oversample is None else f", oversample={self.oversample}"
        return (
            f"stratavec(M={self.m}, efConstruction={self.ef_construction}, "
            f"quantization={self.quantization}, ef={self.ef}{extra})"
        )
