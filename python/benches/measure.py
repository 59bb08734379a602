#!/usr/bin/env python3
"""The measurements quoted in docs/python.md, run against the installed `stratavec` wheel.

    python measure.py threads --dataset DIR [--runs 7] [--ef 128]
        Batch search of all queries on 2 threads against 1 thread (median of --runs each,
        interleaved), on a TEXMEX folder (wordllama-sent-256-ip in the docs).

    python measure.py memory [--gib 2] [--dim 256] [--m 4] [--ef-construction 8]
        Peak resident memory (VmHWM) of a fresh process that makes a --gib GiB float32 array
        and adds it to an index, against the array's size plus the index's own memory: a copy
        of the input would add another --gib GiB. Cheap build parameters keep it short.

    python measure.py gil [--rows 20000] [--dim 64] [--queries 3000]
        How freely another Python thread runs while an add and a search run (the GIL released):
        its loop of 1 ms sleeps, in iterations per second, during each call against idle.
        (tests/test_threads.py checks only that it runs at all.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def vm_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def read_vecs(path: str) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return np.ascontiguousarray(raw.reshape(-1, dim + 1)[:, 1:]).view(np.float32)


def threads(args):
    import stratavec

    base = read_vecs(os.path.join(args.dataset, "base.fvecs"))
    queries = read_vecs(os.path.join(args.dataset, "query.fvecs"))
    with open(os.path.join(args.dataset, "METRIC")) as f:
        metric = f.read().strip()
    print(f"load before build: {os.getloadavg()}", flush=True)
    index = stratavec.Index(base.shape[1], metric=metric, m=16, ef_construction=200)
    t0 = time.perf_counter()
    index.add(base)
    print(f"built {len(index)} x {base.shape[1]} in {time.perf_counter() - t0:.1f} s", flush=True)
    index.search(queries, k=10, ef=args.ef)  # warm-up
    times = {1: [], 2: []}
    print(f"load before searches: {os.getloadavg()}", flush=True)
    for _ in range(args.runs):
        for t in (1, 2):
            t0 = time.perf_counter()
            index.search(queries, k=10, ef=args.ef, threads=t)
            times[t].append(time.perf_counter() - t0)
    load = os.getloadavg()
    nq = len(queries)
    med = {t: statistics.median(v) for t, v in times.items()}
    for t in (1, 2):
        print(f"threads={t}: median {med[t] * 1e3:.1f} ms = {nq / med[t]:.0f} QPS "
              f"(runs: {', '.join(f'{x * 1e3:.0f}' for x in times[t])} ms)")
    print(f"speedup 2 threads / 1 thread: {med[1] / med[2]:.2f}x (ef {args.ef}, k 10, "
          f"{nq} queries per batch); load after: {load}")


def memory(args):
    if args.child:
        import stratavec

        rows = int(args.gib * 2**30) // (4 * args.dim)
        baseline = vm_kib("VmHWM")
        data = np.random.default_rng(0).standard_normal((rows, args.dim), dtype=np.float32)
        array_kib = data.nbytes // 1024
        before = vm_kib("VmHWM")
        index = stratavec.Index(args.dim, m=args.m, ef_construction=args.ef_construction)
        t0 = time.perf_counter()
        index.add(data)
        build = time.perf_counter() - t0
        peak = vm_kib("VmHWM")
        index_kib = index.memory()["total_bytes"] // 1024
        print(f"{rows} x {args.dim} float32 = {array_kib / 2**20:.2f} GiB array; "
              f"m {args.m}, ef_construction {args.ef_construction}, build {build:.0f} s")
        print(f"peak RSS (VmHWM): at start {baseline / 2**20:.2f} GiB, with the array "
              f"{before / 2**20:.2f} GiB, after add {peak / 2**20:.2f} GiB")
        print(f"index.memory() total {index_kib / 2**20:.2f} GiB; start + array + index = "
              f"{(baseline + array_kib + index_kib) / 2**20:.2f} GiB; a copy of the input would "
              f"add {array_kib / 2**20:.2f} GiB more")
        extra = peak - (baseline + array_kib + index_kib)
        print(f"peak - (start + array + index) = {extra / 2**20:+.2f} GiB")
        return
    cmd = [sys.executable, __file__, "memory", "--child", "--gib", str(args.gib), "--dim",
           str(args.dim), "--m", str(args.m), "--ef-construction", str(args.ef_construction)]
    subprocess.run(cmd, check=True)


def ticks_per_second(fn) -> float:
    """Iterations per second of this thread's loop of 1 ms sleeps while `fn` runs in another:
    the counter of tests/test_threads.py over the call's time."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from test_threads import ticks_during

    t0 = time.perf_counter()
    ticks = ticks_during(fn)
    return ticks / (time.perf_counter() - t0)


def gil(args):
    import stratavec

    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.rows, args.dim)).astype(np.float32)
    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    index = stratavec.Index(args.dim, m=8, ef_construction=100)
    print(f"load before: {os.getloadavg()}", flush=True)
    idle = ticks_per_second(lambda: time.sleep(1.0))
    during_add = ticks_per_second(lambda: index.add(data))
    during_search = ticks_per_second(lambda: index.search(queries, k=10, ef=200, threads=1))
    print(f"another thread's 1 ms sleep loop: idle {idle:.0f}/s, during add "
          f"({args.rows} x {args.dim}) {during_add:.0f}/s = {during_add / idle:.2f} of idle, "
          f"during search ({args.queries} queries, 1 thread) {during_search:.0f}/s = "
          f"{during_search / idle:.2f} of idle; load after: {os.getloadavg()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("threads")
    t.add_argument("--dataset", required=True)
    t.add_argument("--runs", type=int, default=7)
    t.add_argument("--ef", type=int, default=128)
    m = sub.add_parser("memory")
    m.add_argument("--gib", type=float, default=2.0)
    m.add_argument("--dim", type=int, default=256)
    m.add_argument("--m", type=int, default=4)
    m.add_argument("--ef-construction", type=int, default=8)
    m.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    g = sub.add_parser("gil")
    g.add_argument("--rows", type=int, default=20_000)
    g.add_argument("--dim", type=int, default=64)
    g.add_argument("--queries", type=int, default=3000)
    args = ap.parse_args()
    {"threads": threads, "memory": memory, "gil": gil}[args.what](args)


if __name__ == "__main__":
    main()
