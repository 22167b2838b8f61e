"""Level tables: derived thresholds/steps, validation, wrap_phase."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from quaton_fast.reference.levels import LevelTable, level_table, uniform_levels, wrap_phase

TWO_PI = 2 * math.pi


def test_uniform_levels_values_and_derived():
    t = uniform_levels(4)
    np.testing.assert_allclose(t.levels, [0, math.pi / 2, math.pi, 3 * math.pi / 2], rtol=0, atol=1e-15)
    assert t.period == TWO_PI and t.periodic and t.n == 4 and t.base == 0.0
    # 4 thresholds incl. the wrap-around one at q_3 + Δ/2 = 7π/4
    np.testing.assert_allclose(t.thresholds, np.pi * np.array([0.25, 0.75, 1.25, 1.75]), atol=1e-15)
    np.testing.assert_allclose(t.steps, np.full(4, math.pi / 2), atol=1e-15)
    assert t.top == TWO_PI
    np.testing.assert_allclose(t.extended_levels[-1], TWO_PI)


def test_custom_table_nonperiodic_has_no_wrap_step():
    t = level_table([0.0, 0.5, 2.0, 4.0])
    assert t.period is None and not t.periodic
    np.testing.assert_array_equal(t.thresholds, [0.25, 1.25, 3.0])
    np.testing.assert_array_equal(t.steps, [0.5, 1.5, 2.0])
    assert t.top == 4.0


def test_custom_table_periodic_wrap_step():
    t = level_table(np.array([0.1, 0.5, 2.0, 4.0]), period=TWO_PI)
    np.testing.assert_allclose(t.thresholds[-1], (4.0 + 0.1 + TWO_PI) / 2)
    np.testing.assert_allclose(t.steps[-1], 0.1 + TWO_PI - 4.0)
    np.testing.assert_allclose(t.steps.sum(), TWO_PI)


def test_arrays_are_readonly_and_copied():
    src = np.array([0.0, 1.0, 2.0])
    t = level_table(src)
    src[0] = -5.0
    assert t.levels[0] == 0.0
    for a in (t.levels, t.thresholds, t.steps):
        with pytest.raises(ValueError):
            a[0] = 1.0
    with pytest.raises(Exception):
        t.period = 1.0  # frozen


def test_equality_and_hash():
    assert uniform_levels(4) == level_table(uniform_levels(4).levels, TWO_PI)
    assert uniform_levels(4) != level_table(uniform_levels(4).levels)
    assert hash(uniform_levels(8)) == hash(uniform_levels(8))


@pytest.mark.parametrize("levels, period, exc, msg", [
    ([0.0, 2.0, 1.0, 3.0], None, ValueError, "first offending index 2"),
    ([0.0, 1.0, 1.0], None, ValueError, "first offending index 2"),
    ([1.0], None, ValueError, "at least 2"),
    (np.zeros((2, 2)), None, ValueError, "1-D"),
    ([0.0, np.nan], None, ValueError, "finite"),
    ([0.0, np.inf], None, ValueError, "finite"),
    ([0.0, 1.0], 1.0, ValueError, "span"),
    ([0.0, 1.0], -2.0, ValueError, "> 0"),
    ([0.0, 1.0], math.inf, ValueError, "finite"),
    ("abc", None, TypeError, "levels"),
    (np.array([0, 1j]), None, TypeError, "real"),
])
def test_level_table_rejects(levels, period, exc, msg):
    with pytest.raises(exc, match=msg) as ei:
        level_table(levels, period)
    assert "level_table()" in str(ei.value)


def test_levels_table_direct_construction_validates():
    with pytest.raises(ValueError, match=r"LevelTable\(\).*strictly increasing"):
        LevelTable(np.array([1.0, 0.0]))


@pytest.mark.parametrize("n, period, exc", [(1, TWO_PI, ValueError), (2.0, TWO_PI, TypeError),
                                            (True, TWO_PI, TypeError), (4, 0.0, ValueError),
                                            (4, -1.0, ValueError), (4, math.nan, ValueError)])
def test_uniform_levels_rejects(n, period, exc):
    with pytest.raises(exc, match=r"uniform_levels\(\)"):
        uniform_levels(n, period)


def test_wrap_phase_edge_cases():
    w = np.array([-1e-300, -1e-17, -TWO_PI, TWO_PI, 3 * TWO_PI + 1.0, -0.0, 7.0, -1.0])
    r = wrap_phase(w)
    assert r.dtype == np.float64
    assert np.all(r >= 0) and np.all(r < TWO_PI)
    assert not np.any(np.signbit(r))
    np.testing.assert_allclose(r[4], 1.0, atol=1e-12)
    np.testing.assert_allclose(r[6], 7.0 - TWO_PI, atol=1e-15)
    np.testing.assert_allclose(r[7], TWO_PI - 1.0, atol=1e-15)
    np.testing.assert_allclose(np.exp(1j * r), np.exp(1j * w), atol=1e-12)
    assert float(wrap_phase(2.5, period=2.0)) == 0.5


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
       st.floats(min_value=1e-3, max_value=100.0))
def test_wrap_phase_range_property(w, p):
    r = float(wrap_phase(np.array([w]), p)[0])
    assert 0.0 <= r < p


@pytest.mark.parametrize("w, period, exc", [(np.array([np.nan]), TWO_PI, ValueError),
                                            (np.array([1j]), TWO_PI, TypeError),
                                            ([1.0], TWO_PI, TypeError),
                                            (np.array([1.0]), 0.0, ValueError)])
def test_wrap_phase_rejects(w, period, exc):
    with pytest.raises(exc, match=r"wrap_phase\(\)"):
        wrap_phase(w, period)
