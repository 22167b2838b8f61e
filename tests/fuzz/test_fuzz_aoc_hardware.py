"""Fuzz: the non-ideal AOC twin's entry points reject malformed input with errors naming the argument
(hardware_fixed_point, readout, AOCHardware.from_yaml on random YAML, HardwareTwin, with_effects)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_checks import assert_rejects
from quaton_fast.aoc.hardware import HardwareTwin
from quaton_fast.functional.aoc_hardware import hardware_fixed_point, readout
from quaton_fast.reference import aoc_hardware as R
from quaton_fast.reference.aoc_hardware_profile import EFFECTS, AOCHardware

yaml = pytest.importorskip("yaml")
HW = AOCHardware.ideal(4).with_effects(led=True, fitted_nonlinearity=True)

BAD_CALLS = [
    (lambda: hardware_fixed_point(torch.zeros(3, 3), torch.zeros(2, 4), HW), "'W'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 3, 4), HW), "'b'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(0, 4), HW), "'b'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4, dtype=torch.int64), HW), "'b'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4, dtype=torch.float64), torch.zeros(2, 4), HW), "'W'"),
    (lambda: hardware_fixed_point(np.zeros((4, 4)), torch.zeros(2, 4), HW), "'W'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), None), "'hw'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, alpha="x"), "'alpha'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, beta=torch.ones(3)), "'beta'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, gamma=None), "'gamma'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, s0=torch.zeros(3, 4)), "'s0'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, tol=float("nan")), "'tol'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, max_iter=2.5), "'max_iter'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, clamp=(1, 0)), "'clamp'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, unconverged="ok"), "'unconverged'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, max_iter=2 ** 31), "'max_iter'"),
    (lambda: R.hardware_fixed_point(np.zeros((4, 4)), np.zeros((2, 3)), HW), "'W'"),
    (lambda: R.hardware_fixed_point(np.zeros((4, 4)), np.zeros((2, 4)), "June"), "'hw'"),
    (lambda: R.hardware_adjoint(np.zeros((4, 4)), np.zeros((2, 4)), np.zeros((2, 5)), np.zeros((2, 4)), HW),
     "'state'"),
    (lambda: readout(torch.zeros(2, 4), -0.1), "'sigma'"),
    (lambda: HardwareTwin("June"), "'profile'"),
    (lambda: HardwareTwin(HW, readout_sigma=-1.0), "'readout_sigma'"),
    (lambda: HW.with_effects(led="yes"), "'led'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, backward_tol=-1.0), "'backward_tol'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, backward_max_iter=0),
     "'backward_max_iter'"),
    (lambda: hardware_fixed_point(torch.zeros(4, 4), torch.zeros(2, 4), HW, tol=float("inf")), "'tol'"),
    (lambda: R.hardware_fixed_point(np.zeros((4, 4)), np.zeros((2, 4)), HW, tol=-1.0), "'tol'"),
    (lambda: R.hardware_fixed_point(np.zeros((4, 4)), np.zeros((2, 4)), HW, s0=np.zeros((3, 4))), "'s0'"),
]


@pytest.mark.parametrize("call,name", BAD_CALLS)
def test_bad_arguments_name_the_argument(call, name):
    assert_rejects(call, name)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=5))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(["tanh_sigmoid_coeffs", "led_poly_coeffs_pos", "deq_input_min_max", "row_profiles",
                            "pd_crosstalk", "column_wise_weights_distortion", "close_loop_offset_and_scale"]),
       value=_values)
def test_random_values_in_a_calibration_file_are_named(tmp_path_factory, key, value):
    """Replacing one key of a valid 2-channel file by random data either still loads or names the key."""
    good = {"tanh_sigmoid_coeffs": [1.0, 0.0, 2.0, 0.1, 0.0], "led_poly_coeffs_pos": [0, 0, 1, 0],
            "led_poly_coeffs_neg": [0, 0, 1, 0], "deq_input_min_max": [-1.3, 1.3],
            "row_profiles": {"positive_row12": [1, 1], "negative_row12": [1, 1]},
            "column_wise_weights_distortion": {"positive_row12": [[0, 1, 0]] * 2, "negative_row12": [[0, 1, 0]] * 2},
            "pd_crosstalk": {f"ratio_to_{w}_{s}_row12": [0, 0] for w in ("later", "earlier")
                             for s in ("positive", "negative")} | {"pd_positive_darkness": [0, 0],
                                                                    "pd_negative_darkness": [0, 0]},
            "pd_offset": {"pd_offset_positive_row12": [0, 0], "pd_offset_negative_row12": [0, 0]}}
    good[key] = value
    path = tmp_path_factory.mktemp("y") / "cal.yaml"
    path.write_text(yaml.safe_dump(good))
    try:
        hw = AOCHardware.from_yaml(str(path))
    except ValueError as exc:
        assert str(path) in str(exc) and key in str(exc), str(exc)
    else:
        assert np.all(np.isfinite(hw.tanh_coeffs)) and hw.n_channels >= 1
        assert set(hw.effects) == set(EFFECTS)


from quaton_fast.solve.models.generators import random_qubo  # noqa: E402
from quaton_fast.solve.algorithms.hardware_solver import hardware_anneal  # noqa: E402

_Q4 = random_qubo(4, seed=0)


@settings(max_examples=40, deadline=None)
@given(arg=st.sampled_from(["replicas", "steps", "a0", "g", "gamma", "check_every", "seed"]),
       value=st.one_of(st.integers(-10 ** 6, -1), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e300]),
                       st.floats(max_value=-1e-9), st.text(max_size=3), st.none()))
def test_hardware_anneal_rejects_bad_options(arg, value):
    """Negative / non-finite / huge / wrong-type options name the argument (none of these values is
    valid for any of the options)."""
    assert_rejects(lambda: hardware_anneal(_Q4, **{arg: value}), f"'{arg}'")


@settings(max_examples=15, deadline=None)
@given(J=st.sampled_from([np.full((3, 3), np.nan), np.ones((2, 3)), np.zeros((0, 0)), "x", None]))
def test_hardware_anneal_rejects_bad_problems(J):
    assert_rejects(lambda: hardware_anneal(J), "'problem'")
