"""Fuzz the complex-level-table entry points (issue 18): bad tables, bad material parameters and
bad tensors must raise an exception naming the argument (tests/fuzz_checks.assert_rejects)."""
from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from fuzz_checks import assert_rejects
from quaton_fast.functional import transmission as FT
from quaton_fast.quant import levels as L
from quaton_fast.reference import complex_levels as R

FUZZ = settings(max_examples=40, deadline=None)
NONFINITE = st.sampled_from([float("nan"), float("inf"), -float("inf")])
BAD_SCALARS = st.one_of(NONFINITE, st.just("1"), st.just(None), st.just([1.0]), st.just(True))
TABLE = L.from_material(1.7, 0.05, 1e-6, levels=4)
TT = FT.complex_table_tensors(TABLE)


@FUZZ
@given(st.lists(st.one_of(st.complex_numbers(max_magnitude=3.0), st.complex_numbers(allow_nan=True, allow_infinity=True)), min_size=0, max_size=6))
def test_complex_level_table_rejects_or_builds_a_valid_table(values):
    t = np.asarray(values, dtype=np.complex128) if values else np.zeros(0, np.complex128)
    try:
        table = L.complex_level_table(t)
    except (ValueError, TypeError) as exc:
        assert "'transmissions'" in str(exc), str(exc)
        return
    # accepted: it must be a valid table
    assert table.n >= 2 and np.all(table.amplitudes > 0) and np.all(table.amplitudes <= 1.0)
    assert np.all(np.diff(table.phases) > 0) and table.phases[-1] - table.phases[0] < 2 * np.pi


@FUZZ
@given(st.sampled_from(["n", "kappa", "wavelength", "n_medium"]), BAD_SCALARS)
def test_from_material_bad_scalars(arg, value):
    kw = {"n": 1.6, "kappa": 0.01, "wavelength": 1e-6, "n_medium": 1.0}
    kw[arg] = value
    assert_rejects(lambda: L.from_material(kw["n"], kw["kappa"], kw["wavelength"], levels=4,
                                           n_medium=kw["n_medium"]), f"'{arg}'")


@FUZZ
@given(st.one_of(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5),
                 st.just(np.zeros((2, 2))), st.just("h"), st.just([0.0, 5e-6])))
def test_from_material_bad_heights(heights):
    h = np.asarray(heights, dtype=np.float64) if isinstance(heights, list) else heights
    ok = (isinstance(h, np.ndarray) and h.ndim == 1 and h.size >= 2 and np.all(np.isfinite(h))
          and np.all(h >= 0) and np.all(np.diff(h) > 0) and 0.6 * (h[-1] - h[0]) < 1e-6)
    if ok:
        return
    assert_rejects(lambda: L.from_material(1.6, 0.01, 1e-6, heights=heights), "'heights'")


@FUZZ
@given(st.sampled_from(["hard", "ste", "psq", "dsq"]),
       st.sampled_from(["w_dtype", "w_type", "t_real", "t_len", "thr_len", "base", "k_alpha"]))
def test_functional_bad_metadata(op, fault):
    w = torch.rand(3, 3)
    thr, t, base = TT["thresholds"], TT["transmissions"], TT["base"]
    k = 5.0
    name = {"w_dtype": "'w'", "w_type": "'w'", "t_real": "'transmissions'", "t_len": "'thresholds'",
            "thr_len": "'thresholds'", "base": "'base'", "k_alpha": ("'k'", "'alpha'")}[fault]
    if fault == "w_dtype":
        w = torch.ones(3, 3, dtype=torch.int32)
    elif fault == "w_type":
        w = np.ones((3, 3))
    elif fault == "t_real":
        t = t.real.contiguous()
    elif fault == "t_len":
        t = t[:3]
    elif fault == "thr_len":
        thr = thr[:2]
    elif fault == "base":
        base = float("nan")
    elif fault == "k_alpha":
        if op in ("hard", "ste"):
            return
        k = float("inf")
    lv = torch.tensor(TABLE.phases, dtype=torch.float32)
    call = {"hard": lambda: FT.hard_transmission(w, thr, t, base),
            "ste": lambda: FT.ste_transmission(w, thr, t, base),
            "psq": lambda: FT.psq_transmission(w, k, thr, t, base),
            "dsq": lambda: FT.dsq_transmission(w, k if fault == "k_alpha" else 0.2, lv, thr, t, base)}[op]
    assert_rejects(call, name)


@FUZZ
@given(st.sampled_from(["u_real", "t_shape", "t_real", "transfer"]))
def test_modulate_transmission_propagate_bad_inputs(fault):
    u = torch.randn(2, 8, 8, dtype=torch.complex64)
    t = torch.ones(8, 8, dtype=torch.complex64)
    h = torch.ones(16, 16, dtype=torch.complex64)
    name = {"u_real": "'u'", "t_shape": "'transmission'", "t_real": "'transmission'", "transfer": "'transfer'"}[fault]
    if fault == "u_real":
        u = u.real.contiguous()
    elif fault == "t_shape":
        t = torch.ones(4, 8, dtype=torch.complex64)
    elif fault == "t_real":
        t = torch.ones(8, 8)
    else:
        h = torch.ones(4, 4, dtype=torch.complex64)
    assert_rejects(lambda: FT.modulate_transmission_propagate(u, t, h), name)


@FUZZ
@given(st.sampled_from(["psq", "dsq", "ste", "gs"]), st.sampled_from(["w", "grad_out", "table"]))
def test_reference_bad_inputs(op, fault):
    w = np.random.default_rng(0).uniform(0, 6, size=(3,))
    g = np.ones(3, dtype=np.complex128)
    table = TABLE
    if fault == "w":
        w = np.array([0.0, np.nan, 1.0])
    elif fault == "grad_out":
        g = np.ones(4, dtype=np.complex128)
    else:
        table = "not a table"
    if op == "gs":
        z = np.zeros((3, 4)) if fault != "w" else np.array([[0.0, np.nan, 0, 0]] * 3)
        call = lambda: R.gumbel_transmission_backward(g, z, table, 0.5, np.zeros((3, 4)))  # noqa: E731
        name = {"w": "'logits'", "grad_out": "'grad_out'", "table": "'table'"}[fault]
    else:
        call = {"psq": lambda: R.psq_transmission_backward(g, w, table, 3.0),
                "dsq": lambda: R.dsq_transmission_backward(g, w, table, 0.3),
                "ste": lambda: R.ste_transmission_backward(g, w, table)}[op]
        name = f"'{fault}'"
    assert_rejects(call, name)
