"""backend='auto' picks the CUDA kernels for CUDA tensors the kernels support, and falls back to the
torch loop (said once) otherwise -- dispatch logic checked on the CPU.

The device test (`_fixed_point_cuda.on_cuda`), the build test (`has_cuda`) and the kernel entries
(`launch_forward` / `launch_adjoint`) are patched: the fake kernels run the NumPy reference on the
CPU tensors they are handed and record each call, so the test sees which path a call takes and that
the arguments reach the kernel in the right order (alpha schedule, beta, gamma, clamp, tol, budget).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from quaton_fast.functional import _fixed_point_cuda as fpc
from quaton_fast.functional import fixed_point as api
from quaton_fast.reference import fixed_point as ref

D = torch.float64


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend every tensor is on a CUDA device of a CUDA build; kernels = the NumPy reference."""
    calls = []
    monkeypatch.setattr(fpc, "on_cuda", lambda t: True)
    monkeypatch.setattr(fpc, "has_cuda", lambda: True)
    monkeypatch.setattr(api, "_fallbacks_said", set())

    def fake_forward(W, b, s0, a0, a1, beta, gamma, nl, clamp, noise_std, seed, tol, max_iter):
        calls.append(("forward", dict(a0=a0.clone(), a1=a1.clone(), beta=beta.clone(), gamma=gamma.clone(),
                                      clamp=clamp, tol=tol, max_iter=max_iter, noise_std=noise_std)))
        a = a0.numpy() if torch.equal(a0, a1) else (a0.numpy(), a1.numpy())
        r = ref.fixed_point_forward(W.numpy(), b.numpy(), s0=None if s0 is None else s0.numpy(), alpha=a,
                                    beta=beta.numpy(), gamma=gamma.numpy(), nonlinearity=nl, clamp=clamp,
                                    tol=tol, max_iter=max_iter, systems=b.shape[0])
        return (torch.from_numpy(r.state).to(b.dtype), torch.from_numpy(r.iterations),
                torch.from_numpy(r.residual).to(b.dtype))

    def fake_adjoint(W, b, s, g, alpha, beta, nl, clamp, tol, max_iter):
        calls.append(("adjoint", dict(tol=tol, max_iter=max_iter)))
        r = ref.fixed_point_adjoint(W.numpy(), b.numpy(), s.numpy(), g.numpy(), alpha=alpha.numpy(),
                                    beta=beta.numpy(), nonlinearity=nl, clamp=clamp, tol=tol, max_iter=max_iter)
        u = torch.from_numpy(r.grad_b if r.grad_b.ndim == 2 else r.v)
        return u, None, None, torch.from_numpy(r.iterations), torch.from_numpy(r.residual)

    monkeypatch.setattr(fpc, "launch_forward", fake_forward)
    monkeypatch.setattr(fpc, "launch_adjoint", fake_adjoint)
    return calls


def _system(S=3, n=5, seed=0, dtype=D):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(S, n, n, generator=g, dtype=dtype) / (2 * n ** 0.5),
            torch.randn(S, n, generator=g, dtype=dtype))


def test_auto_picks_cuda_kernels_for_supported_cuda_tensors(fake_gpu):
    W, b = _system()
    assert api.choose_backend("auto", W, b, None) == "cuda"
    s, it, res = api.fixed_point(W, b, alpha=(0.3, 0.5), beta=0.9, gamma=0.2, clamp=(-1.0, 1.0), tol=1e-7,
                                 max_iter=321)
    assert [c[0] for c in fake_gpu] == ["forward"]
    kw = fake_gpu[0][1]
    assert kw["clamp"] == (-1.0, 1.0) and kw["tol"] == 1e-7 and kw["max_iter"] == 321 and kw["noise_std"] == 0.0
    torch.testing.assert_close(kw["a0"], torch.full((3,), 0.3, dtype=D))
    torch.testing.assert_close(kw["a1"], torch.full((3,), 0.5, dtype=D))
    torch.testing.assert_close(kw["gamma"], torch.full((3,), 0.2, dtype=D))
    # same answer as the torch loop
    s_t, it_t, _ = api.fixed_point(W, b, alpha=(0.3, 0.5), beta=0.9, gamma=0.2, clamp=(-1.0, 1.0), tol=1e-7,
                                   max_iter=321, backend="torch")
    torch.testing.assert_close(s, s_t, rtol=0, atol=1e-12)
    assert it.dtype == torch.int64 and torch.equal(it, it_t)


def test_cuda_path_backward_iterates_on_the_kernel(fake_gpu):
    W, b = _system()
    grads = []
    for method in ("auto", "iterate"):
        Wp, bp = W.clone().requires_grad_(), b.clone().requires_grad_()
        s, _, _ = api.fixed_point(Wp, bp, tol=1e-13, max_iter=2000, backward_tol=1e-12, backward_max_iter=2000,
                                  backward_method=method)
        grads.append(torch.autograd.grad((s ** 2).sum(), (Wp, bp)))
    kinds = [c[0] for c in fake_gpu]
    assert kinds == ["forward", "adjoint", "forward", "adjoint"]  # both iterate on the kernel first
    for a, c in zip(*grads):
        torch.testing.assert_close(a, c, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("make,why", [
    (lambda: _system(n=65), "n <= 64"),
    (lambda: tuple(t.half() for t in _system()), "float32 or float64"),
])
def test_unsupported_configuration_falls_back_once(fake_gpu, make, why):
    W, b = make()
    assert api.choose_backend("torch", W, b, None) == "torch"
    with pytest.warns(RuntimeWarning, match=why):
        assert api.choose_backend("auto", W, b, None) == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once: the second call is silent
        assert api.choose_backend("auto", W, b, None) == "torch"
    with pytest.raises(RuntimeError, match="backend='cuda' needs"):
        api.choose_backend("cuda", W, b, None)
    assert fake_gpu == []


def test_build_without_cuda_falls_back(fake_gpu, monkeypatch):
    monkeypatch.setattr(fpc, "has_cuda", lambda: False)
    W, b = _system()
    with pytest.warns(RuntimeWarning, match="no CUDA kernels"):
        assert api.choose_backend("auto", W, b, None) == "torch"


def test_cpu_tensors_never_take_the_cuda_path(monkeypatch):
    monkeypatch.setattr(fpc, "has_cuda", lambda: True)
    W, b = _system()
    assert api.choose_backend("auto", W, b, None) in ("cpp", "torch")
    with pytest.raises(RuntimeError, match="not all on a CUDA device"):
        api.choose_backend("cuda", W, b, None)


def test_equilibrium_model_uses_the_cuda_kernels(fake_gpu, monkeypatch):
    """The per-cell W goes to the shared-W kernel as (cells, n, n) with cells= (issue 23 item 2);
    the fake runs the per-system fake with W[s % cells]."""
    from quaton_fast.aoc import EquilibriumClassifier
    per_system = fpc.launch_forward

    def fake_shared(W, b, s0, a0, a1, beta, gamma, nl, clamp, noise_std, seed, tol, max_iter, cells=0, momentum=True):
        fake_gpu.append(("forward_shared", dict(W_shape=tuple(W.shape), cells=cells, momentum=momentum)))
        Ws = W.repeat(b.shape[0] // cells, 1, 1) if cells else W
        return per_system(Ws, b, s0, a0, a1, beta, gamma, nl, clamp, noise_std, seed, tol, max_iter)

    monkeypatch.setattr(fpc, "launch_forward_shared", fake_shared)
    m = EquilibriumClassifier(in_features=12, width=4, cells=2, num_classes=3).double()
    out = m(torch.rand(5, 12, dtype=D))
    assert out.shape == (5, 3)
    assert [c[0] for c in fake_gpu] == ["forward_shared", "forward"]
    assert fake_gpu[0][1] == {"W_shape": (2, 4, 4), "cells": 2, "momentum": False}
    assert fake_gpu[1][1]["max_iter"] == m.max_iter and fake_gpu[1][1]["tol"] == m.tol


def test_cuda_path_auto_backward_patches_failed_systems_directly(fake_gpu):
    """A system whose plain adjoint diverges (J = -1.5 at the fixed point) next to one where it converges:
    'auto' takes the kernel's iteration and solves only the failed system directly."""
    W = torch.tensor([[[-2.0]], [[-0.3]]], dtype=D)
    b = torch.tensor([[0.7], [0.7]], dtype=D, requires_grad=True)
    s, _, res = api.fixed_point(W, b, alpha=0.5, beta=1.0, gamma=0.6, nonlinearity="identity", tol=1e-12,
                                max_iter=5000, backward_tol=1e-13, backward_max_iter=300)
    assert (res <= 1e-12).all()
    s.sum().backward()
    torch.testing.assert_close(b.grad, torch.tensor([[1 / 2.5], [1 / 0.8]], dtype=D), rtol=1e-10, atol=0)
    assert [c[0] for c in fake_gpu] == ["forward", "adjoint"]
