"""Quantizers: staircase vs brute force, PSQ/DSQ/GS forward limits, FD checks of every backward."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from quaton_fast.reference import quantizers as Q
from quaton_fast.reference.levels import level_table, uniform_levels

TWO_PI = 2 * math.pi
NONUNIFORM = np.array([0.0, 0.4, 1.9, 2.2, 4.5])
TABLES = {
    "uniform4": uniform_levels(4),
    "uniform16": uniform_levels(16),
    "custom_periodic": level_table(NONUNIFORM, TWO_PI),
    "custom_open": level_table(NONUNIFORM),
}


@st.composite
def tables(draw):
    """Random strictly increasing tables with gaps >= 0.05, periodic or not."""
    n = draw(st.integers(2, 7))
    gaps = draw(st.lists(st.floats(0.05, 2.0), min_size=n - 1, max_size=n - 1))
    q0 = draw(st.floats(-3.0, 3.0))
    levels = q0 + np.concatenate([[0.0], np.cumsum(gaps)])
    if draw(st.booleans()):
        return level_table(levels, float(levels[-1] - levels[0]) + draw(st.floats(0.05, 2.0)))
    return level_table(levels)


def brute_nearest(w, t):
    """Nearest level by (periodic) distance; returns (level value, index)."""
    diff = w[..., None] - t.levels
    if t.periodic:
        d = np.abs(np.mod(diff + t.period / 2, t.period) - t.period / 2)
    else:
        d = np.abs(diff)
    j = np.argmin(d, axis=-1)
    return t.levels[j], j


def fd(f, x, h=1e-6):
    """Central finite difference of a scalar function of an array (or a float)."""
    if np.isscalar(x):
        return (f(x + h) - f(x - h)) / (2 * h)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp = x.copy(); xp[idx] += h
        xm = x.copy(); xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


def away_from(w, points, margin, period=None):
    """The entries of ``w`` farther than ``margin`` from every point (modulo ``period`` if given)."""
    d = w[:, None] - points[None, :]
    if period is not None:
        d = np.mod(d + period / 2, period) - period / 2
    return w[np.all(np.abs(d) > margin, axis=1)]


def same_phase(a, b, atol):
    """exp(i·a) == exp(i·b) within ``atol``."""
    np.testing.assert_allclose(np.exp(1j * np.asarray(a)), np.exp(1j * np.asarray(b)), rtol=0, atol=atol)


# ---------------------------------------------------------------- staircase
@pytest.mark.parametrize("name", ["uniform4", "uniform16", "custom_periodic"])
def test_staircase_is_periodic_nearest_level(name, rng):
    t = TABLES[name]
    w = rng.uniform(t.base, t.base + t.period, size=4000)
    val, j = brute_nearest(w, t)
    np.testing.assert_array_equal(Q.level_index(w, t), j)
    np.testing.assert_array_equal(Q.hard_phase(w, t), val)
    # the staircase itself gives q_0 + period (not q_0) past the wrap threshold: same phase
    s = Q.staircase(w, t)
    np.testing.assert_allclose(np.exp(1j * s), np.exp(1j * val), atol=1e-14)
    assert np.all(np.isin(s, t.extended_levels))


def test_staircase_nonperiodic_clamps_and_rounds(rng):
    t = TABLES["custom_open"]
    w = rng.uniform(-5.0, 10.0, size=3000)
    val, j = brute_nearest(w, t)
    np.testing.assert_array_equal(Q.staircase(w, t), val)
    np.testing.assert_array_equal(Q.level_index(w, t), j)
    assert Q.staircase(np.array([-100.0]), t)[0] == 0.0
    assert Q.staircase(np.array([100.0]), t)[0] == 4.5


def test_staircase_just_below_two_pi_rounds_to_zero():
    t = uniform_levels(4)
    w = np.array([TWO_PI - 1e-9, np.nextafter(TWO_PI, 0)])
    np.testing.assert_array_equal(Q.level_index(w, t), [0, 0])
    np.testing.assert_array_equal(Q.hard_phase(w, t), [0.0, 0.0])
    np.testing.assert_array_equal(Q.staircase(w, t), [TWO_PI, TWO_PI])


def test_staircase_ties_go_up_and_shape_kept():
    t = TABLES["custom_open"]
    np.testing.assert_array_equal(Q.staircase(t.thresholds, t), t.levels[1:])
    w = np.linspace(0, 4, 24).reshape(2, 3, 4)
    assert Q.staircase(w, t).shape == (2, 3, 4)
    assert Q.level_index(w, t).dtype == np.int64
    assert Q.staircase(1.0, t).shape == ()


@settings(max_examples=60, deadline=None)
@given(tables(), st.integers(0, 2**31 - 1))
def test_staircase_matches_brute_force_random_tables(t, seed):
    r = np.random.default_rng(seed)
    hi = t.top if t.periodic else t.levels[-1] + 1.0
    lo = t.base if t.periodic else t.base - 1.0
    w = r.uniform(lo, hi, size=200)
    w = w[w < hi]
    val, j = brute_nearest(w, t)
    # exclude exact ties (probability ~0, but keep the test deterministic)
    ok = np.all(np.abs(w[:, None] - t.thresholds) > 1e-12, axis=1)
    np.testing.assert_array_equal(Q.level_index(w, t)[ok], j[ok])
    np.testing.assert_array_equal(Q.hard_phase(w, t)[ok], val[ok])


# ---------------------------------------------------------------- FP, PQ, STE
def test_fp_pq_ste(rng):
    t = uniform_levels(8)
    w = rng.uniform(0, TWO_PI, size=(3, 5))
    g = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(Q.fp_forward(w), w)
    np.testing.assert_array_equal(Q.fp_backward(g), g)
    np.testing.assert_array_equal(Q.pq_forward(w, t, training=True), w)
    np.testing.assert_array_equal(Q.pq_forward(w, t, training=False), Q.staircase(w, t))
    np.testing.assert_array_equal(Q.ste_forward(w, t), Q.staircase(w, t))
    np.testing.assert_array_equal(Q.ste_backward(g), g)
    assert not np.array_equal(Q.ste_forward(w, t), w)


# ---------------------------------------------------------------- PSQ
@pytest.mark.parametrize("name", list(TABLES))
def test_psq_converges_to_staircase(name, rng):
    t = TABLES[name]
    lo, hi = (t.base, t.top) if t.periodic else (t.base - 1.0, t.top + 1.0)
    w = away_from(rng.uniform(lo, hi, size=2000), t.thresholds, 0.02)
    ref = Q.staircase(w, t)
    errs = [np.max(np.abs(Q.psq_forward(w, t, k) - ref)) for k in (1, 3, 10, 30, 100, 300, 1000, 3000)]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[0] > 1e-2
    assert errs[-1] < 1e-6


def test_psq_near_two_pi_goes_to_two_pi():
    t = uniform_levels(4)
    w = np.array([TWO_PI - 1e-3])
    assert abs(Q.psq_forward(w, t, 1e5)[0] - TWO_PI) < 1e-12
    assert Q.level_index(w, t)[0] == 0


def test_psq_large_k_no_overflow_warnings():
    t = uniform_levels(4)
    w = np.array([-1e3, 0.0, 1e3])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        y = Q.psq_forward(w, t, 1e300)
        gw, gk = Q.psq_backward(np.ones(3), w, t, 1e300)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(gw)) and math.isfinite(gk)
    # periodic table: the latent counts modulo 2π: -1e3 ≡ 5.310 -> 3π/2 and 1e3 ≡ 0.973 -> π/2
    # (the clamped old behaviour gave 0 and 2π), k = 1e300 being the hard limit
    same_phase(y, brute_nearest(w, t)[0], atol=1e-12)
    # the open table still clamps at its ends
    t_open = level_table(NONUNIFORM)
    np.testing.assert_array_equal(Q.psq_forward(w, t_open, 1e300), [0.0, 0.0, 4.5])


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize("k", [0.7, 4.0, 25.0])
def test_psq_backward_fd(name, k, rng):
    t = TABLES[name]
    w = rng.uniform(t.base - 0.5, t.top + 0.5, size=(3, 4))
    g = rng.standard_normal((3, 4))
    gw, gk = Q.psq_backward(g, w, t, k)
    fd_w = fd(lambda x: np.sum(g * Q.psq_forward(x, t, k)), w)
    fd_k = fd(lambda kk: np.sum(g * Q.psq_forward(w, t, kk)), k)
    np.testing.assert_allclose(gw, fd_w, rtol=1e-6, atol=1e-7)
    assert isinstance(gk, float)
    np.testing.assert_allclose(gk, fd_k, rtol=1e-6, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(tables(), st.floats(0.5, 20.0), st.integers(0, 2**31 - 1))
def test_psq_backward_fd_random_tables(t, k, seed):
    r = np.random.default_rng(seed)
    w = r.uniform(t.base - 0.5, t.top + 0.5, size=6)
    g = r.standard_normal(6)
    gw, gk = Q.psq_backward(g, w, t, k)
    np.testing.assert_allclose(gw, fd(lambda x: np.sum(g * Q.psq_forward(x, t, k)), w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gk, fd(lambda kk: np.sum(g * Q.psq_forward(w, t, kk)), k), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- DSQ
@pytest.mark.parametrize("name", list(TABLES))
def test_dsq_soft_approaches_staircase_as_alpha_to_zero(name, rng):
    t = TABLES[name]
    w = away_from(rng.uniform(t.base - 0.5, t.top + 0.5, size=2000), t.thresholds, 0.05, t.period)
    if t.periodic:  # and from the fold point q_0 ≡ q_0 + period, where the value may read either
        w = away_from(w, np.array([t.base]), 1e-9, t.period)
    ref = Q.staircase(w, t)
    errs = [np.max(np.abs(np.angle(np.exp(1j * (Q.dsq_forward(w, t, a, hard_forward=False) - ref)))))
            for a in (0.5, 0.2, 0.05, 1e-3, 1e-10, 1e-40, 1e-150, 1e-300)]
    # strictly decreasing until it reaches rounding level
    assert all(b < a or a < 1e-14 for a, b in zip(errs, errs[1:])), errs
    # the sharpness k_i·Δ_i = log(2/α − 1) grows only logarithmically as α -> 0
    assert errs[-1] < 1e-6


@pytest.mark.parametrize("name", list(TABLES))
def test_dsq_hard_forward_is_staircase(name, rng):
    t = TABLES[name]
    w = rng.uniform(t.base - 1, t.top + 1, size=500)
    for a in (0.9, 0.2, 0.01):
        np.testing.assert_array_equal(Q.dsq_forward(w, t, a), Q.staircase(w, t))
        np.testing.assert_array_equal(Q.dsq_forward(w, t, a, hard_forward=True), Q.staircase(w, t))


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize("alpha", [0.9, 0.3, 0.01])
def test_dsq_soft_continuous_at_interval_ends(name, alpha):
    t = TABLES[name]
    ext = t.extended_levels
    # at every interval end the soft curve equals the level, from both sides (as a phase: for a
    # periodic table q_0 + period and q_0 are the same point)
    same_phase(Q.dsq_soft(ext, t, alpha), ext, atol=1e-12)
    for h in (1e-9, 1e-7):
        left = Q.dsq_soft(ext - h, t, alpha)
        right = Q.dsq_soft(ext + h, t, alpha)
        # the curve's slope is at most log(2/α − 1)/(2(1 − α)) < 10: no jump at interval ends
        same_phase(left, ext, atol=10 * h)
        same_phase(right, ext, atol=10 * h)
    # monotone non-decreasing on a fine grid (periodic: once the period count is added back)
    x = np.linspace(ext[0] - 0.2, ext[-1] + 0.2, 5001)
    y = Q.dsq_soft(x, t, alpha)
    if t.periodic:
        y = y + t.period * np.floor((x - t.base) / t.period)
    assert np.all(np.diff(y) >= -1e-12)


def test_dsq_soft_matches_gong_formula_uniform():
    # uniform table, interval 0: check against the paper's closed form directly
    t = uniform_levels(4)
    a, d = 0.2, math.pi / 2
    k = math.log(2 / a - 1) / d
    s = 1 / math.tanh(0.5 * k * d)
    x = np.linspace(0, d, 11)
    want = 0 + d * (s * np.tanh(k * (x - d / 2)) + 1) / 2
    np.testing.assert_allclose(Q.dsq_soft(x, t, a), want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize("alpha", [0.8, 0.2, 0.02])
def test_dsq_backward_fd(name, alpha, rng):
    t = TABLES[name]
    # keep away from the clip ends and interval ends, where the soft curve has kinks
    w = away_from(rng.uniform(t.base - 0.5, t.top + 0.5, size=40), t.extended_levels, 1e-3, t.period)[:12]
    g = rng.standard_normal(w.shape)
    gw, ga = Q.dsq_backward(g, w, t, alpha)
    fd_w = fd(lambda x: np.sum(g * Q.dsq_forward(x, t, alpha, hard_forward=False)), w, h=1e-7)
    fd_a = fd(lambda aa: np.sum(g * Q.dsq_forward(w, t, aa, hard_forward=False)), alpha, h=1e-8)
    np.testing.assert_allclose(gw, fd_w, rtol=1e-5, atol=1e-6)
    assert isinstance(ga, float)
    np.testing.assert_allclose(ga, fd_a, rtol=1e-5, atol=1e-6)
    outside = (w < t.base) | (w > t.top)
    if t.periodic:  # the periodic extension: no dead zone outside one period
        assert np.all(gw[outside] != 0) and np.any(outside)
    else:
        assert np.all(gw[outside] == 0)


# ---------------------------------------------------------------- Gumbel-softmax
def test_gumbel_forward_is_argmax_of_perturbed_logits(rng):
    t = TABLES["custom_periodic"]
    z = rng.standard_normal((6, 7, t.n))
    noise = Q.sample_gumbel(z.shape, rng)
    for tau in (0.1, 1.0, 10.0):
        y = Q.gumbel_forward(z, t, tau, noise)
        assert y.shape == (6, 7)
        np.testing.assert_array_equal(y, t.levels[np.argmax(z + noise, axis=-1)])
        assert np.all(np.isin(y, t.levels))
    # noise matters: with it, some neurons differ from the noiseless argmax
    assert not np.array_equal(Q.gumbel_forward(z, t, 1.0, noise), Q.gumbel_eval(z, t))


def test_gumbel_eval_deterministic_argmax(rng):
    t = uniform_levels(8)
    z = rng.standard_normal((50, t.n))
    a = Q.gumbel_eval(z, t)
    np.testing.assert_array_equal(a, Q.gumbel_eval(z, t))
    np.testing.assert_array_equal(a, t.levels[np.argmax(z, axis=-1)])
    # same as forward with zero noise
    np.testing.assert_array_equal(a, Q.gumbel_forward(z, t, 0.5, np.zeros_like(z)))


def test_sample_gumbel_statistics():
    g = Q.sample_gumbel((200_000,), np.random.default_rng(0))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g.mean(), np.euler_gamma, atol=0.01)
    np.testing.assert_allclose(g.var(), math.pi**2 / 6, atol=0.03)
    assert Q.sample_gumbel(3, np.random.default_rng(0)).shape == (3,)


@pytest.mark.parametrize("tau", [0.3, 1.0, 4.0])
def test_gumbel_backward_fd_of_soft_relaxation(tau, rng):
    # The straight-through forward is piecewise constant in the logits, so the FD check is of the
    # relaxed value Σ_j y_soft_j q_j, whose gradient the straight-through backward returns.
    t = TABLES["custom_periodic"]
    z = rng.standard_normal((2, 3, t.n))
    noise = Q.sample_gumbel(z.shape, rng)
    g = rng.standard_normal((2, 3))
    got = Q.gumbel_backward(g, z, t, tau, noise)
    want = fd(lambda x: np.sum(g * Q.gumbel_soft_value(x, t, tau, noise)), z)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    # softmax Jacobian: gradients sum to zero over the levels
    np.testing.assert_allclose(got.sum(axis=-1), 0.0, atol=1e-12)


def test_gumbel_soft_value_large_logits_stable():
    t = uniform_levels(4)
    z = np.array([[1e5, 0.0, 0.0, -1e5]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        v = Q.gumbel_soft_value(z, t, 1e-3, np.zeros_like(z))
        gl = Q.gumbel_backward(np.ones(1), z, t, 1e-3, np.zeros_like(z))
    np.testing.assert_allclose(v, [0.0])
    assert np.all(np.isfinite(gl))


@pytest.mark.parametrize("name", ["uniform4", "uniform16", "custom_periodic", "custom_open"])
def test_gumbel_logits_from_phase_argmax_is_nearest(name, rng):
    t = TABLES[name]
    phase = rng.uniform(-10.0, 10.0, size=500)
    z = Q.gumbel_logits_from_phase(phase, t, sharpness=5.0)
    assert z.shape == (500, t.n) and np.all(z <= 0)
    _, j = brute_nearest(phase, t)  # periodic distance for periodic tables
    np.testing.assert_array_equal(np.argmax(z, axis=-1), j)
    # exact level hit -> logit 0; a level one mean step away -> -sharpness (uniform tables)
    if name == "uniform4":
        z0 = Q.gumbel_logits_from_phase(np.array([0.0]), t, sharpness=5.0)[0]
        np.testing.assert_allclose(z0, [0.0, -5.0, -20.0, -5.0], atol=1e-12)


# ---------------------------------------------------------------- bad input
T4 = uniform_levels(4)
W = np.array([0.1, 0.2])
BAD_CALLS = [
    ("staircase", lambda: Q.staircase(np.array([np.nan]), T4), ValueError, "finite"),
    ("staircase", lambda: Q.staircase(W, [0.0, 1.0]), TypeError, "LevelTable"),
    ("staircase", lambda: Q.staircase([0.1], T4), TypeError, "ndarray"),
    ("level_index", lambda: Q.level_index(np.array([1j]), T4), TypeError, "real"),
    ("hard_phase", lambda: Q.hard_phase(np.array([np.inf]), T4), ValueError, "finite"),
    ("fp_forward", lambda: Q.fp_forward(np.array([np.nan])), ValueError, "finite"),
    ("fp_backward", lambda: Q.fp_backward("x"), TypeError, "ndarray"),
    ("pq_forward", lambda: Q.pq_forward(W, T4, training=1), TypeError, "bool"),
    ("pq_forward", lambda: Q.pq_forward(np.array([np.nan]), T4, True), ValueError, "finite"),
    ("ste_forward", lambda: Q.ste_forward(W, None), TypeError, "LevelTable"),
    ("ste_backward", lambda: Q.ste_backward(np.array([np.nan])), ValueError, "finite"),
    ("psq_forward", lambda: Q.psq_forward(W, T4, 0.0), ValueError, "> 0"),
    ("psq_forward", lambda: Q.psq_forward(W, T4, -1.0), ValueError, "> 0"),
    ("psq_forward", lambda: Q.psq_forward(W, T4, math.inf), ValueError, "finite"),
    ("psq_forward", lambda: Q.psq_forward(np.array([np.nan]), T4, 1.0), ValueError, "finite"),
    ("psq_backward", lambda: Q.psq_backward(np.ones(3), W, T4, 1.0), ValueError, "shape"),
    ("psq_backward", lambda: Q.psq_backward(np.ones(2), W, T4, 0.0), ValueError, "> 0"),
    ("dsq_forward", lambda: Q.dsq_forward(W, T4, 0.0), ValueError, r"\(0, 1\)"),
    ("dsq_forward", lambda: Q.dsq_forward(W, T4, 1.0, hard_forward=False), ValueError, r"\(0, 1\)"),
    ("dsq_forward", lambda: Q.dsq_forward(W, T4, 0.2, hard_forward="no"), TypeError, "bool"),
    ("dsq_soft", lambda: Q.dsq_soft(W, T4, 1.5), ValueError, r"\(0, 1\)"),
    ("dsq_soft", lambda: Q.dsq_soft(W, T4, 5e-324), ValueError, "1e-300"),
    ("dsq_backward", lambda: Q.dsq_backward(np.ones(2), W, T4, -0.1), ValueError, r"\(0, 1\)"),
    ("dsq_backward", lambda: Q.dsq_backward(np.ones((2, 1)), W, T4, 0.2), ValueError, "shape"),
    ("gumbel_forward", lambda: Q.gumbel_forward(np.zeros((2, 4)), T4, 1.0, np.zeros((2, 3))), ValueError, "noise"),
    ("gumbel_forward", lambda: Q.gumbel_forward(np.zeros((2, 3)), T4, 1.0, np.zeros((2, 3))), ValueError, "n = 4"),
    ("gumbel_forward", lambda: Q.gumbel_forward(np.zeros((2, 4)), T4, 0.0, np.zeros((2, 4))), ValueError, "> 0"),
    ("gumbel_forward", lambda: Q.gumbel_forward(np.full((2, 4), np.nan), T4, 1.0, np.zeros((2, 4))), ValueError, "finite"),
    ("gumbel_backward", lambda: Q.gumbel_backward(np.ones(3), np.zeros((2, 4)), T4, 1.0, np.zeros((2, 4))), ValueError, "shape"),
    ("gumbel_backward", lambda: Q.gumbel_backward(np.ones(2), np.zeros((2, 4)), T4, -1.0, np.zeros((2, 4))), ValueError, "> 0"),
    ("gumbel_soft_value", lambda: Q.gumbel_soft_value(np.zeros(4), T4, 1.0, np.array([np.inf, 0, 0, 0])), ValueError, "finite"),
    ("gumbel_eval", lambda: Q.gumbel_eval(np.zeros((2, 5)), T4), ValueError, "n = 4"),
    ("gumbel_eval", lambda: Q.gumbel_eval(np.array(1.0), T4), ValueError, "dimensions"),
    ("sample_gumbel", lambda: Q.sample_gumbel((2, 3), 0), TypeError, "Generator"),
    ("sample_gumbel", lambda: Q.sample_gumbel((2, -1), np.random.default_rng()), TypeError, "shape"),
    ("gumbel_logits_from_phase", lambda: Q.gumbel_logits_from_phase(W, T4, 0.0), ValueError, "> 0"),
    ("gumbel_logits_from_phase", lambda: Q.gumbel_logits_from_phase(np.array([np.nan]), T4), ValueError, "finite"),
]


@pytest.mark.parametrize("func, call, exc, msg", BAD_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)])
def test_bad_input(func, call, exc, msg):
    with pytest.raises(exc, match=msg) as ei:
        call()
    assert f"{func}()" in str(ei.value)
