"""Temperature schedules (NumPy reference): PSQ sharpness k and the Gumbel-softmax tau.

Epochs are 0-based integers.

* PSQ-FT: :func:`fixed_temperature` — constant k.
* PSQ-LI: :func:`linear_temperature` — ``k(e) = k0 + increment·⌊e/every⌋``.
* PSQ-LT: :func:`learnable_temperature` — ``k = 1/(|κ| + ε)`` per layer (κ trainable, init
  :data:`KAPPA_INIT`) plus :func:`lt_regulariser` ``½·λ(e)·Σ κ²`` with
  ``λ(e) = λ1·2^⌊e/β⌋`` (:func:`lt_lambda`).
* GS: :func:`gumbel_tau` — ``max(tau_min, tau0·decay^e)``.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._validation import array, fail, finite_real, positive_int

__all__ = [
    "KAPPA_INIT", "KAPPA_EPS", "LT_LAMBDA1", "LT_BETA",
    "GUMBEL_TAU0", "GUMBEL_DECAY", "GUMBEL_TAU_MIN",
    "fixed_temperature", "linear_temperature", "learnable_temperature",
    "lt_lambda", "lt_regulariser", "gumbel_tau",
]

#: initial value of the learnable PSQ-LT parameter κ (k = 1/(0.05 + 0.005) ≈ 18.2)
KAPPA_INIT = 0.05
#: ε in k = 1/(|κ| + ε): caps k at 1/ε = 200
KAPPA_EPS = 0.005
#: default λ1 of the PSQ-LT regulariser
LT_LAMBDA1 = 0.01
#: default β (epochs between doublings of λ) of the PSQ-LT regulariser
LT_BETA = 5
#: Gumbel-softmax schedule defaults: tau(e) = max(GUMBEL_TAU_MIN, GUMBEL_TAU0·GUMBEL_DECAY^e):
#: 1.0 at epoch 0, 0.35 at epoch 10, floor 0.1 reached at epoch 22.
GUMBEL_TAU0 = 1.0
GUMBEL_DECAY = 0.9
GUMBEL_TAU_MIN = 0.1


def _epoch(func: str, epoch: Any) -> int:
    return positive_int(func, "epoch", epoch, minimum=0)


def fixed_temperature(k: float) -> float:
    """PSQ-FT: the constant sharpness ``k`` (> 0)."""
    return finite_real("fixed_temperature", "k", k, positive=True)


def linear_temperature(epoch: int, k0: float, increment: float, every: int = 1) -> float:
    """PSQ-LI: ``k0 + increment·⌊epoch/every⌋`` (k0 > 0, increment >= 0, every >= 1)."""
    e = _epoch("linear_temperature", epoch)
    k0 = finite_real("linear_temperature", "k0", k0, positive=True)
    inc = finite_real("linear_temperature", "increment", increment, nonnegative=True)
    every = positive_int("linear_temperature", "every", every)
    return k0 + inc * (e // every)


def learnable_temperature(kappa: Any, eps: float = KAPPA_EPS) -> tuple[Any, Any]:
    """PSQ-LT: ``(k, dk/dκ)`` with ``k = 1/(|κ| + ε)``, ``dk/dκ = −sign(κ)/(|κ| + ε)²``.

    ``kappa``: a real number (returns floats) or a real array (one κ per layer; returns arrays).
    Subgradient at κ = 0: ``sign(0) = 0``, so ``dk/dκ = 0`` there — the same as torch autograd
    through ``abs`` (k has its maximum 1/ε at κ = 0)."""
    eps = finite_real("learnable_temperature", "eps", eps, positive=True)
    if isinstance(kappa, numbers.Real) and not isinstance(kappa, bool):
        kap = finite_real("learnable_temperature", "kappa", kappa)
        den = abs(kap) + eps
        return 1.0 / den, -float(np.sign(kap)) / (den * den)
    kap = np.asarray(array("learnable_temperature", "kappa", kappa, complex_ok=False), dtype=np.float64)
    den = np.abs(kap) + eps
    return 1.0 / den, -np.sign(kap) / (den * den)


def lt_lambda(epoch: int, lambda1: float = LT_LAMBDA1, beta: int = LT_BETA) -> float:
    """``λ(e) = lambda1·2^⌊e/beta⌋`` (lambda1 >= 0, beta >= 1 epochs)."""
    e = _epoch("lt_lambda", epoch)
    l1 = finite_real("lt_lambda", "lambda1", lambda1, nonnegative=True)
    beta = positive_int("lt_lambda", "beta", beta)
    return l1 * float(2 ** (e // beta))


def lt_regulariser(kappas: Any, epoch: int, lambda1: float = LT_LAMBDA1,
                   beta: int = LT_BETA) -> tuple[float, np.ndarray]:
    """PSQ-LT regulariser ``½·λ(e)·Σ κ²`` over the layers' κ, shape (L,); returns ``(value, λ(e)·κ)``."""
    k = array("lt_regulariser", "kappas", kappas, complex_ok=False, min_ndim=1)
    if k.ndim != 1:
        fail("lt_regulariser", "kappas", "a 1-D array (one κ per layer)", f"shape {tuple(k.shape)}")
    k = np.asarray(k, dtype=np.float64)
    e = _epoch("lt_regulariser", epoch)
    l1 = finite_real("lt_regulariser", "lambda1", lambda1, nonnegative=True)
    beta = positive_int("lt_regulariser", "beta", beta)
    lam = lt_lambda(e, l1, beta)
    return 0.5 * lam * float(np.sum(k * k)), lam * k


def gumbel_tau(epoch: int, tau0: float = GUMBEL_TAU0, decay: float = GUMBEL_DECAY,
               tau_min: float = GUMBEL_TAU_MIN) -> float:
    """Gumbel-softmax temperature ``max(tau_min, tau0·decay^epoch)``.

    Defaults: tau0 = 1.0, decay = 0.9 per epoch, tau_min = 0.1 (Jang et al. anneal exponentially
    from 1 to a floor; the per-epoch rate here suits D2NN runs of tens of epochs).
    Requires tau0 > 0, 0 < decay <= 1, 0 < tau_min <= tau0."""
    e = _epoch("gumbel_tau", epoch)
    t0 = finite_real("gumbel_tau", "tau0", tau0, positive=True)
    d = finite_real("gumbel_tau", "decay", decay, positive=True)
    if d > 1.0:
        fail("gumbel_tau", "decay", "in (0, 1]", d)
    tmin = finite_real("gumbel_tau", "tau_min", tau_min, positive=True)
    if tmin > t0:
        fail("gumbel_tau", "tau_min", f"<= tau0 = {t0!r}", tmin)
    return max(tmin, t0 * d ** e)
