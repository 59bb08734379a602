"""The ann-benchmarks algorithm wrapper: ``stratavec.ann_benchmarks.Stratavec``.

ann-benchmarks (https://github.com/erikbern/ann-benchmarks) constructs the class with the
dataset's metric and one ``arg_groups`` entry of its ``config.yml``, calls ``fit(X)`` once,
then, for each combination of the ``query_args`` lists (their Cartesian product),
``set_query_arguments(*combination)`` followed by ``query(v, n)`` per query (or
``batch_query(X, n)`` + ``get_batch_results()`` in ``--batch`` mode). So ``query_args:
[[10, 20, 40]]`` calls ``set_query_arguments(10)``, ``(20)``, ``(40)``, and ``query_args:
[[10, 20, 40], [3]]`` calls ``set_query_arguments(10, 3)``, ``(20, 3)``, ``(40, 3)``. A
``config.yml`` for it is in docs/python.md; arguments of another shape are refused with a
message giving this form.

Inside ann-benchmarks the class derives from its ``BaseANN``; outside it (for a quick local run)
it works on its own::

    algo = Stratavec("angular", {"M": 16, "efConstruction": 200})
    algo.fit(X)
    algo.set_query_arguments(64)
    ids = algo.query(X[0], 10)
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Optional

import numpy as np

from ._stratavec import MISSING_ID, Index

try:  # pragma: no cover - only inside an ann-benchmarks checkout
    from ann_benchmarks.algorithms.base.module import BaseANN as _Base
except Exception:  # noqa: BLE001 - any failure means "not inside ann-benchmarks"
    _Base = object

__all__ = ["Stratavec"]

_QUERY_ARGS_FORM = (
    "set_query_arguments takes integers: (ef) or (ef, oversample). In config.yml, give "
    "query_args as a list of lists, one per argument, e.g. query_args: [[10, 20, 40, 80]] or "
    "query_args: [[10, 20, 40, 80], [3]] (ann-benchmarks calls set_query_arguments(*c) for each "
    "combination c of the lists)"
)
_QUANTIZATIONS = ("none", "sq8", "sq4", "rabitq") + tuple(f"rabitq{b}" for b in range(2, 9))


def _positive_int(name: str, value: Any, form: str) -> int:
    """``value`` as an int >= 1, or a TypeError/ValueError naming ``form``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}). {form}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}. {form}")
    return int(value)


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
            ``quantization`` (``"none"``, ``"sq8"``, ``"sq4"``, ``"rabitq"``, ``"rabitq2"`` …
            ``"rabitq8"``; default ``"none"``).
    """

    def __init__(self, metric: str, method_param: Optional[Dict[str, Any]] = None):
        if metric not in _METRICS:
            raise ValueError(f"unsupported metric {metric!r}; expected one of {sorted(_METRICS)}")
        self.metric = _METRICS[metric]
        form = (
            "Expected Stratavec(metric, {'M': 16, 'efConstruction': 200, 'quantization': 'sq4'}) "
            "(every key optional); in config.yml: base_args: ['@metric'] and arg_groups: "
            "[{M: 16, efConstruction: 200, quantization: sq4}]"
        )
        if method_param is not None and not isinstance(method_param, dict):
            raise TypeError(f"method_param must be a dict, got {method_param!r}. {form}")
        self.method_param = dict(method_param or {})
        unknown = sorted(set(self.method_param) - {"M", "efConstruction", "quantization"})
        if unknown:
            raise ValueError(f"unknown build parameters {unknown}. {form}")
        self.m = _positive_int("M", self.method_param.get("M", 16), form)
        self.ef_construction = _positive_int(
            "efConstruction", self.method_param.get("efConstruction", 200), form
        )
        self.quantization = self.method_param.get("quantization", "none")
        if self.quantization not in _QUANTIZATIONS:
            raise ValueError(
                f"quantization must be one of {list(_QUANTIZATIONS)}, got {self.quantization!r}. "
                f"{form}"
            )
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
        """Sets the search beam width (and, for a quantized index, the reranking factor).

        Raises:
            TypeError, ValueError: an argument that is not an integer >= 1 (a list, as a
                ``query_args`` of the wrong shape passes it, included), with the form expected.
        """
        self.ef = _positive_int("ef", ef, _QUERY_ARGS_FORM)
        self.oversample = (
            None if oversample is None else _positive_int("oversample", oversample, _QUERY_ARGS_FORM)
        )
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
        """The ``(nq, min(n, len(index)))`` ids of the last :meth:`batch_query` (filler
        :data:`~stratavec.MISSING_ID` where a row has fewer)."""
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
