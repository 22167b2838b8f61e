"""Fuzz the AOC entry points: malformed input must raise an exception that names the argument.

Entry points: the NumPy reference and C++ ``fixed_point_forward``, the torch ``fixed_point``,
``EquilibriumClassifier`` (constructor and forward) and ``quantize_weights_9bit``. Each example
draws sizes and one argument to corrupt (bad shape, dtype, type, non-finite value, out-of-range or
extreme size); the call must raise an accepted exception whose message names that argument
(``fuzz_checks.assert_rejects``). Well-formed random calls must succeed, and their ``converged``
flag must agree with the residual (positive controls, so the test cannot pass by rejecting all).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_checks import assert_rejects
from quaton_fast import _backend
from quaton_fast.aoc import EquilibriumClassifier, quantize_weights_9bit
from quaton_fast.functional.fixed_point import fixed_point
from quaton_fast.reference import fixed_point as ref

NAN, INF = float("nan"), float("inf")
FORWARDS = [("reference", ref.fixed_point_forward)]
if _backend.native() is not None:
    from quaton_fast.aoc import fixed_point_forward as _cpp_forward
    FORWARDS.append(("aoc", _cpp_forward))

SET = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _numpy_bad(S, n):
    """(argument, bad value) pairs for the NumPy/C++ forward with a valid W (S,n,n), b (S,n)."""
    return [
        ("W", np.zeros((n, n + 1))), ("W", np.zeros(n)), ("W", np.zeros((1, 1, n, n))),
        ("W", np.full((S, n, n), NAN)), ("W", np.full((S, n, n), INF)), ("W", np.zeros((S, n, n), complex)),
        ("W", "W"), ("W", np.zeros((S, 300, 300))), ("W", np.zeros((S, 0, 0))),
        ("b", np.zeros((S, n + 1))), ("b", np.full((S, n), NAN)), ("b", np.zeros((S, n, 1))), ("b", None),
        ("s0", np.zeros((S, n + 2))), ("s0", np.full((S, n), INF)), ("s0", np.zeros(n)),
        ("alpha", NAN), ("alpha", "0.5"), ("alpha", np.zeros(S + 1)), ("alpha", (0.1, 0.2, 0.3)),
        ("alpha", (0.1, INF)), ("beta", INF), ("beta", np.zeros((S + 2,))), ("gamma", NAN),
        ("nonlinearity", "relu"), ("nonlinearity", np.full(n, 7, np.int8)), ("nonlinearity", ["tanh"] * (n + 1)),
        ("clamp", (1.0, 0.0)), ("clamp", (NAN, 1.0)), ("clamp", (0.0, 1.0, 2.0)), ("clamp", "x"),
        ("noise_std", -1.0), ("noise_std", NAN), ("seed", -1), ("seed", 2 ** 64), ("seed", 1.5),
        ("tol", -1e-3), ("tol", NAN), ("tol", "x"), ("max_iter", 0), ("max_iter", -5), ("max_iter", 2 ** 31),
        ("max_iter", 1.5), ("max_iter", True), ("systems", 0), ("systems", S + 3),
    ]


@SET
@given(S=st.integers(1, 4), n=st.integers(1, 6), pick=st.integers(0, 10 ** 6), which=st.integers(0, 1))
def test_fuzz_fixed_point_forward(S, n, pick, which):
    name, fn = FORWARDS[which % len(FORWARDS)]
    rng = np.random.default_rng(pick)
    W, b = rng.normal(size=(S, n, n)) * 0.2, rng.normal(size=(S, n))
    bad = _numpy_bad(S, n)
    arg, value = bad[pick % len(bad)]
    kw = {"W": W, "b": b, "max_iter": 50}
    kw[arg] = value
    assert_rejects(lambda: fn(kw.pop("W"), kw.pop("b"), **kw), f"'{arg}'")


@SET
@given(S=st.integers(1, 5), n=st.integers(1, 8), seed=st.integers(0, 2 ** 32 - 1),
       gamma=st.floats(0.0, 0.95), scale=st.floats(0.05, 3.0), which=st.integers(0, 1))
def test_fuzz_fixed_point_forward_valid_inputs_are_honest(S, n, seed, gamma, scale, which):
    """Positive control: random valid systems (contractive or not) run, and converged <=> residual <= tol."""
    _, fn = FORWARDS[which % len(FORWARDS)]
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(S, n, n)) * scale / np.sqrt(n), rng.normal(size=(S, n))
    r = fn(W, b, gamma=gamma, nonlinearity="identity", tol=1e-6, max_iter=200)
    np.testing.assert_array_equal(r.converged, r.residual <= 1e-6)
    F = 0.5 * r.state + np.einsum("sij,sj->si", W, r.state) + b
    with np.errstate(all="ignore"):
        true = np.linalg.norm(F - r.state, axis=1) / np.maximum(np.linalg.norm(F, axis=1), 1e-30)
    assert np.all(~r.converged | (true <= 1e-6 * (1 + 1e-8)))


def _torch_bad(S, n):
    D = torch.float64
    return [
        ("W", torch.zeros(n, n + 1, dtype=D)), ("W", torch.zeros(S + 1, n, n, dtype=D)), ("W", np.zeros((n, n))),
        ("W", torch.zeros(n, n, dtype=torch.int64)), ("W", torch.zeros(n, n, dtype=torch.float32)),
        ("b", torch.zeros(S, n, 2, dtype=D)), ("b", torch.zeros(0, n, dtype=D)), ("b", torch.zeros(S, n).long()),
        ("b", [[0.0] * n] * S), ("s0", torch.zeros(S, n + 1, dtype=D)), ("s0", torch.zeros(S, n, dtype=torch.float32)),
        ("alpha", torch.ones(S + 2, dtype=D)), ("alpha", NAN), ("alpha", "a"), ("alpha", (0.1, 0.2, 0.3)),
        ("alpha", (0.1, torch.ones(S + 1, dtype=D))), ("alpha", [0.5] * (S + 1)), ("alpha", torch.ones(S, dtype=torch.int64)),
        ("beta", INF), ("beta", torch.ones(S, 2, dtype=D)), ("beta", None), ("gamma", torch.ones(S + 1, dtype=D)),
        ("gamma", NAN), ("nonlinearity", "relu"), ("nonlinearity", 3), ("clamp", (1.0, -1.0)), ("clamp", (0.0,)),
        ("clamp", (0.0, INF)), ("tol", -1.0), ("tol", INF), ("max_iter", 0), ("max_iter", 2 ** 31), ("max_iter", 2.0),
        ("backend", "gpu"), ("backward_method", "lu"), ("backward_tol", -1.0), ("backward_max_iter", 0),
    ]


@SET
@given(S=st.integers(1, 4), n=st.integers(1, 6), pick=st.integers(0, 10 ** 6))
def test_fuzz_torch_fixed_point(S, n, pick):
    g = torch.Generator().manual_seed(pick)
    kw = {"W": torch.randn(S, n, n, generator=g, dtype=torch.float64) * 0.2,
          "b": torch.randn(S, n, generator=g, dtype=torch.float64), "max_iter": 50}
    bad = _torch_bad(S, n)
    arg, value = bad[pick % len(bad)]
    kw[arg] = value
    assert_rejects(lambda: fixed_point(kw.pop("W"), kw.pop("b"), **kw), f"'{arg}'")


@SET
@given(S=st.integers(1, 4), n=st.integers(1, 6), where=st.sampled_from(["W", "b", "s0"]),
       value=st.sampled_from([NAN, INF, -INF]), backend=st.sampled_from(["torch", "auto"]))
def test_fuzz_torch_nonfinite_tensors_never_converge(S, n, where, value, backend):
    """Tensors are not value-checked on the hot path; non-finite data must come back as failures."""
    kw = {"W": torch.eye(n, dtype=torch.float64).expand(S, n, n).clone() * 0.1,
          "b": torch.ones(S, n, dtype=torch.float64), "s0": torch.zeros(S, n, dtype=torch.float64)}
    kw[where][0, 0] = value
    s, it, res = fixed_point(kw.pop("W"), kw.pop("b"), tol=1e-3, max_iter=50, backend=backend, **kw)
    assert not bool(res[0] <= 1e-3)
    assert bool((res[1:] <= 1e-3).all())


@SET
@given(pick=st.integers(0, 10 ** 6))
def test_fuzz_equilibrium_classifier(pick):
    bad_ctor = [("in_features", 0), ("in_features", 2.5), ("width", 0), ("width", -1), ("cells", 0),
                ("num_classes", 0), ("alpha", 1.5), ("alpha", NAN), ("alpha", "0.5"), ("beta_init", INF),
                ("clamp", (1.0, -1.0)), ("clamp", (0.0, 0.0)), ("clamp", 1.0), ("tol", -1.0), ("tol", NAN),
                ("max_iter", 0), ("max_iter", 1.5), ("max_gain", NAN), ("max_gain", 0.0), ("seed", -2), ("seed", "s")]
    m = EquilibriumClassifier(in_features=12, width=4, cells=2, num_classes=3)
    bad_x = [torch.rand(2, 11), torch.rand(2, 12, dtype=torch.float64), torch.rand(0, 12), torch.rand(12) * 0,
             np.zeros((2, 12), np.float32), torch.zeros(2, 12, dtype=torch.int64), torch.rand(2, 3, 5)]
    k = pick % (len(bad_ctor) + len(bad_x))
    if k < len(bad_ctor):
        arg, value = bad_ctor[k]
        assert_rejects(lambda: EquilibriumClassifier(in_features=12, width=4, **{arg: value}), f"'{arg}'")
    else:
        x = bad_x[k - len(bad_ctor)]
        if isinstance(x, torch.Tensor) and x.dim() == 1:
            x = torch.rand(1, 13)
        assert_rejects(lambda: m(x), "'x'")
    assert m(torch.rand(3, 12)).shape == (3, 3)  # positive control


@SET
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=4), kind=st.sampled_from(
    ["nan", "inf", "int", "bool", "numpy", "list", "mode", "ok"]), seed=st.integers(0, 1000))
def test_fuzz_quantize_weights_9bit(shape, kind, seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(tuple(shape), generator=g)
    if kind == "ok":
        if W.numel() == 0:
            assert_rejects(lambda: quantize_weights_9bit(W), "'W'")
        else:
            Q = quantize_weights_9bit(W)
            assert Q.shape == W.shape and Q.dtype == W.dtype and bool(torch.isfinite(Q).all())
        return
    if kind in ("nan", "inf"):
        if W.numel() == 0:
            W = torch.zeros(2, 2)
        W.reshape(-1)[0] = NAN if kind == "nan" else INF
        assert_rejects(lambda: quantize_weights_9bit(W), "'W'")
    elif kind == "mode":
        assert_rejects(lambda: quantize_weights_9bit(W, "exact"), ["'mode'", "'W'"])
    else:
        bad = {"int": W.long(), "bool": W > 0, "numpy": W.numpy(), "list": W.tolist()}[kind]
        assert_rejects(lambda: quantize_weights_9bit(bad), "'W'")
