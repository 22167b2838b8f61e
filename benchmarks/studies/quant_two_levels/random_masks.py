"""Baseline: accuracy of UNTRAINED random masks (binary {0, π} and continuous) on the tiny config.
If random binary networks already sit below 10 %, below-chance is a property of the
detector geometry + phase-object encoding, not of training."""
import math, time, numpy as np, torch
from quaton_fast import quant
from quaton_fast.nn import D2NN
from quaton_fast.data.mnist import load_mnist
torch.set_num_threads(1); t0 = time.time()
xt, yt = load_mnist("test")
XT = torch.tensor(xt[:2000], dtype=torch.float32); YT = torch.tensor(yt[:2000]).long()
N, L = 32, 3
res = {}
for kind in ("binary", "continuous"):
    accs = []
    for seed in range(20):
        net = D2NN.preset("visible-128", n=N, num_layers=L, object_size=N, quantizer=quant.STE(2) if kind == "binary" else quant.FullPrecision(), seed=seed).eval()
        with torch.no_grad(): p = net(net.encode(XT)).argmax(-1)
        accs.append(float((p == YT).float().mean()))
    a = np.array(accs); res[kind] = a
    print(f"random {kind} masks, 20 seeds: accuracy mean {a.mean():.3f}, min {a.min():.3f}, max {a.max():.3f}, "
          f"share below 0.09: {np.mean(a < 0.09):.2f}")
print(f"{time.time() - t0:.0f} s")
