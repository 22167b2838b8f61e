#!/usr/bin/env bash
# Second part of the AOC training sweep (docs/results.md ("AOC equilibrium models")): lr 1e-3 with cosine decay,
# started after the constant-lr runs of benchmarks/aoc_train_sweep.sh. Usage: bash benchmarks/aoc_train_sweep_cosine.sh C|D [pid to wait for]
set -u
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1
R=runs/aoc_train; mkdir -p "$R"
[ -n "${2:-}" ] && while kill -0 "$2" 2>/dev/null; do sleep 10; done
one() {  # task model lr epochs
  local tag="$1_$2_lr$3_cos_ep$4"
  [ -f "$R/$tag.json" ] && return 0
  quaton-fast aoc-train --task "$1" --model "$2" --lr "$3" --lr-schedule cosine --epochs "$4" --batch 64 \
    --seed 0 --threads 1 --no-progress --out "$R/ck_$tag" --results "$R/$tag.json" > "$R/$tag.log" 2>&1
}
case "$1" in
  C) one mnist 4096 1e-3 20; one fashion 256 1e-3 20 ;;
  D) one fashion 4096 1e-3 20; one mnist 256 1e-3 20 ;;
esac
