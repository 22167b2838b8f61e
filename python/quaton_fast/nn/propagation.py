"""Free-space propagation layer with its transfer function cached as a buffer."""
from __future__ import annotations

import torch
from torch import nn

from .._validation import finite_real, positive_int
from ..functional.propagation import angular_spectrum_transfer, propagate


class FreeSpace(nn.Module):
    """Angular-spectrum propagation over ``z`` metres of an (…, N, N) field on a grid of pitch
    ``dx`` (m) at ``wavelength`` (m), zero-padded to ``pad``·N. The transfer function (P, P) is a
    non-persistent complex128 buffer (exact to float64; cast to the field's dtype per call): it
    follows ``.to(device)`` and is rebuilt from the constructor arguments, never saved."""

    def __init__(self, n: int, dx: float, wavelength: float, z: float, *, pad: int = 2,
                 band_limited: bool = False):
        super().__init__()
        self.n = positive_int("FreeSpace", "n", n)
        self.pad = positive_int("FreeSpace", "pad", pad)
        self.dx = finite_real("FreeSpace", "dx", dx, positive=True)
        self.wavelength = finite_real("FreeSpace", "wavelength", wavelength, positive=True)
        self.z = finite_real("FreeSpace", "z", z)
        self.band_limited = bool(band_limited)
        h = angular_spectrum_transfer(self.pad * self.n, self.dx, self.wavelength, self.z,
                                      band_limited=self.band_limited, dtype=torch.complex128)
        self.register_buffer("transfer", h, persistent=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (…, N, N) complex → (…, N, N) complex."""
        if u.shape[-2:] != (self.n, self.n):
            raise ValueError(f"FreeSpace.forward(): argument 'u' must have shape (..., {self.n}, {self.n}), "
                             f"got {tuple(u.shape)}")
        return propagate(u, self.transfer)

    def extra_repr(self) -> str:
        return (f"n={self.n}, pad={self.pad}, dx={self.dx:.4g} m, wavelength={self.wavelength:.4g} m, "
                f"z={self.z:.4g} m, band_limited={self.band_limited}")
