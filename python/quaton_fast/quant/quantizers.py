"""The six phase quantizers of the QuATON paper as nn.Modules: FP, PQ, STE, DSQ, GS and PSQ.

All share :class:`~quaton_fast.quant.base.Quantizer`'s interface; evaluation mode always applies
hard quantization (FP excepted), so reported accuracies are those of the fabricated masks.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

import torch
from torch import nn

from .._validation import fail, finite_real, plain_scalar
from ..functional import _checks
from ..functional import quantizers as F
from ..functional import transmission as FT
from ..functional.fused_quantizer import FusedQuantizer
from ..reference.complex_levels import ComplexLevelTable, from_material
from ..reference.levels import LevelTable
from .base import TWO_PI, Quantizer, make_level_table
from .schedules import FixedTemperature, LearnableTemperature, LinearTemperature

Levels = int | Sequence[float] | LevelTable | ComplexLevelTable


class FullPrecision(Quantizer):
    """FP: the phase is the latent weight itself, in training and evaluation."""

    def __init__(self) -> None:
        super().__init__(levels=None)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return latent

    def hard(self, latent: torch.Tensor) -> torch.Tensor:
        return latent

    def fused_spec(self, latent: torch.Tensor) -> FusedQuantizer:
        return FusedQuantizer("identity")

    def hard_phase(self, latent: torch.Tensor) -> torch.Tensor:
        """The latent phase wrapped into [0, 2π); raises ValueError naming 'latent' for NaN/Inf."""
        _checks.tensor("FullPrecision.hard_phase", "latent", latent, complex_ok=False)
        return torch.remainder(latent, TWO_PI)

    def level_indices(self, latent: torch.Tensor) -> torch.Tensor:
        raise ValueError("FullPrecision.level_indices(): a full-precision layer has no levels")


class PostTraining(Quantizer):
    """PQ: train in full precision, round to the nearest level at evaluation."""

    def quantize_train(self, latent: torch.Tensor) -> torch.Tensor:
        return latent

    def _fused_train(self, latent: torch.Tensor) -> FusedQuantizer:
        return FusedQuantizer("identity")

    def transmission_train(self, latent: torch.Tensor) -> torch.Tensor:
        """Complex table: trains in full precision, ``exp(i·latent)`` (amplitude 1)."""
        return torch.polar(torch.ones_like(latent), latent)


class STE(Quantizer):
    """STE: forward = nearest level (staircase), backward = identity (phase domain).

    ``transmission_backward=True`` (issue 18; benchmarks/studies/quant_two_levels): a
    straight-through estimator in the TRANSMISSION domain, for phase or complex tables: forward the
    hard level's transmission ``t_j``, backward through the soft chord transmission of complex PSQ,
    ``T_k(w) = t_0 + Σ_i (t_{i+1} − t_i)·σ(k(x − c_i))`` with sharpness ``k`` (1/rad; default 2).
    At 2 levels {0, π} this passes dL/da (the signal that predicts a flip), where the phase-domain
    STE passes dL/dφ, which is orthogonal to a flip. The layer then always takes the torch path."""

    def __init__(self, levels: Levels = 4, period: float | None = TWO_PI, *, transmission_backward: bool = False,
                 k: float | None = None):
        super().__init__(levels, period)
        if not isinstance(transmission_backward, bool):
            fail("STE", "transmission_backward", "a bool", type(transmission_backward).__name__, TypeError)
        if k is not None and not transmission_backward:
            fail("STE", "k", "given only with transmission_backward=True (the phase-domain STE has no "
                 "sharpness)", k)
        self.transmission_backward = transmission_backward
        self.k = finite_real("STE", "k", 2.0 if k is None else k, positive=True)
        if transmission_backward:
            if self.table is None or self.table.period is None:
                fail("STE", "period", "a periodic table (2π) with transmission_backward=True", period)
            if not self.is_complex:  # phase table: its levels' transmissions exp(iq_j)
                self._register_transmissions(np.exp(1j * self.table.levels))

    @property
    def uses_transmission(self) -> bool:
        return self.is_complex or self.transmission_backward

    def quantize_train(self, latent: torch.Tensor) -> torch.Tensor:
        thr, steps, base = self._table_args(latent)
        return F.ste(latent, thr, steps, base, period=self.period)

    def _fused_train(self, latent: torch.Tensor) -> FusedQuantizer:
        return self._fused("ste_soft", self.k) if self.transmission_backward else self._fused("ste")

    def transmission_train(self, latent: torch.Tensor) -> torch.Tensor:
        """Complex table: forward the hard level t_j, backward ``dT/dw = i·t_j``; with
        ``transmission_backward``: backward through the soft chord PSQ transmission."""
        thr, t, base = self._complex_args(latent)
        if self.transmission_backward:
            return FT.ste_soft_transmission(latent, self.k, thr, t, base, period=self.period)
        return FT.ste_transmission(latent, thr, t, base, period=self.period)

    def hard_transmission(self, latent: torch.Tensor) -> torch.Tensor:
        if self.transmission_backward and not self.is_complex:
            thr, t, base = self._complex_args(latent)
            return FT.hard_transmission(latent, thr, t, base, period=self.period)
        return super().hard_transmission(latent)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", transmission_backward, k={self.k}" if self.transmission_backward else "")


class DSQ(Quantizer):
    """DSQ (Gong et al. 2019): tanh soft step in each level interval, ``alpha`` ∈ (0, 1) (smaller
    = harder), optionally learnable. ``hard_forward=True`` is the paper's scheme (staircase
    forward, soft-curve gradient)."""

    def __init__(self, levels: Levels = 4, alpha: float = 0.2, *, learnable_alpha: bool = False,
                 hard_forward: bool = True, period: float | None = TWO_PI):
        super().__init__(levels, period)
        a = finite_real("DSQ", "alpha", alpha)
        if not 0 < a < 1:
            fail("DSQ", "alpha", "in the open interval (0, 1)", a)
        if not isinstance(hard_forward, bool):
            fail("DSQ", "hard_forward", "a bool", f"{type(hard_forward).__name__} {hard_forward!r}", TypeError)
        value = torch.tensor(a, dtype=torch.float32)
        self.alpha = nn.Parameter(value) if learnable_alpha else None
        if not learnable_alpha:
            self.register_buffer("alpha_fixed", value)
        self.hard_forward = bool(hard_forward)

    def current_alpha(self) -> torch.Tensor:
        if self.alpha is None:
            return self.alpha_fixed
        return self.alpha.clamp(1e-4, 1 - 1e-4)

    def quantize_train(self, latent: torch.Tensor) -> torch.Tensor:
        thr, steps, base = self._table_args(latent)
        return F.dsq(latent, self.current_alpha(), thr, steps, base, period=self.period,
                     hard_forward=self.hard_forward)

    def _fused_train(self, latent: torch.Tensor) -> FusedQuantizer:
        return self._fused("dsq", self.current_alpha().to(latent.dtype), self.hard_forward)

    def transmission_train(self, latent: torch.Tensor) -> torch.Tensor:
        """Complex table: the tanh soft step between neighbouring complex levels."""
        thr, t, base = self._complex_args(latent)
        return FT.dsq_transmission(latent, self.current_alpha(), self.levels.to(latent.dtype), thr, t, base,
                                   period=self.period, hard_forward=self.hard_forward)


def _mix64(a: int, b: int) -> int:
    """A 64-bit seed from two integers (splitmix64 finaliser of a·φ64 + b), for noise streams."""
    mask = (1 << 64) - 1
    z = (a * 0x9E3779B97F4A7C15 + b + 0x632BE59BD9B4E019) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


class GumbelSoftmax(Quantizer):
    """GS: per-neuron logits over the levels; straight-through hard one-hot sample in training,
    temperature ``tau(e) = max(tau_min, tau0·decay^e)``; evaluation takes the argmax (no noise).

    Noise: draw k of the Gumbel noise comes from a generator seeded with ``(seed, k)``, both kept
    in the buffer ``noise_state`` = [seed, k] (int64), not from torch's global generator. So the
    noise is part of the module's state: saved in checkpoints (a resumed run continues the
    stream), the same on every DDP rank (DDP broadcasts buffers from rank 0), hence a DDP step
    equals the single-process step on the global batch whatever each rank did to the global RNG.
    ``seed=None`` draws the seed from torch's global generator once, at construction;
    :meth:`for_layer` derives a distinct stream per layer."""

    latent_per_neuron = 0  # set per instance to the number of levels
    #: most levels a Gumbel-softmax layer may have: its latent is one logit per level and neuron
    #: ((N, N, n) floats, plus the optimiser's state), so 4096 levels at N = 128 are already
    #: 67 M logits per layer
    max_levels = 2 ** 12

    def __init__(self, levels: Levels = 4, tau0: float = 1.0, decay: float = 0.9, tau_min: float = 0.1,
                 init_sharpness: float = 4.0, period: float | None = TWO_PI, seed: int | None = None):
        n = make_level_table(levels, period).n
        if n > self.max_levels:
            fail("GumbelSoftmax", "levels", f"at most GumbelSoftmax.max_levels = {self.max_levels} levels "
                 "(one logit per level and neuron)", f"{n} levels")
        super().__init__(levels, period)
        self.latent_per_neuron = int(self.levels.numel())
        self.tau0 = finite_real("GumbelSoftmax", "tau0", tau0, positive=True)
        self.decay = finite_real("GumbelSoftmax", "decay", decay, positive=True)
        self.tau_min = finite_real("GumbelSoftmax", "tau_min", tau_min, positive=True)
        self.init_sharpness = finite_real("GumbelSoftmax", "init_sharpness", init_sharpness, positive=True)
        seed = plain_scalar(seed)
        if seed is None:
            seed = int(torch.randint(0, 2 ** 62, ()))
        elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
            fail("GumbelSoftmax", "seed", "an integer in [0, 2**63) or None", repr(seed),
                 TypeError if not isinstance(seed, int) or isinstance(seed, bool) else ValueError)
        self.register_buffer("noise_state", torch.tensor([seed, 0], dtype=torch.int64))
        self._noise_host = [int(seed), 0]  # host copy of noise_state: no device read per draw

    def for_layer(self, index: int) -> "GumbelSoftmax":
        """A copy whose noise stream (seed mixed with ``index``, draw counter 0) is its own."""
        q = super().for_layer(index)
        seed = _mix64(self._noise_host[0], int(index) + 1) >> 1
        q.noise_state.copy_(torch.tensor([seed, 0]))
        q._noise_host = [seed, 0]
        return q

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        key = prefix + "noise_state"
        if key in state_dict:  # one host read per load, never per step
            self._noise_host = [int(v) for v in state_dict[key].tolist()]

    def gumbel_noise(self, like: torch.Tensor) -> torch.Tensor:
        """The next Gumbel(0, 1) sample of this quantizer's stream, shaped like ``like``
        ((N, N, n) logits); advances the draw counter."""
        seed, k = self._noise_host
        g = torch.Generator(device=like.device)
        g.manual_seed(_mix64(seed, k))
        self._noise_host[1] = k + 1
        self.noise_state[1] += 1  # device-side add: the checkpointed state, no host sync
        u = torch.rand(like.shape, generator=g, device=like.device, dtype=like.dtype)
        u = u.clamp_(1e-10, 1.0 - 1e-7)
        return -torch.log(-torch.log(u))

    def tau(self) -> float:
        return max(self.tau_min, self.tau0 * self.decay ** self._epoch_host)

    def fused_spec(self, latent: torch.Tensor) -> None:
        """None: per-level logits and a noise sample are not in the fused kernels (the layer composes)."""
        return None

    def quantize_train(self, latent: torch.Tensor) -> torch.Tensor:
        noise = self.gumbel_noise(latent.detach())
        return F.gumbel_softmax_phase(latent, self.levels, self.tau(), noise)

    def hard(self, latent: torch.Tensor) -> torch.Tensor:
        return F.gumbel_argmax_phase(latent, self.levels)

    def transmission_train(self, latent: torch.Tensor) -> torch.Tensor:
        """Complex table: straight-through choice of a complex level, gradient through
        ``Σ_j softmax_j·t_j``."""
        noise = self.gumbel_noise(latent.detach())
        _, t, _ = self._complex_args(latent)
        return FT.gumbel_softmax_transmission(latent, t, self.tau(), noise)

    def hard_transmission(self, latent: torch.Tensor) -> torch.Tensor:
        """The complex level of argmax(logits) (NaN for a neuron with a non-finite logit)."""
        if not self.is_complex:
            return super().hard_transmission(latent)
        _, t, _ = self._complex_args(latent)
        idx = latent.argmax(dim=-1)
        nan = (latent - latent).sum(dim=-1)
        return torch.complex(t.real[idx] + nan, t.imag[idx] + nan)

    def hard_phase(self, latent: torch.Tensor) -> torch.Tensor:
        """The level of argmax(logits) per neuron; raises ValueError naming 'latent' for NaN/Inf."""
        _checks.tensor("GumbelSoftmax.hard_phase", "latent", latent, complex_ok=False, min_ndim=1)
        return self.levels.to(latent.dtype)[self.level_indices(latent)]

    def level_indices(self, latent: torch.Tensor) -> torch.Tensor:
        """argmax of the logits (N, N, n) → (N, N) int64; raises ValueError naming 'latent' for
        NaN/Inf logits (export path: reads the latent on the host)."""
        _checks.tensor("GumbelSoftmax.level_indices", "latent", latent, complex_ok=False, min_ndim=1)
        return latent.argmax(dim=-1)

    def latent_from_phase(self, phase: torch.Tensor) -> torch.Tensor:
        """Logits (N, N, n) = −sharpness·(periodic distance to each level)²."""
        _checks.tensor("GumbelSoftmax.latent_from_phase", "phase", phase, complex_ok=False)
        d = phase.unsqueeze(-1) - self.levels.to(phase.dtype)
        if self.table.period is not None:
            p = self.table.period
            d = torch.remainder(d + p / 2, p) - p / 2
        return -self.init_sharpness * d * d


class PSQ(Quantizer):
    """Progressive sigmoid quantization (the QuATON method): ``Q_k(w) = q_0 + Σ Δ_i σ(k(w − c_i))``
    with the sharpness k from ``schedule`` (FT, LI or LT; default FT with k = 20/rad)."""

    def __init__(self, levels: Levels = 4,
                 schedule: FixedTemperature | LinearTemperature | LearnableTemperature | None = None,
                 period: float | None = TWO_PI):
        super().__init__(levels, period)
        self.schedule = schedule if schedule is not None else FixedTemperature()
        if not isinstance(self.schedule, (FixedTemperature, LinearTemperature, LearnableTemperature)):
            fail("PSQ", "schedule", "a FixedTemperature, LinearTemperature or LearnableTemperature",
                 type(schedule).__name__, TypeError)
        if isinstance(self.schedule, LearnableTemperature):
            self.kappa = nn.Parameter(torch.tensor(float(self.schedule.kappa_init)))
        else:
            self.kappa = None

    def _k(self) -> torch.Tensor | float:
        """k for the training forward: a Python float (FT/LI, from the host epoch copy) or the
        differentiable 0-d tensor 1/(|κ| + ε) (LT, > 0 by construction); never a host read."""
        if self.kappa is not None:
            return 1.0 / (self.kappa.abs() + self.schedule.eps)
        return float(self.schedule.sharpness(self._epoch_host))

    def sharpness(self) -> torch.Tensor:
        """Current k (1/rad) as a 0-d tensor; differentiable in κ for PSQ-LT."""
        k = self._k()
        return k if isinstance(k, torch.Tensor) else torch.tensor(k, device=self.epoch.device)

    def quantize_train(self, latent: torch.Tensor) -> torch.Tensor:
        thr, steps, base = self._table_args(latent)
        k = self._k()
        return F.psq(latent, k.to(latent.dtype) if isinstance(k, torch.Tensor) else k, thr, steps, base,
                     period=self.period)

    def _fused_train(self, latent: torch.Tensor) -> FusedQuantizer:
        k = self._k()
        return self._fused("psq", k.to(latent.dtype) if isinstance(k, torch.Tensor) else k)

    def transmission_train(self, latent: torch.Tensor) -> torch.Tensor:
        """Complex table: ``T_k(w) = t_0 + Σ_i (t_{i+1} − t_i)·σ(k(x − c_i))``."""
        thr, t, base = self._complex_args(latent)
        k = self._k()
        return FT.psq_transmission(latent, k.to(latent.dtype) if isinstance(k, torch.Tensor) else k, thr, t,
                                   base, period=self.period)

    def regularization(self) -> torch.Tensor:
        if self.kappa is None:
            return super().regularization()
        lam = self.schedule.regulariser_weight(self._epoch_host)
        return 0.5 * lam * self.kappa * self.kappa

    def extra_repr(self) -> str:
        return super().extra_repr() + f", schedule={self.schedule}"


_MATERIAL_KEYS = ("material_n", "material_kappa", "n_medium")


def quantizer_option_names(name: str) -> list[str]:
    """The ``**options`` (``--qopt`` keys) :func:`make_quantizer` accepts for quantizer ``name``:
    its constructor's keyword arguments (PSQ: its temperature schedule's) and the material keys.
    ValueError for an unknown name."""
    import inspect
    key = name.lower() if isinstance(name, str) else name
    ctor = {"ste": STE, "dsq": DSQ, "gs": GumbelSoftmax, "psq-ft": FixedTemperature, "psq-li": LinearTemperature,
            "psq-lt": LearnableTemperature}.get(key)
    if key == "fp":
        return []
    if key == "pq":
        return sorted(_MATERIAL_KEYS)
    if ctor is None:
        fail("quantizer_option_names", "name", "one of " + ", ".join(QUANTIZER_NAMES), repr(name))
    own = [q.name for q in inspect.signature(ctor).parameters.values()
           if q.name not in ("self", "levels") and q.kind in (q.POSITIONAL_OR_KEYWORD, q.KEYWORD_ONLY)]
    return own + sorted(_MATERIAL_KEYS)


def make_quantizer(name: str, levels: Levels = 4, **options) -> Quantizer:
    """Build a quantizer from its CLI name: fp, pq, ste, dsq, gs, psq-ft, psq-li, psq-lt.

    Material options (an absorbing level table, e.g. ``--qopt material_n=1.7 --qopt
    material_kappa=0.05`` on the command line): ``material_n`` (real index n), ``material_kappa``
    (extinction κ, default 0) and ``n_medium`` (default 1) turn an integer ``levels = K`` into
    ``from_material(n, κ, λ0, levels=K, n_medium)`` (K heights evenly spaced over one 2π phase
    period; that table does not depend on λ0). The other options go to the quantizer."""
    if not isinstance(name, str):
        fail("make_quantizer", "name", "a str", type(name).__name__, TypeError)
    material = {k: options.pop(k) for k in _MATERIAL_KEYS if k in options}
    if material:
        if "material_n" not in material:
            fail("make_quantizer", "material_n", "the material's real index (given with material_kappa / n_medium)",
                 "missing")
        levels = plain_scalar(levels)
        if isinstance(levels, bool) or not isinstance(levels, int):
            fail("make_quantizer", "levels", "an integer level count with a material table", repr(levels), TypeError)
        levels = from_material(material["material_n"], material.get("material_kappa", 0.0), 1.0,
                               levels=levels, n_medium=material.get("n_medium", 1.0))
    key = name.lower()
    if key == "fp":
        if options:
            fail("make_quantizer", "options", "empty for 'fp' (full precision takes no options)", options, TypeError)
        return FullPrecision()
    if key == "pq":
        if options:
            fail("make_quantizer", "options", "empty for 'pq' except the material keys "
                 f"{sorted(_MATERIAL_KEYS)}", options, TypeError)
        return PostTraining(levels)
    if key == "ste":
        return STE(levels, **options)
    if key == "dsq":
        return DSQ(levels, **options)
    if key == "gs":
        return GumbelSoftmax(levels, **options)
    if key == "psq-ft":
        return PSQ(levels, FixedTemperature(**options))
    if key == "psq-li":
        return PSQ(levels, LinearTemperature(**options))
    if key == "psq-lt":
        return PSQ(levels, LearnableTemperature(**options))
    fail("make_quantizer", "name", "one of " + ", ".join(QUANTIZER_NAMES), repr(name))
    raise AssertionError  # unreachable


QUANTIZER_NAMES = ("fp", "pq", "ste", "dsq", "gs", "psq-ft", "psq-li", "psq-lt")
