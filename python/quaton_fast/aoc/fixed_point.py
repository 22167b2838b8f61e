"""AOC digital twin fixed-point iteration on the CPU through the C++ kernels (float64).

Same semantics, arguments and result types as the NumPy reference
``quaton_fast.reference.fixed_point`` (read its docstring for the iteration, the stopping rule,
the annealing schedule, the counter-based noise recipe and the implicit adjoint).  Inputs are
validated in Python (same checks and messages as the reference) before the kernel
``quaton_fast._C.fixed_point_forward_cpu`` / ``fixed_point_adjoint_cpu`` (called through the kernel
layer, :mod:`quaton_fast.functional._fixed_point_cpu`) runs with the GIL
released on ``threads`` worker threads (default: all hardware threads).

For an autograd Function: call ``fixed_point_forward`` in forward (keep ``state``), and in
backward call ``fixed_point_adjoint(W, b, state, grad_state, alpha=..., beta=..., ...)``; its
``grad_*`` fields have the shapes of the forward's inputs (summed over systems for shared ones).
The gradient w.r.t. ``s0`` is zero (the fixed point does not depend on it).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from .. import _validation as V
from ..functional._fixed_point_cpu import native_adjoint, native_forward
from ..reference.fixed_point import (FixedPointAdjointResult, FixedPointResult, _adjoint_grads,
                                     _jacobian_parts, _prepare, _prepare_adjoint)
from ..reference.fixed_point import fixed_point_adjoint as _reference_adjoint

__all__ = ["fixed_point_forward", "fixed_point_adjoint", "FixedPointResult",
           "FixedPointAdjointResult"]


def _threads(func: str, threads: Optional[int]) -> int:
    return 0 if threads is None else V.positive_int(func, "threads", threads)


def fixed_point_forward(W: np.ndarray, b: np.ndarray, *, s0: Optional[np.ndarray] = None,
                        alpha: Any = 0.5, beta: Any = 1.0, gamma: Any = 0.0,
                        nonlinearity: Any = "tanh", clamp: Optional[Tuple[float, float]] = None,
                        noise_std: float = 0.0, seed: int = 0, tol: float = 1e-3,
                        max_iter: int = 100, systems: Optional[int] = None,
                        threads: Optional[int] = None) -> FixedPointResult:
    """Iterate S systems to their fixed points with the C++ CPU kernel.

    W: (S, n, n) or (n, n) shared; b: (S, n) or (n,); s0: (S, n) (default zeros);
    alpha: scalar | (S,) | tuple (alpha_start, alpha_end); beta, gamma: scalar | (S,);
    nonlinearity: 'tanh' | 'sign' | 'identity' | n names | int (n,) codes 0/1/2;
    clamp: (lo, hi) or None; noise_std >= 0; seed in [0, 2**64); tol >= 0 (0 = no early stop);
    max_iter >= 1; systems: S when every input is shared; threads: worker threads (None = all).
    Returns FixedPointResult(state (S, n) float64, iterations (S,) int32, residual (S,), converged).
    """
    func = "fixed_point_forward"
    nthreads = _threads(func, threads)
    p = _prepare(func, W, b, s0=s0, alpha=alpha, beta=beta, gamma=gamma, nonlinearity=nonlinearity,
                 clamp=clamp, noise_std=noise_std, seed=seed, tol=tol, max_iter=max_iter,
                 systems=systems)
    state, iterations, residual = native_forward(
        p.W, p.b, p.s0, p.alpha_start, p.alpha_end, p.beta, p.gamma, p.codes, p.clamp,
        p.noise_std, p.seed, p.tol, p.max_iter, nthreads)
    converged = residual <= p.tol  # the kernel's own test, on the same float64 value
    return FixedPointResult(state=state, iterations=iterations, residual=residual,
                            converged=converged)


def fixed_point_adjoint(W: np.ndarray, b: np.ndarray, state: np.ndarray, grad_state: np.ndarray, *,
                        alpha: Any = 0.5, beta: Any = 1.0, nonlinearity: Any = "tanh",
                        clamp: Optional[Tuple[float, float]] = None, tol: float = 1e-10,
                        max_iter: int = 1000, threads: Optional[int] = None,
                        method: str = "auto") -> FixedPointAdjointResult:
    """Implicit backward at a converged state: direct solve or the C++ adjoint iteration.

    W, b, alpha (constant scalar | (S,)), beta, nonlinearity, clamp: as in the forward;
    state: (S, n) converged s*; grad_state: (S, n) dL/ds*; tol, max_iter: adjoint iteration.
    method: 'direct' solves (I - J^T) v = g per system (NumPy LU, float64: valid wherever I - J is
    non-singular, also where the plain iteration diverges, e.g. a momentum forward with spectral
    radius of J > 1); 'iterate' runs v <- J^T v + g on the C++ kernel; 'auto' (default) iterates
    and solves directly the systems the iteration did not solve (their ``iterations`` keep the
    count of the failed iteration).  Check ``converged`` (residual at the returned v <= tol):
    gradients of a non-converged adjoint are not valid.
    Returns FixedPointAdjointResult with grad_b, grad_W, grad_beta, grad_alpha shaped like the
    forward inputs (summed over systems for shared ones).
    """
    func = "fixed_point_adjoint"
    nthreads = _threads(func, threads)
    if method not in ("auto", "direct", "iterate"):
        V.fail(func, "method", "'auto', 'direct' or 'iterate'", repr(method))
    p = _prepare_adjoint(func, W, b, state, grad_state, alpha=alpha, beta=beta,
                         nonlinearity=nonlinearity, clamp=clamp, tol=tol, max_iter=max_iter)
    if method == "direct":
        return _reference_adjoint(W, b, state, grad_state, alpha=alpha, beta=beta,
                                  nonlinearity=nonlinearity, clamp=clamp, tol=tol,
                                  max_iter=max_iter, method="direct")
    v, grad_b, grad_W, grad_beta, grad_alpha, iterations, residual = native_adjoint(
        p.W, p.b, p.s0, p.grad, p.alpha_start, p.beta, p.codes, p.clamp, p.tol, p.max_iter,
        nthreads)  # type: ignore[attr-defined]
    converged = residual <= p.tol
    if method == "auto" and not converged.all():
        return _patch_failed(W, b, state, grad_state, alpha, beta, nonlinearity, clamp, tol, max_iter, p,
                             v, iterations, residual, converged)
    return FixedPointAdjointResult(
        v=v, grad_b=grad_b.sum(axis=0) if p.b_shared else grad_b, grad_W=grad_W,
        grad_beta=np.asarray(grad_beta.sum()) if p.beta_scalar else grad_beta,
        grad_alpha=np.asarray(grad_alpha.sum()) if p.alpha_scalar else grad_alpha,
        iterations=iterations, residual=residual, converged=converged)


def _patch_failed(W, b, state, grad_state, alpha, beta, nonlinearity, clamp, tol, max_iter, p, v, iterations,
                  residual, converged) -> FixedPointAdjointResult:
    """method='auto': replace the systems the iteration did not solve by the direct solve, then
    recompute the gradients (NumPy, float64) from the patched adjoint v."""
    d = _reference_adjoint(W, b, state, grad_state, alpha=alpha, beta=beta, nonlinearity=nonlinearity,
                           clamp=clamp, tol=tol, max_iter=max_iter, method="direct")
    bad = ~converged
    v = v.copy()
    v[bad] = d.v[bad]
    residual = np.where(bad, d.residual, residual)
    fs, _fp, D = _jacobian_parts(p)
    grad_b, grad_W, grad_beta, grad_alpha = _adjoint_grads(p, v, fs, D)
    return FixedPointAdjointResult(v=v, grad_b=grad_b, grad_W=grad_W, grad_beta=grad_beta,
                                   grad_alpha=grad_alpha, iterations=iterations, residual=residual,
                                   converged=residual <= p.tol)
