"""Partially coherent illumination as a module: the coherent modes of a Gaussian Schell-model source."""
from __future__ import annotations

import torch
from torch import nn

from .._validation import finite_real, positive_int
from ..reference import coherence as ref


class GaussianSchellSource(nn.Module):
    """Illumination of rms intensity width ``sigma_s`` and rms coherence width ``sigma_g`` (metres)
    on an N×N grid of pitch ``dx``, as its ``num_modes`` strongest coherent modes
    (:mod:`quaton_fast.reference.coherence`; modes (M, N, N) and weights (M,) as buffers).

    A field ``u`` (B, ..., N, N) (the object's transmission) becomes ``u·ψ_m`` (B, M, ..., N, N); after
    the (linear) network the intensity is ``Σ_m β_m |out_m|²`` (:meth:`intensity`). Every mode costs
    one coherent forward pass; :attr:`captured_fraction` is the kept share of the source power (the
    power truncation can lose on any plane is at most the rest; docs/physics.md, "Partial spatial
    coherence")."""

    def __init__(self, n: int, dx: float, sigma_s: float, sigma_g: float, num_modes: int):
        super().__init__()
        f = "GaussianSchellSource"
        self.n = positive_int(f, "n", n)
        self.dx = finite_real(f, "dx", dx, positive=True)
        self.sigma_s = finite_real(f, "sigma_s", sigma_s, positive=True)
        self.sigma_g = finite_real(f, "sigma_g", sigma_g, positive=True)
        self.num_modes = positive_int(f, "num_modes", num_modes)
        modes, weights = ref.gsm_modes(self.n, self.dx, self.sigma_s, self.sigma_g, self.num_modes)
        self.captured_fraction = ref.captured_fraction(self.sigma_s, self.sigma_g, self.num_modes)
        # amplitudes sqrt(β_m)·ψ_m, so that the intensity is a plain sum over modes
        amp = torch.from_numpy(modes * weights[:, None, None] ** 0.5)
        self.register_buffer("mode_fields", amp.float(), persistent=False)   # (M, N, N)

    def illuminate(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (B, ..., N, N) → (B, M, ..., N, N): each mode times the object field."""
        m = self.mode_fields.to(u.real.dtype if u.is_complex() else u.dtype)
        m = m.reshape((self.num_modes,) + (1,) * (u.dim() - 3) + tuple(m.shape[-2:]))
        return u.unsqueeze(1) * m

    @staticmethod
    def intensity(out: torch.Tensor) -> torch.Tensor:
        """``out`` (B, M, ..., N, N) complex → (B, ..., N, N): ``Σ_m |out_m|²``."""
        return (out.real ** 2 + out.imag ** 2).sum(1)

    def extra_repr(self) -> str:
        return (f"sigma_s={self.sigma_s:.4g} m, sigma_g={self.sigma_g:.4g} m, modes={self.num_modes}, "
                f"captured={self.captured_fraction:.6f}")
