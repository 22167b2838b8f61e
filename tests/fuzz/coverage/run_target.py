"""Run one reader fuzz target under atheris (coverage-guided, libFuzzer engine).

    python tests/fuzz/coverage/run_target.py TARGET [libFuzzer options] [CORPUS_DIR ...]

e.g. a long run that keeps what it finds in a scratch corpus seeded with the committed one:

    python tests/fuzz/coverage/run_target.py qplib -max_total_time=3600 -rss_limit_mb=4096 \\
        -timeout=30 /tmp/qplib-corpus tests/fuzz/corpus/qplib

Targets: see ``targets.TARGETS``. A contract violation (targets.py docstring) is an uncaught
exception: libFuzzer writes the input to ``crash-<sha1>`` (``-artifact_prefix``) and exits 1;
an input above -rss_limit_mb or -timeout exits non-zero the same way.
"""
import importlib
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets  # noqa: E402

if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
    sys.exit(f"usage: run_target.py TARGET [libFuzzer options], TARGET one of {sorted(targets.TARGETS)}")
NAME = sys.argv.pop(1)
WORK = tempfile.mkdtemp(prefix=f"fuzz_{NAME}_")
# instrument only the reader's own modules: coverage of the whole package costs minutes of start-up
with atheris.instrument_imports(include=list(targets.TARGETS[NAME].modules)):
    for module in targets.TARGETS[NAME].modules:
        importlib.import_module(module)


def one_input(data: bytes) -> None:
    targets.run_one(NAME, data, WORK)


atheris.Setup(sys.argv, one_input)
atheris.Fuzz()
