#!/usr/bin/env bash
set -euo pipefail
cd /work/main
OUT=docs/results/2026-11-28-build-on-codes
DSN=$(scripts/pgvector-up --dir /tmp/pg-cmp | tail -n 1)
trap 'scripts/pgvector-down /tmp/pg-cmp' EXIT
echo "load before: $(cat /proc/loadavg)"
nice -n -10 ./target/release/stratavec compare-pgvector --dataset ../shared/datasets/wordllama-sent-256-ip \
    --dsn "$DSN" --m 16 --ef-construction 200 --quant none,sq4 --ef 10,16,24,32,48,64,96,128,192,256,384,512 --repeats 3 \
    --json $OUT/compare-wordllama-sent-256-ip.json --csv $OUT/compare-wordllama-sent-256-ip.csv \
    --markdown $OUT/compare-wordllama-sent-256-ip.md --svg $OUT/compare-wordllama-sent-256-ip.svg
echo "load after: $(cat /proc/loadavg)"
