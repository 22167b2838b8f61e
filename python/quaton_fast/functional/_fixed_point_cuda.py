"""The CUDA kernels behind ``fixed_point(..., backend='cuda')`` (opt-in until verified on a GPU).

Thin adapters between :class:`~quaton_fast.functional.fixed_point.FixedPointFunction` and
:mod:`quaton_fast.aoc.fixed_point_cuda` (one launch for all iterations of all systems, float32 or
float64, n <= 64). Same semantics as the torch loop and the C++ kernels, except that the adjoint
stops per system (like the C++ kernel).
"""
from __future__ import annotations

from typing import Optional

import torch

from .._backend import has_cuda


def cuda_usable(W: torch.Tensor, b: torch.Tensor, s0: Optional[torch.Tensor]) -> bool:
    """True when the CUDA fixed-point kernels can run these tensors."""
    from ..aoc.fixed_point_cuda import MAX_N_CUDA
    tensors = [W, b] + ([s0] if s0 is not None else [])
    return (has_cuda() and all(t.is_cuda for t in tensors) and b.dtype in (torch.float32, torch.float64)
            and W.dtype == b.dtype and b.shape[-1] <= MAX_N_CUDA)


def _value(x):
    return x.detach() if isinstance(x, torch.Tensor) else x


def forward_cuda(W, b, alpha, beta, gamma, nl: str, clamp, tol: float, max_iter: int, s0):
    """-> (state (S, n), iterations (S,) int64, residual (S,)) on b's device."""
    from ..aoc.fixed_point_cuda import fixed_point_forward_cuda
    r = fixed_point_forward_cuda(W.detach(), b.detach(), s0=None if s0 is None else s0.detach(),
                                 alpha=_value(alpha), beta=_value(beta), gamma=_value(gamma),
                                 nonlinearity=nl, clamp=clamp, tol=tol, max_iter=max_iter)
    return r.state, r.iterations.to(torch.int64), r.residual


def adjoint_cuda(W, b, s, g, alpha, beta, nl: str, clamp, tol: float, max_iter: int):
    """-> per-system (grad_W like W, grad_b (S, n), grad_beta (S,), grad_alpha (S,))."""
    from ..aoc.fixed_point_cuda import fixed_point_adjoint_cuda
    S = s.shape[0]
    a = _value(alpha)
    a = a.reshape(-1).expand(S) if isinstance(a, torch.Tensor) and a.numel() == 1 else a
    be = _value(beta)
    be = be.reshape(-1).expand(S) if isinstance(be, torch.Tensor) and be.numel() == 1 else be
    r = fixed_point_adjoint_cuda(W.detach(), b.detach(), s, g.to(s.dtype).contiguous(), alpha=a, beta=be,
                                 nonlinearity=nl, clamp=clamp, tol=tol, max_iter=max_iter)
    return r.grad_W, r.u, r.grad_beta, r.grad_alpha
