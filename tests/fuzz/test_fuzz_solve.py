"""Fuzz of the optimisation entry points: solve(), bcd(), the problem classes, read_gset.

Every call either succeeds -- and then what it returns is checked (states in the domain, the energy
reported equal to the problem's own energy of the state) -- or raises one of the accepted exception
types whose message names the argument (fuzz_checks). Inputs mix valid and malformed values:
shapes, dtypes, NaN/Inf, zero and extreme magnitudes, degenerate (all-zero, empty sparse) problems.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fuzz_checks import ACCEPTED, assert_rejects
from quaton_fast.solve import QUBO, QUMO, Ising, MaxCut, bcd, read_gset, solve

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128])
_ODD = st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, 3e38, 1e-45, np.nan, np.inf, -np.inf])


def _any_array(max_dims=3, max_side=4):
    """Arrays of any of _DTYPES, 0..max_dims dims, sides 0..max_side, with odd values mixed in."""
    def build(dtype):
        if dtype in (np.float64, np.float32):
            elems = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32 if dtype == np.float32 else 64),
                              _ODD if dtype == np.float64 else _ODD.filter(lambda v: not abs(v) < np.inf or abs(v) < 3e38))
        elif dtype == np.int64:
            elems = st.integers(-5, 5)
        elif dtype == np.bool_:
            elems = st.booleans()
        else:
            elems = st.complex_numbers(max_magnitude=4, allow_nan=False, allow_infinity=False)
        return hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side),
                          elements=elems)
    return _DTYPES.flatmap(build)


def _mostly(valid, bad):
    """Valid values three times as often as bad ones (so that the success path is exercised too)."""
    return st.one_of(valid, valid, valid, bad)


def _named(fn, names):
    """Call fn; an exception must be ACCEPTED and name one of ``names``. Returns (ok, result)."""
    try:
        out = fn()
    except ACCEPTED as exc:
        assert any(n in str(exc) for n in names), f"{type(exc).__name__} names none of {names}: {str(exc)[:300]}"
        event("rejected")
        return False, None
    event("accepted")
    return True, out


@st.composite
def qumo_parts(draw):
    """(J, h, continuous, offset): valid small QUMO data, often degenerate or extreme."""
    n = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["random", "zero", "integer", "diag"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "zero":
        J = np.zeros((n, n))
    elif kind == "integer":
        A = rng.integers(-3, 4, size=(n, n)).astype(float)
        J = np.triu(A, 1) + np.triu(A, 1).T
    else:
        A = rng.normal(size=(n, n))
        J = A + A.T
        if kind == "random":
            np.fill_diagonal(J, 0.0)
    h = draw(st.sampled_from([np.zeros(n), rng.normal(size=n), np.sign(rng.normal(size=n))]))
    cont = rng.random(n) < draw(st.sampled_from([0.0, 0.5, 1.0]))
    np.fill_diagonal(J, np.where(cont, -np.abs(np.diag(J)), np.diag(J)))   # convex in continuous
    mag = draw(st.sampled_from([1.0, 1.0, 1e-300, 1e-30, 1e30, 1e300 / 64]))
    offset = draw(st.sampled_from([0.0, -2.5, 1e10]))
    sparse = draw(st.booleans())
    J = J * mag
    return (sp.csr_matrix(J) if sparse else J), h * mag, cont, offset


def _check_result(q, x, energy):
    assert x.shape == (q.n,)
    assert np.all(np.isfinite(x))
    assert np.all(np.isin(x[~q.continuous], (-1.0, 1.0))), x
    assert np.all(np.abs(x[q.continuous]) <= 1.0)
    assert energy == pytest.approx(q.energy(x), rel=1e-12, abs=1e-12)


# ----------------------------------------------------------------------------------- constructors
_MUTATIONS = ["none", "none", "nan", "inf", "shape", "ndim", "complex", "text", "empty", "huge", "list"]


def _mutate(a, how):
    """One defect (or none) applied to a valid array a; returns (new value, still valid?)."""
    a = np.array(a, dtype=float)
    if how == "none":
        return a, True
    if how == "huge":
        return a * 1e300 / max(1.0, float(np.abs(a).max(initial=0.0))), True
    if how == "list":
        return a.tolist(), True
    if how in ("nan", "inf"):                  # a is never empty here (n >= 1)
        b = a.copy()
        b.flat[0] = np.nan if how == "nan" else -np.inf
        return b, False
    if how == "shape":
        return np.concatenate([a.reshape(-1), [0.0]]) if a.ndim == 1 else a[:, :-1] if a.ndim == 2 else a, a.ndim == 0
    if how == "ndim":
        return a[None], False
    if how == "complex":
        return a.astype(complex), False
    if how == "text":
        return a.astype(str), False
    return a[:0], False                                          # empty


@st.composite
def problem_args(draw, *, zero_diag=False, with_cont=True):
    """A valid (J, h, continuous, offset) for n in 1..5, then at most one defect in one argument."""
    n = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    A = rng.integers(-3, 4, size=(n, n)).astype(float) * draw(st.sampled_from([1.0, 0.0, 0.37]))
    J = A + A.T
    if zero_diag:
        np.fill_diagonal(J, 0.0)
    args = {"J": J, "h": rng.normal(size=n), "offset": float(rng.normal())}
    if with_cont:
        args["continuous"] = rng.random(n) < 0.5
    target = draw(st.sampled_from(sorted(args)))
    how = draw(st.sampled_from(_MUTATIONS + (["asym"] if target == "J" and n > 1 else [])))
    valid = True
    if target == "offset":
        args["offset"], valid = {"nan": (np.nan, False), "inf": (np.inf, False), "text": ("1", False),
                                 "huge": (1e300, True)}.get(how, (args["offset"], True))
    elif target == "continuous":
        c = args["continuous"]
        args["continuous"], valid = {"shape": (np.append(c, True), False), "ndim": (c[None], False),
                                     "text": (c.astype(str), False), "empty": (c[:0], False),
                                     "complex": (c.astype(float) * 0.5, False)}.get(how, (c, True))
    elif how == "asym":
        J = J.copy()
        J[0, 1] += 1.0
        args["J"], valid = J, False
    else:
        args[target], valid = _mutate(args[target], how)
    return args, target, valid


@FUZZ
@given(pa=problem_args())
def test_fuzz_qumo_constructor(pa):
    args, target, valid = pa
    if valid:
        q = QUMO(**args)
        assert np.all(np.isfinite(q.J)) and q.continuous.dtype == bool
    else:
        assert_rejects(lambda: QUMO(**args), f"'{target}'")


@FUZZ
@given(pa=problem_args(zero_diag=True, with_cont=False))
def test_fuzz_ising_constructor(pa):
    args, target, valid = pa
    if valid:
        Ising(**args)
    else:
        assert_rejects(lambda: Ising(**args), f"'{target}'")


@FUZZ
@given(pa=problem_args(with_cont=False))
def test_fuzz_qubo_constructor(pa):
    args, target, valid = pa
    args = {"Q": args.pop("J"), "c": args.pop("h"), **args}
    target = {"J": "Q", "h": "c"}.get(target, target)
    if valid or target == "Q" and isinstance(args["Q"], np.ndarray) and args["Q"].ndim == 2 \
            and args["Q"].dtype.kind == "f" and np.all(np.isfinite(args["Q"])) and args["Q"].shape[0] == args["Q"].shape[1] \
            and args["Q"].size:
        _named(lambda: QUBO(**args), ["'Q'", "'c'", "'offset'"])   # QUBO symmetrises Q: asym is valid
    else:
        assert_rejects(lambda: QUBO(**args), f"'{target}'")


@FUZZ
@given(J=_any_array(), h=st.one_of(st.none(), _any_array(max_dims=2)),
       cont=st.one_of(st.none(), _any_array(max_dims=2)), offset=st.one_of(_ODD, st.just("1")))
def test_fuzz_qumo_constructor_raw(J, h, cont, offset):
    ok, q = _named(lambda: QUMO(J, h, cont, offset), ["'J'", "'h'", "'continuous'", "'offset'"])
    if isinstance(J, np.ndarray) and J.dtype.kind in "fc" and J.size and not np.all(np.isfinite(J)):
        assert not ok


@FUZZ
@given(n=_mostly(st.integers(1, 6), st.one_of(st.integers(-2, 0), st.floats(allow_nan=True), st.just("3"))),
       m=st.integers(0, 6), bad=st.sampled_from(["none", "none", "loop", "range", "float", "nan", "shape",
                                                  "weights", "wnan"]),
       seed=st.integers(0, 2**16))
def test_fuzz_maxcut_constructor(n, m, bad, seed):
    rng = np.random.default_rng(seed)
    nn = n if isinstance(n, int) and n >= 2 else 2
    i = rng.integers(0, nn, size=m)
    edges = np.stack([i, (i + 1 + rng.integers(0, nn - 1, size=m)) % nn], axis=1)
    weights = rng.normal(size=m)
    if bad == "loop" and m:
        edges[0, 1] = edges[0, 0]
    elif bad == "range" and m:
        edges[0, 0] = nn
    elif bad == "float":
        edges = edges + 0.5
    elif bad == "nan" and m:
        edges = edges.astype(float)
        edges[0, 0] = np.nan
    elif bad == "shape":
        edges = edges.reshape(-1)[:, None] if m else np.zeros((1, 3))
    elif bad == "weights":
        weights = np.append(weights, 1.0)
    elif bad == "wnan" and m:
        weights[0] = np.inf
    ok, mc = _named(lambda: MaxCut(n, edges, weights), ["'n'", "'edges'", "'weights'"])
    if ok:
        assert mc.edges.min(initial=0) >= 0 and mc.edges.max(initial=0) < mc.n
        assert np.all(mc.edges[:, 0] != mc.edges[:, 1]) and np.all(np.isfinite(mc.weights))


@FUZZ
@given(binary=_any_array(max_dims=2), H=_any_array())
def test_fuzz_box_quadratic(binary, H):
    ok, q = _named(lambda: QUMO.from_box_quadratic(H, binary=binary), ["'H'", "'binary'", "'g'"])
    if ok:  # accepted: the QUMO's energy equals the box objective 1/2 z^T H z at z = (1 + x)/2
        Hd = np.asarray(H.todense() if hasattr(H, "todense") else H, dtype=np.float64)
        n = Hd.shape[0]
        x = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
        z = (1.0 + x) / 2.0
        want = 0.5 * z @ Hd @ z
        assert np.isclose(float(q.energy(x)), want, rtol=1e-9, atol=1e-9 * (1.0 + np.abs(Hd).sum()))


# ------------------------------------------------------------------------------------------ solve
_SOLVE_OPTIONS = st.fixed_dictionaries({}, optional={
    "seed": _mostly(st.integers(0, 2**40), st.one_of(st.integers(-3, -1), st.floats(allow_nan=True), st.just("1"))),
    "replicas": _mostly(st.integers(1, 8), st.sampled_from([0, -1, 2.5, 2**45])),
    "check_every": _mostly(st.integers(1, 7), st.sampled_from([0, None])),
    "iterations_per_run": _mostly(st.one_of(st.none(), st.integers(1, 60)), st.just(-1)),
    "target": _mostly(st.one_of(st.none(), st.floats(-10, 10)), st.sampled_from([np.nan, np.inf, "0"])),
    "exploration_share": _mostly(st.floats(0, 1), st.sampled_from([np.nan, -0.5, 1.5])),
    "sparse": _mostly(st.one_of(st.none(), st.booleans()), st.just(1)),
    "stop_at_target": _mostly(st.booleans(), st.just("no")),
    "backend": _mostly(st.sampled_from([None, "numpy", "cpp", "torch"]), st.just("fortran")),
})
_SOLVE_NAMES = ["'problem'", "'seed'", "'replicas'", "'check_every'", "'iterations_per_run'", "'target'",
                "'exploration_share'", "'sparse'", "'stop_at_target'", "'backend'", "'max_iterations'"]


@FUZZ
@given(parts=qumo_parts(), options=_SOLVE_OPTIONS,
       max_iterations=_mostly(st.integers(1, 150), st.sampled_from([0, -1, 1e9 + 0.5])))
def test_fuzz_solve(parts, options, max_iterations):
    q = QUMO(*parts)
    ok, r = _named(lambda: solve(q, max_iterations=max_iterations, progress=False, **options), _SOLVE_NAMES)
    if ok:
        _check_result(q, r.best_state, r.best_energy)


@FUZZ
@given(J=_any_array(), h=st.one_of(st.none(), _any_array(max_dims=2)),
       cont=st.one_of(st.none(), _any_array(max_dims=2)), offset=st.one_of(_ODD, st.none()))
def test_fuzz_solve_raw_problem_objects(J, h, cont, offset):
    """QUMO-like objects handed straight to solve(): every defect named as 'problem'."""
    import types
    p = types.SimpleNamespace(J=J, h=h, continuous=cont, offset=offset)
    ok, r = _named(lambda: solve(p, max_iterations=40, replicas=4, progress=False), ["'problem'"])
    if ok:
        assert np.all(np.isfinite(r.best_state)) and np.isfinite(r.best_energy)


# -------------------------------------------------------------------------------------------- bcd
@FUZZ
@given(parts=qumo_parts(), x0=st.one_of(st.none(), st.just("valid"), _any_array(max_dims=2, max_side=7)),
       block_size=_mostly(st.integers(1, 8), st.sampled_from([0, -1, 40, 2.5])),
       max_sweeps=_mostly(st.integers(1, 3), st.sampled_from([0, -1])),
       mode=st.sampled_from(["exact", "solver", "batched"]), seed=_mostly(st.integers(0, 5), st.just(-1)))
def test_fuzz_bcd(parts, x0, block_size, max_sweeps, mode, seed):
    q = QUMO(*parts)
    if isinstance(x0, str):          # a valid start: random signs, continuous values in [-1, 1]
        rng = np.random.default_rng(seed if isinstance(seed, int) and seed >= 0 else 0)
        x0 = np.where(rng.random(q.n) < 0.5, -1.0, 1.0)
        x0[q.continuous] = rng.uniform(-1, 1, q.n_continuous)
    ok, out = _named(lambda: bcd(q, x0=x0, block_size=block_size, max_sweeps=max_sweeps, seed=seed,
                                 exact=mode == "exact", batched=mode == "batched", block_iterations=60,
                                 replicas=4),
                     ["'problem'", "'x0'", "'block_size'", "'max_sweeps'", "'seed'", "'exact'"])
    if ok:
        x, E = out
        _check_result(q, x, E)
        if x0 is not None:
            assert E <= q.energy(np.asarray(x0, float)) + 1e-12 * max(1.0, abs(E))
    if x0 is not None and np.asarray(x0).dtype.kind in "fc" and np.asarray(x0).size \
            and not np.all(np.isfinite(x0)):
        assert not ok


def test_bcd_rejects_zero_for_a_binary():
    assert_rejects(lambda: bcd(QUMO(np.zeros((3, 3))), x0=np.zeros(3), exact=True), "'x0'")


# ------------------------------------------------------------------------------------- read_gset
_LINE = st.one_of(
    st.tuples(st.integers(-2, 9), st.integers(-2, 9), st.one_of(st.integers(-3, 3), _ODD)).map(
        lambda t: " ".join(str(v) for v in t)),
    st.text(alphabet=" \t0123456789-+.eEnaifx,", max_size=14),
)


@FUZZ
@given(header=st.one_of(st.tuples(st.integers(-1, 8), st.integers(-1, 6)).map(lambda t: f"{t[0]} {t[1]}"),
                        st.sampled_from(["", "5", "5 2 1", "a b", "1e3 2", "99999999999 0"]),
                        st.text(max_size=10)),
       body=st.lists(_LINE, max_size=8), raw=st.booleans())
def test_fuzz_read_gset(tmp_path_factory, header, body, raw):
    path = tmp_path_factory.mktemp("g") / "g.txt"
    text = "\n".join([header] + body) + "\n"
    if raw:
        path.write_bytes(text.encode("utf-8", "surrogatepass") + b"\xff")   # not UTF-8
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    ok, mc = _named(lambda: read_gset(path), ["read_gset()"])
    if ok:
        assert isinstance(mc, MaxCut) and mc.m == int(header.split()[1])
        assert mc.edges.min(initial=0) >= 0 and mc.edges.max(initial=0) < mc.n and np.all(np.isfinite(mc.weights))
