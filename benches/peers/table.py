#!/usr/bin/env python3
"""Side-by-side tables of stratavec against its peers, from one run's JSON files.

Reads, for each dataset name D, `DIR/stratavec-D.json` (the report of `stratavec bench --json`,
possibly holding several codecs) and `DIR/peers-D.json` (the output of peers.py), and prints
Markdown:

* QPS on one thread at target Recall@10 values (linear interpolation along the ef sweep, as
  stratavec::eval does; "≥" marks a target already met at the smallest ef), one column per series:
  each stratavec configuration (codec × oversample) and each peer library;
* ratios: each stratavec series against each peer at the same target;
* build seconds and bytes per vector that the traversal reads (codes or vectors, plus links).

For the peers, the QPS at each ef is the better of their two single-thread modes (a Python loop of
one-query calls, and calls of 25 queries on one thread), so the Python call overhead does not count
against them.

Usage: table.py DIR DATASET[:TARGET,TARGET...] ...
   e.g. table.py /tmp/run wordllama-sent-256-ip:0.95,0.99 wordpiece-384-l2:0.5,0.7
"""

import json
import sys


def interpolate(points, target):
    """(QPS at `target` recall, whether it is a lower bound) from (recall, qps) points."""
    pts = sorted(points, key=lambda p: (p[0], -p[1]))
    for i, (r, q) in enumerate(pts):
        if r >= target:
            if i == 0 or r == target:
                return q, i == 0 and r > target
            r0, q0 = pts[i - 1]
            return q0 + (target - r0) / (r - r0) * (q - q0), False
    return None, False


def fmt_qps(v):
    q, lower = v
    if q is None:
        return "not reached"
    return ("≥ " if lower else "") + f"{q:,.0f}"


def fmt_ratio(a, b):
    if a[0] is None or b[0] is None:
        return "–"
    return f"{a[0] / b[0]:.2f}"


def our_series(report):
    """stratavec's results grouped by configuration: name -> dict(points, build, bpv)."""
    n = report["dataset"]["n_base"]
    series = {}
    for r in report["results"]:
        c = r["config"]
        name = "stratavec " + ("f32" if c["quant"] == "none" else c["quant"])
        if c.get("oversample"):
            name += f" ×{c['oversample']}"
        s = series.setdefault(name, {"points": [], "build": r["build_seconds"], "bpv": None})
        s["points"].append((r["recall_at_k"], r["qps_single_thread"]))
        mem = r.get("memory")
        if mem:
            data = mem["codes_bytes"] if mem["codes_bytes"] else mem["originals_bytes"]
            s["bpv"] = (data + mem["graph_bytes"]) / n
    return series


def peer_series(peers):
    return {
        p["lib"]: {
            "points": [
                (r["recall_at_k"], max(r["qps_single_query_loop"], r["qps_batch_1thread"]))
                for r in p["results"]
            ],
            "build": p["build_seconds"],
            "bpv": p.get("bytes_per_vector_traversal"),
        }
        for p in peers
    }


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main():
    out_dir, specs = sys.argv[1], sys.argv[2:]
    for spec in specs:
        name, _, targets = spec.partition(":")
        targets = [float(t) for t in (targets or "0.95,0.99").split(",")]
        report = json.load(open(f"{out_dir}/stratavec-{name}.json"))
        ours = our_series(report)
        peers = peer_series(json.load(open(f"{out_dir}/peers-{name}.json")))
        threads = report["machine"]["threads"]
        print(f"#### {name}\n")
        names = list(ours) + list(peers)
        every = {**ours, **peers}
        rows = []
        ratio_rows = []
        for t in targets:
            at = {s: interpolate(every[s]["points"], t) for s in names}
            rows.append([f"{t:.2f}"] + [fmt_qps(at[s]) for s in names])
            for o in ours:
                ratio_rows.append([f"{t:.2f}", o] + [fmt_ratio(at[o], at[p]) for p in peers])
        print("QPS on one thread at Recall@10:\n")
        print(table(["Recall@10"] + names, rows))
        print("\nRatio stratavec / peer (> 1: stratavec faster):\n")
        print(table(["Recall@10", "stratavec"] + list(peers), ratio_rows))
        print(f"\nBuild ({threads} threads) and traversal bytes per vector:\n")
        print(
            table(
                ["series", "build s", "bytes/vector"],
                [
                    [s, f"{every[s]['build']:.1f}", f"{every[s]['bpv']:.0f}" if every[s]["bpv"] else "–"]
                    for s in names
                ],
            )
        )
        print()


if __name__ == "__main__":
    main()
