"""The on-chip diffractive layer (issue 22 item 2) as a torch autograd op.

``_LayerClusterFn.apply(u, phase, transfer)`` computes ``propagate(u · exp(i·phase), transfer)``
with ``cuda/fused/layer_cluster.cuh``: one thread-block cluster per sample keeps the sample's
N x P half-transformed field in distributed shared memory (sm_90). The backward is the adjoint
launch of the same kernel (conj H through the ``conj_transfer`` flag, ``conj(t)·g'`` out) and
``dL/dphase = Σ_b Im(conj(t·u_b)·g'_b)`` reduced over the batch inside the kernel (float32
atomics into one (N, N) buffer: no per-sample (B, N, N) gradient; summation order, hence the last
bits, varies between runs). PyTorch's complex-gradient convention, as
:func:`quaton_fast.functional.propagate`. Which layers take this path is decided by
:mod:`._dispatch`; callers go through :func:`~quaton_fast.functional.fused_propagation.modulate_propagate`.

Shapes: u (B, N, N) complex64 contiguous; phase (N, N) float32 or None; transfer (P, P)
complex64, unshifted FFT order, P one of the compiled on-chip sizes. No host synchronisation, no
device query per call (the launcher caches its device facts; the dispatch caches the decision).
"""
from __future__ import annotations

import torch

from .._backend import native
from ._derived import transposed_transfers

__all__ = ["layer_cluster_launch"]


def layer_cluster_launch(u: torch.Tensor, modulation: torch.Tensor | None, transfer_t: torch.Tensor, *,
                         adjoint: bool = False, saved_u: torch.Tensor | None = None,
                         dphi: torch.Tensor | None = None) -> torch.Tensor:
    """One launch on the current stream: u (B, N, N) complex64 contiguous -> (B, N, N).

    Forward: ``crop(IFFT2(H·FFT2(pad(t·u))))`` (t = modulation (N, N) complex64 or None).
    Adjoint (``adjoint=True``): ``conj(t)·crop(IFFT2(conj(H)·FFT2(pad(u))))`` and, with ``dphi``
    (N, N) float32 (accumulated into: zero it first) and ``saved_u`` (B, N, N), the phase gradient
    summed over the batch. ``transfer_t``: H transposed (P, P) complex64 contiguous."""
    B, n, p = u.shape[0], u.shape[-1], transfer_t.shape[-1]
    out = torch.empty_like(u)
    ptr = lambda t: t.data_ptr() if t is not None else 0  # noqa: E731
    native().layer_cluster_cuda(
        B, n, p, u.data_ptr(), 0 if adjoint else ptr(modulation), transfer_t.data_ptr(), int(adjoint),
        ptr(modulation) if adjoint else 0, ptr(saved_u), ptr(dphi), out.data_ptr(),
        torch.cuda.current_stream(u.device).cuda_stream)
    return out


class _LayerClusterFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, phase, transfer):  # type: ignore[override]
        # u: (B, N, N) complex64; phase: (N, N) float32 or None; transfer: (P, P) complex64
        t = torch.polar(torch.ones_like(phase), phase).to(torch.complex64).contiguous() if phase is not None else None
        u = u.contiguous()
        ctx.save_for_backward(u, t, transfer)
        return layer_cluster_launch(u, t, transposed_transfers(transfer)[0])

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        u, t, transfer = ctx.saved_tensors
        need_u, need_phase = ctx.needs_input_grad[0], ctx.needs_input_grad[1] and t is not None
        if not (need_u or need_phase):
            return None, None, None
        g = grad_out.contiguous().to(torch.complex64)
        dphi = torch.zeros(u.shape[-2:], dtype=torch.float32, device=u.device) if need_phase else None
        grad_u = layer_cluster_launch(g, t, transposed_transfers(transfer)[0], adjoint=True,
                                      saved_u=u if need_phase else None, dphi=dphi)
        return (grad_u if need_u else None), dphi, None
