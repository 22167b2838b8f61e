#!/usr/bin/env bash
# One-shot GPU session: build with CUDA (+ cuFFTDx), run the CUDA tests, a compute-sanitizer
# memcheck on one small run of each kernel family, and the GPU benchmarks; logs and JSON records
# go to ${OUT:-gpu_out}/. Uses the machine's own torch/pybind11/scikit-build-core
# (no build isolation). nvidia-mathdx (cuFFTDx headers) is taken from the environment, or from
# wheels in .whl/ (see the device tool's notes on carrying wheels).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
echo "== build"
QUATON_FAST_CUDA=ON python3 -m pip install -q --no-build-isolation --no-deps . 2>&1 | tail -20 | tee "$OUT/build.log"
python3 -c "import quaton_fast as q, json; print(json.dumps(q.build_info()))" | tee "$OUT/build_info.json"
echo "== CUDA tests"
python3 -m pytest -q tests/cuda tests/aoc/test_fixed_point_cuda_checks.py 2>&1 | tee "$OUT/cuda_tests.log" | tail -30
echo "== compute-sanitizer memcheck (small runs)"
compute-sanitizer --tool memcheck --error-exitcode 3 python3 -m pytest -q -x \
  "tests/cuda/test_fixed_point_cuda.py::test_noise_is_reproducible_and_seeded" \
  "tests/cuda/test_fused_propagation_cuda.py::test_no_modulation_and_leading_dims" 2>&1 | tail -15 | tee "$OUT/memcheck.log"
echo "== benchmarks"
python3 benchmarks/bench_fixed_point.py --out "$OUT/bench_fixed_point.json" 2>&1 | tee "$OUT/bench_fixed_point.log"
python3 benchmarks/bench_d2nn.py --out "$OUT/bench_d2nn.json" 2>&1 | tee "$OUT/bench_d2nn.log"
# G-set instances travel in the git-ignored data_cache/ folder (cp -r ../shared/data/gset data_cache/ and
# carry data_cache); the peers (dwave-samplers, dimod, simulated-bifurcation) as wheels in .whl/
if [ -d data_cache/gset ]; then
  python3 benchmarks/bench_solver_peers.py --data data_cache/gset --methods ours-gpu,sb-gpu,sa --seeds 0,1,2 \
    --cap 30 --budgets 1,10 --out-json "$OUT/bench_solver_gpu.json" --out-md "$OUT/bench_solver_gpu.md" \
    2>&1 | tee "$OUT/bench_solver_gpu.log"
fi
