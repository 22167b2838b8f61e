"""'converged' means ||F(s) - s|| <= tol * max(||F(s)||, 1e-30) AT the returned state, in every backend.

F is the step's map without momentum and noise (clamp included, alpha of the step, the final alpha
when the budget is spent). The residual is recomputed here independently (plain NumPy on the
returned state), never read back from the library. Cases bug01 (divergence overflowing the norms)
and bug02 (momentum making the step small at a non-fixed point) and their kind: momentum,
annealing, noise, clamp, mixed nonlinearities, non-finite starts.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from quaton_fast import _backend
from quaton_fast.functional.fixed_point import fixed_point
from quaton_fast.reference import fixed_point as ref

HAVE_C = _backend.native() is not None
if HAVE_C:
    from quaton_fast.aoc import fixed_point_forward as cpp_forward


def _f(s, codes):
    return np.where(codes == 0, np.tanh(s), np.where(codes == 1, np.where(s >= 0, 1.0, -1.0), s))


def true_residual(W, b, s, alpha, beta, codes, clamp):
    """||F(s) - s|| / max(||F(s)||, 1e-30) per system, by hand (inf when not finite)."""
    S, n = s.shape
    W = np.broadcast_to(W, (S, n, n))
    b = np.broadcast_to(b, (S, n))
    alpha = np.broadcast_to(np.asarray(alpha, float), (S,))
    beta = np.broadcast_to(np.asarray(beta, float), (S,))
    out = np.empty(S)
    with np.errstate(all="ignore"):
        for i in range(S):
            F = alpha[i] * s[i] + beta[i] * (W[i] @ _f(s[i], codes)) + b[i]
            if clamp is not None:
                F = np.clip(F, *clamp)
            sc = max(np.linalg.norm(F), 1e-30)
            r = np.linalg.norm(F - s[i]) / sc
            out[i] = r if math.isfinite(r) and math.isfinite(sc) else math.inf
    return out


def _forward_all(W, b, **kw):
    """{backend name: (state, iterations, residual, converged)} for every CPU backend available."""
    out = {}
    r = ref.fixed_point_forward(W, b, **kw)
    out["reference"] = (r.state, r.iterations, r.residual, r.converged)
    if HAVE_C:
        c = cpp_forward(W, b, **kw)
        out["aoc(C++)"] = (c.state, c.iterations, c.residual, c.converged)
    if kw.get("noise_std", 0.0) == 0.0 and not isinstance(kw.get("nonlinearity"), np.ndarray):
        S = r.state.shape[0]
        tkw = {k: v for k, v in kw.items() if k not in ("systems", "noise_std", "seed")}
        for k in ("alpha", "beta", "gamma"):
            v = tkw.get(k)
            if isinstance(v, np.ndarray):
                tkw[k] = torch.from_numpy(v)
            elif isinstance(v, tuple):
                tkw[k] = tuple(torch.from_numpy(x) if isinstance(x, np.ndarray) else x for x in v)
        Wt = torch.from_numpy(np.ascontiguousarray(W))
        bt = torch.from_numpy(np.array(np.broadcast_to(b, (S, W.shape[-1]))))
        for backend in ("torch",) + (("cpp",) if HAVE_C else ()):
            s, it, res = fixed_point(Wt, bt, backend=backend, **tkw)
            tol = kw.get("tol", 1e-3)
            out[f"torch({backend})"] = (s.numpy(), it.numpy(), res.numpy(), (res <= tol).numpy())
    return out


@pytest.mark.parametrize("beta,alpha", [(10.0, 0.5), (2.0, 0.0), (1.2, 0.5), (-3.0, 0.9)])
def test_diverging_iteration_is_never_converged(beta, alpha):
    """bug01 and its kind: |alpha + beta| > 1, identity f: the iterate grows until norms overflow."""
    n = 4
    W, b = np.eye(n), np.ones(n)
    for name, (s, it, res, conv) in _forward_all(W, b, alpha=alpha, beta=beta, nonlinearity="identity",
                                                  tol=1e-3, max_iter=3000, systems=1).items():
        assert not conv[0], name
        assert not res[0] <= 1e-3, name
        # honest residual at the returned state: large or not finite
        assert true_residual(W, b, s, alpha, beta, np.full(n, 2), None)[0] > 1e-3, name


def test_nonfinite_start_is_a_failure_at_step_zero():
    n = 3
    W, b = np.eye(n) * 0.1, np.ones(n)
    s0 = np.array([[np.nan, 0.0, 0.0], [np.inf, 0.0, 0.0]])
    r = ref.fixed_point_forward(W, b, s0=np.zeros((2, n)), tol=1e-3)  # finite reference runs fine
    assert r.converged.all()
    # the reference and C++ front refuse non-finite inputs; the kernel-level semantics are exercised
    # through the torch API, which does no value checks on tensors (hot path)
    for backend in ("torch",) + (("cpp",) if HAVE_C else ()):
        s, it, res = fixed_point(torch.from_numpy(W), torch.from_numpy(np.tile(b, (2, 1))),
                                 s0=torch.from_numpy(s0), tol=1e-3, backend=backend)
        assert it.tolist() == [0, 0] and torch.isinf(res).all(), backend


@pytest.mark.parametrize("gamma", [0.3, 0.5, 0.7, 0.9])
def test_momentum_converged_means_fixed_point_1d(gamma):
    """bug02's sweep: contractive 1-D maps (slope in [-0.95, 0.95]) with momentum; every state
    reported converged is within tol of the analytic fixed point s* = b / (1 - slope)."""
    tol = 1e-3
    for Wv in np.linspace(-1.45, 0.45, 20):
        for bv in np.linspace(0.1, 2.0, 6):
            W, b = np.array([[Wv]]), np.array([bv])
            sstar = bv / (1 - (0.5 + Wv))
            for name, (s, it, res, conv) in _forward_all(W, b, alpha=0.5, beta=1.0, gamma=gamma,
                                                          nonlinearity="identity", tol=tol, max_iter=1000,
                                                          systems=1).items():
                if conv[0]:
                    x = s[0, 0]
                    Fx = 0.5 * x + Wv * x + bv
                    assert abs(Fx - x) <= tol * abs(Fx) * (1 + 1e-12), (name, Wv, bv)
                    # |s - s*| = |F(s) - s| / (1 - slope) <= tol |F(s)| / 0.05
                    assert abs(x - sstar) <= tol * abs(Fx) / (1 - (0.5 + Wv)) * (1 + 1e-9), (name, Wv, bv)


def test_bug02_case_reports_true_fixed_point():
    W, b = np.array([[-1.4]]), np.array([1.0])
    for name, (s, it, res, conv) in _forward_all(W, b, alpha=0.5, beta=1.0, gamma=0.9, nonlinearity="identity",
                                                  tol=1e-3, max_iter=1000, systems=1).items():
        assert (not conv[0]) or abs(s[0, 0] - 1 / 1.9) < 1e-2, name


def _random_system(rng, S, n, scale):
    W = rng.normal(size=(S, n, n))
    W *= (scale / np.linalg.norm(W, 2, axis=(-2, -1)))[:, None, None]
    return W, rng.normal(size=(S, n))


@pytest.mark.parametrize("kind", ["momentum", "anneal", "noise", "clamp", "mixed", "expansive"])
def test_converged_flag_is_true_residual_at_returned_state(kind):
    """Whatever the options, converged <=> the independently recomputed residual <= tol, and the
    backends agree on states, iteration counts and flags."""
    rng = np.random.default_rng(hash(kind) % 2 ** 32)
    S, n, T, tol = 12, 6, 400, 1e-4
    W, b = _random_system(rng, S, n, 1.6 if kind == "expansive" else 0.4)
    codes = np.full(n, 0, dtype=np.int8)
    kw = dict(alpha=0.5, beta=1.0, tol=tol, max_iter=T)
    if kind == "momentum":
        kw["gamma"] = rng.uniform(0.2, 0.95, size=S)
    if kind == "anneal":
        kw["alpha"] = (0.1, 0.5)
    if kind == "noise":
        kw.update(noise_std=np.array([0.0, 1e-7, 1e-3])[np.arange(S) % 3].max(), seed=5)
    if kind == "clamp":
        kw.update(clamp=(-0.3, 0.3), gamma=0.5)
    if kind == "mixed":
        codes = np.array([0, 1, 2, 0, 1, 2], dtype=np.int8)
        kw.update(nonlinearity=codes, gamma=0.3)
    if kind == "expansive":
        kw.update(alpha=0.9, nonlinearity="identity")
        codes = np.full(n, 2, dtype=np.int8)
    outs = _forward_all(W, b, **kw)
    r_state, r_it, r_res, r_conv = outs["reference"]
    alpha_F = kw["alpha"][1] if isinstance(kw["alpha"], tuple) else kw["alpha"]
    for name, (s, it, res, conv) in outs.items():
        truth = true_residual(W, b, s, alpha_F if not isinstance(kw["alpha"], tuple) else
                              np.where(it >= T, alpha_F, kw["alpha"][0] + (alpha_F - kw["alpha"][0]) *
                                       np.minimum(it, T - 1) / (T - 1)),
                              1.0, codes, kw.get("clamp"))
        assert np.all(conv <= (truth <= tol * (1 + 1e-9))), (name, truth[conv])  # converged => true
        assert np.all((truth <= tol * (1 - 1e-9)) <= conv), name                  # and conversely
        if name != "reference":
            np.testing.assert_array_equal(it, r_it, err_msg=name)
            np.testing.assert_array_equal(conv, r_conv, err_msg=name)
    if kind == "expansive":
        assert not r_conv.all()
    if kind in ("momentum", "clamp"):
        assert r_conv.any()


def test_annealing_converged_refers_to_final_alpha_map():
    """With a schedule and the budget spent, converged means a fixed point of the map at alpha_end."""
    rng = np.random.default_rng(3)
    W, b = _random_system(rng, 5, 4, 0.3)
    r = ref.fixed_point_forward(W, b, alpha=(0.0, 0.5), tol=0.0, max_iter=300)
    assert (r.iterations == 300).all()
    truth = true_residual(W, b, r.state, 0.5, 1.0, np.zeros(4, np.int8), None)
    np.testing.assert_allclose(r.residual, truth, rtol=1e-9)
    # tol = 0: converged only for an exact fixed point (never claimed here)
    assert not r.converged.any()


def test_returned_state_is_the_checked_one():
    """gamma = 0: iterating max_iter = iterations steps from s0 without early stop gives the state."""
    rng = np.random.default_rng(8)
    W, b = _random_system(rng, 4, 5, 0.5)
    r = ref.fixed_point_forward(W, b, tol=1e-6, max_iter=500)
    for i in range(4):
        s = np.zeros(5)
        for _ in range(int(r.iterations[i])):
            s = 0.5 * s + W[i] @ np.tanh(s) + b[i]
        np.testing.assert_allclose(r.state[i], s, rtol=0, atol=1e-14)
        assert true_residual(W[i:i + 1], b[i], s[None], 0.5, 1.0, np.zeros(5, np.int8), None)[0] <= 1e-6
