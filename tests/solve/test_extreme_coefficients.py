"""Coefficients so large that the energy overflows float64 are refused where the user hands them in,
naming the argument or the file (issue 26 item 3), while every finite-energy scale stays accepted."""
import numpy as np
import pytest
import scipy.sparse as sp

from quaton_fast.solve.models.constraints import ConstrainedProblem
from quaton_fast.solve.models.entry_checks import MAX_MAGNITUDE
from quaton_fast.solve.models.problems import QUBO, QUMO, Ising, MaxCut
from quaton_fast.solve.formats.readers import read_gset, read_qplib, write_qplib

BIG = 1.7e308          # finite, but two of them overflow


@pytest.mark.parametrize("make, arg", [
    (lambda v: MaxCut(3, [[0, 1], [1, 2]], [v, v]), "'weights'"),
    (lambda v: Ising(np.array([[0, v], [v, 0]])), "'J'"),
    (lambda v: Ising(np.zeros((2, 2)), h=[v, v]), "'h'"),
    (lambda v: QUBO(np.array([[v, 0], [0, v]])), "'Q'"),
    (lambda v: QUMO(np.array([[v, v], [v, v]])), "'J'"),
    (lambda v: ConstrainedProblem(sp.csr_matrix(np.array([[v, 0], [0, v]])), lower=[0, 0], upper=[1, 1]), "'H'"),
    (lambda v: ConstrainedProblem(sp.eye(2), g=[v, v]), "'g'"),
    (lambda v: ConstrainedProblem(sp.eye(2), A_ineq=np.array([[v, v]]), b_ineq=[1.0]), "'A_ineq'"),
    (lambda v: ConstrainedProblem(sp.eye(2), lower=[-v ** 0.5, 0], upper=[v ** 0.5, 1]), "'H'"),  # H times box^2
])
def test_overflowing_energy_is_refused_naming_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg + r".*below 1e\+306"):
        make(BIG)
    make(1e300)          # large but with a finite energy: accepted (the solvers normalise)


def test_limit_is_on_the_sum_not_each_entry():
    n = 200              # each weight below the limit, their sum (the total cut) above it
    w = np.full(n - 1, MAX_MAGNITUDE / 100)
    with pytest.raises(ValueError, match="'weights'"):
        MaxCut(n, np.c_[np.arange(n - 1), np.arange(1, n)], w)


def test_readers_name_the_file(tmp_path):
    g = tmp_path / "huge.txt"
    g.write_text(f"3 2\n1 2 {BIG!r}\n2 3 {BIG!r}\n")
    with pytest.raises(ValueError, match=r"read_gset\(\): huge.txt: .*'weights'"):
        read_gset(g)
    P = ConstrainedProblem(sp.csr_matrix(np.array([[1e300, 0], [0, 1e300]])), lower=[0, 0], upper=[1, 1],
                           binary=np.array([True, True]))
    q = tmp_path / "huge.qplib"
    write_qplib(P, q)
    q.write_text(q.read_text().replace("1e+300", repr(BIG)))
    for constrained in (True, False):
        with pytest.raises(ValueError, match=r"read_qplib\(\): huge.qplib: .*below 1e\+306"):
            read_qplib(q, as_constrained=constrained)
