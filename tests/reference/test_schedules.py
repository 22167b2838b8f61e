"""Temperature schedules: values at given epochs, FD checks of the PSQ-LT derivatives, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from quaton_fast.reference import schedules as S


def fd(f, x, h=1e-7):
    if np.isscalar(x):
        return (f(x + h) - f(x - h)) / (2 * h)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp = x.copy(); xp[i] += h
        xm = x.copy(); xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def test_fixed_temperature():
    assert S.fixed_temperature(10.0) == 10.0
    assert S.fixed_temperature(3) == 3.0 and isinstance(S.fixed_temperature(3), float)


def test_linear_temperature_values():
    # every = 3: constant within blocks of 3 epochs, steps at multiples of 3
    got = [S.linear_temperature(e, 2.0, 0.5, every=3) for e in range(8)]
    assert got == [2.0, 2.0, 2.0, 2.5, 2.5, 2.5, 3.0, 3.0]
    assert S.linear_temperature(0, 5.0, 1.0) == 5.0
    assert S.linear_temperature(1, 5.0, 1.0) == 6.0
    assert S.linear_temperature(10, 5.0, 1.0) == 15.0
    assert S.linear_temperature(7, 5.0, 0.0, every=2) == 5.0


def test_learnable_temperature_values_and_init():
    assert S.KAPPA_INIT == 0.05 and S.KAPPA_EPS == 0.005
    k, dk = S.learnable_temperature(S.KAPPA_INIT)
    assert math.isclose(k, 1 / 0.055) and math.isclose(dk, -1 / 0.055**2)
    k, dk = S.learnable_temperature(-0.05)
    assert math.isclose(k, 1 / 0.055) and math.isclose(dk, 1 / 0.055**2)
    # subgradient at κ = 0 is 0 (sign(0) = 0, as torch autograd through abs)
    assert S.learnable_temperature(0.0) == (200.0, 0.0)
    ka, dka = S.learnable_temperature(np.array([0.0, 0.1, -0.2]), eps=0.01)
    np.testing.assert_allclose(ka, 1 / np.array([0.01, 0.11, 0.21]))
    np.testing.assert_allclose(dka, [0.0, -1 / 0.11**2, 1 / 0.21**2])


@pytest.mark.parametrize("kappa", [0.05, -0.3, 1e-3, -2e-3, 0.7])
def test_learnable_temperature_fd(kappa):
    _, dk = S.learnable_temperature(kappa)
    want = fd(lambda x: S.learnable_temperature(x)[0], kappa, h=1e-7 * max(abs(kappa), 1e-3))
    np.testing.assert_allclose(dk, want, rtol=1e-6)
    kap = np.array([kappa, -kappa / 2, 3 * kappa])
    _, dka = S.learnable_temperature(kap)
    np.testing.assert_allclose(dka, fd(lambda x: np.sum(S.learnable_temperature(x)[0]), kap, h=1e-10),
                               rtol=1e-5)


def test_lt_lambda_doubles_at_multiples_of_beta():
    assert [S.lt_lambda(e) for e in (0, 4, 5, 9, 10, 15)] == [0.01, 0.01, 0.02, 0.02, 0.04, 0.08]
    assert [S.lt_lambda(e, 1.0, 2) for e in range(6)] == [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]


@pytest.mark.parametrize("epoch", [0, 4, 5, 12])
def test_lt_regulariser_value_and_fd(epoch, rng):
    kap = rng.standard_normal(6) * 0.1
    val, grad = S.lt_regulariser(kap, epoch)
    lam = 0.01 * 2 ** (epoch // 5)
    assert math.isclose(val, 0.5 * lam * float(np.sum(kap**2)), rel_tol=1e-14)
    np.testing.assert_allclose(grad, fd(lambda x: S.lt_regulariser(x, epoch)[0], kap), rtol=1e-6, atol=1e-12)
    assert grad.shape == (6,)


def test_gumbel_tau_schedule():
    assert S.gumbel_tau(0) == 1.0
    assert math.isclose(S.gumbel_tau(10), 0.9**10)
    assert S.gumbel_tau(100) == 0.1  # floor
    taus = [S.gumbel_tau(e) for e in range(40)]
    assert all(b <= a for a, b in zip(taus, taus[1:])) and taus[-1] == S.GUMBEL_TAU_MIN
    assert S.gumbel_tau(3, tau0=2.0, decay=0.5, tau_min=0.01) == 0.25
    assert S.gumbel_tau(5, decay=1.0) == 1.0


BAD = [
    ("fixed_temperature", lambda: S.fixed_temperature(0.0), ValueError, "> 0"),
    ("fixed_temperature", lambda: S.fixed_temperature(-1.0), ValueError, "> 0"),
    ("fixed_temperature", lambda: S.fixed_temperature(math.nan), ValueError, "finite"),
    ("fixed_temperature", lambda: S.fixed_temperature("1"), TypeError, "real"),
    ("linear_temperature", lambda: S.linear_temperature(-1, 1.0, 1.0), ValueError, "epoch"),
    ("linear_temperature", lambda: S.linear_temperature(1.5, 1.0, 1.0), TypeError, "epoch"),
    ("linear_temperature", lambda: S.linear_temperature(0, 0.0, 1.0), ValueError, "k0"),
    ("linear_temperature", lambda: S.linear_temperature(0, 1.0, -1.0), ValueError, "increment"),
    ("linear_temperature", lambda: S.linear_temperature(0, 1.0, 1.0, every=0), ValueError, "every"),
    ("learnable_temperature", lambda: S.learnable_temperature(0.05, eps=0.0), ValueError, "eps"),
    ("learnable_temperature", lambda: S.learnable_temperature(math.inf), ValueError, "kappa"),
    ("learnable_temperature", lambda: S.learnable_temperature(np.array([np.nan])), ValueError, "kappa"),
    ("learnable_temperature", lambda: S.learnable_temperature([0.1]), TypeError, "kappa"),
    ("lt_lambda", lambda: S.lt_lambda(0, beta=0), ValueError, "beta"),
    ("lt_lambda", lambda: S.lt_lambda(0, lambda1=-0.1), ValueError, "lambda1"),
    ("lt_regulariser", lambda: S.lt_regulariser(np.zeros((2, 2)), 0), ValueError, "1-D"),
    ("lt_regulariser", lambda: S.lt_regulariser(np.array([np.inf]), 0), ValueError, "finite"),
    ("lt_regulariser", lambda: S.lt_regulariser(np.array([0.1]), -1), ValueError, "epoch"),
    ("lt_regulariser", lambda: S.lt_regulariser(np.array([0.1]), 0, beta=2.0), TypeError, "beta"),
    ("gumbel_tau", lambda: S.gumbel_tau(0, tau0=0.0), ValueError, "tau0"),
    ("gumbel_tau", lambda: S.gumbel_tau(0, decay=1.5), ValueError, "decay"),
    ("gumbel_tau", lambda: S.gumbel_tau(0, decay=0.0), ValueError, "decay"),
    ("gumbel_tau", lambda: S.gumbel_tau(0, tau_min=2.0), ValueError, "tau_min"),
    ("gumbel_tau", lambda: S.gumbel_tau(-3), ValueError, "epoch"),
]


@pytest.mark.parametrize("func, call, exc, msg", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input(func, call, exc, msg):
    with pytest.raises(exc, match=msg) as ei:
        call()
    assert f"{func}()" in str(ei.value)
