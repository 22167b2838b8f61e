"""The demo shares one full-precision warm-up between its methods (issue 25, finding 2).

Truth used: a QAT run that resumes from the FP run's snapshot must give exactly what the same
run trained from scratch gives (warm-up included); PQ must be the final FP model rounded to the
nearest level, checked against a NumPy rounding of the FP phases.
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch

from quaton_fast import quant
from quaton_fast.nn import D2NN
from quaton_fast.train.classify import train_classifier


def _toy_task(count, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    images = np.zeros((count, 12, 12), np.float32)
    for i, c in enumerate(labels):
        col = rng.integers(1, 4) + (6 if c else 0)
        images[i, 2:10, col:col + 2] = 1.0
    return torch.from_numpy(images), torch.from_numpy(labels)


def _model():
    return D2NN(n=16, dx=316.4e-9, wavelength=632.8e-9, num_layers=2, z_in=2e-6, dz=2e-6, z_out=3e-6,
                num_classes=2, detector_size=3, object_size=12, seed=0, quantizer=quant.FullPrecision())


def test_resume_from_fp_snapshot_equals_training_from_scratch():
    train, test = _toy_task(96, 0), _toy_task(32, 1)
    kw = dict(batch_size=32, lr=0.1, seed=3, progress=False)
    scratch = _model()
    ref = train_classifier(scratch, train, test, epochs=3, warmup_epochs=2, quantizer=quant.PSQ(4), **kw)
    fp = train_classifier(_model(), train, test, epochs=3, snapshot_epoch=2, **kw)
    assert fp.snapshot is not None and fp.snapshot.epoch == 2
    resumed = _model()
    out = train_classifier(resumed, train, test, epochs=3, warmup_epochs=2, quantizer=quant.PSQ(4),
                           resume=fp.snapshot, **kw)
    assert [h["epoch"] for h in out.history] == [2]
    assert out.history[0]["loss"] == ref.history[2]["loss"]
    assert out.test_accuracy == ref.test_accuracy
    for a, b in zip(scratch.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # the FP run's own first two epochs are the warm-up the scratch run trained
    assert [h["loss"] for h in fp.history[:2]] == [h["loss"] for h in ref.history[:2]]


def test_resume_refuses_a_snapshot_from_another_epoch():
    train, test = _toy_task(32, 0), _toy_task(8, 1)
    fp = train_classifier(_model(), train, test, epochs=1, snapshot_epoch=1, batch_size=32, progress=False)
    with pytest.raises(ValueError, match="resume"):
        train_classifier(_model(), train, test, epochs=3, warmup_epochs=2, quantizer=quant.PSQ(4),
                         resume=fp.snapshot, progress=False)
    with pytest.raises(ValueError, match="snapshot_epoch"):
        train_classifier(_model(), train, test, epochs=1, snapshot_epoch=2, progress=False)


def _demo_args(**over):
    from quaton_fast.cli import build_parser
    args = build_parser().parse_args(["demo", "--n", "16", "--object-size", "8", "--layers", "1",
                                      "--epochs", "2", "--warmup", "1", "--limit", "64", "--no-progress",
                                      "--device", "cpu"])
    for k, v in over.items():
        setattr(args, k, v)
    return args


def test_demo_trains_the_warmup_once_and_pq_is_the_rounded_fp_model(monkeypatch, capsys):
    from quaton_fast.cli import demo
    from quaton_fast.train import classify
    calls, models = [], {}
    real = classify.train_classifier

    def spy(model, *a, **kw):
        res = real(model, *a, **kw)
        calls.append((kw.get("description"), kw.get("resume") is not None, [h["epoch"] for h in res.history]))
        models[kw.get("description")] = model
        return res
    monkeypatch.setattr(demo, "train_classifier", spy)
    rounded = {}
    real_eval = demo.evaluate_accuracy

    def spy_eval(model, *a, **kw):
        rounded["phases"] = model.hard_quantized_phases().numpy()
        return real_eval(model, *a, **kw)
    monkeypatch.setattr(demo, "evaluate_accuracy", spy_eval)
    rows = demo.run_demo(_demo_args())
    # FP trains epochs 0 and 1; PSQ-FT only epoch 1 (QAT), starting from FP's state after epoch 0
    assert calls == [("FP", False, [0, 1]), ("PSQ-FT", True, [1])]
    assert [r["method"] for r in rows] == ["FP", "PQ", "PSQ-FT"]
    # PQ: the trained FP phases rounded to the nearest of 4 levels {0, π/2, π, 3π/2} (NumPy truth)
    step = 2 * math.pi / 4
    latent = torch.stack([l.latent.detach() for l in models["FP"].layers]).numpy()
    expect = (np.round(np.mod(latent, 2 * math.pi) / step) % 4) * step
    np.testing.assert_allclose(rounded["phases"], expect, atol=1e-5)
    out = capsys.readouterr().out
    assert "| method | levels | test accuracy (hard-quantized masks) | train time |" in out


def test_demo_is_deterministic_for_a_seed():
    from quaton_fast.cli import demo
    a = demo.run_demo(_demo_args())
    b = demo.run_demo(_demo_args())
    assert [r["accuracy"] for r in a] == [r["accuracy"] for r in b]
