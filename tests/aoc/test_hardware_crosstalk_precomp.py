"""Photodiode-crosstalk pre-compensation of the AOC hardware twin (``cal_crosstalk``, issue 27):
hand-computed tiny crosstalk systems (exact inversion; the clipped / shared-shift case with its stated
residual), the switch's ablation (it changes the programmed SLM matrices and the fitted read-out gains,
nothing else), reference == torch == C++ with gradients, finite differences of the reference adjoint,
and the calibrated 16-channel effective matrix within the stated residual."""
import dataclasses
import os

import numpy as np
import pytest
import torch

from quaton_fast.functional import aoc_hardware as F
from quaton_fast.reference import aoc_hardware as R
from quaton_fast.reference import aoc_hardware_calibration as CAL
from quaton_fast.reference.aoc_hardware_profile import CALIBRATIONS, AOCHardware
from qf_testing import aoc_calibration_dir

pytestmark = pytest.mark.filterwarnings("ignore:hardware_fixed_point")

F16 = os.path.join(aoc_calibration_dir(), "June2024_saturation_pieces_clip2p6.yaml")
needs_files = pytest.mark.skipif(not os.path.isfile(F16), reason="calibration files not present")

#: stated residual of the 16-channel twin calibrated with the crosstalk pre-compensation:
#: ||J_eff - beta W||_F / ||beta W||_F over random symmetric W, measured 0.009 mean / 0.014 worst of 20
#: (without it 0.042 / 0.050; with the crosstalk itself switched off 0.008 / 0.009): what is left is the
#: microLED shape and the 9-bit levels (docs/aoc_hardware.md)
RESIDUAL_XT_16 = 0.02


def _net(hw, W, beta=1.0):
    """E⁺ - E⁻ of the linear form (led off, tanh drive: the optical term is (E⁺ - E⁻) tanh(z))."""
    ops = R.path_operators(np.asarray(W, float)[None], np.array([beta]), hw)
    return ops["Ep"][0] - ops["En"][0]


def _tiny3(**kw):
    base = dict(n_channels=3, source="tiny", tia_pos=np.array([0.65, 0.8, 0.7]), tia_neg=np.array([1.0, 0.9, 0.5]),
                ratio_later_pos=np.array([0.04, 0.03, 0.0]), ratio_earlier_pos=np.array([0.0, 0.02, 0.05]),
                ratio_later_neg=np.array([0.01, 0.06, 0.0]), ratio_earlier_neg=np.array([0.0, 0.03, 0.02]),
                tia=True, pd_crosstalk=True)
    base.update(kw)
    return AOCHardware(**base)


# ----------------------------------------------------------------------------- hand-computed systems
def test_exact_inversion_by_hand():
    # all-positive W whose exact inverse stays in [0, 1]: after the crosstalk the path carries
    # diag(eta) W, what it would carry without crosstalk (no SLM distortion: gain s = 1)
    hw = _tiny3()
    W = np.array([[1.0, 0.8, 0.6], [0.9, 0.7, 0.5], [0.5, 0.6, 0.9]])
    eta = hw.tia_pos
    C = np.eye(3) + np.diag([0.04, 0.03], -1) + np.diag([0.02, 0.05], 1)   # C[i+1,i] = later[i], C[i-1,i] = earlier[i]
    np.testing.assert_allclose(R.crosstalk_matrix(hw.ratio_later_pos, hw.ratio_earlier_pos), C, rtol=0, atol=0)
    off = _net(hw, W)
    np.testing.assert_allclose(off, C @ (eta[:, None] * W), rtol=1e-15)       # the crosstalk as released
    on = hw.with_calibrations(cal_crosstalk=True)
    np.testing.assert_allclose(_net(on, W), eta[:, None] * W, rtol=1e-14, atol=1e-15)
    # the programmed matrix is D^-1 C^-1 D W (D = diag(eta)), inside the SLM range
    P, _, aux = R.programmed_weights(W[None], np.zeros((1, 3, 3)), on)
    np.testing.assert_allclose(P[0], np.linalg.solve(C * eta[None, :], eta[:, None] * W), rtol=1e-14)
    assert aux["mask_p"].all() and not aux["sel_a"].any() and not aux["sel_b"].any()
    # the effect-by-effect step agrees (the linear form is not the only place it acts)
    z = np.array([[0.3, -0.8, 1.1]])
    y = R.hardware_step(z, W[None], np.zeros((1, 3)), 0.0, 0.7, on)
    np.testing.assert_allclose(y[0], 0.7 * (eta[:, None] * W) @ np.tanh(z[0]), rtol=1e-13)


def test_negative_transmission_shared_shift_by_hand():
    # 2 channels: the positive path leaks 0.1 of channel 0 into channel 1; W = [[1, -.5], [0, 1]]
    # a = C⁺^-1 W⁺ = [[1, 0], [-.1, 1]] needs -0.1 at (1, 0): e = 0.1 goes on both SLMs
    hw = AOCHardware(n_channels=2, source="tiny", ratio_later_pos=np.array([0.1, 0.0]), pd_crosstalk=True,
                     cal_crosstalk=True)
    W = np.array([[1.0, -0.5], [0.0, 1.0]])
    P, Q, aux = R.programmed_weights(np.maximum(W, 0)[None], np.maximum(-W, 0)[None], hw)
    np.testing.assert_allclose(P[0], [[1.0, 0.0], [0.0, 1.0]], atol=1e-15)
    np.testing.assert_allclose(Q[0], [[0.0, 0.5], [0.1, 0.0]], atol=1e-15)
    np.testing.assert_allclose(_net(hw, W), W, atol=1e-15)       # exact: the negative path does not leak
    assert _net(hw.with_calibrations(cal_crosstalk=False), W)[1, 0] == pytest.approx(0.1, abs=1e-15)
    # the negative path leaks 0.2 of channel 1 into channel 0: the shared e (at row 1) now leaks through
    # it -- the stated residual (C⁺ - C⁻) e: -0.2 * 0.1 at (0, 0), nothing else
    hw2 = dataclasses.replace(hw, ratio_earlier_neg=np.array([0.0, 0.2]))
    np.testing.assert_allclose(_net(hw2, W), [[1.0 - 0.02, -0.5], [0.0, 1.0]], atol=1e-15)
    # the clip at full transmission: a (non-physical) negative leak -0.25 of channel 1 into channel 0
    # makes the exact inverse ask 1 + 0.25 of a full entry; it is clipped to 1 (no gradient there)
    hw3 = AOCHardware(n_channels=2, source="tiny", ratio_earlier_pos=np.array([0.0, -0.25]), pd_crosstalk=True,
                      cal_crosstalk=True)
    P3, _, aux3 = R.programmed_weights(np.array([[[1.0, 0.0], [1.0, 0.0]]]), np.zeros((1, 2, 2)), hw3)
    assert P3[0, 0, 0] == 1.0 and aux3["mask_p"][0, 0, 0] == 0.0      # 1 + 0.25 clipped to 1


def test_precompensation_uses_the_slm_row_gain_by_hand():
    # linearised SLM (cal_slm_inverse, a = 0): transmission = b_i w, so D = diag(eta b) and the
    # pre-compensated path is diag(eta b) W within half a 9-bit level
    dist = np.array([[0.0, 0.5, 0.0], [0.0, 0.8, 0.0], [0.0, 0.6, 0.0]])
    hw = _tiny3(distortion_pos=dist, distortion_neg=dist, weight_distortion=True, cal_slm_inverse=True,
                cal_dark_floor=True, cal_crosstalk=True)
    W = np.array([[1.0, 0.8, 0.6], [0.9, 0.7, 0.5], [0.5, 0.6, 0.9]])
    want = (hw.tia_pos * dist[:, 1])[:, None] * W
    # each programmed transmission within half a level (b_k / 510) of its target; the crosstalk then
    # sums row i's neighbours: |error_ij| <= sum_k |C_ik| eta_k b_k / 510
    C = R.crosstalk_matrix(hw.ratio_later_pos, hw.ratio_earlier_pos)
    bound = (np.abs(C) @ (hw.tia_pos * dist[:, 1])) / 510
    err = np.abs(_net(hw, W) - want)
    assert np.all(err <= bound[:, None] * (1 + 1e-12))
    assert err.max() < 0.01 * np.abs(want).max()
    assert np.abs(_net(hw.with_calibrations(cal_crosstalk=False), W) - want).max() > 5 * bound.max()


# ----------------------------------------------------------------------------- ablation
def test_switch_changes_the_slm_matrices_and_nothing_else():
    hw = _tiny3(fitted_nonlinearity=False, led=True, led_pos=np.array([0.1, -0.2, 1.1, 0.05]),
                led_neg=np.array([-0.1, 0.1, 0.9, 0.02]), led_dc_offset=True, fan_in=True,
                fan_in_pos=np.array([0.9, 1.1, 0.8]), fan_in_neg=np.array([1.2, 0.7, 1.0]), slm_darkness=True,
                dark_pos=np.array([0.1, 0.2, 0.1]), dark_neg=np.array([0.05, 0.1, 0.2]), input_clamp=True)
    on = hw.with_calibrations(cal_crosstalk=True)
    W = CAL.random_symmetric(3, 4, 2)
    beta = np.array([0.3, 0.5, 0.7, 0.9])
    a, b = R.path_operators(W, beta, hw), R.path_operators(W, beta, on)
    for key in ("k", "h", "M", "Wp", "Wm", "Lp", "Ln", "fan_p", "fan_n"):   # everything but the SLMs
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.allclose(a["Wtp"], b["Wtp"]) and not np.allclose(a["Ep"], b["Ep"])
    z = np.random.default_rng(1).normal(size=(4, 3))
    for fn in (R.nonlinearity, ):
        np.testing.assert_array_equal(fn(z, hw)[0], fn(z, on)[0])
    assert R.input_limits(hw, (-1, 1)) == R.input_limits(on, (-1, 1))
    # with the crosstalk itself off the switch does nothing at all (bit for bit)
    hx, ox = hw.with_effects(pd_crosstalk=False), on.with_effects(pd_crosstalk=False)
    np.testing.assert_array_equal(R.hardware_step(z, W, z * 0, 0.5, beta, hx), R.hardware_step(z, W, z * 0, 0.5, beta, ox))
    Ep, En, k = F.path_operators(torch.tensor(W), torch.tensor(beta), ox)
    Ep0, En0, k0 = F.path_operators(torch.tensor(W), torch.tensor(beta), hx)
    assert torch.equal(Ep, Ep0) and torch.equal(En, En0) and torch.equal(k, k0)
    assert "cal_crosstalk" in CALIBRATIONS and "cal_crosstalk" in on.describe()
    assert not on.uncalibrated().cal_crosstalk


@needs_files
def test_calibrate_crosstalk_changes_only_its_switch_and_the_read_out_gains(cal16_pair):
    base, xt = cal16_pair
    assert xt.cal_crosstalk and not base.cal_crosstalk
    for f in dataclasses.fields(AOCHardware):
        if f.name in ("cal_crosstalk", "gain_out_pos", "gain_out_neg", "_torch_cache"):
            continue
        va, vb = getattr(base, f.name), getattr(xt, f.name)
        if isinstance(va, np.ndarray):
            np.testing.assert_array_equal(va, vb, err_msg=f.name)
        else:
            assert va == vb, f.name
    # the gains are those of the crosstalk-free path
    free = CAL.calibrate(AOCHardware.from_yaml(F16).with_effects(pd_crosstalk=False))
    np.testing.assert_allclose(xt.gain_out_pos, free.gain_out_pos, rtol=1e-12)
    np.testing.assert_allclose(xt.gain_out_neg, free.gain_out_neg, rtol=1e-12)
    with pytest.raises(TypeError, match="'crosstalk'"):
        CAL.calibrate(AOCHardware.from_yaml(F16), crosstalk=1)


# ----------------------------------------------------------------------------- paths agree
def _agree(hw, W, b, beta, tol=1e-10):
    ref = R.hardware_fixed_point(W, b, hw, alpha=0.5, beta=beta, tol=tol, max_iter=400)
    assert ref.converged.all()
    S, n = b.shape
    g = np.random.default_rng(9).normal(size=(S, n))
    adj = R.hardware_adjoint(W, b, ref.state, g, hw, alpha=0.5, beta=beta)
    sym = lambda G: G + np.swapaxes(G, 1, 2)  # noqa: E731  (max|W| tie of a symmetric W, see test_hardware_calibration)
    Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    for backend in ("torch", "cpp"):
        z, it, _, untrusted = F.hardware_fixed_point(Wt, bt, hw, alpha=0.5, beta=torch.tensor(beta), tol=tol,
                                                     max_iter=400, backend=backend)
        assert not untrusted.any()
        np.testing.assert_array_equal(it.numpy(), ref.iterations)
        np.testing.assert_allclose(z.detach().numpy(), ref.state, rtol=0, atol=1e-11)
        gW, gb = torch.autograd.grad((z * torch.tensor(g)).sum(), (Wt, bt))
        np.testing.assert_allclose(sym(gW.numpy()), sym(adj.grad_W), rtol=1e-7, atol=1e-9 * np.abs(adj.grad_W).max())
        np.testing.assert_allclose(gb.numpy(), adj.grad_b, rtol=1e-7, atol=1e-10)


def test_reference_torch_cpp_agree_tiny():
    hw = _tiny3(cal_crosstalk=True, fan_in=True, fan_in_pos=np.array([0.9, 1.1, 0.8]),
                fan_in_neg=np.array([1.2, 0.7, 1.0]))
    rng = np.random.default_rng(3)
    W = rng.normal(size=(4, 3, 3))
    W[:, 1, 0] = -0.05 * np.abs(W[:, 0, 0])           # weights ~0 next to large ones: the shift is active
    b = rng.normal(size=(4, 3))
    _, _, aux = R.programmed_weights(*[np.maximum(s * W / np.abs(W).reshape(4, -1).max(1)[:, None, None], 0)
                                       for s in (1, -1)], hw)
    assert (aux["sel_a"] + aux["sel_b"]).any()
    _agree(hw, W * 0.4, b, np.array([0.3, 0.5, 0.6, 0.8]))


def test_reference_adjoint_finite_differences_tiny():
    # smooth away from the kinks: finite differences judge the pull-back through clip, shift and K^T
    hw = _tiny3(cal_crosstalk=True)
    rng = np.random.default_rng(4)
    W = rng.normal(size=(3, 3)) * 0.5
    W[:, 0] = [0.5, -0.002, 0.3]                      # the shared shift is active at (1, 0)
    b = rng.normal(size=(1, 3))
    g = rng.normal(size=(1, 3))

    def loss(Wx):
        r = R.hardware_fixed_point(Wx, b, hw, beta=0.6, tol=1e-14, max_iter=3000)
        return float((r.state * g).sum()), r

    _, r = loss(W)
    Wn = W / np.abs(W).max()
    _, _, aux = R.programmed_weights(np.maximum(Wn, 0)[None], np.maximum(-Wn, 0)[None], hw)
    assert aux["sel_b"][0, 1, 0] + aux["sel_a"][0, 1, 0] == 1.0       # the shift is active there
    adj = R.hardware_adjoint(W, b, r.state, g, hw, beta=0.6)
    eps = 1e-7
    for (i, j) in ((0, 0), (1, 0), (2, 1), (0, 2)):
        dW = np.zeros_like(W)
        dW[i, j] = eps
        fd = (loss(W + dW)[0] - loss(W - dW)[0]) / (2 * eps)
        assert fd == pytest.approx(adj.grad_W[i, j], rel=1e-5, abs=1e-9)


# ----------------------------------------------------------------------------- the real profile
@pytest.fixture(scope="module")
def cal16_pair():
    hw = AOCHardware.from_yaml(F16)
    return CAL.calibrate(hw), CAL.calibrate(hw, crosstalk=True)


@needs_files
def test_calibrated_16_effective_matrix_within_stated_residual(cal16_pair):
    base, xt = cal16_pair
    r0 = CAL.calibration_residual(base, systems=10, samples=800)
    r = CAL.calibration_residual(xt, systems=10, samples=800)
    assert r["rel_error_max"] <= RESIDUAL_XT_16 < r0["rel_error_mean"]
    assert r["sign_agreement_min"] == 1.0 and r["k_eff_max_rel"] < 0.05


@needs_files
def test_reference_torch_cpp_agree_calibrated_16(cal16_pair):
    _, xt = cal16_pair
    W = CAL.random_symmetric(16, 3, 7) * 0.3
    b = np.random.default_rng(5).normal(size=(3, 16)) * 0.8
    _agree(xt, W, b, np.array([0.3, 0.5, 0.8]))


@needs_files
def test_load_profile_operator_crosstalk():
    from quaton_fast.aoc.hardware import load_profile
    p = load_profile(F16, calibration="operator+crosstalk")
    assert p.cal_crosstalk and p.cal_gain and p.cal_slm_inverse
    assert not load_profile(F16).cal_crosstalk
    assert not load_profile(F16, off=["cal_crosstalk"], calibration="operator+crosstalk").cal_crosstalk
