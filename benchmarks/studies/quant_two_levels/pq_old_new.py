"""PQ after FP training: hard accuracy with the periodic rounding (now) vs the old clamped rounding
(the same staircase without the fold, i.e. F.staircase(..., period=None)). Tiny CPU config."""
import math, time, numpy as np, torch
from quaton_fast import quant
from quaton_fast import functional as F
from quaton_fast.nn import D2NN
from quaton_fast.data.mnist import load_mnist
torch.set_num_threads(1); t0 = time.time()
x, y = load_mnist("train"); xt, yt = load_mnist("test")
idx = np.random.default_rng(0).choice(len(x), 3000, replace=False)
X = torch.tensor(x[idx], dtype=torch.float32); Y = torch.tensor(y[idx]).long()
XT = torch.tensor(xt[:2000], dtype=torch.float32); YT = torch.tensor(yt[:2000]).long()
N, L = 32, 3
fp = D2NN.preset("visible-128", n=N, num_layers=L, object_size=N, quantizer=quant.FullPrecision(), seed=0)
opt = torch.optim.Adam(fp.parameters(), lr=0.02); g = torch.Generator().manual_seed(0)
for e in range(5):
    perm = torch.randperm(len(X), generator=g)
    for s in range(0, len(X), 64):
        b = perm[s:s + 64]; loss = torch.nn.functional.cross_entropy(fp(fp.encode(X[b])), Y[b]); opt.zero_grad(); loss.backward(); opt.step()
lat = torch.cat([l.latent.detach().reshape(-1) for l in fp.layers])
print(f"FP (5 epochs, lr 0.02): latents outside [0, 2π): {float(((lat < 0) | (lat >= 2 * math.pi)).float().mean()):.3f}")
for lv in (2, 4, 8, 16):
    res = {}
    for mode in ("periodic", "old-clamped"):
        net = D2NN.preset("visible-128", n=N, num_layers=L, object_size=N, quantizer=quant.PostTraining(lv), seed=0)
        net.load_state_dict(fp.state_dict(), strict=False); net.eval()
        if mode == "old-clamped":
            for l in net.layers:
                q = l.quantizer
                q.hard = (lambda qq: (lambda w: F.staircase(w, qq.thresholds, qq.steps, qq.base, period=None)))(q)
        with torch.no_grad(): res[mode] = float((net(net.encode(XT)).argmax(-1) == YT).float().mean())
    print(f"PQ-L{lv}: periodic {res['periodic']:.3f}  old clamped {res['old-clamped']:.3f}")
print(f"{time.time() - t0:.0f} s")
