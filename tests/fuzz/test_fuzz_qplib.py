"""Fuzz: the constrained-problem entry points (ConstrainedProblem, solve_constrained, read_qplib,
read_gams, write_qplib) answer bad input with an exception naming the argument (or file and line)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_checks import assert_rejects
from quaton_fast.solve.algorithms.constrained_solve import solve_constrained
from quaton_fast.solve.models.constraints import ConstrainedProblem
from quaton_fast.solve.formats.readers import read_gams, read_qplib, write_qplib

bad_values = st.sampled_from([np.nan, np.inf, -np.inf])
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(n=st.integers(1, 6), which=st.sampled_from(["H", "g", "lower", "upper", "b_eq", "b_ineq", "A_eq", "A_ineq"]),
       bad=bad_values)
def test_model_non_finite(n, which, bad):
    kw = dict(H=np.eye(n), g=np.zeros(n), lower=np.zeros(n), upper=np.ones(n), binary=np.ones(n, bool),
              A_eq=np.ones((1, n)), b_eq=[1.0], A_ineq=np.ones((2, n)), b_ineq=[1.0, 2.0])
    arr = np.array(kw[which], dtype=float)
    arr.flat[0] = bad
    kw[which] = arr
    assert_rejects(lambda: ConstrainedProblem(**kw), f"'{which}'")


@SETTINGS
@given(n=st.integers(1, 6), m=st.integers(0, 7), which=st.sampled_from(["g", "lower", "upper", "binary", "A_eq",
                                                                         "A_ineq", "b_eq"]))
def test_model_bad_shapes(n, m, which):
    kw = dict(H=np.eye(n))
    if which in ("A_eq", "A_ineq"):
        kw[which] = np.ones((2, n + 1 + m))
    elif which == "b_eq":
        kw["A_eq"], kw["b_eq"] = np.ones((2, n)), np.ones(3 + m)
    elif which == "binary":
        kw["binary"] = np.ones(n + 1 + m, dtype=bool)
    else:
        kw[which] = np.ones(n + 1 + m)
    assert_rejects(lambda: ConstrainedProblem(**kw), f"'{which}'")


@SETTINGS
@given(arg=st.sampled_from(["top_k", "rho0", "time_limit", "max_iterations", "target"]),
       val=st.sampled_from([0, -1, np.nan, np.inf, 1.5]))
def test_solver_bad_arguments(arg, val):
    if arg in ("time_limit", "rho0") and val == 1.5 or arg == "target" and np.isfinite(val):
        return
    p = ConstrainedProblem(np.eye(3), binary=np.ones(3, bool), A_eq=np.ones((1, 3)), b_eq=[1.0])
    kw = {arg: val}
    if arg != "max_iterations":
        kw["max_iterations"] = 100
    assert_rejects(lambda: solve_constrained(p, progress=False, **kw), f"'{arg}'")


@SETTINGS
@given(text=st.text(alphabet="0123456789 .-+eE#\nQBLNMminaxzeu", max_size=300))
def test_qplib_garbage_names_file_and_line(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("q") / "f.qplib"
    p.write_text(text)
    try:
        read_qplib(p)
    except ValueError as e:
        assert "read_qplib(): f.qplib" in str(e)
    except NotImplementedError as e:
        assert "read_qplib(): f.qplib" in str(e)


@SETTINGS
@given(text=st.text(alphabet="abex123 .;,*()+-=ELG\n$", max_size=300))
def test_gams_garbage_names_file(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("g") / "f.gms"
    p.write_text(text)
    try:
        read_gams(p)
    except (ValueError, NotImplementedError) as e:
        assert "read_gams(): f.gms" in str(e)


def test_readers_and_writer_bad_arguments(tmp_path):
    assert_rejects(lambda: read_qplib(3), "'path'")
    assert_rejects(lambda: read_gams(None), "'path'")
    assert_rejects(lambda: read_gams(tmp_path / "missing.gms"), "missing.gms")
    assert_rejects(lambda: write_qplib("not a problem", tmp_path / "x.qplib"), "'problem'")
    p = ConstrainedProblem(np.eye(2))
    assert_rejects(lambda: write_qplib(p, 5), "'path'")
