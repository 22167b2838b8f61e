"""The CUDA fixed-point kernels of the AOC digital twin (kernel layer; ``quaton_fast._C`` on CUDA).

One launch runs every iteration of every system (float32 or float64, n <= 64 variables per system);
semantics as the NumPy reference :mod:`quaton_fast.reference.fixed_point` (convergence checked at
the returned state, annealed alpha, momentum, clamp, counter-based noise, per-system early exit).
Inputs are torch CUDA tensors or CuPy arrays (``__cuda_array_interface__``); outputs are torch
tensors on the same device; kernels launch on torch's current stream.

Two layers:

* :func:`fixed_point_forward_cuda` / :func:`fixed_point_adjoint_cuda`: public entry points; check
  everything a user hands in (shapes, dtypes, devices and values -- one host sync each).
* :func:`launch_forward` / :func:`launch_adjoint`: what :class:`~quaton_fast.functional.fixed_point.
  FixedPointFunction` calls on its hot path: metadata only, no host synchronisation.

Status: compiled in every CUDA build; checked against the reference by ``tests/cuda/`` on a GPU.
(Moved here from ``quaton_fast.aoc.fixed_point_cuda``, which re-exports the public names, so that
the kernel layer no longer imports from the model layer above it.)
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np
import torch

from .. import _validation as V
from .._backend import has_cuda, require_native
from ..reference.fixed_point import MAX_ITER, nonlinearity_codes

__all__ = ["on_cuda", "fixed_point_forward_cuda", "fixed_point_adjoint_cuda", "CudaFixedPointResult",
           "CudaFixedPointAdjoint", "MAX_N_CUDA", "cuda_unsupported_reason", "launch_forward",
           "launch_adjoint", "launch_forward_shared", "launch_adjoint_shared"]

MAX_N_CUDA = 64
_DTYPES = {torch.float32: 0, torch.float64: 1}


@dataclass
class CudaFixedPointResult:
    state: torch.Tensor       # (S, n) returned state
    iterations: torch.Tensor  # (S,) int32 updates applied
    residual: torch.Tensor    # (S,) ||F(s)-s|| / max(||F(s)||, 1e-30) at the returned state (inf: diverged)
    converged: torch.Tensor   # (S,) bool, residual <= tol


@dataclass
class CudaFixedPointAdjoint:
    u: torch.Tensor           # (S, n) D v: dL/db per system
    W_f: torch.Tensor         # (S, n) W f(s*)
    grad_b: torch.Tensor      # (S, n) or (n,) when b was shared
    grad_W: torch.Tensor      # (S, n, n) or (n, n) when W was shared
    grad_beta: torch.Tensor   # (S,) or () when beta was a scalar
    grad_alpha: torch.Tensor  # (S,) or () when alpha was a scalar
    iterations: torch.Tensor  # (S,) int32
    residual: torch.Tensor    # (S,) adjoint residual at the returned v (inf: diverged)
    converged: torch.Tensor   # (S,) bool, residual <= tol


# ----------------------------------------------------------------------------- dispatch support
def on_cuda(t: torch.Tensor) -> bool:
    """Whether ``t`` lives on a CUDA device (the dispatch's one device test; CPU tests patch it)."""
    return t.is_cuda


def cuda_unsupported_reason(W: torch.Tensor, b: torch.Tensor, s0: Optional[torch.Tensor]) -> Optional[str]:
    """None when the CUDA kernels can run these tensors, else why not (metadata only, no sync).

    W: (S, n, n) | (n, n); b: (S, n); s0: (S, n) | None.
    """
    tensors = [W, b] + ([s0] if s0 is not None else [])
    if not all(on_cuda(t) for t in tensors):
        return "the tensors are not all on a CUDA device"
    if not has_cuda():
        return "this build of quaton_fast has no CUDA kernels"
    if b.dtype not in _DTYPES or any(t.dtype != b.dtype for t in tensors):
        return f"the kernels take float32 or float64 (one dtype), got {sorted({str(t.dtype) for t in tensors})}"
    if b.shape[-1] > MAX_N_CUDA:
        return f"the kernels take n <= {MAX_N_CUDA} variables, got n = {b.shape[-1]}"
    return None


def _codes(nl: Any, n: int, device) -> Tuple[np.ndarray, torch.Tensor]:
    c = nonlinearity_codes("fixed_point_cuda", nl, n).astype(np.int8)
    return c, torch.as_tensor(c, device=device)


def _stream(device) -> int:
    return torch.cuda.current_stream(device).cuda_stream


def launch_forward(W: torch.Tensor, b: torch.Tensor, s0: Optional[torch.Tensor], a0: torch.Tensor,
                   a1: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor, nonlinearity: Any,
                   clamp: Optional[Tuple[float, float]], noise_std: float, seed: int, tol: float,
                   max_iter: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Raw launch (no value checks, no sync). W: (S,n,n)|(n,n); b: (S,n)|(n,); s0: (S,n)|None;
    a0, a1, beta, gamma: (S,) contiguous, b's dtype and device. -> (state, iterations int32, residual)."""
    S = a0.shape[0]
    n = W.shape[-1]
    _, codes = _codes(nonlinearity, n, b.device)
    W, b = W.contiguous(), b.contiguous()
    s0 = s0.contiguous() if s0 is not None else None
    state = torch.empty((S, n), dtype=b.dtype, device=b.device)
    iterations = torch.empty(S, dtype=torch.int32, device=b.device)
    residual = torch.empty(S, dtype=b.dtype, device=b.device)
    lo, hi = (float(clamp[0]), float(clamp[1])) if clamp is not None else (-1.0, 1.0)
    C = require_native("fixed_point_forward_cuda")
    C.fixed_point_forward_cuda(
        _DTYPES[b.dtype], S, n, W.data_ptr(), W.dim() == 2, b.data_ptr(), b.dim() == 1,
        s0.data_ptr() if s0 is not None else 0, a0.data_ptr(), a1.data_ptr(), beta.data_ptr(),
        gamma.data_ptr(), codes.data_ptr(), clamp is not None, lo, hi, float(noise_std), int(seed),
        float(tol), int(max_iter), state.data_ptr(), iterations.data_ptr(), residual.data_ptr(),
        _stream(b.device))
    return state, iterations, residual


def launch_adjoint(W: torch.Tensor, b: torch.Tensor, state: torch.Tensor, grad: torch.Tensor,
                   alpha: torch.Tensor, beta: torch.Tensor, nonlinearity: Any,
                   clamp: Optional[Tuple[float, float]], tol: float, max_iter: int):
    """Raw adjoint iteration (no value checks, no sync); alpha, beta: (S,) in b's dtype.

    -> (u = D v (S,n), W f(s*) (S,n), f(s*) (S,n), iterations int32 (S,), residual (S,))."""
    S, n = state.shape
    codes_np, codes = _codes(nonlinearity, n, b.device)
    W, b, state, grad = (t.contiguous() for t in (W, b, state, grad.to(state.dtype)))
    u = torch.empty((S, n), dtype=b.dtype, device=b.device)
    W_f = torch.empty_like(u)
    iterations = torch.empty(S, dtype=torch.int32, device=b.device)
    residual = torch.empty(S, dtype=b.dtype, device=b.device)
    lo, hi = (float(clamp[0]), float(clamp[1])) if clamp is not None else (-1.0, 1.0)
    C = require_native("fixed_point_adjoint_cuda")
    C.fixed_point_adjoint_cuda(
        _DTYPES[b.dtype], S, n, W.data_ptr(), W.dim() == 2, b.data_ptr(), b.dim() == 1,
        state.data_ptr(), grad.data_ptr(), alpha.contiguous().data_ptr(), beta.contiguous().data_ptr(),
        codes.data_ptr(), clamp is not None, lo, hi, float(tol), int(max_iter), u.data_ptr(),
        W_f.data_ptr(), iterations.data_ptr(), residual.data_ptr(), _stream(b.device))
    is_tanh = torch.as_tensor(codes_np == 0, device=b.device)
    is_sign = torch.as_tensor(codes_np == 1, device=b.device)
    fs = torch.where(is_tanh, torch.tanh(state),
                     torch.where(is_sign, torch.where(state >= 0, 1.0, -1.0).to(state.dtype), state))
    return u, W_f, fs, iterations, residual


def launch_forward_shared(W: torch.Tensor, b: torch.Tensor, s0: Optional[torch.Tensor], a0: torch.Tensor,
                          a1: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor, nonlinearity: Any,
                          clamp: Optional[Tuple[float, float]], noise_std: float, seed: int, tol: float,
                          max_iter: int, cells: int = 0,
                          momentum: bool = True) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shared-W kernel (cuda/fixed_point_shared.cuh): W (n,n) shared, or (cells,n,n) with
    system s using W[s % cells] (S a multiple of cells). Raw launch (no value checks, no sync);
    other arguments as :func:`launch_forward`; ``momentum=False`` promises every gamma is 0 (the
    kernel then holds no previous state). -> (state, iterations int32, residual)."""
    S = a0.shape[0]
    n = W.shape[-1]
    _, codes = _codes(nonlinearity, n, b.device)
    W, b = W.contiguous(), b.contiguous()
    s0 = s0.contiguous() if s0 is not None else None
    state = torch.empty((S, n), dtype=b.dtype, device=b.device)
    iterations = torch.empty(S, dtype=torch.int32, device=b.device)
    residual = torch.empty(S, dtype=b.dtype, device=b.device)
    lo, hi = (float(clamp[0]), float(clamp[1])) if clamp is not None else (-1.0, 1.0)
    C = require_native("fixed_point_forward_shared_cuda")
    C.fixed_point_forward_shared_cuda(
        _DTYPES[b.dtype], S, n, W.data_ptr(), cells == 0, int(cells), b.data_ptr(), b.dim() == 1,
        s0.data_ptr() if s0 is not None else 0, a0.data_ptr(), a1.data_ptr(), beta.data_ptr(), gamma.data_ptr(),
        bool(momentum), codes.data_ptr(), clamp is not None, lo, hi, float(noise_std), int(seed), float(tol),
        int(max_iter), state.data_ptr(), iterations.data_ptr(), residual.data_ptr(), _stream(b.device))
    return state, iterations, residual


def launch_adjoint_shared(W: torch.Tensor, b: torch.Tensor, state: torch.Tensor, grad: torch.Tensor,
                          alpha: torch.Tensor, beta: torch.Tensor, nonlinearity: Any,
                          clamp: Optional[Tuple[float, float]], tol: float, max_iter: int, cells: int = 0):
    """The shared-W adjoint (no value checks, no sync): W (n,n) or (cells,n,n) as the forward.

    -> (u = D v (S,n), W f(s*) (S,n), grad_alpha (S,), grad_beta (S,), grad_W (n,n) or
    (cells,n,n) -- the kernel's per-block partials summed over the batch tiles by one torch sum,
    a deterministic reduction --, iterations int32 (S,), residual (S,))."""
    S, n = state.shape
    _, codes = _codes(nonlinearity, n, b.device)
    W, b, state, grad = (t.contiguous() for t in (W, b, state, grad.to(state.dtype)))
    C = require_native("fixed_point_adjoint_shared_cuda")
    dt = _DTYPES[b.dtype]
    tiles = C.fixed_point_shared_tiles_cuda(dt, S, n, cells == 0, int(cells))
    u = torch.empty((S, n), dtype=b.dtype, device=b.device)
    W_f = torch.empty_like(u)
    ga = torch.empty(S, dtype=b.dtype, device=b.device)
    gb = torch.empty_like(ga)
    partial = torch.empty((max(cells, 1), max(tiles, 0), n, n), dtype=b.dtype, device=b.device)
    iterations = torch.empty(S, dtype=torch.int32, device=b.device)
    residual = torch.empty(S, dtype=b.dtype, device=b.device)
    lo, hi = (float(clamp[0]), float(clamp[1])) if clamp is not None else (-1.0, 1.0)
    C.fixed_point_adjoint_shared_cuda(
        dt, S, n, W.data_ptr(), cells == 0, int(cells), b.data_ptr(), b.dim() == 1, state.data_ptr(),
        grad.data_ptr(), alpha.contiguous().data_ptr(), beta.contiguous().data_ptr(), codes.data_ptr(),
        clamp is not None, lo, hi, float(tol), int(max_iter), u.data_ptr(), W_f.data_ptr(), ga.data_ptr(),
        gb.data_ptr(), partial.data_ptr(), iterations.data_ptr(), residual.data_ptr(), _stream(b.device))
    grad_W = partial.sum(1)
    return u, W_f, ga, gb, (grad_W[0] if cells == 0 else grad_W), iterations, residual


# ----------------------------------------------------------------------------- public, validated
def _as_cuda_tensor(func: str, arg: str, x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x
    elif hasattr(x, "__cuda_array_interface__"):
        t = torch.as_tensor(x, device="cuda")
    else:
        V.fail(func, arg, "a torch CUDA tensor or a CuPy array", type(x).__name__, TypeError)
    if t.device.type != "cuda":
        V.fail(func, arg, "on a CUDA device", f"a tensor on {t.device}")
    if t.dtype not in _DTYPES:
        V.fail(func, arg, "float32 or float64", t.dtype, TypeError)
    if not bool(torch.isfinite(t).all()):
        V.fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
    return t.contiguous()


def _per_system(func: str, arg: str, value: Any, S: int, like: torch.Tensor) -> Tuple[torch.Tensor, bool]:
    """scalar | (S,) -> ((S,) tensor on like's device and dtype, was_scalar)."""
    if isinstance(value, (bool, str)) or not isinstance(value, (numbers.Real, torch.Tensor, np.ndarray, list)):
        V.fail(func, arg, "a real number or an array of shape (S,)", type(value).__name__, TypeError)
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.numel() == 1 and t.dim() <= 1:
        out, scalar = t.reshape(1).expand(S).contiguous(), True
    elif t.shape == (S,):
        out, scalar = t.contiguous(), False
    else:
        V.fail(func, arg, f"a scalar or of shape ({S},)", f"shape {tuple(t.shape)}")
    if not bool(torch.isfinite(out).all()):
        V.fail(func, arg, "finite", "non-finite values")
    return out, scalar


def _system_inputs(func: str, W: Any, b: Any, systems: Optional[int]):
    W = _as_cuda_tensor(func, "W", W)
    b = _as_cuda_tensor(func, "b", b)
    if W.dtype != b.dtype:
        V.fail(func, "b", f"of W's dtype {W.dtype}", b.dtype, TypeError)
    if W.dim() not in (2, 3) or W.shape[-1] != W.shape[-2]:
        V.fail(func, "W", "of shape (n, n) or (S, n, n)", f"shape {tuple(W.shape)}")
    n = W.shape[-1]
    if not 1 <= n <= MAX_N_CUDA:
        V.fail(func, "W", f"of size n in 1..{MAX_N_CUDA} on CUDA", f"n = {n}")
    if b.dim() not in (1, 2) or b.shape[-1] != n:
        V.fail(func, "b", f"of shape ({n},) or (S, {n})", f"shape {tuple(b.shape)}")
    sizes = {s for s in ((W.shape[0] if W.dim() == 3 else None), (b.shape[0] if b.dim() == 2 else None),
                         systems) if s is not None}
    if len(sizes) > 1:
        V.fail(func, "b", "batched over the same number of systems S as W (and 'systems')",
               f"sizes {sorted(sizes)}")
    S = sizes.pop() if sizes else 1
    return W, b, n, int(S)


def _scalar_args(func: str, clamp, noise_std, seed, tol, max_iter):
    if clamp is not None:
        if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
            V.fail(func, "clamp", "None or a pair (lo, hi)", repr(clamp), TypeError)
        lo, hi = (V.finite_real(func, "clamp", float(c) if isinstance(c, np.floating) else c) for c in clamp)
        if not lo < hi:
            V.fail(func, "clamp", "a pair (lo, hi) with lo < hi", (lo, hi))
        clamp = (lo, hi)
    noise = V.finite_real(func, "noise_std", noise_std, nonnegative=True)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2 ** 64:
        V.fail(func, "seed", "an integer in [0, 2**64)", repr(seed))
    tol = V.finite_real(func, "tol", tol, nonnegative=True)
    T = V.positive_int(func, "max_iter", max_iter)
    if T > MAX_ITER:
        V.fail(func, "max_iter", f"an integer <= {MAX_ITER}", T)
    return clamp, noise, int(seed), tol, T


def fixed_point_forward_cuda(W: Any, b: Any, *, s0: Any = None, alpha: Any = 0.5, beta: Any = 1.0,
                             gamma: Any = 0.0, nonlinearity: Any = "tanh",
                             clamp: Optional[Tuple[float, float]] = None, noise_std: float = 0.0,
                             seed: int = 0, tol: float = 1e-3, max_iter: int = 100,
                             systems: Optional[int] = None) -> CudaFixedPointResult:
    """Iterate S systems to their fixed points in one kernel launch.

    W: (S, n, n) or (n, n) shared; b: (S, n) or (n,); s0: (S, n) (default zeros);
    alpha: scalar | (S,) constant | tuple (alpha_start, alpha_end) annealed linearly over max_iter;
    beta, gamma: scalar | (S,); nonlinearity: 'tanh' | 'sign' | 'identity' | n names | (n,) codes;
    clamp: (lo, hi) or None; noise_std >= 0 with the counter-based recipe of ``seed``;
    tol >= 0 (0: run max_iter steps); systems: S when every input is shared.
    Returns CudaFixedPointResult; ``converged`` is ``residual <= tol`` at the returned state.
    Raises ValueError/TypeError naming the argument for bad input.
    """
    func = "fixed_point_forward_cuda"
    W, b, n, S = _system_inputs(func, W, b, systems)
    if isinstance(alpha, tuple):
        if len(alpha) != 2:
            V.fail(func, "alpha", "a scalar, (S,) or a tuple (alpha_start, alpha_end)", f"a tuple of {len(alpha)}")
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
            V.fail(func, "s0", f"of shape ({S}, {n})", f"shape {tuple(s0.shape)}")
    clamp, noise, seed, tol, T = _scalar_args(func, clamp, noise_std, seed, tol, max_iter)
    nonlinearity_codes(func, nonlinearity, n)
    state, iterations, residual = launch_forward(W, b, s0, a0, a1, be, ga, nonlinearity, clamp, noise,
                                                 seed, tol, T)
    return CudaFixedPointResult(state, iterations, residual, residual <= tol)


def fixed_point_adjoint_cuda(W: Any, b: Any, state: Any, grad_state: Any, *, alpha: Any = 0.5,
                             beta: Any = 1.0, nonlinearity: Any = "tanh",
                             clamp: Optional[Tuple[float, float]] = None, tol: float = 1e-10,
                             max_iter: int = 1000) -> CudaFixedPointAdjoint:
    """Implicit backward at converged states s*: v = J^T v + g by iteration, u = D v.

    W, b, alpha (constant scalar | (S,)), beta, nonlinearity, clamp: as in the forward;
    state: (S, n) s*; grad_state: (S, n) dL/ds*. Gradients are summed over systems for shared inputs.
    ``converged`` (residual at the returned v <= tol) says whether the gradients are valid; the
    plain iteration diverges when the spectral radius of J is >= 1 (use the direct solve of
    :func:`quaton_fast.functional.fixed_point.fixed_point`, its default for n <= 64).
    """
    func = "fixed_point_adjoint_cuda"
    if isinstance(alpha, tuple):
        V.fail(func, "alpha", "a constant (scalar or (S,)); the adjoint is taken at a fixed point of a "
               "constant map", "an annealing schedule tuple")
    S_state = state.shape[0] if len(getattr(state, "shape", ())) == 2 else None
    W, b, n, S = _system_inputs(func, W, b, S_state)
    st = _as_cuda_tensor(func, "state", state).to(b.dtype)
    g = _as_cuda_tensor(func, "grad_state", grad_state).to(b.dtype)
    for arg, t in (("state", st), ("grad_state", g)):
        if t.shape != (S, n):
            V.fail(func, arg, f"of shape ({S}, {n})", f"shape {tuple(t.shape)}")
    a, a_scalar = _per_system(func, "alpha", alpha, S, b)
    be, be_scalar = _per_system(func, "beta", beta, S, b)
    clamp, _, _, tol, T = _scalar_args(func, clamp, 0.0, 0, tol, max_iter)
    nonlinearity_codes(func, nonlinearity, n)
    u, W_f, fs, iterations, residual = launch_adjoint(W, b, st, g, a, be, nonlinearity, clamp, tol, T)
    bu = be[:, None] * u
    grad_W = bu.T @ fs if W.dim() == 2 else bu[:, :, None] * fs[:, None, :]
    grad_beta = (u * W_f).sum(1)
    grad_alpha = (u * st).sum(1)
    return CudaFixedPointAdjoint(
        u=u, W_f=W_f, grad_b=u.sum(0) if b.dim() == 1 else u, grad_W=grad_W,
        grad_beta=grad_beta.sum() if be_scalar else grad_beta,
        grad_alpha=grad_alpha.sum() if a_scalar else grad_alpha,
        iterations=iterations, residual=residual, converged=residual <= tol)
