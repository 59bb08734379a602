#!/usr/bin/env bash
# The peers of docs/payloads.md ("Peers"), 2026-12-06, nothing else running: stratavec's wheel
# (sq4, built from this commit's python/) against Qdrant Edge on 1,000 queries, then Zvec and
# LanceDB on 200 (at 60-300 QPS, 1,000 queries × 7 searches × 4 beams × 4 passes would take an
# hour), same payloads, filters and exact filtered ground truth.
#   python3 -m venv /tmp/fp && /tmp/fp/bin/pip install -r benches/peers/requirements-filtered.txt ./python
set -euo pipefail
PY=${PY:-/tmp/fp/bin/python}
OUT=${OUT:-docs/results/2026-12-06-quiet}
D=${DATASETS:-../shared/datasets}
for ds in wordllama-sent-256-ip mnist-784-l2; do
  "$PY" benches/peers/filtered.py --dataset "$D/$ds" --libs stratavec,qdrant-edge \
      --stratavec-quant sq4 --ef 16,32,64,128 --repeats 3 --json "$OUT/peers-$ds.json" \
      > "$OUT/peers-$ds.txt" 2>&1
  "$PY" benches/peers/filtered.py --dataset "$D/$ds" --libs zvec,lancedb --queries 200 \
      --ef 16,32,64 --repeats 3 --json "$OUT/peers-slow-$ds.json" > "$OUT/peers-slow-$ds.txt" 2>&1
done
