"""Input checks of the CUDA fixed-point wrapper: they run before any kernel, so no GPU is needed."""
import numpy as np
import pytest
import torch

from quaton_fast.aoc import fixed_point_cuda as fpc


def test_rejects_cpu_tensors_and_foreign_arrays():
    W, b = torch.zeros(4, 4), torch.zeros(2, 4)
    with pytest.raises(ValueError, match="argument 'W' must be on a CUDA device"):
        fpc.fixed_point_forward_cuda(W, b)
    with pytest.raises(TypeError, match="argument 'W' must be a torch CUDA tensor or a CuPy array"):
        fpc.fixed_point_forward_cuda(np.zeros((4, 4)), b)
    with pytest.raises(ValueError, match="argument 'W' must be on a CUDA device"):
        fpc.fixed_point_adjoint_cuda(W, b, torch.zeros(2, 4), torch.zeros(2, 4))


def test_adjoint_rejects_annealing_schedule():
    W, b = torch.zeros(4, 4), torch.zeros(2, 4)
    with pytest.raises(ValueError, match="argument 'alpha'"):
        fpc.fixed_point_adjoint_cuda(W, b, torch.zeros(2, 4), torch.zeros(2, 4), alpha=(0.1, 0.5))
