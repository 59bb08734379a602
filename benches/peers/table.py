#!/usr/bin/env python3
"""Side-by-side table of stratavec against its peers, from one run's JSON files.

Reads, for each dataset name D, `DIR/stratavec-D.json` (the report of `stratavec bench --json`)
and `DIR/peers-D.json` (the output of peers.py), and prints Markdown: QPS on one thread at target
Recall@10 values (linear interpolation along the ef sweep, as stratavec::eval does), build seconds,
and the ratios stratavec / peer.

For the peers, the QPS at each ef is the better of their two single-thread modes (a Python loop of
one-query calls, and one batch call on one thread), so the Python call overhead does not count
against them.

Usage: table.py DIR DATASET[:TARGET,TARGET...] ...
   e.g. table.py /tmp/run wordllama-sent-256-ip:0.95,0.99 wordpiece-384-l2:0.5,0.7
"""

import json
import sys


def interpolate(points, target):
    """QPS at `target` recall from (recall, qps) points; None if never reached. When the lowest
    recall already meets the target, that point's QPS (a lower bound, marked by the caller)."""
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


def main():
    out_dir, specs = sys.argv[1], sys.argv[2:]
    qps_rows, build_rows = [], []
    for spec in specs:
        name, _, targets = spec.partition(":")
        targets = [float(t) for t in (targets or "0.95,0.99").split(",")]
        ours = json.load(open(f"{out_dir}/stratavec-{name}.json"))
        peers = json.load(open(f"{out_dir}/peers-{name}.json"))
        ours_pts = [(r["recall_at_k"], r["qps_single_thread"]) for r in ours["results"]]
        ours_build = ours["results"][0]["build_seconds"]
        threads = ours["machine"]["threads"]
        peer_pts = {
            p["lib"]: [
                (r["recall_at_k"], max(r["qps_single_query_loop"], r["qps_batch_1thread"]))
                for r in p["results"]
            ]
            for p in peers
        }
        libs = [p["lib"] for p in peers]
        for t in targets:
            ours_q = interpolate(ours_pts, t)
            cells = [name, f"{t:.2f}", fmt_qps(ours_q)]
            cells += [fmt_qps(interpolate(peer_pts[l], t)) for l in libs]
            cells += [fmt_ratio(ours_q, interpolate(peer_pts[l], t)) for l in libs]
            qps_rows.append(cells)
        build_rows.append(
            [name, f"{ours_build:.1f}"]
            + [f"{p['build_seconds']:.1f}" for p in peers]
            + [f"{ours_build / p['build_seconds']:.2f}" for p in peers]
        )
    header = ["dataset", "Recall@10", "stratavec QPS"] + [f"{l} QPS" for l in libs]
    header += [f"ratio vs {l}" for l in libs]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in qps_rows:
        print("| " + " | ".join(row) + " |")
    print()
    header = ["dataset", f"stratavec build s ({threads} thr)"] + [f"{l} build s" for l in libs]
    header += [f"ratio vs {l}" for l in libs]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in build_rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
