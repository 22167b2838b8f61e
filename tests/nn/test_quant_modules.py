"""Quantizer modules: training vs evaluation behaviour, schedules, parameters, names."""
import math

import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP32_ELEMENTWISE, rel_err
from quaton_fast import quant
from quaton_fast.reference import levels as ref_levels
from quaton_fast.reference import quantizers as ref_q


def _latent(seed=0, shape=(6, 6)):
    return torch.from_numpy(np.random.default_rng(seed).uniform(0, 2 * math.pi, shape).astype(np.float32))


def test_psq_fixed_and_linear_schedules_follow_the_epoch():
    w = _latent()
    table = ref_levels.uniform_levels(4)
    ft = quant.PSQ(4, quant.FixedTemperature(7.0)).train()
    assert rel_err(ft(w).numpy(), ref_q.psq_forward(w.double().numpy(), table, 7.0)) < RTOL_FP32_ELEMENTWISE
    li = quant.PSQ(4, quant.LinearTemperature(k0=2.0, increment=3.0, every=2)).train()
    for epoch, k in [(0, 2.0), (1, 2.0), (2, 5.0), (5, 8.0)]:
        li.set_epoch(epoch)
        assert float(li.sharpness()) == pytest.approx(k)
        assert rel_err(li(w).numpy(), ref_q.psq_forward(w.double().numpy(), table, k)) < RTOL_FP32_ELEMENTWISE


def test_psq_lt_sharpness_is_one_over_abs_kappa_plus_eps():
    q = quant.PSQ(4, quant.LearnableTemperature(kappa_init=0.05, eps=0.005))
    assert float(q.sharpness()) == pytest.approx(1 / 0.055, rel=1e-6)
    with torch.no_grad():
        q.kappa.fill_(-0.02)
    assert float(q.sharpness()) == pytest.approx(1 / 0.025, rel=1e-6)
    assert [n for n, _ in q.named_parameters()] == ["kappa"]


def test_eval_mode_is_hard_for_every_quantizer_but_fp():
    w = _latent(1)
    table = ref_levels.uniform_levels(8)
    hard = ref_q.staircase(w.double().numpy(), table)
    for q in (quant.PostTraining(8), quant.STE(8), quant.DSQ(8), quant.PSQ(8)):
        q.eval()
        assert np.allclose(q(w).numpy(), hard, atol=1e-6), type(q).__name__
    fp = quant.FullPrecision().eval()
    assert torch.equal(fp(w), w)


def test_pq_trains_in_full_precision():
    w = _latent(2)
    assert torch.equal(quant.PostTraining(4).train()(w), w)


def test_dsq_learnable_alpha_receives_a_gradient():
    q = quant.DSQ(4, alpha=0.3, learnable_alpha=True, hard_forward=False).train()
    w = _latent(3).requires_grad_(True)
    q(w).sum().backward()
    assert q.alpha.grad is not None and float(q.alpha.grad) != 0.0
    assert w.grad is not None


def test_gumbel_training_output_is_always_a_level_and_has_gradients():
    torch.manual_seed(0)
    q = quant.GumbelSoftmax(4).train()
    logits = torch.randn(5, 5, 4, requires_grad=True)
    out = q(logits)
    assert np.isin(np.round(out.detach().numpy() / (math.pi / 2)), [0, 1, 2, 3]).all()
    (out * torch.randn(5, 5)).sum().backward()
    assert logits.grad.abs().sum() > 0
    q.eval()
    assert torch.equal(q(logits), q.levels[logits.argmax(-1)])
    q.set_epoch(3)
    assert q.tau() == pytest.approx(max(0.1, 0.9 ** 3))


def test_level_indices_wrap_the_top_step_to_zero():
    q = quant.STE(4)
    w = torch.tensor([0.0, 0.7, 1.6, 3.2, 4.8, 2 * math.pi - 0.1])
    assert q.level_indices(w).tolist() == [0, 0, 1, 2, 3, 0]
    assert torch.allclose(q.hard_phase(w), torch.tensor([0, 0, 1, 2, 3, 0]) * (math.pi / 2))


def test_custom_level_table():
    q = quant.STE([0.0, 1.0, 2.5], period=None).eval()
    w = torch.tensor([-3.0, 0.4, 0.6, 1.8, 9.0])
    assert q(w).tolist() == pytest.approx([0.0, 0.0, 1.0, 2.5, 2.5])
    with pytest.raises(ValueError, match="increasing"):
        quant.STE([0.0, 2.0, 1.0], period=None)


def test_make_quantizer_names():
    for name in quant.QUANTIZER_NAMES:
        assert isinstance(quant.make_quantizer(name, 4), quant.Quantizer)
    assert isinstance(quant.make_quantizer("psq-lt", 4).schedule, quant.LearnableTemperature)
    with pytest.raises(ValueError, match="'name'"):
        quant.make_quantizer("psq-xx")
    with pytest.raises(TypeError, match="'schedule'"):
        quant.PSQ(4, schedule=3.0)
    with pytest.raises(ValueError, match="'k'"):
        quant.FixedTemperature(-1.0)
    with pytest.raises(ValueError, match="'alpha'"):
        quant.DSQ(4, alpha=1.2)
