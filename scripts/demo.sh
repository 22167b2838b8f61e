#!/usr/bin/env bash
# The main job on the embedded default: a small D2NN on the real 5k MNIST subset, FP vs PQ vs
# PSQ at 4 phase levels, trained on the CPU (or GPU if present); prints the table.
source "$(dirname "$0")/_venv.sh" plot
cd "$ROOT"
quaton-fast demo "$@"
