"""CUDA batched fixed-point kernels (quaton_fast.aoc.fixed_point_cuda) against the NumPy reference.

float64 runs must reproduce the reference's iteration counts and states to ~1e-12 (same
arithmetic up to FMA contraction and libm ulps); float32 runs use a fixed iteration budget
(tol = 0, so early-stopping decisions cannot differ) and contractive maps, and agree to float32
round-off amplified by at most the map's contraction factor.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from quaton_fast.reference import fixed_point as ref

from qf_testing import FIXED_POINT_CASES as CASES, contractive_W, random_adjoint_case, random_fixed_point_case as random_case

fpc = pytest.importorskip("quaton_fast.aoc.fixed_point_cuda")

RTOL_FP32_FIXED_POINT = 2e-5


def _to_cuda(kw: dict, dtype: torch.dtype) -> dict:
    out = {}
    for k, v in kw.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            out[k] = torch.as_tensor(v, dtype=dtype, device="cuda")
        elif isinstance(v, tuple) and k == "alpha":
            out[k] = tuple(torch.as_tensor(x, dtype=dtype, device="cuda") if isinstance(x, np.ndarray) else x
                           for x in v)
        else:
            out[k] = v
    return out


@pytest.mark.cuda
@pytest.mark.parametrize("case", [c for c in CASES if c[1] <= 64], ids=lambda c: f"S{c[0]}-n{c[1]}-{c[3]}")
def test_forward_float64_matches_reference(case):
    S, n, shared, nl, mom, anneal, clamp, noise, tol, T = case
    rng = np.random.default_rng(S * 1000 + n)
    codes = rng.integers(0, 3, size=n).astype(np.int8) if nl == "mixed" else nl
    W, b, kw = random_case(rng, S, n, shared_W=shared, codes=codes, momentum=mom, anneal=anneal,
                           clamp=clamp, noise=noise, tol=tol, T=T)
    r = ref.fixed_point_forward(W, b, **kw)
    c = fpc.fixed_point_forward_cuda(torch.as_tensor(W, device="cuda"), torch.as_tensor(b, device="cuda"),
                                     **_to_cuda(kw, torch.float64))
    np.testing.assert_array_equal(c.iterations.cpu().numpy(), r.iterations)
    np.testing.assert_allclose(c.state.cpu().numpy(), r.state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.residual.cpu().numpy(), r.residual, rtol=1e-6, atol=1e-15)


@pytest.mark.cuda
@pytest.mark.parametrize("S,n,shared", [(1, 1, False), (1000, 16, False), (4099, 16, True), (257, 33, False),
                                        (129, 64, True), (77, 5, False)])
def test_forward_float32_fixed_budget(S, n, shared):
    rng = np.random.default_rng(S + n)
    W, b, kw = random_case(rng, S, n, shared_W=shared, codes="tanh", momentum=False, anneal=False,
                           clamp=True, noise=False, tol=0.0, T=60)
    r = ref.fixed_point_forward(W, b, **kw)
    c = fpc.fixed_point_forward_cuda(torch.as_tensor(W, dtype=torch.float32, device="cuda"),
                                     torch.as_tensor(b, dtype=torch.float32, device="cuda"),
                                     **_to_cuda(kw, torch.float32))
    assert c.state.dtype == torch.float32
    assert (c.iterations.cpu().numpy() == 60).all()
    err = np.linalg.norm(c.state.cpu().numpy() - r.state) / np.linalg.norm(r.state)
    assert err < RTOL_FP32_FIXED_POINT


@pytest.mark.cuda
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("clamp", [None, (-0.6, 0.6)])
@pytest.mark.parametrize("n", [1, 16, 37, 64])
def test_adjoint_float64_matches_reference(shared, clamp, n):
    rng = np.random.default_rng(n + 100 * shared + (7 if clamp else 0))
    S = 24
    W, b, s, g, kw = random_adjoint_case(rng, S, n, shared=shared, clamp=clamp)
    r = ref.fixed_point_adjoint(W, b, s, g, tol=1e-12, max_iter=2000, **kw)
    cu = lambda x: torch.as_tensor(x, dtype=torch.float64, device="cuda")  # noqa: E731
    c = fpc.fixed_point_adjoint_cuda(cu(W), cu(b), cu(s), cu(g), tol=1e-12, max_iter=2000,
                                     **_to_cuda(kw, torch.float64))
    np.testing.assert_array_equal(c.iterations.cpu().numpy(), r.iterations)
    for name in ("grad_b", "grad_W", "grad_beta", "grad_alpha"):
        a, e = getattr(c, name).cpu().numpy(), getattr(r, name)
        assert np.shape(a) == np.shape(e), name
        scale = max(np.abs(e).max(), 1.0)
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-11 * scale, err_msg=name)


@pytest.mark.cuda
def test_noise_is_reproducible_and_seeded():
    rng = np.random.default_rng(3)
    W = torch.as_tensor(rng.normal(size=(16, 16)) * 0.05, device="cuda")
    b = torch.as_tensor(rng.normal(size=(8, 16)), device="cuda")
    kw = dict(noise_std=0.1, tol=0.0, max_iter=20)
    a = fpc.fixed_point_forward_cuda(W, b, seed=1, **kw).state
    assert torch.equal(a, fpc.fixed_point_forward_cuda(W, b, seed=1, **kw).state)
    assert (a - fpc.fixed_point_forward_cuda(W, b, seed=2, **kw).state).abs().min() > 0
    r = ref.fixed_point_forward(W.cpu().numpy(), b.cpu().numpy(), seed=1, **kw).state
    np.testing.assert_allclose(a.cpu().numpy(), r, rtol=0, atol=1e-12)


@pytest.mark.cuda
@pytest.mark.parametrize("shared", [True, False])
def test_autograd_backend_cuda_matches_cpu(shared):
    """fixed_point(..., backend='cuda') on the GPU == the C++/CPU path: states and implicit gradients."""
    from quaton_fast.functional.fixed_point import fixed_point
    rng = np.random.default_rng(7 + shared)
    S, n = 33, 16
    W0 = contractive_W(rng, () if shared else (S,), n, 0.4)
    b0 = rng.normal(size=(S, n))
    outs = []
    for dev, backend in (("cpu", "cpp"), ("cuda", "cuda")):
        W = torch.tensor(W0, device=dev, requires_grad=True)
        b = torch.tensor(b0, device=dev, requires_grad=True)
        beta = torch.tensor(0.9, dtype=torch.float64, device=dev, requires_grad=True)
        s, it, _ = fixed_point(W, b, alpha=0.5, beta=beta, clamp=(-1.0, 1.0), tol=1e-12, max_iter=500,
                               backward_tol=1e-12, backward_max_iter=500, backend=backend)
        (s ** 2).sum().backward()
        outs.append([x.detach().cpu().numpy() for x in (s, W.grad, b.grad, beta.grad)] + [it.cpu().numpy()])
    for a, e in zip(outs[1], outs[0]):
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-11)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_convergence_is_judged_at_the_returned_state(dtype):
    """bug01 (divergence) and bug02 (momentum) on the GPU: converged <=> residual at the state <= tol."""
    cu = lambda x: torch.as_tensor(np.asarray(x), dtype=dtype, device="cuda")  # noqa: E731
    r = fpc.fixed_point_forward_cuda(cu(np.eye(4)), cu(np.ones(4)), alpha=0.5, beta=10.0, nonlinearity="identity",
                                     tol=1e-3, max_iter=1000, systems=1)
    assert not bool(r.converged[0]) and torch.isinf(r.residual[0])
    for Wv in np.linspace(-1.45, 0.45, 20):
        for g in (0.3, 0.9):
            c = fpc.fixed_point_forward_cuda(cu([[Wv]]), cu([1.0]), alpha=0.5, beta=1.0, gamma=g,
                                             nonlinearity="identity", tol=1e-3, max_iter=1000, systems=1)
            rr = ref.fixed_point_forward(np.array([[Wv]]), np.array([1.0]), alpha=0.5, beta=1.0, gamma=g,
                                         nonlinearity="identity", tol=1e-3, max_iter=1000, systems=1)
            if dtype == torch.float64:
                assert int(c.iterations[0]) == int(rr.iterations[0])
            if bool(c.converged[0]):
                x = float(c.state[0, 0])
                assert abs(x - 1.0 / (1 - (0.5 + Wv))) <= 1e-3 / (1 - (0.5 + Wv)) * abs(0.5 * x + Wv * x + 1) * 1.01


@pytest.mark.cuda
def test_auto_backend_uses_the_cuda_kernels(monkeypatch):
    from quaton_fast.functional import _fixed_point_cuda as kern
    from quaton_fast.functional.fixed_point import fixed_point
    calls = []
    real = kern.launch_forward
    monkeypatch.setattr(kern, "launch_forward", lambda *a: calls.append(1) or real(*a))
    W = torch.randn(8, 16, 16, device="cuda", dtype=torch.float64) * 0.05
    b = torch.randn(8, 16, device="cuda", dtype=torch.float64)
    s, it, res = fixed_point(W, b, tol=1e-10, max_iter=500)
    assert calls == [1] and (res <= 1e-10).all()
    s_t, it_t, _ = fixed_point(W, b, tol=1e-10, max_iter=500, backend="torch")
    torch.testing.assert_close(s, s_t, rtol=0, atol=1e-12)
    assert torch.equal(it, it_t)


@pytest.mark.cuda
def test_cuda_backward_auto_solves_and_iterate_refuses_when_divergent():
    from quaton_fast.functional.fixed_point import fixed_point
    W = torch.tensor([[-2.0]], dtype=torch.float64, device="cuda")
    for method, ok in (("auto", True), ("iterate", False)):
        b = torch.tensor([[0.7]], dtype=torch.float64, device="cuda", requires_grad=True)
        s, _, _ = fixed_point(W, b, alpha=0.5, beta=1.0, gamma=0.6, nonlinearity="identity", tol=1e-12,
                              max_iter=5000, backward_method=method)
        if ok:
            s.sum().backward()
            assert abs(float(b.grad) - 0.4) < 1e-10
        else:
            with pytest.raises(FloatingPointError):
                s.sum().backward()
