"""Does the transmission-domain STE train at 2 levels {0, π}? (issue 18, item 4)

Same tiny CPU set-up as benchmarks/studies/quant_two_levels (MNIST subset, 32×32 neurons, 3
layers, visible-128 preset, FP warm-up then QAT, Adam lr 0.05, batch 64), smaller to fit a minute:
2,000 training / 1,000 test images, 2 FP epochs, 2 QAT epochs. From the same FP model it trains
(a) STE (phase domain, today's), (b) STE(transmission_backward=True, k) for k in K_LIST, and
reports the hard (fabricated-mask) test accuracy at the switch and after each QAT epoch.
Run: OMP_NUM_THREADS=1 python ste_two_levels.py   (quaton_fast importable, MNIST cached)."""
import time

import numpy as np
import torch

from quaton_fast import quant
from quaton_fast.data.mnist import load_mnist
from quaton_fast.nn import D2NN

torch.set_num_threads(1)
t0 = time.time()
N, LAYERS, BS, LR = 32, 3, 64, 0.05
K_LIST = (1.0, 2.0)
x, y = load_mnist("train")
xt, yt = load_mnist("test")
idx = np.random.default_rng(0).choice(len(x), 2000, replace=False)
X, Y = torch.tensor(x[idx], dtype=torch.float32), torch.tensor(y[idx]).long()
XT, YT = torch.tensor(xt[:1000], dtype=torch.float32), torch.tensor(yt[:1000]).long()


def build():
    return D2NN.preset("visible-128", n=N, num_layers=LAYERS, object_size=N, quantizer=quant.FullPrecision(), seed=0)


def epoch(net, opt, g):
    net.train()
    perm = torch.randperm(len(X), generator=g)
    for s in range(0, len(X), BS):
        b = perm[s:s + BS]
        loss = torch.nn.functional.cross_entropy(net(net.encode(X[b])), Y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()


def hard_acc(net):
    net.eval()
    with torch.no_grad():
        return float((net(net.encode(XT)).argmax(-1) == YT).float().mean())


fp = build()
opt = torch.optim.Adam(fp.parameters(), lr=LR)
g = torch.Generator().manual_seed(0)
for _ in range(2):
    epoch(fp, opt, g)
print(f"FP warm-up: test accuracy {hard_acc(fp):.3f}")
runs = [("STE (phase domain)", {})] + [(f"STE-T (transmission domain, k={k:g})",
                                       {"transmission_backward": True, "k": k}) for k in K_LIST]
for name, opts in runs:
    net = build()
    net.load_state_dict(fp.state_dict())
    net.switch_quantizer(quant.make_quantizer("ste", 2, **opts))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    g = torch.Generator().manual_seed(1)
    accs = [hard_acc(net)]
    for _ in range(2):
        epoch(net, opt, g)
        accs.append(hard_acc(net))
    print(f"{name}: hard test accuracy at switch / after QAT epochs: " + " / ".join(f"{a:.3f}" for a in accs))
print(f"{time.time() - t0:.0f} s")
