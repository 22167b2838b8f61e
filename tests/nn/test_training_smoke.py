"""A short end-to-end training run: a small D2NN learns a 2-class toy task well above chance."""
import numpy as np
import torch

from quaton_fast import quant
from quaton_fast.nn import D2NN
from quaton_fast.train.classify import evaluate_accuracy, train_classifier


def _toy_task(count, seed):
    # class 0: a bright bar in the left half, class 1: in the right half (phase objects)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    images = np.zeros((count, 12, 12), np.float32)
    for i, c in enumerate(labels):
        col = rng.integers(1, 4) + (6 if c else 0)
        images[i, 2:10, col:col + 2] = 1.0
    return torch.from_numpy(images), torch.from_numpy(labels)


def test_psq_training_beats_chance_with_hard_masks():
    train, test = _toy_task(256, 0), _toy_task(128, 1)
    model = D2NN(n=16, dx=316.4e-9, wavelength=632.8e-9, num_layers=2, z_in=2e-6, dz=2e-6, z_out=3e-6,
                 num_classes=2, detector_size=3, object_size=12, seed=0, quantizer=quant.FullPrecision())
    before = evaluate_accuracy(model, *test)
    res = train_classifier(model, train, test, epochs=4, warmup_epochs=2, quantizer=quant.PSQ(4),
                           batch_size=32, lr=0.1, progress=False)
    assert res.test_accuracy >= 0.85, (before, res.test_accuracy)
    assert [h["phase"] for h in res.history] == ["warmup", "warmup", "qat", "qat"]
    assert res.history[-1]["loss"] < res.history[0]["loss"]
