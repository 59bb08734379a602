"""Type stubs of the native module ``stratavec._stratavec`` (re-exported by ``stratavec``)."""

import datetime
import os
from types import TracebackType
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Type, Union

import numpy as np
import numpy.typing as npt

__version__: str
MISSING_ID: int
"""The id in search results where fewer than k neighbours exist: ``2**64 - 1`` (distance +inf)."""
DEFAULT_M: int
DEFAULT_EF_CONSTRUCTION: int
DEFAULT_EF_SEARCH: int

_Path = Union[str, "os.PathLike[str]"]
_Metric = Literal["l2", "ip", "cosine"]
_Quantization = Literal[
    "none", "sq8", "sq4", "rabitq", "rabitq2", "rabitq3", "rabitq4", "rabitq5", "rabitq6",
    "rabitq7", "rabitq8",
]
_IdsLike = Union[npt.ArrayLike, Sequence[int], int]
_PayloadValue = Union[bool, int, float, str, List[str], "datetime.datetime", bytes]
_Payload = Dict[str, _PayloadValue]
_PayloadFilter = Union[Dict[str, Any], str]
"""A payload filter: ``{"tenant": 7, "date": {"gte": d}, "$or": [...]}`` (operators ``eq``,
``ne``, ``in``, ``nin``, ``lt``, ``lte``, ``gt``, ``gte``, ``exists``; ``$and``, ``$or``, ``$not``;
several keys are all required), or the text form ``"tenant = 7 and date >= @2026-01-01"``."""
_Filter = Union[npt.ArrayLike, Callable[[int], bool], _PayloadFilter]
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

class ClosedError(StratavecError, ValueError):
    """A Collection was used after close() (or after its with block)."""

class UnreachableRecallError(StratavecError, ValueError):
    """A recall target that no calibrated beam reaches; the message gives the best recall the
    calibration saw."""

class InvalidPayloadError(StratavecError, ValueError):
    """A payload is refused: a bad field name, a value of no payload type, NaN, too long, too
    many fields or bytes. Nothing of the write is stored."""

class FieldTypeMismatchError(StratavecError, ValueError):
    """A payload value's type is not its field's type (fixed by its first value); values are
    never converted. Nothing of the write is stored."""

class InvalidFilterError(StratavecError, ValueError):
    """A payload filter is refused: syntax, an unknown field, a value of the wrong type, too
    deep or too large; the message names the field."""

class Index:
    """An HNSW index: built in memory, or opened from a segment file (:meth:`Index.open`).

    Any number of Python threads may search one index at once, also while another thread adds:
    every build and search releases the GIL. Adds are serialised among themselves. An index
    opened from a file is read-only (:attr:`read_only`); :meth:`save` writes any index to a file.

    Args:
        dim: vector dimension (>= 1).
        metric: ``"l2"`` (squared Euclidean distance), ``"ip"`` (distance ``1 - a·b``) or
            ``"cosine"`` (vectors are normalised when added; distance ``1 - cos``).
        quantization: ``"none"`` (the graph is walked on f32 vectors), ``"sq8"`` or ``"sq4"``
            (walked on 8-/4-bit codes), ``"rabitq"`` (1-bit RaBitQ codes with error bounds, in
            one-visit blocks) or ``"rabitq2"`` … ``"rabitq8"`` (plus 1–7 extended bits per
            dimension); on codes, the best ``k × oversample`` candidates are reranked exactly
            from the f32 originals the index keeps.
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
        """``"none"``, ``"sq8"``, ``"sq4"``, ``"rabitq"`` or ``"rabitq2"`` … ``"rabitq8"``."""
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
            ReadOnlyError: the index was opened from a file.
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
        target_recall: Optional[float] = None,
    ) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
        """The ``k`` nearest neighbours of each query, nearest first.

        Args:
            queries: ``(nq, dim)`` array, or one ``(dim,)`` vector.
            k: neighbours per query.
            ef: beam width (default ``max(k, 64)``); larger is slower and more accurate.
            oversample: candidates reranked per result, ``k × oversample`` (default 1 for f32,
                2 for sq8, 3 for sq4, 1 for rabitq, 2 for rabitq2 … rabitq8).
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
            target_recall: the Recall@k to reach instead of a beam, in (0, 1] (not with ``ef``):
                the beam, and without ``oversample`` the oversampling, come from the index's
                calibration (:attr:`calibration`; ``docs/recall-target.md``).

        Returns:
            ``(ids, distances)``: ``uint64`` and ``float32`` arrays of shape ``(nq, w)``
            (``(w,)`` for a 1-d query), ``w = min(k, len(index))``: never wider than what a
            search can return, so a ``k`` far beyond the index's size costs nothing. Where a row
            has fewer than ``w`` neighbours (a selective filter, deleted vectors) it is padded
            with id :data:`MISSING_ID` (``2**64 - 1``) and distance ``+inf``.

        Raises:
            DimensionMismatchError: the last axis is not ``dim``.
            InvalidVectorError: a NaN or infinite component, or a zero query under cosine.
            InvalidParameterError: k, ef, oversample or threads < 1; ``target_recall`` outside
                (0, 1] or given with ``ef``.
            UnreachableRecallError: no calibrated beam reaches ``target_recall`` (the message
                gives the best recall the calibration saw).
        """
    @property
    def calibration(self) -> Optional[Dict[str, Any]]:
        """The calibration recall targets use (stored in the segment file, or measured by the
        last :meth:`calibrate` or bulk add): ``nodes``, ``live``, ``seed`` and ``curves``, one
        dict per (``selectivity``, ``k``, ``oversample``) with its ``samples``, ``beams``, mean
        ``recall`` and ``stderr``; ``None`` before any."""
    def calibrate(self) -> Optional[Dict[str, Any]]:
        """Calibrates the index now unless its calibration is current (a bulk add already
        does; the first ``target_recall`` search would otherwise). Returns :attr:`calibration`,
        or ``None`` for an index too small to sample."""
    def get(self, id: int) -> npt.NDArray[np.float32]:
        """The stored vector of ``id`` (unit length under cosine: vectors are normalised on add).

        Raises:
            UnknownIdError: (a KeyError) when the id is not in the index.
        """
    def memory(self) -> Dict[str, int]:
        """Bytes held by the index: ``codes_bytes``, ``originals_bytes``, ``graph_bytes``,
        ``ids_bytes``, ``fast_scan_bytes`` (the blocks of a segment saved with the fast-scan
        layout, else 0) and their sum ``total_bytes`` (allocated capacity included; for an opened
        index, the sizes of the file's sections)."""
    @property
    def read_only(self) -> bool:
        """Whether the index was opened from a segment file (and so cannot be added to)."""
    def delete(self, id: int) -> None:
        """Deletes ``id``: searches stop returning it at once (its node stays in the graph as a
        waypoint until the index is rebuilt); the id can be added again afterwards.

        Raises:
            UnknownIdError: (a KeyError) when the id is not in the index.
            ReadOnlyError: the index was opened from a file.
        """
    def save(self, path: _Path) -> int:
        """Writes the index to ``path`` as one segment file, atomically (a temporary file in the
        same folder, fsync, rename, fsync of the folder), with the GIL released. Adds wait while
        it runs; searches don't.

        Returns:
            The file's size in bytes.

        Raises:
            OSError: (its errno subclass, with ``filename``) when the file cannot be written.
        """
    @staticmethod
    def open(path: _Path, mmap: bool = True) -> "Index":
        """Opens a segment file (written by :meth:`save`, a collection, or ``stratavec build``).

        With ``mmap=True`` the file is mapped, not read: opening costs the same for any file
        size and memory holds only the pages searches touch. With ``mmap=False`` it is read into
        memory. Either way the index is read-only and searches exactly like the saved one. The
        header, section table and sizes are checked on open; :meth:`verify` checks the rest.

        Raises:
            FileNotFoundError: (or another OSError) when the file cannot be opened.
            CorruptFileError: not a segment file, or a damaged one.
            UnsupportedVersionError: written in a format version this build cannot read.
        """
    def verify(self) -> None:
        """Checks an opened index completely: every section checksum, every link, the id index
        (reads the whole file). An index built in memory has nothing to check.

        Raises:
            CorruptFileError: naming the file and the first problem found.
        """
    def info(self) -> Optional[Dict[str, Any]]:
        """What the file behind an opened index holds, or ``None`` for an index built in memory:
        ``path``, ``format_version``, ``file_bytes``, ``nodes`` (rows, deleted ones included),
        ``live``, ``deleted``, ``max_level`` and ``sections`` (a list of dicts ``name``,
        ``offset``, ``len``, ``crc32c``; names ``meta``, ``vectors``, ``codes``, ``level0``,
        ``upper_offsets``, ``upper_links``, ``labels``, ``id_keys``, ``id_slots``,
        ``tombstones``)."""

class Collection:
    """A durable, updatable set of vectors in a directory.

    Upserts and deletes go to a write-ahead log (fsynced by default) and an in-memory segment
    that is sealed into immutable segment files; a manifest, replaced atomically, names the live
    files. After a crash, opening it again brings back every acknowledged write.

    One writer at a time: a second ``Collection(path)`` on the same directory, in this process or
    another, raises :class:`LockedError` until the first is closed.
    :meth:`Collection.open_read_only` opens beside a writer and sees the last flushed state
    (:meth:`refresh` catches up). Searches run on a snapshot and never wait for writes; every
    call releases the GIL.

    :meth:`close` (or leaving a ``with`` block) makes the writes durable, releases the writer
    lock, and makes every later call raise :class:`ClosedError`.

    Args:
        path: the directory (created with the collection when absent).
        dim: vector dimension; required to create a collection, optional when one exists (read
            from its manifest; must match when given).
        metric: ``"l2"`` (the default when creating), ``"ip"`` or ``"cosine"``; an existing
            collection keeps its own (must match when given).
        quantization: ``"none"`` (default), ``"sq8"``, ``"sq4"``, ``"rabitq"`` or
            ``"rabitq2"`` … ``"rabitq8"`` for the sealed segments.
            Creation only, like ``m``, ``ef_construction`` and ``seed``: an existing collection
            keeps its stored options.
        m: links per node (default 16).
        ef_construction: beam width while inserting (default 200).
        seed: seed of the level draws.
        durability: ``"sync"`` (every write fsynced before it returns) or ``"buffered"`` (fsynced
            by :meth:`sync`, :meth:`flush` and :meth:`close`; a crash may lose the last writes).
        seal_rows: rows of the in-memory segment at which it is sealed into a file (100,000).
        compact_deleted_fraction: fraction of deleted or superseded rows past which
            :meth:`flush` compacts (0.2); ``None`` never compacts on its own.

    Raises:
        InvalidParameterError: ``dim`` missing for a new collection, ``dim`` or ``metric``
            different from the stored ones, bad option values.
        LockedError: another writer holds the collection.
        CorruptFileError, UnsupportedVersionError, OSError: damaged, newer or unreadable files.
    """

    def __init__(
        self,
        path: _Path,
        dim: Optional[int] = None,
        metric: Optional[_Metric] = None,
        quantization: Optional[_Quantization] = None,
        m: Optional[int] = None,
        ef_construction: Optional[int] = None,
        seed: Optional[int] = None,
        durability: Literal["sync", "buffered"] = "sync",
        seal_rows: int = 100_000,
        compact_deleted_fraction: Optional[float] = 0.2,
    ) -> None: ...
    @staticmethod
    def open_read_only(path: _Path) -> "Collection":
        """Opens the collection in ``path`` for reading only, beside a writer if there is one.
        It sees the writer's last flush; :meth:`refresh` catches up. Writes raise
        :class:`ReadOnlyError`.

        Raises:
            FileNotFoundError: there is no collection in ``path``.
        """
    @property
    def path(self) -> str:
        """The collection's directory."""
    @property
    def dim(self) -> int:
        """Vector dimension."""
    @property
    def metric(self) -> _Metric:
        """Distance metric."""
    @property
    def quantization(self) -> _Quantization:
        """How sealed segments store vectors for the traversal."""
    @property
    def m(self) -> int:
        """Links per node on the upper levels."""
    @property
    def ef_construction(self) -> int:
        """Beam width while inserting."""
    @property
    def durability(self) -> Literal["sync", "buffered"]:
        """When writes are fsynced."""
    @property
    def read_only(self) -> bool:
        """Whether it was opened with :meth:`open_read_only`."""
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
    def __len__(self) -> int:
        """Number of live vectors."""
    def __contains__(self, id: object) -> bool:
        """Whether ``id`` is present (False for anything that is not a valid id)."""
    def upsert(
        self,
        ids: _IdsLike,
        vectors: npt.ArrayLike,
        threads: Optional[int] = None,
        payloads: Optional[Sequence[Optional[_Payload]]] = None,
    ) -> None:
        """Inserts or replaces vectors: a ``(n, dim)`` array with ``n`` ids, or one ``(dim,)``
        vector with one id. Atomic (after a crash the whole batch is back or none of it); when
        an id appears twice, the last row wins. In the log (fsynced under ``"sync"``) and visible
        to searches when this returns.

        ``payloads``: one dict per row (field → ``bool``, ``int``, ``float``, ``str``, list of
        ``str``, ``datetime`` — naive ones are UTC — or ``bytes``, stored but not indexed), or
        ``None`` for a row without one. A field's type is fixed by its first value; an upsert
        replaces the id's whole payload.

        Raises:
            DimensionMismatchError, InvalidVectorError, InvalidParameterError: as
                :meth:`Index.add`; nothing is written then.
            InvalidPayloadError, FieldTypeMismatchError: a bad payload, naming the field;
                nothing is written then.
            ReadOnlyError: opened with :meth:`open_read_only`.
        """
    def payload(self, id: int) -> _Payload:
        """The payload of ``id`` (``{}`` when stored without one); timestamps are UTC
        ``datetime``s.

        Raises:
            UnknownIdError: (a KeyError) when it is absent or deleted.
        """
    def schema(self) -> Dict[str, str]:
        """The payload fields and their types: ``"int"``, ``"float"``, ``"bool"``,
        ``"keyword"``, ``"keywords"``, ``"timestamp"`` or ``"bytes"``."""
    def delete(self, ids: _IdsLike) -> int:
        """Deletes ``ids`` (absent ones are ignored); returns how many were present.

        Raises:
            ReadOnlyError: opened with :meth:`open_read_only`.
        """
    def get(self, id: int, with_payload: bool = False) -> Any:
        """The stored vector of ``id`` (unit length under cosine); with ``with_payload=True``,
        the pair ``(vector, payload)``.

        Raises:
            UnknownIdError: (a KeyError) when it is absent or deleted.
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
        target_recall: Optional[float] = None,
        with_payload: bool = False,
    ) -> Any:
        """The ``k`` nearest neighbours of each query across every segment, nearest first: the
        same arguments, results and errors as :meth:`Index.search` (deleted and superseded rows
        never come back; per-segment results are merged with :func:`merge_top_k`). The arrays
        are ``min(k, len(collection))`` wide, ``len`` taken when the call starts. Runs on a
        snapshot and never waits for writers.

        ``filter`` may be a payload filter (a dict or its text form, see ``_PayloadFilter``):
        the library compiles it into the exact set of matching rows per segment and returns
        ``min(k, matches)`` hits per query. ``with_payload=True`` returns
        ``(ids, distances, payloads)``, ``payloads`` holding for each query the list of its hits'
        payload dicts (``None`` for filler ids).

        Raises:
            InvalidFilterError: a payload filter on an unknown field, with a value of the wrong
                type, too deep or too large (the message names the field)."""
    def flush(self) -> None:
        """Seals the in-memory segment into a segment file, commits a new manifest, empties the
        log; then compacts past ``compact_deleted_fraction``. Read-only opens see the state
        from here on (after :meth:`refresh`)."""
    def compact(self) -> None:
        """Seals, then rewrites every segment into one over the live rows (rebuilding the
        graph). Writes wait while it runs; searches don't."""
    def sync(self) -> None:
        """Makes every acknowledged write durable now (an fsync of the log)."""
    def verify(self) -> None:
        """Checks every sealed segment completely.

        Raises:
            CorruptFileError: naming the file and the problem.
        """
    def refresh(self) -> None:
        """For a read-only open: loads what a writer flushed since. Does nothing for a writer."""
    def stats(self) -> Dict[str, Any]:
        """``live``, ``deleted`` (stored until compaction), ``segments``, ``unsealed``,
        ``segment_bytes``, ``wal_bytes``, ``generation`` (0 for a read-only open) and
        ``quality`` (:meth:`quality`, or ``None``)."""
    def monitor(
        self,
        sample_rate: float = 0.001,
        max_cpu_share: float = 0.02,
        window: int = 1000,
        min_samples: int = 200,
        correct: bool = True,
        seed: Optional[int] = None,
    ) -> None:
        """Starts measuring search quality live (replacing a monitor already running): a seeded
        fraction ``sample_rate`` of the searches is recomputed exactly by a background thread
        held to ``max_cpu_share`` of one core, for a rolling Recall@k per recall target with a
        95 % interval, latency percentiles and the beams used (:meth:`quality`). With
        ``correct``, a target whose interval leaves it (on at least ``min_samples`` of the last
        ``window`` samples) gets its beams corrected. Searches with a filter or a reranker are
        timed, not sampled.

        Raises:
            InvalidParameterError: ``sample_rate`` or ``max_cpu_share`` outside (0, 1],
                ``window`` or ``min_samples`` < 1, or ``min_samples`` > ``window``.
        """
    def stop_monitor(self) -> None:
        """Stops the quality monitor; does nothing when none runs."""
    def quality(self) -> Optional[Dict[str, Any]]:
        """What the monitor measured (``None`` when none runs): ``searches``, ``sampled``,
        ``measured``, ``dropped``, ``pending``, ``latency_us`` (``p50``, ``p90``, ``p99``,
        ``p999``, ``max``), ``targets`` (one dict per recall target — ``target`` ``None`` for
        searches that gave ``ef`` — with ``samples``, ``recall``, ``low``, ``high``,
        ``mean_beam``, ``beam_factor``, ``corrections``), ``deleted_fraction``,
        ``suggest_compaction`` and ``events`` (the corrections, in words)."""
    def close(self) -> None:
        """Makes every acknowledged write durable, waits for calls running in other threads,
        releases the writer lock and the mapped files. Unflushed rows stay in the log and come
        back on the next open. Later calls raise :class:`ClosedError`; closing again does
        nothing."""
    def __enter__(self) -> "Collection": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

def merge_top_k(
    ids_list: Sequence[npt.ArrayLike],
    distances_list: Sequence[npt.ArrayLike],
    k: int,
) -> Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
    """Merges per-shard (or per-segment) search results into the best ``k`` per query with the
    crate's ``stratavec::merge_top_k`` (what :class:`Collection` uses across its segments): an
    id in several lists is kept once with its smallest distance, ties go to the smaller id,
    :data:`MISSING_ID` filler is ignored.

    Args:
        ids_list: uint64 arrays, each ``(nq, k_i)`` (or ``(k_i,)`` for one query).
        distances_list: the matching float32 arrays, same shapes.
        k: neighbours per query in the result.

    Returns:
        ``(ids, distances)`` of shape ``(nq, w)`` (``(w,)`` when every input is 1-d),
        ``w = min(k, the inputs' columns added up)``: never wider than what can be returned;
        padded with :data:`MISSING_ID` / ``+inf`` where a row has fewer than ``w`` distinct
        ids.
    """

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
