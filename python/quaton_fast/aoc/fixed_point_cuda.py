"""AOC digital-twin fixed point on the GPU (public names; the kernels' wrappers live in the kernel
layer, :mod:`quaton_fast.functional._fixed_point_cuda`, which this module re-exports).

``fixed_point_forward_cuda`` / ``fixed_point_adjoint_cuda``: one CUDA launch runs every iteration of
every system; same semantics as :mod:`quaton_fast.reference.fixed_point` (read its docstring).
"""
from __future__ import annotations

from ..functional._fixed_point_cuda import (MAX_N_CUDA, CudaFixedPointAdjoint, CudaFixedPointResult,
                                            fixed_point_adjoint_cuda, fixed_point_forward_cuda)

__all__ = ["fixed_point_forward_cuda", "fixed_point_adjoint_cuda", "CudaFixedPointResult",
           "CudaFixedPointAdjoint", "MAX_N_CUDA"]
