"""Measurements for docs/scale-out.md: sharded build and search on a local Ray against one
in-process index, and bytes per vector of real segment files.

    python scale_out.py shards --dataset DIR [--shards 1,2,4] [--ef 64,128] [--json out.json]
    python scale_out.py search --dataset DIR [--shards 1,2,4] [--ef 64,128] [--rounds 9]
    python scale_out.py bytes --dataset DIR [--quantization none,sq8,sq4] [--json out.json]
    python scale_out.py giveup [--retry-timeout 5] [--rounds 3] [--json out.json]

`shards`: builds one in-process index over all rows (stratavec.Index.add on all cores), then for
each shard count builds the shards with stratavec.distributed.build_shards (cores / shards
threads per build task) and opens them with ShardedIndex (cores / shards search threads per
actor, at least 1). For each it reports the build wall time, Recall@k against the ground truth
(groundtruth.ivecs, or computed exactly with stratavec.eval.ground_truth and cached in --work),
QPS of the whole query batch in one search() call (median of --repeats), the median latency of
one single-query call, and the actors' resident memory after the queries. Ray runs locally
(loopback only) with as many CPUs as the machine has.

`search`: the search measurements again, on the files `shards` left in --work (single.svs and
shards-N/), with every configuration open at once and measured in interleaved rounds (one batch
of each per round, --rounds rounds, medians), so a machine whose load changes during the run
biases no configuration. Also times an actor restart: kill one actor of the largest shard count
and time the next search.

`bytes`: builds an index per quantization on the dataset, saves it, opens it and reports each
section's bytes per vector from Index.info() (the file's own section table).

`giveup`: how long a search takes to give up on a shard that stays down — its file removed and
its actor killed, so Ray's restart cannot reopen it — against --retry-timeout, on 4 small
synthetic shards (3,000 × 16), --rounds times (tests/test_distributed.py checks only that it
gives up, with the error naming the shard). Ray logs the restarted actor's FileNotFoundError:
that is the failure being measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import stratavec


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return np.ascontiguousarray(raw.reshape(-1, dim + 1)[:, 1:]).view(dtype)


def load(dataset: Path, work: Path, k: int):
    base = read_vecs(dataset / "base.fvecs", "float32")
    queries = read_vecs(dataset / "query.fvecs", "float32")
    metric = (dataset / "METRIC").read_text().strip() if (dataset / "METRIC").exists() else "l2"
    gt = dataset / "groundtruth.ivecs"
    cached = work / f"{dataset.name}-truth-{k}.npy"
    if gt.exists():
        truth = read_vecs(gt, "int32")[:, :k]
    elif cached.exists():
        truth = np.load(cached)
    else:
        start = time.perf_counter()
        truth = stratavec.eval.ground_truth(base, queries, k=k, metric=metric)
        print(f"ground truth computed in {time.perf_counter() - start:.1f} s", flush=True)
        np.save(cached, truth)
    return base, queries, truth, metric


def load_avg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def timed_batches(search, queries, repeats):
    search(queries)  # warm-up: page the files in, start the threads
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        search(queries)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), walls


def single_latency(search, queries, n=200):
    lat = []
    for q in queries[:n]:
        start = time.perf_counter()
        search(q)
        lat.append(time.perf_counter() - start)
    return statistics.median(lat)


def cmd_shards(args):
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    from stratavec import distributed as D

    cpus = os.cpu_count() or 1
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    base, queries, truth, metric = load(Path(args.dataset), work, args.k)
    n, dim = base.shape
    ids = np.arange(n, dtype=np.uint64)
    efs = [int(e) for e in args.ef.split(",")]
    report = {
        "dataset": str(args.dataset),
        "rows": n,
        "dim": dim,
        "metric": metric,
        "queries": len(queries),
        "k": args.k,
        "m": args.m,
        "ef_construction": args.ef_construction,
        "cpus": cpus,
        "repeats": args.repeats,
        "rows_out": [],
    }
    print(f"{n} x {dim} {metric}, {len(queries)} queries, {cpus} cores; load {load_avg()}", flush=True)

    # One index in this process: the baseline.
    load_before = load_avg()
    start, cpu_start = time.perf_counter(), time.process_time()
    single = stratavec.Index(dim, metric=metric, m=args.m, ef_construction=args.ef_construction)
    single.add(base, ids=ids)
    build_s = time.perf_counter() - start
    build_cpu = time.process_time() - cpu_start
    print(json.dumps({"config": "in-process Index", "build_seconds": round(build_s, 1),
                      "build_cpu_seconds": round(build_cpu, 1), "load_before": load_before,
                      "load_after": load_avg()}), flush=True)
    path = work / "single.svs"
    single.save(path)
    del single
    single = stratavec.Index.open(path)
    for ef in efs if not args.build_only else []:
        found, _ = single.search(queries, k=args.k, ef=ef)
        med, walls = timed_batches(lambda q: single.search(q, k=args.k, ef=ef), queries, args.repeats)
        lat = single_latency(lambda q: single.search(q, k=args.k, ef=ef), queries)
        row = {
            "config": "in-process Index (mapped file)",
            "shards": 0,
            "ef": ef,
            "build_seconds": round(build_s, 1),
            "recall": round(stratavec.eval.recall_at_k(found, truth, k=args.k), 4),
            "qps_batch": round(len(queries) / med, 1),
            "batch_walls_s": [round(w, 4) for w in walls],
            "single_query_ms_p50": round(lat * 1e3, 3),
            "load_before": load_before,
            "load_after": load_avg(),
        }
        report["rows_out"].append(row)
        print(json.dumps(row), flush=True)
    del single

    ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        object_store_memory=args.object_store_gib << 30,
    )
    try:
        for shards in [int(s) for s in args.shards.split(",")]:
            out = work / f"shards-{shards}"
            shutil.rmtree(out, ignore_errors=True)
            threads = max(1, cpus // shards)
            load_before = load_avg()
            start = time.perf_counter()
            manifest = D.build_shards(
                (ids, base), out, shards, metric=metric, m=args.m,
                ef_construction=args.ef_construction, threads_per_task=threads,
            )
            build_s = time.perf_counter() - start
            shard_records = D.read_manifest(manifest)["shards"]
            row = {
                "config": f"build_shards, {shards} shard(s) x {threads} thread(s)",
                "build_seconds": round(build_s, 1),
                "shard_build_seconds": [s["build_seconds"] for s in shard_records],
                "shard_build_cpu_seconds": [s["build_cpu_seconds"] for s in shard_records],
                "build_cpu_seconds": round(sum(s["build_cpu_seconds"] for s in shard_records), 1),
                "file_bytes": sum(s["bytes"] for s in shard_records),
                "load_before": load_before,
                "load_after": load_avg(),
            }
            report["rows_out"].append(row)
            print(json.dumps(row), flush=True)
            if args.build_only:
                continue
            with D.ShardedIndex.open(manifest, search_threads=threads) as index:
                for ef in efs:
                    found, _ = index.search(queries, k=args.k, ef=ef)
                    med, walls = timed_batches(
                        lambda q: index.search(q, k=args.k, ef=ef), queries, args.repeats
                    )
                    lat = single_latency(lambda q: index.search(q, k=args.k, ef=ef), queries)
                    rss = [r["rss_bytes"] for row in index.info() for r in row]
                    row = {
                        "config": f"ShardedIndex, {shards} shard(s) x {threads} thread(s)",
                        "shards": shards,
                        "ef": ef,
                        "build_seconds": round(build_s, 1),
                        "recall": round(stratavec.eval.recall_at_k(found, truth, k=args.k), 4),
                        "qps_batch": round(len(queries) / med, 1),
                        "batch_walls_s": [round(w, 4) for w in walls],
                        "single_query_ms_p50": round(lat * 1e3, 3),
                        "actor_rss_mib": [round(r / 2**20) for r in rss],
                        "file_bytes": sum(s["bytes"] for s in index.manifest["shards"]),
                        "load_before": load_before,
                        "load_after": load_avg(),
                    }
                    report["rows_out"].append(row)
                    print(json.dumps(row), flush=True)
    finally:
        ray.shutdown()
    return report


def cmd_search(args):
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    from stratavec import distributed as D

    cpus = os.cpu_count() or 1
    work = Path(args.work)
    base, queries, truth, metric = load(Path(args.dataset), work, args.k)
    del base
    efs = [int(e) for e in args.ef.split(",")]
    counts = [int(s) for s in args.shards.split(",")]
    ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, object_store_memory=args.object_store_gib << 30)
    report = {"dataset": str(args.dataset), "queries": len(queries), "k": args.k, "cpus": cpus,
              "rounds": args.rounds, "load_start": load_avg(), "rows_out": []}
    try:
        configs = {"in-process Index (mapped file)": stratavec.Index.open(work / "single.svs")}
        sharded = {}
        for n in counts:
            threads = max(1, cpus // n)
            sharded[n] = D.ShardedIndex.open(work / f"shards-{n}" / D.MANIFEST_NAME,
                                             search_threads=threads)
            configs[f"ShardedIndex, {n} shard(s) x {threads} thread(s)"] = sharded[n]
        for ef in efs:
            walls = {name: [] for name in configs}
            lat = {name: [] for name in configs}
            recall = {}
            for name, index in configs.items():  # warm-up, and recall
                found, _ = index.search(queries, k=args.k, ef=ef)
                recall[name] = stratavec.eval.recall_at_k(found, truth, k=args.k)
            for _ in range(args.rounds):
                for name, index in configs.items():
                    start = time.perf_counter()
                    index.search(queries, k=args.k, ef=ef)
                    walls[name].append(time.perf_counter() - start)
                    for q in queries[:50]:
                        start = time.perf_counter()
                        index.search(q, k=args.k, ef=ef)
                        lat[name].append(time.perf_counter() - start)
            for name in configs:
                med = statistics.median(walls[name])
                row = {
                    "config": name,
                    "ef": ef,
                    "recall": round(recall[name], 4),
                    "qps_batch": round(len(queries) / med, 1),
                    "batch_walls_s": [round(w, 4) for w in walls[name]],
                    "single_query_ms_p50": round(statistics.median(lat[name]) * 1e3, 3),
                    "single_query_ms_p90": round(float(np.percentile(lat[name], 90)) * 1e3, 3),
                }
                report["rows_out"].append(row)
                print(json.dumps(row), flush=True)
        report["load_end"] = load_avg()
        # An actor restart: kill shard 0's actor of the largest shard count, time the next search.
        n = max(counts)
        index = sharded[n]
        want, _ = index.search(queries, k=args.k, ef=efs[0])
        ray.kill(index.actors[0][0], no_restart=False)
        start = time.perf_counter()
        got, _ = index.search(queries, k=args.k, ef=efs[0])
        report["restart"] = {
            "shards": n,
            "search_after_kill_s": round(time.perf_counter() - start, 3),
            "identical": bool(np.array_equal(got, want)),
        }
        print(json.dumps(report["restart"]), flush=True)
        for index in sharded.values():
            index.close()
    finally:
        ray.shutdown()
    return report


def cmd_bytes(args):
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    dataset = Path(args.dataset)
    base = read_vecs(dataset / "base.fvecs", "float32")
    metric = (dataset / "METRIC").read_text().strip() if (dataset / "METRIC").exists() else "l2"
    n, dim = base.shape
    report = {"dataset": str(dataset), "rows": n, "dim": dim, "m": args.m, "per_vector": {}}
    for q in args.quantization.split(","):
        index = stratavec.Index(dim, metric=metric, quantization=q, m=args.m,
                                ef_construction=args.ef_construction)
        index.add(base)
        path = work / f"bytes-{q}.svs"
        size = index.save(path)
        info = stratavec.Index.open(path).info()
        per = {s["name"]: round(s["len"] / n, 2) for s in info["sections"]}
        per["file"] = round(size / n, 2)
        report["per_vector"][q] = per
        print(q, json.dumps(per), flush=True)
    return report


def cmd_giveup(args):
    import tempfile

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    from stratavec import distributed as D

    rng = np.random.default_rng(42)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    ids = np.arange(3000, dtype=np.uint64)
    queries = rng.standard_normal((40, 16)).astype(np.float32)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, object_store_memory=1 << 30)
    report = {"retry_timeout_s": args.retry_timeout, "load_start": load_avg(), "give_up_s": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            built = D.build_shards((ids, vectors), Path(tmp) / "built", 4, m=8, ef_construction=64)
            for r in range(args.rounds):
                folder = Path(tmp) / f"round-{r}"
                shutil.copytree(os.path.dirname(built), folder)
                manifest = folder / D.MANIFEST_NAME
                with D.ShardedIndex.open(manifest, retry_timeout=args.retry_timeout) as index:
                    index.search(queries, k=10)
                    os.unlink(folder / index.manifest["shards"][1]["file"])
                    ray.kill(index.actors[1][0], no_restart=False)
                    start = time.perf_counter()
                    try:
                        index.search(queries, k=10)
                        raise SystemExit("the search did not give up on the removed shard")
                    except D.ShardUnavailableError:
                        report["give_up_s"].append(round(time.perf_counter() - start, 3))
                print(f"round {r}: gave up after {report['give_up_s'][-1]} s "
                      f"(retry_timeout {args.retry_timeout} s)", flush=True)
    finally:
        ray.shutdown()
    report["load_end"] = load_avg()
    print(json.dumps(report), flush=True)
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("shards")
    s.add_argument("--dataset", required=True)
    s.add_argument("--shards", default="1,2,4")
    s.add_argument("--ef", default="64,128")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--m", type=int, default=16)
    s.add_argument("--ef-construction", type=int, default=200)
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--object-store-gib", type=int, default=3)
    s.add_argument("--work", default="/tmp/stratavec-scale-out")
    s.add_argument("--build-only", action="store_true", help="skip the search measurements")
    s.add_argument("--json")
    r = sub.add_parser("search")
    r.add_argument("--dataset", required=True)
    r.add_argument("--shards", default="1,2,4")
    r.add_argument("--ef", default="64,128")
    r.add_argument("--k", type=int, default=10)
    r.add_argument("--rounds", type=int, default=9)
    r.add_argument("--object-store-gib", type=int, default=3)
    r.add_argument("--work", default="/tmp/stratavec-scale-out")
    r.add_argument("--json")
    b = sub.add_parser("bytes")
    b.add_argument("--dataset", required=True)
    b.add_argument("--quantization", default="none,sq8,sq4")
    b.add_argument("--m", type=int, default=16)
    b.add_argument("--ef-construction", type=int, default=100)
    b.add_argument("--work", default="/tmp/stratavec-scale-out")
    b.add_argument("--json")
    g = sub.add_parser("giveup")
    g.add_argument("--retry-timeout", type=float, default=5.0)
    g.add_argument("--rounds", type=int, default=3)
    g.add_argument("--json")
    args = p.parse_args()
    commands = {"shards": cmd_shards, "search": cmd_search, "bytes": cmd_bytes, "giveup": cmd_giveup}
    report = commands[args.cmd](args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
