"""Scale-out on Ray: a sharded build into segment files, and a sharded search over them.

stratavec's segment files are immutable and self-describing, so they are the unit of
distribution; Ray (``pip install "stratavec[ray]"``) does the scheduling, the data movement, the
placement and the restarts. Nothing here is a server or a protocol of its own.

* :func:`build_shards` assigns rows to ``num_shards`` shards by a stable hash of their id (or a
  function of yours), builds one index per shard in parallel Ray tasks, saves each as one segment
  file and then — only when every file is complete — writes a shard manifest (``shards.json``:
  shard → file, rows, bytes, SHA-256, index options, format versions), atomically.
* :class:`ShardedIndex` opens a manifest as Ray actors, each mapping its shard file with
  :meth:`stratavec.Index.open` (so an actor's memory is what its queries touch). ``search`` puts
  the query batch into Ray's object store once, asks one replica of every shard, and merges the
  per-shard top-k with :func:`stratavec.merge_top_k` (the crate's merge, which the
  :class:`~stratavec.Collection` uses across its segments). It returns what
  :meth:`stratavec.Index.search` returns.
* Failures: a failed build task is retried by Ray (``max_retries``); a crashed actor is restarted
  by Ray (``max_restarts``) and reopens its file, and the search retries the shard (another
  replica first) until ``retry_timeout``. A shard that stays down raises
  :class:`ShardUnavailableError` naming it, or — with ``allow_partial=True`` — the other shards'
  results come back with a :class:`PartialResultsWarning`.

The files must be readable at the same path on every node that runs an actor (a shared file
system, or the same files copied to each node). See docs/scale-out.md.

Ray is imported when a function of this module is first called, not when it is imported.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

import stratavec

__all__ = [
    "build_shards",
    "ShardedIndex",
    "ShardUnavailableError",
    "PartialResultsWarning",
    "read_manifest",
    "shard_of",
    "MANIFEST_NAME",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
]

MANIFEST_NAME = "shards.json"
"""The shard manifest's file name inside the output folder of :func:`build_shards`."""
MANIFEST_FORMAT = "stratavec-shards"
"""The manifest's ``format`` field."""
MANIFEST_VERSION = 1
"""The manifest format version this module writes and reads."""

_INDEX_OPTIONS = ("metric", "quantization", "m", "ef_construction", "seed")
_SHARD_FILE = "shard-{shard:05d}-of-{num_shards:05d}.svs"
_DEFAULT_CHUNK_ROWS = 262_144

PathLike = Union[str, "os.PathLike[str]"]


class ShardUnavailableError(stratavec.StratavecError):
    """A shard did not answer: its actors are dead (a missing or damaged file, restarts used up)
    or did not answer in time. ``shards`` lists the shard numbers, ``causes`` the reason each."""

    def __init__(self, message: str, shards: Sequence[int] = (), causes: Sequence[str] = ()):
        super().__init__(message)
        self.shards = list(shards)
        self.causes = list(causes)

    def __reduce__(self):
        return (type(self), (str(self), self.shards, self.causes))


class PartialResultsWarning(UserWarning):
    """A search with ``allow_partial=True`` answered without some shards."""


def _ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            'stratavec.distributed needs Ray: pip install "stratavec[ray]" (or pip install "ray[data]")'
        ) from e
    return ray


# --------------------------------------------------------------------------------------------
# Sharding


def _splitmix64(ids: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of each id (uint64 arithmetic, wrapping)."""
    x = np.array(ids, dtype=np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def shard_of(ids: Any, num_shards: int) -> np.ndarray:
    """The shard of each id under the default assignment: ``splitmix64(id) mod num_shards``.

    Stable across processes, machines and versions (it is recorded in the manifest as
    ``"splitmix64"``), and uniform for any id pattern (sequential ids spread evenly).

    >>> shard_of([0, 1, 2, 3, 4, 5, 6, 7], 4).tolist()
    [3, 1, 2, 1, 2, 2, 0, 3]
    """
    if num_shards < 1:
        raise stratavec.InvalidParameterError(f"num_shards must be at least 1, got {num_shards}")
    ids = np.asarray(ids)
    if ids.dtype.kind == "i" and ids.size and ids.min() < 0:
        raise stratavec.InvalidParameterError("ids must be non-negative")
    return (_splitmix64(ids) % np.uint64(num_shards)).astype(np.int64)


def _assign(ids: np.ndarray, num_shards: int, shard_fn: Optional[Callable]) -> np.ndarray:
    if shard_fn is None:
        return shard_of(ids, num_shards)
    shards = np.asarray(shard_fn(ids))
    if shards.shape != ids.shape or shards.dtype.kind not in "iu":
        raise stratavec.InvalidParameterError(
            f"shard_fn must return one integer shard per id: got dtype {shards.dtype}, "
            f"shape {shards.shape} for {ids.shape[0]} ids"
        )
    if shards.size and (shards.min() < 0 or shards.max() >= num_shards):
        raise stratavec.InvalidParameterError(
            f"shard_fn returned shards outside 0..{num_shards - 1}"
        )
    return shards.astype(np.int64)


def _vectors_from_arrow(col: Any, what: str) -> np.ndarray:
    """A pyarrow list / fixed-size-list / tensor column as an (n, dim) float32 array."""
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    n = len(col)
    if col.null_count:
        raise stratavec.InvalidParameterError(f"{what}: {col.null_count} null vectors")
    t = col.type
    if pa.types.is_fixed_size_list(t):
        dim = t.list_size
        values = col.flatten()
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        lengths = np.asarray(pa.compute.list_value_length(col))
        dim = int(lengths[0]) if n else 0
        if n and np.any(lengths != dim):
            raise stratavec.InvalidParameterError(
                f"{what}: vectors of different lengths ({lengths.min()} to {lengths.max()})"
            )
        values = col.flatten()
    elif isinstance(t, pa.ExtensionType) and hasattr(col, "to_numpy"):
        return np.require(col.to_numpy(), dtype=np.float32, requirements="CA")  # Ray's tensors
    else:
        raise stratavec.InvalidParameterError(
            f"{what}: the vector column must be a list or fixed-size list of numbers, got {t}"
        )
    values = values.to_numpy(zero_copy_only=False)
    return np.require(values.reshape(n, dim), dtype=np.float32, requirements="CA")


def _chunk_arrays(chunk: Any, id_column: str, vector_column: str) -> Tuple[np.ndarray, np.ndarray]:
    """(uint64 ids, float32 (n, dim) vectors) of one input chunk: a (ids, vectors) pair, a Parquet
    file path, a pyarrow Table, or a dict of NumPy columns (a block of a Ray Dataset)."""
    if isinstance(chunk, tuple):
        ids, vectors = chunk
    elif isinstance(chunk, (str, os.PathLike)):
        import pyarrow.parquet as pq

        table = pq.read_table(chunk, columns=[id_column, vector_column])
        ids = table.column(id_column).to_numpy()
        vectors = _vectors_from_arrow(table.column(vector_column), f"{chunk}: {vector_column!r}")
    elif isinstance(chunk, dict):
        for c in (id_column, vector_column):
            if c not in chunk:
                raise stratavec.InvalidParameterError(
                    f"the dataset has no column {c!r} (columns: {sorted(chunk)}); "
                    "pass id_column= / vector_column="
                )
        ids, vectors = chunk[id_column], chunk[vector_column]
        if isinstance(vectors, np.ndarray) and vectors.dtype == object:
            vectors = np.stack(vectors) if len(vectors) else np.zeros((0, 0), np.float32)
    else:
        import pyarrow as pa

        if not isinstance(chunk, pa.Table):
            raise stratavec.InvalidParameterError(f"cannot read rows from {type(chunk).__name__}")
        ids = chunk.column(id_column).to_numpy()
        vectors = _vectors_from_arrow(chunk.column(vector_column), repr(vector_column))
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise stratavec.InvalidParameterError(f"ids must be integers, got dtype {ids.dtype}")
    if ids.dtype.kind == "i" and ids.size and ids.min() < 0:
        raise stratavec.InvalidParameterError("ids must be non-negative")
    vectors = np.require(vectors, dtype=np.float32, requirements="CA")
    if vectors.ndim != 2 or vectors.shape[0] != ids.shape[0]:
        raise stratavec.InvalidParameterError(
            f"expected {ids.shape[0]} vectors (one per id) as an (n, dim) array, got shape {vectors.shape}"
        )
    return ids.astype(np.uint64), vectors


def _partition_chunk(chunk, num_shards, shard_fn, id_column, vector_column):
    """Ray task: splits one chunk by shard; one (ids, vectors) return per shard."""
    ids, vectors = _chunk_arrays(chunk, id_column, vector_column)
    shards = _assign(ids, num_shards, shard_fn)
    order = np.argsort(shards, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(shards, minlength=num_shards))])
    parts = tuple(
        (ids[order[bounds[s] : bounds[s + 1]]], vectors[order[bounds[s] : bounds[s + 1]]])
        for s in range(num_shards)
    )
    return parts[0] if num_shards == 1 else parts


def _sha256(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _build_shard(shard, num_shards, out_dir, options, threads, *parts):
    """Ray task: builds shard ``shard`` from its parts and saves it (atomically) as a segment
    file. Rows are sorted by id first, so the file does not depend on how the input was chunked.
    A retry rewrites the same file."""
    dims = {p[1].shape[1] for p in parts if p[1].ndim == 2 and p[1].shape[1] > 0}
    if len(dims) > 1:
        raise stratavec.InvalidParameterError(f"shard {shard}: vectors of dimensions {sorted(dims)}")
    if not dims:
        raise stratavec.InvalidParameterError(f"shard {shard}: cannot tell the vector dimension")
    dim = dims.pop()
    ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.uint64)
    vectors = (
        np.concatenate([p[1].reshape(-1, dim) for p in parts])
        if parts
        else np.zeros((0, dim), np.float32)
    )
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], np.ascontiguousarray(vectors[order])
    start, cpu_start = time.perf_counter(), time.process_time()
    index = stratavec.Index(dim, **options)
    if len(ids):
        index.add(vectors, ids=ids, threads=threads)
    build_seconds = time.perf_counter() - start
    build_cpu_seconds = time.process_time() - cpu_start
    name = _SHARD_FILE.format(shard=shard, num_shards=num_shards)
    path = Path(out_dir) / name
    size = index.save(path)
    info = stratavec.Index.open(path).info()
    return {
        "shard": shard,
        "file": name,
        "rows": int(len(ids)),
        "bytes": int(size),
        "sha256": _sha256(path),
        "segment_format_version": int(info["format_version"]),
        "build_seconds": round(build_seconds, 3),
        "build_cpu_seconds": round(build_cpu_seconds, 3),
        "built_on": socket.gethostname(),
        "dim": int(dim),
    }


def _write_atomic(path: Path, data: bytes) -> None:
    """Writes a temporary file beside ``path``, fsyncs it, renames it over ``path`` and fsyncs
    the folder: a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:16]}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunks(source: Any, ray, chunk_rows: int, id_column: str, vector_column: str):
    """The input as a list of chunks (or object refs to chunks) for the partition tasks, and a
    short description of the source for the manifest."""
    if isinstance(source, tuple) and len(source) == 2:
        ids, vectors = np.asarray(source[0]), source[1]
        vectors = np.require(vectors, dtype=np.float32, requirements="CA")
        if vectors.ndim != 2 or ids.ndim != 1 or len(ids) != len(vectors):
            raise stratavec.InvalidParameterError(
                f"source must be (ids, vectors) with ids (n,) and vectors (n, dim); got "
                f"{ids.shape} and {vectors.shape}"
            )
        refs = [
            ray.put((ids[i : i + chunk_rows], vectors[i : i + chunk_rows]))
            for i in range(0, max(len(ids), 1), chunk_rows)
        ]
        return refs, {"kind": "numpy", "rows": int(len(ids))}
    if isinstance(source, np.ndarray):
        return _chunks((np.arange(len(source), dtype=np.uint64), source), ray, chunk_rows, id_column, vector_column)
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if folder.is_dir():
            files = sorted(str(p) for p in folder.rglob("*.parquet"))
            if not files:
                raise FileNotFoundError(f"no *.parquet files in {folder}")
        elif folder.is_file():
            files = [str(folder)]
        else:
            raise FileNotFoundError(f"{folder} does not exist")
        return files, {"kind": "parquet", "path": str(folder), "files": len(files)}
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, (str, os.PathLike)) for s in source):
        return [str(s) for s in source], {"kind": "parquet", "files": len(source)}
    import ray.data

    if isinstance(source, ray.data.Dataset):
        refs = source.select_columns([id_column, vector_column]).to_numpy_refs()
        return refs, {"kind": "ray.data.Dataset", "blocks": len(refs)}
    raise stratavec.InvalidParameterError(
        "source must be (ids, vectors) NumPy arrays, a vectors array, a folder (or list) of "
        f"Parquet files, or a ray.data.Dataset; got {type(source).__name__}"
    )


def build_shards(
    source: Any,
    out_dir: PathLike,
    num_shards: int,
    *,
    shard_fn: Optional[Callable[[np.ndarray], np.ndarray]] = None,
    id_column: str = "id",
    vector_column: str = "vector",
    threads_per_task: int = 1,
    max_retries: int = 3,
    chunk_rows: int = _DEFAULT_CHUNK_ROWS,
    overwrite: bool = False,
    **index_options: Any,
) -> str:
    """Builds one segment file per shard in parallel Ray tasks and writes the shard manifest.

    Rows go to shards by :func:`shard_of` (``splitmix64(id) mod num_shards``) or by
    ``shard_fn(ids) -> shards`` (vectorised: a uint64 array in, one integer in
    ``0..num_shards-1`` per id out; it runs inside Ray tasks, so it must be picklable). One Ray
    task per input chunk splits it by shard (the parts travel through Ray's object store); one
    task per shard concatenates its parts, sorts them by id, builds a
    :class:`stratavec.Index` and saves it as ``shard-SSSSS-of-NNNNN.svs`` in ``out_dir``
    (atomically: temporary file, fsync, rename). Ray retries a task whose worker dies, and one
    that raised an ``OSError``, up to ``max_retries`` times; a retried build rewrites the same
    file. Only when every shard file is complete is ``out_dir/shards.json`` written (temporary
    file, fsync, rename, fsync of the folder); a build that fails leaves no manifest.

    Args:
        source: ``(ids, vectors)`` NumPy arrays (or a vectors array: ids ``0..n-1``); a folder of
            Parquet files (read recursively), one file or a list of files, with an integer id
            column and a vector column (a list or fixed-size list of numbers); or a
            ``ray.data.Dataset`` with those columns.
        out_dir: output folder (created when absent).
        num_shards: number of shards (>= 1).
        shard_fn: optional assignment of ids to shards, replacing the hash.
        id_column, vector_column: column names for Parquet and Dataset sources.
        threads_per_task: threads (and Ray CPUs) each shard build uses.
        max_retries: retries of a failed task.
        chunk_rows: rows per partition task for NumPy sources.
        overwrite: replace an existing manifest (it is removed before any shard file is
            written, so a reader never sees a manifest naming half-written files).
        **index_options: ``metric``, ``quantization``, ``m``, ``ef_construction``, ``seed``, as
            for :class:`stratavec.Index`.

    Returns:
        The path of the manifest (``out_dir/shards.json``), to pass to :meth:`ShardedIndex.open`.

    Raises:
        FileExistsError: ``out_dir`` has a manifest and ``overwrite`` is false.
        InvalidParameterError: bad options, ids or vectors (the first failing task's error).
        DuplicateIdError: an id appears twice.
    """
    ray = _ray()
    unknown = set(index_options) - set(_INDEX_OPTIONS)
    if unknown:
        raise TypeError(f"build_shards() got unexpected index options {sorted(unknown)}; "
                        f"known: {list(_INDEX_OPTIONS)}")
    if not isinstance(num_shards, (int, np.integer)) or num_shards < 1:
        raise stratavec.InvalidParameterError(f"num_shards must be at least 1, got {num_shards!r}")
    if threads_per_task < 1 or chunk_rows < 1 or max_retries < 0:
        raise stratavec.InvalidParameterError(
            "threads_per_task and chunk_rows must be at least 1, max_retries at least 0"
        )
    stratavec.Index(1, **index_options)  # checks the options before any work
    num_shards = int(num_shards)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST_NAME
    if manifest_path.exists():
        if not overwrite:
            raise FileExistsError(
                f"{manifest_path} exists (pass overwrite=True to build over it)"
            )
        manifest_path.unlink()
        _fsync_dir(out)
    # Shard files no manifest names (an earlier build that failed, or the one just replaced).
    for old in out.glob("shard-*-of-*.svs"):
        old.unlink()
    if not ray.is_initialized():
        ray.init()
    cpus = ray.cluster_resources().get("CPU", 0)
    if threads_per_task > cpus:
        raise stratavec.InvalidParameterError(
            f"threads_per_task={threads_per_task} but the Ray cluster has {cpus:g} CPUs: "
            "no node could run a shard build"
        )
    start = time.perf_counter()
    chunks, described = _chunks(source, ray, int(chunk_rows), id_column, vector_column)
    retry = dict(max_retries=max_retries, retry_exceptions=[OSError])
    partition = ray.remote(_partition_chunk).options(num_returns=num_shards, num_cpus=1, **retry)
    maps = [partition.remote(c, num_shards, shard_fn, id_column, vector_column) for c in chunks]
    if num_shards == 1:
        maps = [[m] for m in maps]
    build = ray.remote(_build_shard).options(num_cpus=threads_per_task, **retry)
    options = {k: v for k, v in index_options.items() if v is not None}
    builds = [
        build.remote(s, num_shards, str(out.resolve()), options, threads_per_task, *[m[s] for m in maps])
        for s in range(num_shards)
    ]
    try:
        shards = ray.get(builds)
    except Exception:
        # Let the other shard builds finish before raising, so that none of them can still write
        # a file into out_dir after this call returned (a rebuild would race with it). Not
        # ray.cancel: cancelling tasks that are finishing crashed Ray 2.60's driver ("Tried to
        # complete task that was not pending").
        ray.wait(builds, num_returns=len(builds))
        raise
    wall = time.perf_counter() - start
    dims = {s.pop("dim") for s in shards}
    if len(dims) != 1:
        raise stratavec.InvalidParameterError(f"the shards have different dimensions {sorted(dims)}")
    for s in shards:  # the files are where the tasks said, with the size they said
        size = (out / s["file"]).stat().st_size
        if size != s["bytes"]:
            raise stratavec.CorruptFileError(
                f"{out / s['file']}: {size} bytes on disk, the build task wrote {s['bytes']}"
            )
    probe = stratavec.Index(1, **options)
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "stratavec_version": stratavec.__version__,
        "created_unix": int(time.time()),
        "num_shards": num_shards,
        "rows": int(sum(s["rows"] for s in shards)),
        "dim": dims.pop(),
        "index": {
            "metric": probe.metric,
            "quantization": probe.quantization,
            "m": probe.m,
            "ef_construction": probe.ef_construction,
            "seed": probe.seed,
        },
        "sharding": {"method": "splitmix64", "formula": "splitmix64(id) mod num_shards"}
        if shard_fn is None
        else {"method": "custom", "function": getattr(shard_fn, "__qualname__", repr(shard_fn))},
        "source": described,
        "build_seconds": round(wall, 3),
        "shards": sorted(shards, key=lambda s: s["shard"]),
    }
    _write_atomic(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
    return str(manifest_path)


def read_manifest(manifest: PathLike) -> Dict[str, Any]:
    """Reads and checks a shard manifest (the file, or the folder holding ``shards.json``).

    Raises:
        FileNotFoundError: no manifest there.
        CorruptFileError: not a shard manifest, or an inconsistent one.
        UnsupportedVersionError: a manifest version this module cannot read.
    """
    path = Path(manifest)
    if path.is_dir():
        path = path / MANIFEST_NAME
    text = path.read_text()
    try:
        m = json.loads(text)
    except ValueError as e:
        raise stratavec.CorruptFileError(f"{path}: not JSON: {e}") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise stratavec.CorruptFileError(f"{path}: not a stratavec shard manifest")
    if m.get("version") != MANIFEST_VERSION:
        raise stratavec.UnsupportedVersionError(
            f"{path}: shard manifest version {m.get('version')}, this build reads {MANIFEST_VERSION}"
        )
    shards = m.get("shards")
    if not isinstance(shards, list) or [s.get("shard") for s in shards] != list(range(m.get("num_shards", -1))):
        raise stratavec.CorruptFileError(f"{path}: the shard list does not match num_shards")
    for s in shards:
        if Path(s["file"]).name != s["file"]:
            raise stratavec.CorruptFileError(f"{path}: shard file {s['file']!r} is not a plain file name")
    m["_path"] = str(path.resolve())
    return m


# --------------------------------------------------------------------------------------------
# Serving


class _ShardServer:
    """Ray actor: one shard file, opened with ``stratavec.Index.open``. Ray re-runs ``__init__``
    when it restarts the actor, so a restart reopens (re-maps) the file."""

    def __init__(self, path, shard, expected_bytes, sha256, mmap, verify, threads):
        self.shard = shard
        self.path = path
        if verify and _sha256(path) != sha256:
            raise stratavec.CorruptFileError(f"{path}: SHA-256 differs from the shard manifest's")
        self.index = stratavec.Index.open(path, mmap=mmap)
        size = self.index.info()["file_bytes"]
        if size != expected_bytes:
            raise stratavec.CorruptFileError(
                f"{path}: {size} bytes, the shard manifest says {expected_bytes}"
            )
        if verify:
            self.index.verify()
        self.threads = threads
        self.opened_unix = time.time()

    def ready(self) -> Dict[str, Any]:
        return {
            "shard": self.shard,
            "path": self.path,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "len": len(self.index),
            "opened_unix": self.opened_unix,
        }

    def search(self, queries, k, ef, oversample, filter):
        return self.index.search(
            queries, k=k, ef=ef, oversample=oversample, filter=filter, threads=self.threads
        )

    def memory(self) -> Dict[str, int]:
        """Resident and peak resident bytes of the actor process (Linux ``/proc``)."""
        out = {}
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(("VmRSS:", "VmHWM:")):
                        key, value = line.split(":", 1)
                        out[{"VmRSS:": "rss_bytes", "VmHWM:": "peak_rss_bytes"}[key + ":"]] = (
                            int(value.split()[0]) * 1024
                        )
        except OSError:
            pass
        return out


def _describe(e: BaseException) -> str:
    """A one-line reason from a Ray error (the original exception's last line when Ray wraps a
    traceback)."""
    text = str(e).strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for line in reversed(lines):
        if "Error" in line.split(":", 1)[0] or "Exception" in line.split(":", 1)[0]:
            return line[:500]
    return (lines[0] if lines else type(e).__name__)[:500]


class ShardedIndex:
    """A sharded index served by Ray actors: open one with :meth:`ShardedIndex.open`.

    ``search`` answers like :meth:`stratavec.Index.search`. Several Python threads may search at
    once. Close it (or use ``with``) to stop the actors.
    """

    def __init__(self, *_args, **_kwargs):
        raise TypeError("use ShardedIndex.open(manifest, ...)")

    @classmethod
    def open(
        cls,
        manifest: PathLike,
        replicas: int = 1,
        *,
        max_restarts: int = 3,
        max_task_retries: int = 3,
        num_cpus: Optional[float] = None,
        search_threads: Optional[int] = None,
        mmap: bool = True,
        verify: bool = False,
        retry_timeout: float = 30.0,
        allow_partial: bool = False,
        actor_options: Optional[Dict[str, Any]] = None,
    ) -> "ShardedIndex":
        """Starts ``replicas`` Ray actors per shard, each opening its shard file, and waits until
        they are ready.

        Args:
            manifest: the manifest written by :func:`build_shards` (or its folder). Shard files
                are found beside it; every node that runs an actor must see them at that path.
            replicas: actors per shard (searches spread over them; one can fail over to another).
            max_restarts: Ray restarts of a crashed actor (each reopens its file).
            max_task_retries: Ray retries of a search call whose actor crashed.
            num_cpus: Ray CPUs each actor reserves; ``None`` uses Ray's default for actors (one
                CPU to be placed, none held while it runs, so more actors than CPUs can live on
                a node).
            search_threads: threads each actor searches a batch with (default: all cores of
                its node).
            mmap: map the files (default) or read them into the actors' memory.
            verify: check each file's SHA-256 against the manifest and run
                :meth:`stratavec.Index.verify` when an actor (re)starts (reads whole files).
            retry_timeout: seconds a search keeps retrying a failed shard (waiting for a restart
                or trying other replicas) before giving up on it.
            allow_partial: open even when some shards cannot be opened (their searches then need
                ``allow_partial=True`` too); by default that raises.
            actor_options: more ``ray.remote`` options for the actors (``resources``,
                ``scheduling_strategy``, ``runtime_env``, …).

        Raises:
            FileNotFoundError, CorruptFileError, UnsupportedVersionError: the manifest.
            ShardUnavailableError: a shard's actors could not open its file (missing, damaged,
                a size differing from the manifest's), naming the shard and the file.
        """
        ray = _ray()
        if replicas < 1:
            raise stratavec.InvalidParameterError(f"replicas must be at least 1, got {replicas}")
        if search_threads is not None and search_threads < 1:
            raise stratavec.InvalidParameterError("search_threads must be at least 1")
        m = read_manifest(manifest)
        if not ray.is_initialized():
            ray.init()
        folder = Path(m["_path"]).parent
        self = object.__new__(cls)
        self._ray = ray
        self.manifest = m
        self.replicas = replicas
        self.retry_timeout = float(retry_timeout)
        self._paths = [str(folder / s["file"]) for s in m["shards"]]
        options: Dict[str, Any] = {
            "max_restarts": max_restarts,
            "max_task_retries": max_task_retries,
            "scheduling_strategy": "SPREAD",
        }
        if num_cpus is not None:
            options["num_cpus"] = num_cpus
        options.update(actor_options or {})
        server = ray.remote(_ShardServer).options(**options)
        self._actors: List[List[Any]] = [
            [
                server.remote(
                    self._paths[s["shard"]], s["shard"], s["bytes"], s["sha256"], mmap, verify,
                    search_threads,
                )
                for _ in range(replicas)
            ]
            for s in m["shards"]
        ]
        self._next = [itertools.count() for _ in self._actors]
        self._closed = False
        self.down_at_open: List[int] = []
        self._open_failures: Dict[int, str] = {}
        failures: Dict[int, str] = {}
        failed_replicas: Dict[int, int] = {}
        ready = {
            (s, r): a.ready.remote() for s, shard in enumerate(self._actors) for r, a in enumerate(shard)
        }
        for (s, _r), ref in ready.items():
            try:
                ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as e:
                failures.setdefault(s, _describe(e))
                failed_replicas[s] = failed_replicas.get(s, 0) + 1
        # A shard is down when none of its replicas opened.
        down = sorted(s for s, n in failed_replicas.items() if n == replicas)
        if down:
            error = self._unavailable(down, [failures[s] for s in down], "could not be opened")
            if not allow_partial:
                self.close()
                raise error
            warnings.warn(str(error), PartialResultsWarning, stacklevel=2)
            self.down_at_open = down
            self._open_failures = {s: f"could not be opened: {failures[s]}" for s in down}
        return self

    def _unavailable(self, shards: List[int], causes: List[str], what: str) -> ShardUnavailableError:
        parts = [
            f"shard {s} ({self._paths[s]}) {what}: {c}" for s, c in zip(shards, causes)
        ]
        return ShardUnavailableError("; ".join(parts), shards, causes)

    # -- properties ------------------------------------------------------------------------

    @property
    def num_shards(self) -> int:
        """Number of shards."""
        return len(self._actors)

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.manifest["dim"])

    @property
    def metric(self) -> str:
        """Distance metric."""
        return self.manifest["index"]["metric"]

    @property
    def actors(self) -> List[List[Any]]:
        """The actor handles, ``actors[shard][replica]`` (for monitoring and tests)."""
        return [list(a) for a in self._actors]

    @property
    def paths(self) -> List[str]:
        """The shard files, by shard."""
        return list(self._paths)

    def __len__(self) -> int:
        """Rows in all shards (from the manifest)."""
        return int(self.manifest["rows"])

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"len={len(self)}"
        return (
            f"stratavec.distributed.ShardedIndex({self.manifest['_path']!r}, "
            f"num_shards={self.num_shards}, replicas={self.replicas}, {state})"
        )

    def info(self) -> List[List[Dict[str, Any]]]:
        """Per shard and replica: the actor's ``ready()`` record (pid, host, rows, path) plus its
        resident memory (``rss_bytes``, ``peak_rss_bytes``), or ``{"error": reason}``."""
        ray = self._ray
        out = []
        for s, shard in enumerate(self._actors):
            row = []
            for a in shard:
                try:
                    rec = ray.get(a.ready.remote())
                    rec.update(ray.get(a.memory.remote()))
                except ray.exceptions.RayError as e:
                    rec = {"shard": s, "error": _describe(e)}
                row.append(rec)
            out.append(row)
        return out

    # -- search ----------------------------------------------------------------------------

    def _shard_filters(self, filter: Any) -> List[Any]:
        """The filter for each shard: an id list is split by shard (hash sharding) so each actor
        builds a set of its own ids only; a callable is sent as it is."""
        n = self.num_shards
        if filter is None or callable(filter):
            return [filter] * n
        ids = np.asarray(list(filter) if isinstance(filter, (set, frozenset)) else filter)
        if ids.dtype.kind not in "iu" and ids.size:
            raise stratavec.InvalidParameterError(f"filter: ids must be integers, got dtype {ids.dtype}")
        ids = ids.reshape(-1)
        if ids.dtype.kind == "i" and ids.size and ids.min() < 0:
            raise stratavec.InvalidParameterError("filter: ids must be non-negative")
        ids = ids.astype(np.uint64)
        if self.manifest["sharding"]["method"] != "splitmix64":
            ref = self._ray.put(ids)
            return [ref] * n
        shards = shard_of(ids, n)
        return [self._ray.put(ids[shards == s]) for s in range(n)]

    def search(
        self,
        queries: Any,
        k: int = 10,
        ef: Optional[int] = None,
        oversample: Optional[int] = None,
        filter: Any = None,
        allow_partial: bool = False,
        timeout: Optional[float] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest neighbours of each query over all shards, nearest first: the same
        arguments and ``(ids, distances)`` results as :meth:`stratavec.Index.search` (``(nq, w)``
        uint64 and float32, ``w = min(k, len(index))``; ``(w,)`` for one 1-d query;
        ``MISSING_ID`` / ``+inf`` filler).

        The batch goes into Ray's object store once; one replica of each shard searches it (all
        its cores) and returns its top ``k``; the lists are merged with
        :func:`stratavec.merge_top_k`. ``ef`` and ``oversample`` apply in each shard.

        Args:
            filter: allowed ids (an array, list or set — split by shard before it is sent) or a
                callable ``(id) -> bool`` (pickled to every actor and called there).
            allow_partial: when a shard stays down, return the other shards' results with a
                :class:`PartialResultsWarning` instead of raising.
            timeout: seconds to wait for all shards; shards that have not answered by then count
                as down.

        Raises:
            ShardUnavailableError: a shard stayed down (its actors dead, restarts used up, or no
                answer within ``retry_timeout`` / ``timeout``), naming it.
            DimensionMismatchError, InvalidParameterError, InvalidVectorError: as Index.search.
        """
        ids, dist, failed = self._search(queries, k, ef, oversample, filter, allow_partial, timeout)
        if failed:
            down = sorted(failed)
            error = self._unavailable(down, [failed[s] for s in down], "is unavailable")
            warnings.warn(f"partial results: {error}", PartialResultsWarning, stacklevel=2)
        return ids, dist

    def search_with_status(
        self,
        queries: Any,
        k: int = 10,
        ef: Optional[int] = None,
        oversample: Optional[int] = None,
        filter: Any = None,
        allow_partial: bool = False,
        timeout: Optional[float] = None,
    ) -> Tuple[np.ndarray, np.ndarray, List[int]]:
        """:meth:`search`, plus the list of shards left out (only with ``allow_partial``; no
        warning is issued)."""
        ids, dist, failed = self._search(queries, k, ef, oversample, filter, allow_partial, timeout)
        return ids, dist, sorted(failed)

    def _search(self, queries, k, ef, oversample, filter, allow_partial, timeout):
        if self._closed:
            raise stratavec.ClosedError("the sharded index is closed")
        ray = self._ray
        q = np.require(queries, dtype=np.float32, requirements="CA")
        one_d = q.ndim == 1
        if q.ndim not in (1, 2):
            raise stratavec.InvalidParameterError(
                f"queries must be a 1-d or 2-d array: expected shape (n, {self.dim}) or ({self.dim},), got {q.shape}"
            )
        if q.shape[-1] != self.dim:
            raise stratavec.DimensionMismatchError(
                f"queries: dimension mismatch: expected {self.dim} components, got {q.shape[-1]}; "
                f"expected shape (n, {self.dim}) or ({self.dim},), got {q.shape}"
            )
        for name, value in (("k", k), ("ef", ef), ("oversample", oversample)):
            if value is None and name != "k":
                continue
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise stratavec.InvalidParameterError(f"`{name}` must be at least 1, got {value!r}")
        ef = None if ef is None else int(ef)
        oversample = None if oversample is None else int(oversample)
        q2 = q.reshape(1, -1) if one_d else q
        qref = ray.put(q2)
        filters = self._shard_filters(filter)
        deadline = None if timeout is None else time.monotonic() + timeout

        results: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        failed: Dict[int, str] = {}
        pending: Dict[Any, Tuple[int, int]] = {}  # ref -> (shard, replica)
        first_failure: Dict[int, float] = {}
        tried: Dict[int, int] = {}

        def submit(s: int, r: int):
            a = self._actors[s][r]
            pending[a.search.remote(qref, int(k), ef, oversample, filters[s])] = (s, r)

        for s in range(self.num_shards):
            if s in self.down_at_open:
                failed[s] = self._open_failures.get(s, "could not be opened")
                continue
            r = next(self._next[s]) % self.replicas
            tried[s] = 0
            submit(s, r)

        while pending:
            wait_s = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, _ = ray.wait(list(pending), num_returns=1, timeout=wait_s)
            if not done:  # the deadline passed; the late answers are dropped when they come
                for s, _ in pending.values():
                    failed[s] = f"no answer within {timeout} s"
                pending.clear()
                break
            ref = done[0]
            s, r = pending.pop(ref)
            try:
                results[s] = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
                    ray.exceptions.WorkerCrashedError) as e:
                # The actor crashed or is restarting: try the next replica, then the same ones
                # again after a pause (Ray restarts it), until retry_timeout.
                now = time.monotonic()
                first_failure.setdefault(s, now)
                tried[s] += 1
                out_of_time = now - first_failure[s] > self.retry_timeout or (
                    deadline is not None and now > deadline
                )
                if out_of_time:
                    failed[s] = _describe(e)
                    continue
                if tried[s] % self.replicas == 0:
                    time.sleep(min(0.05 * 2 ** (tried[s] // self.replicas), 1.0))
                submit(s, (r + 1) % self.replicas)
        if failed:
            down = sorted(failed)
            if not allow_partial:
                raise self._unavailable(down, [failed[s] for s in down], "is unavailable")
        if not results:
            nq = q2.shape[0]
            ids = np.full((nq, k), stratavec.MISSING_ID, np.uint64)
            dist = np.full((nq, k), np.inf, np.float32)
        else:
            order = sorted(results)
            ids, dist = stratavec.merge_top_k(
                [results[s][0] for s in order], [results[s][1] for s in order], int(k)
            )
        if one_d:
            ids, dist = ids.reshape(-1), dist.reshape(-1)
        return ids, dist, failed

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Stops the actors (their mappings go with them). Later searches raise ClosedError."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for shard in self._actors:
            for a in shard:
                try:
                    self._ray.kill(a, no_restart=True)
                except Exception:  # already gone
                    pass

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
