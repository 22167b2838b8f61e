"""Random fabrication and assembly errors of a diffractive network, for training that survives them.

Three kinds of error, each optional (size 0 = off), drawn afresh at every forward pass in training
(the "vaccinated" D2NN of Mengu et al., IEEE JSTQE 26, 2020) and off at evaluation unless asked:

- ``phase``: per-neuron phase error (radians), from height errors of the relief
  (Δφ = 2π·Δn·Δh/λ): added to each layer's phase map.
- ``shift``: lateral misalignment of each layer (metres, per axis): layer ``m`` sits at ``x − s_m``.
- ``dz``: axial spacing error of each gap (metres): the gap before plane ``k`` is ``z_k + δ_k``.

``distribution='uniform'`` draws each error uniformly in [−size, size] (as Mengu et al.);
``'normal'`` draws it with standard deviation ``size``.

How they enter the model, exactly and at no extra FFT: a mask displaced by ``s`` transmits
``t(x − s)·u(x) = S_s[t·S_{−s}u]`` with ``S_a u(x) = u(x − a)``, and shifts commute with free-space
propagation, so the propagation from plane k−1 to plane k becomes ``P_k·S_{s_{k−1} − s_k}``: its
transfer function is multiplied by the ramp ``exp(−2πi·(fx·Δx + fy·Δy))`` with
``(Δx, Δy) = s_{k−1} − s_k`` (input plane and detector are the fixed references, s = 0). On the
padded grid this is the exact shift of any field band-limited to the grid (sub-pixel shifts
included). An axial error multiplies the transfer function by ``exp(i·2π·δ·k_z)`` with the complex
``k_z = sqrt(1/λ² − fx² − fy²)`` (``i·sqrt(fx² + fy² − 1/λ²)`` outside the propagating band), which
is ``H(z + δ)`` exactly for the plain angular spectrum with evanescent waves cut or decaying; with
``band_limited=True`` the band limit stays that of the nominal distance.
Conventions: axis −1 of a field is x (column index), axis −2 is y; shifts (Δx, Δy) in metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import math
import torch

from .._validation import fail, finite_real

__all__ = ["FabricationErrors", "SampledErrors", "shift_ramp", "axial_factor"]


@dataclass(frozen=True)
class FabricationErrors:
    """Sizes of the random errors (0 = off). phase: radians; shift, dz: metres.

    at_eval: also draw errors in eval mode (for robustness sweeps); training draws them always."""
    phase: float = 0.0
    shift: float = 0.0
    dz: float = 0.0
    distribution: str = "uniform"
    at_eval: bool = False

    def __post_init__(self):
        for name in ("phase", "shift", "dz"):
            finite_real("FabricationErrors", name, getattr(self, name), nonnegative=True)
        if self.distribution not in ("uniform", "normal"):
            fail("FabricationErrors", "distribution", "'uniform' or 'normal'", repr(self.distribution))
        if not isinstance(self.at_eval, bool):
            fail("FabricationErrors", "at_eval", "a bool", repr(self.at_eval), TypeError)

    @property
    def active(self) -> bool:
        return self.phase > 0 or self.shift > 0 or self.dz > 0

    def _draw(self, size: float, shape, device, generator) -> torch.Tensor:
        if self.distribution == "uniform":
            r = torch.rand(shape, device=device, dtype=torch.float64, generator=generator)
            return (2.0 * r - 1.0) * size
        return torch.randn(shape, device=device, dtype=torch.float64, generator=generator) * size

    def sample(self, num_layers: int, n: int, device: torch.device | str = "cpu",
               generator: torch.Generator | None = None) -> "SampledErrors":
        """One realisation for a network of ``num_layers`` masks of n×n neurons (on ``device``,
        drawn on the device: no host synchronisation)."""
        L = int(num_layers)
        phase = self._draw(self.phase, (L, n, n), device, generator) if self.phase > 0 else None
        shift = self._draw(self.shift, (L, 2), device, generator) if self.shift > 0 else None
        dz = self._draw(self.dz, (L + 1,), device, generator) if self.dz > 0 else None
        return SampledErrors(phase=phase, shift=shift, dz=dz)


@dataclass
class SampledErrors:
    """One realisation: phase (L, N, N) rad, shift (L, 2) m as (Δx, Δy) of each layer, dz (L+1,) m
    of each gap (input→layer 1, …, layer L→detector); None where that error is off."""
    phase: torch.Tensor | None = None
    shift: torch.Tensor | None = None
    dz: torch.Tensor | None = None


def _freqs(n_pad: int, dx: float, device, dtype=torch.float64):
    f = torch.fft.fftfreq(n_pad, d=dx, device=device, dtype=dtype)
    return f[None, :], f[:, None]          # fx along axis -1, fy along axis -2


def shift_ramp(n_pad: int, dx: float, shift: torch.Tensor) -> torch.Tensor:
    """``exp(−2πi·(fx·Δx + fy·Δy))`` (P, P) complex128, unshifted FFT order: multiplying a
    spectrum by it shifts the field by ``shift = (Δx, Δy)`` metres (a (2,) tensor)."""
    fx, fy = _freqs(n_pad, dx, shift.device)
    phase = -2.0 * math.pi * (fx * shift[0] + fy * shift[1])
    return torch.polar(torch.ones_like(phase), phase)


def axial_factor(n_pad: int, dx: float, wavelength: float, delta: torch.Tensor) -> torch.Tensor:
    """``exp(i·2π·δ·k_z)`` (P, P) complex128 with complex k_z (see the module doc): H(z)·this = H(z + δ)."""
    fx, fy = _freqs(n_pad, dx, delta.device)
    arg = (1.0 / wavelength ** 2 - fx ** 2 - fy ** 2).to(torch.complex128)
    kz = torch.sqrt(arg)                   # principal root: i·sqrt(|arg|) where arg < 0
    return torch.exp(2j * math.pi * delta.to(torch.complex128) * kz)


def perturbed_transfers(transfers: list[torch.Tensor], n_pad: int, dx: float, wavelength: float,
                        errors: SampledErrors) -> list[torch.Tensor]:
    """The L+1 transfer functions (input→layer 1, …, layer L→detector), each (P, P) complex, with
    the shift ramps and axial factors of ``errors`` applied (same dtype/device as each input)."""
    L = len(transfers) - 1
    out = []
    for k, h in enumerate(transfers):
        factor = None
        if errors.shift is not None:
            before = errors.shift[k - 1] if k >= 1 else None          # plane k-1 is layer k (1-based)
            after = errors.shift[k] if k < L else None
            rel = (before if before is not None else 0) - (after if after is not None else 0)
            factor = shift_ramp(n_pad, dx, torch.as_tensor(rel, dtype=torch.float64, device=h.device)
                                if not torch.is_tensor(rel) else rel)
        if errors.dz is not None:
            a = axial_factor(n_pad, dx, wavelength, errors.dz[k])
            factor = a if factor is None else factor * a
        out.append(h if factor is None else h * factor.to(h.dtype))
    return out
