"""Fuzz: every numeric option of every `quaton-fast` subcommand, given a bad value, is refused with
exit code 2 and ONE stderr line `quaton-fast <cmd>: error: argument --<option>: ...` - no
traceback, nothing run, nothing written (cases rel11, rel22).

Bad values: numbers out of range (zero / negative where a positive is needed), non-finite floats,
non-integers for integer options, and arbitrary text. In-process (``quaton_fast.cli.main``), so a
run that is not refused fails the test before anything runs (the command itself is replaced).
"""
from __future__ import annotations

import atexit
import contextlib
import io
import math
import os
import shutil
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from unittest import mock

from quaton_fast.cli import app as cli
from quaton_fast.cli import main

# option kinds -> strategies of bad values (as the text a user types)
# ("--" alone is left out: argparse itself drops it from an option's value and takes the default)
_NOT_A_NUMBER = st.sampled_from(["", "abc", "1,5", "0x10", "1_0_", "½", "None", "1e", "++1", "1 2"]) | st.text(
    alphabet=st.characters(blacklist_categories=("Nd",), blacklist_characters="-"), min_size=1, max_size=8)
_NON_FINITE = st.sampled_from(["nan", "inf", "-inf", "NaN", "Infinity", "1e999", "-1e999"])
_NOT_INT = _NOT_A_NUMBER | _NON_FINITE | st.sampled_from(["2.5", "1e3", "0.0", "3."]) | \
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)).map(repr)

BAD = {
    "pos_int": _NOT_INT | st.integers(max_value=0).map(str),
    "nonneg_int": _NOT_INT | st.integers(max_value=-1).map(str),
    "levels": _NOT_INT | st.integers(max_value=1).map(str),
    "pos_float": _NOT_A_NUMBER | _NON_FINITE | st.floats(max_value=0, allow_nan=False, allow_infinity=False).map(repr),
    "float": _NOT_A_NUMBER | _NON_FINITE,
    "nonneg_float": _NOT_A_NUMBER | _NON_FINITE | st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False).map(repr),
    "duration": _NOT_A_NUMBER | _NON_FINITE | st.sampled_from(["0", "0s", "-1s", "1x", "0ms", "-2", "1 h h"]),
    "device": st.sampled_from(["tpu", "gpu", "cuda:", "cuda:-1", "CUDA", "cpu0", "", "mps"]),
    "qopt": st.sampled_from(["k", "=1", "k=", "k=nan", "k=inf", "k=abc", "k=1=2"]),
    "method_qopt": st.sampled_from(["k=3", "psq-ft:k=nan", "bogus:k=1", "psq-ft:k", ":k=1", "psq-ft:=1"]),
    "wavelengths": st.sampled_from(["", "abc", "5e-7,", "5e-7,nan", "0", "-5e-7", "5e-7:7e-7", "5e-7:7e-7:0",
                                    "5e-7:7e-7:2.5", "5e-7:7e-7:100000000", "5e-7:inf:3", "1:2:3:4", "5e-7;6e-7",
                                    ",".join(["5e-7"] * 1025)]),
    "coherence": st.sampled_from(["", "1e-6", "1e-6,1e-6", "1e-6,1e-6,0", "1e-6,1e-6,2.5", "0,1e-6,3",
                                  "1e-6,-1e-6,3", "nan,1e-6,3", "1e-6,1e-6,100000", "1e-6,1e-6,3,4"]),
}

TRAIN = {"--levels": "levels", "--neurons": "pos_int", "--layers": "pos_int", "--object-size": "pos_int",
         "--pad": "pos_int", "--epochs": "nonneg_int", "--warmup": "nonneg_int", "--batch": "pos_int",
         "--lr": "pos_float", "--seed": "nonneg_int", "--train-limit": "pos_int", "--test-limit": "pos_int",
         "--snapshot-epochs": "pos_int", "--n-material": "pos_float", "--device": "device", "--qopt": "qopt",
         "--fab-phase": "nonneg_float", "--fab-shift": "nonneg_float", "--fab-dz": "nonneg_float",
         "--wavelengths": "wavelengths", "--coherence": "coherence"}
SWEEP = {"--levels": "levels", "--warmup": "nonneg_int", "--qat-epochs": "pos_int", "--neurons": "pos_int",
         "--layers": "pos_int", "--object-size": "pos_int", "--pad": "pos_int", "--batch": "pos_int",
         "--lr": "pos_float", "--seed": "nonneg_int", "--train-limit": "pos_int", "--test-limit": "pos_int",
         "--device": "device", "--qopt": "method_qopt"}
AOC = {"--epochs": "pos_int", "--lr": "pos_float", "--batch": "pos_int", "--seed": "nonneg_int",
       "--max-steps": "pos_int", "--max-gain": "float", "--threads": "pos_int", "--device": "device",
       "--readout-noise": "nonneg_float", "--readout-samples": "pos_int", "--readout-repeats": "pos_int"}
SOLVE = {"--time": "duration", "--replicas": "pos_int", "--seed": "nonneg_int", "--target": "float", "--best": "float",
         "--device": "device"}
DEMO = {"--n": "pos_int", "--layers": "pos_int", "--object-size": "pos_int", "--pad": "pos_int",
        "--epochs": "pos_int", "--warmup": "nonneg_int", "--batch": "pos_int", "--lr": "pos_float",
        "--levels": "levels", "--seed": "nonneg_int", "--limit": "pos_int", "--device": "device"}

_TMP = tempfile.mkdtemp(prefix="fuzz_cli_")
atexit.register(shutil.rmtree, _TMP, True)
_GSET = os.path.join(_TMP, "g.txt")
with open(_GSET, "w") as _fh:
    _fh.write("3 2\n1 2 1\n2 3 1\n")
BASE = {
    "train": ["train", "--task", "mnist-5k", "--no-progress", "--no-plots", "--out", os.path.join(_TMP, "train")],
    "sweep": ["sweep", "--tasks", "mnist-5k", "--no-plots", "--root", os.path.join(_TMP, "sweep")],
    "aoc-train": ["aoc-train", "--task", "gauss", "--no-progress", "--results", "", "--out", os.path.join(_TMP, "aoc")],
    "solve": ["solve", _GSET, "--no-progress"],
    "demo": ["demo", "--no-progress"],
}
TABLE = {"train": TRAIN, "sweep": SWEEP, "aoc-train": AOC, "solve": SOLVE, "demo": DEMO}
CASES = st.sampled_from([(cmd, opt, kind) for cmd, opts in TABLE.items() for opt, kind in opts.items()])


class _Accepted(BaseException):
    """Raised instead of running a command whose options were all accepted (not caught by main)."""


def _refuse_to_run(args, argv=None):
    raise _Accepted(f"options accepted, the command would run: {argv}")


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
            mock.patch.object(cli, "_dispatch", _refuse_to_run):
        try:
            rc = main(argv)
        except SystemExit as e:  # must not happen: main returns its exit code
            rc = ("SystemExit", e.code)
    return rc, err.getvalue()


def _check(cmd: str, option: str, value: str, joined: bool) -> None:
    words = [f"{option}={value}"] if joined else [option, value]
    rc, err = _run(BASE[cmd] + words)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert rc == 2, (rc, words, err)
    assert len(lines) == 1, (words, lines)
    assert lines[0].startswith(f"quaton-fast {cmd}: error: argument {option}"), (words, lines[0])
    assert not any(os.path.exists(os.path.join(_TMP, d)) for d in ("train", "sweep", "aoc")), words


@settings(max_examples=int(os.environ.get("FUZZ_N", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=CASES, data=st.data(), joined=st.booleans())
def test_bad_option_values_are_one_line_errors_naming_the_option(case, data, joined):
    cmd, option, kind = case
    value = data.draw(BAD[kind], label="value")
    if not joined and value.startswith("-") and not _looks_negative_number(value):
        joined = True  # `--opt -x` would read -x as an option; `--opt=-x` hands the value over
    _check(cmd, option, value, joined)


def _looks_negative_number(text: str) -> bool:
    try:
        return math.isfinite(float(text)) and text.startswith("-") and "e" not in text.lower()
    except ValueError:
        return False


def test_every_numeric_option_of_every_subcommand_is_in_the_table():
    """A new numeric option must be added to the fuzz table (or be a choice/flag/path)."""
    import argparse
    from quaton_fast.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for cmd, table in TABLE.items():
        for action in sub.choices[cmd]._actions:
            if action.type is not None and action.choices is None and action.option_strings:
                assert any(o in table for o in action.option_strings), (cmd, action.option_strings)
