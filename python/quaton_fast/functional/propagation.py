"""Free-space propagation (angular spectrum) as a torch autograd Function.

Conventions are those of :mod:`quaton_fast.reference.propagation` (time dependence exp(−iωt),
H = exp(+i·2π·z·sqrt(1/λ² − fx² − fy²)), λ = vacuum wavelength / n_medium, evanescent waves cut
or decaying, centred zero-padding to P ≥ N, crop back). The backward is the adjoint: the same
propagation with conj(H) — valid for any H, also the non-unimodular "decay" one. This Function is
the single dispatch point for the fused CUDA kernels; on every device today it runs torch.fft.
"""
from __future__ import annotations

import numpy as np
import torch

from .._validation import fail, positive_int
from ..reference import optical_limits
from ..reference import propagation as ref_prop
from . import _checks
from ._derived import conj_transfer


def angular_spectrum_transfer(n_pad: int, dx: float, wavelength: float, z: float, *,
                              band_limited: bool = False, n_medium: float = 1.0, evanescent: str = "cut",
                              device: torch.device | str | None = None,
                              dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    """Transfer function H of shape (P, P), unshifted FFT order, computed in float64 by the
    NumPy reference (:func:`quaton_fast.reference.propagation.angular_spectrum_transfer`: same
    arguments and conventions) and cast to ``dtype``. Lengths in metres; ``wavelength`` is the
    vacuum wavelength, ``n_medium`` the index of the medium (λ = wavelength / n_medium);
    ``evanescent``: "cut" (H = 0 there, default) or "decay" (H = exp(−2π|z|·sqrt(f² − 1/λ²)))."""
    h = ref_prop.angular_spectrum_transfer(n_pad, dx, wavelength, z, band_limited=band_limited,
                                           n_medium=n_medium, evanescent=evanescent)
    return torch.from_numpy(np.ascontiguousarray(h)).to(device=device, dtype=dtype)


def _pad_offset(n: int, p: int) -> int:
    return (p - n) // 2


def _propagate_fft(u: torch.Tensor, transfer: torch.Tensor) -> torch.Tensor:
    # u: (..., N, N) complex; transfer: (P, P) complex -> (..., N, N)
    n, p = u.shape[-1], transfer.shape[-1]
    if p == n:
        return torch.fft.ifft2(torch.fft.fft2(u) * transfer)
    o = _pad_offset(n, p)
    padded = torch.nn.functional.pad(u, (o, p - n - o, o, p - n - o))  # one kernel, not zeros + copy
    out = torch.fft.ifft2(torch.fft.fft2(padded) * transfer)
    return out[..., o:o + n, o:o + n]


class _Propagate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: torch.Tensor, transfer: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(transfer)
        return _propagate_fft(u, transfer)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (transfer,) = ctx.saved_tensors
        grad_u = _propagate_fft(grad_out, conj_transfer(transfer)) if ctx.needs_input_grad[0] else None
        return grad_u, None


def propagate(u: torch.Tensor, transfer: torch.Tensor, *, check_finite: bool = False) -> torch.Tensor:
    """Propagate fields ``u`` (..., N, N) complex by the transfer function ``transfer`` (P, P)
    complex, P ≥ N (linear convolution through centred zero-padding). Differentiable in ``u``.

    Checks shape, dtype and device on every call (free); ``check_finite=True`` also checks that
    ``u`` holds no NaN/Inf, without a host synchronisation (see
    :func:`quaton_fast.functional._checks.finite`): use it where your data enters, not per layer."""
    _checks.square_field("propagate", "u", u, check_finite=check_finite)
    _checks.square_field("propagate", "transfer", transfer)
    if not u.is_complex():
        u = u.to(torch.complex64 if u.dtype != torch.float64 else torch.complex128)
    if transfer.dim() != 2:
        fail("propagate", "transfer", "of shape (P, P)", f"shape {tuple(transfer.shape)}")
    if transfer.shape[-1] < u.shape[-1]:
        fail("propagate", "transfer", f"at least as large as the field (P >= N = {u.shape[-1]})",
             f"P = {transfer.shape[-1]}")
    _checks.same_device("propagate", "transfer", transfer, u, "u")
    if transfer.dtype != u.dtype:
        transfer = transfer.to(u.dtype)
    return _Propagate.apply(u, transfer)


def propagate_free_space(u: torch.Tensor, *, dx: float, wavelength: float, z: float, pad: int = 2,
                         band_limited: bool = False, n_medium: float = 1.0,
                         evanescent: str = "cut", check_finite: bool = False) -> torch.Tensor:
    """Convenience: build H for ``pad``·N and propagate ``u`` (..., N, N) by ``z`` metres.

    ``wavelength``: vacuum wavelength (m); ``n_medium``: index of the medium; ``evanescent``:
    "cut" or "decay" (see :func:`angular_spectrum_transfer`); ``check_finite`` as in :func:`propagate`."""
    _checks.square_field("propagate_free_space", "u", u, check_finite=check_finite)
    pad = positive_int("propagate_free_space", "pad", pad)
    lam = optical_limits.wavelength_in_medium("propagate_free_space", wavelength, n_medium)
    optical_limits.length("propagate_free_space", "dx", dx)   # extreme values named here, once
    optical_limits.distance("propagate_free_space", "z", z, lam)
    ref_prop.check_grid_size("propagate_free_space", "pad", pad * u.shape[-1],
                             f" with P = pad·N, N = {u.shape[-1]}")
    dtype = torch.complex128 if u.dtype in (torch.float64, torch.complex128) else torch.complex64
    h = angular_spectrum_transfer(pad * u.shape[-1], dx, wavelength, z, band_limited=band_limited,
                                  n_medium=n_medium, evanescent=evanescent, device=u.device, dtype=dtype)
    return propagate(u.to(dtype), h)


def propagate_spectral(u: torch.Tensor, transfers: torch.Tensor, *, check_finite: bool = False) -> torch.Tensor:
    """Propagate spectral fields ``u`` (..., W, N, N) complex by one transfer function per
    wavelength, ``transfers`` (W, P, P) complex (P >= N; build them with
    :func:`quaton_fast.reference.spectral.spectral_transfers` or
    :class:`quaton_fast.nn.spectral.SpectralFreeSpace`). The same autograd Function as
    :func:`propagate` (one batched torch.fft over every leading axis and W; backward with conj(H)).
    Metadata checks only; ``check_finite`` as in :func:`propagate`."""
    f = "propagate_spectral"
    _checks.square_field(f, "u", u, check_finite=check_finite)
    _checks.tensor(f, "transfers", transfers, real_ok=False, min_ndim=3, check_finite=False)
    if u.dim() < 3:
        fail(f, "u", "of shape (..., W, N, N)", f"shape {tuple(u.shape)}")
    if transfers.dim() != 3 or transfers.shape[-1] != transfers.shape[-2] or transfers.shape[0] != u.shape[-3]:
        fail(f, "transfers", f"of shape (W, P, P) with W = {u.shape[-3]} (u's wavelength axis)",
             f"shape {tuple(transfers.shape)}")
    if transfers.shape[-1] < u.shape[-1]:
        fail(f, "transfers", f"at least as large as the field (P >= N = {u.shape[-1]})", f"P = {transfers.shape[-1]}")
    _checks.same_device(f, "transfers", transfers, u, "u")
    if not u.is_complex():
        u = u.to(torch.complex64 if u.dtype != torch.float64 else torch.complex128)
    if transfers.dtype != u.dtype:
        transfers = transfers.to(u.dtype)
    return _Propagate.apply(u, transfers)
