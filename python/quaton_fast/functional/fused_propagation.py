"""Phase modulation + free-space propagation as one op: ``v = propagate(u · exp(iφ), H)``.

Three paths, picked per (device, N, P, B, dtype) by :mod:`._dispatch` (cached; the reason for a
fallback said once): on an H100/H200 (sm_90, thread-block clusters) the on-chip layer kernel
(:mod:`.layer_cluster`: the field stays in a cluster's distributed shared memory) where its state
fits and the cost model predicts it faster; on a GPU of compute capability 8.0, 8.6/8.7, 8.9 or
9.0 (A100; RTX 30xx, A40; RTX 40xx, L4, L40; H100/H200) with complex64 fields and a padded size P
compiled into the extension (``fused_sizes()``) whose shared memory fits, the three-pass cuFFTDx
kernels of ``cuda/fused/`` forward and backward (adjoint with conj(H), phase gradient reduced over
the batch); everywhere else the torch ops (``u * polar(1, φ)`` then
:func:`~quaton_fast.functional.propagate`). All paths compute the same function with the same
gradients (PyTorch's complex convention).

:func:`modulate_propagate` takes φ (N, N) from the layer's quantizer (its own autograd op and
CUDA kernel). :func:`quantize_modulate_propagate` (issue 22 item 1) takes the latent weights and a
:class:`~quaton_fast.functional.fused_quantizer.FusedQuantizer` instead: on the fused path the row
pass evaluates the quantizer and ``T(w)`` in registers, and the adjoint's last row pass forms
``dL/dw`` and the quantizer parameter's gradient (PSQ's k, DSQ's α) as per-slab partial sums that
one ``sum`` reduces (no atomics, no per-sample (B, N, N) gradient); elsewhere it is the torch
composition ``propagate(u·T(w), H)`` with the same semantics.
"""
from __future__ import annotations

import functools

import torch

from .._backend import native, notice_once
from .._validation import fail
from . import _checks
from ._derived import transposed_transfers
from ._dispatch import layer_path
from .fused_quantizer import KINDS, FusedQuantizer
from .layer_cluster import _LayerClusterFn
from .propagation import propagate

__all__ = ["modulate_propagate", "quantize_modulate_propagate", "modulate_propagate_array", "fused_sizes",
           "fused_available"]


_FIELD_DTYPES = (torch.complex64, torch.complex128, torch.float32, torch.float64)


@functools.lru_cache(maxsize=1)
def fused_sizes() -> tuple[int, ...]:
    """Padded sizes P the fused kernels were compiled for (empty without CUDA + cuFFTDx)."""
    mod = native()
    if mod is None or not hasattr(mod, "fused_propagate_sizes"):
        return ()
    return tuple(int(p) for p in mod.fused_propagate_sizes())


@functools.lru_cache(maxsize=None)
def _device_capability(device: torch.device) -> tuple[int, int]:
    """Compute capability of a CUDA device, queried once per device (not per call)."""
    return tuple(torch.cuda.get_device_capability(device))  # type: ignore[return-value]


_SUPPORTED_CAPABILITIES = ((8, 0), (8, 6), (8, 7), (8, 9), (9, 0))


@functools.lru_cache(maxsize=None)
def _static_reason(device: torch.device, dtype: torch.dtype, n: int, p: int) -> str | None:
    """Why the fused kernels cannot run (device, dtype, field size N, padded size P), or None;
    cached per key so a training step makes no device query and builds no string on the hot path."""
    if not fused_sizes():
        return "this build of quaton_fast has no fused propagation kernels (needs CUDA + nvidia-mathdx)"
    cap = _device_capability(device)
    if cap not in _SUPPORTED_CAPABILITIES:
        return (f"the fused kernels are compiled for sm_80, sm_86, sm_89 and sm_90; this GPU is "
                f"sm_{cap[0]}{cap[1]}")
    if dtype != torch.complex64:
        return f"the fused kernels take complex64 fields, got {dtype}"
    if p not in fused_sizes():
        return f"padded size P = {p} is not compiled in (have {fused_sizes()})"
    mod = native()
    if hasattr(mod, "fused_propagate_support"):
        code = int(mod.fused_propagate_support(n, p, device.index))
        if code == 3:
            return f"(N, P) = ({n}, {p}) needs more shared memory per block than this sm_{cap[0]}{cap[1]} GPU has"
        if code != 0:
            return f"the fused kernels refused (N, P) = ({n}, {p}) on this GPU (code {code})"
    return None


def _device_key(device: torch.device) -> torch.device:
    return device if device.index is not None else torch.device("cuda", torch.cuda.current_device())


def _fused_reason(u: torch.Tensor, transfer: torch.Tensor) -> str | None:
    """None when the fused kernels can run these tensors, else why not (metadata only)."""
    reason = _static_reason(_device_key(u.device), u.dtype, int(u.shape[-1]), int(transfer.shape[-1]))
    if reason is None and u.numel() // (u.shape[-1] ** 2) > 65535:
        return "batch larger than 65535"
    return reason


def fused_available(u: torch.Tensor, transfer: torch.Tensor) -> bool:
    """True when a fused kernel path (on-chip or three-pass, see :mod:`._dispatch`) runs these tensors."""
    return u.is_cuda and u.is_complex() and layer_path(u, transfer).path != "torch"


@functools.lru_cache(maxsize=None)
def _notice_fallback(reason: str) -> None:
    """Say once per reason that the torch path runs on CUDA (cached: nothing built per call)."""
    notice_once("fused_propagation:" + reason, f"modulate_propagate: torch.fft path ({reason})")


def _launch(u, modulation_in, transfer_t, modulation_out=None, saved_u=None, dphi=None):
    """u (B, N, N) complex64 contiguous -> (B, N, N); one pass-1/2/3 sequence on the current stream."""
    B, n, p = u.shape[0], u.shape[-1], transfer_t.shape[-1]
    scratch = torch.empty((B, n, p), dtype=torch.complex64, device=u.device)
    out = torch.empty_like(u)
    native().fused_propagate_cuda(
        B, n, p, u.data_ptr(), modulation_in.data_ptr() if modulation_in is not None else 0,
        transfer_t.data_ptr(), scratch.data_ptr(), out.data_ptr(),
        modulation_out.data_ptr() if modulation_out is not None else 0,
        saved_u.data_ptr() if saved_u is not None else 0, dphi.data_ptr() if dphi is not None else 0,
        torch.cuda.current_stream(u.device).cuda_stream)
    return out


class _ModulatePropagateFused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, phase, transfer):  # type: ignore[override]
        # u: (B, N, N) complex64; phase: (N, N) float32 or None; transfer: (P, P) complex64
        m = torch.polar(torch.ones_like(phase), phase).to(torch.complex64).contiguous() if phase is not None else None
        ctx.save_for_backward(u, m, transfer)
        return _launch(u.contiguous(), m, transposed_transfers(transfer)[0])

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        u, m, transfer = ctx.saved_tensors
        need_u, need_phase = ctx.needs_input_grad[0], ctx.needs_input_grad[1] and m is not None
        if not (need_u or need_phase):
            return None, None, None
        g = grad_out.contiguous().to(torch.complex64)
        Hc_t = transposed_transfers(transfer)[1]
        dphi = torch.empty(u.shape, dtype=torch.float32, device=u.device) if need_phase else None
        grad_u = _launch(g, None, Hc_t, modulation_out=m, saved_u=u.contiguous() if need_phase else None, dphi=dphi)
        grad_phase = dphi.sum(0) if need_phase else None
        return (grad_u if need_u else None), grad_phase, None


def _check_plane(func: str, arg: str, plane: torch.Tensor, u: torch.Tensor, check_finite: bool) -> None:
    """A real (N, N) float32/float64 plane of radians (phase or latent) on u's device."""
    _checks.tensor(func, arg, plane, complex_ok=False, check_finite=check_finite)
    if plane.dtype not in (torch.float32, torch.float64):
        fail(func, arg, "float32 or float64 (radians)", f"dtype {plane.dtype}", TypeError)
    if tuple(plane.shape) != tuple(u.shape[-2:]):
        fail(func, arg, f"of shape {tuple(u.shape[-2:])}", f"shape {tuple(plane.shape)}")
    _checks.same_device(func, arg, plane, u, "u")


def _check_transfer(func: str, transfer: torch.Tensor, u: torch.Tensor) -> None:
    """A square (P, P) transfer function, P >= N, on u's device."""
    _checks.square_field(func, "transfer", transfer)
    if transfer.dim() != 2:
        fail(func, "transfer", "of shape (P, P)", f"shape {tuple(transfer.shape)}")
    if transfer.shape[-1] < u.shape[-1]:
        fail(func, "transfer", f"at least as large as the field (P >= N = {u.shape[-1]})", f"P = {transfer.shape[-1]}")
    _checks.same_device(func, "transfer", transfer, u, "u")


def modulate_propagate(u: torch.Tensor, phase: torch.Tensor | None, transfer: torch.Tensor, *,
                       check_finite: bool = False) -> torch.Tensor:
    """``propagate(u · exp(i·phase), transfer)``; fused on sm_90 GPUs, torch ops elsewhere.

    u: (..., N, N) complex field; phase: (N, N) real, radians (None: no modulation);
    transfer: (P, P) complex, P >= N, unshifted FFT order. Differentiable in u and phase.

    Hot path: checks metadata only (shape, dtype, device), makes no host synchronisation and no
    device query per call (what depends on the device is cached per device; H^T and conj(H)^T per
    transfer tensor), so a training step can run under ``torch.cuda.set_sync_debug_mode("error")``
    and be captured in a CUDA graph. ``check_finite=True`` adds a value check of ``u`` without a
    sync (see :func:`quaton_fast.functional._checks.finite`) of ``u`` and ``phase``: for where data
    enters, not per layer. Raises TypeError/ValueError naming the argument for a non-tensor, a wrong
    dtype, a non-square field, a phase of another shape or device, a transfer function that is not
    (P, P) with P >= N or lives on another device.
    """
    func = "modulate_propagate"
    _checks.square_field(func, "u", u, check_finite=check_finite)
    if u.dtype not in _FIELD_DTYPES:
        fail(func, "u", "complex64, complex128, float32 or float64", f"dtype {u.dtype}", TypeError)
    if phase is not None:
        _check_plane(func, "phase", phase, u, check_finite)
    _check_transfer(func, transfer, u)
    if u.is_cuda and u.is_complex():
        path = layer_path(u, transfer).path  # cached per (device, N, P, B, dtype); said once on fallback
        if path != "torch":
            lead = u.shape[:-2]
            flat = u.reshape(-1, u.shape[-2], u.shape[-1])
            ph = phase.to(torch.float32) if phase is not None else None
            fn = _LayerClusterFn if path == "on_chip" else _ModulatePropagateFused
            out = fn.apply(flat, ph, transfer.to(torch.complex64))
            return out.reshape(*lead, u.shape[-2], u.shape[-1])
    if phase is not None:
        u = u * torch.polar(torch.ones_like(phase), phase).to(u.dtype if u.is_complex() else torch.complex64)
    return propagate(u, transfer)


# ----------------------------------------------------------------------------- quantizer inside
@functools.lru_cache(maxsize=None)
def _quant_slabs(device: torch.device, batch: int, n: int, p: int) -> int:
    """Slabs S of the quantized adjoint's partial sums (host-side arithmetic, cached per key)."""
    return int(native().fused_quant_slabs(batch, n, p, device.index))


def _quant_launch(u, latent, transfer_t, q: FusedQuantizer, tables: dict, param_t, adjoint: bool,
                  saved_u=None, need_param: bool = False):
    """One quantized pass-1/2/3 sequence on the current stream; the adjoint also returns the
    partials (S, N, N) of dL/dw and (S, N) of dL/dp (None unless need_param)."""
    B, n, p = u.shape[0], u.shape[-1], transfer_t.shape[-1]
    scratch = torch.empty((B, n, p), dtype=torch.complex64, device=u.device)
    out = torch.empty_like(u)
    glp = gpp = None
    if adjoint:
        S = _quant_slabs(_device_key(u.device), B, n, p)
        glp = torch.empty((S, n, n), dtype=torch.float32, device=u.device)
        gpp = torch.empty((S, n), dtype=torch.float32, device=u.device) if need_param else None
    ptr = lambda t: t.data_ptr() if t is not None else 0  # noqa: E731
    native().fused_quant_propagate_cuda(
        B, n, p, u.data_ptr(), transfer_t.data_ptr(), scratch.data_ptr(), out.data_ptr(), latent.data_ptr(),
        int(adjoint), ptr(saved_u), ptr(glp), ptr(gpp), KINDS[q.kind], int(q.complex_table), int(q.hard_forward),
        tables["num_steps"], float(q.base), float(q.period or 0.0), ptr(tables["thresholds"]), ptr(tables["ends"]),
        ptr(tables["d_re"]), ptr(tables["d_im"]), ptr(tables["v_re"]), ptr(tables["v_im"]),
        float(q.param) if q.param is not None and param_t is None else 0.0, ptr(param_t),
        torch.cuda.current_stream(u.device).cuda_stream)
    return out, glp, gpp


class _QuantModulatePropagateFused(torch.autograd.Function):
    """u (B, N, N) complex64, latent (N, N) float32, param: 1-element float32 tensor or None."""

    @staticmethod
    def forward(ctx, u, latent, param, transfer, q):  # type: ignore[override]
        tables = q.kernel_tables(u.device)
        param_t = param.detach().reshape(1).to(torch.float32).contiguous() if param is not None else None
        lat = latent.detach().contiguous()
        ctx.save_for_backward(u, lat, param_t, transfer)
        ctx.q, ctx.tables, ctx.param_shape = q, tables, None if param is None else param.shape
        out, _, _ = _quant_launch(u.contiguous(), lat, transposed_transfers(transfer)[0], q, tables, param_t, False)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        u, lat, param_t, transfer = ctx.saved_tensors
        need_u, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_p = param_t is not None and ctx.needs_input_grad[2]
        if not (need_u or need_w or need_p):
            return None, None, None, None, None
        g = grad_out.contiguous().to(torch.complex64)
        grad_u, glp, gpp = _quant_launch(g, lat, transposed_transfers(transfer)[1], ctx.q, ctx.tables, param_t, True,
                                         saved_u=u.contiguous(), need_param=need_p)
        grad_w = glp.sum(0) if need_w else None
        grad_p = gpp.sum().reshape(ctx.param_shape) if need_p else None
        return (grad_u if need_u else None), grad_w, grad_p, None, None


def _quant_reason(u: torch.Tensor, latent: torch.Tensor, q: FusedQuantizer, transfer: torch.Tensor) -> str | None:
    """None when the three-pass quantized kernels can run, else why not (metadata only)."""
    reason = _fused_reason(u, transfer)
    if reason is not None:
        return reason
    return _quant_operand_reason(latent, q)


def _quant_operand_reason(latent: torch.Tensor, q: FusedQuantizer) -> str | None:
    """Why the quantized three-pass kernels cannot take this latent and parameter, or None."""
    if latent.dtype != torch.float32:
        return f"the fused quantizer takes float32 latents, got {latent.dtype}"
    if not hasattr(native(), "fused_quant_propagate_cuda"):
        return "this build has no fused quantizer kernels"
    p = q.param_tensor
    if p is not None and (not p.is_cuda or p.numel() != 1):
        return "the quantizer parameter must be one value on the field's GPU"
    return None


def quantize_modulate_propagate(u: torch.Tensor, latent: torch.Tensor, quantizer: FusedQuantizer,
                                transfer: torch.Tensor, *, check_finite: bool = False) -> torch.Tensor:
    """``propagate(u · T(latent), transfer)`` with the layer's quantizer ``T`` inside the fused
    row pass (issue 22 item 1).

    u: (..., N, N) complex; latent: (N, N) real, radians (the layer's latent weights w);
    quantizer: a :class:`~quaton_fast.functional.fused_quantizer.FusedQuantizer` (kind, level
    table, parameter k or α as a float or a 1-element tensor); transfer: (P, P) complex, P >= N,
    unshifted FFT order. Differentiable in u, latent and a tensor parameter (PyTorch's complex
    convention); the forward and gradients equal those of the torch composition
    ``propagate(u · quantizer.transmission(latent), transfer)``, which is what runs on the CPU
    and wherever the fused kernels cannot (said once per reason on CUDA).

    Hot path as :func:`modulate_propagate`: metadata checks only, no host synchronisation, no
    device query per call (the slab count is cached per (device, B, N, P)). Raises
    TypeError/ValueError naming the argument for a wrong type, dtype, shape or device.
    """
    func = "quantize_modulate_propagate"
    _checks.square_field(func, "u", u, check_finite=check_finite)
    if not u.is_complex():
        fail(func, "u", "a complex field (complex64 or complex128)", f"dtype {u.dtype}", TypeError)
    if not isinstance(quantizer, FusedQuantizer):
        fail(func, "quantizer", "a FusedQuantizer", type(quantizer).__name__, TypeError)
    _check_plane(func, "latent", latent, u, check_finite)
    _check_transfer(func, transfer, u)
    if u.is_cuda:
        # cached per (device, N, P, B, dtype, table kind); on-chip needs a phase table (module _dispatch)
        path = layer_path(u, transfer, quantizer).path
        lead = u.shape[:-2]
        flat = u.reshape(-1, u.shape[-2], u.shape[-1])
        if path == "on_chip":  # the quantizer as its own torch op, the layer on chip
            phi = quantizer.phase(latent).to(torch.float32)
            out = _LayerClusterFn.apply(flat, phi, transfer.to(torch.complex64))
            return out.reshape(*lead, u.shape[-2], u.shape[-1])
        if path == "three_pass":
            reason = _quant_operand_reason(latent, quantizer)
            if reason is None:
                out = _QuantModulatePropagateFused.apply(flat, latent, quantizer.param_tensor,
                                                         transfer.to(torch.complex64), quantizer)
                return out.reshape(*lead, u.shape[-2], u.shape[-1])
            _notice_fallback(reason)
    t = quantizer.transmission(latent)
    return propagate(u * t.to(u.dtype), transfer)


def _cuda_operand(arg: str, x, dtype: torch.dtype) -> torch.Tensor:
    """A torch CUDA tensor or any ``__cuda_array_interface__`` array (CuPy) as a torch CUDA tensor
    of ``dtype`` (zero copy when the dtype already matches)."""
    if isinstance(x, torch.Tensor):
        t = x
    elif hasattr(x, "__cuda_array_interface__"):
        t = torch.as_tensor(x, device="cuda")
    else:
        fail("modulate_propagate_array", arg, "a torch CUDA tensor or a CuPy array (__cuda_array_interface__)",
             type(x).__name__, TypeError)
    if t.device.type != "cuda":
        fail("modulate_propagate_array", arg, "on a CUDA device", f"a tensor on {t.device}")
    return t.to(dtype)


def modulate_propagate_array(u, phase, transfer):
    """Functional (no autograd) :func:`modulate_propagate` for users outside torch.

    u: (..., N, N) complex64; phase: (N, N) float32 radians or None; transfer: (P, P) complex64,
    unshifted FFT order -- torch CUDA tensors or CuPy arrays (anything with
    ``__cuda_array_interface__``; other dtypes are converted). Returns (..., N, N) complex64 of the
    same kind as ``u`` (a CuPy array shares the result's memory, no copy).
    """
    as_cupy = not isinstance(u, torch.Tensor) and hasattr(u, "__cuda_array_interface__")
    ut = _cuda_operand("u", u, torch.complex64)
    ph = None if phase is None else _cuda_operand("phase", phase, torch.float32)
    h = _cuda_operand("transfer", transfer, torch.complex64)
    with torch.no_grad():
        out = modulate_propagate(ut, ph, h)
    if as_cupy:
        import cupy
        return cupy.asarray(out)
    return out
