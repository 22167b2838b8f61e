"""An interrupted run resumed from its checkpoint ends exactly where an uninterrupted run ends."""
from __future__ import annotations

import json

import pytest
import torch

from quaton_fast.train import run_classify
from quaton_fast.train.checkpoint import load_checkpoint
from quaton_fast.train.config import RunConfig

from qf_testing import Interrupted, interrupt_after


def _cfg(quantizer: str) -> RunConfig:
    return RunConfig(task="toy", quantizer=quantizer, levels=4, n=20, layers=2, object_size=14, pad=2,
                     epochs=3, warmup=1, batch=16, lr=0.1, seed=3, train_limit=64, test_limit=32, plots=False)


# GS draws Gumbel noise from the global RNG (RNG state must be restored); PSQ-LT adds the κ
# parameters at the FP -> QAT switch (the optimizer must be rebuilt the same way).
@pytest.mark.parametrize("quantizer,stop_after", [("gs", 2), ("psq-lt", 1)])
def test_resume_equals_uninterrupted(toy_task, tmp_path, monkeypatch, quantizer, stop_after):
    cfg = _cfg(quantizer)
    full = run_classify.run_classification(cfg, toy_task, tmp_path / "full", progress=False)

    with monkeypatch.context() as m:
        interrupt_after(m, run_classify, "train_one_epoch", stop_after)
        with pytest.raises(Interrupted):
            run_classify.run_classification(cfg, toy_task, tmp_path / "cut", progress=False)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == stop_after
    assert not (tmp_path / "cut" / "result.json").exists()
    torch.manual_seed(12345)  # a resumed process starts with another global RNG state
    resumed = run_classify.run_classification(cfg, toy_task, tmp_path / "cut", resume=True, progress=False)

    assert resumed["resumed_after_epoch"] == stop_after
    assert resumed["metrics"]["test_accuracy"] == full["metrics"]["test_accuracy"]
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in full["history"]]
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    saved = json.loads((tmp_path / "cut" / "result.json").read_text())
    assert saved["metrics"] == resumed["metrics"]


def test_resume_refuses_other_settings_and_existing_dir(toy_task, tmp_path):
    cfg = _cfg("ste")
    cfg.epochs, cfg.warmup = 1, 0
    run_classify.run_classification(cfg, toy_task, tmp_path / "r", progress=False)
    with pytest.raises(FileExistsError, match="finished run"):
        run_classify.run_classification(cfg, toy_task, tmp_path / "r", progress=False)
    other = _cfg("ste")
    other.epochs, other.warmup, other.lr = 1, 0, 0.5
    with pytest.raises(ValueError, match="lr"):
        run_classify.run_classification(other, toy_task, tmp_path / "r", resume=True, progress=False)
