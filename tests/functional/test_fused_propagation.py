"""modulate_propagate_array (the non-autograd entry for CuPy users): input checks that run anywhere."""
import numpy as np
import pytest
import torch

from quaton_fast.functional.fused_propagation import modulate_propagate_array


def test_host_arrays_are_refused_with_the_argument_named():
    u = np.ones((2, 8, 8), np.complex64)
    h = np.ones((16, 16), np.complex64)
    with pytest.raises(TypeError, match="'u'.*CuPy array.*ndarray"):
        modulate_propagate_array(u, None, h)


def test_cpu_tensors_are_refused():
    u = torch.ones((2, 8, 8), dtype=torch.complex64)
    h = torch.ones((16, 16), dtype=torch.complex64)
    with pytest.raises(ValueError, match="'u'.*on a CUDA device"):
        modulate_propagate_array(u, None, h)
