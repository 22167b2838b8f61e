"""Fuzz the quantizer / level-table entry points: bad shapes, dtypes, non-finite values, extreme
sizes must raise an exception that names the argument (tests/fuzz_checks.assert_rejects)."""
from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from fuzz_checks import assert_rejects
from quaton_fast import functional as F
from quaton_fast import quant
from quaton_fast.reference import levels as ref_levels
from quaton_fast.reference import quantizers as ref_q

FUZZ = settings(max_examples=40, deadline=None)
NONFINITE = st.sampled_from([float("nan"), float("inf"), -float("inf")])
BAD_SCALARS = st.one_of(NONFINITE, st.just("1"), st.just(None), st.just([1.0]), st.just(True))
TABLE = ref_levels.uniform_levels(4)
THR = torch.tensor(TABLE.thresholds, dtype=torch.float32)
STEPS = torch.tensor(TABLE.steps, dtype=torch.float32)


@FUZZ
@given(st.one_of(st.integers(-5, 1), st.integers(ref_levels.MAX_LEVELS + 1, 2 ** 70), st.just(True),
                 st.just("4"), st.just(4.0), st.lists(st.text(max_size=2), min_size=2, max_size=4),
                 st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=4)
                 .filter(lambda v: len(v) < 2 or not all(math.isfinite(x) for x in v)
                         or not all(b > a for a, b in zip(v, v[1:])))))
def test_make_level_table_bad_levels(levels):
    assert_rejects(lambda: quant.make_level_table(levels), "'levels'")


@FUZZ
@given(st.one_of(NONFINITE, st.floats(-10, 0), st.just("2pi"), st.just(0.5)))
def test_make_level_table_bad_period(period):
    # 0.5 < the span of [0, 1, 2]: no room for the wrap step
    assert_rejects(lambda: quant.make_level_table([0.0, 1.0, 2.0], period=period), "'period'")


@FUZZ
@given(st.sampled_from(["ste", "pq", "dsq", "psq-ft", "gs"]), st.one_of(st.integers(-3, 1), st.just(2 ** 40),
                                                                   st.just("x"), st.just([3.0, 1.0])))
def test_quantizer_constructors_bad_levels(name, levels):
    assert_rejects(lambda: quant.make_quantizer(name, levels), "'levels'")


@FUZZ
@given(BAD_SCALARS, st.sampled_from(["alpha", "tau0", "decay", "tau_min", "init_sharpness"]))
def test_quantizer_options_bad_scalars(value, option):
    make = (lambda: quant.DSQ(4, alpha=value)) if option == "alpha" else \
        (lambda: quant.GumbelSoftmax(4, **{option: value}))
    assert_rejects(make, f"'{option}'")


@FUZZ
@given(st.sampled_from(["staircase", "ste", "psq", "dsq"]),
       st.sampled_from(["len", "ndim", "dtype", "w_dtype", "base", "period", "w_type"]))
def test_functional_bad_metadata(op, fault):
    w, thr, steps, base, period = torch.rand(3, 3), THR, STEPS, 0.0, TABLE.period
    expect = {"len": "'steps'", "ndim": "'thresholds'", "dtype": "'steps'", "w_dtype": "'w'", "base": "'base'",
              "period": "'period'", "w_type": "'w'"}[fault]
    if fault == "len":
        steps = steps[:-1]
    elif fault == "ndim":
        thr = thr.reshape(2, 2)
    elif fault == "dtype":
        steps = steps.long()
    elif fault == "w_dtype":
        w = torch.ones(3, 3, dtype=torch.complex64)
    elif fault == "base":
        base = float("nan")
    elif fault == "period":
        period = -1.0
    elif fault == "w_type":
        w = np.ones((3, 3))
    extra = {"staircase": (), "ste": (), "psq": (10.0,), "dsq": (0.2,)}[op]
    fn = getattr(F, op)
    if op in ("psq", "dsq"):
        call = lambda: fn(w, *extra, thr, steps, base, period=period)  # noqa: E731
    else:
        call = lambda: fn(w, thr, steps, base, period=period)  # noqa: E731
    assert_rejects(call, expect)


@FUZZ
@given(st.one_of(BAD_SCALARS, st.floats(-5, 0)))
def test_functional_bad_k_alpha_tau(value):
    w = torch.rand(4)
    assert_rejects(lambda: F.psq(w, value, THR, STEPS, 0.0, period=TABLE.period), "'k'")
    assert_rejects(lambda: F.dsq(w, value, THR, STEPS, 0.0, period=TABLE.period), "'alpha'")
    assert_rejects(lambda: F.gumbel_softmax_phase(torch.rand(2, 4), torch.arange(4.0), value, None), "'tau'")


@FUZZ
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(1, 6))
def test_gumbel_bad_logit_shape(shape, n):
    logits = torch.rand(*shape)
    if shape[-1] == n:
        logits = torch.rand(*shape, n + 1)
    assert_rejects(lambda: F.gumbel_softmax_phase(logits, torch.arange(float(n)), 1.0, None), "'logits'")
    assert_rejects(lambda: F.gumbel_argmax_phase(logits, torch.arange(float(n))), "'logits'")


@FUZZ
@given(st.sampled_from(["ste", "pq", "dsq", "psq-ft", "psq-lt", "gs"]), NONFINITE, st.integers(1, 5))
def test_export_paths_refuse_nonfinite_latents(name, bad, size):
    q = quant.make_quantizer(name, 4)
    latent = q.latent_from_phase(torch.rand(size, size) * 6)
    latent = latent.clone()
    latent.view(-1)[0] = bad
    assert_rejects(lambda: q.hard_phase(latent), "'latent'")
    assert_rejects(lambda: q.level_indices(latent), "'latent'")
    phase = torch.rand(size, size)
    phase.view(-1)[-1] = bad
    assert_rejects(lambda: q.latent_from_phase(phase), "'phase'")


@FUZZ
@given(NONFINITE, st.sampled_from(["staircase", "level_index", "hard_phase", "psq", "dsq"]))
def test_reference_refuses_nonfinite(bad, op):
    w = np.array([0.1, bad])
    calls = {"staircase": lambda: ref_q.staircase(w, TABLE), "level_index": lambda: ref_q.level_index(w, TABLE),
             "hard_phase": lambda: ref_q.hard_phase(w, TABLE), "psq": lambda: ref_q.psq_forward(w, TABLE, 5.0),
             "dsq": lambda: ref_q.dsq_forward(w, TABLE, 0.2, hard_forward=False)}
    assert_rejects(calls[op], "'w'")
