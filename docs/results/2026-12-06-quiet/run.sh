#!/usr/bin/env bash
# The quiet-machine run of 2026-12-06 behind docs/payloads.md ("Against the goal", "Costs"):
# filtered search on the benchmark payload filters, f32, sq4 and RaBitQ blocks, then the payload
# write throughput. Nothing else ran meanwhile. BIN is the CLI built at the commit measured
# (cargo build --release -p stratavec-cli); PAYLOAD_WRITES, if set, the payload_writes example
# built at the same commit (the run used both, built at e6d69fd).
set -euo pipefail
BIN=${BIN:-target/release/stratavec}
OUT=${OUT:-docs/results/2026-12-06-quiet}
D=${DATASETS:-../shared/datasets}
for ds in wordllama-sent-256-ip mnist-784-l2; do
  "$BIN" bench --dataset "$D/$ds" --quant none,sq4,rabitq --filter payload \
      --ef 16,32,64,128 --repeats 20 --threads 2 --json "$OUT/filtered-$ds.json" \
      > "$OUT/filtered-$ds.txt" 2>/dev/null
done
${PAYLOAD_WRITES:-cargo run --release --example payload_writes --} --rows 50000 --dim 256 --rounds 10 \
    > "$OUT/payload-writes.txt" 2>&1
