"""AOCHardware.from_yaml: both released calibration files load; missing/malformed keys name file and key."""
import os

import numpy as np
import pytest

yaml = pytest.importorskip("yaml")

from quaton_fast.reference.aoc_hardware_profile import (EFFECTS, AOCHardware, HardwareFileError,
                                                        TIA_16CH_NEGATIVE, TIA_16CH_POSITIVE)
from qf_testing import aoc_calibration_dir


DATA = aoc_calibration_dir()
F16 = os.path.join(DATA, "June2024_saturation_pieces_clip2p6.yaml")
F48 = os.path.join(DATA, "April2025_corrected_pd_3.yaml")
pytestmark = pytest.mark.skipif(not os.path.isfile(F16), reason="calibration files not present")


def test_16_channel_file_loads_with_its_values():
    hw = AOCHardware.from_yaml(F16)
    assert hw.n_channels == 16 and not hw.has_closed_loop
    # 5 coefficients in the file: g = 0 appended
    np.testing.assert_array_equal(hw.tanh_coeffs, [3.650472665, 0, 3.920930171, 0.085337389, 0, 0])
    assert hw.led_pos[0] == 0.7596877594558744 and hw.led_neg[3] == 0.00012530780356305655
    assert hw.fan_in_pos[0] == 1.0024301118511425 and hw.fan_in_neg[15] == 0.9914613032314268
    assert hw.distortion_pos.shape == (16, 3) and hw.distortion_pos[0, 0] == 0.1979415940961569
    assert hw.ratio_later_pos[3] == 0.0277992277992278 and hw.ratio_earlier_neg[1] == 0.01650485436893204
    # no output_correction: the released loader's TIA constants of this machine
    np.testing.assert_array_equal(hw.tia_pos, np.full(16, TIA_16CH_POSITIVE))
    np.testing.assert_array_equal(hw.tia_neg, np.full(16, TIA_16CH_NEGATIVE))
    assert hw.input_min_max == (-1.3, 1.3)
    # the file's dark floor is the distortion's constant term (c of w -> a w^2 + b w + c)
    np.testing.assert_array_equal(hw.dark_pos, hw.distortion_pos[:, 2])
    on = hw.effects
    assert on["pd_offset"] is False and on["closed_loop"] is False
    assert all(on[k] for k in EFFECTS if k not in ("pd_offset", "closed_loop"))
    # the fitted curve saturates near +-0.085 V (SPEC B4)
    from quaton_fast.reference.aoc_hardware import nonlinearity
    f, _ = nonlinearity(np.array([-50.0, 50.0]), hw)
    assert abs(abs(f[0]) - 0.0853) < 2e-3 and abs(f[1] - 0.0853) < 2e-3


def test_48_channel_file_loads_with_closed_loop():
    hw = AOCHardware.from_yaml(F48)
    assert hw.n_channels == 48 and hw.has_closed_loop and hw.closed_loop
    assert hw.tanh_coeffs.size == 6 and hw.tanh_coeffs[5] == 0.004796866609376989
    assert hw.cl_ratio == 1.9998618696327446
    assert hw.cl_scaling[0] == pytest.approx(0.72740372, abs=1e-8)
    assert hw.tia_pos[0] == pytest.approx(1.03427961, abs=1e-8)
    np.testing.assert_array_equal(hw.dark_neg, hw.distortion_neg[:, 2])


def test_channel_arrays_use_means_for_another_width():
    hw = AOCHardware.from_yaml(F48)
    ch = hw.channel_arrays(16)
    assert ch["fan_in_pos"].shape == (16,) and np.allclose(ch["fan_in_pos"], hw.fan_in_pos.mean())
    assert ch["distortion_neg"].shape == (16, 3) and np.allclose(ch["distortion_neg"][5], hw.distortion_neg.mean(0))
    np.testing.assert_array_equal(hw.channel_arrays(48)["tia_neg"], hw.tia_neg)


def _write(tmp_path, data, name="bad.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return str(p)


def _load(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize("src,key,edit", [
    (F16, "row_profiles.negative_row12", "delete"),
    (F16, "tanh_sigmoid_coeffs", "delete"),
    (F16, "pd_crosstalk.ratio_to_later_positive_row12", "short"),
    (F16, "led_poly_coeffs_pos", "string"),
    (F16, "column_wise_weights_distortion.positive_row12", "short"),
    (F16, "deq_input_min_max", "reversed"),
    (F48, "close_loop_offset_and_scale.scaling", "nan"),
    (F48, "close_loop_offset_and_scale.solution_to_adc_ratio", "bool"),
    (F48, "close_loop_offset_and_scale", "delete"),
])
def test_malformed_key_names_file_and_key(tmp_path, src, key, edit):
    data = _load(src)
    *parents, leaf = key.split(".")
    node = data
    for p in parents:
        node = node[p]
    if edit == "delete":
        del node[leaf]
    elif edit == "short":
        node[leaf] = node[leaf][:-1]
    elif edit == "string":
        node[leaf] = "zero point seven"
    elif edit == "reversed":
        node[leaf] = [1.3, -1.3]
    elif edit == "nan":
        node[leaf] = [float("nan")] * len(node[leaf])
    elif edit == "bool":
        node[leaf] = True
    path = _write(tmp_path, data)
    with pytest.raises(HardwareFileError) as ei:
        AOCHardware.from_yaml(path)
    msg = str(ei.value)
    assert path in msg
    # the message names the key (for a whole missing block: the block; for the pair rule: the partner)
    assert key in msg or (edit == "delete" and leaf in msg), msg


def test_output_correction_without_closed_loop_is_named(tmp_path):
    data = _load(F48)
    del data["output_correction"]
    path = _write(tmp_path, data)
    with pytest.raises(HardwareFileError, match="output_correction"):
        AOCHardware.from_yaml(path)


def test_not_a_mapping_and_not_yaml_and_missing_file(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(HardwareFileError, match="mapping"):
        AOCHardware.from_yaml(str(p))
    q = tmp_path / "broken.yaml"
    q.write_text("a: [1, 2\n")
    with pytest.raises(HardwareFileError, match="not valid YAML"):
        AOCHardware.from_yaml(str(q))
    with pytest.raises(FileNotFoundError, match="path"):
        AOCHardware.from_yaml(str(tmp_path / "nope.yaml"))


def test_switches_and_ideal():
    hw = AOCHardware.from_yaml(F16)
    assert not hw.is_ideal and hw.all_effects_off().is_ideal and AOCHardware.ideal().is_ideal
    assert hw.with_effects(led=False).led is False and hw.led is True
    with pytest.raises(ValueError, match="'foo'"):
        hw.with_effects(foo=False)
    with pytest.raises(ValueError, match="closed_loop"):
        AOCHardware.ideal().with_effects(closed_loop=True)
