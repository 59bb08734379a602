"""The table of docs/payloads.md ("Group graphs: before and after") from run.sh's JSON: per round
and side, QPS on one thread at the smallest beam of the sweep reaching Recall@10 0.95, for each
codec and filter, and its ratio to the unfiltered search of the same index at 0.95; the build time.
Run: python3 docs/results/2026-12-06-groups/ratios.py"""

import json
import pathlib
import sys

here = pathlib.Path(__file__).parent
FILTERS = ["-", "kw-0.1%", "kw-1%", "kw-10%", "kw-50%", "range-10%", "far-10%"]


def best(results, quant, filt):
    """(QPS, recall, ef) at the smallest ef reaching 0.95, or None."""
    rows = [
        r
        for r in results
        if r["config"]["quant"] == quant and r["config"].get("filter_name", "-") == filt
    ]
    rows.sort(key=lambda r: r["config"]["ef"])
    for r in rows:
        if r["recall_at_k"] >= 0.95:
            return r["qps_single_thread"], r["recall_at_k"], r["config"]["ef"]
    return None


def main():
    for path in sorted(here.glob("*.json")):
        results = json.loads(path.read_text())["results"]
        print(f"## {path.stem}")
        for quant in dict.fromkeys(r["config"]["quant"] for r in results):
            build = next(r["build_seconds"] for r in results if r["config"]["quant"] == quant)
            unf = best(results, quant, "-")
            cells = []
            for f in FILTERS:
                b = best(results, quant, f)
                if b is None:
                    cells.append(f"{f}: <0.95")
                elif f == "-":
                    cells.append(f"unfiltered {b[0]:,.0f} (ef {b[2]}, {b[1]:.3f})")
                else:
                    ratio = b[0] / unf[0] if unf else float("nan")
                    cells.append(f"{f} {b[0]:,.0f} ({ratio:.2f}x, ef {b[2]}, {b[1]:.3f})")
            print(f"{quant:7} build {build:5.1f} s | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
