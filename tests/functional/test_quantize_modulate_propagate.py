"""quantize_modulate_propagate (issue 22 item 1): the path that takes the latent weights and the
quantizer. On the CPU it is the torch composition; here it is judged against the NumPy reference
(forward field, dL/dw, dL/dk or dL/dα) in float64 for every kind the fused kernel implements, on
phase and complex tables, and its argument checks are exercised. (The kernel itself: tests/kernels/
test_fused_quant_emulated.py on the CPU emulator; tests/cuda/ on a GPU.)"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qf_testing import rel_err
from quaton_fast.functional.fused_propagation import quantize_modulate_propagate
from quaton_fast.functional.fused_quantizer import FusedQuantizer
from quaton_fast.reference import complex_levels as ref_cl
from quaton_fast.reference import levels as ref_levels
from quaton_fast.reference import propagation as ref_prop
from quaton_fast.reference import quantizers as ref_q

TWO_PI = 2 * math.pi
RTOL_FP64_COMPOSITION = 1e-9  # torch float64 ops vs the NumPy float64 reference (same formulas)

PHASE = ref_levels.level_table([0.0, 0.9, 2.5, 4.0, 5.1], TWO_PI)
OPEN = ref_levels.level_table([0.3, 1.2, 2.0], None)
MATERIAL = ref_cl.from_material(1.5, 0.05, 1.0, levels=4)


def _spec(table, kind, param, hard_forward=False):
    if table is None:
        return FusedQuantizer("identity")
    if isinstance(table, ref_cl.ComplexLevelTable):
        pt = table.phase_table
        return FusedQuantizer(kind, torch.tensor(pt.thresholds), torch.tensor(pt.steps), float(pt.base), pt.period,
                              torch.tensor(table.transmissions), torch.tensor(pt.levels), param, hard_forward)
    return FusedQuantizer(kind, torch.tensor(table.thresholds), torch.tensor(table.steps), float(table.base),
                          table.period, None, None, param, hard_forward)


def _ref(table, kind, w, p, hard_forward, G):
    """T(w) and (grad_w, grad_p) from the NumPy reference for dL/dT = G."""
    if table is None:
        T = np.exp(1j * w)
        return T, np.real(np.conj(1j * T) * G), 0.0
    if isinstance(table, ref_cl.ComplexLevelTable):
        if kind == "ste":
            return ref_cl.ste_transmission(w, table), ref_cl.ste_transmission_backward(G, w, table), 0.0
        if kind == "ste_soft":
            return ref_cl.hard_transmission(w, table), ref_cl.psq_transmission_backward(G, w, table, p)[0], 0.0
        if kind == "psq":
            return (ref_cl.psq_transmission(w, table, p), *ref_cl.psq_transmission_backward(G, w, table, p))
        return (ref_cl.dsq_transmission(w, table, p, hard_forward), *ref_cl.dsq_transmission_backward(G, w, table, p))
    phi = {"ste": lambda: ref_q.staircase(w, table), "psq": lambda: ref_q.psq_forward(w, table, p),
           "dsq": lambda: ref_q.dsq_forward(w, table, p, hard_forward)}[kind]()
    T = np.exp(1j * phi)
    gphi = np.imag(np.conj(T) * G)
    if kind == "ste":
        return T, gphi, 0.0
    return (T, *(ref_q.psq_backward if kind == "psq" else ref_q.dsq_backward)(gphi, w, table, p))


CASES = [  # table, kind, param, learnable, hard_forward
    (None, "identity", None, False, False),
    (PHASE, "ste", None, False, False),
    (PHASE, "psq", 8.0, True, False),
    (PHASE, "psq", 20.0, False, False),
    (PHASE, "dsq", 0.3, True, True),
    (OPEN, "dsq", 0.4, True, False),
    (OPEN, "psq", 6.0, True, False),
    (MATERIAL, "ste", None, False, False),
    (MATERIAL, "ste_soft", 2.0, False, False),
    (MATERIAL, "psq", 10.0, True, False),
    (MATERIAL, "dsq", 0.25, True, False),
]


@pytest.mark.parametrize("table,kind,param,learnable,hard_forward", CASES,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_cpu_path_matches_reference(table, kind, param, learnable, hard_forward):
    rng = np.random.default_rng(7)
    B, N, P = 3, 6, 12
    u = rng.standard_normal((B, N, N)) + 1j * rng.standard_normal((B, N, N))
    g = rng.standard_normal((B, N, N)) + 1j * rng.standard_normal((B, N, N))
    H = rng.standard_normal((P, P)) + 1j * rng.standard_normal((P, P))
    w = rng.uniform(-1.0, TWO_PI + 1.0, (N, N))
    wt = torch.tensor(w, requires_grad=True)
    pt = torch.tensor(param, dtype=torch.float64, requires_grad=True) if learnable else param
    out = quantize_modulate_propagate(torch.tensor(u), wt, _spec(table, kind, pt, hard_forward), torch.tensor(H))
    out.backward(torch.tensor(g))

    grad_mod = ref_prop.propagate_adjoint(g, H)
    G = np.sum(np.conj(u) * grad_mod, axis=0)
    T, gw_ref, gp_ref = _ref(table, kind, w, param, hard_forward, G)
    assert rel_err(out.detach().numpy(), ref_prop.propagate(u * T, H)) < RTOL_FP64_COMPOSITION
    assert rel_err(wt.grad.numpy(), gw_ref) < RTOL_FP64_COMPOSITION
    if learnable:
        assert abs(float(pt.grad) - gp_ref) <= RTOL_FP64_COMPOSITION * max(1.0, abs(gp_ref))
        assert gp_ref != 0.0


def test_float32_cpu_path_is_the_composition():
    """float32: exactly the torch composition (same ops) -- the semantics the kernel reproduces."""
    torch.manual_seed(0)
    u = torch.randn(2, 5, 5, dtype=torch.complex64)
    H = torch.randn(10, 10, dtype=torch.complex64)
    w = torch.rand(5, 5) * 8 - 1
    q = _spec(MATERIAL, "psq", 10.0)
    out = quantize_modulate_propagate(u, w, q, H)
    from quaton_fast.functional.propagation import propagate
    assert torch.equal(out, propagate(u * q.transmission(w), H))


def test_bad_arguments_name_the_argument():
    u = torch.zeros(1, 4, 4, dtype=torch.complex64)
    H = torch.zeros(8, 8, dtype=torch.complex64)
    q = FusedQuantizer("identity")
    with pytest.raises(ValueError, match="latent"):
        quantize_modulate_propagate(u, torch.zeros(3, 4), q, H)
    with pytest.raises(TypeError, match="latent"):
        quantize_modulate_propagate(u, torch.zeros(4, 4, dtype=torch.int64), q, H)
    with pytest.raises(TypeError, match="quantizer"):
        quantize_modulate_propagate(u, torch.zeros(4, 4), "psq", H)
    with pytest.raises(ValueError, match="transfer"):
        quantize_modulate_propagate(u, torch.zeros(4, 4), q, torch.zeros(2, 2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="kind"):
        FusedQuantizer("gumbel")
    with pytest.raises(TypeError, match="param"):
        _spec(PHASE, "psq", None)
    with pytest.raises(TypeError, match="transmissions"):
        _spec(PHASE, "ste_soft", 2.0)
