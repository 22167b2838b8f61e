"""torch quantizers == NumPy reference (forward and backward) on random inputs."""
import math

import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP32_ELEMENTWISE, RTOL_FP64, rel_err
from quaton_fast import functional as F
from quaton_fast.reference import levels as ref_levels
from quaton_fast.reference import quantizers as ref_q

TABLES = {
    "uniform4": ref_levels.uniform_levels(4),
    "uniform16": ref_levels.uniform_levels(16),
    "custom-periodic": ref_levels.level_table([0.1, 0.9, 2.0, 4.4], period=2 * math.pi),
    "custom-open": ref_levels.level_table([0.0, 0.5, 2.5, 3.0], period=None),
}


def _t(table, dtype=torch.float64):
    return (torch.tensor(table.thresholds, dtype=dtype), torch.tensor(table.steps, dtype=dtype), float(table.base))


def _p(table):
    return {"period": table.period}


def _weights(rng, shape=(7, 9)):
    # several periods on both sides: the periodic tables must fold, the open one clamp
    return rng.uniform(-9.0, 2 * math.pi + 9.0, size=shape)


@pytest.mark.parametrize("name", list(TABLES))
def test_staircase_and_ste(rng, name):
    table = TABLES[name]
    w = _weights(rng)
    thr, steps, base = _t(table)
    assert np.array_equal(F.staircase(torch.from_numpy(w), thr, steps, base, **_p(table)).numpy(),
                          ref_q.staircase(w, table))
    wt = torch.from_numpy(w).requires_grad_(True)
    out = F.ste(wt, thr, steps, base, **_p(table))
    g = torch.from_numpy(rng.standard_normal(w.shape))
    (out * g).sum().backward()
    assert np.array_equal(out.detach().numpy(), ref_q.staircase(w, table))
    assert np.array_equal(wt.grad.numpy(), ref_q.ste_backward(g.numpy()))


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize("k", [0.7, 8.0, 60.0])
def test_psq_forward_backward(rng, name, k):
    table = TABLES[name]
    w = _weights(rng)
    g = rng.standard_normal(w.shape)
    thr, steps, base = _t(table)
    wt = torch.from_numpy(w).requires_grad_(True)
    kt = torch.tensor(k, dtype=torch.float64, requires_grad=True)
    out = F.psq(wt, kt, thr, steps, base, **_p(table))
    (out * torch.from_numpy(g)).sum().backward()
    ref_out = ref_q.psq_forward(w, table, k)
    ref_gw, ref_gk = ref_q.psq_backward(g, w, table, k)
    assert rel_err(out.detach().numpy(), ref_out) < RTOL_FP64
    assert rel_err(wt.grad.numpy(), ref_gw) < RTOL_FP64
    assert abs(float(kt.grad) - float(ref_gk)) <= 1e-9 * max(1.0, abs(float(ref_gk)))
    # float32 path
    out32 = F.psq(torch.from_numpy(w).float(), k, thr.float(), steps.float(), base, **_p(table))
    assert rel_err(out32.numpy(), ref_out) < RTOL_FP32_ELEMENTWISE


@pytest.mark.parametrize("name", ["uniform4", "uniform16", "custom-periodic", "custom-open"])
@pytest.mark.parametrize("alpha", [0.05, 0.4])
def test_dsq_soft_and_hard(rng, name, alpha):
    table = TABLES[name]
    w = _weights(rng)
    g = rng.standard_normal(w.shape)
    thr, steps, base = _t(table)
    wt = torch.from_numpy(w).requires_grad_(True)
    at = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    soft = F.dsq(wt, at, thr, steps, base, hard_forward=False, **_p(table))
    (soft * torch.from_numpy(g)).sum().backward()
    assert rel_err(soft.detach().numpy(), ref_q.dsq_forward(w, table, alpha, hard_forward=False)) < RTOL_FP64
    ref_gw, ref_ga = ref_q.dsq_backward(g, w, table, alpha)
    assert rel_err(wt.grad.numpy(), ref_gw) < 1e-9
    assert abs(float(at.grad) - float(ref_ga)) <= 1e-8 * max(1.0, abs(float(ref_ga)))
    hard = F.dsq(torch.from_numpy(w), alpha, thr, steps, base, hard_forward=True, **_p(table))
    assert np.array_equal(hard.numpy(), ref_q.dsq_forward(w, table, alpha, hard_forward=True))


@pytest.mark.parametrize("tau", [0.3, 1.0])
def test_gumbel_forward_backward(rng, tau):
    table = TABLES["uniform4"]
    logits = rng.standard_normal((5, 6, table.n))
    noise = ref_q.sample_gumbel(logits.shape, rng)
    g = rng.standard_normal((5, 6))
    lt = torch.from_numpy(logits).requires_grad_(True)
    levels = torch.tensor(table.levels)
    out = F.gumbel_softmax_phase(lt, levels, tau, torch.from_numpy(noise))
    (out * torch.from_numpy(g)).sum().backward()
    assert rel_err(out.detach().numpy(), ref_q.gumbel_forward(logits, table, tau, noise)) < RTOL_FP64
    assert rel_err(lt.grad.numpy(), ref_q.gumbel_backward(g, logits, table, tau, noise)) < 1e-9
    assert np.array_equal(F.gumbel_argmax_phase(torch.from_numpy(logits), levels).numpy(),
                          ref_q.gumbel_eval(logits, table))


def test_bad_inputs_name_the_argument():
    thr, steps, base = _t(TABLES["uniform4"])
    w = torch.zeros(3)
    with pytest.raises(ValueError, match="'k'"):
        F.psq(w, 0.0, thr, steps, base)
    with pytest.raises(ValueError, match="'k'"):
        F.psq(w, float("inf"), thr, steps, base)
    with pytest.raises(ValueError, match="'alpha'"):
        F.dsq(w, 1.5, thr, steps, base)
    with pytest.raises(TypeError, match="'w'"):
        F.psq(torch.zeros(3, dtype=torch.complex64), 5.0, thr, steps, base)
    with pytest.raises(ValueError, match="'logits'.*one logit per level"):
        F.gumbel_softmax_phase(torch.zeros(2, 3), torch.zeros(4), 1.0, None)
    with pytest.raises(ValueError, match="'tau'"):
        F.gumbel_softmax_phase(torch.zeros(2, 4), torch.zeros(4), 0.0, None)
