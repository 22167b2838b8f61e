"""A diffractive layer: t = exp(+i·φ̂), φ̂ = quantizer(latent); or, for a complex (absorbing)
level table, the quantizer's complex transmission t(w)."""
from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import positive_int
from ..functional.fused_propagation import modulate_propagate, quantize_modulate_propagate
from ..functional.transmission import modulate_transmission_propagate
from ..quant.base import Quantizer
from ..quant.quantizers import FullPrecision


class PhaseLayer(nn.Module):
    """N×N optical neurons, each a phase delay φ̂ (radians) applied as ``u·exp(+i·φ̂)``.

    The latent weights live in ``self.latent`` ((N, N), or (N, N, n) logits for Gumbel-softmax);
    the pluggable ``quantizer`` maps them to φ̂. ``init``: 'uniform' (φ ~ U[0, 2π), the usual
    D2NN start) or 'zeros'."""

    def __init__(self, n: int, quantizer: Quantizer | None = None, *, init: str = "uniform",
                 generator: torch.Generator | None = None):
        super().__init__()
        self.n = positive_int("PhaseLayer", "n", n)
        self.quantizer = quantizer if quantizer is not None else FullPrecision()
        if not isinstance(self.quantizer, Quantizer):
            raise TypeError(f"PhaseLayer(): argument 'quantizer' must be a quaton_fast.quant.Quantizer, "
                            f"got {type(quantizer).__name__}")
        if init == "uniform":
            phase = torch.rand(self.n, self.n, generator=generator) * (2 * math.pi)
        elif init == "zeros":
            phase = torch.zeros(self.n, self.n)
        else:
            raise ValueError(f"PhaseLayer(): argument 'init' must be 'uniform' or 'zeros', got {init!r}")
        self.latent = nn.Parameter(self.quantizer.latent_from_phase(phase))

    def phase(self) -> torch.Tensor:
        """The phase (N, N) this layer applies now (soft in training, hard in evaluation)."""
        return self.quantizer(self.latent)

    def transmission(self) -> torch.Tensor:
        """The complex transmission (N, N) this layer applies now: ``exp(i·φ̂)`` for a phase table,
        the quantizer's complex level value for a complex table (soft in training, hard in eval)."""
        return self.quantizer.transmission(self.latent)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (…, N, N) complex → u·exp(i·φ̂) (complex table: u·t(w))."""
        if self.quantizer.uses_transmission:
            return u * self.transmission().to(u.dtype)
        phi = self.phase()
        return u * torch.polar(torch.ones_like(phi), phi).to(u.dtype)

    def modulate_propagate(self, u: torch.Tensor, transfer: torch.Tensor,
                           phase_error: torch.Tensor | None = None) -> torch.Tensor:
        """``propagate(self(u), transfer)`` as one op: phase tables take
        :func:`~quaton_fast.functional.fused_propagation.modulate_propagate` (fused on sm_80/86/89/90),
        complex tables :func:`~quaton_fast.functional.transmission.modulate_transmission_propagate`
        (torch path). ``phase_error`` (N, N) radians, optional (fabrication errors): added to the
        phase, i.e. the transmission is multiplied by ``exp(i·phase_error)``."""
        if self.quantizer.uses_transmission:
            t = self.transmission()
            if phase_error is not None:
                t = t * torch.polar(torch.ones_like(phase_error), phase_error).to(t.dtype)
            return modulate_transmission_propagate(u, t, transfer)
        phase = self.phase()
        if phase_error is not None:
            phase = phase + phase_error.to(phase.dtype)
        return modulate_propagate(u, phase, transfer)

    @torch.no_grad()
    def switch_quantizer(self, quantizer: Quantizer) -> None:
        """Continue training with another quantizer, starting from this layer's current phase
        (e.g. full-precision warm-up → QAT). Periodic tables wrap the phase into one period."""
        # Latent weights are phases for every quantizer but Gumbel-softmax (logits): hand over
        # the full-precision latent itself, or the argmax level for logits.
        if self.latent.dim() == 2:
            phase = self.latent.detach().clone()
        else:
            phase = self.quantizer.hard(self.latent.detach())
        # the new quantizer's floating state (levels, PSQ-LT κ, DSQ α) takes the latent's dtype
        # too, as it would have had the model been built with it and then cast (e.g. .double())
        quantizer = quantizer.to(device=self.latent.device, dtype=self.latent.dtype)
        quantizer.train(self.training)
        self.quantizer = quantizer
        self.latent = nn.Parameter(quantizer.latent_from_phase(phase.detach()))

    def hard_phase(self) -> torch.Tensor:
        """Fabricated phase levels (N, N) in [0, period) (radians)."""
        return self.quantizer.hard_phase(self.latent.detach())

    def hard_transmission(self) -> torch.Tensor:
        """The fabricated mask's complex transmission (N, N): the level nearest in phase of each
        neuron (``exp(i·hard phase)`` for a phase table); NaN for a non-finite latent."""
        return self.quantizer.hard_transmission(self.latent.detach())

    def extra_repr(self) -> str:
        return f"n={self.n}"
