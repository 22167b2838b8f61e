"""The shared-W path's dispatch and wiring, checked on the CPU (issue 23 item 2).

backend='auto' sends CUDA tensors with a shared W ((n, n), or one per cell with ``cells=``) to the
shared-W kernel and per-system W to the per-system kernel; ``explain_backend`` says which and why.
The device test, the build test and the shared kernel entries are patched: the fakes run the NumPy
reference with W repeated per system (the kernel's contract) and return what the kernels return,
so the test checks the wiring -- which W reaches the kernel, the momentum flag, the gradients'
shapes and reductions -- against the torch path. ``cells=`` on the CPU paths (W repeated, autograd
summing grad_W per cell) is checked against W repeated by hand.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from quaton_fast.functional import _fixed_point_cuda as fpc
from quaton_fast.functional import fixed_point as api
from quaton_fast.reference import fixed_point as ref

D = torch.float64


def _per_system(W: torch.Tensor, S: int, cells: int) -> np.ndarray:
    W = W.detach().numpy()
    return np.broadcast_to(W, (S, *W.shape)).copy() if cells == 0 else W[np.arange(S) % cells]


@pytest.fixture
def fake_gpu(monkeypatch):
    calls = []
    monkeypatch.setattr(fpc, "on_cuda", lambda t: True)
    monkeypatch.setattr(fpc, "has_cuda", lambda: True)
    monkeypatch.setattr(api, "_fallbacks_said", set())

    def fake_forward(W, b, s0, a0, a1, beta, gamma, nl, clamp, noise_std, seed, tol, max_iter, cells=0,
                     momentum=True):
        S = b.shape[0]
        calls.append(("forward_shared", dict(W_shape=tuple(W.shape), cells=cells, momentum=momentum)))
        a = a0.numpy() if torch.equal(a0, a1) else (a0.numpy(), a1.numpy())
        r = ref.fixed_point_forward(_per_system(W, S, cells), b.numpy(), s0=None if s0 is None else s0.numpy(),
                                    alpha=a, beta=beta.numpy(), gamma=gamma.numpy(), nonlinearity=nl, clamp=clamp,
                                    tol=tol, max_iter=max_iter)
        return (torch.from_numpy(r.state).to(b.dtype), torch.from_numpy(r.iterations),
                torch.from_numpy(r.residual).to(b.dtype))

    def fake_adjoint(W, b, s, g, alpha, beta, nl, clamp, tol, max_iter, cells=0):
        S, n = s.shape
        calls.append(("adjoint_shared", dict(W_shape=tuple(W.shape), cells=cells)))
        Wp = _per_system(W, S, cells)
        r = ref.fixed_point_adjoint(Wp, b.numpy(), s.numpy(), g.numpy(), alpha=alpha.numpy(), beta=beta.numpy(),
                                    nonlinearity=nl, clamp=clamp, tol=tol, max_iter=max_iter)
        gW = r.grad_W.sum(0) if cells == 0 else np.stack([r.grad_W[c::cells].sum(0) for c in range(cells)])
        t = torch.from_numpy
        Wf = t(np.einsum("sij,sj->si", Wp, np.tanh(s.numpy())))
        return t(r.grad_b), Wf, t(r.grad_alpha), t(r.grad_beta), t(gW), t(r.iterations), t(r.residual)

    def no_per_system(*a, **k):
        raise AssertionError("a shared W must not reach the per-system kernel")

    monkeypatch.setattr(fpc, "launch_forward_shared", fake_forward)
    monkeypatch.setattr(fpc, "launch_adjoint_shared", fake_adjoint)
    monkeypatch.setattr(fpc, "launch_forward", no_per_system)
    monkeypatch.setattr(fpc, "launch_adjoint", no_per_system)
    return calls


def _cells_system(B=4, cells=3, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(cells, n, n, generator=g, dtype=D)
    W = W / torch.linalg.matrix_norm(W, ord=2).reshape(-1, 1, 1) * 0.4
    b = torch.randn(B * cells, n, generator=g, dtype=D)
    return W, b


def test_auto_picks_the_shared_kernel_for_a_shared_W_and_says_why(fake_gpu):
    W, b = _cells_system(cells=1)
    path, why = api.explain_backend("auto", W[0], b, None)
    assert path == "cuda-shared" and "shared" in why
    assert api.explain_backend("auto", W, b, None, cells=1)[0] == "cuda-shared"
    Wsys = W.expand(b.shape[0], -1, -1).contiguous()
    path, why = api.explain_backend("auto", Wsys, b, None)
    assert path == "cuda" and "per-system" in why
    assert api.explain_backend("torch", W[0], b, None)[0] == "torch"


@pytest.mark.parametrize("cells", [0, 3])
def test_shared_path_forward_and_gradients_match_the_torch_loop(fake_gpu, cells):
    W0, b0 = _cells_system(cells=max(cells, 1))
    if cells == 0:
        W0 = W0[0]
    kw = dict(alpha=0.4, beta=torch.tensor(0.8, dtype=D), tol=1e-12, max_iter=400, clamp=(-1.0, 1.0),
              backward_tol=1e-12, backward_max_iter=400)
    extra = {"cells": cells} if cells else {}
    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    beta = kw.pop("beta").clone().requires_grad_()
    s, it, res = api.fixed_point(W, b, beta=beta, **kw, **extra)
    assert [c[0] for c in fake_gpu] == ["forward_shared"]
    assert fake_gpu[0][1] == {"W_shape": tuple(W0.shape), "cells": cells, "momentum": False}
    (s * torch.linspace(-1, 1, s.numel(), dtype=D).reshape(s.shape)).sum().backward()
    assert fake_gpu[-1][0] == "adjoint_shared"

    Wt, bt = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    beta_t = beta.detach().clone().requires_grad_()
    s_t, it_t, _ = api.fixed_point(Wt, bt, beta=beta_t, backend="torch", **kw, **extra)
    (s_t * torch.linspace(-1, 1, s_t.numel(), dtype=D).reshape(s_t.shape)).sum().backward()
    torch.testing.assert_close(s, s_t, rtol=0, atol=1e-12)
    assert torch.equal(it, it_t)
    assert W.grad.shape == W0.shape
    for got, want in ((W.grad, Wt.grad), (b.grad, bt.grad), (beta.grad, beta_t.grad)):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_momentum_flag_reaches_the_kernel(fake_gpu):
    W, b = _cells_system(cells=1)
    api.fixed_point(W[0], b, gamma=0.0, max_iter=5, tol=0.0)
    api.fixed_point(W[0], b, gamma=0.2, max_iter=5, tol=0.0)
    api.fixed_point(W[0], b, gamma=torch.zeros(b.shape[0], dtype=D), max_iter=5, tol=0.0)
    assert [c[1]["momentum"] for c in fake_gpu] == [False, True, True]  # a tensor may hold any gamma


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_cells_on_the_cpu_paths_equal_W_repeated(backend):
    if backend == "cpp" and not api._cpu.native_cpu_usable(torch.zeros(1, 1, dtype=D), torch.zeros(1, 1, dtype=D),
                                                           None):
        pytest.skip("no compiled extension")
    W0, b0 = _cells_system()
    kw = dict(alpha=0.5, beta=0.9, tol=1e-10, max_iter=300, backend=backend)
    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    s, it, _ = api.fixed_point(W, b, cells=3, **kw)
    s.pow(2).sum().backward()
    Wr = W0.clone().requires_grad_()
    br = b0.clone().requires_grad_()
    s_r, it_r, _ = api.fixed_point(Wr.repeat(4, 1, 1), br, **kw)
    s_r.pow(2).sum().backward()
    torch.testing.assert_close(s, s_r, rtol=0, atol=0)
    assert torch.equal(it, it_r)
    torch.testing.assert_close(W.grad, Wr.grad, rtol=0, atol=0)
    # and against the reference with W[s % cells]
    r = ref.fixed_point_forward(_per_system(W0, 12, 3), b0.numpy(), alpha=0.5, beta=0.9, tol=1e-10, max_iter=300)
    np.testing.assert_allclose(s.detach().numpy(), r.state, rtol=0, atol=1e-12)


def test_cells_input_errors():
    W, b = _cells_system()
    with pytest.raises(ValueError, match="cells"):
        api.fixed_point(W, b[:-1], cells=3)  # 11 systems, 3 cells
    with pytest.raises(ValueError, match="W"):
        api.fixed_point(W[:2], b, cells=3)
    with pytest.raises(ValueError, match="cells"):
        api.fixed_point(W, b, cells=0)


def test_cpu_auto_takes_the_torch_gemm_loop_for_a_large_shared_W():
    """Measured (benchmarks/bench_fixed_point_shared_cpu.py): at 1024 x 64 the torch loop's GEMM
    beats the C++ per-system kernel; at n <= 32 or small batches the C++ kernels stay."""
    if not api._cpu.native_cpu_usable(torch.zeros(1, 1, dtype=D), torch.zeros(1, 1, dtype=D), None):
        pytest.skip("no compiled extension")
    W, b = torch.zeros(64, 64), torch.zeros(1024, 64)
    path, why = api.explain_backend("auto", W, b, None)
    assert path == "torch" and "GEMM" in why
    assert api.explain_backend("auto", W.expand(1024, 64, 64), b, None)[0] == "cpp"  # per-system W
    assert api.explain_backend("auto", W[:16, :16], b[:, :16], None)[0] == "cpp"
    assert api.explain_backend("auto", W, b[:256], None)[0] == "cpp"
    assert api.explain_backend("cpp", W, b, None)[0] == "cpp"  # explicit: as asked
