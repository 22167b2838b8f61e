"""_safe_json.read_json: one ValueError naming the file for every way a JSON record can be bad
(issue 26: unclear errors, files larger than any record, NaN where numbers must be finite)."""
import json

import pytest

from quaton_fast import _safe_json
from quaton_fast._rundir import RunSettingsMismatch, read_settings
from quaton_fast._safe_json import read_json


def _write(tmp_path, data: bytes, name="rec.json"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_reads_what_json_writes(tmp_path):
    obj = {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    assert read_json("f", _write(tmp_path, json.dumps(obj).encode()), nonfinite=False, expect=dict) == obj


@pytest.mark.parametrize("data, words", [
    (b'{"a": 1,\n "b": }', ["rec.json line 2", "malformed JSON"]),
    (b'{"a": "\xff"}', ["rec.json line 1", "not UTF-8", "0xff"]),
    (b"[" * 100_000 + b"]" * 100_000, ["rec.json", "nested too deeply"]),
    (b"[1, 2]", ["rec.json", "expected a JSON object", "got list"]),
])
def test_bad_files_name_the_file(tmp_path, data, words):
    with pytest.raises(ValueError) as e:
        read_json("reader", _write(tmp_path, data), nonfinite=False, expect=dict)
    assert "reader()" in str(e.value)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("const", ["NaN", "Infinity", "-Infinity"])
def test_nonfinite_refused_unless_allowed(tmp_path, const):
    p = _write(tmp_path, f'{{"lr": {const}}}'.encode())
    with pytest.raises(ValueError, match=f"rec.json.*non-finite number {const}"):
        read_json("f", p, nonfinite=False)
    v = read_json("f", p, nonfinite=True)["lr"]
    assert v != v or abs(v) == float("inf")


def test_size_limit_before_reading(tmp_path, monkeypatch):
    p = _write(tmp_path, b"[" + b"1," * 100 + b"1]")
    with pytest.raises(ValueError, match=r"rec.json is 203 bytes, above the limit of 100"):
        read_json("f", p, nonfinite=True, max_bytes=100)
    monkeypatch.setattr(_safe_json, "MAX_JSON_BYTES", 100)
    assert len(read_json("f", p, nonfinite=True, max_bytes=1000)) == 101


def test_settings_record_with_nan_is_refused_with_its_name(tmp_path):
    p = _write(tmp_path, b'{"fingerprint": "x", "settings": {"lr": NaN}}', "settings.json")
    with pytest.raises(RunSettingsMismatch, match="settings.json.*non-finite"):
        read_settings(p)
