"""Synthetic red-blood-cell (RBC) phase maps: seeded fields of biconcave discs for QPI.

Thickness profile (Evans & Fung, Microvasc. Res. 4:335, 1972), with ρ = r / R the normalised
radius::

    T(ρ) = R · sqrt(1 − ρ²) · (C0 + C1·ρ² + C2·ρ⁴)   for ρ < 1, else 0,
    C0 = 0.207161, C1 = 2.002558, C2 = −1.122762.

For R = 3.91 µm this gives 0.81 µm at the centre (the dimple) and 2.57 µm at the rim maximum
(ρ ≈ 0.70). The phase of a cell is ``φ = φ_peak · T(ρ) / max T`` (radians), i.e. a cell of
refractive-index contrast Δn at wavelength λ has φ_peak = 2π·Δn·max T / λ (≈ 1.5 rad for
Δn = 0.06, max T = 2.57 µm, λ = 632.8 nm). Each cell is an ellipse: semi-axes R and e·R, rotated by
θ, centred at (cy, cx). Cells in one field do not overlap (rejection sampling; a field gets fewer
cells if no free place is found in 200 tries). Pixels are 2×2 supersampled.

Default parameter ranges (all drawn uniformly, per cell): radius R ∈ [9, 13] px (≈ 7.8 µm
diameter at the visible preset's pitch of 0.316 µm), ellipticity e ∈ [0.8, 1.0], orientation
θ ∈ [0, π), peak phase φ_peak ∈ [1.0, 3.0] rad, centre anywhere the whole cell stays ≥ 1 px inside
the field. Targets are ``φ / φ_max`` with the fixed ``φ_max`` = upper end of the peak-phase range
(3.0 rad by default), so the map phase → target is the same linear scale for every field and
targets lie in [0, 1].
"""
from __future__ import annotations

import numpy as np

from .._validation import fail, finite_real, positive_int

__all__ = ["evans_fung_thickness", "make_rbc_phase_maps", "EVANS_FUNG_COEFFICIENTS"]

EVANS_FUNG_COEFFICIENTS = (0.207161, 2.002558, -1.122762)
_RHO2_DENSE = np.linspace(0.0, 1.0, 200001)


def evans_fung_thickness(rho: np.ndarray) -> np.ndarray:
    """Evans–Fung thickness in units of the cell radius R: ``rho`` (...) = r/R ≥ 0 → T/R (...),
    zero for ρ >= 1."""
    rho = np.asarray(rho, dtype=np.float64)
    r2 = rho * rho
    c0, c1, c2 = EVANS_FUNG_COEFFICIENTS
    inside = r2 < 1.0
    t = np.sqrt(np.clip(1.0 - r2, 0.0, None)) * (c0 + c1 * r2 + c2 * r2 * r2)
    return np.where(inside, t, 0.0)


_PROFILE_MAX = float(evans_fung_thickness(np.sqrt(_RHO2_DENSE)).max())


def _range(func: str, arg: str, value, *, positive: bool = True) -> tuple[float, float]:
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        fail(func, arg, "a pair (low, high)", repr(value))
    lo = finite_real(func, arg, value[0], positive=positive)
    hi = finite_real(func, arg, value[1], positive=positive)
    if hi < lo:
        fail(func, arg, "a pair with low <= high", repr(value))
    return lo, hi


def _place_cells(rng: np.random.Generator, size: int, count: int, radius, ellipticity, peak):
    cells: list[tuple[float, ...]] = []
    for _ in range(count):
        for _try in range(200):
            r = rng.uniform(*radius)
            margin = r + 1.0
            if 2 * margin >= size:
                fail("make_rbc_phase_maps", "radius_px", f"smaller than half the field ({size} px) minus 1",
                     repr(radius))
            cy, cx = rng.uniform(margin, size - margin, 2)
            if all((cy - c[0]) ** 2 + (cx - c[1]) ** 2 > (r + c[2]) ** 2 for c in cells):
                cells.append((cy, cx, r, rng.uniform(*ellipticity), rng.uniform(0.0, np.pi), rng.uniform(*peak)))
                break
    return cells


def make_rbc_phase_maps(count: int, size: int = 64, *, cells_per_field: tuple[int, int] = (1, 1),
                        radius_px: tuple[float, float] = (9.0, 13.0),
                        ellipticity: tuple[float, float] = (0.8, 1.0),
                        peak_phase: tuple[float, float] = (1.0, 3.0), phi_max: float | None = None,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` seeded fields of RBCs. Returns ``phi`` (count, size, size) float32 radians ≥ 0 and
    ``targets`` = φ/φ_max (count, size, size) float32 in [0, 1] (φ_max defaults to the upper end
    of ``peak_phase``; it must be ≥ that). ``cells_per_field`` (lo, hi): cells per field drawn
    uniformly in lo..hi. The same arguments and seed give the same fields."""
    f = "make_rbc_phase_maps"
    count = positive_int(f, "count", count)
    size = positive_int(f, "size", size, minimum=8)
    radius = _range(f, "radius_px", radius_px)
    ell = _range(f, "ellipticity", ellipticity)
    if ell[1] > 1.0:
        fail(f, "ellipticity", "within (0, 1]", repr(ellipticity))
    peak = _range(f, "peak_phase", peak_phase)
    phi_max = peak[1] if phi_max is None else finite_real(f, "phi_max", phi_max, positive=True)
    if phi_max < peak[1]:
        fail(f, "phi_max", f">= the largest peak phase {peak[1]}", phi_max)
    if not (isinstance(cells_per_field, (tuple, list)) and len(cells_per_field) == 2):
        fail(f, "cells_per_field", "a pair (low, high)", repr(cells_per_field))
    lo = positive_int(f, "cells_per_field", cells_per_field[0])
    hi = positive_int(f, "cells_per_field", cells_per_field[1], minimum=lo)
    rng = np.random.default_rng(seed)
    sub = (np.arange(2 * size) + 0.5) / 2.0  # 2x2 supersampled pixel coordinates (pixel units)
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    phi = np.zeros((count, size, size), np.float32)
    for k in range(count):
        fine = np.zeros((2 * size, 2 * size))
        for cy, cx, r, e, theta, pk in _place_cells(rng, size, int(rng.integers(lo, hi + 1)), radius, ell, peak):
            dy, dx = yy - cy, xx - cx
            u = (dx * np.cos(theta) + dy * np.sin(theta)) / r
            v = (-dx * np.sin(theta) + dy * np.cos(theta)) / (e * r)
            fine += pk * evans_fung_thickness(np.sqrt(u * u + v * v)) / _PROFILE_MAX
        phi[k] = fine.reshape(size, 2, size, 2).mean(axis=(1, 3))
    return phi, np.clip(phi / np.float32(phi_max), 0.0, 1.0).astype(np.float32)
