"""CPU dispatch of the torch fixed point (:mod:`quaton_fast.functional.fixed_point`) to the C++ kernels.

``quaton_fast._C.fixed_point_forward_cpu`` / ``fixed_point_adjoint_cpu`` run in float64 with the GIL
released on ``torch.get_num_threads()`` threads; they implement the same iteration, stopping rule,
clamp and implicit adjoint as the torch loop (semantics: ``cpp/include/quaton/fixed_point.h``).

Precision: float64 tensors go to the kernels as they are (zero-copy when contiguous); float32 tensors
are widened to float64 (exact), the iteration and the adjoint run in float64 and the results are
rounded back to float32 once.  The float64 state is what backward linearises around.  So a float32
call gives the float64 fixed point rounded to float32 (more accurate than the float32 torch loop),
and its iteration counts are the float64 ones (they can differ by a step from the float32 loop's).

Both the adjoint kernel and the torch adjoint iteration stop per system, with the residual checked
at the returned ``v`` (``quaton_fast.reference.fixed_point``, "Implicit backward").

:func:`native_forward` / :func:`native_adjoint` are the NumPy-level calls used by
:mod:`quaton_fast.aoc.fixed_point` (the kernel layer is the only one that calls ``_C``).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from .._backend import native

__all__ = ["native_cpu_usable", "forward_cpu", "adjoint_cpu", "native_forward", "native_adjoint"]

_NL_CODES = {"tanh": 0, "sign": 1, "identity": 2}
_MAX_N = 256  # kFixedPointMaxN in cpp/include/quaton/fixed_point.h


def native_cpu_usable(W: torch.Tensor, b: torch.Tensor, s0: Optional[torch.Tensor]) -> bool:
    """True when the compiled kernels exist and the inputs are CPU float32/float64 tensors they take.

    W: (S, n, n) | (n, n); b: (S, n); s0: (S, n) or None.
    """
    C = native()
    if C is None or not hasattr(C, "fixed_point_forward_cpu"):
        return False
    ts = (W, b) if s0 is None else (W, b, s0)
    return (all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in ts)
            and 1 <= b.shape[1] <= _MAX_N)


def _f64(t: torch.Tensor) -> np.ndarray:
    """Tensor -> C-contiguous float64 NumPy array (no copy for a contiguous float64 tensor)."""
    return np.ascontiguousarray(t.detach().to(torch.float64).numpy())


def _per_system(x, S: int) -> np.ndarray:
    """Python number / tensor scalar / (S,) tensor -> (S,) float64 array."""
    a = np.asarray(x.detach().to(torch.float64).numpy() if isinstance(x, torch.Tensor) else x,
                   dtype=np.float64).reshape(-1)
    return np.ascontiguousarray(np.broadcast_to(a, (S,)) if a.size == 1 else a.reshape(S))


def _codes(nl: str, n: int) -> np.ndarray:
    return np.full(n, _NL_CODES[nl], dtype=np.int8)


def _threads() -> int:
    return max(1, int(torch.get_num_threads()))


def native_forward(W: np.ndarray, b: np.ndarray, s0: Optional[np.ndarray], alpha_start: np.ndarray,
                   alpha_end: np.ndarray, beta: np.ndarray, gamma: np.ndarray, codes: np.ndarray,
                   clamp: Optional[Tuple[float, float]], noise_std: float, seed: int, tol: float,
                   max_iter: int, threads: int):
    """``_C.fixed_point_forward_cpu`` on checked float64 arrays (GIL released); threads 0 = all.

    -> (state (S,n) float64, iterations (S,) int32, residual (S,) float64)."""
    C = native()
    if C is None:
        from .._backend import require_native
        C = require_native("quaton_fast.aoc.fixed_point_forward")
    return C.fixed_point_forward_cpu(W, b, s0, alpha_start, alpha_end, beta, gamma, codes, clamp,
                                     noise_std, seed, tol, max_iter, threads)


def native_adjoint(W: np.ndarray, b: np.ndarray, state: np.ndarray, grad: np.ndarray, alpha: np.ndarray,
                   beta: np.ndarray, codes: np.ndarray, clamp: Optional[Tuple[float, float]], tol: float,
                   max_iter: int, threads: int):
    """``_C.fixed_point_adjoint_cpu`` on checked float64 arrays -> (v, grad_b, grad_W, grad_beta,
    grad_alpha, iterations, residual) (per system; grad_W summed for a shared W)."""
    C = native()
    if C is None:
        from .._backend import require_native
        C = require_native("quaton_fast.aoc.fixed_point_adjoint")
    return C.fixed_point_adjoint_cpu(W, b, state, grad, alpha, beta, codes, clamp, tol, max_iter, threads)


def forward_cpu(W: torch.Tensor, b: torch.Tensor, alpha, beta, gamma, nl: str,
                clamp: Optional[Tuple[float, float]], tol: float, max_iter: int,
                s0: Optional[torch.Tensor], alpha_end=None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward on the C++ kernel. W: (S,n,n)|(n,n); b: (S,n); alpha (= alpha_start), alpha_end
    (None: constant), beta, gamma: number | tensor scalar | (S,); s0: (S,n) | None. Returns
    (state (S,n) float64, iterations (S,) int64, residual (S,) float64) -- residual at the state."""
    S, n = b.shape
    a = _per_system(alpha, S)
    a1 = a if alpha_end is None else _per_system(alpha_end, S)
    C = native()
    state, it, res = C.fixed_point_forward_cpu(
        _f64(W), _f64(b), None if s0 is None else _f64(s0), a, a1, _per_system(beta, S),
        _per_system(gamma, S), _codes(nl, n), None if clamp is None else (float(clamp[0]), float(clamp[1])),
        0.0, 0, float(tol), int(max_iter), _threads())
    return (torch.from_numpy(state), torch.from_numpy(it.astype(np.int64)), torch.from_numpy(res))


def adjoint_cpu(W: torch.Tensor, b: torch.Tensor, state64: torch.Tensor, grad: torch.Tensor, alpha, beta,
                nl: str, clamp: Optional[Tuple[float, float]], btol: float, bmax: int):
    """Implicit backward (adjoint iteration) on the C++ kernel at the float64 fixed point ``state64``.

    grad: (S,n) dL/ds*. Returns float64 (grad_W (S,n,n) or (n,n) summed for a shared W,
    grad_b (S,n), grad_beta (S,), grad_alpha (S,), residual (S,), v (S,n)) -- per system; the
    caller reduces scalars and checks the residual.
    """
    S, n = state64.shape
    C = native()
    v, gb, gW, gbe, ga, _it, res = C.fixed_point_adjoint_cpu(
        _f64(W), _f64(b), _f64(state64), _f64(grad), _per_system(alpha, S), _per_system(beta, S),
        _codes(nl, n), None if clamp is None else (float(clamp[0]), float(clamp[1])),
        float(btol), int(bmax), _threads())
    return (torch.from_numpy(gW), torch.from_numpy(gb), torch.from_numpy(gbe), torch.from_numpy(ga),
            torch.from_numpy(res), torch.from_numpy(v))
