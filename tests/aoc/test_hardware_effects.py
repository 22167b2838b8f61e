"""Each non-ideal effect on a tiny system whose expected output is computed by hand in the test.

Base system (n = 2): a linear "fitted nonlinearity" f(z) = z (coefficients a=1, b0=0, c=2, d=0, f0=0,
g=1), W = [[0.5, -1], [0.25, 0]] (max|W| = 1: W+ = [[0.5, 0], [0.25, 0]], W- = [[0, 1], [0, 0]]),
beta = 2, alpha = 0.5, z = [0.3, -0.2], c = [0.1, 0.2].  Without further effects
y = alpha z + beta (W+ z - W- z) + c = [0.15, -0.1] + 2 [0.35, 0.075] + [0.1, 0.2] = [0.95, 0.25].
Every case is run through the NumPy reference (effect by effect and linear form) and the torch map.
"""
import numpy as np
import pytest
import torch

from quaton_fast.functional import aoc_hardware as F
from quaton_fast.reference import aoc_hardware as R
from quaton_fast.reference.aoc_hardware_profile import AOCHardware

LINEAR_F = np.array([1.0, 0.0, 2.0, 0.0, 0.0, 1.0])
W = np.array([[0.5, -1.0], [0.25, 0.0]])
Z = np.array([[0.3, -0.2]])
C = np.array([[0.1, 0.2]])
ALPHA, BETA = 0.5, 2.0


def _hw(n=2, **kw):
    return AOCHardware(n_channels=n, source="hand", tanh_coeffs=LINEAR_F, fitted_nonlinearity=True, **kw)


def _all_paths(hw, W=W, z=Z, c=C, alpha=ALPHA, beta=BETA):
    """The step by the reference chain, the reference linear form and the torch map (all float64)."""
    Wb = W[None]
    y_chain = R.hardware_step(z, Wb, c, alpha, beta, hw)
    y_lin = R.hardware_step_linear(z, R.path_operators(Wb, np.array([beta]), hw), c, alpha, hw)
    Ep, En, k = F.path_operators(torch.tensor(Wb), beta, hw)
    y_t = F.hardware_step(torch.tensor(z), Ep, En, k, torch.tensor(c), alpha, hw).numpy()
    return y_chain, y_lin, y_t


def _check(hw, expected, **kw):
    for y in _all_paths(hw, **kw):
        np.testing.assert_allclose(y[0], expected, rtol=0, atol=1e-14)


def test_base_linear_system():
    _check(_hw(), [0.95, 0.25])


def test_fitted_nonlinearity_values_and_slope():
    # a=2, b0=0, c=1, d=1, f0=0.1, g=0.5: f(z) = 2z/(1+|2z|) + 0.1 + 0.5 z
    hw = AOCHardware(n_channels=2, tanh_coeffs=np.array([2.0, 0.0, 1.0, 1.0, 0.1, 0.5]), fitted_nonlinearity=True)
    z = np.array([0.3, -0.2])
    f, fp = R.nonlinearity(z, hw)
    np.testing.assert_allclose(f, [0.6 / 1.6 + 0.1 + 0.15, -0.4 / 1.4 + 0.1 - 0.1], atol=1e-15)
    # f'(z) = d a (1 + |u|)^-2 + g
    np.testing.assert_allclose(fp, [2 / 1.6 ** 2 + 0.5, 2 / 1.4 ** 2 + 0.5], atol=1e-15)
    ft, fpt = F.nonlinearity(torch.tensor(z), hw)
    np.testing.assert_allclose(ft.numpy(), f, atol=1e-15)
    np.testing.assert_allclose(fpt.numpy(), fp, atol=1e-15)
    # switched off: tanh
    f_off, _ = R.nonlinearity(z, hw.with_effects(fitted_nonlinearity=False))
    np.testing.assert_array_equal(f_off, np.tanh(z))


def test_led_cubics_per_sign_and_dc_offset():
    # p+(v) = v^3, p-(v) = 2 v + 0.5: p+ = [0.027, -0.008], p- = [1.1, 0.1]
    # o+ = W+ p+ = [0.0135, 0.00675], o- = W- p- = [0.1, 0]; y = [0.15 - 0.173 + 0.1, -0.1 + 0.0135 + 0.2]
    hw = _hw(led=True, led_pos=np.array([1.0, 0, 0, 0]), led_neg=np.array([0, 0, 2.0, 0.5]))
    _check(hw, [0.077, 0.1135])
    # DC at z = 0 subtracted: p-(f(0)) = 0.5 -> p- = [0.6, -0.4], o- = [-0.4, 0]
    _check(hw.with_effects(led_dc_offset=True), [0.15 + 2 * 0.4135 + 0.1, 0.1135])


def test_fan_in_per_input_channel_and_sign():
    # q+ = [2, 1] * z = [0.6, -0.2], q- = [1, 3] * z = [0.3, -0.6]; o+ = [0.3, 0.15], o- = [-0.6, 0]
    hw = _hw(fan_in=True, fan_in_pos=np.array([2.0, 1.0]), fan_in_neg=np.array([1.0, 3.0]))
    _check(hw, [0.15 + 1.8 + 0.1, -0.1 + 0.3 + 0.2])


def test_weight_distortion_per_output_channel_and_normalisation():
    # W~+ rows (a, b, c): (1, .5, .1), (0, 1, .2) -> [[.6, .1], [.45, .2]]
    # W~- rows: (0, 2, 0), (.5, 0, .3) -> [[0, 2], [.3, .3]]
    # o+ = [.16, .095], o- = [-.4, .03]; y = [.15 + 1.12 + .1, -.1 + .13 + .2]
    hw = _hw(weight_distortion=True, distortion_pos=np.array([[1.0, 0.5, 0.1], [0.0, 1.0, 0.2]]),
             distortion_neg=np.array([[0.0, 2.0, 0.0], [0.5, 0.0, 0.3]]))
    _check(hw, [1.37, 0.23])
    # the SLMs see W / max|W| and the gain is beta max|W|: 4 W with beta / 4 is the same machine
    _check(hw, [1.37, 0.23], W=4 * W, beta=BETA / 4)


def test_tia_efficiency_per_output_channel_and_sign():
    # o+ = [.15, .075] * [.5, 2] = [.075, .15], o- = [-.2, 0] * [1, 4]
    hw = _hw(tia=True, tia_pos=np.array([0.5, 2.0]), tia_neg=np.array([1.0, 4.0]))
    _check(hw, [0.15 + 0.55 + 0.1, -0.1 + 0.3 + 0.2])


def test_pd_crosstalk_with_and_without_dark_floor():
    # n = 3, W = I (W+ = I, W- = 0), beta = 1, alpha = 0, c = 0, z = [.1, .2, .4]: o+ = z, o- = 0
    kw = dict(pd_crosstalk=True, ratio_later_pos=np.array([0.1, 0.2, 0.3]),
              ratio_earlier_pos=np.array([0.5, 0.25, 0.125]), ratio_later_neg=np.array([0.1, 0.1, 0.1]),
              ratio_earlier_neg=np.zeros(3), dark_pos=np.array([0.05, 0.1, 0.2]), dark_neg=np.full(3, 0.1))
    args = dict(W=np.eye(3), z=np.array([[0.1, 0.2, 0.4]]), c=np.zeros((1, 3)), alpha=0.0, beta=1.0)
    # no floor: o'0 = .1 + .25*.2, o'1 = .2 + .125*.4 + .1*.1, o'2 = .4 + .2*.2
    _check(_hw(3, **kw), [0.15, 0.26, 0.44], **args)
    # floor subtracted from the leaking signal: base+ = [.05, .1, .2] -> [.125, .23, .42];
    # base- = [-.1, -.1, -.1] -> o'- = [0, -.01, -.01]
    _check(_hw(3, slm_darkness=True, **kw), [0.125, 0.24, 0.43], **args)


def test_pd_offset_before_the_gain():
    # o+ - o- = [.35, .075] + ([.01, .02] - [.03, 0]) = [.33, .095]; times beta = 2
    hw = _hw(pd_offset=True, pd_offset_pos=np.array([0.01, 0.02]), pd_offset_neg=np.array([0.03, 0.0]))
    _check(hw, [0.15 + 0.66 + 0.1, -0.1 + 0.19 + 0.2])


def test_closed_loop_offset_and_scale():
    # beta_hw = n max|W| beta = 4; m = ([.7, .15] + 2 ([.1, 0] + 4 [0, .01])) * [.5, 2] = [.45, .46]
    hw = _hw(closed_loop=True, cl_scaling=np.array([0.5, 2.0]), cl_dc_offset=np.array([0.1, 0.0]),
             cl_linear_offset=np.array([0.0, 0.01]), cl_ratio=2.0)
    _check(hw, [0.15 + 0.45 + 0.1, -0.1 + 0.46 + 0.2])
    assert R.hardware_gain(W, BETA) == pytest.approx(4.0)


@pytest.mark.parametrize("impl", ["reference", "torch"])
def test_input_clamp_from_the_profile_or_the_model(impl):
    """One step from s0 = z (max_iter = 1): b = [.1, .2] clamped to the profile's [-.5, .15]."""
    hw = _hw(input_clamp=True, input_min_max=(-0.5, 0.15))

    def one_step(hw, clamp=None):
        if impl == "reference":
            return R.hardware_fixed_point(W, C, hw, alpha=ALPHA, beta=BETA, s0=Z, tol=0.0, max_iter=1,
                                          clamp=clamp).state[0]
        z, *_ = F.hardware_fixed_point(torch.tensor(W), torch.tensor(C), hw, alpha=ALPHA, beta=BETA,
                                       s0=torch.tensor(Z), tol=0.0, max_iter=1, clamp=clamp,
                                       unconverged="zero", generic=True)
        return z[0].numpy()

    np.testing.assert_allclose(one_step(hw), [0.95, 0.2], atol=1e-14)
    off = hw.with_effects(input_clamp=False)
    np.testing.assert_allclose(one_step(off), [0.95, 0.25], atol=1e-14)
    np.testing.assert_allclose(one_step(off, clamp=(-1.0, 0.12)), [0.95, 0.17], atol=1e-14)


def test_every_effect_off_is_the_ideal_map():
    """tanh, exact W: y = alpha z + beta W tanh(z) + c."""
    hw = AOCHardware.ideal(2)
    for y in _all_paths(hw):
        np.testing.assert_allclose(y[0], ALPHA * Z[0] + BETA * W @ np.tanh(Z[0]) + C[0], atol=1e-15)
