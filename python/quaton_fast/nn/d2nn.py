"""The diffractive deep neural network of SPEC A1.

input plane → propagate z_in → [phase mask → propagate dz] × L (the last mask is followed by
z_out instead of dz) → detector plane |u|² → classification or QPI read-out.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from .._validation import finite_real, positive_int
from .._atomic import atomic_path
from .. import encode as _encode
from ..functional import _checks
from ..functional.fused_propagation import modulate_propagate
from ..quant.base import Quantizer
from .phase_layer import PhaseLayer
from .presets import preset_config
from .propagation import FreeSpace
from .readouts import DetectorReadout, QPIReadout


class D2NN(nn.Module):
    """Phase-only diffractive network on an N×N grid of pitch ``dx`` (m) at ``wavelength`` (m).

    ``quantizer`` is a template: each layer gets its own copy, ``quantizer.for_layer(i)`` (so
    PSQ-LT learns one temperature per layer and Gumbel-softmax layers draw independent noise).
    ``readout``: 'classify' (logits from detector energies), 'qpi' (ŷ = s·|u|² + b) or 'field' (the
    complex detector-plane field). ``init``: the masks' start, 'uniform' (φ ~ U[0, 2π), the usual
    D2NN start) or 'zeros' (transparent layers: the network starts as free-space propagation, a
    better start for imaging tasks such as QPI)."""

    def __init__(self, n: int, dx: float, wavelength: float, num_layers: int, z_in: float, dz: float,
                 z_out: float, *, pad: int = 2, band_limited: bool = False, quantizer: Quantizer | None = None,
                 readout: str = "classify", num_classes: int = 10, detector_size: int | None = None,
                 object_size: int | None = None, encoding: str = "phase", seed: int | None = None,
                 init: str = "uniform"):
        super().__init__()
        self.n = positive_int("D2NN", "n", n)
        self.wavelength = finite_real("D2NN", "wavelength", wavelength, positive=True)
        self.dx = finite_real("D2NN", "dx", dx, positive=True)
        num_layers = positive_int("D2NN", "num_layers", num_layers)
        self.object_size = object_size
        if encoding not in ("phase", "amplitude"):
            raise ValueError(f"D2NN(): argument 'encoding' must be 'phase' or 'amplitude', got {encoding!r}")
        self.encoding = encoding
        prop = dict(n=self.n, dx=self.dx, wavelength=self.wavelength, pad=pad, band_limited=band_limited)
        self.to_first = FreeSpace(z=z_in, **prop)
        self.between = FreeSpace(z=dz, **prop)
        self.to_detector = FreeSpace(z=z_out, **prop)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        self.layers = nn.ModuleList(
            PhaseLayer(self.n, quantizer.for_layer(i) if quantizer is not None else None, init=init,
                       generator=gen)
            for i in range(num_layers))
        if readout == "classify":
            self.readout: nn.Module | None = DetectorReadout(self.n, num_classes, detector_size=detector_size)
        elif readout == "qpi":
            self.readout = QPIReadout()
        elif readout == "field":
            self.readout = None
        else:
            raise ValueError(f"D2NN(): argument 'readout' must be 'classify', 'qpi' or 'field', got {readout!r}")

    @classmethod
    def preset(cls, name: str, **overrides) -> "D2NN":
        """Build a network from a named setup ('visible-128', 'thz-200'); keywords override."""
        cfg = preset_config(name)
        cfg.update(overrides)
        return cls(**cfg)

    # -- forward ---------------------------------------------------------------------------
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (B, H, W) in [0, 1] → input field (B, N, N) complex64 with this network's
        encoding and object size."""
        fn = _encode.phase if self.encoding == "phase" else _encode.amplitude
        return fn(images, self.n, object_size=self.object_size)

    def output_field(self, u: torch.Tensor, *, check_finite: bool = False) -> torch.Tensor:
        """``u`` (B, N, N) complex input field → detector-plane field (B, N, N) complex.
        ``check_finite=True`` checks ``u`` for NaN/Inf once, without a host synchronisation
        (see :func:`quaton_fast.functional._checks.finite`); the layers check metadata only."""
        # one op per layer, modulation + propagation: the fused cuFFTDx kernels on sm_90 GPUs,
        # the same torch ops as PhaseLayer then FreeSpace everywhere else
        if u.shape[-2:] != (self.n, self.n):
            raise ValueError(f"D2NN.output_field(): argument 'u' must have shape (..., {self.n}, {self.n}), "
                             f"got {tuple(u.shape)}")
        last = len(self.layers) - 1
        if check_finite:
            _checks.finite("D2NN.output_field", "u", u)
        u = modulate_propagate(u, None, self.to_first.transfer_like(u))
        for i, layer in enumerate(self.layers):
            prop = self.to_detector if i == last else self.between
            u = layer.modulate_propagate(u, prop.transfer_like(u))  # phase: fused; complex table: torch
        return u

    def forward(self, u: torch.Tensor, *, check_finite: bool = False) -> torch.Tensor:
        """``u`` (B, N, N) complex → logits (B, C) / QPI prediction (B, N, N) / field.
        ``check_finite`` as in :meth:`output_field`."""
        out = self.output_field(u, check_finite=check_finite)
        return out if self.readout is None else self.readout(out)

    # -- quantization-aware training -------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Tell every quantizer the (0-based) epoch, for temperature schedules and regularisers."""
        for layer in self.layers:
            layer.quantizer.set_epoch(epoch)

    def regularization(self) -> torch.Tensor:
        """Sum of the quantizers' loss terms (PSQ-LT: ½·λ(e)·Σ_layers κ²)."""
        terms = [layer.quantizer.regularization() for layer in self.layers]
        return torch.stack([t.to(terms[0].dtype) for t in terms]).sum()

    def switch_quantizer(self, quantizer: Quantizer) -> None:
        """Continue with a copy of ``quantizer`` on every layer (``quantizer.for_layer(i)``),
        starting from the current phases (wrapped into one period for periodic level tables).
        The parameters change: rebuild the optimizer, and re-wrap a DDP model
        (``quaton_fast.distributed.wrap_ddp``) after the switch."""
        for i, layer in enumerate(self.layers):
            layer.switch_quantizer(quantizer.for_layer(i))

    @torch.no_grad()
    def hard_quantized_phases(self) -> torch.Tensor:
        """The masks a fab would make: (L, N, N) phases in [0, period) (radians)."""
        return torch.stack([layer.hard_phase() for layer in self.layers])

    @torch.no_grad()
    def fabrication_heights(self, n_material: float, n_medium: float = 1.0) -> torch.Tensor:
        """Relief heights h = φ·λ / (2π·(n_material − n_medium)) of every mask, (L, N, N) metres."""
        dn = finite_real("fabrication_heights", "n_material", n_material) - \
            finite_real("fabrication_heights", "n_medium", n_medium)
        if dn <= 0:
            raise ValueError(f"fabrication_heights(): argument 'n_material' must exceed n_medium "
                             f"({n_medium}), got {n_material}")
        return self.hard_quantized_phases() * self.wavelength / (2 * np.pi * dn)

    def export_masks(self, path: str | os.PathLike, n_material: float, n_medium: float = 1.0) -> None:
        """Write phases (rad), heights (m), pitch and wavelength to ``path`` (.npz), atomically."""
        phases = self.hard_quantized_phases().cpu().numpy()
        heights = self.fabrication_heights(n_material, n_medium).cpu().numpy()
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, phases=phases, heights=heights, dx=self.dx, wavelength=self.wavelength,
                     n_material=n_material, n_medium=n_medium)
