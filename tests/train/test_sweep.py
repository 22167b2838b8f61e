"""`quaton-fast sweep`: the plan shares the FP warm-up; a killed sweep resumes without redoing runs."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from quaton_fast import sweep
from quaton_fast.cli import sweep as sweep_cli

GRID = ["--tasks", "mnist-5k", "--methods", "fp", "psq-ft", "--levels", "2", "--warmup", "1",
        "--qat-epochs", "1", "--neurons", "20", "--layers", "2", "--object-size", "14", "--batch", "16", "--lr", "0.1",
        "--train-limit", "48", "--test-limit", "24", "--device", "cpu", "--no-plots"]


def _args(argv):
    p = argparse.ArgumentParser()
    sweep_cli.add_arguments(p)
    return p.parse_args(argv)


def test_plan_shares_the_fp_warmup(tmp_path):
    runs = sweep.plan(_args(["--tasks", "mnist", "fashion", "--methods", "fp", "pq", "ste", "psq-lt",
                             "--levels", "4", "2", "--warmup", "3", "--qat-epochs", "2", "--root", str(tmp_path)]))
    names = [r.name for r in runs]
    assert names[:2] == ["mnist/fp", "fashion/fp"] and [r.stage for r in runs[:2]] == [0, 0]
    assert len(runs) == 2 + 2 * 2 * 3
    assert names[2:5] == ["mnist/pq-L4", "mnist/ste-L4", "mnist/psq-lt-L4"]  # levels in the given order
    fp = runs[0].argv
    assert fp[fp.index("--epochs") + 1] == "5" and fp[fp.index("--snapshot-epochs") + 1] == "3"
    pq = next(r for r in runs if r.name == "fashion/pq-L2").argv
    assert pq[pq.index("--epochs") + 1] == "0"
    assert pq[pq.index("--init-from") + 1] == str(tmp_path / "fashion" / "fp" / "checkpoint.pt")
    lt = next(r for r in runs if r.name == "mnist/psq-lt-L4").argv
    assert lt[lt.index("--epochs") + 1] == "2" and lt[lt.index("--warmup") + 1] == "0"
    assert lt[lt.index("--init-from") + 1] == str(tmp_path / "mnist" / "fp" / "epoch3.pt")
    assert all("--resume" in r.argv for r in runs)


def test_runs_are_spread_over_ranks(tmp_path):
    runs = sweep.plan(_args(["--tasks", "mnist", "fashion", "--levels", "4", "16", "--root", str(tmp_path)]))
    for stage in (0, 1):
        shares = [sweep.runs_for_rank(runs, stage, r, 3) for r in range(3)]
        stage_runs = [r for r in runs if r.stage == stage]
        assert sorted(x.name for s in shares for x in s) == sorted(x.name for x in stage_runs)  # each once
        assert [x.name for x in shares[1]] == [x.name for x in stage_runs[1::3]]
    assert sweep.runs_for_rank(runs, 1, 0, 1) == [r for r in runs if r.stage == 1]


def test_table_formats_accuracy_in_percent_and_other_metrics_as_is():
    from quaton_fast.report.table import markdown
    rec = dict(task="t", split="test", device="cpu", command="c", n_test=10)
    records = [dict(rec, dataset="MNIST", method="FP", levels=None, metric="accuracy", value=0.9),
               dict(rec, dataset="MNIST", method="PQ", levels=4, metric="accuracy", value=0.75),
               dict(rec, dataset="MNIST", method="PSQ-FT", levels=4, metric="accuracy", value=0.85),
               dict(rec, dataset="RBC", method="PSQ-LT", levels=4, metric="ssim", value=0.8123)]
    text = markdown(records, [], "quaton-fast sweep x", [])
    assert "| PQ | 75.00 |" in text and "| FP (continuous phase) | 90.00 |" in text
    assert "### RBC: test ssim" in text and "| PSQ-LT | 0.8123 |" in text
    assert "best PSQ schedule is PSQ-FT: 85.00 % vs PQ 75.00 % (+10.00 points)" in text
    assert "Command: `quaton-fast sweep x`" in text


def test_plan_rejects_bad_qopt(tmp_path, capsys):
    for bad in ("k=3", "psq-ft:k=nan", "bogus:k=1"):
        with pytest.raises(SystemExit):
            _args(["--qopt", bad, "--root", str(tmp_path)])
        assert "argument --qopt: expected" in capsys.readouterr().err
    args = _args(["--root", str(tmp_path)])
    args.qopt = ["k=3"]                       # built without the parser: plan checks it too
    with pytest.raises(ValueError, match="METHOD:KEY=VALUE"):
        sweep.plan(args)


@pytest.mark.slow
def test_killed_sweep_resumes_without_redoing_finished_runs(tmp_path):
    pytest.importorskip("mlxtend")
    root = tmp_path / "sw"
    cmd = [sys.executable, "-m", "quaton_fast.cli", "sweep", *GRID, "--root", str(root)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    fp_result = root / "mnist-5k" / "fp" / "result.json"
    try:
        deadline = time.monotonic() + 120
        while not fp_result.exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the first sweep run did not finish in 120 s"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its training subprocess
        proc.wait(timeout=30)
    first_mtime = fp_result.stat().st_mtime_ns
    assert not (root / "table.md").exists()

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skip mnist-5k/fp (finished)" in done.stdout
    assert fp_result.stat().st_mtime_ns == first_mtime
    assert (root / "mnist-5k" / "fp" / "log.txt").read_text().count("$ quaton-fast train") == 1
    records = json.loads((root / "table.json").read_text())
    assert sorted((r["method"], r["levels"]) for r in records) == [("FP", None), ("PSQ-FT", 2)]
    for r in records:
        assert r["command"].startswith("quaton-fast train --task mnist-5k") and r["split"] == "test"
    table = (root / "table.md").read_text()
    assert "| PSQ-FT |" in table and "quaton-fast sweep" in table


@pytest.mark.slow
def test_sweep_under_torchrun_spreads_runs_over_two_ranks(tmp_path):
    pytest.importorskip("mlxtend")
    launcher = tmp_path / "launch.py"  # torchrun would read options after `-m MODULE` as its own
    launcher.write_text("import sys\nfrom quaton_fast.cli import main\nsys.exit(main())\n")
    root = tmp_path / "sw"
    grid = list(GRID)
    grid[grid.index("--methods") + 1:grid.index("--levels")] = ["fp", "pq", "psq-ft"]
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(launcher), "sweep", *grid, "--root", str(root)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # stage 0: the FP run on rank 0; stage 1: pq-L2 on rank 0, psq-ft-L2 on rank 1 (after the FP run)
    assert "[rank 0] run mnist-5k/fp" in done.stdout and "[rank 1] run mnist-5k/psq-ft-L2" in done.stdout
    assert "[rank 0] run mnist-5k/pq-L2" in done.stdout
    records = json.loads((root / "table.json").read_text())
    assert sorted(r["method"] for r in records) == ["FP", "PQ", "PSQ-FT"]
    assert all(json.loads((root / "mnist-5k" / d / "result.json").read_text())["world_size"] == 1
               for d in ("fp", "pq-L2", "psq-ft-L2"))  # no DDP inside a sweep run


@pytest.mark.slow
def test_qpi_sweep_shares_the_fp_warmup_and_resumes(tmp_path):
    """`sweep --tasks rbc`: FP run with a snapshot at the warm-up epoch, QAT runs start from it,
    PQ rounds the final FP model; records hold SSIM and MSE; a second call redoes nothing."""
    root = tmp_path / "sw"
    cmd = [sys.executable, "-m", "quaton_fast.cli", "sweep", "--tasks", "rbc", "--methods", "fp", "pq", "psq-lt",
           "--levels", "4", "--warmup", "1", "--qat-epochs", "1", "--neurons", "16", "--layers", "2", "--batch", "8",
           "--lr", "0.2", "--train-limit", "24", "--test-limit", "8", "--device", "cpu", "--no-plots",
           "--root", str(root)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "rbc" / "fp" / "epoch1.pt").is_file()
    lt = json.loads((root / "rbc" / "psq-lt-L4" / "result.json").read_text())
    assert lt["config"]["init_from"] == str(root / "rbc" / "fp" / "epoch1.pt")
    assert [h["stage"] for h in lt["history"]] == ["qat"]
    pq = json.loads((root / "rbc" / "pq-L4" / "result.json").read_text())
    assert pq["config"]["init_from"] == str(root / "rbc" / "fp" / "checkpoint.pt") and pq["history"] == []
    records = json.loads((root / "table.json").read_text())
    assert sorted((r["method"], r["metric"]) for r in records) == [
        ("FP", "mse"), ("FP", "ssim"), ("PQ", "mse"), ("PQ", "ssim"), ("PSQ-LT", "mse"), ("PSQ-LT", "ssim")]
    assert all(r["task"] == "qpi" and r["split"] == "test" and r["n_test"] == 8 for r in records)
    table = (root / "table.md").read_text()
    assert "RBC (synthetic): test ssim" in table and "| PSQ-LT |" in table and "1 − SSIM" in table

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("(finished)") == 3
    assert json.loads((root / "table.json").read_text()) == records
