"""Type stubs of the native module ``stratavec._stratavec`` (re-exported by ``stratavec``)."""

from typing import Any, Callable, Dict, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
MISSING_ID: int
"""The id in search results where fewer than k neighbours exist: ``2**64 - 1`` (distance +inf)."""
DEFAULT_M: int
DEFAULT_EF_CONSTRUCTION: int
DEFAULT_EF_SEARCH: int

_Metric = Literal["l2", "ip", "cosine"]
_Quantization = Literal["none", "sq8", "sq4"]
_IdsLike = Union[npt.ArrayLike, Sequence[int], int]
_Filter = Union[npt.ArrayLike, Callable[[int], bool]]
_Reranker = Callable[
    [npt.NDArray[np.float32], npt.NDArray[np.uint64], npt.NDArray[np.float32]], npt.ArrayLike
]

class StratavecError(Exception):
    """Base class of every error stratavec raises (except OSError for I/O)."""

class DimensionMismatchError(StratavecError, ValueError):
    """A vector's or an array's length does not match the index's dimension."""

class InvalidVectorError(StratavecError, ValueError):
    """A vector holds NaN or infinity, or is zero under cosine."""

class InvalidParameterError(StratavecError, ValueError):
    """A parameter is out of range (k = 0, m < 2, threads = 0, ...)."""

class DuplicateIdError(StratavecError, ValueError):
    """An id was added that the index already holds (ids are never replaced)."""

class UnknownIdError(StratavecError, KeyError):
    """An id was asked for that the index does not hold."""

class CapacityExceededError(StratavecError):
    """The index cannot hold more vectors (at most 2**32 - 1)."""

class MalformedFileError(StratavecError, ValueError):
    """A data file (fvecs, ivecs, npy, METRIC) is malformed."""

class RerankError(StratavecError):
    """A reranker failed without a Python exception of its own."""

class CorruptFileError(StratavecError):
    """A stratavec file fails a check: bad magic, checksum mismatch, out-of-bounds offset."""

class UnsupportedVersionError(StratavecError):
    """A stratavec file was written in a format version this build cannot read."""

class LockedError(StratavecError):
    """Another writer holds the collection's lock."""

class ReadOnlyError(StratavecError):
    """A write was asked of something opened read-only."""

class Index:
    """An HNSW index held in memory.

    Any number of Python threads may search one index at once, also while another thread adds:
    every build and search releases the GIL. Adds are serialised among themselves.

    Args:
        dim: vector dimension (>= 1).
        metric: ``"l2"`` (squared Euclidean distance), ``"ip"`` (distance ``1 - a·b``) or
            ``"cosine"`` (vectors are normalised when added; distance ``1 - cos``).
        quantization: ``"none"`` (the graph is walked on f32 vectors), ``"sq8"`` or ``"sq4"``
            (walked on 8-/4-bit codes; the best ``k × oversample`` candidates are reranked
            exactly from the f32 originals the index keeps).
        m: links per node on the upper levels (level 0 keeps ``2·m``), 2..=64.
        ef_construction: beam width while inserting.
        seed: seed of the level draws (the same seed and insert order give the same graph
            levels); ``None`` for the library's fixed default.

    Raises:
        InvalidParameterError: (a ValueError) for dim = 0, m out of range, an unknown metric or
            quantization name.
    """

    def __init__(
        self,
        dim: int,
        metric: _Metric = "l2",
        quantization: _Quantization = "none",
        m: int = 16,
        ef_construction: int = 200,
        seed: Optional[int] = None,
    ) -> None: ...
    @property
    def dim(self) -> int:
        """Vector dimension."""
    @property
    def metric(self) -> _Metric:
        """Distance metric: ``"l2"``, ``"ip"`` or ``"cosine"``."""
    @property
    def quantization(self) -> _Quantization:
        """``"none"``, ``"sq8"`` or ``"sq4"``."""
    @property
    def m(self) -> int:
        """Links per node on the upper levels."""
    @property
    def ef_construction(self) -> int:
        """Beam width while inserting."""
    @property
    def seed(self) -> int:
        """Seed of the level draws."""
    def __len__(self) -> int:
        """Number of vectors."""
    def __contains__(self, id: object) -> bool:
        """Whether ``id`` is in the index (False for anything that is not a valid id)."""
    def add(
        self,
        vectors: npt.ArrayLike,
        ids: Optional[_IdsLike] = None,
        threads: Optional[int] = None,
    ) -> None:
        """Adds vectors: a ``(n, dim)`` array, one row each, or one ``(dim,)`` vector.

        A C-contiguous float32 array is read in place (no copy); other dtypes and layouts are
        converted once. Linking runs in parallel with the GIL released.

        Args:
            vectors: the vectors.
            ids: one non-negative integer id per row (any integer array, list or scalar);
                default ``len(self), len(self) + 1, ...``.
            threads: threads to link on (default: all cores).

        Raises:
            DimensionMismatchError: the last axis is not ``dim`` (message names the expected shape).
            InvalidVectorError: a NaN or infinite component, or a zero vector under cosine.
            DuplicateIdError: an id is already in the index or repeated in ``ids``; nothing is
                added then.
            InvalidParameterError: a wrong number of ids, negative ids, the reserved id
                ``2**64 - 1`` (:data:`MISSING_ID`), threads = 0.
        """
    def search(
        self,
        queries: npt.ArrayLike,
        k: int = 10,
        ef: Optional[int] = None,
        oversample: Optional[int] = None,
        filter: Optional[_Filter] = None,
        reranker: Optional[_Reranker] = None,
        threads: Optional[int] = None,
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """The ``k`` nearest neighbours of each query, nearest first.

        Args:
            queries: ``(nq, dim)`` array, or one ``(dim,)`` vector.
            k: neighbours per query.
            ef: beam width (default ``max(k, 64)``); larger is slower and more accurate.
            oversample: candidates reranked per result, ``k × oversample`` (default 1 for f32,
                2 for sq8, 3 for sq4).
            filter: only ids that pass are returned. Either an array (or list/set) of allowed ids
                — turned into a hash set once, checked without the GIL — or a callable
                ``(id: int) -> bool``, which re-acquires the GIL on every call (~0.2 µs each,
                and the batch then runs on the calling thread only, since the calls are
                serialised anyway; prefer an array). An exception raised by the callable stops
                the filtering and is re-raised.
            reranker: a callable ``(query, ids, distances) -> new_distances``: it gets the query
                (float32, as passed), the ``k × oversample`` candidate ids (uint64) and their
                search distances (float32), and returns one new distance per candidate
                (array-like); the candidates are reordered by it (stable; NaN last) and the first
                ``k`` kept. Its exceptions propagate unchanged.
            threads: threads for a batch (default: all cores; 1 searches in the calling thread).

        Returns:
            ``(ids, distances)``: ``uint64`` and ``float32`` arrays of shape ``(nq, k)`` (``(k,)``
            for a 1-d query). Where fewer than ``k`` neighbours exist (small index, selective
            filter) the row is padded with id :data:`MISSING_ID` (``2**64 - 1``) and distance
            ``+inf``.

        Raises:
            DimensionMismatchError: the last axis is not ``dim``.
            InvalidVectorError: a NaN or infinite component, or a zero query under cosine.
            InvalidParameterError: k, ef, oversample or threads < 1.
        """
    def get(self, id: int) -> npt.NDArray[np.float32]:
        """The stored vector of ``id`` (unit length under cosine: vectors are normalised on add).

        Raises:
            UnknownIdError: (a KeyError) when the id is not in the index.
        """
    def memory(self) -> Dict[str, int]:
        """Bytes held by the index: ``codes_bytes``, ``originals_bytes``, ``graph_bytes``,
        ``ids_bytes`` and their sum ``total_bytes`` (allocated capacity included)."""

def ground_truth(
    base: npt.ArrayLike,
    queries: npt.ArrayLike,
    k: int = 10,
    metric: str = "l2",
    threads: Optional[int] = None,
) -> npt.NDArray[np.uint32]: ...
def recall_at_k(
    found: npt.NDArray[np.uint64], truth: npt.NDArray[np.uint32], k: int
) -> float: ...
def bench_json(
    dataset: Optional[str],
    base: Optional[npt.ArrayLike],
    queries: Optional[npt.ArrayLike],
    truth: Optional[npt.NDArray[np.uint32]],
    metric: Optional[str],
    name: Optional[str],
    k: int,
    m: int,
    ef_construction: int,
    efs: Sequence[int],
    quantizations: Sequence[str],
    oversamples: Sequence[int],
    repeats: int,
    warmup: int,
    threads: Optional[int],
    seed: Optional[int],
) -> str: ...
def _raise_error(kind: str) -> None: ...
