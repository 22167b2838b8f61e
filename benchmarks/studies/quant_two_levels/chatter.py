"""STE/GS at 2 levels: do the latents chatter at the thresholds, and does each update make the batch it was
computed on worse? (tiny CPU run, same FP warm start as flip.py)"""
import math, time, numpy as np, torch
from quaton_fast import quant
torch.set_num_threads(1); t0 = time.time()
from _setup import X, XT, Y, YT, build  # noqa: E402 (shared data and network)
def run(net, epochs, lr=0.05, bs=64):
    opt = torch.optim.Adam(net.parameters(), lr=lr); g = torch.Generator().manual_seed(0); log = []
    for e in range(epochs):
        perm = torch.randperm(len(X), generator=g)
        for s in range(0, len(X), bs):
            b = perm[s:s + bs]; u = net.encode(X[b])
            before = [l.quantizer.hard(l.latent.detach()) if l.latent.dim() == 2 else l.quantizer.hard(l.latent.detach()) for l in net.layers]
            net.eval()
            with torch.no_grad(): l_before = float(torch.nn.functional.cross_entropy(net(u), Y[b]))
            net.train()
            loss = torch.nn.functional.cross_entropy(net(u), Y[b]); opt.zero_grad(); loss.backward(); opt.step()
            net.eval()
            with torch.no_grad(): l_after = float(torch.nn.functional.cross_entropy(net(u), Y[b]))
            net.train()
            after = [l.quantizer.hard(l.latent.detach()) for l in net.layers]
            flips = float(np.mean([float((torch.cos(a - c) < 0).float().mean()) for a, c in zip(before, after)]))
            near = float(np.mean([float((torch.abs(torch.remainder(l.latent.detach() - math.pi / 2, math.pi) - math.pi / 2) > math.pi / 2 - 0.15).float().mean()) for l in net.layers])) if net.layers[0].latent.dim() == 2 else float("nan")
            log.append((flips, near, l_after - l_before))
    net.eval()
    with torch.no_grad(): a = float((net(net.encode(XT)).argmax(-1) == YT).float().mean())
    return np.array(log), a
fp = build(); run(fp, 3); state = fp.state_dict()
for name, lv in (("ste", 2), ("gs", 2), ("ste", 4), ("psq-ft", 2)):
    net = build(); net.load_state_dict(state); net.switch_quantizer(quant.make_quantizer(name, lv))
    log, a = run(net, 2)
    h = len(log) // 2
    print(f"{name}-L{lv}: per step, 2nd epoch: neurons changing level {log[h:,0].mean():.3f}, "
          f"latents within 0.15 rad of a threshold {log[h:,1].mean():.3f}, mean change of the hard loss on the batch "
          f"the step was computed on {log[h:,2].mean():+.4f} (share of steps that made it worse {np.mean(log[h:,2] > 0):.2f}); test acc {a:.3f}")
print(f"{time.time() - t0:.0f} s")
