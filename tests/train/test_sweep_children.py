"""A killed sweep takes its trainer with it, and one run directory admits one trainer (case rel26)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from quaton_fast import sweep

PARENT = """
import subprocess, sys
from quaton_fast.sweep import _die_with_parent
import os
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=_die_with_parent(os.getpid()))
print(child.pid, flush=True)
child.wait()
"""


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_child_dies_when_the_sweep_is_killed():
    assert sweep._die_with_parent(os.getpid()) is not None
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _alive(child)
    os.kill(parent.pid, signal.SIGKILL)          # `kill -9 PID` of the sweep only
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child), "the trainer outlived its sweep"


def test_execute_passes_the_death_signal_to_the_trainer(tmp_path, monkeypatch):
    seen = {}

    def fake_call(cmd, **kw):
        seen.update(kw)
        return 0
    monkeypatch.setattr(sweep.subprocess, "call", fake_call)
    run = sweep.PlannedRun("t/fp", 0, "t", "fp", None, ("train", "--task", "t"))
    assert sweep.execute(run, tmp_path, type("A", (), {"device": "cpu"})()) == 0
    if sys.platform.startswith("linux"):
        assert callable(seen["preexec_fn"])
