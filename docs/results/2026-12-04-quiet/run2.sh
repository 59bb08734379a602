#!/bin/bash
set -u
Q=/work/notes/quiet; NEW=/work/bench-bin/stratavec-a6ec01f; DS=/work/shared/datasets; W=/tmp/stratavec-write-bench
log() { echo "$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $*" | tee -a $Q/run2.log; }
log start
for r in 1 2; do for v in A B; do log "write-bench $v r$r"; $W/$v --reps 5 --dir $W | grep -v '^rows' > $Q/write-$v-$r.txt 2>&1; cat $Q/write-$v-$r.txt >> $Q/run2.log; done; done
for r in 1 2; do
  d=$DS/wordllama-sent-256-ip
  /tmp/peers-venv/bin/python /work/main/benches/peers/peers.py --dataset $d --libs symqg --ef 192,256,384,512 --repeats 20 --build-threads 2 --json $Q/hi-symqg-wordllama-sent-256-ip-$r.json > /dev/null 2>&1
  $NEW bench --dataset $d --index /work/ab/q-wordllama-sent-256-ip-rabitq-fastscan.svs --load --ef 64,96,128,192 --threads 1 --repeats 20 --json $Q/hi-ours-wordllama-sent-256-ip-rabitq-fastscan-$r.json > /dev/null 2>&1
  log "hi r$r"
  d=$DS/mnist-784-l2
  /tmp/peers-venv/bin/python /work/main/benches/peers/peers.py --dataset $d --libs symqg --ef 10,12,16,24 --repeats 40 --build-threads 2 --json $Q/lo-symqg-mnist-784-l2-$r.json > /dev/null 2>&1
  $NEW bench --dataset $d --index /work/ab/q-mnist-784-l2-rabitq-fastscan.svs --load --ef 10,12,16,24 --threads 1 --repeats 40 --json $Q/lo-ours-mnist-784-l2-rabitq-fastscan-$r.json > /dev/null 2>&1
  $NEW bench --dataset $d --index /work/ab/mnist-784-l2-sq4.svs --load --ef 10,12,16,24 --threads 1 --repeats 40 --json $Q/lo-ours-mnist-784-l2-sq4-$r.json > /dev/null 2>&1
  log "lo r$r"
done
log end
