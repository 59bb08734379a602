#!/usr/bin/env python3
"""The tables of one `benches/run-all` run, as Markdown: OUT/report.md, and (with --doc) the
generated part of docs/benchmarks.md, between `<!-- run-all:begin -->` and `<!-- run-all:end -->`.

Reads what run-all wrote in OUT: run.json (command, date, commit, versions, skipped datasets),
steps.jsonl (each step's start and the load averages around it), and per dataset D the folder
OUT/D with stratavec.json (`stratavec bench --json`), peers.json (benches/peers/peers.py) and
pgvector.json (`stratavec compare-pgvector --json`), any of them absent when skipped, plus the
plot OUT/D.svg. Nothing is measured here and no figure is typed in: every number comes from
those files.

QPS at a target Recall@10 is interpolated linearly between the two ef points around it (table.py's
`interpolate`, the same rule as stratavec::eval::interpolate_qps_at_recall); "≥" marks a target
already met at the smallest ef (that point's QPS, a lower bound). For the Python peers the QPS at
each ef is the better of their two single-thread modes (one-query calls, calls of 25 queries).

Usage: report.py OUT [--doc docs/benchmarks.md]
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from table import interpolate, table  # noqa: E402

BEGIN = "<!-- run-all:begin -->"
END = "<!-- run-all:end -->"


def targets_for(dataset):
    # On wordpiece no HNSW library gets much past Recall@10 0.7 (see the datasets' README).
    return [0.5, 0.7] if dataset.startswith("wordpiece") else [0.95, 0.99]


def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def our_label(c):
    label = "stratavec " + ("f32" if c["quant"] == "none" else c["quant"])
    if c.get("oversample"):
        label += f" ×{c['oversample']}"
    if c.get("layout") and c["layout"] != "compact":
        label += f" {c['layout']}"
    return label


def series_of(ds_dir):
    """Every line of the dataset: label -> {points, build, bpv, kind, ef_points}."""
    series = {}
    ours = load_json(os.path.join(ds_dir, "stratavec.json"))
    if ours:
        n = ours["dataset"]["n_base"]
        for r in ours["results"]:
            c = r["config"]
            if c.get("filter") is not None:
                continue
            s = series.setdefault(our_label(c), {"points": [], "ef": {}, "build": r["build_seconds"],
                                                 "bpv": None, "ours": True})
            s["points"].append((r["recall_at_k"], r["qps_single_thread"]))
            s["ef"][c["ef"]] = (r["recall_at_k"], r["qps_single_thread"])
            mem = r.get("memory")
            if mem:
                data = mem["codes_bytes"] if mem["codes_bytes"] else mem["originals_bytes"]
                s["bpv"] = (data + mem["graph_bytes"] + mem.get("fast_scan_bytes", 0)) / n
    for p in load_json(os.path.join(ds_dir, "peers.json")) or []:
        pts = {r["ef"]: (r["recall_at_k"], max(r["qps_single_query_loop"], r["qps_batch_1thread"]))
               for r in p["results"]}
        series[p["lib"]] = {"points": list(pts.values()), "ef": pts, "build": p["build_seconds"],
                            "bpv": p.get("bytes_per_vector_traversal"), "ours": False}
    pg = load_json(os.path.join(ds_dir, "pgvector.json"))
    if pg:
        n = pg["dataset"]["n_base"]
        pts = {r["config"]["ef"]: (r["recall_at_k"], r["qps_single_thread"])
               for r in pg["results"] if r["config"].get("engine") == "pgvector"}
        series["pgvector"] = {"points": list(pts.values()), "ef": pts,
                              "build": pg["pgvector"]["build_seconds"],
                              "bpv": pg["pgvector"]["index_bytes"] / n, "ours": False}
    return ours, pg, series


def fmt_qps(v):
    q, lower = v
    if q is None:
        return "not reached"
    return ("≥ " if lower else "") + f"{q:,.0f}"


def fmt_ratio(a, b):
    if a[0] is None or b[0] is None:
        return "–"
    return f"{a[0] / b[0]:.2f}"


def loads_line(steps, ds):
    rows = []
    for s in steps:
        if s["dataset"] != ds:
            continue
        rows.append([s["step"], s["start"][11:19], s["end"][11:19],
                     " / ".join(f"{x:.2f}" for x in s["load_start"]),
                     " / ".join(f"{x:.2f}" for x in s["load_end"])])
    if not rows:
        return ""
    return table(["step", "start (UTC)", "end", "load avg at start (1 / 5 / 15 min)", "at end"], rows)


def dataset_section(out, ds, steps, image_base):
    ds_dir = os.path.join(out, ds)
    ours, pg, series = series_of(ds_dir)
    if not series:
        return None
    info = (ours or pg or {}).get("dataset")
    peers = load_json(os.path.join(ds_dir, "peers.json")) or []
    if info is None and peers:
        info = {"name": ds, "n_base": peers[0]["n_base"], "dim": peers[0]["dim"],
                "metric": peers[0]["metric"], "n_queries": peers[0]["n_query"]}
    lines = [f"### {ds}", ""]
    if info:
        lines += [f"{info['n_base']:,} × {info['dim']}, {info['metric']}, "
                  f"{info['n_queries']:,} queries.", ""]
    svg = os.path.join(out, f"{ds}.svg")
    if os.path.exists(svg):
        rel = os.path.relpath(svg, image_base)
        lines += [f"![{ds}: Recall@10 against QPS on one thread, every system]({rel})", ""]

    targets = targets_for(ds)
    names = list(series)
    at = {(s, t): interpolate(series[s]["points"], t) for s in names for t in targets}
    lines += ["QPS on one thread at Recall@10, build time and bytes per vector:", ""]
    rows = [[s] + [fmt_qps(at[(s, t)]) for t in targets]
            + [f"{series[s]['build']:.1f}", f"{series[s]['bpv']:.0f}" if series[s]["bpv"] else "–"]
            for s in names]
    lines += [table(["system"] + [f"QPS at {t:.2f}" for t in targets]
                    + ["build s", "bytes/vector"], rows), ""]

    ours_names = [s for s in names if series[s]["ours"]]
    others = [s for s in names if not series[s]["ours"]]
    if ours_names and others:
        lines += ["Ratio stratavec / other at equal Recall@10 (> 1: stratavec faster):", ""]
        rows = [[f"{t:.2f}", o] + [fmt_ratio(at[(o, t)], at[(p, t)]) for p in others]
                for t in targets for o in ours_names]
        lines += [table(["Recall@10", "stratavec"] + others, rows), ""]

    if pg:
        s = pg["summary"]
        t = s["target_recall"]
        goal = ds.startswith("wordllama-sent-256")
        lines += [f"Against pgvector in one `compare-pgvector` process (built and searched back to "
                  f"back on the same data; QPS at Recall@10 {t:g}):", ""]
        rows = []
        for c in s.get("configs") or []:
            rows.append([c["series"], fmt_qps((c["qps_at_target"], c["lower_bound"])),
                         fmt_qps((s["pgvector_qps_at_target"], s["pgvector_lower_bound"])),
                         "–" if c["qps_ratio_at_target"] is None
                         else f"**{c['qps_ratio_at_target']:.1f}×**",
                         f"{c['build_seconds']:.1f}", f"{pg['pgvector']['build_seconds']:.1f}",
                         f"**{c['build_ratio']:.1f}×**"])
        lines += [table(["stratavec", "QPS", "pgvector QPS", "QPS ratio", "build s",
                         "pgvector build s", "build ratio"], rows), ""]
        if goal and s.get("configs"):
            best_q = max((c["qps_ratio_at_target"] or 0) for c in s["configs"])
            best_b = max(c["build_ratio"] for c in s["configs"])
            lines += [f"Issue 5's goals on this set: ≥ 10× QPS at Recall@10 0.95 — "
                      f"{'met' if best_q >= 10 else 'not met'} (best {best_q:.1f}×); ≥ 5× faster "
                      f"build — {'met' if best_b >= 5 else 'not met'} (best {best_b:.1f}×).", ""]
        p = pg["pgvector"]
        lines += [f"PostgreSQL {p['server_version']}, pgvector {p['extension_version']}; "
                  f"maintenance_work_mem {p['maintenance_work_mem_mib']} MiB, leader + "
                  f"{p['max_parallel_maintenance_workers']} parallel workers; index "
                  f"{p['index_bytes'] / 2**20:.1f} MiB + table {p['table_bytes'] / 2**20:.1f} MiB; "
                  f"round trip p50 {p['round_trip_p50_us']:.0f} µs"
                  + (f"; server notices: {'; '.join(p['notices'])}" if p.get("notices") else "")
                  + ".", ""]

    versions = [f"{p['lib']} {p['lib_version']}" for p in peers]
    if versions:
        lines += ["Peers: " + ", ".join(versions) + ".", ""]
    loads = loads_line(steps, ds)
    if loads:
        lines += ["Steps and machine load:", "", loads, ""]

    efs = sorted({ef for s in names for ef in series[s]["ef"]})
    rows = []
    for ef in efs:
        row = [str(ef)]
        for s in names:
            v = series[s]["ef"].get(ef)
            row.append(f"{v[0]:.4f} / {v[1]:,.0f}" if v else "–")
        rows.append(row)
    lines += ["<details><summary>Full sweep: Recall@10 / QPS on one thread at each ef</summary>", "",
              table(["ef"] + names, rows), "", "</details>", ""]
    return "\n".join(lines)


def render(out, image_base):
    run = load_json(os.path.join(out, "run.json")) or {}
    steps = []
    if os.path.exists(os.path.join(out, "steps.jsonl")):
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f if line.strip()]
    datasets = sorted({s["dataset"] for s in steps},
                      key=lambda d: [s["dataset"] for s in steps].index(d))
    efs = ", ".join(str(e) for e in run.get("efs", []))
    lines = [
        "## Generated by `benches/run-all`",
        "",
        "Everything between the `run-all` markers is written by `benches/report.py` from the raw "
        f"results in [`{os.path.relpath(out, image_base)}/`]({os.path.relpath(out, image_base)}/); "
        "edit the scripts, not this text.",
        "",
        f"* command: `{run.get('command', '?')}`",
        f"* date: {run.get('date', '?')}; commit `{run.get('commit', '?')}`; stratavec "
        f"{run.get('stratavec_version', '?')}",
        f"* machine: {run.get('cpu', '?')}, {run.get('cores', '?')} cores, kernel "
        f"{run.get('kernel', '?')}",
        f"* peers (PyPI): {' '.join(run.get('peers_packages', [])) or 'not run'}",
        f"* settings for every system: M = {run.get('m')}, ef_construction = "
        f"{run.get('ef_construction')}, k = 10, build on {run.get('threads')} threads, search one "
        f"query at a time on one thread, ef swept over {efs}; a warm-up pass, then "
        f"{run.get('repeats')} timed pass{'' if run.get('repeats') == 1 else 'es'}, each chunk of 25 "
        "queries counting its fastest pass",
        f"* stratavec configurations: `--quant {run.get('our_quants')}`"
        + (f" `--layout {run['our_layouts']}`" if run.get("our_layouts") else "")
        + " (quantized indexes rerank k × oversample candidates exactly, at each codec's default "
        "oversampling); "
        + (f"against pgvector: `--quant {run['pg_quants']}`" if run.get("pg_quants")
           else "pgvector not run"),
        "* QPS at a target recall is interpolated linearly between the two ef around it; ≥ marks "
        "a target already met at the smallest ef. For the Python peers each ef counts the better "
        "of their two single-thread modes (one-query calls, calls of 25 queries), so Python's call "
        "overhead is not held against them. bytes/vector is what the traversal reads per vector "
        "(codes or f32 vectors plus level-0 links, plus the fast-scan blocks in that layout; for "
        "pgvector its whole index over n).",
        "",
    ]
    for skipped in run.get("skipped", []):
        lines += [f"**Skipped** {skipped}.", ""]
    for ds in datasets:
        section = dataset_section(out, ds, steps, image_base)
        if section:
            lines.append(section)
    return "\n".join(lines).rstrip() + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="the folder benches/run-all wrote")
    ap.add_argument("--doc", help="replace the text between the run-all markers of this file")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(render(out, out))
    print(f"wrote {os.path.join(out, 'report.md')}", file=sys.stderr)
    if args.doc:
        with open(args.doc) as f:
            doc = f.read()
        if doc.count(BEGIN) != 1 or doc.count(END) != 1 or doc.index(BEGIN) > doc.index(END):
            sys.exit(f"{args.doc}: needs exactly one {BEGIN} followed by one {END}")
        body = render(out, os.path.dirname(os.path.abspath(args.doc)))
        head, rest = doc.split(BEGIN)
        _, tail = rest.split(END)
        with open(args.doc, "w") as f:
            f.write(head + BEGIN + "\n" + body + END + tail)
        print(f"updated {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
