#!/usr/bin/env python3
"""stratavec from Python (the wheel) against hnswlib, faiss-cpu and usearch on a TEXMEX folder.

Every library builds an HNSW index with the same M and ef_construction (on --build-threads
threads), then answers the queries ONE AT A TIME from a Python loop on one thread — the way an
application calls it, binding overhead included — for every ef of the sweep. Recall@k is against
the folder's groundtruth.ivecs; the summary gives each library's QPS at Recall@k 0.9, 0.95 and
0.99, interpolated linearly between the two ef points that bracket the target.

Timing is peers.py's (see README.md): --repeats timed passes after a warm-up pass, queries timed
in chunks of --chunk, each chunk counted with its fastest pass, so load from other processes on a
shared machine only costs repeats, not accuracy. Run on a quiet machine anyway, and note `uptime`.

Setup (one venv for all four):
    python3 -m venv /tmp/cmp && /tmp/cmp/bin/pip install -r benches/peers/requirements.txt ./python

Usage:
    /tmp/cmp/bin/python benches/peers/compare.py --dataset ../shared/datasets/wordllama-sent-256-ip
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402  (load_fvecs/load_ivecs, the timed loop, interpolation)


def load(folder):
    base = peers.load_fvecs(os.path.join(folder, "base.fvecs"))
    queries = peers.load_fvecs(os.path.join(folder, "query.fvecs"))
    truth = peers.load_ivecs(os.path.join(folder, "groundtruth.ivecs"))
    with open(os.path.join(folder, "METRIC")) as f:
        metric = f.read().strip().lower()
    if metric not in ("l2", "ip", "cosine"):
        raise SystemExit(f"{folder}/METRIC: unknown metric {metric!r}")
    return base, queries, truth, metric


class StratavecRunner:
    name = "stratavec"

    def __init__(self, dim, metric, m, ef_construction):
        import stratavec
        self.version = stratavec.__version__
        self.index = stratavec.Index(dim, metric=metric, m=m, ef_construction=ef_construction)
        self.ef = None

    def build(self, base, threads):
        t0 = time.perf_counter()
        self.index.add(base, threads=threads)
        return time.perf_counter() - t0

    def prepare(self, ef):
        self.ef = ef

    def make_single(self, k):
        search = self.index.search

        def one(q):
            return search(q, k, self.ef)[0]
        return one


class HnswlibRunner:
    name = "hnswlib"

    def __init__(self, dim, metric, m, ef_construction):
        import hnswlib
        self.version = peers._dist_version("hnswlib")
        self.index = hnswlib.Index(space=metric, dim=dim)  # 'l2', 'ip' or 'cosine'
        self.m, self.efc = m, ef_construction

    def build(self, base, threads):
        self.index.init_index(max_elements=base.shape[0], ef_construction=self.efc, M=self.m,
                              random_seed=100)
        t0 = time.perf_counter()
        self.index.add_items(base, np.arange(base.shape[0]), num_threads=threads)
        return time.perf_counter() - t0

    def prepare(self, ef):
        self.index.set_num_threads(1)
        self.index.set_ef(ef)

    def make_single(self, k):
        knn = self.index.knn_query

        def one(q):
            return knn(q[None, :], k=k, num_threads=1)[0][0]
        return one


class FaissRunner:
    name = "faiss"

    def __init__(self, dim, metric, m, ef_construction):
        import faiss
        self.faiss = faiss
        self.version = faiss.__version__
        self.normalize = metric == "cosine"
        fm = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.IndexHNSWFlat(dim, m, fm)
        self.index.hnsw.efConstruction = ef_construction

    def build(self, base, threads):
        self.faiss.omp_set_num_threads(threads)
        if self.normalize:
            base = base / np.linalg.norm(base, axis=1, keepdims=True)
        t0 = time.perf_counter()
        self.index.add(base)
        return time.perf_counter() - t0

    def prepare(self, ef):
        self.faiss.omp_set_num_threads(1)
        self.index.hnsw.efSearch = ef

    def make_single(self, k):
        search = self.index.search
        normalize = self.normalize

        def one(q):
            q = q[None, :]
            if normalize:
                q = q / np.linalg.norm(q)
            return search(q, k)[1][0]
        return one


class UsearchRunner:
    name = "usearch"

    def __init__(self, dim, metric, m, ef_construction):
        from usearch.index import Index
        self.version = peers._dist_version("usearch")
        self.index = Index(
            ndim=dim,
            metric={"l2": "l2sq", "ip": "ip", "cosine": "cos"}[metric],
            dtype="f32",  # full precision, like the others
            connectivity=m,  # level 0 keeps 2·connectivity links, as HNSW's 2·M
            expansion_add=ef_construction,
        )

    def build(self, base, threads):
        t0 = time.perf_counter()
        self.index.add(np.arange(base.shape[0], dtype=np.uint64), base, threads=threads)
        return time.perf_counter() - t0

    def prepare(self, ef):
        self.index.expansion_search = ef

    def make_single(self, k):
        search = self.index.search

        def one(q):
            return search(q, k, threads=1).keys
        return one


RUNNERS = {r.name: r for r in (StratavecRunner, HnswlibRunner, FaissRunner, UsearchRunner)}


def sweep(runner, queries, truth, k, efs, repeats, chunk):
    """For each ef: a warm-up pass, then `repeats` timed passes of the one-query loop."""
    qlist = [np.ascontiguousarray(q) for q in queries]
    nq = len(qlist)
    one = runner.make_single(k)
    state = {ef: {"chunks": [], "labels": None} for ef in efs}
    for rep in range(repeats + 1):
        for ef in efs:
            runner.prepare(ef)
            labels, _, chunks, _ = peers.single_query_loop(one, qlist, k, chunk)
            if rep:
                state[ef]["labels"] = labels
                state[ef]["chunks"].append(chunks)
    out = []
    for ef in efs:
        s = state[ef]
        qps = nq / float(np.min(np.stack(s["chunks"]), axis=0).sum())
        recall = peers.recall_at_k(s["labels"], truth, k)
        out.append({"ef": ef, "recall_at_k": recall, "qps_single_query_loop": qps})
        print(f"  {runner.name:9s} ef={ef:4d} recall@{k}={recall:.4f} qps={qps:9.1f}", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True,
                    help="TEXMEX folder: base.fvecs, query.fvecs, groundtruth.ivecs, METRIC")
    ap.add_argument("--libs", default="stratavec,hnswlib,faiss,usearch")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,192,256,384,512")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=25)
    ap.add_argument("--targets", default="0.9,0.95,0.99")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    libs = [x for x in args.libs.split(",") if x]
    for lib in libs:
        if lib not in RUNNERS:
            ap.error(f"unknown lib {lib!r}; choose from {sorted(RUNNERS)}")
    efs = [int(x) for x in args.ef.split(",") if x]
    targets = [float(x) for x in args.targets.split(",") if x]
    name = os.path.basename(os.path.normpath(args.dataset))
    base, queries, truth, metric = load(args.dataset)
    if truth.shape[1] < args.k:
        raise SystemExit(f"groundtruth has {truth.shape[1]} columns, k = {args.k}")
    print(f"dataset {name}: {base.shape[0]} x {base.shape[1]}, {queries.shape[0]} queries, "
          f"{metric}; M {args.m}, efC {args.ef_construction}, build on {args.build_threads} "
          f"threads, search one query per call on one thread; load {os.getloadavg()[0]:.2f}",
          flush=True)

    runs = []
    for lib in libs:
        load_start = os.getloadavg()
        runner = RUNNERS[lib](base.shape[1], metric, args.m, args.ef_construction)
        build = runner.build(base, args.build_threads)
        print(f"[{lib} {runner.version}] built in {build:.1f} s", flush=True)
        results = sweep(runner, queries, truth, args.k, efs, args.repeats, args.chunk)
        runs.append({
            "lib": lib, "version": runner.version, "build_seconds": build,
            "load_avg_start": list(load_start), "load_avg_end": list(os.getloadavg()),
            "results": results,
            "qps_at_recall": {f"{t:g}": peers.interpolate(results, t, "qps_single_query_loop") for t in targets},
            "kind": {f"{t:g}": peers.interpolation_kind(results, t) for t in targets},
        })
        del runner

    print()
    print(f"== {name}: QPS at Recall@{args.k} (one query per Python call, one thread; "
          f"n/r = not reached, >= = reached at the smallest ef)")
    header = f"| {'library':22s} | {'build s':>7s} |" + "".join(
        f" {'R@' + format(args.k) + '=' + format(t, 'g'):>10s} |" for t in targets)
    print(header)
    print("|" + "-" * 24 + "|" + "-" * 9 + "|" + "".join("-" * 12 + "|" for _ in targets))
    for run in runs:
        cells = "".join(
            f" {peers.fmt(run['qps_at_recall'][f'{t:g}'], run['kind'][f'{t:g}'], w=10, p=0)} |"
            for t in targets)
        print(f"| {run['lib'] + ' ' + str(run['version']):22s} | {run['build_seconds']:7.1f} |"
              + cells)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dataset": name, "metric": metric, "m": args.m,
                       "ef_construction": args.ef_construction, "k": args.k,
                       "build_threads": args.build_threads, "repeats": args.repeats,
                       "runs": runs}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
