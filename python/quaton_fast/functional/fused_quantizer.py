"""A layer's quantizer as data the fused propagation kernels evaluate in their row pass (issue 22).

:class:`FusedQuantizer` describes the map latent ``w`` (N, N) real, radians → complex
transmission ``T(w)`` (N, N) that a diffractive layer multiplies the field by, for the quantizers
the kernels implement (``cuda/quantizer_math.cuh``, ``quant_transmission``):

=============  =============================================================================
kind           T(w) (x = fold_latent(w) for a periodic table) and the training gradient
=============  =============================================================================
``identity``   ``exp(i·w)`` (FP; PQ while training)
``hard``       the staircase level (evaluation); no gradient
``ste``        forward the staircase level; ``dT/dw = i·T`` (phase straight through)
``ste_soft``   forward the staircase level; backward ``dT_k/dw`` of complex PSQ at ``param = k``
               (STE with ``transmission_backward``; complex tables only)
``psq``        ``exp(i·Q_k(w))`` (phase table) or ``t_0 + Σ δ_i σ(k(x − c_i))`` (complex); ``param = k``
``dsq``        Gong et al.'s tanh step (``hard_forward``: staircase forward); ``param = α``
=============  =============================================================================

Phase tables give ``thresholds``, ``steps``, ``base`` and ``period`` (None: an open table);
complex (absorbing) tables add ``transmissions`` (n,) complex and ``levels`` (n,) their phases
(period 2π). ``param`` is a Python float (fixed) or a 1-element tensor (learnable k of PSQ-LT,
learnable α of DSQ: differentiable, read by the kernel from device memory).

:meth:`FusedQuantizer.transmission` is the torch composition of the existing quantizer ops
(:mod:`.quantizers`, :mod:`.transmission`): the CPU path and the CUDA fallback, and the semantics
the kernels reproduce. :meth:`FusedQuantizer.kernel_tables` gives the kernel's tables (device
tensors made with torch ops, no host synchronisation).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validation import fail
from . import quantizers as F
from . import transmission as FT

__all__ = ["FusedQuantizer", "KINDS"]

#: kind name -> the kernel's QuantKind code (cpp/include/quaton/quantizer.h)
KINDS = {"identity": 0, "hard": 1, "ste": 2, "ste_soft": 3, "psq": 4, "dsq": 5}


@dataclass(frozen=True, eq=False)
class FusedQuantizer:
    """Quantizer description for :func:`~quaton_fast.functional.fused_propagation.quantize_modulate_propagate`.

    thresholds, steps: (m,) real tensors (phase table in threshold form, see
    :func:`~quaton_fast.functional.quantizers.table_tensors`); base, period: radians (period None:
    open table). transmissions: (n,) complex and levels: (n,) real for a complex table (then
    period is 2π and m = n). param: k (1/rad) or α, float or 1-element tensor."""

    kind: str
    thresholds: torch.Tensor | None = None
    steps: torch.Tensor | None = None
    base: float = 0.0
    period: float | None = None
    transmissions: torch.Tensor | None = None
    levels: torch.Tensor | None = None
    param: float | torch.Tensor | None = None
    hard_forward: bool = False

    def __post_init__(self) -> None:
        func = "FusedQuantizer"
        if self.kind not in KINDS:
            fail(func, "kind", "one of " + ", ".join(KINDS), repr(self.kind))
        if self.kind == "identity":
            return
        if self.thresholds is None or self.steps is None:
            fail(func, "thresholds", f"a level table (thresholds and steps) for kind {self.kind!r}", "None", TypeError)
        if self.kind == "ste_soft" and self.transmissions is None:
            fail(func, "transmissions", "a complex table for kind 'ste_soft'", "None", TypeError)
        if self.transmissions is not None and (self.period is None or self.levels is None):
            fail(func, "period", "2π and the level phases with a complex table", repr(self.period))
        if self.kind in ("psq", "dsq", "ste_soft") and self.param is None:
            fail(func, "param", f"k or alpha for kind {self.kind!r}", "None", TypeError)

    @property
    def complex_table(self) -> bool:
        return self.transmissions is not None

    @property
    def param_tensor(self) -> torch.Tensor | None:
        return self.param if isinstance(self.param, torch.Tensor) else None

    # -- the torch composition ---------------------------------------------------------------
    def transmission(self, w: torch.Tensor, param: float | torch.Tensor | None = None) -> torch.Tensor:
        """``T(w)``: (N, N) complex (complex64 for float32 ``w``) by the existing quantizer ops,
        differentiable in ``w`` and a tensor ``param`` (``param`` overrides ``self.param``)."""
        p = self.param if param is None else param
        kind = self.kind
        if kind == "identity":
            return torch.polar(torch.ones_like(w), w)
        thr, st = self.thresholds.to(w.dtype), self.steps.to(w.dtype)
        if self.complex_table:
            t = self.transmissions.to(torch.complex128 if w.dtype == torch.float64 else torch.complex64)
            if kind == "hard":
                return FT.hard_transmission(w, thr, t, self.base, period=self.period)
            if kind == "ste":
                return FT.ste_transmission(w, thr, t, self.base, period=self.period)
            if kind == "ste_soft":
                return FT.ste_soft_transmission(w, float(p), thr, t, self.base, period=self.period)
            if kind == "psq":
                return FT.psq_transmission(w, p, thr, t, self.base, period=self.period)
            return FT.dsq_transmission(w, p, self.levels.to(w.dtype), thr, t, self.base, period=self.period,
                                       hard_forward=self.hard_forward)
        phi = self.phase(w, param)
        return torch.polar(torch.ones_like(phi), phi)

    def phase(self, w: torch.Tensor, param: float | torch.Tensor | None = None) -> torch.Tensor:
        """The quantized phase ``Q(w)`` (N, N) real, radians, of a phase table (``T = exp(i·Q)``;
        ``identity``: ``w`` itself), differentiable as :meth:`transmission`. Raises ValueError for a
        complex table (its ``T`` is not a pure phase) and for ``ste_soft``."""
        p = self.param if param is None else param
        kind = self.kind
        if self.complex_table:
            fail("FusedQuantizer.phase", "transmissions", "a phase table (T = exp(i Q(w)))", "a complex table")
        if kind == "identity":
            return w
        thr, st = self.thresholds.to(w.dtype), self.steps.to(w.dtype)
        if kind == "hard":
            return F.staircase(w, thr, st, self.base, period=self.period)
        if kind == "ste":
            return F.ste(w, thr, st, self.base, period=self.period)
        if kind == "psq":
            return F.psq(w, p, thr, st, self.base, period=self.period)
        if kind == "dsq":
            return F.dsq(w, p, thr, st, self.base, period=self.period, hard_forward=self.hard_forward)
        fail("FusedQuantizer.phase", "kind", "'ste_soft' only with a complex table", kind)

    # -- the kernel's tables -----------------------------------------------------------------
    def kernel_tables(self, device: torch.device) -> dict:
        """The QuantSpec tables as contiguous float32 tensors on ``device`` (torch ops on the
        module's buffers: no host synchronisation): thresholds (m,), ends (m+1,) interval ends in
        x, d_re/d_im (m,) step coefficients, v_re/v_im (m+1,) staircase values (``*_im`` None for a
        phase table); for ``identity`` one-element placeholders (never read)."""
        f32 = dict(dtype=torch.float32, device=device)
        if self.kind == "identity":
            z = torch.zeros(1, **f32)
            return {"thresholds": z, "ends": z, "d_re": z, "d_im": None, "v_re": z, "v_im": None, "num_steps": 0}
        thr = self.thresholds.to(**f32).contiguous()
        if self.complex_table:
            t = self.transmissions.to(device=device, dtype=torch.complex64)
            ext = torch.cat([t, t[:1]])
            d = ext[1:] - ext[:-1]
            lv = self.levels.to(**f32)
            ends = torch.cat([lv, lv[:1] + float(self.period)])
            return {"thresholds": thr, "ends": ends.contiguous(), "d_re": d.real.contiguous(),
                    "d_im": d.imag.contiguous(), "v_re": ext.real.contiguous(), "v_im": ext.imag.contiguous(),
                    "num_steps": int(thr.numel())}
        st = self.steps.to(**f32).contiguous()
        stair = torch.cumsum(torch.cat([st.new_full((1,), self.base), st]), 0).contiguous()
        return {"thresholds": thr, "ends": stair, "d_re": st, "d_im": None, "v_re": stair, "v_im": None,
                "num_steps": int(thr.numel())}
