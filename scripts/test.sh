#!/usr/bin/env bash
# Run the test suite in its own virtual environment (.venv). Extra arguments go to pytest.
source "$(dirname "$0")/_venv.sh" test,plot
cd "$ROOT"
python -c "import quaton_fast as q; print('quaton_fast', q.__version__, q.build_info())"
python -m pytest -q "$@"
