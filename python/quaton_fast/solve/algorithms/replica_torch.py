"""The AOC-DT replica loop in PyTorch (backend ``"torch"``): any torch device, GPU included.

Same float32 operations in the same order as the NumPy reference (replica_kernels._run_batch_numpy),
one op per rounding, so on the CPU it agrees with the reference exactly wherever the spin sums
J @ sigma(X) are exact (integer couplings with binary variables; see replica_kernels).

The one matrix product per step can run in lower precision where that is *exact*:

- ``bf16``: J and the spins stored as bfloat16, fp32 accumulation (``torch.mm(..., out_dtype=float32)``,
  CUDA only). Exact when every variable is binary (spins are +-1) and J is integer-valued with
  |J_ij| <= 256 (bf16 has 8 significant bits) and every row sum sum_j |J_ij| < 2^24 (fp32 sums).
- ``tf32``: float32 tensors with TF32 tensor-core products (CUDA only). Exact under the same
  conditions with |J_ij| <= 2048 (TF32 has 11 significant bits).
- ``fp32``: full float32 (TF32 switched off during the run); the only choice with continuous
  variables or non-integer couplings.

``precision=None`` picks the fastest exact one for the device; asking for an inexact one is an error.
Best energies (float64) and best states are tracked on the device; one host sync per run.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import scipy.sparse as sp
import torch

from .replica_operator import DT, Operator

PRECISIONS = ("fp32", "tf32", "bf16")
_MAX_EXACT = {"bf16": 256.0, "tf32": 2048.0}
_FP32_EXACT_SUM = 2.0 ** 24


def _fail(arg: str, expected: str, got, exc: type = ValueError):
    raise exc(f"solve (torch backend): argument '{arg}' expected {expected}, got {got!r}")


def _abs_values(J) -> np.ndarray:
    return np.abs(J.data) if sp.issparse(J) else np.abs(np.asarray(J))


def exact_low_precisions(op: Operator) -> tuple[str, ...]:
    """The low precisions ('bf16', 'tf32') in which J @ sigma(X) is exact for this problem."""
    if op.continuous.any():
        return ()
    v = _abs_values(op.J32)
    if v.size and not np.all(v == np.round(v)):
        return ()
    row_sums = np.asarray(abs(op.J32).sum(axis=1)).ravel() if sp.issparse(op.J32) else v.sum(axis=1)
    if row_sums.size and row_sums.max() >= _FP32_EXACT_SUM:
        return ()
    vmax = float(v.max()) if v.size else 0.0
    return tuple(p for p in ("bf16", "tf32") if vmax <= _MAX_EXACT[p])


def bf16_product_available(device: torch.device) -> bool:
    """True when torch can multiply bf16 matrices into an fp32 result on this device."""
    if device.type != "cuda":
        return False
    try:
        a = torch.ones(2, 2, dtype=torch.bfloat16, device=device)
        return torch.mm(a, a, out_dtype=torch.float32).dtype == torch.float32
    except (TypeError, RuntimeError, NotImplementedError):
        return False


def choose_precision(op: Operator, device: torch.device, requested: str | None = None) -> str:
    """Precision of the spin product: ``requested`` checked for exactness, or the fastest exact one."""
    exact = exact_low_precisions(op)
    if requested is None:
        if device.type != "cuda":
            return "fp32"
        if "bf16" in exact and bf16_product_available(device):
            return "bf16"
        return "tf32" if "tf32" in exact else "fp32"
    if requested not in PRECISIONS:
        _fail("precision", f"one of {PRECISIONS} or None", requested)
    if requested == "fp32":
        return requested
    if device.type != "cuda":
        _fail("precision", "'fp32' on a non-CUDA device (tf32/bf16 products are CUDA tensor-core paths)",
              f"{requested!r} on {device}")
    if requested not in exact:
        _fail("precision", f"'fp32' for this problem ({requested} is exact only for binary variables and "
              f"integer couplings |J_ij| <= {_MAX_EXACT[requested]:g})", requested)
    if requested == "bf16" and not bf16_product_available(device):
        _fail("precision", "'tf32' or 'fp32' (this torch has no bf16 x bf16 -> fp32 torch.mm)", requested)
    return requested


class DeviceOperator:
    """J, h and the continuous mask of an Operator on one torch device, in one product precision."""

    def __init__(self, op: Operator, device: torch.device, precision: str):
        self.device, self.precision, self.n = device, precision, op.n
        if sp.issparse(op.J32):
            if precision == "bf16":
                _fail("precision", "'fp32' or 'tf32' with a sparse J (no bf16 sparse product)", precision)
            J = op.J32.tocsr()
            with warnings.catch_warnings():   # torch's "sparse CSR support is in beta" notice
                warnings.simplefilter("ignore", UserWarning)
                self.J = torch.sparse_csr_tensor(torch.from_numpy(J.indptr.astype(np.int64)),
                                                 torch.from_numpy(J.indices.astype(np.int64)),
                                                 torch.from_numpy(J.data.astype(np.float32)),
                                                 size=J.shape, device=device, check_invariants=True)
        else:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            self.J = torch.from_numpy(np.ascontiguousarray(op.J32, np.float32)).to(device=device, dtype=dtype)
        self.h = torch.from_numpy(op.h32).to(device).reshape(-1, 1)                  # (n, 1) float32
        self.h64 = self.h.double()                                                   # (n, 1) float64
        self.continuous = torch.from_numpy(op.continuous.astype(bool)).to(device).reshape(-1, 1)  # (n, 1)
        self.any_continuous = bool(op.continuous.any())

    def product(self, S: torch.Tensor) -> torch.Tensor:
        """J @ S for S: (n, R) float32 -> (n, R) float32."""
        if self.precision == "bf16":
            return torch.mm(self.J, S.to(torch.bfloat16), out_dtype=torch.float32)
        return self.J @ S


def device_operator(op: Operator, device: torch.device, precision: str) -> DeviceOperator:
    """The DeviceOperator of op on device (cached on op, one per device and precision)."""
    cache = op.__dict__.setdefault("_torch_cache", {})
    key = (str(device), precision)
    if key not in cache:
        cache[key] = DeviceOperator(op, device, precision)
    return cache[key]


@contextlib.contextmanager
def _matmul_tf32(enabled: bool):
    """TF32 products on (or off) for the duration of a run, then the user's setting back."""
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def run_batch_torch(op: Operator, a0, g, gamma, x0, steps: int, check_every: int,
                    device: torch.device | str = "cpu", precision: str | None = None):
    """One run of R replicas for ``steps`` steps from x0 on a torch device.

    a0, g, gamma: (R,) float32 (g already divided by ||J||_2); x0: (n, R) float32 (host arrays).
    Returns (best energies (R,) float64 without offset, best sign-states (n, R) float32) as NumPy."""
    device = torch.device(device)
    dop = device_operator(op, device, choose_precision(op, device, precision))
    with torch.no_grad(), _matmul_tf32(dop.precision == "tf32"):
        return _loop(dop, a0, g, gamma, x0, int(steps), int(check_every))


def _loop(dop, a0, g, gam, x0, T: int, check_every: int):
    """The replica iteration. dop: DeviceOperator (x0 (n, R)) or BlockOperator (x0 (B, n, R));
    a0, g, gam: (R,). Returns (best energies (..., R) float64, best sign-states like x0) as NumPy."""
    dev = dop.device

    def row(v):  # (R,) host float32 -> (1, R) device float32
        return torch.from_numpy(np.ascontiguousarray(v, np.float32)).to(dev).reshape(1, -1)

    x = torch.from_numpy(np.ascontiguousarray(x0, np.float32)).to(dev)            # (..., n, R)
    xp = x.clone()
    a0r, gamr = row(a0), row(gam)
    dtg = DT * row(g)                                                               # dt*g, (1, R)
    best_e = torch.full(x.shape[:-2] + x.shape[-1:], float("inf"), dtype=torch.float64, device=dev)
    best_s = torch.zeros_like(x)
    one = torch.ones((), dtype=torch.float32, device=dev)
    for t in range(T):
        s = torch.where(x >= 0, one, -one)
        if dop.any_continuous:
            s = torch.where(dop.continuous, x, s)
        Js = dop.product(s)
        if (t + 1) % check_every == 0 or t == T - 1:
            s64 = s.double()
            e = -0.5 * (s64 * Js.double()).sum(dim=-2) - (dop.h64 * s64).sum(dim=-2)
            better = e < best_e
            best_e = torch.where(better, e, best_e)
            best_s = torch.where(better.unsqueeze(-2), s, best_s)
        a = a0r * float(np.float32(1.0 - t / T))
        xn = x + dtg * (Js + dop.h) - (DT * a) * x + gamr * (x - xp)
        xn.clamp_(-1.0, 1.0)
        xp, x = x, xn
    return best_e.cpu().numpy(), best_s.cpu().numpy()


class BlockOperator:
    """B independent QUMO blocks of one size k on a torch device (the batched form for BCD).

    J: (B, k, k) float, h: (B, k) float, continuous: (B, k) bool. Products are one batched matmul
    per step, in TF32 on CUDA where exact (binary variables, integer |J| <= 2048), else fp32."""

    def __init__(self, J, h, continuous, device: torch.device):
        J, h, cont = np.asarray(J, np.float32), np.asarray(h, np.float32), np.asarray(continuous, bool)
        if J.ndim != 3 or J.shape[1] != J.shape[2] or h.shape != J.shape[:2] or cont.shape != J.shape[:2]:
            _fail("blocks", "J (B, k, k), h (B, k) and continuous (B, k)",
                  f"J {J.shape}, h {h.shape}, continuous {cont.shape}")
        exact = ("tf32" in exact_low_precisions(Operator(J.reshape(-1, J.shape[2]), h.reshape(-1), cont.reshape(-1)))
                 and device.type == "cuda")
        self.device, self.precision = device, "tf32" if exact else "fp32"
        self.J = torch.from_numpy(J).to(device)                                        # (B, k, k)
        self.h = torch.from_numpy(h).to(device).unsqueeze(-1)                          # (B, k, 1)
        self.h64 = self.h.double()
        self.continuous = torch.from_numpy(cont).to(device).unsqueeze(-1)              # (B, k, 1)
        self.any_continuous = bool(cont.any())

    def product(self, S: torch.Tensor) -> torch.Tensor:
        """J @ S per block: S (B, k, R) float32 -> (B, k, R) float32."""
        return torch.bmm(self.J, S)


def run_blocks_torch(J, h, continuous, a0, g, gamma, x0, steps: int, check_every: int,
                     device: torch.device | str = "cpu"):
    """One run of R replicas on each of B blocks at once (same hyperparameters for every block).

    J: (B, k, k), h: (B, k), continuous: (B, k); a0, g, gamma: (R,) float32 (g already scaled);
    x0: (B, k, R) float32. Returns (best energies (B, R) float64 without offsets, best states
    (B, k, R) float32), block by block the same numbers as run_batch_torch on that block alone."""
    device = torch.device(device)
    op = BlockOperator(J, h, continuous, device)
    with torch.no_grad(), _matmul_tf32(op.precision == "tf32"):
        return _loop(op, a0, g, gamma, x0, int(steps), int(check_every))
