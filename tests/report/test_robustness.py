"""Robustness sweeps of a trained run, train --fab-* options, and the export / robustness commands."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from quaton_fast.cli import main
from quaton_fast.nn.fabrication_errors import FabricationErrors

pytest.importorskip("mlxtend")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rb") / "run"
    rc = main(["train", "--task", "mnist-5k", "--quantizer", "pq", "--levels", "4", "--neurons", "24",
               "--layers", "2", "--object-size", "20", "--epochs", "1", "--warmup", "1", "--train-limit", "300",
               "--test-limit", "200", "--out", str(out), "--no-progress", "--no-plots"])
    assert rc == 0
    return out


def test_size_zero_reproduces_the_runs_test_accuracy_and_errors_cost_accuracy(run_dir, capsys):
    assert main(["robustness", str(run_dir), "--kind", "shift", "--sizes", "0,2", "--draws", "3",
                 "--no-plots"]) == 0
    assert f"wrote {run_dir / 'figures' / 'robustness_shift.json'}" in capsys.readouterr().out
    rep = json.loads((run_dir / "figures" / "robustness_shift.json").read_text())
    recorded = json.loads((run_dir / "result.json").read_text())["metrics"]["test_accuracy"]
    zero, two = rep["rows"]
    assert zero["size"] == 0 and zero["draws"] == 1 and zero["accuracy_mean"] == recorded
    assert two["draws"] == 3 and len(set(two["per_draw"])) > 1      # three different devices
    assert two["accuracy_mean"] < recorded                           # 2-pitch misalignment hurts
    assert rep["n_test"] == 200 and rep["command"].startswith("quaton-fast robustness")
    # same seed, same devices
    assert main(["robustness", str(run_dir), "--kind", "shift", "--sizes", "0,2", "--draws", "3",
                 "--no-plots"]) == 0
    assert json.loads((run_dir / "figures" / "robustness_shift.json").read_text())["rows"] == rep["rows"]
    assert not (run_dir / "robustness_shift.json").exists()      # nothing beside the run's own files


def test_frozen_realisation_is_used_in_every_forward():
    import quaton_fast as qf
    net = qf.nn.D2NN.preset("visible-128", n=16, num_layers=2, object_size=8, seed=0).eval()
    x = net.encode(torch.rand(2, 8, 8))
    clean = net(x)
    e = FabricationErrors(phase=0.5, shift=net.dx).sample(2, 16, generator=torch.Generator().manual_seed(1))
    net.use_sampled_errors(e)
    a, b = net(x), net(x)
    assert torch.equal(a, b) and not torch.allclose(a, clean)
    net.use_sampled_errors(None)
    assert torch.equal(net(x), clean)


def test_training_with_errors_records_them_and_bad_options_are_one_line(tmp_path, capsys):
    out = tmp_path / "vacc"
    assert main(["train", "--task", "mnist-5k", "--quantizer", "fp", "--neurons", "16", "--layers", "1",
                 "--object-size", "12", "--epochs", "1", "--train-limit", "100", "--test-limit", "50",
                 "--fab-shift", "0.5", "--fab-phase", "0.1", "--out", str(out), "--no-progress", "--no-plots"]) == 0
    cfg = json.loads((out / "result.json").read_text())["config"]
    assert cfg["fab_shift"] == 0.5 and cfg["fab_phase"] == 0.1 and cfg["fab_distribution"] == "uniform"
    capsys.readouterr()
    for argv, opt in ((["train", "--task", "mnist-5k", "--fab-dz=-1"], "--fab-dz"),
                      (["robustness", str(out), "--kind", "shift", "--sizes", "0,nan"], "--sizes"),
                      (["robustness", str(out), "--kind", "tilt", "--sizes", "1"], "--kind"),
                      (["export", str(tmp_path / "none.npz"), "--out", str(tmp_path), "--base", "0"], "--base")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and opt in err[0], err
    assert main(["robustness", str(tmp_path), "--kind", "shift", "--sizes", "1"]) == 2
    assert "checkpoint.pt" in capsys.readouterr().err


def test_export_command_writes_files_that_read_back(run_dir, tmp_path):
    pytest.importorskip("stl")
    pytest.importorskip("gdstk")
    from quaton_fast.export import read_levels_gds, read_relief_stl
    assert main(["export", str(run_dir / "masks.npz"), "--out", str(tmp_path / "fab"), "--base", "1e-6",
                 "--unit", "um"]) == 0
    z = np.load(run_dir / "masks.npz")
    h = z["heights"]
    for l in range(h.shape[0]):
        back = read_relief_stl(tmp_path / "fab" / f"layer_{l}.stl")
        assert np.abs(back["heights"] - h[l]).max() <= 1e-6 * (1e-6 + h.max())
    g = read_levels_gds(tmp_path / "fab" / "masks.gds", float(z["dx"]))
    np.testing.assert_allclose(g["heights"], h, rtol=1e-9, atol=1e-18)
