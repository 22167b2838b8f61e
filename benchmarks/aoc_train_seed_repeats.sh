#!/usr/bin/env bash
# Seed-1 repeats of the configurations selected on validation in docs/results.md ("AOC equilibrium models")
# (seed 1 changes the init, the batch order and the 48k/12k split; for regression also the test points).
set -u
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1
S=runs/aoc_train_seed1; mkdir -p "$S"
rep() {  # tag, then aoc-train arguments
  local tag="$1"; shift
  [ -f "$S/$tag.json" ] && return 0
  quaton-fast aoc-train "$@" --batch 64 --seed 1 --threads 1 --no-progress --out "$S/ck_$tag" \
    --results "$S/$tag.json" > "$S/$tag.log" 2>&1
}
rep mnist_4096_lr3e-4_ep20_seed1 --task mnist --model 4096 --lr 3e-4 --epochs 20
rep fashion_4096_lr3e-4_ep20_seed1 --task fashion --model 4096 --lr 3e-4 --epochs 20
rep mnist_256_lr3e-4_ep20_seed1 --task mnist --model 256 --lr 3e-4 --epochs 20
rep fashion_256_lr1e-3_cos_ep20_seed1 --task fashion --model 256 --lr 1e-3 --lr-schedule cosine --epochs 20
rep gauss_256_lr1e-3_ep100_seed1 --task gauss --model 256 --lr 1e-3 --epochs 100
rep sine_256_lr1e-3_ep100_seed1 --task sine --model 256 --lr 1e-3 --epochs 100
rep sine_256_lr1e-3_ep300_seed1 --task sine --model 256 --lr 1e-3 --epochs 300
