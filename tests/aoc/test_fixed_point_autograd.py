"""Implicit-gradient fixed point (torch) vs finite differences, unrolled autograd and NumPy reference."""
import numpy as np
import pytest
import torch

from quaton_fast._backend import native
from quaton_fast.functional.fixed_point import fixed_point, fixed_point_unrolled

D = torch.float64


def _system(S=3, n=5, shared=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (n, n) if shared else (S, n, n)
    W = torch.randn(*shape, generator=g, dtype=D) / (2 * n ** 0.5)
    b = torch.randn(S, n, generator=g, dtype=D)
    return W, b


def _loss(s):
    w = torch.linspace(-1, 1, s.numel(), dtype=D).reshape(s.shape)
    return (w * s).sum() + (s ** 2).sum()


BACKENDS = ["torch"] + (["cpp"] if native() is not None else [])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("clamp", [None, (-0.6, 0.6)])
def test_implicit_vs_unrolled(shared, clamp, backend):
    W, b = _system(shared=shared)
    beta = torch.tensor(0.8, dtype=D)
    alpha = torch.tensor(0.3, dtype=D)
    args = [W.clone().requires_grad_(), b.clone().requires_grad_(), beta.clone().requires_grad_(),
            alpha.clone().requires_grad_()]
    s, it, res = fixed_point(args[0], args[1], alpha=args[3], beta=args[2], clamp=clamp,
                             tol=1e-13, max_iter=2000, backward_tol=1e-13, backward_max_iter=2000,
                             backend=backend)
    assert (res <= 1e-13).all()
    g1 = torch.autograd.grad(_loss(s), args)
    args2 = [a.detach().clone().requires_grad_() for a in args]
    s2 = fixed_point_unrolled(args2[0], args2[1], alpha=args2[3], beta=args2[2], clamp=clamp, max_iter=300)
    torch.testing.assert_close(s, s2, atol=1e-10, rtol=0)
    g2 = torch.autograd.grad(_loss(s2), args2)
    for a, c in zip(g1, g2):
        torch.testing.assert_close(a, c, atol=1e-8, rtol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_implicit_vs_finite_differences(backend):
    W, b = _system(S=2, n=4)
    W.requires_grad_()
    b.requires_grad_()

    def f(W, b):
        return fixed_point(W, b, alpha=0.4, beta=0.9, tol=1e-14, max_iter=5000,
                           backward_tol=1e-14, backward_max_iter=5000, backend=backend)[0]
    assert torch.autograd.gradcheck(f, (W, b), eps=1e-6, atol=1e-6)


def test_needs_input_grad_and_nondiff_outputs():
    W, b = _system()
    b.requires_grad_()
    s, it, res = fixed_point(W, b, alpha=0.5, beta=1.0)
    assert not it.requires_grad and not res.requires_grad and it.dtype == torch.int64
    s.sum().backward()
    assert b.grad is not None and W.grad is None


def test_forward_matches_numpy_reference():
    ref = pytest.importorskip("quaton_fast.reference.fixed_point")
    W, b = _system(S=4, n=6)
    for clamp in (None, (-0.5, 0.5)):
        s, it, res = fixed_point(W, b, alpha=0.5, beta=1.0, gamma=0.1, clamp=clamp, tol=1e-6, max_iter=200)
        r = ref.fixed_point_forward(W.numpy(), b.numpy(), alpha=0.5, beta=1.0, gamma=0.1, clamp=clamp,
                                    tol=1e-6, max_iter=200)
        np.testing.assert_allclose(s.numpy(), r.state, atol=1e-12)
        np.testing.assert_array_equal(it.numpy(), r.iterations)
        np.testing.assert_allclose(res.numpy(), r.residual, rtol=1e-9, atol=1e-15)


def test_bad_inputs():
    W, b = _system()
    with pytest.raises(ValueError):
        fixed_point(W[:, :2], b, alpha=0.5, beta=1.0)
    with pytest.raises(ValueError):
        fixed_point(W, b, alpha=0.5, beta=1.0, nonlinearity="relu")
