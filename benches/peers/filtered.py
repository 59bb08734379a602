#!/usr/bin/env python3
"""Filtered search in the embedded engines users pick instead of stratavec: Qdrant Edge
(`qdrant-edge-py`), Zvec (`zvec`) and LanceDB (`lancedb`), on a TEXMEX dataset with the payloads
and filters of `stratavec bench --filter payload` (`stratavec::eval::bench_payloads` and
`bench_filters`, reimplemented here bit for bit), each filter with its exact ground truth.

    python benches/peers/filtered.py --dataset /work/shared/datasets/wordllama-sent-256-ip \\
        --libs qdrant-edge,zvec,lancedb --ef 16,32,64,128,256 --repeats 3 --json out.json

For each engine: one build (M = 16, ef_construction = 200, the payload indexes each engine
offers: Qdrant keyword/float/datetime payload indexes, Zvec inverted indexes, LanceDB bitmap and
btree scalar indexes), then for the unfiltered search and each filter, an ef sweep on one thread,
one query per call (timed like peers.py: a warm-up pass, `--repeats` passes, each chunk of 25
queries counting its fastest pass), Recall@10 against the exact neighbours among the matching
rows, and the number of results (an engine that returns fewer than k when k match is noted).
The machine's load before and after each engine goes into the JSON. See benches/peers/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from peers import load_dataset  # noqa: E402

M, EFC, K = 16, 200, 10
YEAR_2025 = 1_735_689_600_000_000
YEAR = 365 * 86_400_000_000
TENANTS = [("t0", 0.5), ("t1", 0.1), ("t2", 0.01), ("t3", 0.001)]
FILTERS = ["kw-0.1%", "kw-1%", "kw-10%", "kw-50%", "range-10%", "far-10%"]


# ------------------------------------------------------------------ the benchmark's payloads

def unit(i: np.ndarray, salt: int) -> np.ndarray:
    """stratavec::eval::filters::unit: a splitmix64 hash of (i, salt), uniform in [0, 1)."""
    with np.errstate(over="ignore"):
        x = i.astype(np.uint64) + np.uint64((salt * 0xD1B54A32D192ED03) % 2**64)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def payloads(base: np.ndarray, queries: np.ndarray, metric: str):
    n = len(base)
    i = np.arange(n, dtype=np.uint64)
    h = unit(i, 1)
    tenant = np.empty(n, dtype=object)
    done = np.zeros(n, dtype=bool)
    below = 0.0
    for name, share in TENANTS:
        below += share
        hit = (h < below) & ~done
        tenant[hit] = name
        done |= hit
    rest = ~done
    tenant[rest] = ["t%d" % (4 + int(x)) for x in (h[rest] - below) / 0.001]
    price = np.floor(unit(i, 2) * 100.0 * 100.0) / 100.0
    date = YEAR_2025 + (unit(i, 3) * float(YEAR)).astype(np.int64)
    mean = queries.astype(np.float64).mean(axis=0)
    b = base.astype(np.float64)
    if metric == "l2":
        d = ((b - mean) ** 2).sum(axis=1)
    else:
        d = -(b @ mean)
    order = np.lexsort((np.arange(n), -d))  # farthest first, ties by row
    far = np.zeros(n, dtype=bool)
    far[order[: int(round(n * 0.1))]] = True
    return {"tenant": tenant, "price": price, "date": date, "far": far}


def matches(p, name: str) -> np.ndarray:
    return {
        "kw-0.1%": p["tenant"] == "t3",
        "kw-1%": p["tenant"] == "t2",
        "kw-10%": p["tenant"] == "t1",
        "kw-50%": p["tenant"] == "t0",
        "range-10%": p["price"] < 10.0,
        "far-10%": p["far"],
    }[name].astype(bool)


def exact(base, queries, keep, metric, k=K):
    rows = np.flatnonzero(keep)
    sub = base[rows]
    out = np.empty((len(queries), min(k, len(rows))), dtype=np.int64)
    for s in range(0, len(queries), 100):
        q = queries[s : s + 100]
        if metric == "l2":
            d = (q**2).sum(1)[:, None] - 2 * q @ sub.T + (sub**2).sum(1)[None, :]
        else:
            d = -(q @ sub.T)
        part = np.argsort(d, axis=1, kind="stable")[:, : out.shape[1]]
        out[s : s + 100] = rows[part]
    return out


def recall(found, truth):
    k = truth.shape[1]
    if k == 0:
        return 1.0
    hits = sum(len(set(f[:k]) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / (k * len(truth))


# ------------------------------------------------------------------ engines

class QdrantEdge:
    name = "qdrant-edge"

    def __init__(self, dim, metric, path):
        import qdrant_edge as q

        self.q = q
        dist = q.Distance.Euclid if metric == "l2" else q.Distance.Dot
        cfg = q.EdgeConfig(
            vectors=q.EdgeVectorParams(size=dim, distance=dist),
            hnsw_config=q.HnswIndexConfig(m=M, ef_construct=EFC, full_scan_threshold=10),
        )
        self.shard = q.EdgeShard.create(path, cfg)
        self.version = _dist_version("qdrant-edge-py")

    def build(self, base, p):
        q = self.q
        for f, t in [("tenant", q.PayloadSchemaType.Keyword), ("price", q.PayloadSchemaType.Float),
                     ("zone", q.PayloadSchemaType.Keyword)]:
            self.shard.update(q.UpdateOperation.create_field_index(f, t))
        for s in range(0, len(base), 5000):
            pts = [
                q.Point(int(i), base[i].tolist(), {
                    "tenant": p["tenant"][i], "price": float(p["price"][i]),
                    "zone": "far" if p["far"][i] else "near",
                })
                for i in range(s, min(s + 5000, len(base)))
            ]
            self.shard.update(q.UpdateOperation.upsert_points(pts))
        self.shard.optimize()

    def filter(self, name):
        q = self.q
        cond = {
            "kw-0.1%": q.FieldCondition("tenant", match=q.MatchValue("t3")),
            "kw-1%": q.FieldCondition("tenant", match=q.MatchValue("t2")),
            "kw-10%": q.FieldCondition("tenant", match=q.MatchValue("t1")),
            "kw-50%": q.FieldCondition("tenant", match=q.MatchValue("t0")),
            "range-10%": q.FieldCondition("price", range=q.RangeFloat(lt=10.0)),
            "far-10%": q.FieldCondition("zone", match=q.MatchValue("far")),
        }[name]
        return q.Filter(must=[cond])

    def search(self, query, ef, flt):
        q = self.q
        r = self.shard.search(q.SearchRequest(
            query=q.Query.Nearest(query.tolist()), limit=K, filter=flt,
            params=q.SearchParams(hnsw_ef=ef)))
        return [int(h.id) for h in r]


class Zvec:
    name = "zvec"

    def __init__(self, dim, metric, path):
        import zvec

        self.z = zvec
        mt = zvec.MetricType.L2 if metric == "l2" else zvec.MetricType.IP
        schema = zvec.CollectionSchema(
            name="bench",
            fields=[
                zvec.FieldSchema("tenant", zvec.DataType.STRING, index_param=zvec.InvertIndexParam()),
                zvec.FieldSchema("price", zvec.DataType.DOUBLE,
                                 index_param=zvec.InvertIndexParam(enable_range_optimization=True)),
                zvec.FieldSchema("zone", zvec.DataType.STRING, index_param=zvec.InvertIndexParam()),
            ],
            vectors=zvec.VectorSchema("emb", zvec.DataType.VECTOR_FP32, dim,
                                      index_param=zvec.HnswIndexParam(metric_type=mt, m=M,
                                                                      ef_construction=EFC)),
        )
        self.col = zvec.create_and_open(path, schema)
        self.version = _dist_version("zvec")

    def build(self, base, p):
        z = self.z
        # Zvec takes at most 1,024 documents per insert.
        for s in range(0, len(base), 1000):
            docs = [
                z.Doc(id=str(i), vectors={"emb": base[i]}, fields={
                    "tenant": p["tenant"][i], "price": float(p["price"][i]),
                    "zone": "far" if p["far"][i] else "near",
                })
                for i in range(s, min(s + 1000, len(base)))
            ]
            self.col.insert(docs)
        self.col.optimize()

    def filter(self, name):
        return {
            "kw-0.1%": "tenant = 't3'", "kw-1%": "tenant = 't2'", "kw-10%": "tenant = 't1'",
            "kw-50%": "tenant = 't0'", "range-10%": "price < 10.0", "far-10%": "zone = 'far'",
        }[name]

    def search(self, query, ef, flt):
        z = self.z
        r = self.col.query(z.Query(field_name="emb", vector=query, param=z.HnswQueryParam(ef=ef)),
                           topk=K, filter=flt, output_fields=[])
        return [int(d.id) for d in r]


class LanceDb:
    name = "lancedb"

    def __init__(self, dim, metric, path):
        import lancedb

        self.db = lancedb.connect(path)
        self.metric = "l2" if metric == "l2" else "dot"
        self.dim = dim
        self.version = _dist_version("lancedb")

    def build(self, base, p):
        import pyarrow as pa

        t = pa.table({
            "id": pa.array(np.arange(len(base)), pa.int64()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(base.ravel()), self.dim),
            "tenant": pa.array(list(p["tenant"])),
            "price": pa.array(p["price"]),
            "zone": pa.array(np.where(p["far"], "far", "near")),
        })
        self.tbl = self.db.create_table("bench", t)
        # HNSW over SQ codes in one partition: LanceDB's nearest to a single HNSW graph.
        self.tbl.create_index(metric=self.metric, index_type="IVF_HNSW_SQ", num_partitions=1,
                              m=M, ef_construction=EFC, vector_column_name="vector")
        self.tbl.create_scalar_index("tenant", index_type="BITMAP")
        self.tbl.create_scalar_index("zone", index_type="BITMAP")
        self.tbl.create_scalar_index("price", index_type="BTREE")

    def filter(self, name):
        return {
            "kw-0.1%": "tenant = 't3'", "kw-1%": "tenant = 't2'", "kw-10%": "tenant = 't1'",
            "kw-50%": "tenant = 't0'", "range-10%": "price < 10.0", "far-10%": "zone = 'far'",
        }[name]

    def search(self, query, ef, flt):
        s = self.tbl.search(query).limit(K).nprobes(1).ef(ef).select(["id"])
        if flt is not None:
            s = s.where(flt, prefilter=True)
        return s.to_arrow().column("id").to_pylist()


class Stratavec:
    """stratavec's own wheel in the same Python loop (install it with `pip install ./python`):
    a Collection with the payloads, flushed into one sealed segment (f32, or `--stratavec-quant`),
    searched with dict filters one query per call."""

    name = "stratavec"
    quant = "none"

    def __init__(self, dim, metric, path):
        import stratavec

        self.s = stratavec
        self.col = stratavec.Collection(path, dim=dim, metric=metric, quantization=self.quant,
                                        m=M, ef_construction=EFC, durability="buffered")
        self.version = stratavec.__version__

    def build(self, base, p):
        import datetime

        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        rows = [
            {"tenant": p["tenant"][i], "price": float(p["price"][i]),
             "date": epoch + datetime.timedelta(microseconds=int(p["date"][i])),
             "zone": "far" if p["far"][i] else "near"}
            for i in range(len(base))
        ]
        self.col.upsert(np.arange(len(base)), base, payloads=rows)
        self.col.flush()

    def filter(self, name):
        return {
            "kw-0.1%": {"tenant": "t3"}, "kw-1%": {"tenant": "t2"}, "kw-10%": {"tenant": "t1"},
            "kw-50%": {"tenant": "t0"}, "range-10%": {"price": {"lt": 10.0}},
            "far-10%": {"zone": "far"},
        }[name]

    def search(self, query, ef, flt):
        ids, _ = self.col.search(query, k=K, ef=ef, filter=flt)
        return [int(i) for i in ids if i != self.s.MISSING_ID]


ENGINES = {"qdrant-edge": QdrantEdge, "zvec": Zvec, "lancedb": LanceDb, "stratavec": Stratavec}


def _dist_version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def timed(engine, queries, ef, flt, repeats, chunk=25):
    """Found ids (first pass) and QPS from each chunk's fastest pass."""
    for q in queries[: min(200, len(queries))]:
        engine.search(q, ef, flt)
    best = [float("inf")] * ((len(queries) + chunk - 1) // chunk)
    found = []
    for r in range(repeats):
        for c in range(len(best)):
            t = time.perf_counter()
            for q in queries[c * chunk : (c + 1) * chunk]:
                ids = engine.search(q, ef, flt)
                if r == 0:
                    found.append(ids)
            best[c] = min(best[c], time.perf_counter() - t)
    return found, len(queries) / sum(best)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--libs", default="qdrant-edge,zvec,lancedb")
    ap.add_argument("--ef", default="16,32,64,128,256")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--json")
    ap.add_argument("--stratavec-quant", default="none", help="quantization of the stratavec engine")
    args = ap.parse_args()
    Stratavec.quant = args.stratavec_quant
    base, queries, gt, metric = load_dataset(args.dataset)
    queries = queries[: args.queries]
    gt = gt[: args.queries]
    p = payloads(base, queries, metric)
    truths = {None: gt[:, :K]}
    counts = {None: len(base)}
    for name in FILTERS:
        keep = matches(p, name)
        counts[name] = int(keep.sum())
        truths[name] = exact(base, queries, keep, metric)
        print(f"{name}: {counts[name]} matching rows", file=sys.stderr)
    efs = [int(e) for e in args.ef.split(",")]
    out = []
    for lib in args.libs.split(","):
        work = tempfile.mkdtemp(prefix=f"filtered-{lib}-")
        entry = {"dataset": os.path.basename(args.dataset.rstrip("/")), "lib": lib, "metric": metric,
                 "load_before": os.getloadavg()}
        try:
            engine = ENGINES[lib](base.shape[1], metric, os.path.join(work, "db"))
            entry["lib_version"] = engine.version
            t = time.perf_counter()
            engine.build(base, p)
            entry["build_seconds"] = time.perf_counter() - t
            results = []
            for name in [None] + FILTERS:
                flt = None if name is None else engine.filter(name)
                for ef in efs:
                    found, qps = timed(engine, queries, ef, flt, args.repeats)
                    want = min(K, counts[name])
                    short = sum(1 for f in found if len(f) < want)
                    r = recall(found, truths[name])
                    results.append({"filter": name, "matches": counts[name], "ef": ef,
                                    "recall_at_k": r, "qps_single_query_loop": qps,
                                    "queries_with_fewer_than_k": short})
                    print(f"{lib} {name or 'unfiltered'} ef {ef}: recall {r:.4f}, {qps:.0f} QPS, "
                          f"{short} short", file=sys.stderr)
            entry["results"] = results
        except Exception as e:  # an engine that cannot run here is reported, not hidden
            entry["error"] = f"{type(e).__name__}: {e}"
            print(f"{lib}: {entry['error']}", file=sys.stderr)
        finally:
            entry["load_after"] = os.getloadavg()
            shutil.rmtree(work, ignore_errors=True)
        out.append(entry)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
