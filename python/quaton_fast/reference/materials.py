"""Dispersive materials for height-parametrized (fabricated) diffractive layers — NumPy reference.

Convention (the one of :func:`quaton_fast.reference.complex_levels.from_material`, now per
wavelength): a relief of height ``h`` (metres) of a material with complex index ``n(λ) + iκ(λ)``
(κ >= 0 absorbs) surrounded by a lossless medium of index ``n_m(λ)`` transmits, relative to no
relief,

    ``t(h, λ) = exp(−2π·κ(λ)·h/λ) · exp(+i·2π·(n(λ) − n_m(λ))·h/λ)``

with ``λ`` the VACUUM wavelength of that spectral sample (fields ∝ exp(i(kz − ωt)): a thicker,
optically denser element delays the phase, the sign of the phase layers' ``u·exp(+iφ)``). This
is the thin-element approximation (Goodman, *Introduction to Fourier Optics*, 3rd ed., §5.1: the
phase of a thin element of thickness Δ(x, y) is ``k(n − 1)Δ``; with an absorbing index the plane
wave ``exp(i k0 (n + iκ) h)`` loses ``exp(−k0 κ h)`` in amplitude). Interface (Fresnel)
reflections and the lateral spread inside the relief are not modelled. The issue's
``2π(n(λ) − n_m(λ))h/λ0`` is this formula with λ0 = the wavelength of the sample; at one design
wavelength it is the formula of :meth:`quaton_fast.nn.D2NN.fabrication_heights`.

Dispersion models (wavelengths in METRES at the interface; the coefficients use the catalogue
unit, the micrometre):

* :class:`Constant`: ``n``, ``κ`` independent of λ.
* :class:`Cauchy`: ``n(λ) = A + B/λ² + C/λ⁴`` (λ in µm, B in µm², C in µm⁴).
* :class:`Sellmeier`: ``n(λ)² = 1 + Σ_i B_i·λ²/(λ² − C_i)`` (λ in µm, C_i in µm²).
* :class:`Tabulated`: a measured (λ, n, κ) table, linearly interpolated; no extrapolation
  (:func:`read_material_table` reads one from a text file, size-checked before reading).

Named materials (:data:`NAMED_MATERIALS`): ``vacuum`` (n = 1; the library's default medium,
"air" to ~3e-4), ``fused-silica`` (Malitson, JOSA 55, 1205 (1965), 0.21–3.71 µm), ``n-bk7``
(Schott catalogue Sellmeier, 0.3–2.5 µm), ``pmma`` (Sultanova et al., Acta Phys. Pol. A 116, 585
(2009), 0.437–1.052 µm). Evaluating a model outside its stated range raises ValueError.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import fail, finite_real
from .levels import LevelTable, level_table

__all__ = ["Material", "Constant", "Cauchy", "Sellmeier", "Tabulated", "NAMED_MATERIALS",
           "named_material", "material_from_spec", "read_material_table", "wavelength_array",
           "phase_per_height", "attenuation_per_height", "relief_transmission",
           "height_level_table", "MAX_TABLE_BYTES", "MAX_TABLE_ROWS"]

TWO_PI = 2.0 * math.pi
_UM = 1e-6
#: largest material table file read (bytes) and most rows (a guard, not a physical limit)
MAX_TABLE_BYTES = 4 << 20
MAX_TABLE_ROWS = 100_000
_UNITS = {"m": 1.0, "um": 1e-6, "nm": 1e-9, "mm": 1e-3}


def wavelength_array(func: str, wavelengths: Any) -> np.ndarray:
    """``wavelengths`` (a number or a 1-D sequence, vacuum, metres) → (W,) float64, each finite > 0."""
    if isinstance(wavelengths, (str, bytes, bool, np.bool_)) or (
            isinstance(wavelengths, np.ndarray) and wavelengths.dtype.kind not in "fiu"):
        fail(func, "wavelengths", "a wavelength or a 1-D sequence of them (metres)", repr(wavelengths), TypeError)
    try:
        w = np.atleast_1d(np.asarray(wavelengths, dtype=np.float64))
    except (TypeError, ValueError):
        fail(func, "wavelengths", "a wavelength or a 1-D sequence of them (metres)", repr(wavelengths)[:80], TypeError)
    if w.ndim != 1 or w.size == 0:
        fail(func, "wavelengths", "a wavelength or a non-empty 1-D sequence of them (metres)", f"shape {w.shape}")
    if not np.all(np.isfinite(w)) or not np.all(w > 0):
        fail(func, "wavelengths", "finite and > 0 (vacuum wavelengths in metres)", w.tolist()[:8])
    return w


@dataclass(frozen=True)
class Material:
    """A material's complex index ``n(λ) + iκ(λ)`` (λ the vacuum wavelength in metres).

    ``valid_range``: (λ_min, λ_max) metres where the model holds, or None (no limit).
    Subclasses implement :meth:`_n` (and :meth:`_kappa` when κ depends on λ)."""

    name: str = field(default="", kw_only=True)
    valid_range: tuple[float, float] | None = field(default=None, kw_only=True)

    def _check(self, func: str, wavelengths) -> np.ndarray:
        w = wavelength_array(func, wavelengths)
        if self.valid_range is not None:
            lo, hi = self.valid_range
            bad = (w < lo * (1 - 1e-12)) | (w > hi * (1 + 1e-12))
            if np.any(bad):
                fail(func, "wavelengths", f"inside the range of the {self.label} model, "
                     f"[{lo:.6g}, {hi:.6g}] m", f"{float(w[bad][0]):.6g} m")
        return w

    @property
    def label(self) -> str:
        return self.name or type(self).__name__

    def n(self, wavelengths) -> np.ndarray:
        """Real index (W,) float64 at ``wavelengths`` (vacuum, metres). Raises ValueError outside
        :attr:`valid_range` or for a non-positive wavelength."""
        w = self._check(f"{self.label}.n", wavelengths)
        return np.asarray(self._n(w), dtype=np.float64)

    def kappa(self, wavelengths) -> np.ndarray:
        """Extinction coefficient κ (W,) float64 >= 0 at ``wavelengths`` (vacuum, metres)."""
        w = self._check(f"{self.label}.kappa", wavelengths)
        return np.asarray(self._kappa(w), dtype=np.float64)

    def _n(self, w: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _kappa(self, w: np.ndarray) -> np.ndarray:
        return np.zeros_like(w)

    @property
    def lossless(self) -> bool:
        """True when κ = 0 at every wavelength (no absorption; the phase path applies)."""
        return False


def _nonneg(func: str, arg: str, v) -> float:
    v = finite_real(func, arg, v)
    if v < 0:
        fail(func, arg, ">= 0 (a passive, absorbing material)", v)
    return v


class _ConstantExtinction(Material):
    """A material whose extinction κ (field ``extinction``) does not depend on the wavelength."""

    def _kappa(self, w):
        return np.full_like(w, self.extinction)

    @property
    def lossless(self) -> bool:
        return self.extinction == 0.0


@dataclass(frozen=True)
class Constant(_ConstantExtinction):
    """``n``, ``κ`` the same at every wavelength (a non-dispersive model; e.g. the medium)."""

    index: float = 1.0
    extinction: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "index", finite_real("Constant", "index", self.index, positive=True))
        object.__setattr__(self, "extinction", _nonneg("Constant", "extinction", self.extinction))

    def _n(self, w):
        return np.full_like(w, self.index)



@dataclass(frozen=True)
class Cauchy(_ConstantExtinction):
    """``n(λ) = A + B/λ² + C/λ⁴``, λ in µm (B in µm², C in µm⁴); constant ``extinction`` κ."""

    A: float = 1.5
    B: float = 0.0
    C: float = 0.0
    extinction: float = 0.0

    def __post_init__(self):
        for k in ("A", "B", "C"):
            object.__setattr__(self, k, finite_real("Cauchy", k, getattr(self, k)))
        object.__setattr__(self, "extinction", _nonneg("Cauchy", "extinction", self.extinction))

    def _n(self, w):
        x = w / _UM
        n = self.A + self.B / x ** 2 + self.C / x ** 4
        if not np.all(n > 0):
            fail("Cauchy.n", "wavelengths", "where the Cauchy index is > 0", f"n = {float(n.min())!r}")
        return n



@dataclass(frozen=True)
class Sellmeier(_ConstantExtinction):
    """``n(λ)² = 1 + Σ_i B_i λ²/(λ² − C_i)``, λ in µm, C_i in µm² (resonances); constant κ."""

    B: tuple[float, ...] = ()
    C: tuple[float, ...] = ()
    extinction: float = 0.0

    def __post_init__(self):
        b = tuple(finite_real("Sellmeier", "B", v) for v in self.B)
        c = tuple(finite_real("Sellmeier", "C", v) for v in self.C)
        if len(b) == 0 or len(b) != len(c):
            fail("Sellmeier", "C", f"one resonance C_i per coefficient B_i ({len(b)} B, at least one)",
                 f"{len(c)} C")
        object.__setattr__(self, "B", b)
        object.__setattr__(self, "C", c)
        object.__setattr__(self, "extinction", _nonneg("Sellmeier", "extinction", self.extinction))

    def _n(self, w):
        x2 = (w / _UM) ** 2
        n2 = 1.0 + sum(b * x2 / (x2 - c) for b, c in zip(self.B, self.C))
        if not np.all(n2 > 0):
            fail("Sellmeier.n", "wavelengths", "away from the resonances (n² > 0)", f"n² = {float(n2.min())!r}")
        return np.sqrt(n2)



@dataclass(frozen=True)
class Tabulated(Material):
    """A measured table: ``wavelengths`` (K,) metres strictly increasing, ``index`` (K,) > 0,
    ``extinction`` (K,) >= 0; linear interpolation in λ; outside [λ_0, λ_{K−1}] ValueError."""

    wavelengths: Any = None
    index: Any = None
    extinction: Any = None

    def __post_init__(self):
        f = "Tabulated"
        w = np.asarray(self.wavelengths, dtype=np.float64)
        n = np.asarray(self.index, dtype=np.float64)
        k = np.zeros_like(w) if self.extinction is None else np.asarray(self.extinction, dtype=np.float64)
        if w.ndim != 1 or w.size < 2:
            fail(f, "wavelengths", "a 1-D array of at least 2 wavelengths (metres)", f"shape {w.shape}")
        for name, a in (("index", n), ("extinction", k)):
            if a.shape != w.shape:
                fail(f, name, f"of shape {w.shape} (one per wavelength)", f"shape {a.shape}")
        for name, a in (("wavelengths", w), ("index", n), ("extinction", k)):
            if not np.all(np.isfinite(a)):
                fail(f, name, "finite (no NaN or Inf)", "non-finite values")
        if not np.all(w > 0) or not np.all(np.diff(w) > 0):
            fail(f, "wavelengths", "> 0 and strictly increasing", w.tolist()[:8])
        if not np.all(n > 0):
            fail(f, "index", "> 0", f"min {float(n.min())!r}")
        if not np.all(k >= 0):
            fail(f, "extinction", ">= 0 (a passive, absorbing material)", f"min {float(k.min())!r}")
        for name, a in (("wavelengths", w), ("index", n), ("extinction", k)):
            a = a.copy()
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        if self.valid_range is None:
            object.__setattr__(self, "valid_range", (float(w[0]), float(w[-1])))

    def _n(self, w):
        return np.interp(w, self.wavelengths, self.index)

    def _kappa(self, w):
        return np.interp(w, self.wavelengths, self.extinction)

    @property
    def lossless(self) -> bool:
        return bool(np.all(self.extinction == 0.0))


NAMED_MATERIALS: dict[str, Material] = {
    "vacuum": Constant(1.0, name="vacuum"),
    # Malitson 1965, fused silica at 20 °C
    "fused-silica": Sellmeier(B=(0.6961663, 0.4079426, 0.8974794),
                              C=(0.0684043 ** 2, 0.1162414 ** 2, 9.896161 ** 2),
                              name="fused-silica", valid_range=(0.21e-6, 3.71e-6)),
    # Schott N-BK7 catalogue coefficients
    "n-bk7": Sellmeier(B=(1.03961212, 0.231792344, 1.01046945),
                       C=(0.00600069867, 0.0200179144, 103.560653),
                       name="n-bk7", valid_range=(0.3e-6, 2.5e-6)),
    # Sultanova et al. 2009, one-term Sellmeier
    "pmma": Sellmeier(B=(1.1819,), C=(0.011313,), name="pmma", valid_range=(0.437e-6, 1.052e-6)),
}


def named_material(name: str) -> Material:
    """One of :data:`NAMED_MATERIALS` (ValueError listing them otherwise)."""
    if not isinstance(name, str) or name.lower() not in NAMED_MATERIALS:
        fail("named_material", "name", f"one of {sorted(NAMED_MATERIALS)}", repr(name))
    return NAMED_MATERIALS[name.lower()]


def read_material_table(path: str | os.PathLike, *, unit: str = "m", name: str | None = None) -> Tabulated:
    """Read a measured (λ, n[, κ]) table: a text file of 2 or 3 numeric columns separated by
    whitespace or commas, ``#`` comments and blank lines ignored; λ in ``unit`` ('m', 'mm', 'um',
    'nm'). Checks the file size (<= :data:`MAX_TABLE_BYTES`) before reading and the row count
    (2..:data:`MAX_TABLE_ROWS`); then the rules of :class:`Tabulated`. Raises FileNotFoundError
    for a missing file, ValueError naming the file and line for anything malformed."""
    f = "read_material_table"
    if unit not in _UNITS:
        fail(f, "unit", f"one of {sorted(_UNITS)}", repr(unit))
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{f}(): material table {str(p)!r} does not exist or is not a file")
    size = p.stat().st_size
    if size > MAX_TABLE_BYTES:
        fail(f, "path", f"a table of at most {MAX_TABLE_BYTES} bytes", f"{size} bytes ({p})")
    rows, ncol = [], None
    with p.open("r", encoding="utf-8", errors="strict") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.split("#", 1)[0].replace(",", " ").split()
            if not text:
                continue
            if ncol is None:
                ncol = len(text)
                if ncol not in (2, 3):
                    fail(f, "path", "2 or 3 columns (wavelength, n[, kappa])", f"{ncol} columns on line {lineno} of {p}")
            if len(text) != ncol:
                fail(f, "path", f"{ncol} columns on every line", f"{len(text)} on line {lineno} of {p}")
            try:
                rows.append([float(t) for t in text])
            except ValueError:
                fail(f, "path", "numbers only", f"{line.strip()!r} on line {lineno} of {p}")
            if len(rows) > MAX_TABLE_ROWS:
                fail(f, "path", f"at most {MAX_TABLE_ROWS} rows", f"more in {p}")
    if len(rows) < 2:
        fail(f, "path", "at least 2 rows (wavelength, n[, kappa])", f"{len(rows)} in {p}")
    a = np.array(rows, dtype=np.float64)
    return Tabulated(a[:, 0] * _UNITS[unit], a[:, 1], a[:, 2] if ncol == 3 else None,
                     name=name or p.stem)


def material_from_spec(spec: str) -> Material:
    """A material from a short text (the CLI's ``--material``): a name of :data:`NAMED_MATERIALS`;
    ``constant:n[,kappa]``; ``cauchy:A,B[,C[,kappa]]`` (µm units); ``sellmeier:B1,C1[,B2,C2...]``
    (µm²); ``table:PATH[@unit]`` (:func:`read_material_table`). ValueError naming 'spec' otherwise."""
    f = "material_from_spec"
    if not isinstance(spec, str) or not spec.strip():
        fail(f, "spec", "a non-empty str", repr(spec), TypeError if not isinstance(spec, str) else ValueError)
    kind, _, rest = spec.strip().partition(":")
    kind = kind.lower()
    if not rest:
        return named_material(kind)
    if kind == "table":
        path, _, unit = rest.rpartition("@") if "@" in rest else (rest, "", "m")
        return read_material_table(path, unit=unit or "m")
    try:
        vals = [float(v) for v in rest.split(",")]
    except ValueError:
        fail(f, "spec", "comma-separated numbers after the model name", repr(spec))
    if kind == "constant" and len(vals) in (1, 2):
        return Constant(*vals, name=spec)
    if kind == "cauchy" and 2 <= len(vals) <= 4:
        return Cauchy(*vals, name=spec)
    if kind == "sellmeier" and len(vals) >= 2 and len(vals) % 2 == 0:
        return Sellmeier(B=tuple(vals[0::2]), C=tuple(vals[1::2]), name=spec)
    fail(f, "spec", "a name in " + str(sorted(NAMED_MATERIALS)) + ", 'constant:n[,kappa]', "
         "'cauchy:A,B[,C[,kappa]]', 'sellmeier:B1,C1[,B2,C2...]' or 'table:PATH[@unit]'", repr(spec))
    raise AssertionError  # unreachable


def _materials(func: str, material, medium) -> tuple[Material, Material]:
    if not isinstance(material, Material):
        fail(func, "material", "a quaton_fast Material", type(material).__name__, TypeError)
    if not isinstance(medium, Material):
        fail(func, "medium", "a quaton_fast Material", type(medium).__name__, TypeError)
    return material, medium


def phase_per_height(material: Material, medium: Material, wavelengths) -> np.ndarray:
    """``2π·(n(λ) − n_m(λ))/λ`` (W,) float64, radians per metre of relief. Raises ValueError
    unless n > n_m at every wavelength (a relief must delay the phase) or κ_medium > 0."""
    f = "phase_per_height"
    material, medium = _materials(f, material, medium)
    w = wavelength_array(f, wavelengths)
    if not medium.lossless:
        fail(f, "medium", "lossless (κ = 0; the propagation between the planes is loss-free)", medium.label)
    dn = material.n(w) - medium.n(w)
    if not np.all(dn > 0):
        i = int(np.flatnonzero(~(dn > 0))[0])
        fail(f, "material", f"denser than the medium (n > n_medium) at every wavelength",
             f"n − n_medium = {dn[i]!r} at {w[i]:.6g} m")
    return TWO_PI * dn / w


def attenuation_per_height(material: Material, wavelengths) -> np.ndarray:
    """``2π·κ(λ)/λ`` (W,) float64, nepers (amplitude) per metre of relief."""
    if not isinstance(material, Material):
        fail("attenuation_per_height", "material", "a quaton_fast Material", type(material).__name__, TypeError)
    w = wavelength_array("attenuation_per_height", wavelengths)
    return TWO_PI * material.kappa(w) / w


def relief_transmission(material: Material, medium: Material, heights, wavelengths) -> np.ndarray:
    """``t(h, λ)`` of the module docstring: (W, *heights.shape) complex128, ``heights`` metres >= 0."""
    f = "relief_transmission"
    h = np.asarray(heights, dtype=np.float64)
    if not np.all(np.isfinite(h)) or np.any(h < 0):
        fail(f, "heights", "finite and >= 0 (metres)", "negative or non-finite values")
    k = phase_per_height(material, medium, wavelengths)
    a = attenuation_per_height(material, wavelengths)
    ex = (slice(None),) + (None,) * h.ndim
    return np.exp(-a[ex] * h) * np.exp(1j * k[ex] * h)


def height_level_table(heights, material: Material, medium: Material, reference_wavelength: float, *,
                       periodic: bool = False) -> LevelTable:
    """A fab's height levels (metres, >= 0, strictly increasing) as the level table of a
    height-parametrized layer: the phases ``θ_j = k_ref·h_j`` at ``reference_wavelength``
    (:func:`phase_per_height`), any quantizer takes it as ``levels``. ``periodic=False`` (default):
    the ends clamp (a relief cannot wrap around); ``periodic=True``: period 2π, i.e. the height
    h_0 + λ_ref/(n − n_m) counts as h_0 (the heights must then span less than that)."""
    f = "height_level_table"
    h = np.asarray(heights, dtype=np.float64)
    if h.ndim != 1 or h.size < 2 or not np.all(np.isfinite(h)) or np.any(h < 0):
        fail(f, "heights", "a 1-D array of at least 2 finite heights >= 0 (metres)", f"{h.tolist()[:8]}")
    k = phase_per_height(material, medium, finite_real(f, "reference_wavelength", reference_wavelength, positive=True))
    return level_table(k[0] * h, period=TWO_PI if periodic else None)
