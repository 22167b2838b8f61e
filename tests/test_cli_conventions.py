"""Command-line conventions (issue 25, findings 8, 9, 12, 13): every command in the top-level
--help; every option with help text and its default; one vocabulary (--neurons, --num-layers);
errors name the command-line option and exit 2; default run names that tell runs apart;
progress bars redrawn at most ~10 times a second with the current loss, without host syncs."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest
import torch

from quaton_fast.cli import COMMANDS, build_parser, main
from quaton_fast.cli.app import HelpFormatter

TRAIN = ["train", "--task", "mnist-5k", "--neurons", "16", "--object-size", "16", "--layers", "1", "--epochs", "1",
         "--train-limit", "32", "--test-limit", "16", "--no-progress", "--no-plots"]


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_command_is_listed_in_the_top_level_help():
    text = build_parser().format_help()
    names = list(_subparsers())
    assert sorted(names) == sorted(["demo", "info", "train", "sweep", "aoc-train", "solve", "export", "robustness"])
    assert [c for c, _, _ in COMMANDS] == names
    for name in names:
        assert f"\n    {name}" in text, f"{name} missing from quaton-fast --help"
    assert "``" not in text


@pytest.mark.parametrize("command", [c for c, _, _ in COMMANDS])
def test_every_option_has_help_and_shows_its_default(command):
    sp = _subparsers()[command]
    fmt = HelpFormatter("quaton-fast")
    missing = []
    for action in sp._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        text = fmt._get_help_string(action) or ""
        if not text.strip():
            missing.append(f"{action.option_strings or action.dest}: no help")
        takes_value = action.option_strings and action.nargs != 0
        if takes_value and not action.required and "default" not in text:
            missing.append(f"{action.option_strings}: default not shown")
    assert not missing, f"quaton-fast {command}: " + "; ".join(missing)
    rendered = sp.format_help()           # every %(default)s expands
    assert "%(" not in rendered


@pytest.mark.parametrize("command, words, dest, value", [
    ("demo", ["--neurons", "20"], "n", 20), ("demo", ["--n", "20"], "n", 20),
    ("demo", ["--num-layers", "3"], "layers", 3), ("demo", ["--layers", "3"], "layers", 3),
    ("train", ["--task", "mnist", "--num-layers", "3"], "layers", 3),
    ("train", ["--task", "mnist", "--neurons", "20"], "n", 20), ("train", ["--task", "mnist", "--n", "20"], "n", 20),
    ("sweep", ["--num-layers", "3"], "layers", 3), ("sweep", ["--n", "20"], "n", 20),
])
def test_one_vocabulary_with_aliases(command, words, dest, value):
    args = build_parser().parse_args([command, *words])
    assert getattr(args, dest) == value


def test_errors_name_the_option_not_the_function(tmp_path, capsys):
    assert main(TRAIN + ["--epochs", "1", "--warmup", "3", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("quaton-fast train: error: argument --warmup must be <= "), err
    assert "RunConfig" not in err and "'warmup'" not in err
    assert not (tmp_path / "a").exists()


def test_default_run_names_tell_runs_apart(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(TRAIN + ["--quantizer", "fp"]) == 0
    assert main(TRAIN + ["--quantizer", "fp", "--seed", "1"]) == 0      # was refused: "already holds a finished run"
    out = capsys.readouterr().out
    runs = sorted(p.name for p in (tmp_path / "runs" / "mnist-5k").iterdir())
    assert len(runs) == 2, runs
    assert runs[0].startswith("fp-n16-layers1-seed0-") and runs[1].startswith("fp-n16-layers1-seed1-"), runs
    assert "-L" not in runs[0]                                         # FP has no level count
    for name in runs:
        assert (tmp_path / "runs" / "mnist-5k" / name / "result.json").is_file()
        assert f"wrote {Path('runs') / 'mnist-5k' / name / 'result.json'}" in out
    # the same settings find the same directory: a finished run is never overwritten, the option is named
    assert main(TRAIN + ["--quantizer", "fp"]) == 2
    err = capsys.readouterr().err
    assert "argument --out" in err and "already holds a finished run" in err and "out_dir" not in err
    # levels are part of a QAT run's name
    cfg_a = build_parser().parse_args(TRAIN[:1] + ["--task", "mnist", "--levels", "4"])
    cfg_b = build_parser().parse_args(TRAIN[:1] + ["--task", "mnist", "--levels", "8"])
    from quaton_fast.cli.train import config_from_args, default_run_dir
    a, b = default_run_dir(config_from_args(cfg_a)), default_run_dir(config_from_args(cfg_b))
    assert a.name.startswith("psq-ft-L4-n128-layers8-seed0-") and b.name.startswith("psq-ft-L8-")


class _Bar:
    disable = False

    def __init__(self):
        self.shown = []

    def set_postfix(self, values, refresh=True):
        self.shown.append((time.monotonic(), values["loss"]))


def test_live_loss_updates_at_most_ten_times_a_second_and_shows_the_current_loss():
    from quaton_fast._progress import REFRESH_S, LiveLoss
    bar = _Bar()
    live = LiveLoss(bar)
    total, count = torch.zeros((), dtype=torch.float64), 0
    t_end = time.monotonic() + 0.55
    steps = 0
    while time.monotonic() < t_end:
        total += 2.0
        count += 1
        steps += 1
        live.update(total, count)
    assert steps > 100                               # many steps, few redraws
    assert 2 <= len(bar.shown) <= 0.55 / REFRESH_S + 1, len(bar.shown)
    gaps = [b[0] - a[0] for a, b in zip(bar.shown, bar.shown[1:])]
    assert min(gaps) >= REFRESH_S * 0.99
    assert bar.shown[-1][1] == "2.0000"              # the running mean loss, not a stale one
    quiet = _Bar()
    quiet.disable = True
    LiveLoss(quiet).update(total, count)
    assert quiet.shown == []


def test_progress_bar_refresh_is_time_based():
    from quaton_fast._progress import REFRESH_S, bar
    b = bar(range(3), description="x", show=True)
    assert b.mininterval == REFRESH_S and b.miniters == 1
    b.close()


@pytest.mark.cuda
def test_live_loss_makes_no_host_sync_on_cuda():
    from quaton_fast._progress import LiveLoss
    bar = _Bar()
    live = LiveLoss(bar, refresh_s=0.0)
    total = torch.zeros((), dtype=torch.float64, device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(1, 200):
            total += 1.5
            live.update(total, step)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    live.update(total, 199)
    assert bar.shown and bar.shown[-1][1] == "1.5000"
