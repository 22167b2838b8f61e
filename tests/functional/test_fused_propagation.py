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


class _FakeCudaField:
    """Just the metadata _fused_reason reads (device, dtype, shape, numel) of a CUDA field."""

    def __init__(self, batch, n, dtype=torch.complex64, index=0):
        self.device, self.dtype, self.shape = torch.device("cuda", index), dtype, (batch, n, n)

    def numel(self):
        return self.shape[0] * self.shape[1] * self.shape[2]


def test_fused_path_decision_queries_each_device_once(monkeypatch):
    """The fused-or-fallback decision reads metadata only; the device capability is asked once
    per device, however many calls (issue 13: no per-call device queries)."""
    from quaton_fast.functional import fused_propagation as fp
    calls = []

    def capability(device):
        calls.append(device)
        return (9, 0) if device.index == 0 else (7, 5)

    monkeypatch.setattr(fp, "fused_sizes", lambda: (256, 400))
    monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
    fp._static_reason.cache_clear()
    fp._device_capability.cache_clear()
    try:
        h256, h512 = torch.empty(256, 256), torch.empty(512, 512)
        for _ in range(50):
            assert fp._fused_reason(_FakeCudaField(3, 128), h256) is None
        assert "sm_75" in fp._fused_reason(_FakeCudaField(3, 128, index=1), h256)
        assert "P = 512 is not compiled" in fp._fused_reason(_FakeCudaField(3, 128), h512)
        assert "complex64" in fp._fused_reason(_FakeCudaField(3, 128, dtype=torch.complex128), h256)
        assert "65535" in fp._fused_reason(_FakeCudaField(70000, 128), h256)
        assert sorted(d.index for d in calls) == [0, 1]
    finally:
        fp._static_reason.cache_clear()
        fp._device_capability.cache_clear()
