"""Non-ideal AOC cell: reference Jacobian and implicit gradients vs finite differences (float64),
torch == reference with the measured profiles on, the ideal profile == today's ideal twin bit for bit,
trust checks, read-out noise, the model hook and the aoc-train options."""
import argparse
import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip("yaml")

from quaton_fast.aoc import EquilibriumClassifier, EquilibriumRegressor
from quaton_fast.aoc.hardware import HardwareTwin
from quaton_fast.functional import aoc_hardware as F
from quaton_fast.functional.fixed_point import fixed_point
from quaton_fast.reference import aoc_hardware as R
from quaton_fast.reference.aoc_hardware_profile import AOCHardware
from quaton_fast.reference.fixed_point import fixed_point_forward
from qf_testing import aoc_calibration_dir

pytestmark = pytest.mark.filterwarnings("ignore:hardware_fixed_point")


DATA = aoc_calibration_dir()
FILES = {"16": os.path.join(DATA, "June2024_saturation_pieces_clip2p6.yaml"),
         "48": os.path.join(DATA, "April2025_corrected_pd_3.yaml")}
needs_files = pytest.mark.skipif(not os.path.isfile(FILES["16"]), reason="calibration files not present")


def _profile(name):
    return AOCHardware.from_yaml(FILES[name])


def _system(seed, S=3, n=16, scale=0.3):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(S, n, n)) * scale, rng.normal(size=(S, n)), rng.uniform(1.5, 6.0, S),
            rng.normal(size=(S, n)))


@needs_files
@pytest.mark.parametrize("name", ["16", "48"])
def test_reference_linear_form_and_jacobian(name):
    hw = _profile(name)
    W, b, beta, _ = _system(0)
    z = np.random.default_rng(1).normal(size=b.shape) * 0.5
    c = np.clip(b, *hw.input_min_max)
    y = R.hardware_step(z, W, c, 0.5, beta, hw)
    y_lin = R.hardware_step_linear(z, R.path_operators(W, beta, hw), c, 0.5, hw)
    np.testing.assert_allclose(y_lin, y, rtol=0, atol=1e-14 * np.abs(y).max())
    J = R.hardware_jacobian(z, W, 0.5, beta, hw)
    eps = 1e-6
    for j in (0, 7, 15):
        dz = np.zeros_like(z)
        dz[:, j] = eps
        col = (R.hardware_step(z + dz, W, c, 0.5, beta, hw) - R.hardware_step(z - dz, W, c, 0.5, beta, hw)) / (2 * eps)
        np.testing.assert_allclose(J[:, :, j], col, atol=1e-8)


@needs_files
@pytest.mark.parametrize("name", ["16", "48"])
def test_reference_implicit_gradients_match_finite_differences(name):
    hw = _profile(name)
    W, b, beta, g = _system(2)
    r = R.hardware_fixed_point(W, b, hw, alpha=0.5, beta=beta, tol=1e-14, max_iter=3000)
    assert r.converged.all()
    adj = R.hardware_adjoint(W, b, r.state, g, hw, alpha=0.5, beta=beta)

    def loss(W_=W, b_=b, beta_=beta, alpha_=0.5):
        s = R.hardware_fixed_point(W_, b_, hw, alpha=alpha_, beta=beta_, tol=1e-15, max_iter=5000).state
        return float(np.sum(g * s))

    e = 1e-6
    big = np.unravel_index(np.argmax(np.abs(W[1])), W[1].shape)   # the max|W| entry (subgradient of M)
    for (s, i, j) in [(0, 1, 2), (2, 0, 5), (1, int(big[0]), int(big[1]))]:
        Wp, Wm = W.copy(), W.copy()
        Wp[s, i, j] += e
        Wm[s, i, j] -= e
        assert adj.grad_W[s, i, j] == pytest.approx((loss(W_=Wp) - loss(W_=Wm)) / (2 * e), rel=1e-5, abs=1e-9)
    bp, bm = beta.copy(), beta.copy()
    bp[1] += e
    bm[1] -= e
    assert adj.grad_beta[1] == pytest.approx((loss(beta_=bp) - loss(beta_=bm)) / (2 * e), rel=1e-5)
    b1, b2 = b.copy(), b.copy()
    b1[2, 4] += e
    b2[2, 4] -= e
    assert adj.grad_b[2, 4] == pytest.approx((loss(b_=b1) - loss(b_=b2)) / (2 * e), rel=1e-5, abs=1e-9)
    assert adj.grad_alpha.sum() == pytest.approx((loss(alpha_=0.5 + e) - loss(alpha_=0.5 - e)) / (2 * e), rel=1e-5)


def _has_cpp():
    from quaton_fast._backend import native
    C = native()
    return C is not None and hasattr(C, "aoc_hardware_forward_cpu")


@needs_files
@pytest.mark.parametrize("name", ["16", "48"])
@pytest.mark.parametrize("shared_W", [False, True])
@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_torch_and_cpp_equal_reference_forward_and_gradients(name, shared_W, backend):
    if backend == "cpp" and not _has_cpp():
        pytest.skip("extension without aoc_hardware_forward_cpu")
    hw = _profile(name)
    W, b, beta, g = _system(3 + shared_W, S=4)
    if shared_W:
        W = W[0]
    r = R.hardware_fixed_point(W, b, hw, alpha=0.5, beta=beta, tol=1e-12, max_iter=3000)
    adj = R.hardware_adjoint(W, b, r.state, g, hw, alpha=0.5, beta=beta)
    Wt, bt, bet = (torch.tensor(a, requires_grad=True) for a in (W, b, beta))
    z, it, res, untrusted = F.hardware_fixed_point(Wt, bt, hw, alpha=0.5, beta=bet, tol=1e-12, max_iter=3000,
                                                   backend=backend)
    np.testing.assert_allclose(z.detach().numpy(), r.state, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(it.numpy(), r.iterations)
    assert not untrusted.any()
    (z * torch.tensor(g)).sum().backward()
    for got, want in ((Wt.grad, adj.grad_W), (bt.grad, adj.grad_b), (bet.grad, adj.grad_beta)):
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12 * np.abs(want).max())


@needs_files
def test_torch_implicit_gradient_equals_unrolled_autograd():
    """Independent of the reference: autograd through 400 plain steps of the torch map."""
    hw = _profile("16")
    W, b, beta, g = _system(5, S=2)
    Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    z, *_ = F.hardware_fixed_point(Wt, bt, hw, alpha=0.5, beta=torch.tensor(beta), tol=1e-14, max_iter=3000)
    gW, gb = torch.autograd.grad((z * torch.tensor(g)).sum(), (Wt, bt))
    W2, b2 = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    Ep, En, k = F.path_operators(W2, torch.tensor(beta), hw)
    c = b2.clamp(*hw.input_min_max)
    s = torch.zeros_like(c)
    for _ in range(400):
        s = F.hardware_step(s, Ep, En, k, c, 0.5, hw)
    uW, ub = torch.autograd.grad((s * torch.tensor(g)).sum(), (W2, b2))
    np.testing.assert_allclose(gW.numpy(), uW.numpy(), atol=1e-10)
    np.testing.assert_allclose(gb.numpy(), ub.numpy(), atol=1e-10)


@needs_files
@pytest.mark.parametrize("gamma", [0.0, 0.4])
def test_every_effect_off_generic_path_equals_the_ideal_reference(gamma):
    """All three generic paths with every effect off == the ideal reference (clamped input, no state
    clamp): iterations and converged exactly (same convergence rule), states within 1e-13 for the
    converged systems and for every system over a short budget (an expanding system's state grows as
    1.5^t and is compared through iterations/converged only)."""
    hw = _profile("16").all_effects_off()
    W, b, beta, _ = _system(6, S=8)
    W = W / np.linalg.norm(W, ord=2, axis=(1, 2))[:, None, None] * (0.45 / beta)[:, None, None]   # contractive
    alpha = np.full(8, 0.5)
    alpha[3] = 1.5                                        # expands: never converges, deterministic
    for tol, T in ((1e-12, 500), (1e-4, 7)):
        ref = fixed_point_forward(W, np.clip(b, -1, 1), alpha=alpha, beta=beta, gamma=gamma, tol=tol, max_iter=T)
        r = R.hardware_fixed_point(W, b, hw, alpha=alpha, beta=beta, gamma=gamma, clamp=(-1.0, 1.0), tol=tol,
                                   max_iter=T)
        cmp = ref.converged if T > 10 else np.ones(len(b), dtype=bool)
        np.testing.assert_allclose(r.state[cmp], ref.state[cmp], rtol=0, atol=1e-13)
        np.testing.assert_array_equal(r.iterations, ref.iterations)
        np.testing.assert_array_equal(r.converged, ref.converged)
        np.testing.assert_allclose(r.residual[cmp], ref.residual[cmp], rtol=1e-3, atol=1e-15)
        assert not ref.converged[3] and (T < 10 or ref.converged.sum() == 7)
        for backend in ("torch", "cpp") if _has_cpp() else ("torch",):
            z, it, res, untrusted = F.hardware_fixed_point(
                torch.tensor(W), torch.tensor(b), hw, alpha=torch.tensor(alpha), beta=torch.tensor(beta),
                gamma=gamma, clamp=(-1.0, 1.0), tol=tol, max_iter=T, generic=True, backend=backend,
                unconverged="zero")
            np.testing.assert_allclose(z.numpy()[cmp], ref.state[cmp], rtol=0, atol=1e-13)
            np.testing.assert_array_equal(it.numpy(), ref.iterations)
            np.testing.assert_array_equal((~untrusted).numpy(), ref.converged)
            np.testing.assert_array_equal((res <= tol).numpy(), ref.converged)


def _true_residual(W, b, hw, beta, state, alpha=0.5):
    """||T(s) - s|| / ||T(s)|| recomputed from scratch at a returned state (the reference step)."""
    c = np.clip(b, *hw.input_min_max) if hw.input_clamp else b
    Ts = R.hardware_step(state, W, c, alpha, beta, hw)
    with np.errstate(all="ignore"):
        rho = np.linalg.norm(Ts - state, axis=1) / np.maximum(np.linalg.norm(Ts, axis=1), 1e-30)
    return np.where(np.isfinite(rho), rho, np.inf)


@needs_files
@pytest.mark.parametrize("name", ["16", "48"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9])
def test_converged_means_residual_at_the_returned_state_in_every_path(name, gamma):
    """On random systems, some contractive, some not, with momentum: converged <=> the map's residual
    AT the returned state (recomputed independently) <= tol, in the reference, torch and C++; a diverging
    system (non-finite state) is never converged."""
    hw = _profile(name)
    rng = np.random.default_rng(11)
    S, n = 24, 16
    W = rng.normal(size=(S, n, n)) * 0.3
    b = rng.normal(size=(S, n))
    beta = np.geomspace(0.1, 40.0, S)                     # from contractive to strongly expansive
    tol, T = 1e-6, 400
    ref = R.hardware_fixed_point(W, b, hw, alpha=0.5, beta=beta, gamma=gamma, tol=tol, max_iter=T)
    rho = _true_residual(W, b, hw, beta, ref.state)
    np.testing.assert_array_equal(ref.converged, rho <= tol)
    np.testing.assert_allclose(ref.residual[np.isfinite(rho)], rho[np.isfinite(rho)], rtol=1e-12)
    assert ref.converged.any() and not ref.converged.all()
    assert np.all(ref.iterations[~ref.converged & np.isfinite(ref.residual)] == T)
    for backend in ("torch", "cpp") if _has_cpp() else ("torch",):
        z, it, res, untrusted = F.hardware_fixed_point(torch.tensor(W), torch.tensor(b), hw, alpha=0.5,
                                                       beta=torch.tensor(beta), gamma=gamma, tol=tol,
                                                       max_iter=T, backend=backend, unconverged="zero")
        zr = z.numpy()
        rho_b = _true_residual(W, b, hw, beta, zr)
        np.testing.assert_array_equal((~untrusted).numpy(), rho_b <= tol)
        np.testing.assert_array_equal(it.numpy(), ref.iterations)
        np.testing.assert_array_equal((~untrusted).numpy(), ref.converged)
        # linear form E± (torch, C++) vs effect by effect (reference): last-bit differences per step,
        # accumulated over up to 400 slowly contracting steps -> ~1e-12; iterations agree exactly above
        conv = ref.converged
        np.testing.assert_allclose(zr[conv], ref.state[conv], rtol=0, atol=1e-10)


def test_momentum_never_accepts_a_non_fixed_point():
    """bug02's kind on the twin: with momentum the step s' - s = F(s) - s + gamma (s - s_prev) vanishes at
    points that are not fixed points (1-D maps 0.5 s + W tanh(s) + b, contractive and not, gamma up
    to 0.9); converged must imply |F(s) - s| <= tol |F(s)| at the returned s (reference and torch)."""
    hw = AOCHardware.ideal(1)
    bad = 0
    for Wv in np.linspace(-1.45, 0.45, 39):
        for g in (0.3, 0.5, 0.7, 0.9):
            for bv in (0.1, 0.7, 1.3, 2.0):
                r = R.hardware_fixed_point(np.array([[Wv]]), np.array([bv]), hw, alpha=0.5, beta=1.0, gamma=g,
                                           tol=1e-3, max_iter=1000)
                rho = _true_residual(np.array([[Wv]]), np.array([[bv]]), hw, np.array([1.0]), r.state)
                bad += int(bool(r.converged[0]) and not rho[0] <= 1e-3)
                z, it, res, untrusted = F.hardware_fixed_point(
                    torch.tensor([[Wv]], dtype=torch.float64), torch.tensor([[bv]], dtype=torch.float64), hw,
                    beta=1.0, gamma=g, tol=1e-3, max_iter=1000, generic=True, unconverged="zero")
                rho_t = _true_residual(np.array([[Wv]]), np.array([[bv]]), hw, np.array([1.0]), z.numpy())
                bad += int(not bool(untrusted[0]) and not rho_t[0] <= 1e-3)
    assert bad == 0


def test_diverging_iteration_is_a_failure_not_converged():
    """bug01's kind: an expansive map whose norm overflows must end non-converged (residual inf)."""
    hw = AOCHardware.ideal(2)
    W = np.array([[3.0, 0.0], [0.0, 3.0]])
    r = R.hardware_fixed_point(W, np.array([1.0, 1.0]), hw, alpha=3.0, beta=1.0, gamma=0.0, tol=1e-3,
                               max_iter=5000)
    assert not r.converged.any() and np.isinf(r.residual).all()
    z, it, res, untrusted = F.hardware_fixed_point(torch.tensor(W), torch.tensor([[1.0, 1.0]], dtype=torch.float64),
                                                   hw, alpha=3.0, tol=1e-3, max_iter=5000, generic=True,
                                                   unconverged="zero")
    assert bool(untrusted.all()) and bool(torch.isinf(res).all()) and int(it[0]) == int(r.iterations[0])


def test_ideal_profile_is_the_ideal_fixed_point_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    W = (torch.randn(5, 16, 16, generator=g) * 0.1).requires_grad_()
    b = torch.randn(5, 16, generator=g).requires_grad_()
    z1, it1, _, _ = F.hardware_fixed_point(W, b, AOCHardware.ideal(), alpha=0.5, beta=1.0, clamp=(-1.0, 1.0))
    z2, it2, _ = fixed_point(W, b.clamp(-1.0, 1.0), alpha=0.5, beta=1.0)
    assert torch.equal(z1, z2) and torch.equal(it1, it2)


@pytest.mark.parametrize("cls,x", [(EquilibriumClassifier, (6, 784)), (EquilibriumRegressor, (6, 1))])
def test_model_with_ideal_twin_is_bit_for_bit_today(cls, x):
    xin = torch.rand(*x, generator=torch.Generator().manual_seed(1)) * 2 - 1
    outs, grads = [], []
    for hw in (None, HardwareTwin(AOCHardware.ideal())):
        torch.manual_seed(0)  # nn.Linear draws from the global generator
        m = cls(seed=0) if cls is EquilibriumRegressor else cls(cells=2, seed=0)
        m.hardware = hw
        out = m(xin)
        out.sum().backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in m.parameters()])
        m.project_()
        grads[-1].append(m.W.detach().clone())
    assert torch.equal(outs[0], outs[1])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


@needs_files
def test_model_trains_through_the_hardware_twin_and_projects_its_gain():
    m = EquilibriumClassifier(cells=2, seed=0)
    twin = HardwareTwin(_profile("16"))
    m.hardware = twin
    x = torch.rand(8, 784, generator=torch.Generator().manual_seed(2)) * 2 - 1
    out = m(x)
    out.logsumexp(1).sum().backward()
    assert torch.isfinite(m.W.grad).all() and m.W.grad.abs().sum() > 0 and m.beta.grad.abs() > 0
    assert twin.last_untrusted is not None and not twin.last_untrusted.any()
    with torch.no_grad():
        m.W.mul_(50.0)
    m.project_()
    assert (twin.linear_gain(m.W.detach(), m.beta.detach()) <= m.max_gain * (1 + 1e-5)).all()
    # the same model on the ideal twin gives other outputs (the profile does act)
    m.hardware = None
    assert not torch.allclose(m(x), out)


def test_untrusted_gradients_raise_or_are_dropped():
    hw = AOCHardware.ideal(4).with_effects(led=True)
    W = torch.randn(3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    b = torch.randn(3, 4, dtype=torch.float64).requires_grad_()
    z, it, res, untrusted = F.hardware_fixed_point(W, b, hw, tol=1e-14, max_iter=2)
    assert untrusted.all()
    with pytest.raises(FloatingPointError, match="trustworthy"):
        z.sum().backward()
    z, *_ = F.hardware_fixed_point(W, b, hw, tol=1e-14, max_iter=2, unconverged="zero")
    z.sum().backward()
    assert torch.equal(W.grad, torch.zeros_like(W)) and torch.equal(b.grad, torch.zeros_like(b))


def test_bad_arguments_are_named():
    W, b = torch.zeros(4, 4), torch.zeros(2, 4)
    hw = AOCHardware.ideal(4)
    for kw, name in (({"unconverged": "maybe"}, "unconverged"), ({"backend": "cuda"}, "backend"), ({"backend": "gpu"}, "backend"),
                     ({"max_iter": 0}, "max_iter"), ({"clamp": (1.0, -1.0)}, "clamp")):
        with pytest.raises((ValueError, RuntimeError), match=name):
            F.hardware_fixed_point(W, b, hw, **kw)
    with pytest.raises(ValueError, match="'W'"):
        F.hardware_fixed_point(torch.zeros(3, 3), b, hw)
    with pytest.raises(TypeError, match="'hw'"):
        F.hardware_fixed_point(W, b, "June")


@needs_files
@pytest.mark.skipif(not _has_cpp(), reason="extension without aoc_hardware_forward_cpu")
def test_cpp_float32_momentum_and_start_state_match_torch():
    hw = _profile("16")
    W, b, beta, _ = _system(7, S=6)
    s0 = torch.tensor(np.random.default_rng(8).normal(size=b.shape) * 0.1)
    outs = {}
    for backend in ("torch", "cpp"):
        outs[backend] = F.hardware_fixed_point(torch.tensor(W), torch.tensor(b), hw, alpha=0.5,
                                               beta=torch.tensor(beta), gamma=0.3, s0=s0, tol=1e-12,
                                               max_iter=400, backend=backend)
    np.testing.assert_allclose(outs["cpp"][0].numpy(), outs["torch"][0].numpy(), atol=1e-13)
    np.testing.assert_array_equal(outs["cpp"][1].numpy(), outs["torch"][1].numpy())
    z32, *_ = F.hardware_fixed_point(torch.tensor(W, dtype=torch.float32), torch.tensor(b, dtype=torch.float32),
                                     hw, alpha=0.5, beta=torch.tensor(beta, dtype=torch.float32), tol=1e-6,
                                     backend="cpp")
    r = R.hardware_fixed_point(W.astype(np.float32), b.astype(np.float32), hw, alpha=0.5,
                               beta=beta.astype(np.float32), tol=1e-6)
    assert z32.dtype == torch.float32
    np.testing.assert_allclose(z32.numpy(), r.state, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@needs_files
def test_cuda_tensors_run_the_torch_loop_and_match_cpu():
    hw = _profile("16")
    W, b, beta, g = _system(9, S=5)
    out = {}
    for dev in ("cpu", "cuda"):
        Wt = torch.tensor(W, device=dev, requires_grad=True)
        z, *_ = F.hardware_fixed_point(Wt, torch.tensor(b, device=dev), hw, alpha=0.5,
                                       beta=torch.tensor(beta, device=dev), tol=1e-12, max_iter=3000)
        (z * torch.tensor(g, device=dev)).sum().backward()
        out[dev] = (z.detach().cpu().numpy(), Wt.grad.cpu().numpy())
    np.testing.assert_allclose(out["cuda"][0], out["cpu"][0], atol=1e-12)
    np.testing.assert_allclose(out["cuda"][1], out["cpu"][1], atol=1e-10)


def test_readout_noise_averages_samples_and_repeats():
    z = torch.zeros(20000, 4, dtype=torch.float64)
    assert F.readout(z, 0.0) is z
    r = F.readout(z, 0.01, samples=40, repeats=11, generator=torch.Generator().manual_seed(0))
    assert float(r.std()) == pytest.approx(0.01 / np.sqrt(440), rel=0.03)
    assert abs(float(r.mean())) < 5 * 0.01 / np.sqrt(440 * 80000)
    with pytest.raises(ValueError, match="sigma"):
        F.readout(z, -1.0)


@needs_files
def test_aoc_train_options_write_records_for_both_twins(tmp_path):
    from quaton_fast.cli import aoc_train as cli_train
    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    res = tmp_path / "r.json"
    args = p.parse_args(["--task", "gauss", "--epochs", "1", "--max-steps", "3", "--no-progress", "--batch", "256",
                         "--out", str(tmp_path / "ck"), "--results", str(res), "--hardware", FILES["16"],
                         "--eval-hardware", "ideal", "--readout-noise", "0.001"])
    assert cli_train.run(args) == 0
    recs = json.loads(res.read_text())
    # the training twin is part of the settings fingerprint: its own checkpoint, never the ideal run's
    ideal = p.parse_args(["--task", "gauss", "--seed", "0", "--out", str(tmp_path / "ck")])
    assert cli_train.run_stem(args) != cli_train.run_stem(ideal)
    assert (tmp_path / "ck" / f"{cli_train.run_stem(args)}.pt").is_file()
    on_ideal = [r for r in recs if r["evaluated_on"].startswith("ideal")]
    assert len(on_ideal) == 2 and all(r["hardware"] == FILES["16"] and r["readout_noise_v"] == 0.001
                                      for r in on_ideal)
    assert all(np.isfinite(r["value"]) for r in recs)
    with pytest.raises(ValueError, match="--hardware-off"):
        cli_train.run(p.parse_args(["--task", "gauss", "--hardware-off", "led,nope", "--out", str(tmp_path)]))
