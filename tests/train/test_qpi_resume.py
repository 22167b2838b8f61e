"""QPI runs (`--task rbc`) resume bit-identically, keep snapshots and start from an FP checkpoint;
bad checkpoints (missing, another task kind, another shape, not full precision) fail clearly."""
from __future__ import annotations

import json

import pytest
import torch

from quaton_fast.train import run_qpi
from quaton_fast.train.checkpoint import load_checkpoint
from quaton_fast.train.config import RunConfig

from qf_testing import Interrupted, interrupt_after
from quaton_fast.train.run_classify import run_classification
from quaton_fast.train.tasks import get_task


def _cfg(quantizer: str, **kw) -> RunConfig:
    base = dict(task="rbc", quantizer=quantizer, levels=4, n=16, layers=2, epochs=3, warmup=1, batch=8, lr=0.2,
                seed=2, train_limit=24, test_limit=8, plots=False)
    return RunConfig(**{**base, **kw})


def _same_weights(a_path, b_path) -> None:
    a, b = load_checkpoint(a_path)["model"], load_checkpoint(b_path)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# GS draws Gumbel noise from the global RNG; PSQ-LT adds κ parameters at the FP -> QAT switch;
# stopping after epoch 1 = inside the warm-up, after 2 = inside QAT.
@pytest.mark.parametrize("quantizer,stop_after", [("gs", 2), ("psq-lt", 1)])
def test_qpi_resume_equals_uninterrupted(tmp_path, monkeypatch, quantizer, stop_after):
    cfg, task = _cfg(quantizer), get_task("rbc")
    full = run_qpi.run_qpi(cfg, task, tmp_path / "full", progress=False)
    with monkeypatch.context() as m:
        interrupt_after(m, run_qpi, "train_qpi_epoch", stop_after)
        with pytest.raises(Interrupted):
            run_qpi.run_qpi(cfg, task, tmp_path / "cut", progress=False)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == stop_after
    assert not (tmp_path / "cut" / "result.json").exists()
    torch.manual_seed(12345)  # a resumed process starts with another global RNG state
    resumed = run_qpi.run_qpi(cfg, task, tmp_path / "cut", resume=True, progress=False)

    assert resumed["resumed_after_epoch"] == stop_after
    assert resumed["metrics"] == full["metrics"]
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in full["history"]]
    _same_weights(tmp_path / "full" / "checkpoint.pt", tmp_path / "cut" / "checkpoint.pt")
    saved = json.loads((tmp_path / "cut" / "result.json").read_text())
    assert saved["metrics"] == resumed["metrics"]


def test_qpi_snapshot_and_init_from_continue_the_fp_run(tmp_path):
    """The snapshot after epoch 1 of a 3-epoch FP run is the model of a 1-epoch FP run (batch order
    is a function of (seed, epoch)); --init-from loads it as it is (read-out included, no new
    least-squares fit): evaluating it gives the 1-epoch run's metrics exactly."""
    task = get_task("rbc")
    run_qpi.run_qpi(_cfg("fp", warmup=0, snapshot_epochs=[1]), task, tmp_path / "fp", progress=False)
    one = run_qpi.run_qpi(_cfg("fp", warmup=0, epochs=1), task, tmp_path / "fp1", progress=False)
    snap = tmp_path / "fp" / "epoch1.pt"
    assert load_checkpoint(snap)["epoch"] == 1 and load_checkpoint(snap)["kind"] == "qpi"
    assert load_checkpoint(tmp_path / "fp" / "checkpoint.pt")["epoch"] == 3
    _same_weights(snap, tmp_path / "fp1" / "checkpoint.pt")

    again = run_qpi.run_qpi(_cfg("fp", warmup=0, epochs=0, init_from=str(snap)), task, tmp_path / "eval",
                            progress=False)
    assert again["metrics"] == one["metrics"] and again["readout"] == one["readout"]

    qat = run_qpi.run_qpi(_cfg("psq-ft", warmup=0, epochs=1, init_from=str(snap)), task, tmp_path / "q",
                          progress=False)
    assert [h["stage"] for h in qat["history"]] == ["qat"]

    pq = run_qpi.run_qpi(_cfg("pq", warmup=0, epochs=0, init_from=str(tmp_path / "fp" / "checkpoint.pt")), task,
                         tmp_path / "pq", progress=False)
    assert pq["history"] == [] and pq["levels"] == 4
    assert pq["records"][0]["metric"] == "ssim" and pq["records"][1]["metric"] == "mse"


def test_qpi_bad_init_from_checkpoints_fail_clearly(tmp_path, toy_task):
    task = get_task("rbc")
    with pytest.raises(FileNotFoundError, match=r"run_qpi\(\): checkpoint .*missing.pt does not exist"):
        run_qpi.run_qpi(_cfg("ste", init_from=str(tmp_path / "missing.pt")), task, tmp_path / "a", progress=False)

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        run_qpi.run_qpi(_cfg("ste", init_from=str(tmp_path / "junk.pt")), task, tmp_path / "b", progress=False)

    toy = RunConfig(task="toy", quantizer="fp", n=16, layers=2, object_size=14, epochs=1, warmup=0, batch=16, lr=0.1,
                    train_limit=32, test_limit=16, plots=False)
    run_classification(toy, toy_task, tmp_path / "toy", progress=False)
    with pytest.raises(ValueError, match=r"trained for task 'toy' \(classify\).*needs a qpi checkpoint"):
        run_qpi.run_qpi(_cfg("ste", init_from=str(tmp_path / "toy" / "checkpoint.pt")), task, tmp_path / "c",
                        progress=False)

    run_qpi.run_qpi(_cfg("fp", warmup=0, epochs=1), task, tmp_path / "fp", progress=False)
    with pytest.raises(ValueError, match=r"another geometry: layers=2 \(here 3\)"):
        run_qpi.run_qpi(_cfg("ste", layers=3, init_from=str(tmp_path / "fp" / "checkpoint.pt")), task,
                        tmp_path / "d", progress=False)

    ckpt = load_checkpoint(tmp_path / "fp" / "checkpoint.pt")
    ckpt["model"]["layers.0.latent"] = torch.zeros(8, 8)  # a model saved by other code: wrong tensor shape
    torch.save(ckpt, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=r"'init_from' \(.*odd.pt\) holds a model of another shape"):
        run_qpi.run_qpi(_cfg("ste", init_from=str(tmp_path / "odd.pt")), task, tmp_path / "f", progress=False)

    run_qpi.run_qpi(_cfg("ste", warmup=0, epochs=1), task, tmp_path / "ste", progress=False)
    with pytest.raises(ValueError, match="must be a full-precision checkpoint"):
        run_qpi.run_qpi(_cfg("dsq", init_from=str(tmp_path / "ste" / "checkpoint.pt")), task, tmp_path / "e",
                        progress=False)


def test_qpi_resume_refuses_other_settings_and_existing_dir(tmp_path):
    task = get_task("rbc")
    run_qpi.run_qpi(_cfg("ste", warmup=0, epochs=1), task, tmp_path / "r", progress=False)
    with pytest.raises(FileExistsError, match="finished run"):
        run_qpi.run_qpi(_cfg("ste", warmup=0, epochs=1), task, tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match=r"finished run made with other settings .*lr"):
        run_qpi.run_qpi(_cfg("ste", warmup=0, epochs=1, lr=0.5), task, tmp_path / "r", resume=True, progress=False)
