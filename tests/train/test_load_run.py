"""A trained run back in Python (issue 25): qf.load_run rebuilds the network the run tested, and
the checkpoint loads with plain torch.load (weights_only=True, PyTorch's default)."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import quaton_fast as qf
from quaton_fast.train import run_classify
from quaton_fast.train.checkpoint import restore_rng_state, rng_state
from quaton_fast.train.config import RunConfig
from quaton_fast.train.epochs import evaluate

from conftest import load_toy


@pytest.mark.parametrize("quantizer", ["psq-lt", "pq"])
def test_load_run_reproduces_the_test_accuracy(toy_task, tmp_path, quantizer):
    cfg = RunConfig(task="toy", quantizer=quantizer, levels=4, n=20, layers=2, object_size=14, pad=2, epochs=2,
                    warmup=1, batch=16, lr=0.1, seed=5, train_limit=64, test_limit=48, plots=False)
    res = run_classify.run_classification(cfg, toy_task, tmp_path / "r", progress=False)
    net = qf.load_run(tmp_path / "r")
    assert not net.training and net.run_config.quantizer == quantizer
    data = load_toy(cfg)
    test = evaluate(net, data.test_x, data.test_y, device=torch.device("cpu"), num_classes=10)
    assert test["accuracy"] == res["metrics"]["test_accuracy"]
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt")          # PyTorch's default: weights_only=True
    assert set(ckpt["model"]) == set(net.state_dict()) and ckpt["num_classes"] == 10


def test_load_run_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint.pt does not exist"):
        qf.load_run(tmp_path)
    torch.save({"model": {}, "config": {}}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"checkpoint.pt is not a checkpoint of `quaton-fast train` \(no 'kind'\)"):
        qf.load_run(tmp_path)


def test_rng_state_round_trip_new_and_old_format():
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    st = rng_state()
    old = dict(st, numpy=np.random.get_state())      # checkpoints before the NumPy state was a dict
    want = (torch.rand(3), np.random.rand(3), random.random())
    for state in (st, old):
        restore_rng_state(state)
        got = (torch.rand(3), np.random.rand(3), random.random())
        assert torch.equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]
