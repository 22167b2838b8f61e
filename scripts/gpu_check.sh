#!/usr/bin/env bash
# One-shot GPU session (target: under 8 minutes on one H100/H200): build with CUDA (+ cuFFTDx),
# run the CUDA tests (incl. the sync-debug-mode and CUDA-graph-capture tests of the D2NN step),
# the D2NN benchmark against the careful baselines, the per-quantizer sync/GPU-busy profile, the
# fixed-point (AOC) benchmark, compute-sanitizer memcheck, racecheck and synccheck on small runs of
# each kernel family (the kernels' shared-memory and barrier use, which the CPU emulator of
# tests/kernels/ proves on the CPU, checked once more on silicon), and the solver peers if their
# data travelled. The kernels' correctness is proven before any GPU sees them (docs/gpu.md: the CPU
# emulator); this script measures and re-checks. Each step runs under `timeout`, capped by what is
# left of the overall budget (GPU_CHECK_BUDGET_S, default 470 s); a step that fails or times out
# is logged and the next one runs. ${OUT:-gpu_out}/ receives at most 7 files (the device tool brings
# back 8): info.txt, summary.txt, tests.log, bench_d2nn.json, profile_d2nn.json,
# bench_fixed_point.json and logs.tar.gz (every log); the D2NN records are also copied to
# docs/results/bench_d2nn.json in the working tree.
#
# Uses the machine's own torch/pybind11/scikit-build-core (no build isolation). nvidia-mathdx
# (cuFFTDx headers, not on the device image) is taken from the environment or from wheels in .whl/.
# Before the device call, on the machine that has a network (23 MB, pure-Python wheel):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl nvidia-mathdx==25.6.0
# then run `bash scripts/gpu_check.sh` with carry [".whl"] and a timeout of about 560 s (the budget
# below plus the tarball); without the wheel the fused kernels are not built and their tests skip.
# GPU_CHECK_BUDGET_S sets the budget (default 470 s).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
# every log and record is written to $LOGS; at the end the key files are copied to $OUT and the
# rest packed into $OUT/logs.tar.gz (the device tool brings back at most 8 files)
LOGS="$(mktemp -d /tmp/gpu_check.XXXXXX)"
export PYTHONUNBUFFERED=1
BUDGET_S="${GPU_CHECK_BUDGET_S:-470}"
# GPU_CHECK_CPU_SMOKE=1: check this script's plumbing on a CPU machine (no build, tiny CPU runs)
SMOKE="${GPU_CHECK_CPU_SMOKE:-0}"
START_S=$(date +%s)
SUMMARY="$LOGS/summary.txt"
: > "$SUMMARY"

# step NAME CAP_S LOGFILE command... : run under a timeout of min(CAP_S, budget left), tee to LOGFILE
step() {
  local name="$1" cap="$2" log="$3"; shift 3
  local left=$(( BUDGET_S - ($(date +%s) - START_S) ))
  local limit=$(( cap < left ? cap : left ))
  if [ "$limit" -lt 10 ]; then
    echo "== $name: SKIPPED (budget exhausted)" | tee -a "$SUMMARY"
    return 0
  fi
  echo "== $name (timeout ${limit}s)"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1
  local rc=$?
  tail -25 "$log"
  local status="rc=$rc"
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status="TIMEOUT after ${limit}s"
  echo "== $name: $status in $(( $(date +%s) - t0 ))s (log $(basename "$log"))" | tee -a "$SUMMARY"
  return 0
}

if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import torch, sys; print(torch.__version__, torch.version.cuda, sys.version.split()[0])"
  git rev-parse HEAD 2>/dev/null || echo "commit: unknown (no git)"
  git status --short 2>/dev/null | head -20
} > "$LOGS/info.txt" 2>&1
cat "$LOGS/info.txt"

if [ "$SMOKE" = 1 ]; then
  echo "== CPU smoke run of gpu_check.sh (no build, no GPU)" | tee -a "$SUMMARY"
  step cuda-tests 300 "$LOGS/tests.log" python3 -m pytest -q -rxXs tests/functional/test_sync_free.py \
    tests/test_bench_d2nn_check.py
  step bench-d2nn 300 "$LOGS/bench_d2nn.log" python3 benchmarks/bench_d2nn.py --device cpu --quick \
    --out "$LOGS/bench_d2nn.json"
  step profile-d2nn 120 "$LOGS/profile_d2nn.log" python3 benchmarks/profile_d2nn_step.py --device cpu \
    --config 16,2,3,2 --steps 1 --out "$LOGS/profile_d2nn.json"
  for f in info.txt summary.txt tests.log bench_d2nn.json profile_d2nn.json; do cp "$LOGS/$f" "$OUT/$f"; done
  tar -czf "$OUT/logs.tar.gz" -C "$LOGS" .
  cat "$SUMMARY"
  exit 0
fi

# -- build (everything below needs it)
step build 300 "$LOGS/build.log" env QUATON_FAST_CUDA=ON python3 -m pip install -q --no-build-isolation --no-deps .
python3 -c "import quaton_fast as q, json; print(json.dumps(q.build_info()))" >> "$LOGS/info.txt" 2>&1
tail -1 "$LOGS/info.txt"

# -- tests: CUDA suite, the sync-free step (CPU guard + sync-debug mode + CUDA-graph capture),
#    the AOC fixed-point checks, the benchmark's cross-check
step cuda-tests 150 "$LOGS/tests.log" python3 -m pytest -q -rxXs \
  tests/cuda tests/functional/test_sync_free.py tests/aoc/test_fixed_point_cuda_checks.py \
  tests/test_bench_d2nn_check.py

# -- D2NN benchmark (the issue's four sizes): careful eager / CUDA graph / torch.compile / loop
step bench-d2nn 200 "$LOGS/bench_d2nn.log" python3 benchmarks/bench_d2nn.py --compile-budget-s 110 \
  --out "$LOGS/bench_d2nn.json"
[ -s "$LOGS/bench_d2nn.json" ] && mkdir -p docs/results && cp "$LOGS/bench_d2nn.json" docs/results/bench_d2nn.json

# -- host syncs and GPU busy fraction of a training step, every quantizer (N=200, B=64, L=5)
step profile-d2nn 60 "$LOGS/profile_d2nn.log" python3 benchmarks/profile_d2nn_step.py \
  --out "$LOGS/profile_d2nn.json"

# -- AOC fixed-point benchmark (helper "aoc"'s side)
step bench-fixed-point 90 "$LOGS/bench_fixed_point.log" python3 benchmarks/bench_fixed_point.py \
  --out "$LOGS/bench_fixed_point.json"

# -- compute-sanitizer memcheck, one small run of each kernel family
step memcheck 60 "$LOGS/memcheck.log" compute-sanitizer --tool memcheck --error-exitcode 3 python3 -m pytest -q -x \
  "tests/cuda/test_fixed_point_cuda.py::test_noise_is_reproducible_and_seeded" \
  "tests/cuda/test_fused_propagation_cuda.py::test_no_modulation_and_leading_dims"

# -- compute-sanitizer racecheck (shared-memory hazards) and synccheck (barrier misuse): the PSQ
#    backward's block reduction, the fused passes' FFT/tile shared memory, the fixed point's warps,
#    the quantized row passes' per-block accumulators (issue 22 item 1)
KERNEL_SMALL_TESTS=("tests/cuda/test_psq_kernel_cuda.py::test_psq_kernel_forward_backward[257-4]"
  "tests/cuda/test_fused_propagation_cuda.py::test_no_modulation_and_leading_dims"
  "tests/cuda/test_fixed_point_cuda.py::test_noise_is_reproducible_and_seeded"
  "tests/cuda/test_fused_quant_cuda.py::test_fused_quantizer_is_sync_free")
for tool in racecheck synccheck; do
  step "$tool" 60 "$LOGS/$tool.log" compute-sanitizer --tool "$tool" --error-exitcode 3 python3 -m pytest -q -x \
    "${KERNEL_SMALL_TESTS[@]}"
done

# -- solver peers: G-set instances travel in the git-ignored data_cache/ folder
#    (cp -r ../shared/data/gset data_cache/ and carry data_cache); peers as wheels in .whl/
if [ -d data_cache/gset ]; then
  step solver-peers 90 "$LOGS/bench_solver_gpu.log" python3 benchmarks/bench_solver_peers.py --data data_cache/gset \
    --methods ours-gpu,sb-gpu,sa --seeds 0,1,2 --cap 30 --budgets 1,10 \
    --out-json "$LOGS/bench_solver_gpu.json" --out-md "$LOGS/bench_solver_gpu.md"
fi

echo "== total $(( $(date +%s) - START_S ))s of ${BUDGET_S}s budget" | tee -a "$SUMMARY"
for f in info.txt summary.txt tests.log bench_d2nn.json profile_d2nn.json bench_fixed_point.json; do
  [ -f "$LOGS/$f" ] && cp "$LOGS/$f" "$OUT/$f"
done
tar -czf "$OUT/logs.tar.gz" -C "$LOGS" .
echo "in $OUT: $(ls "$OUT" | tr '\n' ' ')"
