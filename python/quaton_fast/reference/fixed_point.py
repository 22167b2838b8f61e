"""NumPy reference (ground truth) of the AOC digital-twin fixed-point iteration (one pass around the optical loop per step).

A batch of ``S`` independent systems with ``n`` variables each is iterated, one step being one
pass around the optical loop::

    y_t     = alpha(t)*s_t + beta*W @ f(s_t) + b + gamma*(s_t - s_{t-1}) + noise_std*xi_t
    s_{t+1} = clamp(y_t, lo, hi)                  (no clamp when ``clamp is None``)

with ``s_{-1} = s_0``, ``t = 0 .. max_iter-1``.  The C++ CPU kernel (``quaton_fast.aoc``) and the
CUDA kernels follow exactly these semantics; this module is what they are tested against.

Conventions
-----------
* ``f`` is chosen per variable: code 0 = ``tanh``, 1 = ``sign`` with ``sign(0) = +1``
  (``f(x) = +1 if x >= 0 else -1``), 2 = ``identity``.  ``f'`` = ``1 - tanh^2`` / ``0`` / ``1``.
* ``alpha``: a constant (scalar or ``(S,)``) or an annealing schedule given as a *tuple*
  ``(alpha_start, alpha_end)`` (each scalar or ``(S,)``)::

      alpha(t) = alpha_start + (alpha_end - alpha_start) * t / (T - 1),   T = max_iter

  evaluated in float64 in exactly this order (``((end - start) * t) / (T - 1)``); ``alpha(0)``
  for ``T = 1``.  The optimiser's ``alpha(t) = 1 - a(t)`` with ``a`` decreasing linearly to 0 is
  ``(1 - a0, 1.0)``.  A list or array (not a tuple) is a per-system constant.
* Convergence (the same definition in every backend: this reference, the C++ and CUDA kernels
  and the torch loop).  ``F`` is the deterministic map of the step, *without* momentum and noise,
  at the step's ``alpha``::

      F_t(s) = clamp(alpha(min(t, T-1))*s + beta*W f(s) + b)           (T = max_iter)

  The *residual* of a state is ``rho(s) = ||F(s) - s||_2 / scale(s)`` with the **scale**
  ``scale(s) = max(||F(s)||_2, TINY)`` (``TINY = 1e-30``), i.e. the fixed-point residual relative
  to the norm of the mapped state; ``rho = +inf`` when it is not a finite number (a NaN/Inf state
  or an overflowing norm).  A state is **converged** when ``rho(s) <= tol`` (so ``tol = 0`` means
  an exact fixed point).  For ``gamma = 0`` and no noise this is the old step test
  ``||s_{t+1} - s_t|| <= tol*||s_{t+1}||`` read as a statement about ``s_t``; with momentum the step
  ``s_{t+1} - s_t = F(s_t) - s_t + gamma*(s_t - s_{t-1})`` can be small at a point that is not a
  fixed point, so the step is never used as the test.
* Step ``t = 0, 1, ..., T``: compute ``F_t(s_t)`` (one matrix-vector product, shared with the
  update) and ``rho(s_t)``.  System ``i`` stops at ``s_t`` when ``tol > 0`` and ``rho <= tol``, when
  ``rho`` is not finite (diverged: reported as a failure, never as converged), or when ``t = T``
  (budget spent: after ``T`` updates the last state is checked, never returned unchecked).
  Otherwise it is updated (``s_{t+1} = clamp(y_t)`` above).  ``state[i]`` is that ``s_t``,
  ``iterations[i] = t`` the number of updates applied to ``s_0`` (``0 .. max_iter``; the number of
  map evaluations is ``t + 1``), ``residual[i] = rho(state[i])`` and ``converged[i] =
  residual[i] <= tol`` -- all evaluated AT the returned state.  A stopped system stays frozen (it
  draws no more noise).  With an annealing schedule a converged state is a fixed point of the map
  at ``alpha(min(iterations, T-1))`` -- the final ``alpha`` when the budget was spent.  With noise
  the test is on the noise-free map: a noisy iteration converges only if it comes within ``tol``
  of a fixed point of ``F``.
* Convergence is only guaranteed for contractive maps, e.g. when
  ``|alpha| + |beta| * ||W||_2 * max|f'| < 1`` (``max|f'| = 1`` for tanh and identity; sign is
  piecewise constant) and ``gamma = 0``.  Nothing here pretends: look at ``converged`` /
  ``residual``.  Near a fixed point at 0 the relative test needs an exact zero: use an ``s0`` or a
  ``b`` that keeps the fixed point away from 0, or read ``residual``.

Counter-based noise (reproduced bit-for-bit in the uniforms by C++ and CUDA)
----------------------------------------------------------------------------
All arithmetic on unsigned 64-bit integers modulo 2**64, ``G = 0x9E3779B97F4A7C15``::

    mix64(z):  z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
               z ^= z >> 31; return z                                   (splitmix64 finaliser)
    k1 = mix64(seed + G*(system + 1))          # system = global index 0..S-1 in the batch
    k2 = mix64(k1 + G*(t + 1))                 # t = step index 0..max_iter-1
    a  = mix64(k2 + G*(2*j + 1)); c = mix64(k2 + G*(2*j + 2))     # j = variable 0..n-1
    u1 = ((a >> 11) + 1) * 2**-53              # in (0, 1]
    u2 = (c >> 11) * 2**-53                    # in [0, 1)
    xi = sqrt(-2*log(u1)) * cos(6.283185307179586 * u2)     # Box-Muller, float64

``u1``, ``u2`` and the product ``2*pi*u2`` are exact/correctly rounded everywhere; ``log`` and
``cos`` come from the platform's libm, which agree to about 1 ulp, so ``xi`` agrees to ~1e-16.

Implicit backward
-----------------
At a converged state ``s*`` (momentum and noise play no role at the fixed point) the Jacobian of
the map is ``J = D (alpha I + beta W diag(f'(s*)))`` with ``D = diag(lo < y < hi)`` for the
pre-clamp value ``y = alpha s* + beta W f(s*) + b`` (``D = I`` without clamp).  The adjoint
``v = J^T v + g`` is solved directly (``method='direct'``: ``(I - J^T) v = g``) or by the plain
iteration ``v <- G(v) = J^T v + g`` from ``v_0 = g`` (``method='iterate'``), which converges only
when the spectral radius of ``J`` is < 1 -- a momentum forward can converge where it cannot.  Both
report the residual ``||G(v) - v|| / max(||G(v)||, TINY)`` AT the returned ``v`` and ``converged =
residual <= tol`` (the forward's definition with ``F`` replaced by ``G``).  Then with ``u = D v``::

    grad_b = u,  grad_W = beta u f(s*)^T,  grad_beta = u^T W f(s*),  grad_alpha = u^T s*

each summed over systems when the corresponding input was shared (scalar / unbatched).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _validation as V

__all__ = [
    "NONLINEARITY_CODES", "TINY", "relative_residual", "FixedPointResult", "FixedPointAdjointResult",
    "fixed_point_forward", "fixed_point_adjoint", "alpha_schedule", "counter_normal",
    "counter_uniforms", "mix64", "nonlinearity_codes", "apply_nonlinearity",
    "nonlinearity_derivative",
]

NONLINEARITY_CODES = {"tanh": 0, "sign": 1, "identity": 2}
_ALIASES = {"linear": "identity", "id": "identity"}
TINY = 1e-30
MAX_N = 256  # hardware size is 16; the CPU kernel supports n <= 256
MAX_ITER = 2 ** 31 - 2  # steps are counted in a C int (t runs to max_iter inclusive)

_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_PI = 6.283185307179586
_TWO_M53 = 2.0 ** -53


# ----------------------------------------------------------------------------- RNG
def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * _M1
        z = z ^ (z >> np.uint64(27))
        z = z * _M2
        z = z ^ (z >> np.uint64(31))
    return z


def counter_uniforms(seed: int, systems: np.ndarray, t: int, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(u1, u2)`` of shape ``(len(systems), n)``: u1 in (0, 1], u2 in [0, 1) (module docstring)."""
    sysv = np.asarray(systems, dtype=np.uint64).reshape(-1, 1)
    j = np.arange(n, dtype=np.uint64).reshape(1, -1)
    one, two = np.uint64(1), np.uint64(2)
    with np.errstate(over="ignore"):
        k1 = mix64(np.uint64(seed) + _G * (sysv + one))
        k2 = mix64(k1 + _G * np.uint64(t + 1))
        a = mix64(k2 + _G * (two * j + one))
        c = mix64(k2 + _G * (two * j + two))
    u1 = ((a >> np.uint64(11)) + one).astype(np.float64) * _TWO_M53
    u2 = (c >> np.uint64(11)).astype(np.float64) * _TWO_M53
    return u1, u2


def counter_normal(seed: int, systems: np.ndarray, t: int, n: int) -> np.ndarray:
    """Standard normal draws ``xi[system, t, j]`` for the given systems at step ``t``: (len, n)."""
    u1, u2 = counter_uniforms(seed, systems, t, n)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)


# ----------------------------------------------------------------------------- nonlinearities
def nonlinearity_codes(func: str, nonlinearity: Any, n: int) -> np.ndarray:
    """Parse ``nonlinearity`` (a name, a sequence of n names, or n integer codes) to int8 (n,)."""
    def code_of(name: Any) -> int:
        if isinstance(name, str):
            key = _ALIASES.get(name.lower(), name.lower())
            if key in NONLINEARITY_CODES:
                return NONLINEARITY_CODES[key]
        V.fail(func, "nonlinearity", "'tanh', 'sign', 'identity' (or codes 0, 1, 2)", repr(name))
        raise AssertionError  # unreachable

    if isinstance(nonlinearity, str):
        return np.full(n, code_of(nonlinearity), dtype=np.int8)
    if isinstance(nonlinearity, np.ndarray) and nonlinearity.dtype.kind in "iu":
        codes = nonlinearity
    elif isinstance(nonlinearity, (list, tuple, np.ndarray)):
        items = list(np.asarray(nonlinearity, dtype=object).reshape(-1)) if isinstance(
            nonlinearity, np.ndarray) else list(nonlinearity)
        if np.ndim(nonlinearity) != 1 or len(items) != n:
            V.fail(func, "nonlinearity", f"one name or a sequence of n = {n} entries",
                   f"{len(items)} entries")
        if all(isinstance(x, str) for x in items):
            return np.array([code_of(x) for x in items], dtype=np.int8)
        if all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in items):
            codes = np.array(items, dtype=np.int64)
        else:
            V.fail(func, "nonlinearity", "names or integer codes", repr(nonlinearity), TypeError)
            raise AssertionError
    else:
        V.fail(func, "nonlinearity", "a name, a sequence of names or an int array of codes",
               type(nonlinearity).__name__, TypeError)
        raise AssertionError
    if codes.shape != (n,):
        V.fail(func, "nonlinearity", f"of shape ({n},)", f"shape {codes.shape}")
    if np.any((codes < 0) | (codes > 2)):
        V.fail(func, "nonlinearity", "codes in {0 = tanh, 1 = sign, 2 = identity}",
               f"values {sorted(set(int(c) for c in np.unique(codes)))}")
    return codes.astype(np.int8)


def apply_nonlinearity(s: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """f(s) per variable (last axis); sign(0) = +1."""
    out = np.where(s >= 0.0, 1.0, -1.0)
    out = np.where(codes == 0, np.tanh(s), out)
    return np.where(codes == 2, s, out)


def nonlinearity_derivative(s: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """f'(s) per variable: 1 - tanh^2 / 0 / 1."""
    th = np.tanh(s)
    return np.where(codes == 0, 1.0 - th * th, np.where(codes == 2, 1.0, 0.0))


def alpha_schedule(alpha_start: Union[float, np.ndarray], alpha_end: Union[float, np.ndarray],
                   t: int, max_iter: int) -> Union[float, np.ndarray]:
    """``alpha(t) = start + (end - start) * t / (T - 1)`` (``start`` when ``T == 1``)."""
    if max_iter <= 1:
        return np.asarray(alpha_start, dtype=np.float64) + 0.0
    a0 = np.asarray(alpha_start, dtype=np.float64)
    a1 = np.asarray(alpha_end, dtype=np.float64)
    return a0 + (a1 - a0) * float(t) / float(max_iter - 1)


# ----------------------------------------------------------------------------- input preparation
@dataclass
class _Prepared:
    """Normalised float64 inputs shared by the reference and the C++ front."""
    W: np.ndarray            # (S, n, n) or (n, n) float64, C-contiguous
    W_shared: bool
    b: np.ndarray            # (S, n) or (n,)
    b_shared: bool
    s0: np.ndarray           # (S, n)
    alpha_start: np.ndarray  # (S,)
    alpha_end: np.ndarray    # (S,)
    alpha_scalar: bool
    alpha_is_schedule: bool
    beta: np.ndarray         # (S,)
    beta_scalar: bool
    gamma: np.ndarray        # (S,)
    codes: np.ndarray        # (n,) int8
    clamp: Optional[Tuple[float, float]]
    noise_std: float
    seed: int
    tol: float
    max_iter: int
    S: int
    n: int


def _real_array(func: str, arg: str, value: Any) -> np.ndarray:
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            V.fail(func, arg, "a real array", repr(value), TypeError)
    a = V.array(func, arg, value, complex_ok=False)
    return np.ascontiguousarray(a, dtype=np.float64)


def _per_system(func: str, arg: str, value: Any, S: Optional[int]) -> Tuple[np.ndarray, bool]:
    """Scalar or (S,) -> float64 array (or scalar array) and whether it was scalar."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.asarray(V.finite_real(func, arg, value), dtype=np.float64), True
    a = _real_array(func, arg, value)
    if a.ndim == 0:
        return a, True
    if a.ndim != 1 or (S is not None and a.shape[0] != S):
        V.fail(func, arg, "a real scalar or an array of shape (S,)" + (f" with S = {S}" if S else ""),
               f"shape {V._fmt_shape(a.shape)}")
    return a, False


def _parse_clamp(func: str, clamp: Any) -> Optional[Tuple[float, float]]:
    if clamp is None:
        return None
    if not isinstance(clamp, (tuple, list, np.ndarray)) or len(clamp) != 2:
        V.fail(func, "clamp", "None or a pair (lo, hi)", repr(clamp), TypeError)
    lo = V.finite_real(func, "clamp", float(clamp[0]) if isinstance(clamp[0], np.floating) else clamp[0])
    hi = V.finite_real(func, "clamp", float(clamp[1]) if isinstance(clamp[1], np.floating) else clamp[1])
    if not lo < hi:
        V.fail(func, "clamp", "a pair (lo, hi) with lo < hi", (lo, hi))
    return (lo, hi)


def _system_matrix(func: str, W: Any, b: Any) -> Tuple[np.ndarray, np.ndarray, int]:
    W = _real_array(func, "W", W) if not (isinstance(W, np.ndarray) and W.size == 0) else W
    if not isinstance(W, np.ndarray):
        V.fail(func, "W", "a numpy.ndarray", type(W).__name__, TypeError)
    if W.ndim not in (2, 3) or W.shape[-1] != W.shape[-2]:
        V.fail(func, "W", "of shape (S, n, n) or (n, n)", f"shape {V._fmt_shape(W.shape)}")
    n = int(W.shape[-1])
    if n < 1 or W.size == 0:
        V.fail(func, "W", "non-empty with n >= 1 variables", f"shape {V._fmt_shape(W.shape)}")
    if n > MAX_N:
        V.fail(func, "W", f"of size n <= {MAX_N}", f"n = {n}")
    b = _real_array(func, "b", b)
    if b.ndim not in (1, 2) or b.shape[-1] != n:
        V.fail(func, "b", f"of shape (S, {n}) or ({n},) to match W", f"shape {V._fmt_shape(b.shape)}")
    return W, b, n


def _infer_S(func: str, candidates: Sequence[Tuple[str, Optional[int]]], systems: Optional[int]) -> int:
    S = None
    src = None
    if systems is not None:
        S = V.positive_int(func, "systems", systems)
        src = "systems"
    for name, size in candidates:
        if size is None:
            continue
        if S is None:
            S, src = size, name
        elif size != S:
            V.fail(func, name, f"batched over S = {S} systems (as '{src}')", f"{size} systems")
    return 1 if S is None else S


def _prepare(func: str, W: Any, b: Any, *, s0: Any, alpha: Any, beta: Any, gamma: Any,
             nonlinearity: Any, clamp: Any, noise_std: Any, seed: Any, tol: Any, max_iter: Any,
             systems: Optional[int] = None, s0_name: str = "s0") -> _Prepared:
    W, b, n = _system_matrix(func, W, b)
    if s0 is not None:
        s0 = _real_array(func, s0_name, s0)
        if s0.ndim != 2 or s0.shape[1] != n:
            V.fail(func, s0_name, f"of shape (S, {n})", f"shape {V._fmt_shape(s0.shape)}")
    # alpha: tuple -> schedule
    is_sched = isinstance(alpha, tuple)
    if is_sched:
        if len(alpha) != 2:
            V.fail(func, "alpha", "a constant or a schedule tuple (alpha_start, alpha_end)",
                   f"a tuple of length {len(alpha)}")
        a0, a0_scalar = _per_system(func, "alpha", alpha[0], None)
        a1, a1_scalar = _per_system(func, "alpha", alpha[1], None)
        alpha_scalar = a0_scalar and a1_scalar
        alpha_sizes = [("alpha", None if a0_scalar else a0.shape[0]),
                       ("alpha", None if a1_scalar else a1.shape[0])]
    else:
        a0, alpha_scalar = _per_system(func, "alpha", alpha, None)
        a1 = a0
        alpha_sizes = [("alpha", None if alpha_scalar else a0.shape[0])]
    beta_a, beta_scalar = _per_system(func, "beta", beta, None)
    gamma_a, gamma_scalar = _per_system(func, "gamma", gamma, None)
    S = _infer_S(func, [("W", W.shape[0] if W.ndim == 3 else None),
                        ("b", b.shape[0] if b.ndim == 2 else None),
                        (s0_name, s0.shape[0] if s0 is not None else None),
                        *alpha_sizes,
                        ("beta", None if beta_scalar else beta_a.shape[0]),
                        ("gamma", None if gamma_scalar else gamma_a.shape[0])], systems)
    codes = nonlinearity_codes(func, nonlinearity, n)
    clamp_t = _parse_clamp(func, clamp)
    noise = V.finite_real(func, "noise_std", noise_std, nonnegative=True)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2 ** 64:
        V.fail(func, "seed", "an integer in [0, 2**64)", repr(seed), TypeError if not isinstance(
            seed, numbers.Integral) else ValueError)
    tol_f = V.finite_real(func, "tol", tol, nonnegative=True)
    T = V.positive_int(func, "max_iter", max_iter)
    if T > MAX_ITER:
        V.fail(func, "max_iter", f"an integer <= {MAX_ITER} (the kernels count steps in a C int)", T)
    if s0 is None:
        s0 = np.zeros((S, n), dtype=np.float64)
    full = lambda a: np.ascontiguousarray(np.broadcast_to(a, (S,)), dtype=np.float64)  # noqa: E731
    return _Prepared(W=W, W_shared=W.ndim == 2, b=b, b_shared=b.ndim == 1, s0=s0,
                     alpha_start=full(a0), alpha_end=full(a1), alpha_scalar=alpha_scalar,
                     alpha_is_schedule=is_sched, beta=full(beta_a), beta_scalar=beta_scalar,
                     gamma=full(gamma_a), codes=codes, clamp=clamp_t, noise_std=noise,
                     seed=int(seed), tol=tol_f, max_iter=T, S=S, n=n)


# ----------------------------------------------------------------------------- results
@dataclass
class FixedPointResult:
    """Output of ``fixed_point_forward``.

    state:      (S, n) float64 returned state s (frozen at the stopping step)
    iterations: (S,) int32 number of updates applied to s0 (0 .. max_iter)
    residual:   (S,) float64 ||F(s) - s|| / max(||F(s)||, TINY) AT the returned s (+inf if not finite)
    converged:  (S,) bool, residual <= tol (module docstring: "Convergence")
    """
    state: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray
    converged: np.ndarray


@dataclass
class FixedPointAdjointResult:
    """Output of ``fixed_point_adjoint``; gradients have the shapes of the forward inputs.

    v:          (S, n) adjoint solution of v = J^T v + g
    grad_b:     (S, n) or (n,) (summed when b was shared)
    grad_W:     (S, n, n) or (n, n)
    grad_beta:  (S,) or scalar float64 array
    grad_alpha: (S,) or scalar float64 array (None for an annealing schedule)
    iterations: (S,) int32 iterations applied (0 for method='direct')
    residual:   (S,) ||G(v) - v|| / max(||G(v)||, TINY) at the returned v, G(v) = J^T v + g; +inf if not finite
    converged:  (S,) bool, residual <= tol
    """
    v: np.ndarray
    grad_b: np.ndarray
    grad_W: np.ndarray
    grad_beta: np.ndarray
    grad_alpha: Optional[np.ndarray]
    iterations: np.ndarray
    residual: np.ndarray
    converged: np.ndarray


def _matvec(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(S,n,n)|(n,n) @ (S,n) -> (S,n)."""
    if W.ndim == 2:
        return x @ W.T
    return np.matmul(W, x[:, :, None])[:, :, 0]


def _matvec_T(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """W^T x for (S,n,n)|(n,n) and (S,n)."""
    if W.ndim == 2:
        return x @ W
    return np.matmul(x[:, None, :], W)[:, 0, :]


# ----------------------------------------------------------------------------- forward
def fixed_point_forward(W: np.ndarray, b: np.ndarray, *, s0: Optional[np.ndarray] = None,
                        alpha: Any = 0.5, beta: Any = 1.0, gamma: Any = 0.0,
                        nonlinearity: Any = "tanh", clamp: Optional[Tuple[float, float]] = None,
                        noise_std: float = 0.0, seed: int = 0, tol: float = 1e-3,
                        max_iter: int = 100, systems: Optional[int] = None) -> FixedPointResult:
    """Iterate S systems to their fixed points (NumPy float64 reference; see module docstring).

    W: (S, n, n) or (n, n) shared; b: (S, n) or (n,); s0: (S, n) (default zeros);
    alpha: scalar | (S,) | tuple (alpha_start, alpha_end) annealing schedule;
    beta, gamma: scalar | (S,); nonlinearity: 'tanh' | 'sign' | 'identity' | n names | int8 (n,)
    codes; clamp: (lo, hi) or None; noise_std >= 0, seed in [0, 2**64); tol >= 0 (0 = no early
    stop), max_iter >= 1; systems: S when every input is shared (default 1).
    """
    p = _prepare("fixed_point_forward", W, b, s0=s0, alpha=alpha, beta=beta, gamma=gamma,
                 nonlinearity=nonlinearity, clamp=clamp, noise_std=noise_std, seed=seed, tol=tol,
                 max_iter=max_iter, systems=systems)
    return _forward_prepared(p)


def relative_residual(mapped: np.ndarray, state: np.ndarray) -> np.ndarray:
    """``||mapped - state|| / max(||mapped||, TINY)`` per row, ``+inf`` where not finite: (S,)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        r = np.sqrt(np.sum((mapped - state) ** 2, axis=1))
        sc = np.maximum(np.sqrt(np.sum(mapped * mapped, axis=1)), TINY)
        rel = r / sc
    return np.where(np.isfinite(rel) & np.isfinite(sc), rel, np.inf)


def _forward_prepared(p: _Prepared) -> FixedPointResult:
    S, n, T = p.S, p.n, p.max_iter
    s = p.s0.copy()
    s_prev = s.copy()
    iters = np.zeros(S, dtype=np.int32)
    resid = np.full(S, np.inf, dtype=np.float64)
    active = np.ones(S, dtype=bool)
    codes = p.codes
    has_gamma = bool(np.any(p.gamma != 0.0))
    for t in range(T + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        st = s[idx]
        Wt = p.W if p.W_shared else p.W[idx]
        bt = p.b if p.b_shared else p.b[idx]
        a_t = alpha_schedule(p.alpha_start[idx], p.alpha_end[idx], min(t, T - 1), T)
        with np.errstate(over="ignore", invalid="ignore"):
            pre = a_t[:, None] * st + p.beta[idx][:, None] * _matvec(Wt, apply_nonlinearity(st, codes)) + bt
        mapped = pre if p.clamp is None else np.minimum(np.maximum(pre, p.clamp[0]), p.clamp[1])
        rel = relative_residual(mapped, st)
        iters[idx] = t
        resid[idx] = rel
        stop = ~np.isfinite(rel) | ((rel <= p.tol) if p.tol > 0.0 else False) | (t == T)
        active[idx[stop]] = False
        keep = ~stop
        if not keep.any():
            continue
        idx, st, y = idx[keep], st[keep], pre[keep]
        with np.errstate(over="ignore", invalid="ignore"):
            if has_gamma:
                y = y + p.gamma[idx][:, None] * (st - s_prev[idx])
            if p.noise_std > 0.0:
                y = y + p.noise_std * counter_normal(p.seed, idx, t, n)
        if p.clamp is not None:
            y = np.minimum(np.maximum(y, p.clamp[0]), p.clamp[1])
        s_prev[idx] = st
        s[idx] = y
    conv = resid <= p.tol
    return FixedPointResult(state=s, iterations=iters, residual=resid, converged=conv)


# ----------------------------------------------------------------------------- adjoint
def _prepare_adjoint(func: str, W: Any, b: Any, state: Any, grad_state: Any, *, alpha: Any,
                     beta: Any, nonlinearity: Any, clamp: Any, tol: Any, max_iter: Any) -> _Prepared:
    if isinstance(alpha, tuple):
        V.fail(func, "alpha", "a constant (scalar or (S,)); the adjoint is defined at a fixed point "
               "of a constant map", "an annealing schedule tuple")
    st = _real_array(func, "state", state)
    if st.ndim != 2:
        V.fail(func, "state", "of shape (S, n)", f"shape {V._fmt_shape(st.shape)}")
    p = _prepare(func, W, b, s0=st, alpha=alpha, beta=beta, gamma=0.0, nonlinearity=nonlinearity,
                 clamp=clamp, noise_std=0.0, seed=0, tol=tol, max_iter=max_iter, s0_name="state")
    g = _real_array(func, "grad_state", grad_state)
    V.same_shape(func, "grad_state", g, (p.S, p.n))
    p.grad = g  # type: ignore[attr-defined]
    return p


def _jacobian_parts(p: _Prepared) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f(s*), f'(s*), D) at s* = p.s0, all (S, n)."""
    s = p.s0
    fs = apply_nonlinearity(s, p.codes)
    fp = nonlinearity_derivative(s, p.codes)
    if p.clamp is None:
        D = np.ones_like(s)
    else:
        y = p.alpha_start[:, None] * s + p.beta[:, None] * _matvec(p.W, fs) + p.b
        D = ((y > p.clamp[0]) & (y < p.clamp[1])).astype(np.float64)
    return fs, fp, D


def _adjoint_grads(p: _Prepared, v: np.ndarray, fs: np.ndarray, D: np.ndarray):
    u = D * v
    grad_b = u.sum(axis=0) if p.b_shared else u
    if p.W_shared:
        grad_W = np.einsum("s,si,sj->ij", p.beta, u, fs)
    else:
        grad_W = p.beta[:, None, None] * u[:, :, None] * fs[:, None, :]
    gb = np.sum(u * _matvec(p.W, fs), axis=1)
    ga = np.sum(u * p.s0, axis=1)
    grad_beta = np.asarray(gb.sum()) if p.beta_scalar else gb
    grad_alpha = np.asarray(ga.sum()) if p.alpha_scalar else ga
    return grad_b, grad_W, grad_beta, grad_alpha


def _adjoint_map(a, bt, fp, D, W, v, g):
    """G(v) = J^T v + g = a*(D v) + bt*f' * W^T (D v) + g, all (S, n)."""
    u = D * v
    with np.errstate(over="ignore", invalid="ignore"):
        return a * u + bt * fp * _matvec_T(W, u) + g


def fixed_point_adjoint(W: np.ndarray, b: np.ndarray, state: np.ndarray, grad_state: np.ndarray, *,
                        alpha: Any = 0.5, beta: Any = 1.0, nonlinearity: Any = "tanh",
                        clamp: Optional[Tuple[float, float]] = None, tol: float = 1e-10,
                        max_iter: int = 1000, method: str = "iterate") -> FixedPointAdjointResult:
    """Implicit-differentiation backward of ``fixed_point_forward`` at a converged state.

    W, b, alpha (constant), beta, nonlinearity, clamp: as in the forward;
    state: (S, n) converged s*; grad_state: (S, n) dL/ds*.
    method='iterate': v <- G(v) = J^T v + g from v_0 = g with the forward's stopping rule (tol,
    max_iter; the residual is checked at the returned v); method='direct': solve (I - J^T) v = g
    with numpy.linalg.solve (a singular I - J^T gives NaN, converged False).
    Convergence of the iteration needs spectral radius of J < 1 (see module docstring); the
    result's ``converged`` says whether the returned gradients are valid.
    """
    func = "fixed_point_adjoint"
    p = _prepare_adjoint(func, W, b, state, grad_state, alpha=alpha, beta=beta,
                         nonlinearity=nonlinearity, clamp=clamp, tol=tol, max_iter=max_iter)
    if method not in ("iterate", "direct"):
        V.fail(func, "method", "'iterate' or 'direct'", repr(method))
    g = p.grad  # type: ignore[attr-defined]
    fs, fp, D = _jacobian_parts(p)
    S, n = p.S, p.n
    a = p.alpha_start[:, None]
    bt = p.beta[:, None]
    if method == "direct":
        Wb = np.broadcast_to(p.W, (S, n, n))
        # J^T = (alpha I + beta diag(f') W^T) D
        JT = (a[:, :, None] * np.eye(n)[None] + bt[:, :, None] * fp[:, :, None]
              * np.swapaxes(Wb, 1, 2)) * D[:, None, :]
        try:
            v = np.linalg.solve(np.eye(n)[None] - JT, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # I - J^T singular: no implicit gradient exists
            v = np.full((S, n), np.nan)
        Wt = p.W
        resid = relative_residual(_adjoint_map(a, bt, fp, D, Wt, v, g), v)
        iters = np.zeros(S, dtype=np.int32)
        conv = resid <= p.tol
    else:
        v = g.copy()
        iters = np.zeros(S, dtype=np.int32)
        resid = np.full(S, np.inf, dtype=np.float64)
        active = np.ones(S, dtype=bool)
        for t in range(p.max_iter + 1):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            vt = v[idx]
            Wt = p.W if p.W_shared else p.W[idx]
            vn = _adjoint_map(a[idx], bt[idx], fp[idx], D[idx], Wt, vt, g[idx])
            rel = relative_residual(vn, vt)
            iters[idx] = t
            resid[idx] = rel
            stop = ~np.isfinite(rel) | ((rel <= p.tol) if p.tol > 0.0 else False) | (t == p.max_iter)
            active[idx[stop]] = False
            keep = idx[~stop]
            v[keep] = vn[~stop]
        conv = resid <= p.tol
    grad_b, grad_W, grad_beta, grad_alpha = _adjoint_grads(p, v, fs, D)
    return FixedPointAdjointResult(v=v, grad_b=grad_b, grad_W=grad_W, grad_beta=grad_beta,
                                   grad_alpha=grad_alpha, iterations=iters, residual=resid,
                                   converged=conv)
