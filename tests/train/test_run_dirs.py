"""Run directories of `quaton-fast train`: a finished run is never overwritten (case rel04), the
settings record refuses a resume with other settings, the lock keeps a second trainer out (rel26),
and temporaries of killed writes are removed when the run starts again (rel25)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from quaton_fast._rundir import read_settings, settings_fingerprint
from quaton_fast.cli import main
from quaton_fast.train.config import RunConfig

from conftest import TINY  # tests/train/conftest.py


def _argv(out, *extra):
    return ["train", "--task", "toy", *TINY, "--epochs", "2", "--warmup", "1", "--out", str(out), "--device", "cpu",
            "--no-progress", "--no-plots", *extra]


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    return err[0]


def test_finished_run_is_never_overwritten(toy_task, tmp_path, capsys):
    out = tmp_path / "done"
    assert main(_argv(out)) == 0
    capsys.readouterr()
    before = (out / "result.json").read_bytes()
    masks = (out / "masks.npz").read_bytes()
    # (b) --resume with the same settings on the intact finished run: nothing to do, exit 0
    assert main(_argv(out, "--resume")) == 0
    assert "already holds this run's result" in capsys.readouterr().out
    assert (out / "result.json").read_bytes() == before
    # (a) checkpoint removed, other settings: refused with and without --resume, naming the settings
    os.remove(out / "checkpoint.pt")
    other = ["--quantizer", "ste", "--epochs", "1", "--warmup", "0"]
    for extra in ([], ["--resume"]):
        assert main(_argv(out, *extra, *other)) == 2
        line = _err_line(capsys)
        assert str(out) in line and "finished run" in line
        if extra:
            assert "quantizer 'psq-ft' -> 'ste'" in line and "epochs 2 -> 1" in line
    # same settings, no checkpoint, --resume: still nothing retrained
    assert main(_argv(out, "--resume")) == 0
    assert (out / "result.json").read_bytes() == before and (out / "masks.npz").read_bytes() == masks
    assert not (out / "checkpoint.pt").exists()


def test_settings_record_and_resume_with_other_settings(toy_task, tmp_path, capsys):
    out = tmp_path / "r"
    cut = ["--epochs", "2", "--warmup", "1"]
    assert main(_argv(out, *cut)) == 0
    rec = json.loads((out / "settings.json").read_text())
    cfg = RunConfig.from_dict(json.loads((out / "result.json").read_text())["config"])
    assert rec["settings"] == json.loads(json.dumps(cfg.training_settings()))
    assert rec["fingerprint"] == settings_fingerprint(cfg.training_settings())
    assert "device" not in rec["settings"] and rec["settings"]["lr"] == 0.1
    # an interrupted run (no result yet) resumed with another batch: refused, one line naming it
    os.remove(out / "result.json")
    assert main(_argv(out, "--resume", "--batch", "8")) == 2
    line = _err_line(capsys)
    assert line.startswith("quaton-fast train: error:") and "batch 16 -> 8" in line
    assert read_settings(out / "settings.json")["batch"] == 16  # the record is not rewritten
    # a directory of an older version (no settings record): the checkpoint's own config is compared
    os.remove(out / "settings.json")
    assert main(_argv(out, "--resume", "--batch", "8")) == 2
    line = _err_line(capsys)
    assert "cannot resume" in line and "batch 16 -> 8" in line


def test_second_trainer_on_a_locked_directory_is_refused(toy_task, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from quaton_fast._rundir import run_lock\n"
         "with run_lock(sys.argv[1], func='t', what='x'):\n    print('locked', flush=True); time.sleep(60)",
         str(out / "run.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(_argv(out)) == 2
        line = _err_line(capsys)
        assert f"run directory {out}" in line and f"pid {holder.pid}" in line and "in use" in line
        assert not (out / "settings.json").exists()
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the dead holder's lock: the directory is usable at once
    assert main(_argv(out)) == 0


def test_temporaries_of_a_killed_write_are_removed_on_resume(toy_task, tmp_path):
    out = tmp_path / "k"
    out.mkdir()
    # a writer killed (SIGKILL) in the middle of an atomic write into the run directory
    code = ("import os, signal, sys\nfrom quaton_fast._atomic import atomic_path\n"
            "with atomic_path(os.path.join(sys.argv[1], 'checkpoint.pt')) as tmp:\n"
            "    open(tmp, 'wb').write(b'half a checkpoint'); os.kill(os.getpid(), signal.SIGKILL)")
    r = subprocess.run([sys.executable, "-c", code, str(out)])
    assert r.returncode == -9
    left = [f for f in os.listdir(out) if f.startswith(".")]
    assert len(left) == 1 and left[0].startswith(".checkpoint.pt.")
    assert main(_argv(out, "--resume")) == 0
    assert [f for f in os.listdir(out) if f.startswith(".")] == []


def test_lock_file_is_removed_when_the_run_ends(tmp_path):
    """A finished run leaves no empty run.lock behind (issue 25 item 12); a second holder is refused
    while the first holds it, and can lock again afterwards."""
    from quaton_fast._rundir import RunDirectoryBusy, run_lock
    lock = tmp_path / "run.lock"
    with run_lock(lock, func="t", what="x"):
        assert lock.is_file()
        with pytest.raises(RunDirectoryBusy, match="in use by another run"):
            with run_lock(lock, func="t", what="x"):
                pass
        assert lock.is_file()
    assert not lock.exists()
    with run_lock(lock, func="t", what="x"):
        assert lock.is_file()
    assert not lock.exists()
