"""The diffractive deep neural network of Lin et al. (Science 2018) with QuATON quantizers (docs/physics.md).

input plane → propagate z_in → [phase mask → propagate dz] × L (the last mask is followed by
z_out instead of dz) → detector plane |u|² → classification or QPI read-out. Conventions
(vacuum wavelength + medium index, evanescent waves, the N×N aperture of every layer):
docs/physics.md.
"""
from __future__ import annotations

import inspect
import numbers
import os
import warnings

import numpy as np
import torch
from torch import nn

from ..reference import optical_limits
from .._validation import fail, finite_real, plain_scalar, positive_int
from .._atomic import atomic_path
from .._placement import place
from .. import encode as _encode
from ..functional import _checks
from ..functional.fused_propagation import modulate_propagate
from ..quant.base import Quantizer
from ..reference.propagation import MAX_GRID_POINTS, check_grid_size, evanescent_mode
from .fabrication_errors import FabricationErrors, SampledErrors, perturbed_transfers
from .phase_layer import PhaseLayer
from .presets import preset_config
from .propagation import FreeSpace
from .readouts import DetectorReadout, QPIReadout


#: most phase layers a D2NN may have (a guard against absurd requests, not a physical limit)
MAX_LAYERS = 4096


class D2NN(nn.Module):
    """Phase-only diffractive network on an N×N grid of pitch ``dx`` (m).

    Optics (docs/physics.md): input plane → propagate ``z_in`` → [phase mask → propagate ``dz``] × L (the
    last mask is followed by ``z_out`` instead of ``dz``) → detector plane. Every propagation is
    the angular spectrum method with centred zero-padding to ``pad``·N and a crop back to N×N
    (:mod:`quaton_fast.reference.propagation`).

    * ``wavelength``: the VACUUM wavelength λ0 (m) of the source; ``n_medium``: refractive index
      of the medium filling the gaps between the planes (default 1, air). Light propagates with
      ``λ0 / n_medium``; :meth:`fabrication_heights` uses λ0 (see :attr:`wavelength_in_medium`).
    * ``evanescent``: "decay" (default; the exact near field, evanescent waves decay as
      ``exp(−2π·z·sqrt(f² − 1/λ²))``) or "cut" (the earlier convention: H = 0 there; the results
      recorded before this option existed were made with it). Both give the same network when
      ``dx ≥ λ/√2`` (no evanescent frequencies on the grid).
    * **Each layer is an N×N aperture.** The field is cropped to the N×N window after every
      propagation (the zero padding only makes the convolution linear), so light diffracted
      outside the N·dx × N·dx area of a mask is lost — as with masks of that size in an opaque
      screen — and never comes back into later planes. Energy is therefore not conserved through
      the network (``|u_out|² ≤ |u_in|²``); make N larger than the object (``object_size``) to
      keep the light.
    * Sign: a mask applies ``u·exp(+i·φ̂)`` (a phase delay with the ``exp(−iωt)`` convention).

    ``quantizer`` is a template (a :class:`~quaton_fast.quant.base.Quantizer`, None = full
    precision): each layer gets its own copy, ``quantizer.for_layer(i)`` (so PSQ-LT learns one
    temperature per layer and Gumbel-softmax layers draw independent noise). ``readout``:
    'classify' (logits from detector energies), 'qpi' (ŷ = s·|u|² + b) or 'field' (the complex
    detector-plane field). ``init``: the masks' start, 'uniform' (φ ~ U[0, 2π), the usual D2NN
    start) or 'zeros' (transparent layers: the network starts as free-space propagation, a better
    start for imaging tasks such as QPI). ``fabrication_errors``: random phase, lateral-shift and
    axial-spacing errors drawn at every training forward (and in eval mode only if their
    ``at_eval`` is set), :class:`~quaton_fast.nn.fabrication_errors.FabricationErrors`; None = off.
    ``device``, ``dtype``: as in ``torch.nn`` modules, where the parameters live (None: CPU) and
    their dtype (only torch.float32: the fields are complex64).

    Raises ValueError/TypeError naming the argument for bad constructor arguments."""

    def __init__(self, n: int, dx: float, wavelength: float, num_layers: int, z_in: float, dz: float,
                 z_out: float, *, pad: int = 2, band_limited: bool = False, n_medium: float = 1.0,
                 evanescent: str = "decay", quantizer: Quantizer | None = None,
                 readout: str = "classify", num_classes: int = 10, detector_size: int | None = None,
                 object_size: int | None = None, encoding: str = "phase", seed: int | None = None,
                 init: str = "uniform", fabrication_errors: FabricationErrors | None = None,
                 device=None, dtype: torch.dtype | None = None):
        super().__init__()
        f = "D2NN"
        self.n = positive_int(f, "n", n)
        self.wavelength = finite_real(f, "wavelength", wavelength, positive=True)
        self.n_medium = finite_real(f, "n_medium", n_medium, positive=True)
        lam = optical_limits.wavelength_in_medium(f, wavelength, n_medium)
        self.dx = optical_limits.length(f, "dx", dx)
        num_layers = positive_int(f, "num_layers", num_layers)
        if num_layers > MAX_LAYERS:
            fail(f, "num_layers", f"at most {MAX_LAYERS}", num_layers)
        z_in, dz, z_out = (optical_limits.distance(f, name, v, lam)
                           for name, v in (("z_in", z_in), ("dz", dz), ("z_out", z_out)))
        pad = positive_int(f, "pad", pad)
        check_grid_size(f, "pad" if (2 * self.n) ** 2 <= MAX_GRID_POINTS else "n", pad * self.n,
                        f" with P = pad·n, n = {self.n}, pad = {pad}")
        if not isinstance(band_limited, (bool, np.bool_)):
            fail(f, "band_limited", "a bool", f"{type(band_limited).__name__} {band_limited!r}", TypeError)
        # object_size > n is refused by encode() when images are encoded (QPI networks built from
        # a preset never encode images and may keep the preset's larger object_size)
        self.object_size = None if object_size is None else positive_int(f, "object_size", object_size)
        if encoding not in ("phase", "amplitude"):
            fail(f, "encoding", "'phase' or 'amplitude'", repr(encoding))
        self.encoding = encoding
        if quantizer is not None and not isinstance(quantizer, Quantizer):
            fail(f, "quantizer", "a quaton_fast.quant.Quantizer (e.g. quant.PSQ(4)) or None",
                 f"{type(quantizer).__name__} {quantizer!r}", TypeError)
        seed = plain_scalar(seed)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            fail(f, "seed", "an integer or None", f"{type(seed).__name__} {seed!r}", TypeError)
        if readout not in ("classify", "qpi", "field"):
            fail(f, "readout", "'classify', 'qpi' or 'field'", repr(readout))
        self.evanescent = evanescent_mode(f, evanescent)
        prop = dict(n=self.n, dx=self.dx, wavelength=self.wavelength, pad=pad, band_limited=band_limited,
                    n_medium=self.n_medium, evanescent=self.evanescent)
        self.to_first = FreeSpace(z=z_in, **prop)
        self.between = FreeSpace(z=dz, **prop)
        self.to_detector = FreeSpace(z=z_out, **prop)
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.layers = nn.ModuleList(
            PhaseLayer(self.n, quantizer.for_layer(i) if quantizer is not None else None, init=init,
                       generator=gen)
            for i in range(num_layers))
        self.set_fabrication_errors(fabrication_errors)
        if readout == "classify":
            self.readout: nn.Module | None = DetectorReadout(self.n, num_classes, detector_size=detector_size)
        elif readout == "qpi":
            self.readout = QPIReadout()
        else:
            self.readout = None
        place(self, f, device, dtype)

    def set_fabrication_errors(self, errors: FabricationErrors | None,
                               generator: torch.Generator | None = None) -> None:
        """Use ``errors`` (None = off) from the next forward on; ``generator``: the random stream
        of the draws (on the field's device; None = torch's global stream)."""
        if errors is not None and not isinstance(errors, FabricationErrors):
            fail("D2NN.set_fabrication_errors", "errors", "a FabricationErrors or None",
                 f"{type(errors).__name__} {errors!r}", TypeError)
        self.fabrication_errors = errors
        self._fab_generator = generator
        self._fixed_errors: SampledErrors | None = None

    def use_sampled_errors(self, errors: SampledErrors | None) -> None:
        """Apply this one realisation of fabrication errors in every forward (train and eval) until
        called with None: one fabricated device, e.g. for a robustness sweep
        (:mod:`quaton_fast.train.robustness`). Tensors on the field's device: phase (L, N, N) rad,
        shift (L, 2) m, dz (L + 1,) m, each None for no error of that kind."""
        if errors is not None and not isinstance(errors, SampledErrors):
            fail("D2NN.use_sampled_errors", "errors", "a SampledErrors or None", type(errors).__name__, TypeError)
        self._fixed_errors = errors

    def _sample_fabrication_errors(self, device: torch.device) -> SampledErrors | None:
        if self._fixed_errors is not None:
            return self._fixed_errors
        fe = self.fabrication_errors
        if fe is None or not fe.active or not (self.training or fe.at_eval):
            return None
        return fe.sample(len(self.layers), self.n, device=device, generator=self._fab_generator)

    @property
    def wavelength_in_medium(self) -> float:
        """λ0 / n_medium (m): the wavelength the propagation uses."""
        return self.wavelength / self.n_medium

    @classmethod
    def preset(cls, name: str, **overrides) -> "D2NN":
        """Build a network from a named setup ('visible-128', 'thz-200'; :data:`PRESETS`), its
        keyword arguments overridden by ``overrides`` (any :class:`D2NN` keyword, e.g.
        ``device="cuda"``)."""
        cfg = preset_config(name)
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        for key in overrides:
            if key not in known:
                fail("D2NN.preset", key, f"one of the D2NN keywords {sorted(known)}", "an unknown keyword", TypeError)
        cfg.update(overrides)
        return cls(**cfg)

    # -- forward ---------------------------------------------------------------------------
    def encode(self, images: torch.Tensor, *, validate: bool = True) -> torch.Tensor:
        """``images`` (B, H, W) intensities in [0, 1] → input field (B, N, N) complex64 with this
        network's encoding and object size (:func:`quaton_fast.encode.phase` / ``amplitude``).

        ``validate=True`` rejects images with values outside [0, 1] or non-finite ones
        (ValueError naming 'images'); it reads the values, one host synchronisation on a GPU.
        Training loops check their dataset once (:func:`quaton_fast.encode.check_images`) and
        pass ``validate=False`` per batch."""
        fn = _encode.phase if self.encoding == "phase" else _encode.amplitude
        return fn(images, self.n, object_size=self.object_size, validate=validate)

    def _check_field(self, func: str, u, exact_3d: bool) -> None:
        # metadata only (hot path): type, rank, grid size, dtype
        if not isinstance(u, torch.Tensor):
            fail(func, "u", "a torch.Tensor", type(u).__name__, TypeError)
        want = f"(B, {self.n}, {self.n})" if exact_3d else f"(..., {self.n}, {self.n})"
        if (u.dim() != 3 if exact_3d else u.dim() < 2) or u.shape[-2:] != (self.n, self.n):
            fail(func, "u", f"of shape {want}", f"shape {tuple(u.shape)}")
        if not (u.is_complex() or u.is_floating_point()):
            fail(func, "u", "a complex (or real floating-point) field", f"dtype {u.dtype}", TypeError)

    def output_field(self, u: torch.Tensor, *, check_finite: bool = False) -> torch.Tensor:
        """``u`` (..., N, N) complex input field → detector-plane field (..., N, N) complex
        (each propagation crops to the N×N aperture, see the class docstring).
        ``check_finite=True`` checks ``u`` for NaN/Inf once, without a host synchronisation
        (see :func:`quaton_fast.functional._checks.finite`); the layers check metadata only."""
        # one op per layer, modulation + propagation: the fused cuFFTDx kernels on sm_80/86/89/90 GPUs,
        # the same torch ops as PhaseLayer then FreeSpace everywhere else
        self._check_field("D2NN.output_field", u, exact_3d=False)
        last = len(self.layers) - 1
        if check_finite:
            _checks.finite("D2NN.output_field", "u", u)
        transfers = [self.to_first.transfer_like(u)] + [
            (self.to_detector if i == last else self.between).transfer_like(u) for i in range(last + 1)]
        errors = self._sample_fabrication_errors(u.device)
        if errors is not None:
            transfers = perturbed_transfers(transfers, self.to_first.pad * self.n, self.dx,
                                            self.wavelength_in_medium, errors)
        u = modulate_propagate(u, None, transfers[0])
        for i, layer in enumerate(self.layers):
            err = errors.phase[i] if errors is not None and errors.phase is not None else None
            u = layer.modulate_propagate(u, transfers[i + 1], phase_error=err)  # phase: fused; complex table: torch
        return u

    def forward(self, u: torch.Tensor, *, check_finite: bool = False) -> torch.Tensor:
        """``u`` (B, N, N) complex → logits (B, C) / QPI prediction (B, N, N) / field (B, N, N).
        ``check_finite`` as in :meth:`output_field`."""
        self._check_field("D2NN.forward", u, exact_3d=True)
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
        if not isinstance(quantizer, Quantizer):
            fail("D2NN.switch_quantizer", "quantizer", "a quaton_fast.quant.Quantizer (e.g. quant.PSQ(4))",
                 f"{type(quantizer).__name__} {quantizer!r}", TypeError)
        for i, layer in enumerate(self.layers):
            layer.switch_quantizer(quantizer.for_layer(i))

    @torch.no_grad()
    def hard_quantized_phases(self) -> torch.Tensor:
        """The masks a fab would make: (L, N, N) phases in [0, period) (radians)."""
        return torch.stack([layer.hard_phase() for layer in self.layers])

    def _export_medium(self, func: str, n_material, n_medium) -> tuple[float, float, float]:
        """(n_material, n_medium, vacuum wavelength λ0 of the export)."""
        n_mat = finite_real(func, "n_material", n_material, positive=True)
        if n_medium is None:
            n_med, lam0 = self.n_medium, self.wavelength
        else:
            n_med = finite_real(func, "n_medium", n_medium, positive=True)
            # the simulated diffraction fixes the wavelength IN the medium; in another medium the
            # same masks and distances work for the source λ0 = λ_medium·n_medium
            lam0 = self.wavelength_in_medium * n_med
            if n_med != self.n_medium:
                warnings.warn(
                    f"{func}(): n_medium={n_med:g} differs from the network's medium "
                    f"({self.n_medium:g}); the heights keep the simulated diffraction (wavelength in "
                    f"the medium {self.wavelength_in_medium:.6g} m), i.e. they are for a source of "
                    f"vacuum wavelength {lam0:.6g} m. Build the network with D2NN(..., "
                    f"wavelength=<vacuum>, n_medium={n_med:g}) to state it.", UserWarning, stacklevel=3)
        if not n_mat > n_med:
            fail(func, "n_material", f"> n_medium ({n_med:g}) for a relief that delays the phase", n_mat)
        return n_mat, n_med, lam0

    def fabrication_heights(self, n_material: float, n_medium: float | None = None) -> torch.Tensor:
        """Relief heights ``h = φ·λ0 / (2π·(n_material − n_medium))`` of every mask, (L, N, N)
        metres, φ the hard-quantized phases in [0, period) and λ0 the VACUUM wavelength: a step of
        height h in a material of index n_material surrounded by the medium delays the phase by
        ``2π·(n_material − n_medium)·h/λ0`` (docs/fabrication.md).

        ``n_medium``: None (default) = the network's medium (:attr:`n_medium`, λ0 =
        :attr:`wavelength`). A different value means the same design immersed in that medium: the
        propagation fixes the wavelength in the medium, so λ0 = :attr:`wavelength_in_medium` ·
        n_medium (a UserWarning says so). Raises ValueError naming 'n_material' unless
        n_material > n_medium."""
        n_mat, n_med, lam0 = self._export_medium("fabrication_heights", n_material, n_medium)
        with torch.no_grad():
            return self.hard_quantized_phases() * lam0 / (2 * np.pi * (n_mat - n_med))

    def export_masks(self, path: str | os.PathLike, n_material: float, n_medium: float | None = None) -> None:
        """Write phases (rad), heights (m), pitch ``dx`` (m), the vacuum ``wavelength`` (m) the
        heights are for, ``n_medium``, ``wavelength_in_medium`` (m), ``n_material`` and the
        ``evanescent`` mode to ``path`` (.npz), atomically. ``n_medium`` as in
        :meth:`fabrication_heights`."""
        n_mat, n_med, lam0 = self._export_medium("export_masks", n_material, n_medium)
        with torch.no_grad():
            phi = self.hard_quantized_phases()
            phases = phi.cpu().numpy()
            heights = (phi * lam0 / (2 * np.pi * (n_mat - n_med))).cpu().numpy()
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, phases=phases, heights=heights, dx=self.dx, wavelength=lam0,
                     wavelength_in_medium=lam0 / n_med, n_material=n_mat, n_medium=n_med,
                     evanescent=self.evanescent)
