"""STE at 2 levels: hard test accuracy after each of the last steps, and the share of neurons that
flip back and forth (period-2 chattering) — tiny CPU run, same FP warm start as flip.py."""
import math, time, torch
from quaton_fast import quant
torch.set_num_threads(1); t0 = time.time()
from _setup import X, XT, Y, YT, build  # noqa: E402 (shared data and network)
def acc(net, xs, ys):
    net.eval()
    with torch.no_grad(): p = net(net.encode(xs)).argmax(-1)
    net.train(); return float((p == ys).float().mean())
def masks(net): return torch.stack([l.quantizer.hard(l.latent.detach()) for l in net.layers])
fp = build(); opt = torch.optim.Adam(fp.parameters(), lr=0.05); g = torch.Generator().manual_seed(0)
for e in range(3):
    perm = torch.randperm(len(X), generator=g)
    for s in range(0, len(X), 64):
        b = perm[s:s + 64]; loss = torch.nn.functional.cross_entropy(fp(fp.encode(X[b])), Y[b]); opt.zero_grad(); loss.backward(); opt.step()
for name in ("ste", "gs"):
    net = build(); net.load_state_dict(fp.state_dict()); net.switch_quantizer(quant.make_quantizer(name, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.05); g = torch.Generator().manual_seed(0); hist = []; accs = []
    steps = 0; total = 2 * math.ceil(len(X) / 64)
    for e in range(2):
        perm = torch.randperm(len(X), generator=g)
        for s in range(0, len(X), 64):
            b = perm[s:s + 64]; loss = torch.nn.functional.cross_entropy(net(net.encode(X[b])), Y[b]); opt.zero_grad(); loss.backward(); opt.step()
            steps += 1
            if steps > total - 8:
                hist.append(masks(net)); accs.append(acc(net, XT, YT))
    m = torch.stack(hist)
    back_forth = float(((torch.cos(m[1:-1] - m[:-2]) < 0) & (torch.cos(m[2:] - m[:-2]) > 0)).float().mean())
    flips = float((torch.cos(m[1:] - m[:-1]) < 0).float().mean())
    print(f"{name}-L2 last 8 steps: hard test acc {[round(a, 3) for a in accs]}; per step {flips:.4f} of neurons change level, "
          f"{back_forth:.4f} change and come back the next step")
print(f"{time.time() - t0:.0f} s")
