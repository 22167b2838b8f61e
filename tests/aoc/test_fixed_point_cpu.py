"""C++ CPU fixed-point kernels (quaton_fast.aoc.fixed_point) against the NumPy reference."""
from __future__ import annotations

import numpy as np
import pytest

from quaton_fast._backend import native
from quaton_fast.reference import fixed_point as ref
from qf_testing import FIXED_POINT_CASES as CASES, contractive_W, random_adjoint_case, random_fixed_point_case as random_case

if native() is None or not hasattr(native(), "fixed_point_forward_cpu"):
    pytest.skip("quaton_fast._C with the fixed-point kernels is not built", allow_module_level=True)

from quaton_fast.aoc import fixed_point as cpu  # noqa: E402


@pytest.mark.parametrize("case", CASES, ids=[f"S{c[0]}-n{c[1]}-{c[3]}" for c in CASES])
@pytest.mark.parametrize("threads", [1, 3])
def test_forward_matches_reference(case, threads):
    S, n, shared, nl, mom, anneal, clamp, noise, tol, T = case
    rng = np.random.default_rng(S * 1000 + n)
    codes = rng.integers(0, 3, size=n).astype(np.int8) if nl == "mixed" else nl
    W, b, kw = random_case(rng, S, n, shared_W=shared, codes=codes, momentum=mom, anneal=anneal,
                           clamp=clamp, noise=noise, tol=tol, T=T)
    r = ref.fixed_point_forward(W, b, **kw)
    c = cpu.fixed_point_forward(W, b, threads=threads, **kw)
    np.testing.assert_array_equal(c.iterations, r.iterations)
    np.testing.assert_allclose(c.state, r.state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.residual, r.residual, rtol=1e-6, atol=1e-15)
    np.testing.assert_array_equal(c.converged, r.converged)
    assert c.state.dtype == np.float64 and c.iterations.dtype == np.int32
    if tol > 0 and not noise and not anneal and nl != "sign":
        assert (c.iterations < T).any(), "want early stopping exercised"


def test_noise_matches_reference_bit_for_bit_in_uniforms():
    C = native()
    xs = np.array([[C.fixed_point_normal(2 ** 64 - 1, s, t, j) for j in range(5)]
                   for s, t in [(0, 0), (7, 123), (4095, 999)]])
    rf = np.array([ref.counter_normal(2 ** 64 - 1, np.array([s]), t, 5)[0]
                   for s, t in [(0, 0), (7, 123), (4095, 999)]])
    np.testing.assert_allclose(xs, rf, rtol=0, atol=1e-15)


def test_noise_changes_with_seed_and_reproduces():
    rng = np.random.default_rng(3)
    W = contractive_W(rng, (), 16, 0.4)
    b = rng.normal(size=(8, 16))
    kw = dict(noise_std=0.1, tol=0.0, max_iter=20)
    a = cpu.fixed_point_forward(W, b, seed=1, **kw).state
    assert np.array_equal(a, cpu.fixed_point_forward(W, b, seed=1, threads=2, **kw).state)
    assert np.abs(a - cpu.fixed_point_forward(W, b, seed=2, **kw).state).min() > 0


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(5)
    W = contractive_W(rng, (100,), 16, 0.5)
    b = rng.normal(size=(100, 16))
    outs = [cpu.fixed_point_forward(W, b, tol=1e-6, threads=t) for t in (1, 2, 7, 200)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o.state, outs[0].state)
        np.testing.assert_array_equal(o.iterations, outs[0].iterations)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("clamp", [None, (-0.6, 0.6)])
@pytest.mark.parametrize("n", [1, 16, 37])
def test_adjoint_matches_reference(shared, clamp, n):
    rng = np.random.default_rng(n + 100 * shared + (7 if clamp else 0))
    S = 24
    W, b, s, g, kw = random_adjoint_case(rng, S, n, shared=shared, clamp=clamp)
    r = ref.fixed_point_adjoint(W, b, s, g, tol=1e-12, max_iter=2000, **kw)
    c = cpu.fixed_point_adjoint(W, b, s, g, tol=1e-12, max_iter=2000, threads=3, method="iterate", **kw)
    d = ref.fixed_point_adjoint(W, b, s, g, method="direct", **kw)
    np.testing.assert_array_equal(c.iterations, r.iterations)
    for name in ("v", "grad_b", "grad_W", "grad_beta", "grad_alpha"):
        a, e = getattr(c, name), getattr(r, name)
        assert np.shape(a) == np.shape(e), name
        scale = max(np.abs(e).max(), 1.0)
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-12 * scale, err_msg=name)
        np.testing.assert_allclose(a, getattr(d, name), rtol=0, atol=1e-9 * scale, err_msg=name)
    if clamp is not None and not shared:
        assert (c.grad_b == 0).any()


# ----------------------------------------------------------------------------- bad input
BAD = [
    ("W", dict(W=np.zeros((2, 3, 4)))),
    ("b", dict(b=np.zeros((2, 5)))),
    ("W", dict(W=np.zeros((0, 0)), b=np.zeros(0))),
    ("W", dict(W=np.full((4, 4), np.nan))),
    ("W", dict(W=np.zeros((300, 300)), b=np.zeros(300))),
    ("noise_std", dict(noise_std=-1.0)),
    ("tol", dict(tol=-1.0)),
    ("max_iter", dict(max_iter=0)),
    ("nonlinearity", dict(nonlinearity="softplus")),
    ("nonlinearity", dict(nonlinearity=np.array([0, 3, 1, 1], np.int8))),
    ("threads", dict(threads=0)),
    ("alpha", dict(alpha=np.ones(3))),
]


@pytest.mark.parametrize("arg,override", BAD, ids=[f"{a}-{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_input_raises_before_kernel(arg, override, monkeypatch):
    import quaton_fast.aoc.fixed_point as mod

    def boom(*a, **k):  # the kernel must not be reached
        raise AssertionError("C++ kernel called with bad input")
    monkeypatch.setattr(mod, "native_forward", boom)
    kw = {"W": np.eye(4) * 0.1, "b": np.zeros((2, 4)), **override}
    W, b = kw.pop("W"), kw.pop("b")
    with pytest.raises((ValueError, TypeError), match=f"argument '{arg}'"):
        cpu.fixed_point_forward(W, b, **kw)


def test_bind_layer_checks_dtype_and_shape():
    C = native()
    S, n = 2, 3
    one = np.ones(S)
    args = [np.eye(n), np.zeros(n), None, one, one, one, 0 * one, np.zeros(n, np.int8), None,
            0.0, 0, 0.0, 5]
    C.fixed_point_forward_cpu(*args)
    bad = list(args)
    bad[0] = np.eye(n, dtype=np.float32)
    with pytest.raises(TypeError, match="'W'"):
        C.fixed_point_forward_cpu(*bad)
    bad = list(args)
    bad[5] = np.ones(S + 1)
    with pytest.raises(ValueError, match="'beta'"):
        C.fixed_point_forward_cpu(*bad)
    bad = list(args)
    bad[7] = np.array([0, 1, 9], np.int8)
    with pytest.raises(ValueError, match="nonlinearity"):
        C.fixed_point_forward_cpu(*bad)
    bad = list(args)
    bad[12] = 0
    with pytest.raises(ValueError, match="max_iter"):
        C.fixed_point_forward_cpu(*bad)
