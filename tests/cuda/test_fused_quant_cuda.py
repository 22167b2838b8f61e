"""The fused kernels with the quantizer inside the row passes (issue 22 item 1) on a GPU ==
the float64 torch composition on the CPU (itself tested against the NumPy reference in
tests/functional/test_quantize_modulate_propagate.py): forward field, dL/du, dL/dw and the
parameter gradient, at the production sizes; sync-free under the sync debugger.

Runs only with a GPU, a CUDA build with nvidia-mathdx and a supported device; skips otherwise.
"""
import math

import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP32_FFT, rel_err
from quaton_fast.functional import angular_spectrum_transfer
from quaton_fast.functional.fused_propagation import fused_available, fused_sizes, quantize_modulate_propagate
from quaton_fast.functional.fused_quantizer import FusedQuantizer
from quaton_fast.reference import complex_levels as ref_cl
from quaton_fast.reference import levels as ref_levels

pytestmark = pytest.mark.cuda
WL, DX = 632.8e-9, 316.4e-9
TWO_PI = 2 * math.pi


def _spec(table, kind, param, hard_forward=False, device="cpu"):
    if table is None:
        return FusedQuantizer("identity")
    to = dict(device=device)
    if isinstance(table, ref_cl.ComplexLevelTable):
        pt = table.phase_table
        return FusedQuantizer(kind, torch.tensor(pt.thresholds, **to), torch.tensor(pt.steps, **to), float(pt.base),
                              pt.period, torch.tensor(table.transmissions, **to), torch.tensor(pt.levels, **to),
                              param, hard_forward)
    return FusedQuantizer(kind, torch.tensor(table.thresholds, **to), torch.tensor(table.steps, **to),
                          float(table.base), table.period, None, None, param, hard_forward)


CASES = [
    (None, "identity", None, False),
    (ref_levels.uniform_levels(16), "psq", 20.0, True),
    (ref_levels.uniform_levels(4), "ste", None, False),
    (ref_levels.uniform_levels(4), "dsq", 0.3, True),
    (ref_cl.from_material(1.5, 0.05, 1.0, levels=4), "psq", 10.0, True),
    (ref_cl.from_material(1.5, 0.05, 1.0, levels=4), "ste_soft", 2.0, False),
]


@pytest.mark.parametrize("n,P,batch", [(128, 256, 3), (200, 400, 5), (255, 512, 7)])
@pytest.mark.parametrize("table,kind,param,learnable", CASES, ids=lambda v: v if isinstance(v, str) else None)
def test_fused_quantizer_matches_float64_composition(n, P, batch, table, kind, param, learnable):
    rng = np.random.default_rng(n + P + batch)
    u = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
    g = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
    w = rng.uniform(-1.0, TWO_PI + 1.0, (n, n))
    h = angular_spectrum_transfer(P, DX, WL, 4e-6, dtype=torch.complex128)

    def run(device, cdtype, rdtype):
        ut = torch.as_tensor(u, dtype=cdtype, device=device).requires_grad_(True)
        wt = torch.as_tensor(w, dtype=rdtype, device=device).requires_grad_(True)
        pt = torch.tensor(param, dtype=rdtype, device=device, requires_grad=True) if learnable else param
        ht = h.to(device=device, dtype=cdtype)
        if device == "cuda":
            _need_fused(ut, ht)
        out = quantize_modulate_propagate(ut, wt, _spec(table, kind, pt, device=device), ht)
        (torch.as_tensor(g, dtype=cdtype, device=device).conj() * out).real.sum().backward()
        gp = pt.grad.item() if learnable else 0.0
        return out.detach().cpu().numpy(), ut.grad.cpu().numpy(), wt.grad.cpu().numpy(), gp

    ref = run("cpu", torch.complex128, torch.float64)
    got = run("cuda", torch.complex64, torch.float32)
    for a, b in zip(got[:3], ref[:3]):
        assert rel_err(a, b) < RTOL_FP32_FFT
    if learnable:
        assert abs(got[3] - ref[3]) <= 1e-3 * abs(ref[3])


def _need_fused(u, h):
    if not fused_available(u, h):
        pytest.skip(f"fused kernels unavailable here (sizes compiled: {fused_sizes()})")


def test_fused_quantizer_is_sync_free():
    rng = np.random.default_rng(1)
    n, P, batch = 128, 256, 3
    u = torch.as_tensor(rng.standard_normal((batch, n, n)), dtype=torch.complex64, device="cuda")
    h = angular_spectrum_transfer(P, DX, WL, 4e-6, device="cuda")
    _need_fused(u, h)
    w = torch.rand(n, n, device="cuda", requires_grad=True)
    k = torch.tensor(20.0, device="cuda", requires_grad=True)
    q = _spec(ref_levels.uniform_levels(8), "psq", k, device="cuda")
    quantize_modulate_propagate(u, w, q, h).abs().sum().backward()  # warm-up: caches
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        quantize_modulate_propagate(u, w, q, h).abs().sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
