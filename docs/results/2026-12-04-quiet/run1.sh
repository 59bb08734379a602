#!/bin/bash
# Quiet run 1: house A/B (old vs new), RaBitQ builds (timed), RaBitQ vs SymphonyQG side by side.
set -u
Q=/work/notes/quiet; NEW=/work/bench-bin/stratavec-a6ec01f; OLD=/work/bench-bin/stratavec-577913a
DS=/work/shared/datasets; WL=$DS/wordllama-sent-256-ip; MN=$DS/mnist-784-l2
log() { echo "$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" | tee -a $Q/run1.log; }
log start
# 1. house A/B: the same segment files (built by OLD), old and new binaries alternating.
for r in 1 2 3; do
  for bin in OLD NEW; do
    B=${!bin}
    for f in wordllama-sent-256-ip-none wordllama-sent-256-ip-sq4 mnist-784-l2-none mnist-784-l2-sq4; do
      d=$DS/${f%-*}
      $B bench --index /work/ab/$f.svs --dataset $d --ef 32,128 --threads 1 --repeats 10 > $Q/ab-$bin-$f-$r.txt 2>&1
      log "ab $bin $f r$r: $(grep -E '^(32|128) ' $Q/ab-$bin-$f-$r.txt | awk '{print $1"="$2"/"$3}' | tr '\n' ' ')"
    done
  done
done
# 2. our RaBitQ builds, timed (2 threads, m 16, ef_construction 200).
for d in $WL $MN; do
  n=$(basename $d)
  for cfg in "rabitq fastscan" "rabitq8 fastscan" "rabitq4 compact"; do
    set -- $cfg
    /usr/bin/time -v $NEW build --dataset $d --quant $1 --layout $2 --threads 2 --m 16 --ef-construction 200 --out /work/ab/q-$n-$1-$2.svs > $Q/build-$n-$1-$2.txt 2>&1
    log "build $n $1 $2: $(grep -E 'Elapsed|Maximum resident' $Q/build-$n-$1-$2.txt | tr -s ' ' | tr '\n' ' ')"
  done
done
# 3. side by side, alternating: SymphonyQG (builds + sweeps), then ours on the files of step 2.
for r in 1 2; do
  for d in $WL $MN; do
    n=$(basename $d)
    /tmp/peers-venv/bin/python /work/main/benches/peers/peers.py --dataset $d --libs symqg --ef 16,24,32,48,64,96,128,192,256 --repeats 20 --build-threads 2 --json $Q/symqg-$n-$r.json > $Q/symqg-$n-$r.log 2>&1
    log "symqg $n r$r done"
    for cfg in rabitq-fastscan rabitq8-fastscan rabitq4-compact; do
      $NEW bench --dataset $d --index /work/ab/q-$n-$cfg.svs --load --ef 16,24,32,48,64,96,128,192,256 --threads 1 --repeats 20 --json $Q/ours-$n-$cfg-$r.json > $Q/ours-$n-$cfg-$r.txt 2>&1
      log "ours $n $cfg r$r done"
    done
    $NEW bench --dataset $d --index /work/ab/$n-sq4.svs --load --ef 16,24,32,48,64,96,128,192,256 --threads 1 --repeats 20 --json $Q/ours-$n-sq4-$r.json > $Q/ours-$n-sq4-$r.txt 2>&1
    log "ours $n sq4 r$r done"
  done
done
log end
