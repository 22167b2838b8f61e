"""`quaton-fast` errors are one line `quaton-fast <cmd>: error: ...` (exit 2), never a traceback
(case rel22); --traceback / QUATON_FAST_DEBUG=1 show the traceback; internal errors exit 1."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from quaton_fast.cli import app as cli
from quaton_fast.cli import main


def _one_error_line(capsys, prefix: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


@pytest.fixture
def gset(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("3 2\n1 2 1\n2 3 1\n")
    return p


TRAIN = ["train", "--task", "mnist-5k", "--neurons", "16", "--object-size", "16", "--layers", "1", "--epochs", "1",
         "--warmup", "0", "--train-limit", "32", "--test-limit", "16", "--no-progress", "--no-plots"]


@pytest.mark.parametrize("case, args, names", [
    ("missing file", ["solve", "{d}/nope.txt", "--time", "1s"], ["nope.txt", "does not exist"]),
    ("corrupt file", ["solve", "{d}/bad.txt", "--time", "1s"], ["bad.txt", "header"]),
    ("corrupt npz", ["solve", "{d}/bad.npz", "--time", "1s"], ["bad.npz"]),
    ("time 0", ["solve", "{g}", "--time", "0"], ["argument --time"]),
    ("time -1s", ["solve", "{g}", "--time", "-1s"], ["argument --time"]),
    ("replicas 0", ["solve", "{g}", "--replicas", "0"], ["argument --replicas"]),
    ("seed -1", ["solve", "{g}", "--seed", "-1"], ["argument --seed"]),
    ("target nan", ["solve", "{g}", "--target", "nan"], ["argument --target"]),
    ("device tpu", ["solve", "{g}", "--device", "tpu"], ["argument --device"]),
    ("qopt bogus", TRAIN + ["--qopt", "bogus=1", "--out", "{d}/t1"], ["--qopt", "bogus"]),
    ("data-root honoured", TRAIN + ["--data-root", "{d}/nonexistent", "--out", "{d}/t1"],
     ["--data-root", "nonexistent/mnist_5k.csv.gz does not exist"]),
    ("object larger than the grid", TRAIN + ["--object-size", "20", "--out", "{d}/t1"],
     ["argument --object-size must be <= the grid's 16 neurons", "(--neurons)"]),
    ("qopt keys listed", TRAIN + ["--quantizer", "psq-lt", "--qopt", "temperature=3", "--out", "{d}/t1"],
     ["option 'temperature'", "its options are: lambda1, beta, kappa_init, eps, material_kappa"]),
    ("aoc batch 0", ["aoc-train", "--task", "gauss", "--batch", "0", "--results", "", "--out", "{d}/a"],
     ["argument --batch"]),
    ("aoc device", ["aoc-train", "--task", "gauss", "--device", "gpu0", "--results", "", "--out", "{d}/a"],
     ["--device"]),
    ("sweep qopt", ["sweep", "--tasks", "mnist-5k", "--qopt", "nomethod", "--root", "{d}/s"], ["--qopt"]),
    ("sweep levels", ["sweep", "--levels", "1", "--root", "{d}/s"], ["argument --levels"]),
    ("demo lr", ["demo", "--lr", "inf"], ["argument --lr"]),
    ("demo warmup", ["demo", "--epochs", "1", "--warmup", "3"], ["--warmup"]),
    ("unknown command", ["bogus"], ["invalid choice"]),
])
def test_errors_are_one_line(tmp_path, gset, capsys, case, args, names):
    (tmp_path / "bad.txt").write_text("garbage\nx y\n")
    (tmp_path / "bad.npz").write_bytes(b"\x93NUMPY not really")
    argv = [a.format(d=tmp_path, g=gset) for a in args]
    if argv[0] == "solve":
        argv.append("--no-progress")
    assert main(argv) == 2
    prefix = "quaton-fast" + ("" if case == "unknown command" else f" {argv[0]}") + ": error: "
    line = _one_error_line(capsys, prefix)
    for n in names:
        assert n in line, (n, line)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("argv", [["solve", "{g}", "--time", "1s", "--device", "cuda", "--no-progress"],
                                  TRAIN + ["--device", "cuda", "--out", "{d}/t2"],
                                  ["aoc-train", "--task", "gauss", "--device", "cuda", "--results", "", "--out", "{d}/a"]])
def test_cuda_without_a_gpu_is_one_line(tmp_path, gset, capsys, argv):
    argv = [a.format(d=tmp_path, g=gset) for a in argv]
    assert main(argv) == 2
    line = _one_error_line(capsys, f"quaton-fast {argv[0]}: error: ")
    assert "device" in line and "cuda" in line.lower()
    assert not (tmp_path / "t2").exists()


def test_internal_errors_interrupts_and_traceback(monkeypatch, capsys, tmp_path):
    def boom(args, argv=None):
        raise IndexError("list index out of range")
    monkeypatch.setattr(cli, "_dispatch", boom)
    assert main(["info"]) == 1
    line = _one_error_line(capsys, "quaton-fast info: error: internal error (IndexError")
    assert "--traceback" in line
    with pytest.raises(IndexError):
        main(["info", "--traceback"])
    with pytest.raises(IndexError):
        main(["--traceback", "info"])
    monkeypatch.setenv("QUATON_FAST_DEBUG", "1")
    with pytest.raises(IndexError):
        main(["info"])
    monkeypatch.delenv("QUATON_FAST_DEBUG")

    def interrupted(args, argv=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_dispatch", interrupted)
    assert main(["info"]) == 130
    assert capsys.readouterr().err.strip() == "quaton-fast info: interrupted"


def test_module_entry_point_exit_code_and_stderr(tmp_path):
    r = subprocess.run([sys.executable, "-m", "quaton_fast.cli", "aoc-train", "--task", "gauss", "--batch", "-5",
                        "--results", "", "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == "quaton-fast aoc-train: error: argument --batch: expected an integer >= 1, got '-5'"


def test_defaults_follow_the_other_options(tmp_path):
    """Issue 25 item 8: --neurons 16 without --object-size trains (the object fills the grid), and
    --epochs 1 without --warmup trains (warm-up at most epochs - 1)."""
    from quaton_fast.cli.train import add_arguments, config_from_args
    import argparse
    p = argparse.ArgumentParser()
    add_arguments(p)
    cfg = config_from_args(p.parse_args(["--task", "mnist-5k", "--neurons", "16", "--out", str(tmp_path / "a")]))
    assert cfg.object_size == 16 and cfg.warmup == 3
    cfg = config_from_args(p.parse_args(["--task", "mnist-5k", "--epochs", "1", "--out", str(tmp_path / "b")]))
    assert cfg.warmup == 0 and cfg.object_size is None
    cfg = config_from_args(p.parse_args(["--task", "mnist-5k", "--epochs", "2", "--out", str(tmp_path / "c")]))
    assert cfg.warmup == 1
