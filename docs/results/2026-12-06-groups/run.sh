#!/usr/bin/env bash
# Group graphs (issue 15), before and after, quiet machine 2026-12-06: the payload filters on
# wordllama-sent-256-ip with f32, sq4 and RaBitQ blocks, the CLI with group graphs (NEW) and the
# one before them (OLD, built at 42a1fec), alternated NEW OLD NEW OLD. Nothing else ran meanwhile.
# mnist-784-l2 is not rerun: at 9,000 rows no keyword value has the 4,096 rows a group graph needs,
# so its searches are those of docs/results/2026-12-06-quiet.
set -euo pipefail
NEW=${NEW:-target/release/stratavec}
OLD=${OLD:?the CLI built at 42a1fec}
OUT=${OUT:-docs/results/2026-12-06-groups}
D=${DATASETS:-../shared/datasets}
for round in 1 2; do
  for side in new old; do
    bin=$NEW; [ "$side" = old ] && bin=$OLD
    "$bin" bench --dataset "$D/wordllama-sent-256-ip" --quant none,sq4,rabitq --filter payload \
        --ef 16,24,32,48,64,96,128 --repeats 6 --threads 2 \
        --json "$OUT/$side-$round.json" > "$OUT/$side-$round.txt" 2>/dev/null
  done
done
