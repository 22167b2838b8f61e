"""Fuzz: every instance format the project writes reads back to the same problem (issue 26, item 7:
hypothesis write -> read round trips), with weights and coefficients over the whole float64 range."""
import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quaton_fast.solve.constraints import ConstrainedProblem
from quaton_fast.solve.problems import MaxCut
from quaton_fast.solve.readers import read_gset, read_qplib, read_rudy, write_gset, write_qplib, write_rudy

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@SETTINGS
@given(n=st.integers(2, 9), data=st.data(), rudy=st.booleans())
def test_gset_round_trip(tmp_path_factory, n, data, rudy):
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = data.draw(st.lists(st.sampled_from(pairs), min_size=0, max_size=12))
    weights = data.draw(st.lists(finite, min_size=len(edges), max_size=len(edges)))
    g = MaxCut(n, np.array(edges, dtype=np.int64).reshape(-1, 2), np.array(weights, dtype=np.float64))
    p = tmp_path_factory.mktemp("g") / "g.txt"
    (write_rudy if rudy else write_gset)(g, p)
    back = (read_rudy if rudy else read_gset)(p)
    assert back.n == n and np.array_equal(back.edges, g.edges) and np.array_equal(back.weights, g.weights)


@SETTINGS
@given(n=st.integers(1, 5), meq=st.integers(0, 2), mineq=st.integers(0, 2), data=st.data())
def test_qplib_round_trip(tmp_path_factory, n, meq, mineq, data):
    coef = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
    M = np.array(data.draw(st.lists(coef, min_size=n * n, max_size=n * n))).reshape(n, n)
    H = sp.csr_matrix(M + M.T)
    g = np.array(data.draw(st.lists(coef, min_size=n, max_size=n)))
    binary = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    lo = np.where(binary, 0.0, -np.abs(np.array(data.draw(st.lists(coef, min_size=n, max_size=n)))))
    up = np.where(binary, 1.0, lo + 1.0 + np.abs(np.array(data.draw(st.lists(coef, min_size=n, max_size=n)))))
    A = lambda m: sp.csr_matrix(np.array(data.draw(st.lists(coef, min_size=m * n, max_size=m * n))).reshape(m, n))  # noqa: E731
    b = lambda m: np.array(data.draw(st.lists(coef, min_size=m, max_size=m)))  # noqa: E731
    sense = data.draw(st.sampled_from(["minimize", "maximize"]))
    P = ConstrainedProblem(H, g, data.draw(coef), sense, lo, up, binary, A(meq), b(meq), A(mineq), b(mineq),
                           None, {"name": "fuzz"})
    p = tmp_path_factory.mktemp("q") / "q.qplib"
    write_qplib(P, p)
    Q = read_qplib(p, as_constrained=True)
    assert Q.sense == P.sense and Q.f == P.f
    for a, c in ((Q.H, P.H), (Q.A_eq, P.A_eq), (Q.A_ineq, P.A_ineq)):
        assert (abs(sp.csr_matrix(a) - sp.csr_matrix(c))).max() == 0 if c.shape[0] else a.shape[0] == 0
    for a, c in ((Q.g, P.g), (Q.lower, P.lower), (Q.upper, P.upper), (Q.b_eq, P.b_eq), (Q.b_ineq, P.b_ineq)):
        assert np.array_equal(a, c)
    assert np.array_equal(Q.binary, P.binary)
