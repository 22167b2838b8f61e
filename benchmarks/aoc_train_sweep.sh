#!/usr/bin/env bash
# The AOC training runs of docs/results.md ("AOC equilibrium models"): two single-threaded workers in the
# background, each run writing its own JSON (runs/aoc_train/<tag>.json) and log; merge the JSONs into
# docs/results/aoc_train.json afterwards (benchmarks/aoc_train_merge.py). Usage: bash benchmarks/aoc_train_sweep.sh A|B|E|F|G
set -u
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1
R=runs/aoc_train; mkdir -p "$R"
one() {  # task model lr epochs
  local tag="$1_$2_lr$3_ep$4"
  [ -f "$R/$tag.json" ] && return 0
  quaton-fast aoc-train --task "$1" --model "$2" --lr "$3" --epochs "$4" --batch 64 --seed 0 --threads 1 \
    --no-progress --out "$R/ck_$tag" --results "$R/$tag.json" > "$R/$tag.log" 2>&1
}
case "$1" in
  A) one mnist 4096 1e-3 20; one fashion 4096 1e-3 20; one mnist 4096 3e-4 20; one fashion 4096 3e-4 20 ;;
  B) one mnist 256 1e-3 20; one mnist 256 3e-4 20; one fashion 256 1e-3 20; one fashion 256 3e-4 20
     one gauss 256 1e-3 100; one sine 256 1e-3 100; one gauss 256 3e-3 100; one sine 256 3e-3 100 ;;
  E) one sine 256 1e-3 300 ;;  # added after the seed-1 repeat of sine (lr 1e-3, 100 epochs) came out 7x worse
  F) one mnist 4096 3e-4 40 ;;  # longer runs: the selected 20-epoch runs peaked at their last epoch
  G) one fashion 4096 3e-4 40 ;;
esac
