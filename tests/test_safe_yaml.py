"""Calibration YAML (issue 26): aliases refused before expansion, non-UTF-8 and absurd values named
with the file (and key)."""
from __future__ import annotations

import time

import pytest

yaml = pytest.importorskip("yaml")

from quaton_fast._safe_yaml import load_yaml  # noqa: E402
from quaton_fast.aoc.hardware import AOCHardware, HardwareFileError  # noqa: E402
from qf_testing import aoc_calibration_dir  # noqa: E402


def test_alias_bomb_refused_while_composing(tmp_path):
    lines = ["a0: &a0 [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i-1}"] * 10) + "]" for i in range(1, 9)]   # 1e9 numbers
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    t = time.perf_counter()
    with pytest.raises(ValueError, match="bomb.yaml.*expands to more than 1000000 values"):
        load_yaml("f()", p)
    assert time.perf_counter() - t < 2.0
    p.write_text("a: &r [1, *r]\n")                                # recursive data
    with pytest.raises(ValueError, match="alias \\*r refers to a collection that contains it"):
        load_yaml("f()", p)


def test_aliases_of_ordinary_dumps_still_load(tmp_path):
    shared = [0.0, 1.0, 0.0]
    p = tmp_path / "ok.yaml"
    p.write_text(yaml.safe_dump({"m": [shared, shared], "n": 2}))     # safe_dump writes &id001 / *id001
    assert "*id001" in p.read_text()
    assert load_yaml("f()", p) == {"m": [shared, shared], "n": 2}
    p.write_text("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")    # merge keys
    assert load_yaml("f()", p)["other"] == {"x": 1, "y": 2}


def test_non_utf8_and_deep_nesting_name_the_file(tmp_path):
    p = tmp_path / "calib.yaml"
    p.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(HardwareFileError, match="calib.yaml' is not UTF-8"):
        AOCHardware.from_yaml(p)
    p.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(HardwareFileError, match="calib.yaml"):
        AOCHardware.from_yaml(p)


def test_absurd_calibration_value_names_the_key(tmp_path):
    if not aoc_calibration_dir():
        pytest.skip("shared/data/aoc_hardware absent")
    d = yaml.safe_load(open(f"{aoc_calibration_dir()}/June2024_saturation_pieces_clip2p6.yaml"))
    d["led_poly_coeffs_pos"] = [1e308, 1e308, 1.0, 0.0]
    p = tmp_path / "hw.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(HardwareFileError, match="hw.yaml', key 'led_poly_coeffs_pos' .*\\|value\\| <= 1e\\+06"):
        AOCHardware.from_yaml(p)


def test_profile_built_in_python_refuses_absurd_values_naming_the_field():
    import numpy as np
    with pytest.raises(ValueError, match="argument 'led_pos' must be finite with \\|value\\| <= 1e\\+06"):
        AOCHardware(16, led_pos=np.array([1e308, 0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="argument 'cl_ratio'"):
        AOCHardware(16, cl_ratio=float("nan"))


def test_reading_a_calibration_file_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys\nfrom quaton_fast.aoc.hardware import AOCHardware\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
