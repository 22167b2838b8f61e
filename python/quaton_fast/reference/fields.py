"""Element-wise optics, read-out and input encodings — pure NumPy reference (float64/complex128).

Gradient convention (PyTorch's): for a real loss ``L`` of a complex ``z = x + i·y`` the gradient is
``g = ∂L/∂x + i·∂L/∂y``; then ``dL = Re(conj(g)·dz)``. For real arguments the gradient is real.
Every forward here has an explicit backward in that convention.
"""
from __future__ import annotations

import math

import numpy as np

from .._validation import _fmt_shape, array, fail, finite_real, positive_int, square_field

__all__ = [
    "phase_modulate",
    "phase_modulate_backward",
    "intensity",
    "intensity_backward",
    "square_detector_layout",
    "check_boxes",
    "detector_mask",
    "detector_energies",
    "detector_energies_backward",
    "encode_phase",
    "encode_amplitude",
]


# ----------------------------------------------------------------------------- helpers
def _real(func: str, arg: str, value, min_ndim: int = 0) -> np.ndarray:
    a = array(func, arg, value, complex_ok=False, min_ndim=min_ndim)
    return np.asarray(a, dtype=np.float64)


def _check_broadcasts_to(func: str, arg: str, a: np.ndarray, shape: tuple) -> None:
    try:
        b = np.broadcast_shapes(a.shape, shape)
    except ValueError:
        b = None
    if b != tuple(shape):
        fail(func, arg, f"broadcastable to the field's shape {_fmt_shape(shape)}",
             f"shape {_fmt_shape(a.shape)}")


def _sum_to_shape(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched to reach ``g.shape``."""
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _modulation(func: str, u, phase, amplitude):
    u = np.asarray(square_field(func, "u", u), dtype=np.complex128)
    ph = _real(func, "phase", phase)
    _check_broadcasts_to(func, "phase", ph, u.shape)
    t = np.exp(1j * ph)
    if amplitude is not None:
        a = _real(func, "amplitude", amplitude)
        _check_broadcasts_to(func, "amplitude", a, u.shape)
        t = t * a
    return u, ph, t


# ----------------------------------------------------------------------------- modulation
def phase_modulate(u, phase, amplitude=None) -> np.ndarray:
    """Thin mask: ``out = u · a · exp(+i·phase)``.

    Args:
        u: (..., N, N) complex field.
        phase: real, radians, (N, N) or any shape broadcastable to ``u`` (e.g. (B, N, N), (1, N, N)).
            Sign: with the ``exp(−iωt)`` convention a positive ``phase`` is a phase *delay* (the
            mask is optically thicker there), applied as the factor ``exp(+i·phase)``.
        amplitude: optional real transmission ``a`` broadcastable to ``u`` (default 1).

    Returns (..., N, N) complex128.
    """
    u, _, t = _modulation("phase_modulate", u, phase, amplitude)
    return u * t


def phase_modulate_backward(grad_out, u, phase, amplitude=None):
    """Backward of :func:`phase_modulate`; returns ``(grad_u, grad_phase)``.

    ``grad_out``, ``u``: (..., N, N) complex; ``phase`` and ``amplitude`` as in the forward.
    With ``t = a·exp(iφ)`` and ``out = u·t``:

    * ``grad_u = conj(t)·grad_out`` (the operator is diagonal, ``Aᴴ = diag(conj t)``): (..., N, N).
    * ``∂out/∂φ = i·out`` so ``∂L/∂φ = Re(conj(grad_out)·i·out) = −Im(out·conj(grad_out))``,
      summed over the dimensions along which ``phase`` was broadcast: same shape as ``phase``.
    """
    func = "phase_modulate_backward"
    u, ph, t = _modulation(func, u, phase, amplitude)
    g = np.asarray(square_field(func, "grad_out", grad_out), dtype=np.complex128)
    if g.shape != u.shape:
        fail(func, "grad_out", f"of the field's shape {_fmt_shape(u.shape)}",
             f"shape {_fmt_shape(g.shape)}")
    out = u * t
    grad_u = np.conj(t) * g
    grad_phase = _sum_to_shape(-np.imag(out * np.conj(g)), ph.shape)
    return grad_u, grad_phase


# ----------------------------------------------------------------------------- intensity
def intensity(u) -> np.ndarray:
    """Detector intensity ``|u|²`` of ``u`` (..., N, N); returns real float64 of the same shape."""
    u = np.asarray(square_field("intensity", "u", u), dtype=np.complex128)
    return u.real ** 2 + u.imag ** 2


def intensity_backward(grad_i, u) -> np.ndarray:
    """Backward of :func:`intensity`: ``grad_u = 2·u·grad_i``.

    ``grad_i``: (..., N, N) real; ``u``: (..., N, N) complex. From ``I = x² + y²``:
    ``∂L/∂x + i·∂L/∂y = 2·grad_i·(x + i·y)``. Returns (..., N, N) complex128.
    """
    func = "intensity_backward"
    u = np.asarray(square_field(func, "u", u), dtype=np.complex128)
    g = _real(func, "grad_i", grad_i)
    if g.shape != u.shape:
        fail(func, "grad_i", f"of the field's shape {_fmt_shape(u.shape)}",
             f"shape {_fmt_shape(g.shape)}")
    return 2.0 * u * g


# ----------------------------------------------------------------------------- detectors
def _row_counts(c: int) -> list[int]:
    """Detectors per row: ``round(sqrt(C))`` rows, extras given to the middle rows (10 → 3-4-3)."""
    rows = max(1, int(round(math.sqrt(c))))
    base, extra = divmod(c, rows)
    counts = [base] * rows
    # hand the remainder to the rows closest to the centre, symmetric where possible
    order = sorted(range(rows), key=lambda r: (abs(r - (rows - 1) / 2), r))
    for r in order[:extra]:
        counts[r] += 1
    return counts


def square_detector_layout(n: int, num_classes: int = 10, size: int | None = None) -> np.ndarray:
    """Boxes ``(row0, col0, rows, cols)`` of ``num_classes`` square detectors on the N×N output plane.

    Rows of detectors, ``round(sqrt(C))`` of them, the remainder in the middle rows (10 classes:
    3-4-3), each row and the whole block centred. ``size`` (pixels) defaults to
    ``max(1, N // 10)``. The gap between neighbouring detectors (both directions) is ``size`` when
    it fits, otherwise the largest gap that fits (possibly 0: touching, never overlapping).
    Raises ``ValueError`` (naming ``size``) when even touching detectors do not fit.
    Returns (C, 4) int64.
    """
    func = "square_detector_layout"
    nn = positive_int(func, "n", n)
    c = positive_int(func, "num_classes", num_classes)
    if c > nn * nn:
        fail(func, "num_classes", f"at most N² = {nn * nn} (one pixel per detector on the {nn}x{nn} grid)", c)
    s = max(1, nn // 10) if size is None else positive_int(func, "size", size)
    counts = _row_counts(c)
    kmax, nrows = max(counts), len(counts)
    need = max(kmax, nrows) * s
    if need > nn:
        fail(func, "size", f"small enough for {c} detectors in rows {counts} to fit on a "
             f"{nn}x{nn} grid (at most {nn // max(kmax, nrows)} pixels)", s)
    # largest gap <= s that fits both directions
    gap = s
    for k in (kmax, nrows):
        if k > 1:
            gap = min(gap, (nn - k * s) // (k - 1))
    pitch = s + gap
    height = nrows * s + (nrows - 1) * gap
    top = (nn - height) // 2
    boxes = []
    for r, k in enumerate(counts):
        width = k * s + (k - 1) * gap
        left = (nn - width) // 2
        for j in range(k):
            boxes.append((top + r * pitch, left + j * pitch, s, s))
    return np.asarray(boxes, dtype=np.int64)


def check_boxes(func: str, boxes, n: int) -> np.ndarray:
    """Detector boxes ``(row0, col0, rows, cols)``: an integer array-like of shape (C, 4), C ≥ 1,
    every box non-empty and inside the N×N grid. Returns (C, 4) int64; raises TypeError/ValueError
    naming ``func`` and 'boxes' otherwise (the rule of :func:`detector_mask` and of the torch
    read-out ``quaton_fast.nn.DetectorReadout``)."""
    if isinstance(boxes, (list, tuple)):
        try:
            boxes = np.asarray(boxes)
        except (ValueError, TypeError) as exc:
            fail(func, "boxes", "an integer array of shape (C, 4) (row0, col0, rows, cols)",
                 f"a ragged or non-numeric sequence ({exc})")
    b = array(func, "boxes", boxes, complex_ok=False, min_ndim=2)
    if b.dtype.kind not in "iu":
        fail(func, "boxes", "an integer array", f"dtype {b.dtype}", TypeError)
    if b.ndim != 2 or b.shape[1] != 4:
        fail(func, "boxes", "of shape (C, 4) (row0, col0, rows, cols)", f"shape {_fmt_shape(b.shape)}")
    r0, c0, h, w = (b[:, k] for k in range(4))
    bad = (r0 < 0) | (c0 < 0) | (h < 1) | (w < 1) | (r0 + h > n) | (c0 + w > n)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        fail(func, "boxes", f"non-empty boxes inside the {n}x{n} grid",
             f"box {i} = {tuple(int(x) for x in b[i])}")
    return b.astype(np.int64)


def detector_mask(n: int, boxes) -> np.ndarray:
    """Boolean masks of the detectors: ``boxes`` (C, 4) on an N×N grid → (C, N, N) bool."""
    nn = positive_int("detector_mask", "n", n)
    b = check_boxes("detector_mask", boxes, nn)
    m = np.zeros((b.shape[0], nn, nn), dtype=bool)
    for k, (r0, c0, h, w) in enumerate(b):
        m[k, r0:r0 + h, c0:c0 + w] = True
    return m


def detector_energies(i, boxes) -> np.ndarray:
    """Energy per detector: ``E_c = Σ_{box c} i``; ``i`` (..., N, N) real → (..., C) float64."""
    func = "detector_energies"
    i = square_field(func, "i", i)
    if i.dtype.kind == "c":
        fail(func, "i", "a real array (an intensity)", f"dtype {i.dtype}", TypeError)
    i = np.asarray(i, dtype=np.float64)
    b = check_boxes(func, boxes, i.shape[-1])
    return np.stack([i[..., r0:r0 + h, c0:c0 + w].sum(axis=(-2, -1)) for r0, c0, h, w in b],
                    axis=-1)


def detector_energies_backward(grad_e, boxes, n: int) -> np.ndarray:
    """Backward of :func:`detector_energies`: ``grad_i = Σ_c grad_e[..., c]·mask_c``.

    ``grad_e``: (..., C) real; ``boxes``: (C, 4); returns (..., N, N) float64 (overlaps add).
    """
    func = "detector_energies_backward"
    nn = positive_int(func, "n", n)
    b = check_boxes(func, boxes, nn)
    g = _real(func, "grad_e", grad_e, min_ndim=1)
    if g.shape[-1] != b.shape[0]:
        fail(func, "grad_e", f"of shape (..., C) with C = {b.shape[0]} (number of boxes)",
             f"shape {_fmt_shape(g.shape)}")
    out = np.zeros(g.shape[:-1] + (nn, nn), dtype=np.float64)
    for k, (r0, c0, h, w) in enumerate(b):
        out[..., r0:r0 + h, c0:c0 + w] += g[..., k, None, None]
    return out


# ----------------------------------------------------------------------------- encodings
def encode_phase(image, scale: float = np.pi) -> np.ndarray:
    """Phase object ``exp(i·scale·image)``; ``image`` (..., H, W) real, meant in [0, 1] (not
    enforced); ``scale`` in radians (QuATON default π). Returns complex128 of the same shape."""
    img = _real("encode_phase", "image", image, min_ndim=2)
    sc = finite_real("encode_phase", "scale", scale)
    return np.exp(1j * sc * img)


def encode_amplitude(image) -> np.ndarray:
    """Amplitude object ``u0 = image``; ``image`` (..., H, W) real in [0, 1] → complex128."""
    return _real("encode_amplitude", "image", image, min_ndim=2).astype(np.complex128)
