"""Torch implementations behind :func:`quaton_fast.functional.fixed_point.fixed_point`: the batched
forward loop (any device), the adjoint iteration and the direct adjoint solve.

Semantics (convergence AT the returned state, stop rule, annealing) as in
:mod:`quaton_fast.reference.fixed_point`; every function here takes already checked tensors.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

__all__ = ["apply_f", "derivative_f", "matvec", "matvec_T", "relative_residual", "forward_loop",
           "jacobian_parts", "adjoint_map", "adjoint_iterate", "adjoint_direct"]

TINY = 1e-30


def apply_f(s: torch.Tensor, nl: str) -> torch.Tensor:
    if nl == "tanh":
        return torch.tanh(s)
    if nl == "sign":
        return torch.where(s >= 0, torch.ones_like(s), -torch.ones_like(s))
    return s


def derivative_f(s: torch.Tensor, nl: str) -> torch.Tensor:
    if nl == "tanh":
        return 1 - torch.tanh(s) ** 2
    if nl == "sign":
        return torch.zeros_like(s)
    return torch.ones_like(s)


def matvec(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """W (S,n,n) or (n,n); x (S,n) -> W x (S,n)."""
    if W.dim() == 2:
        return x @ W.T
    return torch.bmm(W, x.unsqueeze(-1)).squeeze(-1)


def matvec_T(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """W^T x, shapes as :func:`matvec`."""
    if W.dim() == 2:
        return x @ W
    return torch.bmm(W.transpose(1, 2), x.unsqueeze(-1)).squeeze(-1)


def relative_residual(mapped: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``||mapped - x|| / max(||mapped||, 1e-30)`` per row, ``+inf`` where not finite: (S,)."""
    sc = mapped.norm(dim=1).clamp_min(TINY)
    rel = (mapped - x).norm(dim=1) / sc
    return torch.where(torch.isfinite(rel) & torch.isfinite(sc), rel, torch.full_like(rel, float("inf")))


def _clamp(y: torch.Tensor, clamp) -> torch.Tensor:
    return y if clamp is None else y.clamp(clamp[0], clamp[1])


def forward_loop(W, b, a0, a1, beta, gamma, nl: str, clamp, tol: float, max_iter: int,
                 s0: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched torch iteration. a0, a1, beta, gamma: (S, 1) in b's dtype (a1 is a0 for a constant).

    Returns ``(state (S,n), iterations int64 (S,), residual (S,))`` -- residual at the returned state.
    One host sync per step (early exit); the CUDA kernels have none.
    """
    S, n = b.shape
    T = max_iter
    s = torch.zeros_like(b) if s0 is None else s0.to(b.dtype).clone()
    prev = s.clone()
    active = torch.ones(S, dtype=torch.bool, device=b.device)
    iters = torch.zeros(S, dtype=torch.int64, device=b.device)
    resid = torch.full((S,), float("inf"), dtype=b.dtype, device=b.device)
    da = a1 - a0
    for t in range(T + 1):
        ta = min(t, T - 1)
        a_t = a0 if T == 1 else a0 + da * ta / (T - 1)
        pre = a_t * s + beta * matvec(W, apply_f(s, nl)) + b
        rel = relative_residual(_clamp(pre, clamp), s)
        iters = torch.where(active, torch.full_like(iters, t), iters)
        resid = torch.where(active, rel, resid)
        stop = ~torch.isfinite(rel) | ((rel <= tol) if tol > 0 else torch.zeros_like(active))
        active = active & ~stop
        if t == T or not bool(active.any()):
            break
        y = _clamp(pre + gamma * (s - prev), clamp)
        m = active.unsqueeze(1)
        prev = torch.where(m, s, prev)
        s = torch.where(m, y, s)
    return s, iters, resid


def jacobian_parts(W, b, s, a, beta, nl: str, clamp):
    """(f(s*), f'(s*), D, W f(s*)) at s (S,n); a, beta: (S,1). D = 1 where the clamp is inactive."""
    fs = apply_f(s, nl)
    fp = derivative_f(s, nl)
    Wf = matvec(W, fs)
    if clamp is None:
        D = torch.ones_like(s)
    else:
        y = a * s + beta * Wf + b
        D = ((y > clamp[0]) & (y < clamp[1])).to(s.dtype)
    return fs, fp, D, Wf


def adjoint_map(W, a, beta, fp, D, v, g):
    """G(v) = J^T v + g = a*(D v) + beta*f' * W^T (D v) + g, (S, n)."""
    u = D * v
    return a * u + beta * fp * matvec_T(W, u) + g


def adjoint_iterate(W, a, beta, fp, D, g, tol: float, max_iter: int):
    """Plain adjoint iteration per system with the forward's stop rule; -> (v, iterations, residual)."""
    S = g.shape[0]
    v = g.clone()
    active = torch.ones(S, dtype=torch.bool, device=g.device)
    iters = torch.zeros(S, dtype=torch.int64, device=g.device)
    resid = torch.full((S,), float("inf"), dtype=g.dtype, device=g.device)
    for t in range(max_iter + 1):
        vn = adjoint_map(W, a, beta, fp, D, v, g)
        rel = relative_residual(vn, v)
        iters = torch.where(active, torch.full_like(iters, t), iters)
        resid = torch.where(active, rel, resid)
        stop = ~torch.isfinite(rel) | ((rel <= tol) if tol > 0 else torch.zeros_like(active))
        active = active & ~stop
        if t == max_iter or not bool(active.any()):
            break
        v = torch.where(active.unsqueeze(1), vn, v)
    return v, iters, resid


def adjoint_direct(W, a, beta, fp, D, g):
    """Solve (I - J^T) v = g per system with a batched LU (torch.linalg.solve_ex), in float64.

    All inputs are converted to float64; a singular system gives NaN rows. -> (v, residual) where
    residual = ||G(v) - v|| / max(||G(v)||, 1e-30) (float64, +inf where not finite).
    """
    f64 = torch.float64
    W, a, beta, fp, D, g = (t.to(f64) for t in (W, a, beta, fp, D, g))
    S, n = g.shape
    WT = W.transpose(-1, -2).expand(S, n, n)
    eye = torch.eye(n, dtype=f64, device=g.device)
    JT = (a.unsqueeze(-1) * eye + (beta * fp).unsqueeze(-1) * WT) * D.unsqueeze(1)
    v, info = torch.linalg.solve_ex(eye - JT, g.unsqueeze(-1))
    v = v.squeeze(-1)
    v = torch.where((info != 0).unsqueeze(1), torch.full_like(v, float("nan")), v)
    return v, relative_residual(adjoint_map(W, a, beta, fp, D, v, g), v)
