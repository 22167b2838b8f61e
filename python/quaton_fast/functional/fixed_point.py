"""Torch fixed point of the AOC digital twin with implicit differentiation (the AOC iteration and its equilibrium models).

Step ``t``: ``y = alpha(t)*s_t + beta*W f(s_t) + b + gamma*(s_t - s_{t-1})``, ``s_{t+1} = clamp(y)``.
Convergence is judged AT the returned state, exactly as in :mod:`quaton_fast.reference.fixed_point`
(read its "Convergence" paragraph): ``residual = ||F(s) - s|| / max(||F(s)||, 1e-30)`` with ``F`` the
step's map without momentum and noise (``+inf`` for a non-finite state); a system stops when
``residual <= tol`` (``tol > 0``), when it diverged, or after ``max_iter`` updates.  ``iterations`` is
the number of updates applied to ``s0``; a state is converged iff ``residual <= tol``.

``alpha`` (one meaning in every API of the package): a number or a 0-d tensor = one constant; a
tensor / list / array of shape ``(S,)`` = one constant per system; a **tuple** ``(alpha_start,
alpha_end)`` (each a number or ``(S,)``) = the linear annealing schedule
``alpha(t) = start + (end - start) * t / (max_iter - 1)``.  Implicit gradients with a schedule are
taken at the map with the alpha of the returned state, ``alpha(min(iterations, max_iter - 1))``;
a schedule is not differentiable (its entries must not require grad).

Backward (implicit function theorem at the converged ``s*``): ``J = D(alpha I + beta W diag f'(s*))``,
adjoint ``(I - J^T) v = g``, ``u = D v``; ``grad_b = u``, ``grad_W = beta u f(s*)^T`` (summed over
systems for a shared W), ``grad_beta = u^T W f(s*)``, ``grad_alpha = u^T s*``.  The adjoint solver
(``backward_method``):

* ``'direct'``: a batched LU solve (``torch.linalg.solve_ex``) in float64 -- valid wherever
  ``I - J`` is non-singular, also where the plain iteration diverges (spectral radius of J > 1, which
  a momentum forward can converge at);
* ``'iterate'``: ``v <- J^T v + g`` per system (C++ / CUDA kernels or torch), needs radius < 1;
* ``'auto'`` (default): ``'iterate'``, then ``'direct'`` for the systems the iteration did not
  solve (only those: the plain iteration is the cheaper one wherever it converges -- measured on
  the 4,096-weight equilibrium classifier, batch 64, one CPU thread: 37 ms per training step with
  'auto', 50 ms with 'direct'; the iteration's own stop test decides, so 'auto' costs nothing extra
  where it converges).

Validity (decision): backward **raises** ``FloatingPointError`` when the adjoint
did not converge (``residual > backward_tol`` at the returned ``v``, or non-finite; the message counts the
systems) -- an implicit
gradient is returned valid or refused, never silently wrong; it **warns** (``RuntimeWarning``) when
the forward state it linearises around is not converged (``residual > tol``, only checked for
``tol > 0``), since the gradient is then that of the map's linearisation at a non-fixed point.
These checks read one or two flags from the device per backward (the price of refusing invalid
gradients; nothing is read back per iteration on the kernel paths).

Backends (``backend=``): ``'auto'`` (default) runs the CUDA kernels for CUDA tensors the kernels
support (float32/float64, one dtype, n <= 64, a CUDA build), the multi-threaded C++ kernels for CPU
float32/float64 tensors (float32 is computed in float64 and rounded back once, see
:mod:`._fixed_point_cpu`), and otherwise the torch loop -- a CUDA configuration the kernels cannot
take falls back to the torch loop with a ``RuntimeWarning`` said once per reason.  ``'cpp'``
requires the CPU kernels, ``'cuda'`` the CUDA kernels (error otherwise), ``'torch'`` forces the loop.
On CUDA, a shared W -- ``W`` of shape ``(n, n)``, or one per ensemble cell, ``W`` of shape
``(cells, n, n)`` with ``cells=`` given (system ``s`` uses ``W[s % cells]``) -- runs the shared-W
kernel (``cuda/fixed_point_shared.cuh``: W resident in shared memory, a register-tiled
``(n x n)(n x tile)`` product per iteration; issue 23 item 2), predicted faster than the per-system
kernel, which re-reads W for every system; a per-system W runs the per-system kernel.  Both give
the same states bit for bit.  On the CPU, a shared W with n > 32 and a batch >= 1024 runs the torch
loop (one GEMM per step; measured 1.8x faster than the C++ kernels at 1024 x 64), everything else
the C++ kernels.  :func:`explain_backend` returns the path a call takes and why.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Optional, Tuple

import numpy as np
import torch

from .. import _validation as V
from ..reference.fixed_point import MAX_ITER
from . import _fixed_point_cpu as _cpu
from . import _fixed_point_cuda as _cuda
from . import _fixed_point_torch as _tl

__all__ = ["FixedPointFunction", "fixed_point", "fixed_point_unrolled", "choose_backend", "explain_backend"]

_CODES = {"tanh": 0, "sign": 1, "identity": 2, "linear": 2, "id": 2}
_BACKENDS = ("auto", "cpp", "torch", "cuda")
_PATHS = ("cuda", "cuda-shared", "cpp", "torch")  # what a call runs (explain_backend)
# CPU, shared W: above these the torch loop (one float32 GEMM per step) beats the C++ per-system kernel
# (benchmarks/bench_fixed_point_shared_cpu.py, one thread, a loaded 2-core machine: torch/cpp time 0.54-0.56
# at 1024 x 64, 0.83-1.15 at 1024 x 32, 0.84-0.98 at 256 x 64, 1.4 at 1024-16384 x 16, 12 at 64 x 16)
_CPU_GEMM_MIN_N, _CPU_GEMM_MIN_BATCH = 32, 1024
_METHODS = ("auto", "direct", "iterate")
_FUNC = "fixed_point"
_fallbacks_said: set = set()


def _nl_name(nonlinearity) -> str:
    if not isinstance(nonlinearity, str) or nonlinearity not in _CODES:
        V.fail(_FUNC, "nonlinearity", "'tanh', 'sign' or 'identity'", repr(nonlinearity))
    return {0: "tanh", 1: "sign", 2: "identity"}[_CODES[nonlinearity]]


def _col(x, S: int, like: torch.Tensor) -> torch.Tensor:
    """number / 0-d / (S,) -> (S, 1) tensor in like's dtype and device (differentiable)."""
    t = torch.as_tensor(x, dtype=like.dtype, device=like.device)
    return t.reshape(1, 1).expand(S, 1) if t.numel() == 1 else t.reshape(S, 1)


def _flat(x, S: int, like: torch.Tensor) -> torch.Tensor:
    return _col(x, S, like).reshape(S).contiguous()


# ----------------------------------------------------------------------------- backend choice
def choose_backend(backend: str, W: torch.Tensor, b: torch.Tensor, s0: Optional[torch.Tensor],
                   cells: Optional[int] = None) -> str:
    """The path a call takes: 'cuda', 'cuda-shared', 'cpp' or 'torch' (metadata only, no host sync).

    'auto': CUDA kernels for supported CUDA tensors -- the shared-W kernel when W is shared ((n, n),
    or (cells, n, n) with ``cells``), the per-system kernel otherwise -- (else the torch loop, with a
    warning said once per reason), C++ kernels for CPU float32/float64 tensors when built, else the
    torch loop. Raises RuntimeError when an explicit 'cpp' / 'cuda' cannot run these tensors.
    """
    return explain_backend(backend, W, b, s0, cells)[0]


def explain_backend(backend: str, W: torch.Tensor, b: torch.Tensor, s0: Optional[torch.Tensor],
                    cells: Optional[int] = None) -> Tuple[str, str]:
    """(path, reason): the path :func:`fixed_point` takes for these tensors and why (metadata only).

    W: (S, n, n) per system, (n, n) shared, or (cells, n, n) with ``cells``; b: (S, n); s0: (S, n) or
    None; backend: 'auto' | 'cpp' | 'torch' | 'cuda'. Raises RuntimeError as :func:`choose_backend`.
    """
    on_cuda = _cuda.on_cuda(b)
    if backend == "torch":
        return "torch", "backend='torch' asked for the torch loop"
    if backend == "cuda" or (backend == "auto" and on_cuda):
        why = _cuda.cuda_unsupported_reason(W, b, s0)
        if why is None:
            if W.dim() == 2 or cells:
                return "cuda-shared", ("CUDA tensors, W shared by the batch: the shared-W kernel (W read once per "
                                       "block into shared memory, register-tiled product; predicted faster than the "
                                       "per-system kernel, same states bit for bit)")
            return "cuda", "CUDA tensors, one W per system: the per-system kernel"
        if backend == "cuda":
            raise RuntimeError(f"fixed_point(): backend='cuda' needs a CUDA build of quaton_fast and CUDA "
                               f"float32/float64 tensors with n <= {_cuda.MAX_N_CUDA}: {why} (device "
                               f"{b.device}, dtype {b.dtype}, n = {b.shape[1]})")
        if why not in _fallbacks_said:
            _fallbacks_said.add(why)
            warnings.warn(f"fixed_point(): the CUDA kernels cannot run this call ({why}); using the torch "
                          "loop instead (said once)", RuntimeWarning, stacklevel=4)
        return "torch", f"the CUDA kernels cannot run this call ({why})"
    ok = _cpu.native_cpu_usable(W, b, s0)
    if backend == "cpp" and not ok:
        raise RuntimeError("fixed_point(): backend='cpp' needs the compiled extension quaton_fast._C and "
                           f"CPU float32/float64 tensors with n <= 256, got device {b.device}, dtype "
                           f"{b.dtype}, n = {b.shape[1]}")
    n, S = b.shape[-1], b.shape[0]
    if ok and backend == "auto" and (W.dim() == 2 or cells) and n > _CPU_GEMM_MIN_N and S >= _CPU_GEMM_MIN_BATCH:
        return "torch", (f"CPU tensors, W shared by a batch of {S} with n = {n}: the torch loop's one GEMM per step "
                         "beats the C++ per-system kernel here (measured 1.8x at 1024 x 64, "
                         "benchmarks/bench_fixed_point_shared_cpu.py)")
    if ok:
        return "cpp", ("CPU tensors: the multi-threaded C++ kernels (float64 inside; faster than the torch loop "
                       "at n <= 32 or small batches on the CPU)")
    return "torch", "no kernel serves these tensors (no compiled extension, or dtype/size outside the kernels)"


# ----------------------------------------------------------------------------- autograd
class FixedPointFunction(torch.autograd.Function):
    """apply(W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0, btol, bmax, path, alpha_end,
    bmethod, cells): arguments already checked by :func:`fixed_point`; ``alpha_end`` None = constant
    alpha; ``path`` from :func:`choose_backend`; ``cells`` > 0 only on the 'cuda-shared' path (W
    (cells, n, n), system s uses W[s % cells])."""

    @staticmethod
    def forward(ctx, W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0, btol, bmax, path="torch",
                alpha_end=None, bmethod="auto", cells=0):
        S = b.shape[0]
        with torch.no_grad():
            if path == "cuda-shared":
                a0 = _flat(alpha, S, b)
                a1 = a0 if alpha_end is None else _flat(alpha_end, S, b)
                momentum = not (isinstance(gamma, float) and gamma == 0.0)  # a number 0: no momentum code
                s, it, res = _cuda.launch_forward_shared(W.detach(), b.detach(), None if s0 is None else s0.detach(),
                                                         a0, a1, _flat(beta, S, b), _flat(gamma, S, b), nl, clamp,
                                                         0.0, 0, tol, max_iter, cells, momentum)
                it = it.to(torch.int64)
                s_lin = s
            elif path == "cuda":
                a0 = _flat(alpha, S, b)
                a1 = a0 if alpha_end is None else _flat(alpha_end, S, b)
                s, it, res = _cuda.launch_forward(W.detach(), b.detach(), None if s0 is None else s0.detach(),
                                                  a0, a1, _flat(beta, S, b), _flat(gamma, S, b), nl, clamp,
                                                  0.0, 0, tol, max_iter)
                it = it.to(torch.int64)
                s_lin = s
            elif path == "cpp":
                s_lin, it, res = _cpu.forward_cpu(W, b, alpha, beta, gamma, nl, clamp, tol, max_iter, s0,
                                                  alpha_end=alpha_end)
                s, res = s_lin.to(b.dtype), res.to(b.dtype)
            else:
                a0 = _col(alpha, S, b)
                a1 = a0 if alpha_end is None else _col(alpha_end, S, b)
                s, it, res = _tl.forward_loop(W, b, a0, a1, _col(beta, S, b), _col(gamma, S, b), nl, clamp,
                                              tol, max_iter, s0)
                s_lin = s
            if alpha_end is None:
                a_eff = _flat(alpha, S, s_lin)
            else:  # the alpha of the returned state's map
                a0, a1 = _flat(alpha, S, s_lin), _flat(alpha_end, S, s_lin)
                frac = it.clamp(max=max_iter - 1).to(s_lin.dtype) / (max_iter - 1) if max_iter > 1 else 0.0
                a_eff = a0 + (a1 - a0) * frac
        be_t = beta if isinstance(beta, torch.Tensor) else torch.as_tensor(beta, dtype=b.dtype)
        a_t = alpha if isinstance(alpha, torch.Tensor) else torch.as_tensor(alpha, dtype=b.dtype)
        ctx.save_for_backward(W, b, s_lin, a_eff, a_t, be_t, res)
        ctx.nl, ctx.clamp, ctx.btol, ctx.bmax, ctx.path = nl, clamp, btol, bmax, path
        ctx.tol, ctx.bmethod, ctx.schedule, ctx.cells = tol, bmethod, alpha_end is not None, cells
        ctx.mark_non_differentiable(it, res)
        return s, it, res

    @staticmethod
    def backward(ctx, g, _gi, _gr):
        W, b, s, a_eff, alpha, beta, res = ctx.saved_tensors
        need = ctx.needs_input_grad
        none = (None,) * 12
        if g is None or not any(need[:4]):
            return (None,) * 4 + none
        S, n = s.shape
        if ctx.tol > 0:
            bad_fwd = int((~(res <= ctx.tol)).sum())
            if bad_fwd:
                warnings.warn(f"fixed_point(): implicit gradient taken at a state that is not a fixed point "
                              f"(residual > tol = {ctx.tol:g}) for {bad_fwd} of {S} systems; raise max_iter, "
                              "make the map contractive, or read the returned residual", RuntimeWarning)
        method = ctx.bmethod
        a = a_eff.to(s.dtype).reshape(S, 1)
        be = _col(beta.detach(), S, s)
        Wd, bd = W.detach().to(s.dtype), b.detach().to(s.dtype)
        cells = ctx.cells
        Wj = Wd.repeat(S // cells, 1, 1) if cells else Wd  # per system, for the torch formulas
        g = g.to(s.dtype)
        kernel_grads = None
        own_grads = ctx.path in ("cpp", "cuda-shared") and method != "direct"  # kernels that form them
        if not own_grads:
            fs, fp, D, Wf = _tl.jacobian_parts(Wj, bd, s, a, be, ctx.nl, ctx.clamp)
        if method == "direct":
            v, bres = _tl.adjoint_direct(Wj, a, be, fp, D, g)
            v = v.to(s.dtype)
        elif ctx.path == "cuda-shared":
            v, _Wf, ga_k, gbe_k, gW_k, _it, bres = _cuda.launch_adjoint_shared(
                Wd, bd, s, g, a.reshape(S).contiguous(), be.reshape(S).contiguous(), ctx.nl, ctx.clamp, ctx.btol,
                ctx.bmax, cells)  # v = D v: enough below
            kernel_grads = [gW_k, v, gbe_k, ga_k]
        elif ctx.path == "cpp":
            *kernel_grads, bres, v = _cpu.adjoint_cpu(Wd, bd, s, g, a.reshape(S), be.reshape(S), ctx.nl,
                                                      ctx.clamp, ctx.btol, ctx.bmax)
        elif ctx.path == "cuda":
            v, _Wf, _fs, _it, bres = _cuda.launch_adjoint(Wd, bd, s, g, a.reshape(S).contiguous(),
                                                          be.reshape(S).contiguous(), ctx.nl, ctx.clamp,
                                                          ctx.btol, ctx.bmax)  # v = D v: enough below
        else:
            v, _it, bres = _tl.adjoint_iterate(Wd, a, be, fp, D, g, ctx.btol, ctx.bmax)
        if method == "auto":  # a direct solve for the systems the iteration did not solve
            failed = ~(bres <= ctx.btol)
            if bool(failed.any()):
                if own_grads:
                    fs, fp, D, Wf = _tl.jacobian_parts(Wj, bd, s, a, be, ctx.nl, ctx.clamp)
                idx = failed.nonzero().squeeze(1)
                Wi = Wj if Wj.dim() == 2 else Wj[idx]
                vi, ri = _tl.adjoint_direct(Wi, a[idx], be[idx], fp[idx], D[idx], g[idx])
                v, bres = v.clone(), bres.clone()
                v[idx], bres[idx] = vi.to(v.dtype), ri.to(bres.dtype)
                kernel_grads = None
        _check_adjoint(bres, ctx.btol, method, S)
        if kernel_grads is not None:
            gW, gb, gbe, ga = kernel_grads
        else:
            u = D * v
            outer = be.unsqueeze(-1) * u.unsqueeze(-1) * fs.unsqueeze(1)  # (S,n,n)
            gW = outer.sum(0) if W.dim() == 2 else outer.reshape(-1, cells, n, n).sum(0) if cells else outer
            gb, gbe, ga = u, (u * Wf).sum(1), (u * s).sum(1)
        grads = (gW.to(W.dtype) if need[0] else None, gb.to(b.dtype) if need[1] else None,
                 _reduce_like(ga, alpha) if need[2] and not ctx.schedule else None,
                 _reduce_like(gbe, beta) if need[3] else None)
        return grads + none


def _check_adjoint(resid: torch.Tensor, btol: float, method: str, S: int) -> None:
    """Refuse invalid implicit gradients (one host read per backward; 'auto' reads one more flag)."""
    bad = int((~(resid <= btol)).sum())
    if bad:
        hint = ("the plain iteration needs the Jacobian's spectral radius < 1; use backward_method='direct'"
                if method == "iterate" else "I - J is singular or too ill-conditioned for backward_tol")
        raise FloatingPointError(
            f"fixed_point(): the implicit-gradient adjoint ({method}) did not converge for {bad} of {S} systems "
            f"(residual > backward_tol = {btol:g} or not finite): {hint}. No gradient is returned.")


def _reduce_like(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-system gradient (S,) -> the shape and dtype of ``like`` (scalar: summed)."""
    out = grad.sum().reshape(like.shape) if like.numel() == 1 else grad.reshape(like.shape)
    return out.to(like.dtype)


# ----------------------------------------------------------------------------- checks (user input)
def _check_tensor(arg, t, like=None):
    if not isinstance(t, torch.Tensor):
        V.fail(_FUNC, arg, "a torch.Tensor", type(t).__name__, TypeError)
    if not t.is_floating_point():
        V.fail(_FUNC, arg, "a floating-point tensor", f"dtype {t.dtype}", TypeError)
    if like is not None and (t.dtype != like.dtype or t.device != like.device):
        V.fail(_FUNC, arg, f"of b's dtype {like.dtype} on {like.device}", f"{t.dtype} on {t.device}", TypeError)


def _per_system_arg(arg: str, x, S: int, b: torch.Tensor, differentiable: bool = True):
    """Check a number / 0-d / (S,) tensor / list; returns a tensor or a float (numbers stay floats)."""
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return V.finite_real(_FUNC, arg, x)
    if isinstance(x, (list, np.ndarray)):
        try:
            x = torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=b.dtype, device=b.device)
        except (TypeError, ValueError):
            V.fail(_FUNC, arg, "a real number, a tensor of shape (S,) or a tuple (start, end)", repr(x), TypeError)
        if not bool(torch.isfinite(x).all()):
            V.fail(_FUNC, arg, "finite", "non-finite values")
    if not isinstance(x, torch.Tensor):
        V.fail(_FUNC, arg, "a real number, a tensor of shape (S,) or (alpha only) a tuple (start, end)",
               type(x).__name__, TypeError)
    if not x.is_floating_point():
        V.fail(_FUNC, arg, "a floating-point tensor", f"dtype {x.dtype}", TypeError)
    if x.device != b.device:
        V.fail(_FUNC, arg, f"on b's device {b.device}", str(x.device))
    if not (x.numel() == 1 and x.dim() <= 1) and tuple(x.shape) != (S,):
        V.fail(_FUNC, arg, f"a scalar or of shape ({S},) (one value per system)", f"shape {tuple(x.shape)}")
    if not differentiable and x.requires_grad:
        V.fail(_FUNC, arg, "not requiring grad (it is not differentiated)", "a tensor with requires_grad=True")
    return x


def _check(W, b, s0, alpha, beta, gamma, clamp, tol, max_iter):
    _check_tensor("b", b)
    if b.dim() == 1:
        b = b.unsqueeze(0)
    if b.dim() != 2 or b.shape[0] < 1 or b.shape[1] < 1:
        V.fail(_FUNC, "b", "of shape (S, n) with S, n >= 1", f"shape {tuple(b.shape)}")
    _check_tensor("W", W, b)
    S, n = b.shape
    if tuple(W.shape) not in ((n, n), (S, n, n)):
        V.fail(_FUNC, "W", f"of shape ({n}, {n}) or ({S}, {n}, {n})", f"shape {tuple(W.shape)}")
    if s0 is not None:
        _check_tensor("s0", s0, b)
        if tuple(s0.shape) != (S, n):
            V.fail(_FUNC, "s0", f"of shape ({S}, {n})", f"shape {tuple(s0.shape)}")
    if isinstance(alpha, tuple):
        if len(alpha) != 2:
            V.fail(_FUNC, "alpha", "a constant or a schedule tuple (alpha_start, alpha_end)",
                   f"a tuple of length {len(alpha)}")
        a0 = _per_system_arg("alpha", alpha[0], S, b, differentiable=False)
        a1 = _per_system_arg("alpha", alpha[1], S, b, differentiable=False)
    else:
        a0, a1 = _per_system_arg("alpha", alpha, S, b), None
    beta = _per_system_arg("beta", beta, S, b)
    gamma = _per_system_arg("gamma", gamma, S, b, differentiable=False)
    if clamp is not None:
        if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
            V.fail(_FUNC, "clamp", "None or a pair (lo, hi)", repr(clamp), TypeError)
        lo, hi = (V.finite_real(_FUNC, "clamp", float(c) if isinstance(c, np.floating) else c) for c in clamp)
        if not lo < hi:
            V.fail(_FUNC, "clamp", "a pair (lo, hi) with lo < hi", (lo, hi))
        clamp = (lo, hi)
    tol = V.finite_real(_FUNC, "tol", tol, nonnegative=True)
    T = V.positive_int(_FUNC, "max_iter", max_iter)
    if T > MAX_ITER:
        V.fail(_FUNC, "max_iter", f"an integer <= {MAX_ITER}", T)
    return b, a0, a1, beta, gamma, clamp, tol, T


def fixed_point(W: torch.Tensor, b: torch.Tensor, *, alpha=0.5, beta=1.0, gamma=0.0,
                nonlinearity: str = "tanh", clamp: Optional[Tuple[float, float]] = None,
                tol: float = 1e-3, max_iter: int = 100, s0: Optional[torch.Tensor] = None,
                backward_tol: float = 1e-6, backward_max_iter: int = 500, backend: str = "auto",
                backward_method: str = "auto",
                cells: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed point with implicit gradients for W, b, beta and alpha (when tensors).

    W: (S,n,n) per system or (n,n) shared; b: (S,n) (or (n,) for S = 1), floating point;
    alpha: number | 0-d or (S,) tensor (differentiable) | list (S,) | tuple (start, end) schedule;
    beta: number | 0-d or (S,) tensor; gamma: momentum (forward only), number | (S,);
    nonlinearity: 'tanh' | 'sign' | 'identity'; clamp: (lo, hi) or None; tol >= 0; 1 <= max_iter;
    s0: (S,n) start (zeros); backward_tol, backward_max_iter, backward_method ('auto' | 'direct' |
    'iterate'): the adjoint solve; backend: 'auto' | 'cpp' | 'torch' | 'cuda' (module docstring);
    cells: None, or C when W is (C, n, n) shared by an ensemble of C cells -- system s uses
    W[s % C] (S a multiple of C; grad_W summed over the systems of each cell).
    Returns (state (S,n), iterations (S,) int64, residual (S,)) -- residual at the returned state;
    converged = residual <= tol.  Raises ValueError/TypeError naming the argument for bad input;
    backward raises FloatingPointError when the adjoint does not converge.
    """
    if cells is not None:  # W (cells, n, n): check here, then W passes _check as one per system
        cells = V.positive_int(_FUNC, "cells", cells)
        _check_tensor("W", W)
        bs = tuple(b.shape) if isinstance(b, torch.Tensor) else ()
        if W.dim() != 3 or W.shape[0] != cells or len(bs) != 2 or tuple(W.shape[1:]) != (bs[1], bs[1]) \
                or bs[0] % cells:
            V.fail(_FUNC, "W", f"of shape ({cells}, n, n) with b (S, n), S a multiple of cells = {cells}",
                   f"W {tuple(W.shape)}, b {bs}")
        W_cells = W
        W = W[:1].expand(bs[0], -1, -1)  # a view of the per-system shape for the checks (no copy)
    b, a0, a1, beta, gamma, clamp, tol, T = _check(W, b, s0, alpha, beta, gamma, clamp, tol, max_iter)
    nl = _nl_name(nonlinearity)
    if backend not in _BACKENDS:
        V.fail(_FUNC, "backend", "'auto', 'cpp', 'torch' or 'cuda'", repr(backend))
    if backward_method not in _METHODS:
        V.fail(_FUNC, "backward_method", "'auto', 'direct' or 'iterate'", repr(backward_method))
    btol = V.finite_real(_FUNC, "backward_tol", backward_tol, nonnegative=True)
    bmax = V.positive_int(_FUNC, "backward_max_iter", backward_max_iter)
    if bmax > MAX_ITER:
        V.fail(_FUNC, "backward_max_iter", f"an integer <= {MAX_ITER}", bmax)
    path = choose_backend(backend, W, b, s0, cells)
    if cells:
        if path == "cuda-shared":  # the kernel reads W (cells, n, n) itself
            return FixedPointFunction.apply(W_cells, b, a0, beta, gamma, nl, clamp, tol, T, s0, btol, bmax, path,
                                            a1, backward_method, cells)
        W = W_cells.repeat(b.shape[0] // cells, 1, 1)  # system s -> W[s % cells]; autograd sums grad_W per cell
    return FixedPointFunction.apply(W, b, a0, beta, gamma, nl, clamp, tol, T, s0, btol, bmax, path, a1,
                                    backward_method)


def fixed_point_unrolled(W, b, *, alpha=0.5, beta=1.0, gamma=0.0, nonlinearity="tanh", clamp=None,
                         max_iter=100, s0=None) -> torch.Tensor:
    """Plain autograd through ``max_iter`` steps (no early stop, constant alpha); for tests."""
    if isinstance(alpha, tuple):
        V.fail("fixed_point_unrolled", "alpha", "a constant (number or (S,) tensor)", "a schedule tuple", TypeError)
    b, a0, _a1, beta, gamma, clamp, _tol, T = _check(W, b, s0, alpha, beta, gamma, clamp, 0.0, max_iter)
    nl = _nl_name(nonlinearity)
    a = a0.reshape(-1, 1) if isinstance(a0, torch.Tensor) else a0
    be = beta.reshape(-1, 1) if isinstance(beta, torch.Tensor) else beta
    s = torch.zeros_like(b) if s0 is None else s0
    prev = s
    for _ in range(T):
        y = a * s + be * _tl.matvec(W, _tl.apply_f(s, nl)) + b + gamma * (s - prev)
        if clamp is not None:
            y = y.clamp(clamp[0], clamp[1])
        prev, s = s, y
    return s
