"""CUDA PSQ kernel == NumPy reference (runs only with a GPU and a CUDA build)."""
import math

import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP32_ELEMENTWISE, rel_err
from quaton_fast import functional as F
from quaton_fast.reference import levels as ref_levels
from quaton_fast.reference import quantizers as ref_q

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("levels", [2, 4, 16])
@pytest.mark.parametrize("count", [1, 257, 100_003])
def test_psq_kernel_forward_backward(levels, count):
    rng = np.random.default_rng(levels * 7 + count)
    table = ref_levels.uniform_levels(levels)
    w = rng.uniform(-9.0, 2 * math.pi + 9.0, count)  # several periods: the kernel folds mod 2π
    g = rng.standard_normal(count)
    k = 9.0
    thr = torch.tensor(table.thresholds, dtype=torch.float32, device="cuda")
    steps = torch.tensor(table.steps, dtype=torch.float32, device="cuda")
    wt = torch.tensor(w, dtype=torch.float32, device="cuda", requires_grad=True)
    kt = torch.tensor(k, dtype=torch.float32, device="cuda", requires_grad=True)
    out = F.psq(wt, kt, thr, steps, table.base, period=table.period)
    (out * torch.tensor(g, dtype=torch.float32, device="cuda")).sum().backward()
    ref_out = ref_q.psq_forward(w, table, k)
    ref_gw, ref_gk = ref_q.psq_backward(g, w, table, k)
    assert rel_err(out.detach().cpu().numpy(), ref_out) < RTOL_FP32_ELEMENTWISE
    assert rel_err(wt.grad.cpu().numpy(), ref_gw) < RTOL_FP32_ELEMENTWISE
    assert abs(float(kt.grad) - ref_gk) <= 1e-4 * max(1.0, abs(ref_gk)) * math.sqrt(count)


def test_psq_kernel_fixed_k_and_nonfinite():
    table = ref_levels.uniform_levels(4)
    thr = torch.tensor(table.thresholds, dtype=torch.float32, device="cuda")
    steps = torch.tensor(table.steps, dtype=torch.float32, device="cuda")
    w = torch.tensor([-1.0, 8.0, float("nan"), float("inf")], device="cuda")
    out = F.psq(w, 1e4, thr, steps, table.base, period=table.period).cpu().numpy()
    ref = ref_q.psq_forward(np.array([-1.0, 8.0]), table, 1e4)
    assert np.allclose(np.exp(1j * out[:2]), np.exp(1j * ref), atol=1e-5)
    assert np.isnan(out[2:]).all()
