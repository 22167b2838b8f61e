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


# --- temporaries of killed writes (case rel25) ---

_KILLED_WRITE = """
import os, signal, sys
from quaton_fast._atomic import atomic_path
with atomic_path(os.path.join(sys.argv[1], sys.argv[2]), suffix=sys.argv[3]) as tmp:
    open(tmp, 'wb').write(b'partial')
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_write(directory, name, suffix=".tmp"):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", _KILLED_WRITE, str(directory), name, suffix])
    assert r.returncode == -9


def test_next_write_removes_temporaries_of_killed_writers(tmp_path):
    from quaton_fast._atomic import atomic_write_json
    _killed_write(tmp_path, "checkpoint.pt")
    left = [f.name for f in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".checkpoint.pt.qftmp-")
    _killed_write(tmp_path, "masks.npz", ".npz")   # its own start removed the first one
    left = [f.name for f in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".masks.npz.qftmp-") and left[0].endswith(".npz")
    (tmp_path / ".keep.me.tmp").write_text("not ours")        # other names are never touched
    (tmp_path / "sub").mkdir()
    _killed_write(tmp_path / "sub", "fig.png", ".png")
    atomic_write_json({"a": 1}, tmp_path / "result.json")
    assert sorted(f.name for f in tmp_path.iterdir()) == [".keep.me.tmp", "result.json", "sub"]
    assert len(list((tmp_path / "sub").iterdir())) == 1      # only the directory written into


def test_clean_keeps_live_writers_and_other_hosts(tmp_path):
    import os
    import subprocess
    import sys
    from quaton_fast._atomic import _host, atomic_path, clean_stale_temporaries
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        mine = tmp_path / f".a.json.qftmp-{_host()}-{live.pid}.abcd1234.tmp"      # a live writer's file
        other = tmp_path / ".a.json.qftmp-otherhost-1.abcd1234.tmp"             # another machine's
        reused = tmp_path / f".a.json.qftmp-{_host()}-{os.getpid()}.abcd1234.tmp"  # our pid, not in flight
        for p in (mine, other, reused):
            p.write_text("x")
        with atomic_path(tmp_path / "b.json") as tmp:   # its start removes only the stale one
            assert not reused.exists() and mine.exists() and other.exists()
            assert clean_stale_temporaries(tmp_path, recursive=True) == []      # in flight: kept
            assert os.path.exists(tmp)
            open(tmp, "w").write("{}")
        assert (tmp_path / "b.json").read_text() == "{}"
    finally:
        live.kill()
        live.wait()
    assert clean_stale_temporaries(tmp_path) == [str(mine)]                   # its writer is gone now
    assert other.exists()
