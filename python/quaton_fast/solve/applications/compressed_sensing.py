"""Compressed-sensing reconstruction of a Shepp-Logan phantom line as a QUMO (the paper's second problem).

Signal: one row of the modified Shepp-Logan phantom (Toft's contrast-enhanced ellipse table, the
one scikit-image and MATLAB use), evaluated at the pixel centres of an n x n grid on [-1, 1]^2;
intensities are in [0, 1] (background 0, skull 1, brain 0.2, ventricles 0, small features 0.1-0.4).

Measurements: ``meas = A u_true (+ noise)`` with A (m, n) = m rows of the orthonormal Walsh-Hadamard
matrix (Sylvester order, n a power of 2; the DC row is always kept, the others drawn at random,
seeded), or a random +-1/sqrt(n) matrix. The paper drops 12 of 32 measurements (m = 20, 1.6x
undersampling), the default here.

Reconstruction (pixel-domain L0 with non-negative amplitudes; 2n variables, 64 for the paper's
32-pixel line): amplitudes ``u_i in [0, u_max]`` (continuous) and supports ``s_i in {0, 1}``
(binary), minimise

  ``F(u, s) = ||meas - A u||^2 + lam * sum_i s_i + mu * sum_i u_i (1 - s_i)``.

The last term is bilinear (continuous x binary), so F is a QUMO; it forbids intensity off the
support: for fixed s it is a convex box QP in u, and with ``mu > 2 max_i ||A e_i|| ||meas||`` (the
default: 1.1 times that bound) every off-support u_i is exactly 0 at its optimum (the derivative of
F in u_i at u_i = 0 is >= mu - 2 ||A e_i|| ||meas - A u|| > 0, as ||meas - A u|| <= ||meas|| at the
optimum). So the QUMO minimum is ``min_S min_{u_S in box} ||meas - A_S u_S||^2 + lam |S|``, the
box-constrained L0 problem. lam trades fit against support size (default 0.01: dropping a
0.2-intensity pixel must leave a residual above lam, or a sparser wrong image wins). Target for the
solver: the energy of the planted solution (u = truth, s = truth != 0), ``lam * |support|``
without noise.

Which line: L0 recovery from m measurements is unique for supports below m/2 (generic A), so the
default line is row 29 of the 32 x 32 phantom (y = -27/32, through the lower skull and brain:
8 nonzero pixels of 32, intensities 1 and 0.2). Row 12 (through the ventricles, 15 nonzero pixels)
is beyond what 20 measurements determine: with lam = 0.03 the AOC-DT solver found a different
15-pixel image with exactly the planted energy (another exact fit), so the truth is not the unique
minimiser there; with lam = 0.01 no restart reached the planted energy (see docs/results).

Variable maps (canonical state x in [-1, 1]^n x {-1, 1}^n, ``QUMO.from_box_quadratic``):
``u_i = u_max (1 + x_i) / 2``, ``s_i = (1 + x_{n+i}) / 2``; QUMO energy == F exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import hadamard

from ..._validation import fail, finite_real, positive_int
from ..models.problems import QUMO

__all__ = ["SHEPP_LOGAN_MODIFIED", "shepp_logan_line", "shepp_logan_image", "measurement_matrix",
           "CSInstance", "cs_instance", "cs_qumo", "decode_reconstruction", "cs_objective",
           "reconstruction_errors", "planted_state", "cs_blocks"]

#: (intensity, semi-axis a, semi-axis b, centre x0, centre y0, rotation in degrees), modified S-L.
SHEPP_LOGAN_MODIFIED = np.array([
    [1.0, 0.69, 0.92, 0.0, 0.0, 0.0],
    [-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0],
    [-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0],
    [-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0],
    [0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0],
    [0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0],
    [0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0],
    [0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0],
    [0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0],
    [0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0],
])

#: default line: row 29 of a 32 x 32 grid (y = 1 - 59/32 = -27/32), values {0, 0.2, 1}, 8 nonzeros
DEFAULT_Y = 1.0 - 59.0 / 32.0


def shepp_logan_line(n_pixels: int = 32, y: float = DEFAULT_Y) -> np.ndarray:
    """Intensities (n_pixels,) of the phantom along the horizontal line at height y in [-1, 1],
    sampled at the pixel centres x_j = -1 + (2j + 1)/n_pixels; rounded to 1e-12 and clipped at 0
    (overlapping ellipses cancel to 0 up to rounding)."""
    fn = "shepp_logan_line"
    n = positive_int(fn, "n_pixels", n_pixels)
    y = finite_real(fn, "y", y)
    if abs(y) > 1:
        fail(fn, "y", "in [-1, 1]", y)
    x = -1.0 + (2.0 * np.arange(n) + 1.0) / n
    v = np.zeros(n)
    for A, a, b, x0, y0, phi in SHEPP_LOGAN_MODIFIED:
        c, s = np.cos(np.deg2rad(phi)), np.sin(np.deg2rad(phi))
        dx, dy = x - x0, y - y0
        v += A * (((dx * c + dy * s) / a) ** 2 + ((-dx * s + dy * c) / b) ** 2 <= 1.0)
    return np.maximum(np.round(v, 12), 0.0)


def shepp_logan_image(n_pixels: int = 32) -> np.ndarray:
    """(n, n) phantom, row r at height y = 1 - (2r + 1)/n (row 0 at the top)."""
    n = positive_int("shepp_logan_image", "n_pixels", n_pixels)
    return np.stack([shepp_logan_line(n, 1.0 - (2.0 * r + 1.0) / n) for r in range(n)])


def measurement_matrix(n_pixels: int, n_dropped: int, *, kind: str = "hadamard", seed: int = 0) -> np.ndarray:
    """A (n - n_dropped, n): kept rows of the orthonormal Walsh-Hadamard matrix (DC kept, others
    random) or, kind='bernoulli', a random +-1/sqrt(n) matrix. Seeded."""
    fn = "measurement_matrix"
    n = positive_int(fn, "n_pixels", n_pixels, minimum=2)
    k = positive_int(fn, "n_dropped", n_dropped, minimum=0)
    if k >= n:
        fail(fn, "n_dropped", f"< n_pixels = {n}", k)
    rng = np.random.default_rng(positive_int(fn, "seed", seed, minimum=0))
    if kind == "hadamard":
        if n & (n - 1):
            fail(fn, "n_pixels", "a power of 2 for kind='hadamard'", n)
        H = hadamard(n).astype(np.float64) / np.sqrt(n)
        keep = np.sort(np.concatenate([[0], 1 + rng.choice(n - 1, n - 1 - k, replace=False)]))
        return H[keep]
    if kind == "bernoulli":
        return np.where(rng.random((n - k, n)) < 0.5, -1.0, 1.0) / np.sqrt(n)
    fail(fn, "kind", "'hadamard' or 'bernoulli'", repr(kind))


@dataclass(frozen=True, eq=False)
class CSInstance:
    truth: np.ndarray          # (n,) ground-truth intensities
    A: np.ndarray              # (m, n) measurement matrix
    measurements: np.ndarray   # (m,) A @ truth + noise
    lam: float                 # support cost per pixel (intensity^2 units)
    mu: float                  # off-support penalty (intensity units)
    u_max: float               # upper bound of the amplitudes

    @property
    def n_pixels(self) -> int:
        return int(self.A.shape[1])

    @property
    def n_variables(self) -> int:
        return 2 * self.n_pixels


def cs_instance(n_pixels: int = 32, n_dropped: int = 12, *, y: float = DEFAULT_Y, kind: str = "hadamard",
                seed: int = 0, noise: float = 0.0, lam: float = 0.01, mu: float | None = None,
                u_max: float = 1.0) -> CSInstance:
    """Phantom line + measurement model + penalty weights (see module doc). noise: std of additive
    Gaussian noise on the measurements (seeded)."""
    fn = "cs_instance"
    truth = shepp_logan_line(n_pixels, y)
    A = measurement_matrix(n_pixels, n_dropped, kind=kind, seed=seed)
    noise = finite_real(fn, "noise", noise, nonnegative=True)
    lam = finite_real(fn, "lam", lam, positive=True)
    u_max = finite_real(fn, "u_max", u_max, positive=True)
    if truth.max() > u_max:
        fail(fn, "u_max", f">= the largest intensity {truth.max()}", u_max)
    meas = A @ truth + noise * np.random.default_rng(seed + 1).normal(size=A.shape[0])
    bound = 2.0 * float(np.linalg.norm(A, axis=0).max() * np.linalg.norm(meas))
    mu = 1.1 * bound if mu is None else finite_real(fn, "mu", mu, positive=True)
    return CSInstance(truth, A, meas, lam, mu, u_max)


def cs_qumo(inst: CSInstance) -> QUMO:
    """Exact QUMO of F(u, s): variables [u_0..u_{n-1} continuous, s_0..s_{n-1} binary], normalised
    (binary diagonals folded into the offset; same energies)."""
    n, A, m = inst.n_pixels, inst.A, inst.measurements
    H = np.zeros((2 * n, 2 * n))
    H[:n, :n] = 2.0 * A.T @ A
    H[:n, n:] = H[n:, :n] = -inst.mu * np.eye(n)
    g = np.concatenate([-2.0 * A.T @ m + inst.mu, inst.lam * np.ones(n)])
    lower = np.zeros(2 * n)
    upper = np.concatenate([inst.u_max * np.ones(n), np.ones(n)])
    binary = np.concatenate([np.zeros(n, bool), np.ones(n, bool)])
    return QUMO.from_box_quadratic(H, g, float(m @ m), lower, upper, binary,
                                   meta={"name": f"shepp-logan-cs-n{n}-m{A.shape[0]}"}).normalised()


def cs_objective(inst: CSInstance, u, support) -> float:
    """F(u, s) in intensity^2 units; u (n,) intensities, support (n,) in {0, 1}."""
    u = np.asarray(u, dtype=np.float64)
    s = np.asarray(support, dtype=np.float64)
    r = inst.measurements - inst.A @ u
    return float(r @ r + inst.lam * s.sum() + inst.mu * np.sum(u * (1.0 - s)))


def decode_reconstruction(inst: CSInstance, x) -> tuple[np.ndarray, np.ndarray]:
    """Canonical state x (2n,) -> (intensities u (n,), support (n,) bool)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = inst.n_pixels
    if x.shape != (2 * n,):
        fail("decode_reconstruction", "x", f"a state of shape ({2 * n},)", f"shape {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(np.abs(x) > 1 + 1e-9):
        fail("decode_reconstruction", "x", "finite entries in [-1, 1]", f"max |x| = {np.nanmax(np.abs(x))}")
    return inst.u_max * (1.0 + np.clip(x[:n], -1, 1)) / 2.0, x[n:] >= 0


def planted_state(inst: CSInstance) -> np.ndarray:
    """Canonical state (2n,) of the ground truth: u = truth, s = (truth > 0)."""
    return np.concatenate([2.0 * inst.truth / inst.u_max - 1.0, np.where(inst.truth > 0, 1.0, -1.0)])


def reconstruction_errors(inst: CSInstance, u) -> dict:
    """RMSE, relative L2 error, max abs error (intensity units) of u vs truth, and the number of
    pixels off by more than 0.05 (half the smallest intensity step of the phantom)."""
    u = np.asarray(u, dtype=np.float64)
    e = u - inst.truth
    return {"rmse": float(np.sqrt(np.mean(e * e))),
            "rel_l2": float(np.linalg.norm(e) / max(np.linalg.norm(inst.truth), 1e-300)),
            "max_abs": float(np.abs(e).max()),
            "wrong_pixels": int(np.sum(np.abs(e) > 0.05))}


def cs_blocks(inst: CSInstance, block_size: int = 7):
    """Problem-aware BCD blocks: ``picker(rng) -> list of index arrays`` for :func:`bcd_auxiliary`.

    A pixel can only switch on or off in a block holding both its amplitude u_i and its support
    s_i (u_i > 0 with s_i = 0 costs mu u_i), so a sweep cuts a random pixel order into groups of
    block_size // 2 pixels (u and s of each) and, for an odd block_size, adds the amplitude of the
    next group's first pixel (7 = 3 pairs + 1 amplitude).
    """
    size = positive_int("cs_blocks", "block_size", block_size, minimum=2)
    n, per = inst.n_pixels, size // 2

    def picker(rng: np.random.Generator) -> list[np.ndarray]:
        order = rng.permutation(n)
        groups = [order[i:i + per] for i in range(0, n, per)]
        out = []
        for k, grp in enumerate(groups):
            blk = list(grp) + [n + int(i) for i in grp]
            if size % 2 and len(groups) > 1:
                blk.append(int(groups[(k + 1) % len(groups)][0]))
            out.append(np.array(blk))
        return out
    return picker
