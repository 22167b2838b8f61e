#!/usr/bin/env bash
# Run the test suite in its own virtual environment (.venv). Extra arguments go to pytest.
# One pytest worker per CPU core (pytest-xdist, from the test extra); QF_TEST_WORKERS=N sets the
# count, QF_TEST_WORKERS=1 runs in one process.
source "$(dirname "$0")/_venv.sh" test,plot
cd "$ROOT"
python -c "import quaton_fast as q; print('quaton_fast', q.__version__, q.build_info())"
# the whole suite (no arguments) also lists its 15 slowest tests: where the wall time goes
if [ "$#" -eq 0 ]; then set -- --durations=15; fi
workers="${QF_TEST_WORKERS:-auto}"
if [ "$workers" != 1 ] && python -c "import xdist" 2>/dev/null; then
  set -- -n "$workers" --dist loadgroup "$@"
fi
_qf_t0=$(date +%s)
python -m pytest -q "$@"
echo "[tests took $(( $(date +%s) - _qf_t0 ))s]"
