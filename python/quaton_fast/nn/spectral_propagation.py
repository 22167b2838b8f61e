"""Free-space propagation of spectral fields (..., W, N, N): one transfer function per wavelength."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import fail, positive_int
from ..functional.propagation import propagate_spectral
from ..reference import optical_limits
from ..reference.materials import Material, wavelength_array
from ..reference.propagation import MAX_GRID_POINTS, check_grid_size, evanescent_mode
from ..reference.spectral import spectral_transfers


class SpectralFreeSpace(nn.Module):
    """Angular-spectrum propagation over ``z`` metres at W vacuum ``wavelengths`` (metres) in a
    medium (a :class:`~quaton_fast.reference.materials.Material`; λ_w/n_m(λ_w) in the medium), on an
    N×N grid of pitch ``dx`` zero-padded to ``pad``·N; conventions of
    :mod:`quaton_fast.reference.propagation` (``evanescent`` "cut" or "decay").

    The transfer functions (W, P, P) are built once in complex128 by the NumPy reference and kept as
    a plain attribute (not a buffer, as :class:`~quaton_fast.nn.FreeSpace` and for the same
    reasons); :meth:`transfers_like` returns them on the field's device and dtype, stacked and as W
    contiguous (P, P) tensors, copied once per (device, dtype) and cached."""

    def __init__(self, n: int, dx: float, wavelengths, z: float, *, medium: Material, pad: int = 2,
                 band_limited: bool = False, evanescent: str = "cut"):
        super().__init__()
        f = "SpectralFreeSpace"
        self.n = positive_int(f, "n", n)
        self.pad = positive_int(f, "pad", pad)
        check_grid_size(f, "pad" if (2 * self.n) ** 2 <= MAX_GRID_POINTS else "n", self.pad * self.n,
                        f" with P = pad·n, n = {self.n}, pad = {self.pad}")
        if not isinstance(medium, Material):
            fail(f, "medium", "a quaton_fast.reference.materials.Material", type(medium).__name__, TypeError)
        self.wavelengths = wavelength_array(f, wavelengths)
        n_m = medium.n(self.wavelengths)
        self.dx = optical_limits.length(f, "dx", dx)
        for lam, m in zip(self.wavelengths, n_m):   # the shortest wavelength in the medium binds
            self.z = optical_limits.distance(f, "z", z, lam / m)
        if not isinstance(band_limited, (bool, np.bool_)):
            fail(f, "band_limited", "a bool", f"{type(band_limited).__name__} {band_limited!r}", TypeError)
        self.evanescent = evanescent_mode(f, evanescent)
        h = spectral_transfers(self.pad * self.n, self.dx, self.wavelengths, self.z, n_medium=n_m,
                               band_limited=bool(band_limited), evanescent=self.evanescent)
        self._transfers = torch.from_numpy(np.ascontiguousarray(h))
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, tuple[torch.Tensor, ...]]] = {}

    @property
    def transfers(self) -> torch.Tensor:
        """(W, P, P) complex128 on the CPU, unshifted FFT order (reference copy)."""
        return self._transfers

    def transfers_like(self, u: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """((W, P, P), W × (P, P)) on ``u``'s device in its complex dtype, cached per (device, dtype)."""
        dtype = u.dtype if u.is_complex() else (torch.complex128 if u.dtype == torch.float64 else torch.complex64)
        key = (u.device, dtype)
        hit = self._cache.get(key)
        if hit is None:
            stacked = self._transfers.to(device=u.device, dtype=dtype)
            hit = self._cache[key] = (stacked, tuple(stacked[w].clone() for w in range(stacked.shape[0])))
        return hit

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (..., W, N, N) complex → (..., W, N, N)."""
        return propagate_spectral(u, self.transfers_like(u)[0])

    def extra_repr(self) -> str:
        return f"n={self.n}, pad={self.pad}, dx={self.dx:.4g} m, W={len(self.wavelengths)}, z={self.z:.4g} m"
