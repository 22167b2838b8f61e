"""AOC digital-twin fixed point on the GPU: one CUDA launch runs every iteration of every system.

Same semantics as the NumPy reference :mod:`quaton_fast.reference.fixed_point` and the C++ CPU
kernel :mod:`quaton_fast.aoc.fixed_point` (stopping rule, annealed alpha, momentum, clamp,
counter-based noise, per-system iteration counts and residuals). Inputs are torch CUDA tensors or
CuPy arrays (anything with ``__cuda_array_interface__``), float32 or float64 (one dtype for all),
n <= 64 variables per system; outputs are torch tensors on the same device. The kernel launches on
torch's current stream.

Status: compiled in every CUDA build; checked against the reference by ``tests/cuda/`` on a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np
import torch

from .._backend import require_native
from ..reference.fixed_point import nonlinearity_codes

__all__ = ["fixed_point_forward_cuda", "fixed_point_adjoint_cuda", "CudaFixedPointResult",
           "CudaFixedPointAdjoint", "MAX_N_CUDA"]

MAX_N_CUDA = 64
_DTYPES = {torch.float32: 0, torch.float64: 1}


@dataclass
class CudaFixedPointResult:
    state: torch.Tensor       # (S, n)
    iterations: torch.Tensor  # (S,) int32
    residual: torch.Tensor    # (S,)


@dataclass
class CudaFixedPointAdjoint:
    u: torch.Tensor           # (S, n) D v: dL/db per system
    W_f: torch.Tensor         # (S, n) W f(s*)
    grad_b: torch.Tensor      # (S, n) or (n,) when b was shared
    grad_W: torch.Tensor      # (S, n, n) or (n, n) when W was shared
    grad_beta: torch.Tensor   # (S,) or () when beta was a scalar
    grad_alpha: torch.Tensor  # (S,) or () when alpha was a scalar
    iterations: torch.Tensor  # (S,) int32
    residual: torch.Tensor    # (S,)


def _fail(func: str, arg: str, expected: str, got: Any, exc: type = ValueError):
    raise exc(f"{func}(): argument '{arg}' must be {expected}, got {got}")


def _as_cuda_tensor(func: str, arg: str, x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x
    elif hasattr(x, "__cuda_array_interface__"):
        t = torch.as_tensor(x, device="cuda")
    else:
        _fail(func, arg, "a torch CUDA tensor or a CuPy array", type(x).__name__, TypeError)
    if t.device.type != "cuda":
        _fail(func, arg, "on a CUDA device", f"a tensor on {t.device}")
    if t.dtype not in _DTYPES:
        _fail(func, arg, "float32 or float64", t.dtype, TypeError)
    if not bool(torch.isfinite(t).all()):
        _fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
    return t.contiguous()


def _per_system(func: str, arg: str, value: Any, S: int, like: torch.Tensor) -> Tuple[torch.Tensor, bool]:
    """scalar | (S,) -> ((S,) tensor on like's device and dtype, was_scalar)."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.numel() == 1:
        return t.reshape(1).expand(S).contiguous(), True
    if t.shape != (S,):
        _fail(func, arg, f"a scalar or of shape ({S},)", f"shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        _fail(func, arg, "finite", "non-finite values")
    return t.contiguous(), False


def _system_inputs(func: str, W: Any, b: Any, systems: Optional[int]):
    W = _as_cuda_tensor(func, "W", W)
    b = _as_cuda_tensor(func, "b", b)
    if W.dtype != b.dtype:
        _fail(func, "b", f"of W's dtype {W.dtype}", b.dtype, TypeError)
    if W.dim() not in (2, 3) or W.shape[-1] != W.shape[-2]:
        _fail(func, "W", "of shape (n, n) or (S, n, n)", f"shape {tuple(W.shape)}")
    n = W.shape[-1]
    if not 1 <= n <= MAX_N_CUDA:
        _fail(func, "W", f"of size n in 1..{MAX_N_CUDA} on CUDA", f"n = {n}")
    if b.dim() not in (1, 2) or b.shape[-1] != n:
        _fail(func, "b", f"of shape ({n},) or (S, {n})", f"shape {tuple(b.shape)}")
    sizes = {s for s in ((W.shape[0] if W.dim() == 3 else None), (b.shape[0] if b.dim() == 2 else None),
                         systems) if s is not None}
    if len(sizes) != 1:
        _fail(func, "W/b/systems", "consistent about the number of systems S", f"sizes {sorted(sizes)}"
              if sizes else "no batched input and no 'systems'")
    S = sizes.pop()
    return W, b, n, int(S)


def fixed_point_forward_cuda(W: Any, b: Any, *, s0: Any = None, alpha: Any = 0.5, beta: Any = 1.0,
                             gamma: Any = 0.0, nonlinearity: Any = "tanh",
                             clamp: Optional[Tuple[float, float]] = None, noise_std: float = 0.0,
                             seed: int = 0, tol: float = 1e-3, max_iter: int = 100,
                             systems: Optional[int] = None) -> CudaFixedPointResult:
    """Iterate S systems to their fixed points in one kernel launch.

    W: (S, n, n) or (n, n) shared; b: (S, n) or (n,); s0: (S, n) (default zeros);
    alpha: scalar | (S,) | tuple (alpha_start, alpha_end) annealed linearly over max_iter;
    beta, gamma: scalar | (S,); nonlinearity: 'tanh' | 'sign' | 'identity' | n names | (n,) codes;
    clamp: (lo, hi) or None; noise_std >= 0 with the counter-based recipe of ``seed``;
    tol >= 0 (0: run max_iter steps); systems: S when every input is shared.
    """
    func = "fixed_point_forward_cuda"
    W, b, n, S = _system_inputs(func, W, b, systems)
    if isinstance(alpha, tuple):
        if len(alpha) != 2:
            _fail(func, "alpha", "a scalar, (S,) or a tuple (alpha_start, alpha_end)", f"a tuple of {len(alpha)}")
        a0, _ = _per_system(func, "alpha", alpha[0], S, b)
        a1, _ = _per_system(func, "alpha", alpha[1], S, b)
    else:
        a0, _ = _per_system(func, "alpha", alpha, S, b)
        a1 = a0
    be, _ = _per_system(func, "beta", beta, S, b)
    ga, _ = _per_system(func, "gamma", gamma, S, b)
    if s0 is not None:
        s0 = _as_cuda_tensor(func, "s0", s0).to(b.dtype)
        if s0.shape != (S, n):
            _fail(func, "s0", f"of shape ({S}, {n})", f"shape {tuple(s0.shape)}")
    if clamp is not None and not (len(clamp) == 2 and float(clamp[0]) < float(clamp[1])):
        _fail(func, "clamp", "(lo, hi) with lo < hi or None", repr(clamp))
    if not (np.isfinite(noise_std) and noise_std >= 0):
        _fail(func, "noise_std", "a finite number >= 0", noise_std)
    if not (np.isfinite(tol) and tol >= 0):
        _fail(func, "tol", "a finite number >= 0", tol)
    if int(max_iter) != max_iter or max_iter < 1:
        _fail(func, "max_iter", "an int >= 1", max_iter)
    if not 0 <= int(seed) < 2 ** 64:
        _fail(func, "seed", "an int in [0, 2**64)", seed)
    codes = torch.as_tensor(nonlinearity_codes(func, nonlinearity, n).astype(np.int8), device=b.device)
    state = torch.empty((S, n), dtype=b.dtype, device=b.device)
    iterations = torch.empty(S, dtype=torch.int32, device=b.device)
    residual = torch.empty(S, dtype=b.dtype, device=b.device)
    lo, hi = (float(clamp[0]), float(clamp[1])) if clamp is not None else (-1.0, 1.0)
    C = require_native(func)
    C.fixed_point_forward_cuda(
        _DTYPES[b.dtype], S, n, W.data_ptr(), W.dim() == 2, b.data_ptr(), b.dim() == 1,
        s0.data_ptr() if s0 is not None else 0, a0.data_ptr(), a1.data_ptr(), be.data_ptr(),
        ga.data_ptr(), codes.data_ptr(), clamp is not None, lo, hi, float(noise_std), int(seed),
        float(tol), int(max_iter), state.data_ptr(), iterations.data_ptr(), residual.data_ptr(),
        torch.cuda.current_stream(b.device).cuda_stream)
    return CudaFixedPointResult(state, iterations, residual)


def fixed_point_adjoint_cuda(W: Any, b: Any, state: Any, grad_state: Any, *, alpha: Any = 0.5,
                             beta: Any = 1.0, nonlinearity: Any = "tanh",
                             clamp: Optional[Tuple[float, float]] = None, tol: float = 1e-10,
                             max_iter: int = 1000) -> CudaFixedPointAdjoint:
    """Implicit backward at converged states s*: v = J^T v + g by iteration, u = D v.

    W, b, alpha (constant scalar | (S,)), beta, nonlinearity, clamp: as in the forward;
    state: (S, n) s*; grad_state: (S, n) dL/ds*. Gradients are summed over systems for shared inputs.
    """
    func = "fixed_point_adjoint_cuda"
    if isinstance(alpha, tuple):
        _fail(func, "alpha", "a constant (scalar or (S,)); the adjoint is taken at a fixed point of a "
              "constant map", "an annealing schedule tuple")
    S_state = state.shape[0] if len(getattr(state, "shape", ())) == 2 else None
    W, b, n, S = _system_inputs(func, W, b, S_state)
    st = _as_cuda_tensor(func, "state", state).to(b.dtype)
    g = _as_cuda_tensor(func, "grad_state", grad_state).to(b.dtype)
    for arg, t in (("state", st), ("grad_state", g)):
        if t.shape != (S, n):
            _fail(func, arg, f"of shape ({S}, {n})", f"shape {tuple(t.shape)}")
    a, a_scalar = _per_system(func, "alpha", alpha, S, b)
    be, be_scalar = _per_system(func, "beta", beta, S, b)
    if clamp is not None and not (len(clamp) == 2 and float(clamp[0]) < float(clamp[1])):
        _fail(func, "clamp", "(lo, hi) with lo < hi or None", repr(clamp))
    if int(max_iter) != max_iter or max_iter < 1:
        _fail(func, "max_iter", "an int >= 1", max_iter)
    codes_np = nonlinearity_codes(func, nonlinearity, n).astype(np.int8)
    codes = torch.as_tensor(codes_np, device=b.device)
    u = torch.empty((S, n), dtype=b.dtype, device=b.device)
    W_f = torch.empty_like(u)
    iterations = torch.empty(S, dtype=torch.int32, device=b.device)
    residual = torch.empty(S, dtype=b.dtype, device=b.device)
    lo, hi = (float(clamp[0]), float(clamp[1])) if clamp is not None else (-1.0, 1.0)
    C = require_native(func)
    C.fixed_point_adjoint_cuda(
        _DTYPES[b.dtype], S, n, W.data_ptr(), W.dim() == 2, b.data_ptr(), b.dim() == 1, st.data_ptr(),
        g.data_ptr(), a.data_ptr(), be.data_ptr(), codes.data_ptr(), clamp is not None, lo, hi,
        float(tol), int(max_iter), u.data_ptr(), W_f.data_ptr(), iterations.data_ptr(),
        residual.data_ptr(), torch.cuda.current_stream(b.device).cuda_stream)
    fs = torch.where(torch.as_tensor(codes_np == 0, device=b.device), torch.tanh(st),
                     torch.where(torch.as_tensor(codes_np == 1, device=b.device),
                                 torch.where(st >= 0, torch.ones_like(st), -torch.ones_like(st)), st))
    bu = be[:, None] * u
    grad_W = bu.T @ fs if W.dim() == 2 else bu[:, :, None] * fs[:, None, :]
    grad_beta = (u * W_f).sum(1)
    grad_alpha = (u * st).sum(1)
    return CudaFixedPointAdjoint(
        u=u, W_f=W_f, grad_b=u.sum(0) if b.dim() == 1 else u, grad_W=grad_W,
        grad_beta=grad_beta.sum() if be_scalar else grad_beta,
        grad_alpha=grad_alpha.sum() if a_scalar else grad_alpha,
        iterations=iterations, residual=residual)
