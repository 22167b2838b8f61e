"""Free-space propagation layer with its transfer function cached per device."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..reference import optical_limits
from .._validation import fail, finite_real, positive_int
from ..functional.propagation import angular_spectrum_transfer, propagate
from ..reference.propagation import MAX_GRID_POINTS, check_grid_size, evanescent_mode


class FreeSpace(nn.Module):
    """Angular-spectrum propagation over ``z`` metres of an (…, N, N) field on a grid of pitch
    ``dx`` (m) at vacuum ``wavelength`` (m) in a medium of index ``n_medium`` (λ = wavelength /
    n_medium), zero-padded to ``pad``·N; ``evanescent``: "cut" (default) or "decay" (see
    :func:`quaton_fast.reference.propagation.angular_spectrum_transfer`; :class:`D2NN` uses
    "decay" by default).

    The transfer function H (P, P) is computed once in complex128 (exact to float64) from the
    constructor arguments and kept as a plain attribute, NOT a buffer: it is never saved, never
    cast by ``module.to(dtype)`` / ``.float()`` / ``.half()``, and never broadcast by
    DistributedDataParallel (whose init sync broadcasts every buffer, and NCCL has no complex
    types: a complex buffer makes ``DDP(model)`` fail on GPUs; pytorch/pytorch#99652). Each
    forward uses a copy on the field's device and dtype, made once and cached."""

    def __init__(self, n: int, dx: float, wavelength: float, z: float, *, pad: int = 2,
                 band_limited: bool = False, n_medium: float = 1.0, evanescent: str = "cut"):
        super().__init__()
        self.n = positive_int("FreeSpace", "n", n)
        self.pad = positive_int("FreeSpace", "pad", pad)
        # blame pad when the grid itself would fit with the default padding
        check_grid_size("FreeSpace", "pad" if (2 * self.n) ** 2 <= MAX_GRID_POINTS else "n", self.pad * self.n,
                        f" with P = pad·n, n = {self.n}, pad = {self.pad}")
        lam = optical_limits.wavelength_in_medium("FreeSpace", wavelength, n_medium)
        self.dx = optical_limits.length("FreeSpace", "dx", dx)
        self.wavelength = finite_real("FreeSpace", "wavelength", wavelength, positive=True)
        self.n_medium = finite_real("FreeSpace", "n_medium", n_medium, positive=True)
        self.z = optical_limits.distance("FreeSpace", "z", z, lam)
        if not isinstance(band_limited, (bool, np.bool_)):
            fail("FreeSpace", "band_limited", "a bool", f"{type(band_limited).__name__} {band_limited!r}", TypeError)
        self.band_limited = bool(band_limited)
        self.evanescent = evanescent_mode("FreeSpace", evanescent)
        self._transfer = angular_spectrum_transfer(self.pad * self.n, self.dx, self.wavelength, self.z,
                                                   band_limited=self.band_limited, n_medium=self.n_medium,
                                                   evanescent=self.evanescent, dtype=torch.complex128)
        self._cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    @property
    def transfer(self) -> torch.Tensor:
        """H (P, P) complex128 on the CPU, unshifted FFT order (read-only reference copy)."""
        return self._transfer

    def transfer_like(self, u: torch.Tensor) -> torch.Tensor:
        """H (P, P) on ``u``'s device in ``u``'s complex dtype (complex64 for real float32 input)."""
        dtype = u.dtype if u.is_complex() else (torch.complex128 if u.dtype == torch.float64 else torch.complex64)
        key = (u.device, dtype)
        h = self._cache.get(key)
        if h is None:
            h = self._cache[key] = self._transfer.to(device=u.device, dtype=dtype)
        return h

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (…, N, N) complex → (…, N, N) complex."""
        if u.shape[-2:] != (self.n, self.n):
            raise ValueError(f"FreeSpace.forward(): argument 'u' must have shape (..., {self.n}, {self.n}), "
                             f"got {tuple(u.shape)}")
        return propagate(u, self.transfer_like(u))

    def extra_repr(self) -> str:
        return (f"n={self.n}, pad={self.pad}, dx={self.dx:.4g} m, wavelength={self.wavelength:.4g} m "
                f"(vacuum), n_medium={self.n_medium:g}, z={self.z:.4g} m, band_limited={self.band_limited}, "
                f"evanescent={self.evanescent!r}")
