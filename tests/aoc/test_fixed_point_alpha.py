"""One meaning for `alpha` in the NumPy, C++ and torch APIs (case repro_alpha_tuple_semantics).

tuple (start, end) = linear annealing schedule alpha(t) = start + (end - start) t / (T - 1);
a number / 0-d tensor = one constant; an (S,) tensor / list / array = one constant per system.
The schedule is checked against an independent NumPy loop, not against the library.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from quaton_fast import _backend
from quaton_fast.functional.fixed_point import fixed_point
from quaton_fast.reference import fixed_point as ref

BACKENDS = ["torch"] + (["cpp"] if _backend.native() is not None else [])


def _loop(W, b, alphas):
    """T steps of s <- alpha_t s + W tanh(s) + b, one alpha per step (or per (step, system))."""
    s = np.zeros_like(b)
    for a in alphas:
        s = np.asarray(a).reshape(-1, 1) * s + np.einsum("sij,sj->si", W, np.tanh(s)) + b
    return s


@pytest.fixture
def system():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 4, 4)) * 0.2, rng.standard_normal((2, 4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_tuple_is_schedule_in_torch_api(system, backend):
    W, b = system
    T = 50
    sched = _loop(W, b, [0.2 + (0.6 - 0.2) * t / (T - 1) for t in range(T)])
    per_system = _loop(W, b, [np.array([0.2, 0.6])] * T)
    s, it, _ = fixed_point(torch.from_numpy(W), torch.from_numpy(b), alpha=(0.2, 0.6), tol=0, max_iter=T,
                           backend=backend)
    assert it.tolist() == [T, T]
    np.testing.assert_allclose(s.numpy(), sched, rtol=0, atol=1e-12)
    assert np.abs(s.numpy() - per_system).max() > 1e-2
    np.testing.assert_allclose(ref.fixed_point_forward(W, b, alpha=(0.2, 0.6), tol=0, max_iter=T).state, sched,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("as_", ["tensor", "list"])
def test_per_system_constants(system, backend, as_):
    W, b = system
    T = 50
    per_system = _loop(W, b, [np.array([0.2, 0.6])] * T)
    alpha = torch.tensor([0.2, 0.6], dtype=torch.float64) if as_ == "tensor" else [0.2, 0.6]
    s, _, _ = fixed_point(torch.from_numpy(W), torch.from_numpy(b), alpha=alpha, tol=0, max_iter=T, backend=backend)
    np.testing.assert_allclose(s.numpy(), per_system, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref.fixed_point_forward(W, b, alpha=np.array([0.2, 0.6]), tol=0, max_iter=T).state,
                               per_system, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_schedule_of_per_system_endpoints_and_three_systems(backend):
    rng = np.random.default_rng(1)
    W, b = rng.standard_normal((3, 4, 4)) * 0.2, rng.standard_normal((3, 4))
    a0, a1, T = np.array([0.1, 0.2, 0.3]), 0.6, 30
    expect = _loop(W, b, [a0 + (a1 - a0) * t / (T - 1) for t in range(T)])
    s, _, _ = fixed_point(torch.from_numpy(W), torch.from_numpy(b), alpha=(torch.from_numpy(a0), a1), tol=0,
                          max_iter=T, backend=backend)
    np.testing.assert_allclose(s.numpy(), expect, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_schedule_gradient_uses_the_alpha_of_the_returned_state(system, backend):
    """With a schedule the returned state is checked against the map at alpha(min(it, T-1)); the
    implicit gradient linearises that map (here formed by hand: (I - J^T)^-1 g at that alpha)."""
    W, b = system
    T = 400
    bt = torch.from_numpy(b).requires_grad_()
    s, it, res = fixed_point(torch.from_numpy(W), bt, alpha=(0.2, 0.5), tol=2e-3, max_iter=T, backend=backend,
                             backward_tol=1e-14, backward_max_iter=5000)
    assert (res <= 2e-3).all() and (it < T).all()
    s.sum().backward()
    sn = s.detach().numpy()
    for i in range(2):
        a_i = 0.2 + 0.3 * min(int(it[i]), T - 1) / (T - 1)
        J = a_i * np.eye(4) + W[i] * (1 - np.tanh(sn[i]) ** 2)[None, :]
        np.testing.assert_allclose(bt.grad[i].numpy(), np.linalg.solve(np.eye(4) - J.T, np.ones(4)), rtol=1e-8)


def test_bad_alpha_named():
    W, b = torch.eye(6, dtype=torch.float64) * 0.1, torch.ones(1, 6, dtype=torch.float64)
    for alpha in (torch.ones(3, dtype=torch.float64), (0.1, 0.2, 0.3), (0.1, float("nan")), "0.5",
                  (torch.tensor(0.1, dtype=torch.float64, requires_grad=True), 0.5)):
        with pytest.raises((ValueError, TypeError), match="argument 'alpha'"):
            fixed_point(W, b, alpha=alpha)
