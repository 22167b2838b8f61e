"""Implicit gradients are valid or refused (case bug03 and its kind).

A momentum forward converges at maps whose Jacobian has spectral radius > 1, where the plain adjoint
iteration v <- J^T v + g diverges. The default adjoint solver (backward_method='auto': the
iteration, then a direct float64 LU solve of (I - J^T) v = g for the systems it did not solve) gives
the implicit gradient there; it is checked
against central finite differences of the forward (float64) and against the analytic 1-D value.
The plain iteration must refuse (FloatingPointError), never return a silently wrong gradient.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from quaton_fast import _backend
from quaton_fast.functional.fixed_point import fixed_point
from quaton_fast.reference import fixed_point as ref

D = torch.float64
BACKENDS = ["torch"] + (["cpp"] if _backend.native() is not None else [])
FWD = dict(alpha=0.5, beta=1.0, gamma=0.6, tol=1e-13, max_iter=20000)


def _expansive_system(nl: str, seed: int = 0, S: int = 2, n: int = 5):
    """W with the eigenvalues of 0.5 I + W in [-1.5, -1.2]: plain iteration diverges, momentum 0.6 converges."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=D))
    W = Q @ torch.diag(torch.linspace(-1.5, -1.2, n, dtype=D) - 0.5) @ Q.T
    if nl == "tanh":
        W = W + 0.05 * torch.randn(n, n, generator=g, dtype=D)
    b = 0.3 * torch.randn(S, n, generator=g, dtype=D)
    return W, b


def _spectral_radius_at(W, s, nl):
    fp = 1 - torch.tanh(s) ** 2 if nl == "tanh" else torch.ones_like(s)
    return max(float(torch.linalg.eigvals(0.5 * torch.eye(W.shape[0], dtype=D) + W * fp[i]).abs().max())
               for i in range(s.shape[0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bug03_analytic_1d(backend):
    """s = 0.5 s - 2 s + b with momentum 0.6: ds*/db = 1/(1 - (-1.5)) = 0.4 exactly."""
    W = torch.tensor([[-2.0]], dtype=D)
    b = torch.tensor([[0.7]], dtype=D, requires_grad=True)
    s, it, res = fixed_point(W, b, alpha=0.5, beta=1.0, gamma=0.6, nonlinearity="identity", tol=1e-12,
                             max_iter=5000, backend=backend)
    assert float(res) <= 1e-12
    s.sum().backward()
    assert abs(float(b.grad) - 0.4) < 1e-10


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nl", ["identity", "tanh"])
def test_direct_adjoint_matches_finite_differences_where_iteration_diverges(backend, nl):
    W, b = _expansive_system(nl)
    s, _, res = fixed_point(W, b, nonlinearity=nl, backend=backend, **FWD)
    assert (res <= 1e-13).all()
    assert _spectral_radius_at(W, s, nl) > 1.05, "the plain adjoint iteration must diverge in this case"
    Wp, bp = W.clone().requires_grad_(), b.clone().requires_grad_()
    beta = torch.tensor(1.0, dtype=D, requires_grad=True)
    alpha = torch.tensor(0.5, dtype=D, requires_grad=True)
    kw = {k: v for k, v in FWD.items() if k not in ("alpha", "beta")}
    w = torch.linspace(-1, 1, s.numel(), dtype=D).reshape(s.shape)

    def loss(W, b, alpha, beta):
        return (w * fixed_point(W, b, alpha=alpha, beta=beta, nonlinearity=nl, backend=backend, **kw)[0]).sum()

    grads = torch.autograd.grad(loss(Wp, bp, alpha, beta), (Wp, bp, alpha, beta))
    eps = 1e-6
    for k, (x, gx) in enumerate(zip((W, b, alpha.detach(), beta.detach()), grads)):
        flat = x.reshape(-1)
        for j in range(min(flat.numel(), 6)):
            args_p = [W, b, alpha.detach(), beta.detach()]
            args_m = list(args_p)
            xp, xm = flat.clone(), flat.clone()
            xp[j] += eps
            xm[j] -= eps
            args_p[k], args_m[k] = xp.reshape(x.shape), xm.reshape(x.shape)
            with torch.no_grad():
                fd = (loss(*args_p) - loss(*args_m)) / (2 * eps)
            assert abs(float(gx.reshape(-1)[j]) - float(fd)) <= 1e-6 * max(1.0, abs(float(fd))), (k, j)


@pytest.mark.parametrize("backend", BACKENDS)
def test_plain_iteration_refuses_instead_of_returning_garbage(backend):
    W, b = _expansive_system("identity")
    b.requires_grad_()
    s, _, res = fixed_point(W, b, nonlinearity="identity", backend=backend, backward_method="iterate",
                            backward_max_iter=500, **FWD)
    assert (res <= 1e-13).all()
    with pytest.raises(FloatingPointError, match="adjoint.*did not converge.*backward_method='direct'"):
        s.sum().backward()


@pytest.mark.parametrize("backend", BACKENDS)
def test_iteration_and_direct_agree_where_both_converge(backend):
    g = torch.Generator().manual_seed(4)
    W = torch.randn(3, 6, 6, generator=g, dtype=D) * 0.1
    b = torch.randn(3, 6, generator=g, dtype=D)
    out = []
    for method in ("iterate", "direct"):
        Wp, bp = W.clone().requires_grad_(), b.clone().requires_grad_()
        s, _, _ = fixed_point(Wp, bp, clamp=(-0.8, 0.8), tol=1e-13, max_iter=1000, backward_tol=1e-13,
                              backward_max_iter=2000, backward_method=method, backend=backend)
        out.append(torch.autograd.grad((s ** 2).sum(), (Wp, bp)))
    for a, c in zip(*out):
        torch.testing.assert_close(a, c, rtol=1e-9, atol=1e-11)


def test_nonconverged_forward_warns_in_backward():
    W, b = _expansive_system("identity")
    b.requires_grad_()
    s, _, res = fixed_point(W, b, nonlinearity="identity", alpha=0.5, beta=1.0, gamma=0.0, tol=1e-8,
                            max_iter=20)
    assert not (res <= 1e-8).all()
    with pytest.warns(RuntimeWarning, match="not a fixed point"):
        s.sum().backward()


def test_numpy_and_cpp_adjoint_report_validity():
    """The NumPy/C++ adjoints say whether their gradients are valid; 'direct' solves the divergent case."""
    W, b = _expansive_system("identity", S=1)
    Wn, bn = W.numpy(), b.numpy()
    r = ref.fixed_point_forward(Wn, bn, alpha=0.5, beta=1.0, gamma=0.6, nonlinearity="identity", tol=1e-13,
                                max_iter=20000)
    assert r.converged.all()
    g = np.ones_like(r.state)
    analytic = np.linalg.solve(np.eye(5) - (0.5 * np.eye(5) + Wn).T, g[0])  # (I - J^T)^-1 g
    impls = [("reference", ref.fixed_point_adjoint)]
    if _backend.native() is not None:
        from quaton_fast.aoc import fixed_point_adjoint as cpp_adjoint
        impls.append(("aoc", cpp_adjoint))
    for name, adj in impls:
        it = adj(Wn, bn, r.state, g, alpha=0.5, beta=1.0, nonlinearity="identity", tol=1e-12, max_iter=300,
                 method="iterate")
        assert not it.converged.any(), name
        d = adj(Wn, bn, r.state, g, alpha=0.5, beta=1.0, nonlinearity="identity", tol=1e-12, method="direct")
        assert d.converged.all(), name
        np.testing.assert_allclose(d.grad_b[0], analytic, rtol=1e-10, err_msg=name)
    if _backend.native() is not None:
        auto = cpp_adjoint(Wn, bn, r.state, g, alpha=0.5, beta=1.0, nonlinearity="identity", tol=1e-12,
                           max_iter=300)
        assert auto.converged.all()  # 'auto': the failed iteration is replaced by the direct solve
        np.testing.assert_allclose(auto.grad_b[0], analytic, rtol=1e-10)
