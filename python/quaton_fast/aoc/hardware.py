"""The non-ideal AOC twin on equilibrium models: hardware-aware training and evaluation (measured non-idealities; docs/aoc_hardware.md).

``model.hardware = HardwareTwin(AOCHardware.from_yaml(path))`` makes an
:class:`~quaton_fast.aoc.equilibrium.EquilibriumClassifier` / ``EquilibriumRegressor`` run every
cell through the measured non-idealities of the machine (fitted nonlinearity, microLED cubics, fan-in
and TIA efficiencies, two SLMs with per-output-channel distortion, photodiode crosstalk with the dark
floor, closed-loop correction, input clamp; map and units in :mod:`quaton_fast.reference.aoc_hardware`)
with implicit gradients (:mod:`quaton_fast.functional.aoc_hardware`); ``model.hardware = None`` (the
default) or an ideal profile is today's ideal twin, bit for bit.  Swapping the twin between training
and evaluation measures the transfer gap (``quaton-fast aoc-train --hardware A --eval-hardware B``).

Parametrisation: the model keeps its ``beta`` and free ``W``; the machine is programmed with
``W± / max|W|`` on the SLMs and the gain ``beta_hw = n max|W| beta`` (``hardware_gain``), exactly the
paper's export (``max(W)`` re-injected through beta).  9-bit evaluation: the model's ``quantized()``
context, whose levels then sit on the SLMs unchanged.

Contractivity under the hardware map: :meth:`HardwareTwin.project_` bounds the linear gain of the
non-ideal map at the origin, ``||E⁺ diag(p⁺'f'(0)) - E⁻ diag(p⁻'f'(0))||_2 <= max_gain`` per cell, by
rescaling W (E± scale linearly with W because the SLMs see ``W / max|W|`` and the gain is
``beta max|W|``).  With the ideal profile this is the ideal model's ``|beta| ||W_c||_2 <= max_gain``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..reference.aoc_hardware import hardware_gain, led_paths, state_scale
from ..reference.aoc_hardware_calibration import calibrate
from ..reference.aoc_hardware_profile import CALIBRATIONS, EFFECTS, AOCHardware, HardwareFileError

__all__ = ["AOCHardware", "HardwareFileError", "HardwareTwin", "EFFECTS", "CALIBRATIONS", "hardware_gain",
           "load_profile", "calibrate", "CALIBRATION_MODES"]

#: how a calibration file is operated: 'operator' (default: ``calibrate()``, issue 27), 'operator+crosstalk'
#: (``calibrate(crosstalk=True)``: also the photodiode-crosstalk pre-compensation) or 'released' (the file
#: as the released twin uses it, uncalibrated)
CALIBRATION_MODES = ("operator", "operator+crosstalk", "released")


def load_profile(spec: str, off: Optional[list] = None, calibration: str = "operator",
                 width: Optional[int] = None) -> AOCHardware:
    """'ideal' or a calibration file path -> AOCHardware.

    calibration: 'operator' (default; the machine as an operator runs it: :func:`calibrate` fitted
    for a cell of ``width`` channels, default the file's), 'operator+crosstalk' (the same plus the
    photodiode-crosstalk pre-compensation ``cal_crosstalk``) or 'released' (uncalibrated, the released
    twin's behaviour).  off: effect or calibration switches (``EFFECTS`` / ``CALIBRATIONS``) turned
    off afterwards (ablations; the fitted data of the other calibrations stay).  'ideal' ignores
    ``calibration``."""
    if calibration not in CALIBRATION_MODES:
        raise ValueError(f"load_profile(): argument 'calibration' must be one of {CALIBRATION_MODES}, "
                         f"got {calibration!r}")
    off = list(off or [])
    for k in off:
        if k not in EFFECTS + CALIBRATIONS:
            raise ValueError(f"load_profile(): argument 'off' must name effects or calibrations among "
                             f"{EFFECTS + CALIBRATIONS}, got {k!r}")
    hw = AOCHardware.ideal() if spec == "ideal" else AOCHardware.from_yaml(spec)
    eff = [k for k in off if k in EFFECTS]
    if eff:
        hw = hw.with_effects(**{k: False for k in eff})
    if spec != "ideal" and calibration != "released":
        hw = calibrate(hw, width=width, crosstalk=calibration == "operator+crosstalk")
        cal = [k for k in off if k in CALIBRATIONS]
        if cal:
            hw = hw.with_calibrations(**{k: False for k in cal})
    return hw


class HardwareTwin:
    """A hardware profile plus the read-out model, attached to an equilibrium model as ``model.hardware``.

    profile: AOCHardware; readout_sigma: Gaussian read-out noise per sample [V] (0 = none), applied in
    eval mode only to the sampled fixed point, averaged over ``samples`` (40, the paper's window) x
    ``repeats`` (11 for the paper's regression) draws from ``generator`` (seeded with ``seed``);
    unconverged: 'zero' (training default: drop systems without a trustworthy implicit gradient and
    count them in ``last_untrusted``) or 'raise'.
    """

    def __init__(self, profile: AOCHardware, *, readout_sigma: float = 0.0, samples: int = 40,
                 repeats: int = 1, seed: int = 0, unconverged: str = "zero"):
        if not isinstance(profile, AOCHardware):
            raise TypeError(f"HardwareTwin(): argument 'profile' must be an AOCHardware, got {type(profile).__name__}")
        if not readout_sigma >= 0 or int(samples) < 1 or int(repeats) < 1:
            raise ValueError("HardwareTwin(): arguments 'readout_sigma' >= 0, 'samples' >= 1, 'repeats' >= 1 "
                             f"expected, got {readout_sigma!r}, {samples!r}, {repeats!r}")
        self.profile, self.readout_sigma = profile, float(readout_sigma)
        self.samples, self.repeats, self.unconverged = int(samples), int(repeats), unconverged
        import torch  # here, not at import: loading a calibration file does not need torch

        from ..functional.aoc_hardware import nonlinearity
        self.generator = torch.Generator().manual_seed(int(seed))
        self.last_untrusted: Optional[torch.Tensor] = None
        f0, fp0 = (float(t) for t in nonlinearity(torch.zeros(1, dtype=torch.float64), profile)[0:2])
        _, _, dpp, dpn = led_paths(np.array([f0]), profile)
        self._slope0 = (float(dpp[0]) * fp0, float(dpn[0]) * fp0)   # p±'(f(0)) f'(0)

    @property
    def active(self) -> bool:
        """False for an ideal profile without read-out noise: the model then runs its own ideal path."""
        return not (self.profile.is_ideal and self.readout_sigma == 0.0)

    def describe(self) -> str:
        s = self.profile.describe()
        return s + (f", read-out sigma {self.readout_sigma} V x {self.samples} samples x {self.repeats} repeats"
                    if self.readout_sigma else "")

    def equilibrium(self, model, x: torch.Tensor) -> torch.Tensor:
        """Fixed points of all cells of ``model`` for inputs x (B, in) -> (B, cells*width)."""
        from ..functional.aoc_hardware import hardware_fixed_point, readout
        B, n, cells = x.shape[0], model.width, model.cells
        beff = (model.ip(x) + model.b).reshape(B * cells, n)
        W = model.effective_W().to(beff.dtype)
        Wb = W.unsqueeze(0).expand(B, -1, -1, -1).reshape(B * cells, n, n)
        z, it, res, untrusted = hardware_fixed_point(
            Wb, beff, self.profile, alpha=model.alpha, beta=model.beta, clamp=model.clamp, tol=model.tol,
            max_iter=model.max_iter, unconverged=self.unconverged)
        model.last_iterations, model.last_residual, self.last_untrusted = it, res, untrusted
        if self.readout_sigma > 0 and not model.training:
            # sigma is in volts; under the operator's state scale the model state is z_V / kappa
            z = readout(z, self.readout_sigma / state_scale(self.profile), self.samples, self.repeats,
                        self.generator)
        return z.reshape(B, cells * n)

    def linear_gain(self, W: torch.Tensor, beta) -> torch.Tensor:
        """Per cell ``||E⁺ diag(s⁺) - E⁻ diag(s⁻)||_2`` with ``s± = p±'(f(0)) f'(0)``; W: (cells, n, n)."""
        import torch

        from ..functional.aoc_hardware import path_operators
        Ep, En, _ = path_operators(W, beta, self.profile)
        return torch.linalg.matrix_norm(Ep * self._slope0[0] - En * self._slope0[1], ord=2)

    def project_(self, model) -> None:
        """Rescale each cell's W so that its hardware linear gain is <= model.max_gain (no-op if None)."""
        import torch

        if model.max_gain is None:
            return
        with torch.no_grad():
            gain = self.linear_gain(model.W.detach(), model.beta.detach())
            scale = torch.clamp(model.max_gain / gain.clamp_min(1e-12), max=1.0)
            model.W.mul_(scale.reshape(-1, 1, 1).to(model.W.dtype))
