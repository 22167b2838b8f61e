import time

import numpy as np
import torch

from quaton_fast.aoc.train import build_model, evaluate, train
from quaton_fast.data.mnist import regression_dataset


def test_gauss_regression_learns(tmp_path):
    t0 = time.time()
    (xt, yt), (xs, ys) = regression_dataset("gauss", n_train=2000)
    m = build_model("gauss", 256, seed=0)
    train(m, torch.from_numpy(xt), torch.from_numpy(yt), regression=True, epochs=100, lr=1e-2,
          max_steps=400, checkpoint=str(tmp_path / "ck.pt"), progress=False)
    mse = evaluate(m, torch.from_numpy(xs), torch.from_numpy(ys), True)
    assert mse < 0.3 * float(np.var(ys)), (mse, np.var(ys))
    assert evaluate(m, torch.from_numpy(xs), torch.from_numpy(ys), True, "maxabs") < 0.5 * float(np.var(ys))
    assert (tmp_path / "ck.pt").exists() and time.time() - t0 < 30
