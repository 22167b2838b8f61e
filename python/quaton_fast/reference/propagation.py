"""Free-space propagation by the angular spectrum method — pure NumPy reference (complex128).

Conventions (shared with the torch and CUDA paths)
--------------------------------------------------
* Field ``u``: complex array of shape ``(..., N, N)``; axis -1 is x (columns), axis -2 is y (rows).
  Real or complex64 input is accepted; everything is computed and returned in complex128.
* Lengths (pitch ``dx``, ``wavelength``, distance ``z``) in metres; frequencies in 1/m.
* Wavelength: ``wavelength`` is ALWAYS the vacuum wavelength λ0; the medium between the planes has
  refractive index ``n_medium`` (default 1, air/vacuum) and light propagates there with
  ``λ = λ0 / n_medium``, the λ of every formula below.
* Time convention ``exp(-i·ω·t)``: propagating a distance ``z`` along +z multiplies the angular
  spectrum by ``H(fx, fy) = exp(+i·2π·z·sqrt(1/λ² − fx² − fy²))`` where ``fx² + fy² < 1/λ²``
  (propagating waves). ``z < 0`` back-propagates: ``H(−z) = conj(H(z))`` there.
* Evanescent waves (``fx² + fy² > 1/λ²``), chosen by ``evanescent``:
  ``"cut"`` (the default of these building blocks, docs/physics.md): ``H = 0`` (also on the circle
  ``fx² + fy² = 1/λ²``);
  ``"decay"`` (exact Rayleigh–Sommerfeld / angular spectrum):
  ``H = exp(−2π·|z|·sqrt(fx² + fy² − 1/λ²))`` — they decay away from the source plane in both
  directions (exact back-propagation would amplify them by ``exp(+2π·|z|·κ)``, an ill-posed
  inverse; we do not offer it). The grid holds evanescent frequencies only when ``dx < λ/√2``
  (grid corners; along the axes when ``dx < λ/2``); otherwise both choices give the same ``H``
  (up to grid points exactly on the circle, which "cut" zeroes and "decay" keeps at 1).
* Frequencies: ``np.fft.fftfreq(P, dx)`` in unshifted FFT order; ``H`` is unshifted, shape (P, P).
* Zero padding: the N×N field sits at offset ``(P − N)//2`` (both axes) of a P×P zero array;
  ``fft2 → ×H → ifft2`` (NumPy's default normalisation) → crop the same window.

The operator ``A = crop ∘ ifft2 ∘ diag(H) ∘ fft2 ∘ pad`` is linear; its adjoint is the same chain
with ``conj(H)`` (see :func:`propagate_adjoint`), which is also the gradient rule in PyTorch's
convention (``grad_in = Aᴴ·grad_out`` for ``g = ∂L/∂Re + i·∂L/∂Im``). With ``"decay"`` H is not
unimodular (A is not unitary on the grid's band): the adjoint is ``conj(H)``, real
``exp(−2π|z|κ)`` on the evanescent part — the exact inverse ``1/H`` would be ``exp(+2π|z|κ)``.
(With the ``|z|`` above, ``conj(H(z)) = H(−z)`` still holds, so the adjoint is propagation by −z,
but it is not the inverse: propagating z then −z is the identity on the propagating band only and
damps the evanescent part by ``exp(−4π|z|κ)``; see docs/physics.md.)
"""
from __future__ import annotations

import warnings

import numpy as np

from . import optical_limits
from .._validation import _fmt_shape, array, fail, finite_real, positive_int, square_field

__all__ = [
    "UndersampledWarning",
    "EVANESCENT_MODES",
    "MAX_GRID_POINTS",
    "frequency_grid",
    "angular_spectrum_transfer",
    "band_limit_frequency",
    "pad_to",
    "crop_to",
    "propagate",
    "propagate_adjoint",
    "propagate_free_space",
]


#: largest padded grid (P·P points) a transfer function may have: 65536×65536 (64 GiB in complex128);
#: beyond it a request is refused with a clear error instead of a MemoryError halfway through
MAX_GRID_POINTS = 2 ** 32

#: the two treatments of evanescent waves (``fx² + fy² > 1/λ²``) in :func:`angular_spectrum_transfer`
EVANESCENT_MODES = ("cut", "decay")


class UndersampledWarning(UserWarning):
    """The pixel pitch exceeds the wavelength (``dx > λ``).

    A grid of pitch ``dx`` holds spatial frequencies up to ``1/(2·dx)``; all propagating waves
    (``|f| < 1/λ``) fit only when ``dx ≤ λ/2``. Pitches between λ/2 and λ are common and legal
    (they simply cannot represent the steepest angles). Above ``λ`` even the field diffracted by
    two neighbouring pixels (angle ``asin(λ/(2·dx)) < 30°``) is truncated, so the simulation is
    likely not what was meant; we warn but still compute.
    """


def _as_complex_field(func: str, arg: str, u) -> np.ndarray:
    u = square_field(func, arg, u)
    return np.asarray(u, dtype=np.complex128)


def _transfer(func: str, transfer) -> np.ndarray:
    t = array(func, "transfer", transfer, min_ndim=2)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        fail(func, "transfer", "a square 2-D array of shape (P, P)", f"shape {_fmt_shape(t.shape)}")
    return np.asarray(t, dtype=np.complex128)


def medium_wavelength(func: str, wavelength, n_medium) -> float:
    """``λ = λ0 / n_medium`` after checking both (named after ``func``): the wavelength in the medium."""
    return optical_limits.wavelength_in_medium(func, wavelength, n_medium)


def check_grid_size(func: str, arg: str, n_pad: int, detail: str = "") -> int:
    """Check a padded size ``n_pad`` (P) against :data:`MAX_GRID_POINTS`; return it."""
    if n_pad * n_pad > MAX_GRID_POINTS:
        fail(func, arg, f"small enough for a P×P grid of at most {MAX_GRID_POINTS} points (P <= 65536)"
             + detail, f"P = {n_pad}")
    return n_pad


def evanescent_mode(func: str, evanescent) -> str:
    """Check ``evanescent`` is one of :data:`EVANESCENT_MODES`; return it."""
    if not isinstance(evanescent, str) or evanescent not in EVANESCENT_MODES:
        fail(func, "evanescent", "'cut' or 'decay'",
             f"{type(evanescent).__name__} {evanescent!r}", ValueError if isinstance(evanescent, str) else TypeError)
    return evanescent


def frequency_grid(n_pad: int, dx: float) -> np.ndarray:
    """Spatial frequencies of a P-point grid of pitch ``dx`` (metres): ``fftfreq(P, dx)`` in 1/m.

    Returns a (P,) float64 array in unshifted FFT order.
    """
    p = positive_int("frequency_grid", "n_pad", n_pad)
    d = finite_real("frequency_grid", "dx", dx, positive=True)
    return np.fft.fftfreq(p, d)


def band_limit_frequency(n_pad: int, dx: float, wavelength: float, z: float, *,
                         n_medium: float = 1.0) -> float:
    """Matsushima–Shimobaba band limit ``f_limit = 1/(λ·sqrt((2·Δf·z)² + 1))``, ``Δf = 1/(P·dx)``.

    ``wavelength`` is the vacuum wavelength λ0, ``λ = λ0/n_medium`` the one in the medium.
    Units: 1/m. Derivation: the transfer function's phase ``φ(fx) = 2π·z·sqrt(1/λ² − fx²)`` is
    sampled in frequency with step ``Δf``; it is free of aliasing where its local frequency
    ``|∂φ/∂fx|/(2π) = |z|·|fx|/sqrt(1/λ² − fx²)`` stays below the Nyquist limit ``1/(2·Δf) = P·dx/2``
    (the padded window's half width). Solving for ``|fx|`` gives ``f_limit``.
    """
    p = positive_int("band_limit_frequency", "n_pad", n_pad)
    d = optical_limits.length("band_limit_frequency", "dx", dx)
    lam = medium_wavelength("band_limit_frequency", wavelength, n_medium)
    zz = optical_limits.distance("band_limit_frequency", "z", z, lam)
    df = 1.0 / (p * d)
    return 1.0 / (lam * np.sqrt((2.0 * df * zz) ** 2 + 1.0))


def angular_spectrum_transfer(n_pad: int, dx: float, wavelength: float, z: float,
                              band_limited: bool = False, *, n_medium: float = 1.0,
                              evanescent: str = "cut") -> np.ndarray:
    """Angular-spectrum transfer function ``H`` of free space over distance ``z``.

    With ``λ = wavelength / n_medium`` and ``κ² = fx² + fy² − 1/λ²``:
    ``H = exp(+i·2π·z·sqrt(−κ²))`` where ``κ² < 0`` (propagating waves); where ``κ² ≥ 0``
    (evanescent and grazing waves) ``H = 0`` for ``evanescent="cut"`` and ``H = exp(−2π·|z|·κ)`` for
    ``evanescent="decay"`` (the exact Rayleigh–Sommerfeld transfer function for z ≥ 0; Goodman,
    *Introduction to Fourier Optics*, 3rd ed., §3.10). Frequencies ``fftfreq(P, dx)``, unshifted;
    returns (P, P) complex128 (axis -1: fx, axis -2: fy).

    Args:
        n_pad: P, the padded grid size (integer ≥ 1).
        dx: pixel pitch in metres (> 0). Warns :class:`UndersampledWarning` when ``dx > λ``.
        wavelength: VACUUM wavelength λ0 in metres (> 0).
        z: distance in metres; negative back-propagates (evanescent waves still decay with ``|z|``),
            0 is the identity (on the propagating band for "cut").
        band_limited: also zero ``H`` where ``|fx| > f_limit`` or ``|fy| > f_limit``
            (:func:`band_limit_frequency`, Matsushima & Shimobaba 2009).
        n_medium: refractive index of the medium between the planes (> 0; default 1).
        evanescent: "cut" (default) or "decay" (see the module docstring).

    Raises ValueError/TypeError naming the argument for bad values.

    When the band limit matters: the plain ``H`` aliases (its sampled phase wraps faster than the
    frequency grid resolves, producing wrap-around ghosts from the circular convolution) once
    ``f_limit`` falls inside the grid's band ``min(1/(2·dx), 1/λ)``. For ``dx ≥ λ/2`` that is
    ``|z| > (P·dx²/λ)·sqrt(1 − (λ/(2·dx))²)`` — roughly ``|z| > P·dx²/λ`` for pitches of a few λ.
    At ``dx = λ/2`` any ``z ≠ 0`` trims the near-grazing waves, which would leave the padded window
    anyway. Below the threshold the band-limited and plain results are identical.

    Band limit and evanescent waves: the band limit is a square ``|fx|, |fy| ≤ f_limit < 1/λ``
    applied to both parts. Its corners reach ``|f| = √2·f_limit``, beyond ``1/λ`` while
    ``|z| < P·dx/2``; there the band-limited ``H`` keeps decaying evanescent components. For
    ``|z| ≥ P·dx/2`` the square lies inside the propagating disc and "decay" equals "cut". (The
    evanescent part of ``H`` is real and smooth, so it does not alias; the limit is kept on it
    only to keep one rectangular window.)
    """
    func = "angular_spectrum_transfer"
    p = check_grid_size(func, "n_pad", positive_int(func, "n_pad", n_pad))
    lam = medium_wavelength(func, wavelength, n_medium)
    d = optical_limits.length(func, "dx", dx)
    zz = optical_limits.distance(func, "z", z, lam)
    if not isinstance(band_limited, (bool, np.bool_)):
        fail(func, "band_limited", "a bool", f"{type(band_limited).__name__} {band_limited!r}",
             TypeError)
    mode = evanescent_mode(func, evanescent)
    if d > lam:
        warnings.warn(
            f"{func}(): pixel pitch dx={d:g} m exceeds the wavelength in the medium {lam:g} m; the "
            "grid cannot represent the light diffracted by neighbouring pixels (see UndersampledWarning)",
            UndersampledWarning, stacklevel=2)
    f = np.fft.fftfreq(p, d)
    fx = f[None, :]
    fy = f[:, None]
    arg = 1.0 / lam ** 2 - fx ** 2 - fy ** 2
    band = arg > 0.0
    kz = np.sqrt(np.where(band, arg, 0.0))
    prop = np.exp(1j * (2.0 * np.pi * zz) * kz)
    if mode == "cut":
        # grazing waves exactly on the circle (arg == 0) are cut too, as since the first release
        h = np.where(band, prop, 0.0).astype(np.complex128)
    else:
        # continuous across the circle: both branches give 1 at arg == 0
        kappa = np.sqrt(np.where(band, 0.0, -arg))
        h = np.where(band, prop, np.exp(-2.0 * np.pi * abs(zz) * kappa)).astype(np.complex128)
    if band_limited:
        flim = band_limit_frequency(p, d, lam, zz)
        keep = (np.abs(fx) <= flim) & (np.abs(fy) <= flim)
        h = np.where(keep, h, 0.0)
    return h


def pad_to(u, n_pad: int) -> np.ndarray:
    """Zero-pad ``u`` (..., N, N) to (..., P, P), the field at offset ``(P − N)//2`` in both axes.

    Returns complex128 (a new array).
    """
    u = _as_complex_field("pad_to", "u", u)
    n = u.shape[-1]
    p = positive_int("pad_to", "n_pad", n_pad)
    if p < n:
        fail("pad_to", "n_pad", f"an integer >= N = {n} (the field size)", p)
    o = (p - n) // 2
    out = np.zeros(u.shape[:-2] + (p, p), dtype=np.complex128)
    out[..., o:o + n, o:o + n] = u
    return out


def crop_to(v, n: int) -> np.ndarray:
    """Crop ``v`` (..., P, P) to the centred (..., N, N) window at offset ``(P − N)//2``.

    The inverse (and adjoint) of :func:`pad_to`. Returns complex128 (a copy).
    """
    v = _as_complex_field("crop_to", "v", v)
    p = v.shape[-1]
    nn = positive_int("crop_to", "n", n)
    if nn > p:
        fail("crop_to", "n", f"an integer <= P = {p} (the padded size)", nn)
    o = (p - nn) // 2
    return v[..., o:o + nn, o:o + nn].copy()


def _apply(func: str, argname: str, u, transfer, conjugate: bool) -> np.ndarray:
    u = _as_complex_field(func, argname, u)
    h = _transfer(func, transfer)
    n, p = u.shape[-1], h.shape[-1]
    if p < n:
        fail(func, "transfer", f"of shape (P, P) with P >= N = {n} (the field size)",
             f"shape {_fmt_shape(h.shape)}")
    if conjugate:
        h = np.conj(h)
    spec = np.fft.fft2(pad_to(u, p), axes=(-2, -1))
    return crop_to(np.fft.ifft2(spec * h, axes=(-2, -1)), n)


def propagate(u, transfer) -> np.ndarray:
    """Propagate ``u`` (..., N, N) with a transfer function ``transfer`` (P, P), P ≥ N.

    ``crop_N(ifft2(transfer · fft2(pad_P(u))))``; returns (..., N, N) complex128.
    Build ``transfer`` with :func:`angular_spectrum_transfer`.
    """
    return _apply("propagate", "u", u, transfer, conjugate=False)


def propagate_adjoint(grad_out, transfer) -> np.ndarray:
    """Adjoint ``Aᴴ`` of :func:`propagate` — also its backward: ``grad_u = Aᴴ·grad_out``.

    ``grad_out``: (..., N, N) complex; ``transfer``: (P, P). Returns (..., N, N) complex128.

    With ``Z`` the padding, ``Zᴴ`` the crop, ``F`` the unnormalised P×P DFT (``Fᴴ = P²·F⁻¹``)::

        A  = Zᴴ · F⁻¹ · diag(H) · F · Z
        Aᴴ = Zᴴ · Fᴴ · diag(conj H) · F⁻ᴴ · Z = Zᴴ · (P²·F⁻¹) · diag(conj H) · (F/P²) · Z
           = Zᴴ · F⁻¹ · diag(conj H) · F · Z   =  propagate(·, conj(transfer)).

    On the propagating band ``conj(H(z)) = H(−z)``, so the adjoint is back-propagation.
    """
    return _apply("propagate_adjoint", "grad_out", grad_out, transfer, conjugate=True)


def propagate_free_space(u, dx: float, wavelength: float, z: float, pad: int = 2,
                         band_limited: bool = False, *, n_medium: float = 1.0,
                         evanescent: str = "cut") -> np.ndarray:
    """Convenience: propagate ``u`` (..., N, N) over ``z`` metres with padding ``P = pad·N``.

    ``dx``, ``wavelength`` (vacuum λ0), ``z`` in metres; ``pad`` an integer ≥ 1 (1 = periodic, no
    padding); ``n_medium`` the medium's index; ``evanescent`` "cut" or "decay". Returns
    (..., N, N) complex128. See :func:`angular_spectrum_transfer` for the band limit and the
    evanescent treatment.
    """
    func = "propagate_free_space"
    u = _as_complex_field(func, "u", u)
    k = positive_int(func, "pad", pad)
    check_grid_size(func, "pad", k * u.shape[-1], f" with P = pad·N, N = {u.shape[-1]}")
    # validate scalars here so the messages name this function
    lam = medium_wavelength(func, wavelength, n_medium)
    optical_limits.length(func, "dx", dx)
    optical_limits.distance(func, "z", z, lam)
    evanescent_mode(func, evanescent)
    if not isinstance(band_limited, (bool, np.bool_)):
        fail(func, "band_limited", "a bool", f"{type(band_limited).__name__} {band_limited!r}",
             TypeError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndersampledWarning)
        h = angular_spectrum_transfer(k * u.shape[-1], dx, wavelength, z, band_limited,
                                      n_medium=n_medium, evanescent=evanescent)
    if dx > lam:
        warnings.warn(
            f"{func}(): pixel pitch dx={dx:g} m exceeds the wavelength in the medium {lam:g} m "
            "(see UndersampledWarning)", UndersampledWarning, stacklevel=2)
    return propagate(u, h)
