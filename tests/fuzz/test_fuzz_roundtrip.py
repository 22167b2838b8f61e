"""Fuzz: every instance format the project writes reads back to the same problem (issue 26, item 7:
hypothesis write -> read round trips), with weights and coefficients over the whole float64 range."""
import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quaton_fast.solve.models.constraints import ConstrainedProblem
from quaton_fast.solve.models.problems import MaxCut
from quaton_fast.solve.formats.readers import read_gset, read_qplib, read_rudy, write_gset, write_qplib, write_rudy

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


# ------------------------------------------------- fabrication files and run records (issue 26 item 7)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(L=st.integers(1, 3), n=st.integers(1, 7), K=st.integers(1, 5), seed=st.integers(0, 2**32 - 1),
       dx=st.floats(1e-9, 1e-3), scale=st.sampled_from([1e-7, 1e-6, 1e-4]))
def test_gds_levels_round_trip(tmp_path_factory, L, n, K, seed, dx, scale):
    from quaton_fast.export.levels_gds import read_levels_gds, write_levels_gds
    rng = np.random.default_rng(seed)
    levels = np.sort(rng.choice(np.arange(64), size=K, replace=False)).astype(float) * scale
    maps = rng.integers(0, K, size=(L, n, n))
    p = tmp_path_factory.mktemp("g") / "m.gds"
    write_levels_gds(p, maps, levels, dx)
    back = read_levels_gds(p, dx)
    assert np.array_equal(back["level_maps"], maps)                   # the maps exactly
    np.testing.assert_allclose(back["level_heights"], levels, rtol=1e-8)  # heights as written (%.9e)
    np.testing.assert_allclose(back["heights"], levels[maps], rtol=1e-8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 6), seed=st.integers(0, 2**32 - 1), unit=st.sampled_from(["m", "mm", "um", "nm"]),
       dx=st.floats(1e-7, 1e-3), K=st.integers(1, 4))
def test_relief_stl_round_trip(tmp_path_factory, n, seed, unit, dx, K):
    from quaton_fast.export.relief_stl import read_relief_stl, write_relief_stl
    rng = np.random.default_rng(seed)
    base = dx * 2
    h = rng.integers(0, K, size=(n, n)) * (dx / 4)
    p = tmp_path_factory.mktemp("s") / "r.stl"
    write_relief_stl(p, h, dx, base, unit=unit)
    back = read_relief_stl(p)
    assert back["unit"] == unit and back["heights"].shape == (n, n)
    # float32 coordinates in the file: heights back to float32 resolution of the tallest coordinate
    assert np.abs(back["heights"] - h).max() <= 1e-6 * (base + h.max() + n * dx)


_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53),
                          st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3) |
                     st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(settings_=st.dictionaries(st.text(min_size=1, max_size=8), _json, max_size=6))
def test_settings_record_round_trip(tmp_path_factory, settings_):
    from quaton_fast._rundir import read_settings, settings_fingerprint, write_settings
    p = tmp_path_factory.mktemp("j") / "settings.json"
    write_settings(p, settings_, "quaton-fast train")
    back = read_settings(p)
    assert settings_fingerprint(back) == settings_fingerprint(settings_)
