"""Operator-side calibrations of the AOC hardware twin (issue 27): each switch on hand-computed tiny
systems, the NumPy reference == torch == C++ on the calibrated 16-channel profile, and the calibrated
effective matrix == the programmed one within the stated residual (positive couplings included)."""
import dataclasses
import os

import numpy as np
import pytest
import torch

pytest.importorskip("yaml")

from quaton_fast.functional import aoc_hardware as F
from quaton_fast.reference import aoc_hardware as R
from quaton_fast.reference import aoc_hardware_calibration as CAL
from quaton_fast.reference.aoc_hardware_profile import CALIBRATIONS, AOCHardware
from qf_testing import aoc_calibration_dir

pytestmark = pytest.mark.filterwarnings("ignore:hardware_fixed_point")

DATA = aoc_calibration_dir()
F16 = os.path.join(DATA, "June2024_saturation_pieces_clip2p6.yaml")
F48 = os.path.join(DATA, "April2025_corrected_pd_3.yaml")
needs_files = pytest.mark.skipif(not os.path.isfile(F16), reason="calibration files not present")

#: stated residual of the calibrated 16-channel twin: ||J_eff - beta W||_F / ||beta W||_F over random
#: symmetric W (measured 0.043 mean, 0.048 worst of 20: photodiode crosstalk no diagonal gain undoes,
#: the microLED shape, the 9-bit SLM levels); docs/aoc_hardware.md
RESIDUAL_16 = 0.06
#: the same for the 48-channel file on a 16-wide cell (channel means): 0.099 mean, 0.111 worst of 20,
#: almost all of it the photodiode crosstalk (0.012 with pd_crosstalk off)
RESIDUAL_48_16 = 0.13


@pytest.fixture(scope="module")
def cal16():
    return CAL.calibrate(AOCHardware.from_yaml(F16))


def _tiny(**kw):
    """A 2-channel profile: only the weight distortion (a, b, c per output row) unless kw adds more."""
    base = dict(n_channels=2, source="tiny",
                distortion_pos=np.array([[0.2, 0.3, 0.1], [0.1, 0.5, 0.2]]),
                distortion_neg=np.array([[0.0, 0.4, 0.3], [0.3, 0.2, 0.05]]), weight_distortion=True)
    base.update(kw)
    return AOCHardware(**base)


# ----------------------------------------------------------------------------- hand-computed systems
def test_dark_floor_subtraction_by_hand():
    hw = _tiny()
    W = np.array([[0.5, -1.0], [0.0, 0.25]])     # M = 1: W+ = [[.5, 0], [0, .25]], W- = [[0, 1], [0, 0]]
    z = np.array([[0.3, -0.7]])
    t = np.tanh(z[0])
    # row 0: W~+ = [.2*.25 + .3*.5 + .1, .1] = [.3, .1]; W~- = [.3, 0 + .4 + .3] = [.3, .7]
    # row 1: W~+ = [.2, .1*.0625 + .5*.25 + .2] = [.2, .33125]; W~- = [.05, .05]
    raw = np.array([.3 * t[0] + .1 * t[1] - (.3 * t[0] + .7 * t[1]),
                    .2 * t[0] + .33125 * t[1] - (.05 * t[0] + .05 * t[1])])
    # the floor c removed from every entry of its row: row 0 c+ = .1, c- = .3; row 1 c+ = .2, c- = .05
    sub = raw - np.array([(.1 - .3) * (t[0] + t[1]), (.2 - .05) * (t[0] + t[1])])
    for prof, want in ((hw, raw), (hw.with_calibrations(cal_dark_floor=True), sub)):
        y = R.hardware_step(z, W[None], np.zeros((1, 2)), 0.0, 1.0, prof)
        np.testing.assert_allclose(y[0], want, rtol=0, atol=1e-15)
    # a zero weight contributes nothing once the floor is subtracted
    y0 = R.hardware_step(z, np.array([[[1.0, 0.0], [0.0, 0.0]]]), np.zeros((1, 2)), 0.0, 1.0,
                         hw.with_calibrations(cal_dark_floor=True))
    np.testing.assert_allclose(y0[0], [(.2 + .3) * t[0], 0.0], atol=1e-15)


def test_dark_floor_removes_crosstalk_dark_subtraction_by_hand():
    # crosstalk: channel 0 leaks r = 0.1 of (o_0 - dark_0) into channel 1; no distortion
    hw = AOCHardware(n_channels=2, source="tiny", ratio_later_pos=np.array([0.1, 0.0]),
                     dark_pos=np.array([0.4, 0.0]), pd_crosstalk=True, slm_darkness=True)
    W = np.array([[[1.0, 0.0], [0.0, 0.0]]])
    z = np.array([[0.5, 0.0]])
    o0 = np.tanh(0.5)
    y = R.hardware_step(z, W, np.zeros((1, 2)), 0.0, 1.0, hw)
    np.testing.assert_allclose(y[0], [o0, 0.1 * (o0 - 0.4)], atol=1e-15)
    y = R.hardware_step(z, W, np.zeros((1, 2)), 0.0, 1.0, hw.with_calibrations(cal_dark_floor=True))
    np.testing.assert_allclose(y[0], [o0, 0.1 * o0], atol=1e-15)


def test_gains_by_hand_and_fit_exact_without_crosstalk():
    fan_p, fan_n = np.array([0.5, 2.0]), np.array([1.25, 0.8])
    tia_p, tia_n = np.array([0.65, 0.65]), np.array([1.0, 0.5])
    dist = np.array([[0.0, 0.4, 0.0], [0.0, 0.25, 0.0]])    # linear SLMs, slopes 0.4 / 0.25, no floor
    hw = AOCHardware(n_channels=2, source="tiny", fan_in_pos=fan_p, fan_in_neg=fan_n, tia_pos=tia_p,
                     tia_neg=tia_n, distortion_pos=dist, distortion_neg=dist, fan_in=True, tia=True,
                     weight_distortion=True)
    W = np.array([[[0.8, -0.4], [-1.0, 0.2]]])
    z = np.array([[0.9, -0.3]])
    t = np.tanh(z[0])
    gi_p, gi_n, go_p, go_n = np.array([3., 5.]), np.array([7., 11.]), np.array([.5, 2.]), np.array([4., .25])
    prof = dataclasses.replace(hw, gain_in_pos=gi_p, gain_in_neg=gi_n, gain_out_pos=go_p, gain_out_neg=go_n,
                               cal_gain=True)
    Wp, Wm = np.maximum(W[0], 0), np.maximum(-W[0], 0)
    d = np.array([0.4, 0.25])[:, None]
    want = go_p * tia_p * ((d * Wp) @ (fan_p * gi_p * t)) - go_n * tia_n * ((d * Wm) @ (fan_n * gi_n * t))
    y = R.hardware_step(z, W, np.zeros((1, 2)), 0.0, 1.0, prof)
    np.testing.assert_allclose(y[0], want, rtol=1e-14)
    # the fit: gain_in = 1/fan, gain_out = 1/(tia * slope) exactly (no crosstalk, linear SLM, tanh drive)
    g = CAL.fit_gains(hw, systems=8)
    np.testing.assert_allclose(g["gain_in_pos"], 1 / fan_p, rtol=1e-14)
    np.testing.assert_allclose(g["gain_in_neg"], 1 / fan_n, rtol=1e-14)
    np.testing.assert_allclose(g["gain_out_pos"], 1 / (tia_p * d[:, 0]), rtol=1e-12)
    np.testing.assert_allclose(g["gain_out_neg"], 1 / (tia_n * d[:, 0]), rtol=1e-12)
    c = CAL.calibrate(hw, slm_inverse=False)
    r = CAL.effective_matrix(CAL.random_symmetric(2, 5, 3), 1.7, c, samples=200)
    assert r["rel_error"].max() < 1e-12 and r["fit_residual"].max() < 1e-12


def test_slm_inverse_by_hand():
    # one row, a = 0.2, b = 0.3: rho = 0.5; target w = 0.5 -> response 0.25 -> level
    # k = (-0.3 + sqrt(0.09 + 0.2)) / 0.4 = 0.59629... -> nearest of 152/255, 153/255 in response
    a, b = 0.2, 0.3
    hw = AOCHardware(n_channels=1, source="tiny", distortion_pos=np.array([[a, b, 0.0]]),
                     distortion_neg=np.array([[a, b, 0.0]]), weight_distortion=True, cal_slm_inverse=True)
    kc = (-b + np.sqrt(b * b + 4 * a * 0.25)) / (2 * a)
    cands = np.array([np.floor(kc * 255), np.ceil(kc * 255)]) / 255
    best = cands[np.argmin(np.abs(a * cands ** 2 + b * cands - 0.25))]
    lv = R.slm_inverse_levels(np.array([[[0.5]]]), hw.distortion_pos)
    assert lv[0, 0, 0] == best
    # response within half a level step of the linear target, for every target
    w = np.linspace(0, 1, 1001).reshape(1, 1, -1)
    lv = R.slm_inverse_levels(w, hw.distortion_pos)
    resp = a * lv ** 2 + b * lv
    step = (2 * a + b) / 255
    assert np.all(np.abs(resp - 0.5 * w) <= step / 2 + 1e-15)
    # torch: closed-form inverse + neighbours == the reference's brute force over all 256 levels
    rng = np.random.default_rng(0)
    dist = np.column_stack([rng.uniform(-0.27, 0.25, 16), rng.uniform(0.3, 1.2, 16), rng.uniform(0, .6, 16)])
    Wn = rng.uniform(0, 1, size=(4, 16, 16))
    ref = R.slm_inverse_levels(Wn, dist)
    rho = R.slm_response_max(dist)[:, None]
    got = F._slm_inverse(torch.tensor(Wn), torch.tensor(dist * [1, 1, 0]), torch.tensor(rho))
    want = dist[:, 0:1] * ref ** 2 + dist[:, 1:2] * ref
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-15)


def test_state_scale_by_hand():
    # fitted curve a = 2, c = 2, d = 1: f(z) = 2z / sqrt(1 + 4 z^2); kappa = 0.5: f(0.5 * 1) = 1/sqrt(2)
    hw = AOCHardware(n_channels=1, source="tiny", tanh_coeffs=np.array([2.0, 0.0, 2.0, 1.0, 0.0, 0.0]),
                     fitted_nonlinearity=True, input_clamp=True, input_min_max=(-1.3, 1.3), state_scale=0.5)
    f, fp = R.nonlinearity(np.array([1.0]), hw.with_calibrations(cal_state_scale=True))
    np.testing.assert_allclose(f, [1 / np.sqrt(2)], rtol=1e-15)
    np.testing.assert_allclose(fp, [0.5 * 2 * 2 ** -1.5], rtol=1e-15)       # kappa * f'(0.5)
    assert R.nonlinearity(np.array([1.0]), hw)[0][0] == pytest.approx(2 / np.sqrt(5), rel=1e-15)
    # the input clamp [V] in model units: 1.3 V / kappa = 2.6
    assert R.input_limits(hw.with_calibrations(cal_state_scale=True), None) == (-2.6, 2.6)
    # the operator programs the model's own clamped input within that range: the intersection
    assert R.input_limits(hw.with_calibrations(cal_state_scale=True), (-1.0, 3.0)) == (-1.0, 2.6)
    assert R.input_limits(hw, (-1.0, 3.0)) == (-1.3, 1.3)            # released: the file's range replaces it
    assert R.input_limits(hw, None) == (-1.3, 1.3)
    # torch and the coefficients handed to the C++ kernel compute the same curve
    z = torch.linspace(-3, 3, 61, dtype=torch.float64)
    hs = hw.with_calibrations(cal_state_scale=True)
    ft, fpt = F.nonlinearity(z, hs)
    fr, fpr = R.nonlinearity(z.numpy(), hs)
    np.testing.assert_allclose(ft.numpy(), fr, rtol=1e-15)
    np.testing.assert_allclose(fpt.numpy(), fpr, rtol=1e-14)
    # plain tanh with a state scale: tanh(kappa z)
    th = AOCHardware(n_channels=1, source="tiny", state_scale=0.5, cal_state_scale=True)
    np.testing.assert_allclose(R.nonlinearity(np.array([2.0]), th)[0], np.tanh([1.0]), rtol=1e-15)


def test_closed_loop_calibration_undoes_the_file_correction_by_hand():
    kw = dict(n_channels=2, source="tiny", cl_dc_offset=np.array([0.01, -0.02]),
              cl_linear_offset=np.array([0.001, 0.002]), cl_scaling=np.array([0.7, 0.8]), cl_ratio=2.0)
    on = AOCHardware(**kw, closed_loop=True)
    W = np.array([[[0.5, -0.2], [0.3, 0.1]]])
    z = np.array([[0.4, -0.6]])
    m = W[0] @ np.tanh(z[0])
    beta = 1.5
    beta_hw = 2 * 0.5 * beta                                                 # n max|W| beta
    want = (beta * m + 2.0 * (np.array([0.01, -0.02]) + beta_hw * np.array([0.001, 0.002]))) * [0.7, 0.8]
    np.testing.assert_allclose(R.hardware_step(z, W, np.zeros((1, 2)), 0.0, beta, on)[0], want, rtol=1e-14)
    y = R.hardware_step(z, W, np.zeros((1, 2)), 0.0, beta, on.with_calibrations(cal_closed_loop=True))
    np.testing.assert_allclose(y[0], beta * m, rtol=1e-14)


# ----------------------------------------------------------------------------- the real profiles
@needs_files
def test_calibrate_fits_and_switches(cal16):
    assert all(cal16.calibrations[k] for k in CALIBRATIONS if k not in ("cal_closed_loop", "cal_crosstalk"))
    assert not cal16.cal_crosstalk                            # opt-in: calibrate(crosstalk=True)
    assert not cal16.cal_closed_loop                          # the 16-channel file has no closed loop
    assert 0.2 < cal16.state_scale < 0.35                     # the fitted curve's knee (~0.27 V)
    assert cal16.uncalibrated().calibrations == {k: False for k in CALIBRATIONS}
    assert "calibrated" in cal16.describe() and "uncalibrated (released)" in cal16.uncalibrated().describe()
    with pytest.raises(TypeError, match="'hw'"):
        CAL.calibrate("x")
    with pytest.raises(ValueError, match="'width'"):
        CAL.calibrate(cal16, width=0)
    with pytest.raises(ValueError, match="must be one of"):
        cal16.with_calibrations(cal_nope=True)


@needs_files
def test_calibrated_effective_matrix_equals_programmed(cal16):
    # 20 random symmetric W (both signs): the released twin makes every coupling negative; the
    # calibrated one computes beta W within the stated residual, every sizeable sign right
    released = CAL.calibration_residual(cal16.uncalibrated(), systems=20, samples=800)
    assert released["negative_fraction"] == 1.0
    r = CAL.calibration_residual(cal16, systems=20, samples=800)
    assert r["rel_error_max"] <= RESIDUAL_16
    assert r["sign_agreement_min"] == 1.0
    assert 0.4 < r["negative_fraction"] < 0.6
    assert r["k_eff_max_rel"] < 0.05


@needs_files
def test_closed_loop_48_channel_calibrated():
    hw = AOCHardware.from_yaml(F48)
    c = CAL.calibrate(hw, width=16)
    assert c.cal_closed_loop and c.n_channels == 16
    r = CAL.calibration_residual(c, systems=5, samples=600)
    r_off = CAL.calibration_residual(c.with_calibrations(cal_closed_loop=False), systems=5, samples=600)
    assert r["rel_error_max"] <= RESIDUAL_48_16 and r["sign_agreement_min"] == 1.0
    # without it, the file's closed-loop scale (mean 0.75) and offset stay: the matrix is off by ~25 %
    assert r_off["rel_error_max"] > r["rel_error_max"] + 0.1
    # torch and C++ run the calibrated 48-channel map as the reference does (with and without it)
    W = CAL.random_symmetric(16, 2, 9) * 0.3
    b = np.random.default_rng(4).normal(size=(2, 16))
    for prof in (c, c.with_calibrations(cal_closed_loop=False)):
        ref = R.hardware_fixed_point(W, b, prof, beta=0.5, tol=1e-11, max_iter=500)
        for backend in ("torch", "cpp"):
            z, it, _, _ = F.hardware_fixed_point(torch.tensor(W), torch.tensor(b), prof, beta=0.5, tol=1e-11,
                                                 max_iter=500, backend=backend, unconverged="zero")
            np.testing.assert_allclose(z.numpy(), ref.state, rtol=0, atol=1e-11)


@needs_files
@pytest.mark.parametrize("ablate", [None, "cal_slm_inverse"])
def test_reference_torch_cpp_agree_on_calibrated_profile(cal16, ablate):
    hw = cal16 if ablate is None else cal16.with_calibrations(**{ablate: False})
    rng = np.random.default_rng(5)
    S, n = 3, 16
    W = CAL.random_symmetric(n, S, 7) * 0.3
    b = rng.normal(size=(S, n)) * 0.8
    beta = np.array([0.3, 0.5, 0.8])
    ref = R.hardware_fixed_point(W, b, hw, alpha=0.5, beta=beta, tol=1e-10, max_iter=400)
    assert ref.converged.all()
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    outs = {}
    for backend in ("torch", "cpp"):
        z, it, res, untrusted = F.hardware_fixed_point(Wt, bt, hw, alpha=0.5, beta=torch.tensor(beta), tol=1e-10,
                                                       max_iter=400, backend=backend)
        assert not untrusted.any()
        np.testing.assert_array_equal(it.numpy(), ref.iterations)
        np.testing.assert_allclose(z.detach().numpy(), ref.state, rtol=0, atol=1e-11)
        g = rng.normal(size=(S, n)) if backend == "torch" else g
        gW, gb = torch.autograd.grad((z * torch.tensor(g)).sum(), (Wt, bt))
        outs[backend] = (gW.numpy(), gb.numpy())
    adj = R.hardware_adjoint(W, b, ref.state, g, hw, alpha=0.5, beta=beta)
    # symmetric W: max|W| is reached at (i, j) and (j, i); the reference puts the subgradient on one,
    # torch's amax splits it -- both valid; their symmetrised gradients (the symmetric W's) agree
    sym = lambda G: G + np.swapaxes(G, 1, 2)  # noqa: E731
    for backend, (gW, gb) in outs.items():
        np.testing.assert_allclose(sym(gW), sym(adj.grad_W), rtol=1e-7, atol=1e-9 * np.abs(adj.grad_W).max())
        np.testing.assert_allclose(gb, adj.grad_b, rtol=1e-7, atol=1e-10)


@needs_files
def test_reference_adjoint_finite_differences_calibrated(cal16):
    # without the SLM inverse (piecewise constant in W) the calibrated map is smooth: FD check
    hw = cal16.with_calibrations(cal_slm_inverse=False)
    W = CAL.random_symmetric(16, 1, 11)[0] * 0.3
    b = np.random.default_rng(2).normal(size=(1, 16)) * 0.8
    g = np.random.default_rng(3).normal(size=(1, 16))

    def loss(Wx, bx):
        r = R.hardware_fixed_point(Wx, bx, hw, beta=0.6, tol=1e-13, max_iter=2000)
        return float((r.state * g).sum()), r

    _, r = loss(W, b)
    adj = R.hardware_adjoint(W, b, r.state, g, hw, beta=0.6)
    eps = 1e-6
    for (i, j) in ((0, 1), (3, 3), (7, 12)):
        dW = np.zeros_like(W)
        dW[i, j] = eps
        fd = (loss(W + dW, b)[0] - loss(W - dW, b)[0]) / (2 * eps)
        assert fd == pytest.approx(adj.grad_W[i, j], rel=1e-4, abs=1e-7)
    db = np.zeros_like(b)
    db[0, 4] = eps
    fd = (loss(W, b + db)[0] - loss(W, b - db)[0]) / (2 * eps)
    assert fd == pytest.approx(adj.grad_b[0, 4], rel=1e-5)


@needs_files
def test_load_profile_defaults_to_operator_calibration():
    from quaton_fast.aoc.hardware import load_profile
    op = load_profile(F16)
    assert op.cal_gain and op.cal_dark_floor
    rel = load_profile(F16, calibration="released")
    assert not rel.is_calibrated
    ab = load_profile(F16, off=["cal_gain", "led"])
    assert not ab.cal_gain and not ab.led and ab.cal_dark_floor
    with pytest.raises(ValueError, match="'calibration'"):
        load_profile(F16, calibration="nope")


def test_calibrate_without_state_scale_by_hand():
    # linear microLEDs p+(f) = 0.5 f, p-(f) = 2 f on tanh: the path scales are exactly 0.5 and 2 with
    # or without the state scale (kappa = 1 without the fitted curve); state_scale=False used to fail
    hw = AOCHardware(n_channels=2, source="tiny", led=True, led_pos=np.array([0.0, 0.0, 0.5, 0.0]),
                     led_neg=np.array([0.0, 0.0, 2.0, 0.0]))
    for flag in (False, True):
        c = CAL.calibrate(hw, state_scale=flag, fit_systems=4)
        assert c.cal_state_scale is flag and c.cal_gain
        assert c.led_scale_pos == pytest.approx(0.5, rel=1e-14)
        assert c.led_scale_neg == pytest.approx(2.0, rel=1e-14)
        assert c.state_scale == 1.0
