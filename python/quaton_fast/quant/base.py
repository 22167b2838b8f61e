"""Base class of the phase quantizers: latent weights → phase (radians) used by a layer."""
from __future__ import annotations

import copy
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
from ..reference.complex_levels import ComplexLevelTable
from ..reference.levels import MAX_LEVELS, LevelTable, level_table, uniform_levels

TWO_PI = 2.0 * math.pi


def make_level_table(levels: int | Sequence[float] | LevelTable | ComplexLevelTable,
                     period: float | None = TWO_PI) -> LevelTable:
    """The phase table of ``levels`` (a :class:`ComplexLevelTable` gives its ``phase_table``).

    ``levels``: a count n (2 <= n <= MAX_LEVELS = 2^20; uniform over one period,
    q_i = period·i/n), an increasing sequence of phases (radians; periodic only if ``period`` is
    given and they fit in one period), or a ready :class:`LevelTable`. ``period``: the phase
    period (radians, default 2π) or None for a table that does not span a full period (its
    quantizers clamp at the end levels instead of wrapping). Errors name 'levels' or 'period'."""
    func = "make_level_table"
    if isinstance(levels, LevelTable):
        return levels
    if isinstance(levels, ComplexLevelTable):
        return levels.phase_table
    if period is not None:
        period = finite_real(func, "period", period, positive=True)
    levels = plain_scalar(levels)
    if isinstance(levels, bool):
        fail(func, "levels", "a level count (int), a sequence of phases or a LevelTable", repr(levels), TypeError)
    if isinstance(levels, (int, np.integer)):
        n = int(levels)
        if not 2 <= n <= MAX_LEVELS:
            fail(func, "levels", f"a level count in [2, MAX_LEVELS = {MAX_LEVELS}]", n)
        return uniform_levels(n, period=TWO_PI if period is None else period)
    if isinstance(levels, (list, tuple)):
        return level_table(list(levels), period=period)
    if isinstance(levels, np.ndarray):
        return level_table(levels, period=period)
    fail(func, "levels", "a level count (int), a sequence of phases or a LevelTable",
         type(levels).__name__, TypeError)
    raise AssertionError  # unreachable (fail raises)


def _check_float32(func: str, table: LevelTable) -> None:
    """The torch/CUDA paths hold the table in float32: its levels and thresholds must stay
    strictly increasing there (else two levels would be one)."""
    for name, v in (("levels", table.levels), ("thresholds", table.thresholds)):
        d = np.diff(np.asarray(v, dtype=np.float32))
        if d.size and not np.all(d > 0):
            i = int(np.flatnonzero(~(d > 0))[0]) + 1
            fail(func, "levels", "levels far enough apart to stay distinct in float32 (the "
                 "torch/CUDA precision)", f"{name}[{i - 1}] and {name}[{i}] equal in float32")


class Quantizer(nn.Module):
    """Maps a layer's latent weights to the phase it applies.

    Subclasses implement :meth:`quantize_train` (training forward) and may override
    :meth:`latent_from_phase`. Evaluation (``module.eval()``) always uses hard quantization.
    The current epoch is a buffer, so schedules resume from checkpoints; a host copy of it
    (refreshed by :meth:`set_epoch` and when a state dict is loaded) feeds the schedules, so a
    training step never reads a device value on the host.

    Periodicity: for a periodic table (the default, period 2π) every path — training forward and
    backward, :meth:`hard`, :meth:`hard_phase`, :meth:`level_indices` — treats the latent modulo
    the period (:func:`quaton_fast.functional.quantizers.fold_latent`); a table with
    ``period=None`` clamps at its end levels.

    Complex (absorbing) level tables: ``levels`` may be a
    :class:`~quaton_fast.reference.complex_levels.ComplexLevelTable` (levels ``t_i = a_i·exp(iφ_i)``,
    see :func:`quaton_fast.quant.levels.from_material`). The phase machinery (``table``, thresholds,
    :meth:`hard_phase`, :meth:`level_indices`, export) then works on its phases φ_i, and
    :meth:`transmission` gives the complex value a layer multiplies the field by. A table whose
    amplitudes are all exactly 1 is phase-only (:attr:`is_complex` False): :meth:`transmission`
    is then ``exp(i·self(latent))``, bit-identical to a plain phase table.

    Non-finite latents: the training forward and :meth:`hard` give NaN for them (no host sync);
    :meth:`hard_phase` / :meth:`level_indices` (export) and :meth:`latent_from_phase` (data
    handed in) raise ValueError naming the argument.
    """

    #: latent values per neuron (1, or the number of levels for Gumbel-softmax logits)
    latent_per_neuron: int = 1

    def __init__(self, levels: int | Sequence[float] | LevelTable | None = 4, period: float | None = TWO_PI):
        super().__init__()
        name = type(self).__name__
        self.complex_table: ComplexLevelTable | None = levels if isinstance(levels, ComplexLevelTable) else None
        self.table: LevelTable | None = None if levels is None else make_level_table(levels, period)
        if self.table is not None:
            _check_float32(name, self.table)
            self.register_buffer("thresholds", torch.tensor(np.array(self.table.thresholds), dtype=torch.float32))
            self.register_buffer("steps", torch.tensor(np.array(self.table.steps), dtype=torch.float32))
            self.register_buffer("levels", torch.tensor(np.array(self.table.levels), dtype=torch.float32))
        if self.is_complex:
            # real and imaginary parts as two real buffers: Module.to(dtype=float64) would drop the
            # imaginary part of a complex buffer
            self._register_transmissions(self.complex_table.transmissions)
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self._epoch_host = 0

    # -- interface -------------------------------------------------------------------------
    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``latent`` (N, N) or (N, N, n) → phase (N, N), radians."""
        return self.quantize_train(latent) if self.training else self.hard(latent)

    def quantize_train(self, latent: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- complex transmission ----------------------------------------------------------------
    def _register_transmissions(self, t: np.ndarray) -> None:
        self.register_buffer("t_re", torch.tensor(np.array(t.real), dtype=torch.float32))
        self.register_buffer("t_im", torch.tensor(np.array(t.imag), dtype=torch.float32))

    @property
    def is_complex(self) -> bool:
        """True for a complex table with some amplitude < 1."""
        return self.complex_table is not None and not self.complex_table.phase_only

    @property
    def uses_transmission(self) -> bool:
        """True when the layer must multiply by :meth:`transmission` (a complex table, or a
        quantizer whose training gradient lives in the transmission domain); False: the phase
        path (``exp(i·self(latent))``, fused on sm_80/86/89/90)."""
        return self.is_complex

    def transmission(self, latent: torch.Tensor) -> torch.Tensor:
        """Complex transmission (N, N) the layer multiplies the field by (complex64 for a float32
        latent, complex128 for float64). Phase tables: ``exp(i·self(latent))`` (the phase path,
        unchanged); complex tables: :meth:`transmission_train` in training, :meth:`hard_transmission`
        in evaluation."""
        if not self.uses_transmission:
            phi = self(latent)
            return torch.polar(torch.ones_like(phi), phi)
        return self.transmission_train(latent) if self.training else self.hard_transmission(latent)

    # -- the quantizer inside the fused row pass (issue 22) -------------------------------------
    def fused_spec(self, latent: torch.Tensor) -> FusedQuantizer | None:
        """This quantizer as the fused propagation kernels evaluate it now (training or
        evaluation mode), or None when they cannot (the layer then composes quantizer and
        modulation). The default: evaluation's hard staircase; :meth:`_fused_train` for training."""
        if self.table is None:
            return None
        return self._fused("hard") if not self.training else self._fused_train(latent)

    def _fused_train(self, latent: torch.Tensor) -> FusedQuantizer | None:
        return None

    def _fused(self, kind: str, param: float | torch.Tensor | None = None, hard_forward: bool = False,
               ) -> FusedQuantizer:
        """A FusedQuantizer of kind on this quantizer's table (its transmissions when the layer
        multiplies by :meth:`transmission`, i.e. :attr:`uses_transmission`)."""
        t = torch.complex(self.t_re, self.t_im) if self.uses_transmission else None
        return FusedQuantizer(kind, self.thresholds, self.steps, self.base, self.period, t,
                              self.levels if t is not None else None, param, hard_forward)

    def transmission_train(self, latent: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no complex-table training path")

    def _complex_args(self, latent: torch.Tensor):
        """(thresholds, transmissions (n,) complex, base) in the latent's precision."""
        t = torch.complex(self.t_re.to(latent.dtype), self.t_im.to(latent.dtype))
        return self.thresholds.to(latent.dtype), t, self.base

    def hard_transmission(self, latent: torch.Tensor) -> torch.Tensor:
        """The level nearest in phase (periodic) as a complex transmission; NaN for a non-finite
        latent; no host sync. Phase tables: ``exp(i·hard(latent))``."""
        if not self.is_complex:
            phi = self.hard(latent)
            return torch.polar(torch.ones_like(phi), phi)
        thr, t, base = self._complex_args(latent)
        return FT.hard_transmission(latent, thr, t, base, period=self.period)

    @property
    def period(self) -> float | None:
        """The level table's period (radians), None if not periodic (or no table)."""
        return None if self.table is None else self.table.period

    def _table_args(self, latent: torch.Tensor):
        return self.thresholds.to(latent.dtype), self.steps.to(latent.dtype), self.base

    def hard(self, latent: torch.Tensor) -> torch.Tensor:
        """Hard-quantized phase: the staircase of the latent taken modulo the period (periodic
        table; may equal q_0 + period ≡ q_0), NaN for a non-finite latent; no host sync."""
        thr, steps, base = self._table_args(latent)
        return F.staircase(latent, thr, steps, base, period=self.period)

    def hard_phase(self, latent: torch.Tensor) -> torch.Tensor:
        """The level a fab makes for each neuron (always one of the levels, radians). Raises
        ValueError naming 'latent' if it holds NaN/Inf (never exports a made-up level)."""
        _checks.tensor(f"{type(self).__name__}.hard_phase", "latent", latent, complex_ok=False)
        idx = self.level_indices(latent)
        return self.levels.to(latent.dtype)[idx]

    def level_indices(self, latent: torch.Tensor) -> torch.Tensor:
        """Index of the hard level of each neuron, (N, N) int64 (the wrap step maps to level 0).
        Raises ValueError naming 'latent' for NaN/Inf (reads the latent on the host: export only)."""
        _checks.tensor(f"{type(self).__name__}.level_indices", "latent", latent, complex_ok=False)
        return F.level_index(latent, self.thresholds.to(latent.dtype), int(self.levels.numel()), self.base,
                             period=self.period)

    def latent_from_phase(self, phase: torch.Tensor) -> torch.Tensor:
        """Latent weights that start QAT from a full-precision ``phase`` (N, N): wrapped into
        [q_0, q_0 + period) for periodic tables (the paper's key step), unchanged otherwise.
        Raises ValueError naming 'phase' if it is not a finite real tensor."""
        _checks.tensor(f"{type(self).__name__}.latent_from_phase", "phase", phase, complex_ok=False)
        if self.period is not None:
            return F.fold_latent(phase, self.base, self.period)
        return phase.clone()

    def set_epoch(self, epoch: int) -> None:
        """Set the (0-based) QAT epoch of the schedules (buffer and host copy)."""
        e = int(epoch)
        if e < 0:
            fail(f"{type(self).__name__}.set_epoch", "epoch", "an integer >= 0", e)
        self.epoch.fill_(e)
        self._epoch_host = e

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        key = prefix + "epoch"
        if key in state_dict:  # one host read per load, never per step
            self._epoch_host = int(state_dict[key])

    def for_layer(self, index: int) -> "Quantizer":
        """An independent copy of this quantizer for layer ``index`` of a network (what
        :class:`~quaton_fast.nn.D2NN` gives each layer). Quantizers that draw noise give each
        layer its own noise stream; the others are plain deep copies."""
        return copy.deepcopy(self)

    def regularization(self) -> torch.Tensor:
        """Extra loss term of this quantizer (0 except PSQ-LT)."""
        return self.epoch.new_zeros((), dtype=torch.float32)

    # -- helpers ---------------------------------------------------------------------------
    @property
    def base(self) -> float:
        return float(self.table.base) if self.table is not None else 0.0

    @property
    def num_levels(self) -> int | None:
        return None if self.table is None else int(self.table.n)

    def extra_repr(self) -> str:
        return (f"levels={self.num_levels}, period={None if self.table is None else self.table.period}"
                + (", complex" if self.is_complex else ""))
