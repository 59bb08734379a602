#!/usr/bin/env python3
"""Peer benchmark for stratavec: HNSW in hnswlib, FAISS and usearch on the shared TEXMEX datasets, and
quantized graph indexes (--libs symqg, faiss-sq8, faiss-sq4-refine; see README.md).

Builds an HNSW index per library (M, ef_construction, --build-threads threads, wall-clock
timed), then searches with ONE thread for every ef in the sweep, in two ways:

  * single-query loop: a Python loop calling knn_query / search on a 1 x d array per query,
    the way an application calls it. Per-query latency (p50/p99) and QPS come from this loop,
    so they include the Python -> C++ call overhead of each library's binding.
  * batch, 1 thread: all queries in one call, with the library's thread count set to 1.

Recall@k = |found ∩ truth[:k]| / k, averaged over queries (groundtruth is exact top-100).
Each mode gets one untimed warm-up pass per ef, then --repeats R timed passes. Because the
machine is shared (other processes preempt us), queries are timed in chunks of --chunk
queries and each chunk counts with its fastest time over the R passes; latency percentiles are
over each query's fastest time. Raw best full-pass QPS is also kept in the JSON.

Usage:
  python peers.py --dataset /work/shared/datasets/mnist-784-l2 --json /tmp/mnist.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


# --------------------------------------------------------------------------- data loading

def load_fvecs(path: str) -> np.ndarray:
    raw = np.fromfile(path, dtype="int32")
    if raw.size == 0:
        raise ValueError(f"{path}: empty file")
    dim = int(raw[0])
    if raw.size % (dim + 1) != 0:
        raise ValueError(f"{path}: size {raw.size} not a multiple of dim+1={dim + 1}")
    rows = raw.reshape(-1, dim + 1)
    if not np.all(rows[:, 0] == dim):
        raise ValueError(f"{path}: inconsistent per-row dimensions")
    return np.ascontiguousarray(rows[:, 1:].view("float32"))


def load_ivecs(path: str) -> np.ndarray:
    raw = np.fromfile(path, dtype="int32")
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    if not np.all(rows[:, 0] == dim):
        raise ValueError(f"{path}: inconsistent per-row dimensions")
    return np.ascontiguousarray(rows[:, 1:])


def load_dataset(d: str):
    base = load_fvecs(os.path.join(d, "base.fvecs"))
    query = load_fvecs(os.path.join(d, "query.fvecs"))
    gt = load_ivecs(os.path.join(d, "groundtruth.ivecs"))
    with open(os.path.join(d, "METRIC")) as f:
        metric = f.read().strip()
    if metric not in ("l2", "ip"):
        raise ValueError(f"unknown METRIC {metric!r}")
    if base.shape[1] != query.shape[1] or gt.shape[0] != query.shape[0]:
        raise ValueError("base/query/groundtruth shapes disagree")
    return base, query, gt, metric


# --------------------------------------------------------------------------- metrics

def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = 0
    for f, t in zip(found, truth):
        hits += len(set(int(x) for x in f[:k] if x >= 0) & set(int(x) for x in t[:k]))
    return hits / (k * len(truth))


def interpolate(results, target_recall: float, key: str = "qps_single_query_loop"):
    """QPS (results[i][key]) at target_recall, by linear interpolation between the two
    consecutive ef points (in ef order) whose recalls bracket the target.

    Returns None if the sweep never reaches the target recall. If even the smallest ef is
    already at or above the target, returns that point's value (a lower bound: a smaller ef
    would be faster still)."""
    pts = sorted(results, key=lambda r: r["ef"])
    if not pts:
        return None
    if pts[0]["recall_at_k"] >= target_recall:
        return float(pts[0][key])
    for a, b in zip(pts, pts[1:]):
        ra, rb = a["recall_at_k"], b["recall_at_k"]
        if ra < target_recall <= rb:
            t = (target_recall - ra) / (rb - ra)
            return float(a[key] + t * (b[key] - a[key]))
    return None


def interpolation_kind(results, target_recall):
    """'interpolated', 'lower_bound' (smallest ef already >= target) or 'not_reached'."""
    pts = sorted(results, key=lambda r: r["ef"])
    if pts and pts[0]["recall_at_k"] >= target_recall:
        return "lower_bound"
    if interpolate(results, target_recall) is None:
        return "not_reached"
    return "interpolated"


# --------------------------------------------------------------------------- libraries

class HnswlibRunner:
    name = "hnswlib"

    def __init__(self, dim, metric, m, ef_construction):
        import hnswlib
        self.version = getattr(hnswlib, "__version__", None) or _dist_version("hnswlib")
        self.index = hnswlib.Index(space=metric, dim=dim)  # 'l2' or 'ip'
        self.m, self.efc = m, ef_construction

    def build(self, base, threads):
        self.index.init_index(max_elements=base.shape[0], ef_construction=self.efc, M=self.m,
                              random_seed=100)
        self.index.set_num_threads(threads)
        t0 = time.perf_counter()
        self.index.add_items(base, np.arange(base.shape[0]), num_threads=threads)
        return time.perf_counter() - t0

    def index_bytes(self):
        try:
            return int(self.index.index_file_size())
        except Exception:
            with tempfile.TemporaryDirectory() as td:
                p = os.path.join(td, "h.bin")
                self.index.save_index(p)
                return os.path.getsize(p)

    def prepare_search(self, ef):
        self.index.set_num_threads(1)
        self.index.set_ef(ef)

    def bytes_per_vector_traversal(self):
        # level 0 of each element: link count (4 B) + 2M int32 links + the f32 vector
        return 4 + 2 * self.m * 4 + 4 * self.index.dim

    def make_single(self, k):
        knn = self.index.knn_query

        def one(q1):
            labels, _ = knn(q1, k=k, num_threads=1)
            return labels[0]
        return one

    def batch(self, queries, k):
        labels, _ = self.index.knn_query(queries, k=k, num_threads=1)
        return labels


class FaissRunner:
    name = "faiss"

    def __init__(self, dim, metric, m, ef_construction):
        import faiss
        self.faiss = faiss
        self.version = faiss.__version__
        if metric == "l2":
            self.index = faiss.IndexHNSWFlat(dim, m)  # METRIC_L2
        else:
            self.index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.dim, self.m = dim, m

    def build(self, base, threads):
        self.faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        self.index.add(base)
        return time.perf_counter() - t0

    def bytes_per_vector_traversal(self):
        # level-0 links (2M int32 ids) + the f32 vector
        return 2 * self.m * 4 + 4 * self.dim

    def index_bytes(self):
        return int(self.faiss.serialize_index(self.index).nbytes)

    def prepare_search(self, ef):
        self.faiss.omp_set_num_threads(1)
        self.index.hnsw.efSearch = ef

    def make_single(self, k):
        search = self.index.search

        def one(q1):
            _, labels = search(q1, k)
            return labels[0]
        return one

    def batch(self, queries, k):
        _, labels = self.index.search(queries, k)
        return labels


class FaissSQRunner(FaissRunner):
    """faiss IndexHNSWSQ: HNSW graph over scalar-quantized codes (8 bit per dimension); the
    distances in traversal and the returned top-k are computed on the codes (no reranking)."""
    name = "faiss-sq8"
    qtype_name = "QT_8bit"
    bits = 8

    def __init__(self, dim, metric, m, ef_construction):
        import faiss
        self.faiss = faiss
        self.version = faiss.__version__
        self.dim, self.m = dim, m
        fm = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        qtype = getattr(faiss.ScalarQuantizer, self.qtype_name)
        self.hnsw_index = faiss.IndexHNSWSQ(dim, qtype, m, fm)
        self.hnsw_index.hnsw.efConstruction = ef_construction
        self.index = self.hnsw_index
        self.train_seconds = None

    def build(self, base, threads):
        # The scalar quantizer must be trained (per-dimension min/max over the base set); the
        # training is timed as part of the build.
        self.faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        self.index.train(base)
        t1 = time.perf_counter()
        self.index.add(base)
        t2 = time.perf_counter()
        self.train_seconds = t1 - t0
        return t2 - t0

    def prepare_search(self, ef):
        self.faiss.omp_set_num_threads(1)
        self.hnsw_index.hnsw.efSearch = ef

    def bytes_per_vector_traversal(self):
        # one SQ code (bits/8 bytes per dimension) + the level-0 link list (2M int32 ids)
        return self.dim * self.bits // 8 + 2 * self.m * 4


class FaissSQ4RefineRunner(FaissSQRunner):
    """faiss IndexRefineFlat(IndexHNSWSQ(QT_4bit)): the HNSW graph is searched on 4-bit SQ
    codes for k * k_factor candidates, which are reranked exactly from the f32 vectors that
    IndexRefineFlat stores alongside."""
    name = "faiss-sq4-refine"
    qtype_name = "QT_4bit"
    bits = 4
    k_factor = 3

    def __init__(self, dim, metric, m, ef_construction):
        super().__init__(dim, metric, m, ef_construction)
        self.index = self.faiss.IndexRefineFlat(self.hnsw_index)
        self.index.k_factor = self.k_factor
        # the HNSW index is owned by the Python object self.hnsw_index; efSearch is set on it
        # (the same object as faiss.downcast_index(self.index.base_index))


class SymqgRunner:
    """RaBitQ-Library's SymphonyQG (rabitqlib.SymqgIndex): a graph whose every node stores its
    neighbours' 1-bit RaBitQ codes (FastScan layout, batches of 32) next to its own vector.
    quantization_bits=0 ("vanilla") keeps each node's own vector in f32; the traversal estimates
    neighbour distances from the codes and computes the exact distance of each node it expands
    from that vector."""
    name = "symqg"

    def __init__(self, dim, metric, m, ef_construction, quantization_bits=0):
        import rabitqlib
        self.version = _dist_version("rabitqlib")
        self.dim = dim
        # max_degree must be a multiple of 32; 32 = the level-0 degree 2M of HNSW with M=16.
        self.max_degree = 2 * m
        if self.max_degree % 32:
            raise ValueError(f"symqg: max_degree 2*M={self.max_degree} must be a multiple of 32")
        self.qbits = quantization_bits
        self.efc = ef_construction
        self.metric = metric  # SymqgIndex takes 'l2' or 'ip'
        self.index = rabitqlib.SymqgIndex(dim, self.max_degree, metric, quantization_bits)
        self.ef = None

    def build(self, base, threads):
        t0 = time.perf_counter()
        self.index.build(base, self.efc, threads)  # init='pipnn' (the default)
        return time.perf_counter() - t0

    def index_bytes(self):
        with tempfile.TemporaryDirectory() as td:
            p = os.path.join(td, "qg.bin")
            self.index.save(p)
            return os.path.getsize(p)

    def padded_dim(self):
        # codes are over the rotated vector, padded to a multiple of 32 dimensions (inferred from
        # the saved file size; see README)
        return -(-self.dim // 32) * 32

    def bytes_per_vector_traversal(self):
        # per node: the 1-bit codes of its max_degree neighbours (padded_dim bits each), their
        # ids (uint32) and two f32 correction factors each. Excludes the node's own vector (f32 or
        # 4/8-bit code), which is read for the exact/refined distance of each expanded node.
        d = self.max_degree
        return d * self.padded_dim() // 8 + d * 4 + d * 8

    def prepare_search(self, ef):
        self.ef = ef

    def make_single(self, k):
        # ef changes between passes (prepare_search), so it is read at call time
        search = self.index.search

        def one(q1):
            ids, _ = search(q1, k, self.ef, 1)
            return ids[0]
        return one

    def batch(self, queries, k):
        ids, _ = self.index.search_batch(queries, k, self.ef, 1)
        return ids


class UsearchRunner:
    """usearch's HNSW (`usearch.index.Index`, f32 vectors): `connectivity` is HNSW's M (level 0
    keeps 2·M links), `expansion_add` is ef_construction, `expansion_search` is ef."""
    name = "usearch"

    def __init__(self, dim, metric, m, ef_construction):
        from usearch.index import Index
        self.version = _dist_version("usearch")
        self.dim, self.m = dim, m
        self.index = Index(
            ndim=dim,
            metric={"l2": "l2sq", "ip": "ip"}[metric],
            dtype="f32",  # full precision, like hnswlib and faiss IndexHNSWFlat
            connectivity=m,
            expansion_add=ef_construction,
        )

    def build(self, base, threads):
        keys = np.arange(base.shape[0], dtype=np.uint64)
        t0 = time.perf_counter()
        self.index.add(keys, base, threads=threads)
        return time.perf_counter() - t0

    def index_bytes(self):
        for attr in ("serialized_length", "memory_usage"):
            v = getattr(self.index, attr, None)
            if isinstance(v, (int, np.integer)):
                return int(v)
        with tempfile.TemporaryDirectory() as td:
            p = os.path.join(td, "u.usearch")
            self.index.save(p)
            return os.path.getsize(p)

    def bytes_per_vector_traversal(self):
        # level-0 neighbours (2M u32 slots) + the f32 vector; usearch's node header not counted
        return 2 * self.m * 4 + 4 * self.dim

    def prepare_search(self, ef):
        self.index.expansion_search = ef

    def make_single(self, k):
        search = self.index.search

        def one(q1):
            keys = np.asarray(search(q1[0], k, threads=1).keys, dtype=np.int64)
            if keys.shape[0] < k:  # fewer than k found: pad like faiss does (-1)
                keys = np.concatenate([keys, np.full(k - keys.shape[0], -1, np.int64)])
            return keys
        return one

    def batch(self, queries, k):
        m = self.index.search(queries, k, threads=1)
        keys = np.asarray(m.keys, dtype=np.int64).reshape(queries.shape[0], -1)
        counts = np.asarray(getattr(m, "counts", np.full(queries.shape[0], k)))
        keys[np.arange(keys.shape[1])[None, :] >= counts[:, None]] = -1
        return keys


RUNNERS = {"hnswlib": HnswlibRunner, "faiss": FaissRunner, "usearch": UsearchRunner,
           "symqg": SymqgRunner, "faiss-sq8": FaissSQRunner,
           "faiss-sq4-refine": FaissSQ4RefineRunner}


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return None


# --------------------------------------------------------------------------- measurement

def single_query_loop(one, qlist, k, chunk):
    """One pass of the application-style loop. Returns (labels[nq, k], per-query ns,
    per-chunk seconds, total seconds); a chunk is `chunk` consecutive queries of the loop."""
    nq = len(qlist)
    labels = np.empty((nq, k), dtype=np.int64)
    lat = np.empty(nq, dtype=np.int64)
    chunks = []
    clock = time.perf_counter_ns
    pc = time.perf_counter
    t0 = pc()
    tc = t0
    for i, q1 in enumerate(qlist):
        s = clock()
        r = one(q1)
        lat[i] = clock() - s
        labels[i] = r
        if (i + 1) % chunk == 0 or i + 1 == nq:
            now = pc()
            chunks.append(now - tc)
            tc = now
    total = pc() - t0
    return labels, lat, np.array(chunks), total


def batch_chunked(runner, queries, k, chunk):
    """All queries as batch calls of `chunk` queries each (1 thread); per-chunk seconds."""
    out = []
    labels = []
    pc = time.perf_counter
    for s in range(0, queries.shape[0], chunk):
        part = queries[s:s + chunk]
        t0 = pc()
        labels.append(runner.batch(part, k))
        out.append(pc() - t0)
    return np.concatenate(labels), np.array(out)


def measure(runner, queries, gt, k, efs, repeats, chunk):
    """For each ef: one warm-up pass, then `repeats` timed passes of each mode.

    The reported QPS is noise-robust: the queries are timed in chunks of `chunk`, each
    chunk's time is its minimum over the passes, and QPS = n_queries / sum of those minima.
    Preemption by other processes (this machine is shared) only ever adds time, so the
    minimum is the best estimate of the library's own cost. Latency p50/p99 are over each
    query's minimum latency across the passes. The plain best full-pass QPS is kept too
    (`*_fullpass`), as is every pass's QPS (`*_all`)."""
    qlist = [np.ascontiguousarray(queries[i:i + 1]) for i in range(queries.shape[0])]
    nq = len(qlist)
    one = runner.make_single(k)
    # Passes are interleaved across the sweep (warm-up sweep, then `repeats` sweeps over all
    # efs), so a burst of load from other processes hits different passes of an ef, not all.
    st = {ef: {"lat": [], "chunks": [], "loop_all": [], "bchunks": [], "batch_all": [],
               "labels": None, "blabels": None} for ef in efs}
    for rep in range(repeats + 1):
        for ef in efs:
            runner.prepare_search(ef)
            d = st[ef]
            labels, lat, ch, total = single_query_loop(one, qlist, k, chunk)
            blabels, bc = batch_chunked(runner, queries, k, chunk)
            t0 = time.perf_counter()
            runner.batch(queries, k)
            tb = time.perf_counter() - t0
            if rep == 0:  # warm-up
                continue
            d["labels"], d["blabels"] = labels, blabels
            d["lat"].append(lat)
            d["chunks"].append(ch)
            d["loop_all"].append(nq / total)
            d["bchunks"].append(bc)
            d["batch_all"].append(nq / tb)
    out = []
    for ef in efs:
        d = st[ef]
        rec = recall_at_k(d["labels"], gt, k)
        brec = recall_at_k(d["blabels"], gt, k)
        lat_us = np.min(np.stack(d["lat"]), axis=0) / 1000.0
        qps_loop = nq / float(np.min(np.stack(d["chunks"]), axis=0).sum())
        qps_batch = nq / float(np.min(np.stack(d["bchunks"]), axis=0).sum())
        loop_qps_all, batch_qps_all = d["loop_all"], d["batch_all"]
        out.append({
            "ef": ef,
            "recall_at_k": rec,
            "recall_at_k_batch": brec,
            "qps_single_query_loop": qps_loop,
            "qps_batch_1thread": qps_batch,
            "latency_us": {
                "p50": float(np.percentile(lat_us, 50)),
                "p99": float(np.percentile(lat_us, 99)),
                "mean": float(lat_us.mean()),
            },
            # per-query time in the loop minus per-query time in the batch calls: an estimate of
            # the Python/binding overhead paid per call (array checks, result allocation, ...)
            "per_call_overhead_us_est": 1e6 / qps_loop - 1e6 / qps_batch,
            "qps_single_query_loop_fullpass": max(loop_qps_all),
            "qps_batch_1thread_fullpass": max(batch_qps_all),
            "qps_single_query_loop_all": loop_qps_all,
            "qps_batch_1thread_all": batch_qps_all,
        })
        print(f"  {runner.name:8s} ef={ef:4d} recall@{k}={rec:.4f} "
              f"loop={qps_loop:9.1f} qps batch1t={qps_batch:9.1f} qps "
              f"p50={out[-1]['latency_us']['p50']:8.1f}us p99={out[-1]['latency_us']['p99']:8.1f}us "
              f"(full-pass loop={max(loop_qps_all):9.1f} batch={max(batch_qps_all):9.1f})",
              flush=True)
    return out


def python_call_floor_us(n=200_000):
    """Cost of one empty Python function call inside the timed loop (the floor under any
    binding's overhead)."""
    def noop(x):
        return x
    clock = time.perf_counter_ns
    t0 = time.perf_counter()
    for i in range(n):
        s = clock()
        noop(i)
        _ = clock() - s
    return (time.perf_counter() - t0) / n * 1e6


# --------------------------------------------------------------------------- main

def fmt(v, kind="interpolated", w=11, p=1):
    if v is None:
        return f"{'n/r':>{w}s}"
    txt = (">=" if kind == "lower_bound" else "") + f"{v:.{p}f}"
    return f"{txt:>{w}s}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, help="folder with base/query.fvecs, groundtruth.ivecs, METRIC")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256,384,512")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--libs", default="hnswlib,faiss",
                    help="comma-separated: hnswlib, faiss, usearch, symqg, faiss-sq8, faiss-sq4-refine")
    ap.add_argument("--repeats", type=int, default=5,
                    help="timed passes per ef and mode after the warm-up (see --chunk)")
    ap.add_argument("--chunk", type=int, default=25,
                    help="queries per timed chunk; each chunk's time is its minimum over the passes, "
                         "batch mode calls the library on one chunk at a time")
    ap.add_argument("--targets", default="auto",
                    help="recalls to interpolate QPS at; 'auto' = 0.95,0.99 (+0.5,0.7 for wordpiece)")
    ap.add_argument("--json", help="write results here (a JSON list, one object per lib)")
    args = ap.parse_args(argv)

    dsname = os.path.basename(os.path.normpath(args.dataset))
    efs = [int(x) for x in args.ef.split(",") if x]
    libs = [x for x in args.libs.split(",") if x]
    for lib in libs:
        if lib not in RUNNERS:
            ap.error(f"unknown lib {lib!r}; choose from {sorted(RUNNERS)}")
    if args.targets == "auto":
        targets = [0.5, 0.7, 0.95, 0.99] if "wordpiece" in dsname else [0.95, 0.99]
    else:
        targets = [float(x) for x in args.targets.split(",")]

    base, queries, gt, metric = load_dataset(args.dataset)
    if gt.shape[1] < args.k:
        sys.exit(f"groundtruth has only {gt.shape[1]} neighbours, k={args.k}")
    print(f"dataset {dsname}: base {base.shape[0]}x{base.shape[1]}, {queries.shape[0]} queries, "
          f"metric {metric}; M={args.m} efC={args.ef_construction} k={args.k} "
          f"build_threads={args.build_threads}, search: 1 thread", flush=True)
    floor_us = python_call_floor_us()
    print(f"python empty-call floor in the timed loop: {floor_us:.2f} us/query", flush=True)

    all_runs = []
    for lib in libs:
        load_start = os.getloadavg()
        runner = RUNNERS[lib](base.shape[1], metric, args.m, args.ef_construction)
        print(f"[{lib} {runner.version}] building ({args.build_threads} threads), "
              f"load avg {load_start[0]:.2f}", flush=True)
        build_s = runner.build(base, args.build_threads)
        nbytes = runner.index_bytes()
        bpv = runner.bytes_per_vector_traversal() if hasattr(runner, "bytes_per_vector_traversal") else None
        extra = {}
        if getattr(runner, "train_seconds", None) is not None:
            extra["train_seconds"] = runner.train_seconds  # included in build_seconds
        if hasattr(runner, "k_factor"):
            extra["k_factor"] = runner.k_factor
        if hasattr(runner, "qbits"):
            extra["quantization_bits"] = runner.qbits
            extra["max_degree"] = runner.max_degree
            extra["padded_dim"] = runner.padded_dim()
        print(f"[{lib}] build {build_s:.2f} s, index {nbytes / 2**20:.1f} MiB "
              f"({nbytes / base.shape[0]:.0f} B/vector; traversal {bpv} B/vector)", flush=True)
        results = measure(runner, queries, gt, args.k, efs, args.repeats, args.chunk)
        load_end = os.getloadavg()
        interp = {}
        for key in ("qps_single_query_loop", "qps_batch_1thread"):
            interp[key] = {f"{t:g}": interpolate(results, t, key) for t in targets}
        interp["kind"] = {f"{t:g}": interpolation_kind(results, t) for t in targets}
        all_runs.append({
            "dataset": dsname,
            "lib": lib,
            "lib_version": runner.version,
            "metric": metric,
            "n_base": int(base.shape[0]),
            "n_query": int(queries.shape[0]),
            "dim": int(base.shape[1]),
            "m": args.m,
            "ef_construction": args.ef_construction,
            "k": args.k,
            "build_seconds": build_s,
            "build_threads": args.build_threads,
            "search_threads": 1,
            "repeats": args.repeats,
            "chunk": args.chunk,
            "nice": os.nice(0),
            "index_bytes": nbytes,
            "bytes_per_vector_traversal": bpv,
            "python_call_floor_us": floor_us,
            "load_avg_start": list(load_start),
            "load_avg_end": list(load_end),
            "results": results,
            "interpolated_qps": interp,
            **extra,
        })
        del runner

    # ---------------------------------------------------------------- summary
    k = args.k
    print()
    print(f"== {dsname} (Recall@{k}; QPS with 1 search thread; loop = one Python call per query)")
    for run in all_runs:
        print(f"-- {run['lib']} {run['lib_version']}: build {run['build_seconds']:.2f} s on "
              f"{run['build_threads']} threads, index {run['index_bytes'] / 2**20:.1f} MiB, "
              f"load {run['load_avg_start'][0]:.2f} -> {run['load_avg_end'][0]:.2f}")
        print(f"   {'ef':>4s} {'recall':>7s} {'qps_loop':>10s} {'qps_batch':>10s} "
              f"{'p50_us':>8s} {'p99_us':>8s} {'ovh_us':>7s}")
        for r in run["results"]:
            print(f"   {r['ef']:4d} {r['recall_at_k']:7.4f} {r['qps_single_query_loop']:10.1f} "
                  f"{r['qps_batch_1thread']:10.1f} {r['latency_us']['p50']:8.1f} "
                  f"{r['latency_us']['p99']:8.1f} {r['per_call_overhead_us_est']:7.2f}")
    print()
    print(f"== interpolated QPS at target Recall@{k} (n/r = not reached within the ef sweep; "
          f">= = already reached at the smallest ef, so a lower bound)")
    hdr = "   lib              mode     " + "".join(f"{'R=' + format(t, 'g'):>11s}" for t in targets)
    print(hdr)
    for run in all_runs:
        for key, label in (("qps_single_query_loop", "loop"), ("qps_batch_1thread", "batch1t")):
            vals = run["interpolated_qps"][key]
            kinds = run["interpolated_qps"]["kind"]
            print(f"   {run['lib']:16s} {label:8s}"
                  + "".join(fmt(vals[f'{t:g}'], kinds[f'{t:g}']) for t in targets))

    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(all_runs, f, indent=1)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
