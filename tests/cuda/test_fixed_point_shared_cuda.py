"""The shared-W CUDA kernels (cuda/fixed_point_shared.cuh) on a GPU: against the NumPy reference
(float64: iterations exact, states to 1e-12), against the per-system kernel with W repeated (the
same bits: same f, same product sums, same per-element helpers), and the gradients of the
'cuda-shared' path against the reference's implicit adjoint. Skipped without a GPU (the same
checks run on the CPU emulator: tests/kernels/test_fixed_point_shared_emulated.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from qf_testing import contractive_W
from quaton_fast.reference import fixed_point as ref

fpc = pytest.importorskip("quaton_fast.functional._fixed_point_cuda")
api = pytest.importorskip("quaton_fast.functional.fixed_point")


def _inputs(S, n, cells, dtype, seed=0):
    rng = np.random.default_rng(seed)
    W = contractive_W(rng, (cells,) if cells else (), n, 0.45)
    b = rng.normal(size=(S, n)) * 0.5
    beta = rng.uniform(0.5, 1.0, S)
    t = lambda x: torch.as_tensor(x, dtype=dtype, device="cuda")  # noqa: E731
    return W, b, beta, t


@pytest.mark.cuda
@pytest.mark.parametrize("S,n,cells", [(37, 1, 0), (1000, 16, 0), (999, 17, 3), (130, 64, 0), (64, 64, 4)])
def test_shared_forward_float64_matches_reference(S, n, cells):
    W, b, beta, t = _inputs(S, n, cells, torch.float64)
    Wp = np.broadcast_to(W, (S, n, n)) if cells == 0 else W[np.arange(S) % cells]
    r = ref.fixed_point_forward(Wp, b, alpha=0.5, beta=beta, clamp=(-1.0, 1.0), tol=1e-9, max_iter=200)
    ones = torch.ones(S, dtype=torch.float64, device="cuda")
    s, it, res = fpc.launch_forward_shared(t(W), t(b), None, 0.5 * ones, 0.5 * ones, t(beta), 0 * ones, "tanh",
                                           (-1.0, 1.0), 0.0, 0, 1e-9, 200, cells, False)
    np.testing.assert_array_equal(it.cpu().numpy(), r.iterations)
    np.testing.assert_allclose(s.cpu().numpy(), r.state, rtol=0, atol=1e-12)


@pytest.mark.cuda
@pytest.mark.parametrize("n", [3, 16, 33, 64])
def test_shared_equals_per_system_kernel_float32(n):
    S = 777
    W, b, beta, t = _inputs(S, n, 0, torch.float32, seed=n)
    ones = torch.ones(S, dtype=torch.float32, device="cuda")
    args = (t(b), None, 0.4 * ones, 0.4 * ones, t(beta), 0.1 * ones, "tanh", (-1.0, 1.0), 0.02, 7, 0.0, 60)
    shared = fpc.launch_forward_shared(t(W), *args, 0, True)
    per = fpc.launch_forward(t(W).expand(S, n, n).contiguous(), *args)
    assert torch.equal(shared[0], per[0]) and torch.equal(shared[1], per[1])


@pytest.mark.cuda
@pytest.mark.parametrize("cells", [0, 4])
def test_shared_path_gradients_match_reference(cells):
    S, n = 256, 16
    W, b, beta, t = _inputs(S, n, cells, torch.float64, seed=3)
    Wt, bt = t(W).requires_grad_(), t(b).requires_grad_()
    extra = {"cells": cells} if cells else {}
    assert api.explain_backend("auto", Wt, bt, None, cells or None)[0] == "cuda-shared"
    s, it, res = api.fixed_point(Wt, bt, alpha=0.5, beta=0.9, clamp=(-1.0, 1.0), tol=1e-12, max_iter=500,
                                 backward_tol=1e-12, **extra)
    g = torch.linspace(-1, 1, S * n, dtype=torch.float64, device="cuda").reshape(S, n)
    (s * g).sum().backward()
    Wp = np.broadcast_to(W, (S, n, n)) if cells == 0 else W[np.arange(S) % cells]
    r = ref.fixed_point_adjoint(Wp, b, s.detach().cpu().numpy(), g.cpu().numpy(), alpha=0.5, beta=0.9,
                                nonlinearity="tanh", clamp=(-1.0, 1.0), tol=1e-12, max_iter=500)
    gW = r.grad_W.sum(0) if cells == 0 else np.stack([r.grad_W[c::cells].sum(0) for c in range(cells)])
    np.testing.assert_allclose(Wt.grad.cpu().numpy(), gW, rtol=0, atol=1e-10 * np.abs(gW).max())
    np.testing.assert_allclose(bt.grad.cpu().numpy(), r.grad_b, rtol=0, atol=1e-10 * np.abs(r.grad_b).max())
