"""Limits on the physical scales of a propagation, checked once where the user hands them in.

Extreme but finite values would otherwise overflow inside the transfer function (``1/λ²`` is inf
for λ < 1e-154 m, the phase ``2π·z/λ`` has no significant digit left beyond ~1e15 wavelengths) and
surface as a NaN field or an error about an argument the user never passed. The limits:

* every length (``dx``, ``wavelength``, ``wavelength / n_medium``, ``|z|``) lies in
  [:data:`MIN_LENGTH`, :data:`MAX_LENGTH`] = [1e-30 m, 1e30 m] (``z = 0`` is allowed);
* ``n_medium`` lies in [1e-6, 1e6];
* ``|z| / λ <= MAX_WAVELENGTHS`` = 1e12: the phase ``2π·z/λ`` then keeps ~3 significant digits
  in float64 (its rounding error 2π·1e12·2^-53 ≈ 7e-4 rad); beyond that the field is noise.

Errors name the function and the user's argument (``ValueError: FreeSpace(): argument 'z' must
be at most 1e+12 wavelengths (|z|/λ), got z = 1e+305 m (|z|/λ = 1.6e+311)``).
"""
from __future__ import annotations

from typing import Any

from .._validation import fail, finite_real

__all__ = ["MIN_LENGTH", "MAX_LENGTH", "MIN_INDEX", "MAX_INDEX", "MAX_WAVELENGTHS", "length",
           "wavelength_in_medium", "distance"]

MIN_LENGTH, MAX_LENGTH = 1e-30, 1e30
MIN_INDEX, MAX_INDEX = 1e-6, 1e6
MAX_WAVELENGTHS = 1e12


def length(func: str, arg: str, value: Any) -> float:
    """A positive length in metres within [MIN_LENGTH, MAX_LENGTH]; returns it as float."""
    v = finite_real(func, arg, value, positive=True)
    if not MIN_LENGTH <= v <= MAX_LENGTH:
        fail(func, arg, f"a length in [{MIN_LENGTH:g}, {MAX_LENGTH:g}] m (quaton_fast.reference."
             "optical_limits)", f"{v:g} m")
    return v


def wavelength_in_medium(func: str, wavelength: Any, n_medium: Any) -> float:
    """``λ = wavelength / n_medium`` after checking both against the limits; returns λ (m)."""
    lam0 = length(func, "wavelength", wavelength)
    n = finite_real(func, "n_medium", n_medium, positive=True)
    if not MIN_INDEX <= n <= MAX_INDEX:
        fail(func, "n_medium", f"a refractive index in [{MIN_INDEX:g}, {MAX_INDEX:g}]", f"{n:g}")
    lam = lam0 / n
    if not MIN_LENGTH <= lam <= MAX_LENGTH:
        fail(func, "wavelength", f"such that wavelength / n_medium lies in [{MIN_LENGTH:g}, {MAX_LENGTH:g}] m",
             f"wavelength = {lam0:g} m, n_medium = {n:g}")
    return lam


def distance(func: str, arg: str, value: Any, lam: float) -> float:
    """A propagation distance (m, any sign, 0 allowed) with ``|z| / λ <= MAX_WAVELENGTHS``."""
    z = finite_real(func, arg, value)
    if abs(z) > MAX_WAVELENGTHS * lam:
        fail(func, arg, f"at most {MAX_WAVELENGTHS:g} wavelengths (|{arg}|/λ; beyond it the phase 2π·{arg}/λ "
             "has no significant digits in float64)", f"{arg} = {z:g} m (|{arg}|/λ = {abs(z) / lam:.3g})")
    return z
