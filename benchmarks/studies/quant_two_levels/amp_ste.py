"""Control experiment: a straight-through estimator in the TRANSMISSION domain for {0, π} masks.
Forward t = sign(cos w) (= exp(i·staircase(w)) for 2 levels, the same physical mask as STE);
backward through the amplitude cos(w): dL/dw = Re-part gradient dL/da · (−sin w).
If STE fails at 2 levels because its phase-domain signal dL/dφ is orthogonal to a flip,
this estimator (whose signal is dL/da, the flip predictor) should train where STE does not."""
import time, torch
torch.set_num_threads(1); t0 = time.time()
from _setup import X, XT, Y, YT, build  # noqa: E402 (shared data and network)
class SignCosSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w); return torch.where(torch.cos(w) >= 0, 1.0, -1.0).to(w.dtype)
    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors; return g * (-torch.sin(w))
def fwd(net, u, hard):
    v = net.to_first(u)
    for i, l in enumerate(net.layers):
        a = torch.where(torch.cos(l.latent) >= 0, 1.0, -1.0) if hard else SignCosSTE.apply(l.latent)
        v = (net.to_detector if i == len(net.layers) - 1 else net.between)(v * a.to(v.dtype))
    return net.readout(v)
def train_fp(net, epochs, lr=0.05, bs=64):
    opt = torch.optim.Adam(net.parameters(), lr=lr); g = torch.Generator().manual_seed(0)
    for e in range(epochs):
        perm = torch.randperm(len(X), generator=g)
        for s in range(0, len(X), bs):
            b = perm[s:s + bs]; loss = torch.nn.functional.cross_entropy(net(net.encode(X[b])), Y[b])
            opt.zero_grad(); loss.backward(); opt.step()
fp = build(); train_fp(fp, 3)
net = build(); net.load_state_dict(fp.state_dict())
opt = torch.optim.Adam(net.parameters(), lr=0.05); g = torch.Generator().manual_seed(0)
def test_acc():
    with torch.no_grad(): return float((fwd(net, net.encode(XT), True).argmax(-1) == YT).float().mean())
print(f"amplitude-STE L2: hard test accuracy at the switch {test_acc():.3f}")
for e in range(2):
    perm = torch.randperm(len(X), generator=g); correct = 0
    for s in range(0, len(X), 64):
        b = perm[s:s + 64]; out = fwd(net, net.encode(X[b]), False)
        correct += int((out.argmax(-1) == Y[b]).sum())
        loss = torch.nn.functional.cross_entropy(out, Y[b]); opt.zero_grad(); loss.backward(); opt.step()
    print(f"  epoch {e}: train {correct / len(X):.3f}  hard test {test_acc():.3f}")
print(f"{time.time() - t0:.0f} s")
