"""Phase is periodic (issue 15, bug04 / repro_latent_outside_period): every reference quantizer
treats the latent modulo the period of a periodic table, in forward, backward and hard rounding.

Judged against an independent rule, the nearest level by periodic distance
``q[argmin_j |((w − q_j + P/2) mod P) − P/2|]`` written out here, and against float64 central
finite differences; non-periodic tables keep their clamped ends."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from quaton_fast.reference import quantizers as Q
from quaton_fast.reference.levels import MAX_LEVELS, fold_latent, level_table, uniform_levels

TWO_PI = 2 * math.pi
PERIODIC = {
    "uniform2": uniform_levels(2),
    "uniform4": uniform_levels(4),
    "uniform16": uniform_levels(16),
    "custom": level_table([0.3, 0.7, 2.0, 2.4, 4.9], TWO_PI),
    "shifted": level_table([-1.0, 0.5, 2.5], TWO_PI),
}


def nearest_mod(w, levels, period):
    """Independent rule: the level closest to w as a phase (distance modulo the period)."""
    d = np.abs(np.mod(w[..., None] - levels + period / 2, period) - period / 2)
    j = np.argmin(d, axis=-1)
    return levels[j], j


def far_from_ties(w, t, margin=1e-6):
    """Drop latents within ``margin`` of a threshold (mod the period), where rounding may go either way."""
    d = np.mod(w[:, None] - t.thresholds[None, :] + t.period / 2, t.period) - t.period / 2
    return w[np.all(np.abs(d) > margin, axis=1)]


def phase_err(a, b):
    return np.max(np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b))))))


@pytest.mark.parametrize("name", list(PERIODIC))
def test_hard_rounding_is_nearest_level_mod_period_far_outside(name, rng):
    t = PERIODIC[name]
    w = far_from_ties(rng.uniform(-40.0, 40.0, size=5000), t)
    val, j = nearest_mod(w, t.levels, t.period)
    np.testing.assert_array_equal(Q.level_index(w, t), j)
    np.testing.assert_array_equal(Q.hard_phase(w, t), val)
    for out in (Q.staircase(w, t), Q.ste_forward(w, t), Q.pq_forward(w, t, training=False),
                Q.dsq_forward(w, t, 0.2)):
        assert phase_err(out, val) < 1e-12


def test_bug04_values():
    # the case's numbers: 4 levels, latents -1, 8, 20 -> 3π/2, π/2, π/2
    t = uniform_levels(4)
    np.testing.assert_allclose(Q.hard_phase(np.array([-1.0, 8.0, 20.0]), t),
                               [1.5 * math.pi, 0.5 * math.pi, 0.5 * math.pi], rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", list(PERIODIC))
@pytest.mark.parametrize("shift", [-3, -1, 1, 7])
def test_soft_quantizers_and_gradients_are_periodic(name, shift, rng):
    t = PERIODIC[name]
    # inside one period, away from the fold point q_0 (where the one-period sum jumps by its tails)
    w = rng.uniform(t.base + 0.01, t.base + t.period - 0.01, size=64)
    ws = w + shift * t.period
    g = rng.standard_normal(w.shape)
    for k in (0.8, 6.0, 40.0):
        assert phase_err(Q.psq_forward(ws, t, k), Q.psq_forward(w, t, k)) < 1e-9
        gw, gk = Q.psq_backward(g, w, t, k)
        gws, gks = Q.psq_backward(g, ws, t, k)
        np.testing.assert_allclose(gws, gw, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gks, gk, rtol=1e-8, atol=1e-10)
    for a in (0.05, 0.4):
        assert phase_err(Q.dsq_soft(ws, t, a), Q.dsq_soft(w, t, a)) < 1e-9
        gw, ga = Q.dsq_backward(g, w, t, a)
        gws, gas = Q.dsq_backward(g, ws, t, a)
        np.testing.assert_allclose(gws, gw, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gas, ga, rtol=1e-8, atol=1e-10)


def _fd(f, x, h):
    g = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


@pytest.mark.parametrize("name", ["uniform4", "custom", "shifted"])
def test_gradients_outside_one_period_match_finite_differences(name, rng):
    """DSQ/PSQ gradients were 0 outside [q_0, q_0 + period) (drifted neurons froze); now they are
    the periodic extension, checked against central differences of the forward in float64."""
    t = PERIODIC[name]
    w = np.concatenate([rng.uniform(t.base - 9.0, t.base - 0.1, 6), rng.uniform(t.top + 0.1, t.top + 9.0, 6)])
    # stay away from the fold points and the DSQ interval ends (kinks of the soft curves)
    x = fold_latent(w, t)
    keep = np.all(np.abs(x[:, None] - t.extended_levels[None, :]) > 1e-3, axis=1)
    w = w[keep]
    g = rng.standard_normal(w.shape)
    k = 3.0
    gw, gk = Q.psq_backward(g, w, t, k)
    np.testing.assert_allclose(gw, _fd(lambda v: np.sum(g * Q.psq_forward(v, t, k)), w, 1e-6),
                               rtol=1e-6, atol=1e-7)
    assert np.all(gw != 0)
    a = 0.3
    gw, _ = Q.dsq_backward(g, w, t, a)
    np.testing.assert_allclose(gw, _fd(lambda v: np.sum(g * Q.dsq_soft(v, t, a)), w, 1e-7),
                               rtol=1e-5, atol=1e-6)
    assert np.all(gw != 0)


def test_nonperiodic_tables_keep_clamped_ends(rng):
    t = level_table([0.0, 0.5, 2.0, 4.0])  # does not span a period: no wrap, no fold
    w = rng.uniform(-20.0, 20.0, size=500)
    np.testing.assert_array_equal(fold_latent(w, t), w)
    below, above = w < 0.25, w >= 3.0
    assert np.all(Q.staircase(w[below], t) == 0.0) and np.all(Q.staircase(w[above], t) == 4.0)
    gw, _ = Q.dsq_backward(np.ones(w.shape), w, t, 0.3)
    assert np.all(gw[(w < 0) | (w > 4.0)] == 0)


def test_fold_latent_range_and_identity(rng):
    t = PERIODIC["shifted"]
    w = rng.uniform(-100, 100, 1000)
    x = fold_latent(w, t)
    assert np.all(x >= t.base) and np.all(x < t.base + t.period)
    np.testing.assert_allclose(np.exp(1j * x), np.exp(1j * w), atol=1e-12)
    assert fold_latent(np.array([-1e-300]), uniform_levels(4))[0] == 0.0  # not 2π


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.floats(-50.0, 50.0), st.floats(0.0, 2.0))
def test_random_uniform_tables_hard_rounding(n, w0, offset):
    t = level_table(offset + TWO_PI * np.arange(n) / n, TWO_PI)
    w = far_from_ties(np.array([w0]), t, 1e-9)
    if w.size:
        val, j = nearest_mod(w, t.levels, t.period)
        np.testing.assert_array_equal(Q.level_index(w, t), j)
        np.testing.assert_array_equal(Q.hard_phase(w, t), val)


def test_level_count_bound_and_vectorised_rounding():
    # 2^20 levels (the bound) round correctly and fast (binary search, not a loop over levels)
    t = uniform_levels(MAX_LEVELS)
    w = np.array([-1.0, 3.0, 1e3, TWO_PI - 1e-9])
    val, j = nearest_mod(w, t.levels, t.period)
    np.testing.assert_array_equal(Q.level_index(w, t), j)
    with pytest.raises(ValueError, match="'n'.*MAX_LEVELS"):
        uniform_levels(MAX_LEVELS + 1)
    with pytest.raises(ValueError, match="'levels'.*MAX_LEVELS"):
        level_table(np.arange(MAX_LEVELS + 1, dtype=np.float64))
