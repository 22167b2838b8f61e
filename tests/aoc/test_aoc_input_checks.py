"""AOC entry points answer bad input with an error naming the argument (cases rel08, rel09, rel18)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from quaton_fast import _backend
from quaton_fast.aoc import EquilibriumClassifier, EquilibriumRegressor, quantize_for_hardware, quantize_weights_9bit
from quaton_fast.aoc.quantize import quantize_int_9bit
from quaton_fast.functional.fixed_point import fixed_point
from quaton_fast.reference import fixed_point as ref


@pytest.mark.parametrize("kw,arg", [
    (dict(clamp=(1.0, -1.0)), "clamp"), (dict(clamp=(0.5, 0.5)), "clamp"), (dict(clamp=(0, float("nan"))), "clamp"),
    (dict(width=0), "width"), (dict(cells=0), "cells"), (dict(width=-3), "width"), (dict(cells=2.5), "cells"),
    (dict(alpha=1.5), "alpha"), (dict(alpha=1.0), "alpha"), (dict(alpha=-1.0), "alpha"),
    (dict(alpha=float("nan")), "alpha"), (dict(in_features=0), "in_features"), (dict(num_classes=0), "num_classes"),
    (dict(max_iter=0), "max_iter"), (dict(tol=-1.0), "tol"), (dict(max_gain=float("nan")), "max_gain"),
    (dict(max_gain=-0.1), "max_gain"), (dict(beta_init=float("inf")), "beta_init"), (dict(seed=-1), "seed"),
])
def test_equilibrium_classifier_rejects_invalid_settings(kw, arg):
    with pytest.raises((ValueError, TypeError), match=f"EquilibriumClassifier\\(\\): argument '{arg}'"):
        EquilibriumClassifier(**kw)


def test_noncontractive_gain_projection_warns():
    with pytest.warns(RuntimeWarning, match="max_gain"):
        EquilibriumClassifier(alpha=0.7, max_gain=0.4)


@pytest.mark.parametrize("x,what", [
    (torch.rand(2, 100), "of shape"), (torch.rand(2, 784, dtype=torch.float64), "dtype"),
    (torch.rand(0, 784), "non-empty"), (np.zeros((2, 784), np.float32), "torch.Tensor"),
])
def test_equilibrium_forward_blames_x(x, what):
    m = EquilibriumClassifier()
    with pytest.raises((ValueError, TypeError), match=f"argument 'x' must .*{what}"):
        m(x)


def test_equilibrium_forward_accepts_images_and_regressor_inputs():
    m = EquilibriumClassifier()
    assert m(torch.rand(3, 28, 28)).shape == (3, 10)
    assert EquilibriumRegressor()(torch.rand(4, 1)).shape == (4, 1)


def test_quantize_for_hardware_blames_model():
    with pytest.raises(TypeError, match="argument 'model'"):
        quantize_for_hardware(torch.rand(4, 4))


@pytest.mark.parametrize("fn", [quantize_weights_9bit, quantize_int_9bit])
@pytest.mark.parametrize("W,mode,exc,what", [
    (torch.tensor([[0.5, float("nan")], [0.1, -0.2]]), "maxabs", ValueError, "finite"),
    (torch.tensor([[0.5, float("inf")], [0.1, -0.2]]), "maxabs", ValueError, "finite"),
    (-torch.tensor([[0.01, 0.02], [0.03, 0.004]]), "paper", ValueError, "max\\(W\\) > 0"),
    (torch.tensor([[1, 2], [3, 4]]), "maxabs", TypeError, "floating-point"),
    (torch.zeros(0, 0), "maxabs", ValueError, "non-empty"),
    (np.ones((2, 2)), "maxabs", TypeError, "torch.Tensor"),
    (torch.ones(2, 2), "pape", ValueError, "'maxabs' or 'paper'"),
])
def test_quantize_rejects(fn, W, mode, exc, what):
    with pytest.raises(exc, match=f"{fn.__name__}\\(\\): argument '(W|mode)' must .*{what}"):
        fn(W, mode)


def test_quantize_shapes_and_error_bound():
    q = quantize_weights_9bit(torch.tensor(0.3))
    assert q.shape == () and abs(float(q) - 0.3) < 1e-7
    W = torch.randn(3, 5, 5, dtype=torch.float64)
    Q = quantize_weights_9bit(W)
    assert Q.shape == W.shape and Q.dtype == W.dtype
    step = W.abs().amax((1, 2)) / 255  # maxabs: error <= half a step per matrix
    assert ((Q - W).abs().amax((1, 2)) <= step / 2 + 1e-15).all()
    Wp = torch.tensor([[0.5, -0.1], [0.2, 0.0]])
    codes, m = quantize_int_9bit(Wp, "paper")
    assert float(m) == 0.5 and codes.tolist() == [[255, -51], [102, 0]]
    assert quantize_weights_9bit(torch.zeros(2, 2), "paper").tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_fixed_point_entry_points_blame_the_argument():
    W, b = np.eye(6) * 0.1, np.ones(6)
    with pytest.raises(ValueError, match="fixed_point_adjoint\\(\\): argument 'state'"):
        ref.fixed_point_adjoint(W, b, np.zeros((1, 7)), np.zeros((1, 6)))
    with pytest.raises(ValueError, match="argument 'max_iter'"):
        ref.fixed_point_forward(W, b, max_iter=2 ** 31)
    if _backend.native() is not None:
        from quaton_fast.aoc import fixed_point_adjoint, fixed_point_forward
        with pytest.raises(ValueError, match="fixed_point_adjoint\\(\\): argument 'state'"):
            fixed_point_adjoint(W, b, np.zeros((1, 7)), np.zeros((1, 6)))
        with pytest.raises(ValueError, match="argument 'max_iter'"):
            fixed_point_forward(W, b, max_iter=2 ** 31)
    Wt, bt = torch.eye(6, dtype=torch.float64), torch.ones(1, 6, dtype=torch.float64)
    for kw, arg in ((dict(alpha=torch.ones(3, dtype=torch.float64)), "alpha"), (dict(max_iter=2 ** 31), "max_iter"),
                    (dict(tol=float("nan")), "tol"), (dict(clamp=(1, 0)), "clamp"), (dict(beta="x"), "beta"),
                    (dict(backward_method="lu"), "backward_method"), (dict(s0=torch.zeros(2, 6)), "s0"),
                    (dict(gamma=torch.ones(2, dtype=torch.float64)), "gamma")):
        with pytest.raises((ValueError, TypeError), match=f"argument '{arg}'"):
            fixed_point(Wt, bt, **kw)
    with pytest.raises(TypeError, match="argument 'W'"):
        fixed_point(Wt.float(), bt)
    with pytest.raises(TypeError, match="argument 'b'"):
        fixed_point(Wt, bt.long())


def test_equilibrium_inference_warns_when_not_converged():
    m = EquilibriumClassifier(in_features=8, width=4, max_gain=None, max_iter=3)
    with torch.no_grad():
        m.W.mul_(20.0)
        with pytest.warns(RuntimeWarning, match="did not converge"):
            m(torch.rand(5, 8))
    assert m.last_residual.shape == (5,) and not bool((m.last_residual <= m.tol).all())
    m2 = EquilibriumClassifier(in_features=8, width=4)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        m2(torch.rand(5, 8))  # contractive: converges, no warning
