"""Why STE/GS do not train (and end below chance) at 2 levels {0, π}: tiny CPU study.

1) Mechanism at a hard-quantized model: for sampled neurons compare the exact loss change of moving
   to the other / the neighbouring level with the STE signal dL/dφ (what STE and GS follow) and with
   the amplitude derivative dL/da (t = a·e^{iφ}, the first-order predictor of a sign flip).
2) Train FP -> STE/GS at 2 and 4 levels; accuracy and prediction histogram.
"""
import sys, time, math
import numpy as np, torch
from quaton_fast import quant
from quaton_fast.nn import D2NN
from quaton_fast.data.mnist import load_mnist
torch.set_num_threads(1)
t0 = time.time()
x, y = load_mnist("train"); xt, yt = load_mnist("test")
rs = np.random.default_rng(0); idx = rs.choice(len(x), 3000, replace=False)
X = torch.tensor(x[idx], dtype=torch.float32); Y = torch.tensor(y[idx]).long()
XT = torch.tensor(xt[:2000], dtype=torch.float32); YT = torch.tensor(yt[:2000]).long()
if X.max() > 1.5: X, XT = X / 255, XT / 255
N, L = 32, 3
def build():
    return D2NN.preset("visible-128", n=N, num_layers=L, object_size=N, quantizer=quant.FullPrecision(), seed=0)
def acc(net, xs, ys):
    net.eval()
    with torch.no_grad():
        p = net(net.encode(xs)).argmax(-1)
    net.train()
    return float((p == ys).float().mean()), np.bincount(p.numpy(), minlength=10)
def train(net, epochs, lr=0.05, bs=64, tag=""):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for e in range(epochs):
        net.set_epoch(e)
        perm = torch.randperm(len(X), generator=g); correct = 0
        for s in range(0, len(X), bs):
            b = perm[s:s + bs]
            out = net(net.encode(X[b])); loss = torch.nn.functional.cross_entropy(out, Y[b]) + net.regularization()
            correct += int((out.argmax(-1) == Y[b]).sum())
            opt.zero_grad(); loss.backward(); opt.step()
        a, hist = acc(net, XT, YT)
        print(f"  {tag} epoch {e}: train(forward used in training) {correct/len(X):.3f}  test(hard) {a:.3f}  predicted-class counts {hist.tolist()}")
    return net
fp = build(); train(fp, 3, tag="FP")
state = {k: v.clone() for k, v in fp.state_dict().items()}

def flip_study(levels):
    net = build(); net.load_state_dict(state); net.switch_quantizer(quant.STE(levels)); net.train()
    xb, yb = X[:256], Y[:256]
    u = net.encode(xb)
    K = 1
    lay = net.layers[K]
    phi = lay.quantizer.hard(lay.latent.detach())           # current hard phase
    # dL/dφ (STE signal) and dL/da at the hard phase, with t = a·exp(iφ)
    a = torch.ones_like(phi, requires_grad=True); ph = phi.clone().requires_grad_(True)
    def fwd(v):
        v = net.to_first(v)
        for i, l in enumerate(net.layers):
            t = torch.polar(a, ph) if i == K else torch.polar(torch.ones_like(phi), l.quantizer.hard(l.latent.detach()))
            v = (net.to_detector if i == len(net.layers) - 1 else net.between)(v * t.to(v.dtype))
        return net.readout(v)
    with torch.no_grad():
        assert torch.allclose(fwd(u), net.eval()(u), atol=1e-4); net.train()
    loss = torch.nn.functional.cross_entropy(fwd(u), yb); loss.backward()
    gphi, ga = ph.grad.clone(), a.grad.clone()
    rng = np.random.default_rng(1); cells = rng.choice(N * N, 150, replace=False)
    d_up, d_flip = [], []
    with torch.no_grad():
        for c in cells:
            i, j = divmod(int(c), N)
            step = 2 * math.pi / levels
            p2 = phi.clone(); p2[i, j] += step                   # next level up (= the other level at 2)
            ph.data.copy_(p2); d_up.append(float(torch.nn.functional.cross_entropy(fwd(u), yb) - loss))
            ph.data.copy_(phi)
    d_up = np.array(d_up); s_phi = gphi.reshape(-1)[cells].numpy() * step; s_amp = -2 * ga.reshape(-1)[cells].numpy()
    c1 = np.corrcoef(d_up, s_phi)[0, 1]; c2 = np.corrcoef(d_up, s_amp)[0, 1]
    # at 2 levels, moving the latent down by π reaches the same level: the sign of dL/dφ cannot choose
    print(f"  {levels} levels: corr(exact ΔL of moving one neuron one level up, STE prediction dL/dφ·Δ) = {c1:+.3f};"
          f" corr(ΔL, flip predictor −2·dL/da) = {c2:+.3f}" + ("  [2 levels: -Δ is the same move]" if levels == 2 else ""))
print("mechanism (first-order predictors of a discrete move, layer 2 of the FP-warm-started model):")
for lv in (2, 4): flip_study(lv)
for name, lv in (("ste", 2), ("gs", 2), ("ste", 4)):
    net = build(); net.load_state_dict(state)
    net.switch_quantizer(quant.make_quantizer(name, lv)); a0, h0 = acc(net, XT, YT)
    print(f"{name}-L{lv}: hard test accuracy right after the switch {a0:.3f}, counts {h0.tolist()}")
    train(net, 2, tag=f"{name}-L{lv}")
print(f"test label counts {np.bincount(YT.numpy(), minlength=10).tolist()}; {time.time()-t0:.0f} s")
