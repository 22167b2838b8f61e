"""Torch fixed point of the AOC digital twin with implicit differentiation (SPEC B1/B2).

Step ``t``: ``y = alpha*s_t + beta*W f(s_t) + b + gamma*(s_t - s_{t-1})``, ``s_{t+1} = clamp(y)``;
system ``i`` stops when ``||s_{t+1}-s_t|| <= tol*max(||s_{t+1}||, 1e-30)`` or ``t+1 == max_iter``
(same semantics as :mod:`quaton_fast.reference.fixed_point`).

Backward (implicit function theorem at the converged ``s*``): ``J = D(alpha I + beta W diag f'(s*))``,
adjoint ``v = J^T v + g`` solved by iteration, ``u = D v``; ``grad_b = u``,
``grad_W = beta u f(s*)^T`` (summed over systems for a shared W), ``grad_beta = u^T W f(s*)``,
``grad_alpha = u^T s*``.  Only the converged state is saved, not the trajectory.

Backends (``backend=``): ``'auto'`` (default) runs forward and adjoint on the multi-threaded C++
kernels for CPU float32/float64 tensors when the extension is built (float32 is computed in float64
and rounded back once, see :mod:`._fixed_point_cpu`), else the torch loop below (other devices, or
no extension); ``'cpp'`` requires the kernels; ``'torch'`` forces the torch loop; ``'cuda'`` runs
the one-launch CUDA kernels (:mod:`._fixed_point_cuda`) on CUDA tensors with n <= 64: opt-in until
they have been verified on a GPU, after which ``'auto'`` will pick them for CUDA tensors.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from . import _fixed_point_cpu as _cpu
from . import _fixed_point_cuda as _cuda

__all__ = ["FixedPointFunction", "fixed_point", "fixed_point_unrolled"]

_TINY = 1e-30
_CODES = {"tanh": 0, "sign": 1, "identity": 2, "linear": 2, "id": 2}
_BACKENDS = ("auto", "cpp", "torch", "cuda")


def _f(s: torch.Tensor, nl: str) -> torch.Tensor:
    if nl == "tanh":
        return torch.tanh(s)
    if nl == "sign":
        return torch.where(s >= 0, torch.ones_like(s), -torch.ones_like(s))
    return s


def _fprime(s: torch.Tensor, nl: str) -> torch.Tensor:
    if nl == "tanh":
        return 1 - torch.tanh(s) ** 2
    if nl == "sign":
        return torch.zeros_like(s)
    return torch.ones_like(s)


def _nl_name(nonlinearity: str) -> str:
    if not isinstance(nonlinearity, str) or nonlinearity not in _CODES:
        raise ValueError(f"fixed_point(): argument 'nonlinearity' must be 'tanh', 'sign' or "
                         f"'identity', got {nonlinearity!r}")
    return {0: "tanh", 1: "sign", 2: "identity"}[_CODES[nonlinearity]]


def _matvec(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """W (S,n,n) or (n,n); x (S,n) -> (S,n)."""
    if W.dim() == 2:
        return x @ W.T
    return torch.bmm(W, x.unsqueeze(-1)).squeeze(-1)


def _matvec_T(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if W.dim() == 2:
        return x @ W
    return torch.bmm(W.transpose(1, 2), x.unsqueeze(-1)).squeeze(-1)


def _col(x, S: int, like: torch.Tensor) -> torch.Tensor:
    """scalar / (S,) -> (S,1) tensor."""
    t = torch.as_tensor(x, dtype=like.dtype, device=like.device)
    return t.reshape(-1, 1).expand(S, 1) if t.numel() == 1 else t.reshape(S, 1)


def _forward_impl(W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0):
    """Batched torch iteration (dispatch point for the C++/CUDA kernels).

    Returns ``(state (S,n), iterations int64 (S,), residual (S,))``.
    """
    S, n = b.shape
    a = _col(alpha, S, b)
    be = _col(beta, S, b)
    g = _col(gamma, S, b)
    s = torch.zeros_like(b) if s0 is None else s0.clone()
    prev = s.clone()
    active = torch.ones(S, dtype=torch.bool, device=b.device)
    iters = torch.zeros(S, dtype=torch.int64, device=b.device)
    resid = torch.zeros(S, dtype=b.dtype, device=b.device)
    for t in range(max_iter):
        y = a * s + be * _matvec(W, _f(s, nl)) + b + g * (s - prev)
        if clamp is not None:
            y = y.clamp(clamp[0], clamp[1])
        r = (y - s).norm(dim=1) / y.norm(dim=1).clamp_min(_TINY)
        m = active.unsqueeze(1)
        prev = torch.where(m, s, prev)
        s = torch.where(m, y, s)
        iters = torch.where(active, iters + 1, iters)
        resid = torch.where(active, r, resid)
        done = (r <= tol) if tol > 0 else torch.zeros_like(active)
        active = active & ~done
        if not bool(active.any()):
            break
    return s, iters, resid


def _use_cuda(backend: str, W, b, s0) -> bool:
    if backend != "cuda":
        return False
    if not _cuda.cuda_usable(W, b, s0):
        raise RuntimeError("fixed_point(): backend='cuda' needs a CUDA build of quaton_fast, a GPU and CUDA "
                           f"float32/float64 tensors with n <= 64, got device {b.device}, dtype {b.dtype}, "
                           f"n = {b.shape[1]}")
    return True


def _use_cpp(backend: str, W, b, s0) -> bool:
    if backend in ("torch", "cuda"):
        return False
    ok = _cpu.native_cpu_usable(W, b, s0)
    if backend == "cpp" and not ok:
        raise RuntimeError("fixed_point(): backend='cpp' needs the compiled extension quaton_fast._C and "
                           f"CPU float32/float64 tensors with n <= 256, got device {b.device}, dtype "
                           f"{b.dtype}, n = {b.shape[1]}")
    return ok


class FixedPointFunction(torch.autograd.Function):
    """apply(W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0, btol, bmax, backend)."""

    @staticmethod
    def forward(ctx, W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0, btol, bmax, backend="auto"):
        cpp = _use_cpp(backend, W, b, s0)
        cuda = _use_cuda(backend, W, b, s0)
        with torch.no_grad():
            if cuda:
                s, it, res = _cuda.forward_cuda(W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0)
                s_lin = s
            elif cpp:
                s_lin, it, res = _cpu.forward_cpu(W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0)
                s, res = s_lin.to(b.dtype), res.to(b.dtype)
            else:
                s, it, res = _forward_impl(W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0)
                s_lin = s
        a_t = alpha if isinstance(alpha, torch.Tensor) else torch.as_tensor(alpha, dtype=b.dtype)
        be_t = beta if isinstance(beta, torch.Tensor) else torch.as_tensor(beta, dtype=b.dtype)
        ctx.save_for_backward(W, b, s_lin, a_t, be_t)
        ctx.nl, ctx.clamp, ctx.btol, ctx.bmax, ctx.cpp, ctx.cuda = nl, clamp, btol, bmax, cpp, cuda
        ctx.mark_non_differentiable(it, res)
        return s, it, res

    @staticmethod
    def backward(ctx, g, _gi, _gr):
        W, b, s, alpha, beta = ctx.saved_tensors
        need = ctx.needs_input_grad
        if g is None or not any(need[:4]):
            return (None,) * 13
        if ctx.cpp:
            return _backward_cpp(ctx, W, b, s, alpha, beta, g) + (None,) * 9
        if ctx.cuda:
            gW, gb, gbe, ga = _cuda.adjoint_cuda(W, b, s, g, alpha, beta, ctx.nl, ctx.clamp, ctx.btol, ctx.bmax)
            return (gW.to(W.dtype) if need[0] else None, gb if need[1] else None,
                    _reduce_like(ga, alpha) if need[2] else None,
                    _reduce_like(gbe, beta) if need[3] else None) + (None,) * 9
        S, n = s.shape
        a = _col(alpha, S, s)
        be = _col(beta, S, s)
        fs = _f(s, ctx.nl)
        fp = _fprime(s, ctx.nl)
        if ctx.clamp is not None:
            y = a * s + be * _matvec(W, fs) + b
            D = ((y > ctx.clamp[0]) & (y < ctx.clamp[1])).to(s.dtype)
        else:
            D = torch.ones_like(s)
        with torch.no_grad():
            v = g.clone()
            for _ in range(ctx.bmax):  # v <- J^T v + g,  J^T v = (a I + be diag(f') W^T) D v
                Dv = D * v
                vn = a * Dv + be * fp * _matvec_T(W, Dv) + g
                r = (vn - v).norm() / vn.norm().clamp_min(_TINY)
                v = vn
                if r <= ctx.btol:
                    break
            u = D * v
        gW = gb = ga = gbe = None
        if need[0]:
            outer = be.unsqueeze(-1) * u.unsqueeze(-1) * fs.unsqueeze(1)  # (S,n,n)
            gW = outer.sum(0) if W.dim() == 2 else outer
        if need[1]:
            gb = u
        if need[2]:
            ga = (u * s).sum(1)
            ga = ga.sum().reshape(alpha.shape) if alpha.numel() == 1 else ga.reshape(alpha.shape)
        if need[3]:
            gbe = (u * _matvec(W, fs)).sum(1)
            gbe = gbe.sum().reshape(beta.shape) if beta.numel() == 1 else gbe.reshape(beta.shape)
        return gW, gb, ga, gbe, None, None, None, None, None, None, None, None, None


def _reduce_like(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-system gradient (S,) -> the shape and dtype of ``like`` (scalar: summed)."""
    out = grad.sum().reshape(like.shape) if like.numel() == 1 else grad.reshape(like.shape)
    return out.to(like.dtype)


def _backward_cpp(ctx, W, b, s_lin, alpha, beta, g):
    """Implicit backward on the C++ adjoint kernel; returns (grad_W, grad_b, grad_alpha, grad_beta)."""
    need = ctx.needs_input_grad
    gW, gb, gbe, ga = _cpu.adjoint_cpu(W, b, s_lin, g, alpha, beta, ctx.nl, ctx.clamp, ctx.btol, ctx.bmax)
    return (gW.to(W.dtype) if need[0] else None, gb.to(b.dtype) if need[1] else None,
            _reduce_like(ga, alpha) if need[2] else None, _reduce_like(gbe, beta) if need[3] else None)


def _check(W, b, clamp, tol, max_iter):
    if not isinstance(W, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError("fixed_point(): arguments 'W' and 'b' must be torch.Tensor")
    if b.dim() == 1:
        b = b.unsqueeze(0)
    if b.dim() != 2:
        raise ValueError(f"fixed_point(): argument 'b' must be of shape (S, n), got shape {tuple(b.shape)}")
    S, n = b.shape
    if W.shape not in ((n, n), (S, n, n)):
        raise ValueError(f"fixed_point(): argument 'W' must be of shape ({n}, {n}) or ({S}, {n}, {n}), "
                         f"got shape {tuple(W.shape)}")
    if clamp is not None and not (len(clamp) == 2 and clamp[0] < clamp[1]):
        raise ValueError(f"fixed_point(): argument 'clamp' must be (lo, hi) with lo < hi, got {clamp!r}")
    if int(max_iter) < 1 or tol < 0:
        raise ValueError("fixed_point(): arguments 'max_iter' must be >= 1 and 'tol' >= 0")
    return b


def fixed_point(W: torch.Tensor, b: torch.Tensor, *, alpha=0.5, beta=1.0, gamma=0.0,
                nonlinearity: str = "tanh", clamp: Optional[Tuple[float, float]] = None,
                tol: float = 1e-3, max_iter: int = 100, s0: Optional[torch.Tensor] = None,
                backward_tol: float = 1e-6, backward_max_iter: int = 500, backend: str = "auto"
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed point with implicit gradients for W, b, beta and alpha (when tensors).

    W: (S,n,n) per system or (n,n) shared; b: (S,n); alpha/beta: float or tensor scalar/(S,);
    gamma: momentum (forward only); backend: 'auto' | 'cpp' | 'torch' | 'cuda' (module docstring).
    Returns (state (S,n), iterations (S,) int64, residual (S,)).
    """
    b = _check(W, b, clamp, tol, max_iter)
    nl = _nl_name(nonlinearity)
    if backend not in _BACKENDS:
        raise ValueError(f"fixed_point(): argument 'backend' must be 'auto', 'cpp', 'torch' or 'cuda', got {backend!r}")
    return FixedPointFunction.apply(W, b, alpha, beta, gamma, nl, clamp, float(tol), int(max_iter),
                                    s0, float(backward_tol), int(backward_max_iter), backend)


def fixed_point_unrolled(W, b, *, alpha=0.5, beta=1.0, gamma=0.0, nonlinearity="tanh", clamp=None,
                         max_iter=100, s0=None) -> torch.Tensor:
    """Plain autograd through ``max_iter`` steps (no early stop); for tests."""
    b = _check(W, b, clamp, 0.0, max_iter)
    nl = _nl_name(nonlinearity)
    S = b.shape[0]
    a = alpha.reshape(-1, 1) if isinstance(alpha, torch.Tensor) else alpha
    be = beta.reshape(-1, 1) if isinstance(beta, torch.Tensor) else beta
    s = torch.zeros_like(b) if s0 is None else s0
    prev = s
    for _ in range(max_iter):
        y = a * s + be * _matvec(W, _f(s, nl)) + b + gamma * (s - prev)
        if clamp is not None:
            y = y.clamp(clamp[0], clamp[1])
        prev, s = s, y
    return s
