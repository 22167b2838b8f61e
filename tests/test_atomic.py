"""The shared atomic writer: whole files or none, plain permissions, no temporary files left."""
import os
import stat

import pytest

from quaton_fast._atomic import atomic_path, atomic_write_json, atomic_write_text


def test_write_replaces_whole_file_with_plain_permissions(tmp_path):
    p = tmp_path / "sub" / "out.json"
    atomic_write_json({"a": 1}, p)
    assert p.read_text() == '{\n  "a": 1\n}\n'
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
    atomic_write_text("new", p)
    assert p.read_text() == "new"
    assert [f.name for f in p.parent.iterdir()] == ["out.json"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "out.png"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(p, suffix=".png") as tmp:
            assert tmp.endswith(".png")
            with open(tmp, "w") as fh:
                fh.write("partial")
            raise RuntimeError("writer failed")
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["out.png"]
