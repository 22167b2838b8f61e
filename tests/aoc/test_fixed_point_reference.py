"""NumPy reference of the AOC fixed-point iteration (SPEC B1): forward, noise, implicit adjoint."""
from __future__ import annotations

import math

import numpy as np
import pytest

from quaton_fast.reference import fixed_point as fp


def contractive_W(rng, shape, n, norm=0.4):
    W = rng.normal(size=(*shape, n, n))
    return W * (norm / np.linalg.norm(W, 2, axis=(-2, -1)))[..., None, None]


def naive_forward(W, b, s0, alpha, beta, gamma, codes, clamp, noise_std, seed, tol, T):
    """Per-system, per-step scalar loop: an independent oracle for the vectorised reference."""
    S, n = s0.shape
    W = np.broadcast_to(W, (S, n, n))
    b = np.broadcast_to(b, (S, n))
    a0, a1 = (alpha if isinstance(alpha, tuple) else (alpha, alpha))
    a0, a1, beta, gamma = (np.broadcast_to(np.asarray(x, float), (S,)) for x in (a0, a1, beta, gamma))
    out, its, res = np.zeros((S, n)), np.zeros(S, int), np.zeros(S)
    for i in range(S):
        s, sp = s0[i].copy(), s0[i].copy()
        for t in range(T + 1):  # t = T only checks the last state
            ta = min(t, T - 1)
            a = a0[i] + (a1[i] - a0[i]) * ta / (T - 1) if T > 1 else a0[i]
            f = np.array([math.tanh(x) if c == 0 else (1.0 if x >= 0 else -1.0) if c == 1 else x
                          for x, c in zip(s, codes)])
            pre = a * s + beta[i] * (W[i] @ f) + b[i]
            F = np.clip(pre, *clamp) if clamp is not None else pre
            rel = np.linalg.norm(F - s) / max(np.linalg.norm(F), fp.TINY)  # residual AT s
            rel = rel if math.isfinite(rel) else math.inf
            its[i], res[i] = t, rel
            if not math.isfinite(rel) or (tol > 0 and rel <= tol) or t == T:
                break
            y = pre + gamma[i] * (s - sp)
            if noise_std > 0:
                y = y + noise_std * fp.counter_normal(seed, np.array([i]), t, n)[0]
            if clamp is not None:
                y = np.clip(y, *clamp)
            sp, s = s, y
        out[i] = s
    return out, its, res


# ----------------------------------------------------------------------------- forward
def test_contractive_tanh_system_satisfies_fixed_point_equation(rng):
    S, n = 6, 16
    W = contractive_W(rng, (S,), n, 0.4)
    b = rng.normal(size=(S, n))
    r = fp.fixed_point_forward(W, b, alpha=0.5, beta=1.0, tol=1e-14, max_iter=1000)
    assert r.converged.all() and (r.iterations < 1000).all()
    z = r.state
    lhs = 0.5 * z + np.einsum("sij,sj->si", W, np.tanh(z)) + b
    assert np.abs(lhs - z).max() < 1e-10
    assert r.state.dtype == np.float64 and r.iterations.dtype == np.int32


def test_identity_matches_linear_solve(rng):
    n, S = 12, 4
    W = contractive_W(rng, (), n, 0.3)
    b = rng.normal(size=(S, n))
    alpha, beta = 0.4, 1.2
    r = fp.fixed_point_forward(W, b, alpha=alpha, beta=beta, nonlinearity="identity", tol=0.0,
                               max_iter=400)
    A = np.eye(n) - alpha * np.eye(n) - beta * W
    expected = np.linalg.solve(A, b.T).T
    assert np.abs(r.state - expected).max() < 1e-10
    assert (r.iterations == 400).all()


def test_alpha_schedule_values():
    T = 11
    vals = [float(fp.alpha_schedule(0.2, 1.0, t, T)) for t in range(T)]
    assert vals[0] == 0.2 and vals[-1] == 1.0
    np.testing.assert_allclose(vals, 0.2 + 0.08 * np.arange(T), rtol=0, atol=1e-15)
    assert float(fp.alpha_schedule(0.3, 0.9, 0, 1)) == 0.3
    # the forward really uses it: W = 0, b = 0, identity -> s_T = s_0 * prod_t alpha(t)
    s0 = np.array([[1.0, -2.0], [0.5, 3.0]])
    r = fp.fixed_point_forward(np.zeros((2, 2)), np.zeros(2), s0=s0, alpha=(0.2, 1.0),
                               nonlinearity="identity", tol=0.0, max_iter=T)
    np.testing.assert_allclose(r.state, s0 * np.prod(vals), rtol=1e-14)
    # per-system schedule
    r2 = fp.fixed_point_forward(np.zeros((2, 2)), np.zeros(2), s0=s0,
                                alpha=(np.array([0.2, 0.5]), 1.0), nonlinearity="identity",
                                tol=0.0, max_iter=T)
    prod2 = np.prod([0.5 + 0.05 * t for t in range(T)])
    np.testing.assert_allclose(r2.state[1], s0[1] * prod2, rtol=1e-14)


def test_vectorised_reference_matches_naive_loop(rng):
    """Momentum, annealing, clamp, noise, mixed nonlinearities and early stopping together."""
    S, n, T = 5, 7, 60
    W = contractive_W(rng, (S,), n, 0.5)
    b = rng.normal(size=(S, n)) * 0.5
    s0 = rng.uniform(-1, 1, size=(S, n))
    codes = np.array([0, 1, 2, 0, 2, 1, 0], dtype=np.int8)
    beta = rng.uniform(0.5, 1.0, size=S)
    gamma = np.array([0.0, 0.3, 0.5, 0.1, 0.0])
    # noise small enough that noisy states come within tol of the noise-free map's fixed point
    kw = dict(alpha=(0.1, 0.6), beta=beta, gamma=gamma, clamp=(-1.0, 1.0), noise_std=2e-4,
              seed=99, tol=5e-3, max_iter=T)
    r = fp.fixed_point_forward(W, b, s0=s0, nonlinearity=codes, **kw)
    s, its, res = naive_forward(W, b, s0, kw["alpha"], beta, gamma, codes, (-1.0, 1.0), 2e-4, 99,
                                5e-3, T)
    np.testing.assert_array_equal(r.iterations, its)
    assert len(set(its.tolist())) > 1, "want systems stopping at different steps"
    np.testing.assert_allclose(r.state, s, rtol=0, atol=1e-13)
    np.testing.assert_allclose(r.residual, res, rtol=1e-10)


def test_stopping_freezes_state_and_tol_zero_runs_all_steps(rng):
    n = 8
    W = contractive_W(rng, (3,), n, 0.3)
    b = rng.normal(size=(3, n))
    r = fp.fixed_point_forward(W, b, tol=1e-6, max_iter=500)
    assert r.converged.all() and (r.residual <= 1e-6).all() and (r.iterations < 500).all()
    # re-running with max_iter = iterations gives exactly the same state (frozen afterwards)
    for i in range(3):
        ri = fp.fixed_point_forward(W[i], b[i], tol=0.0, max_iter=int(r.iterations[i]))
        np.testing.assert_array_equal(ri.state[0], r.state[i])
    r0 = fp.fixed_point_forward(W, b, tol=0.0, max_iter=37)
    assert (r0.iterations == 37).all() and not r0.converged.any()


def test_nonconvergence_is_reported(rng):
    n = 6
    W = contractive_W(rng, (), n, 3.0)  # expansive
    r = fp.fixed_point_forward(W, np.zeros(n), s0=np.full((1, n), 0.1), alpha=1.0, beta=1.0,
                               nonlinearity="identity", tol=1e-8, max_iter=50)
    assert not r.converged[0] and r.iterations[0] == 50 and r.residual[0] > 1e-8


def test_sign_of_zero_is_plus_one():
    f = fp.apply_nonlinearity(np.array([-0.0, 0.0, -1e-300, 2.0]), np.ones(4, np.int8))
    np.testing.assert_array_equal(f, [1.0, 1.0, -1.0, 1.0])


# ----------------------------------------------------------------------------- noise
def test_rng_recipe_golden_values():
    # mix64(0 + G) is the first output of splitmix64 seeded with 0
    assert int(fp.mix64(np.array([0x9E3779B97F4A7C15], np.uint64))[0]) == 0xE220A8397B1DCDAF
    u1, u2 = fp.counter_uniforms(12345, np.array([0, 3]), 7, 5)
    assert ((u1 > 0) & (u1 <= 1)).all() and ((u2 >= 0) & (u2 < 1)).all()
    # u1, u2 are multiples of 2**-53 (exact integer recipe)
    assert np.all((u1 * 2.0 ** 53) == np.round(u1 * 2.0 ** 53))
    G, M = 0x9E3779B97F4A7C15, (1 << 64) - 1

    def mix(z):
        z ^= z >> 30; z = (z * 0xBF58476D1CE4E5B9) & M; z ^= z >> 27
        z = (z * 0x94D049BB133111EB) & M; return z ^ (z >> 31)
    k2 = mix((mix((12345 + G * 4) & M) + G * 8) & M)  # system 3, t = 7
    a, c = mix((k2 + G * 5) & M), mix((k2 + G * 6) & M)  # j = 2
    assert u1[1, 2] == ((a >> 11) + 1) * 2.0 ** -53 and u2[1, 2] == (c >> 11) * 2.0 ** -53


def test_noise_statistics():
    x = np.concatenate([fp.counter_normal(2024, np.arange(500), t, 200).ravel() for t in range(10)])
    N = x.size  # 1e6
    assert abs(x.mean()) < 5.0 / math.sqrt(N)
    assert abs(x.var() - 1.0) < 5.0 * math.sqrt(2.0 / N)
    # 4th moment and tails of a Gaussian
    assert abs(np.mean(x ** 4) - 3.0) < 0.05
    assert abs(np.mean(np.abs(x) > 1.96) - 0.05) < 0.002
    # neighbouring counters are uncorrelated
    y = fp.counter_normal(2024, np.arange(500), 0, 200)
    assert abs(np.mean(y[:, :-1] * y[:, 1:])) < 5.0 / math.sqrt(y[:, 1:].size)
    assert abs(np.mean(y[:-1] * y[1:])) < 5.0 / math.sqrt(y[1:].size)


def test_noise_same_seed_same_trajectory_different_seed_differs(rng):
    n, S = 8, 4
    W = contractive_W(rng, (), n, 0.4)
    b = rng.normal(size=(S, n))
    kw = dict(noise_std=0.05, tol=0.0, max_iter=30, gamma=0.2)
    r1 = fp.fixed_point_forward(W, b, seed=7, **kw)
    r2 = fp.fixed_point_forward(W, b, seed=7, **kw)
    r3 = fp.fixed_point_forward(W, b, seed=8, **kw)
    r4 = fp.fixed_point_forward(W, b, seed=7, **{**kw, "noise_std": 0.0})
    np.testing.assert_array_equal(r1.state, r2.state)
    assert np.abs(r1.state - r3.state).min() > 0
    assert np.abs(r1.state - r4.state).max() > 1e-3
    # the noise added at step 0 is exactly noise_std * xi[system, 0, :]
    one = fp.fixed_point_forward(np.zeros((n, n)), np.zeros(n), alpha=0.0, nonlinearity="identity",
                                 noise_std=0.3, seed=5, tol=0.0, max_iter=1, systems=3)
    np.testing.assert_array_equal(one.state, 0.3 * fp.counter_normal(5, np.arange(3), 0, n))


# ----------------------------------------------------------------------------- implicit gradients
def _loss_fd(forward, c, arr, h=1e-6):
    """Central differences of L = sum(c * s*) w.r.t. every entry of arr (modified in place)."""
    g = np.zeros(arr.shape)
    flat, gf = arr.reshape(-1), g.reshape(-1)
    for k in range(flat.size):
        x0 = flat[k]
        flat[k] = x0 + h
        lp = np.sum(c * forward())
        flat[k] = x0 - h
        lm = np.sum(c * forward())
        flat[k] = x0
        gf[k] = (lp - lm) / (2 * h)
    return g


def _rel_err(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(np.asarray(b)).max(), 1e-12)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("clamp", [None, (-0.6, 0.6)])
def test_implicit_gradients_match_finite_differences(shared, clamp):
    rng = np.random.default_rng(11 if clamp is None else 12)
    S, n = 3, 5
    W = contractive_W(rng, () if shared else (S,), n, 0.35)
    b = rng.normal(size=(n,) if shared else (S, n)) * 0.8
    codes = np.array([0, 2, 0, 0, 2], np.int8)
    par = {"alpha": np.array([0.45]), "beta": np.array([0.9])}
    if not shared:
        par = {"alpha": np.array([0.3, 0.45, 0.5]), "beta": np.array([0.9, 1.1, 0.7])}
    c = rng.normal(size=(S, n))

    def alpha_arg():
        return float(par["alpha"][0]) if shared else par["alpha"]

    def beta_arg():
        return float(par["beta"][0]) if shared else par["beta"]

    def forward():
        return fp.fixed_point_forward(W, b, alpha=alpha_arg(), beta=beta_arg(), nonlinearity=codes,
                                      clamp=clamp, tol=0.0, max_iter=300, systems=S).state

    s = forward()
    if clamp is not None:
        # the clamp is active on some variables, and no pre-clamp value is within FD reach of it
        fs = fp.apply_nonlinearity(s, codes)
        y = (np.asarray(par["alpha"])[:, None] if not shared else par["alpha"][0]) * s + \
            (np.asarray(par["beta"])[:, None] if not shared else par["beta"][0]) * \
            fp._matvec(W, fs) + b
        assert ((y <= clamp[0]) | (y >= clamp[1])).any() and ((y > clamp[0]) & (y < clamp[1])).any()
        assert np.min(np.minimum(np.abs(y - clamp[0]), np.abs(y - clamp[1]))) > 1e-3
    adj = fp.fixed_point_adjoint(W, b, s, c, alpha=alpha_arg(), beta=beta_arg(), nonlinearity=codes,
                                 clamp=clamp, tol=1e-14, max_iter=2000)
    assert adj.converged.all()
    assert adj.grad_b.shape == b.shape and adj.grad_W.shape == W.shape
    assert np.shape(adj.grad_beta) == (() if shared else (S,))
    assert _rel_err(adj.grad_b, _loss_fd(forward, c, b)) < 1e-6
    assert _rel_err(adj.grad_W, _loss_fd(forward, c, W)) < 1e-6
    fd_beta = _loss_fd(forward, c, par["beta"])
    fd_alpha = _loss_fd(forward, c, par["alpha"])
    assert _rel_err(np.reshape(adj.grad_beta, -1), fd_beta) < 1e-6
    assert _rel_err(np.reshape(adj.grad_alpha, -1), fd_alpha) < 1e-6
    if clamp is not None:
        # clamped variables pass no gradient to b
        assert (adj.grad_b == 0).any() if not shared else True


@pytest.mark.parametrize("clamp", [None, (-0.5, 0.5)])
def test_adjoint_iteration_equals_direct_solve(rng, clamp):
    S, n = 7, 16
    W = contractive_W(rng, (S,), n, 0.45)
    b = rng.normal(size=(S, n))
    codes = rng.integers(0, 3, size=n).astype(np.int8)
    beta = rng.uniform(0.5, 1.0, S)
    s = fp.fixed_point_forward(W, b, alpha=0.4, beta=beta, nonlinearity=codes, clamp=clamp,
                               tol=1e-13, max_iter=2000).state
    g = rng.normal(size=(S, n))
    it = fp.fixed_point_adjoint(W, b, s, g, alpha=0.4, beta=beta, nonlinearity=codes, clamp=clamp,
                                tol=1e-14, max_iter=3000)
    di = fp.fixed_point_adjoint(W, b, s, g, alpha=0.4, beta=beta, nonlinearity=codes, clamp=clamp,
                                method="direct")
    assert it.converged.all() and (it.iterations > 1).all()
    assert (di.residual < 1e-12).all()
    np.testing.assert_allclose(it.v, di.v, rtol=0, atol=1e-11 * np.abs(di.v).max())
    np.testing.assert_allclose(it.grad_W, di.grad_W, rtol=0, atol=1e-11 * np.abs(di.grad_W).max())
    # v really solves v = J^T v + g
    fs, fpr, D = fp._jacobian_parts(fp._prepare_adjoint(
        "t", W, b, s, g, alpha=0.4, beta=beta, nonlinearity=codes, clamp=clamp, tol=0.0, max_iter=1))
    JTv = 0.4 * D * di.v + beta[:, None] * fpr * np.einsum("sij,si->sj", W, D * di.v)
    np.testing.assert_allclose(JTv + g, di.v, atol=1e-12)


# ----------------------------------------------------------------------------- bad input
def _good(n=4, S=2):
    return dict(W=np.eye(n) * 0.1, b=np.zeros((S, n)))


BAD_FORWARD = [
    ("W", dict(W=np.zeros((2, 3, 4)))),
    ("b", dict(b=np.zeros((2, 5)))),
    ("W", dict(W=np.zeros((0, 0)), b=np.zeros(0))),
    ("W", dict(W=np.full((4, 4), np.nan))),
    ("b", dict(W=np.zeros((3, 4, 4)))),           # b has 2 systems, W has 3
    ("s0", dict(s0=np.zeros((2, 3)))),
    ("beta", dict(beta=np.ones(5))),
    ("alpha", dict(alpha=(0.1, 0.2, 0.3))),
    ("noise_std", dict(noise_std=-0.1)),
    ("tol", dict(tol=-1e-3)),
    ("max_iter", dict(max_iter=0)),
    ("nonlinearity", dict(nonlinearity="relu")),
    ("nonlinearity", dict(nonlinearity=np.array([0, 1, 2, 5], np.int8))),
    ("nonlinearity", dict(nonlinearity=["tanh", "sign"])),
    ("clamp", dict(clamp=(1.0, -1.0))),
    ("seed", dict(seed=-1)),
]


@pytest.mark.parametrize("arg,override", BAD_FORWARD, ids=[f"{a}-{i}" for i, (a, _) in enumerate(BAD_FORWARD)])
def test_bad_input_forward(arg, override):
    kw = {**_good(), **override}
    W, b = kw.pop("W"), kw.pop("b")
    with pytest.raises((ValueError, TypeError), match=f"argument '{arg}'"):
        fp.fixed_point_forward(W, b, **kw)


def test_bad_input_adjoint():
    W, b = np.eye(3) * 0.1, np.zeros(3)
    s, g = np.zeros((2, 3)), np.zeros((2, 3))
    with pytest.raises(ValueError, match="argument 'grad_state'"):
        fp.fixed_point_adjoint(W, b, s, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="argument 'alpha'"):
        fp.fixed_point_adjoint(W, b, s, g, alpha=(0.1, 1.0))
    with pytest.raises(ValueError, match="argument 'method'"):
        fp.fixed_point_adjoint(W, b, s, g, method="lu")
    with pytest.raises(ValueError, match="argument 'state'"):
        fp.fixed_point_adjoint(W, b, np.zeros(3), g)
