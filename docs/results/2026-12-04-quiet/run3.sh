#!/bin/bash
# Quiet run 3: recall targets (issue 17).
set -u
Q=/work/notes/quiet; B=/work/bench-bin/stratavec-rt; DS=/work/shared/datasets; EX=/work/main/target/release/examples/recall_drift
log() { echo "$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" | tee -a $Q/run3.log; }
log start
for n in mnist-784-l2 wordllama-sent-256-ip; do
  $B bench --dataset $DS/$n --quant none,sq4,rabitq --ef 10,14,20,28,40,57,80,113,160,226,320,452,640 --target-recall 0.9,0.95,0.99 --threads 1 --repeats 3 --json $Q/target-$n.json > $Q/target-$n.txt 2>&1
  log "targets $n done"
done
$EX --dataset $DS/wordllama-sent-256-ip --targets 0.95 --monitor-cost 9 --passes 0 > $Q/monitor-cost.txt 2>&1; log "monitor cost done"
$EX --dataset $DS/mnist-784-l2 > $Q/drift-mnist.txt 2>&1; log "drift mnist done"
$EX --dataset $DS/wordllama-sent-256-ip > $Q/drift-wordllama.txt 2>&1; log "drift wordllama done"
log end
