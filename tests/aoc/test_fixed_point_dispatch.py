"""torch fixed point: C++ CPU dispatch vs the torch loop vs the NumPy reference (forward and gradients)."""
import numpy as np
import pytest
import torch

from quaton_fast import _backend
from quaton_fast.functional import _fixed_point_cpu
from quaton_fast.functional.fixed_point import fixed_point
from quaton_fast.reference import fixed_point as ref

pytestmark = pytest.mark.skipif(_backend.native() is None, reason="needs the compiled extension")
D = torch.float64


def _system(S, n, shared, seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(*((n, n) if shared else (S, n, n)), generator=g, dtype=D) / (2 * n ** 0.5)
    b = torch.randn(S, n, generator=g, dtype=D)
    return W, b


def _np(t):
    """Tensor scalar -> float (the reference takes a number or an (S,) array), else a NumPy array."""
    return t.item() if t.numel() == 1 else t.numpy()


def _scalars(S, per_system, seed):
    g = torch.Generator().manual_seed(seed + 100)
    if per_system:
        return 0.2 + 0.3 * torch.rand(S, generator=g, dtype=D), 0.6 + 0.4 * torch.rand(S, generator=g, dtype=D)
    return torch.tensor(0.35, dtype=D), torch.tensor(0.85, dtype=D)


CASES = [(shared, per, clamp, gamma) for shared in (False, True) for per in (False, True)
         for clamp in (None, (-0.5, 0.5)) for gamma in (0.0, 0.1)]


@pytest.mark.parametrize("shared,per_system,clamp,gamma", CASES)
def test_forward_cpp_torch_reference_agree(shared, per_system, clamp, gamma):
    S, n = 7, 9
    W, b = _system(S, n, shared, seed=3)
    alpha, beta = _scalars(S, per_system, seed=3)
    kw = dict(alpha=alpha, beta=beta, gamma=gamma, clamp=clamp, tol=1e-6, max_iter=300)
    s_c, it_c, r_c = fixed_point(W, b, backend="cpp", **kw)
    s_t, it_t, r_t = fixed_point(W, b, backend="torch", **kw)
    r = ref.fixed_point_forward(W.numpy(), b.numpy(), alpha=_np(alpha), beta=_np(beta), gamma=gamma,
                                clamp=clamp, tol=1e-6, max_iter=300)
    assert it_c.dtype == torch.int64 and s_c.dtype == D and r_c.dtype == D
    np.testing.assert_allclose(s_c.numpy(), r.state, atol=1e-12, rtol=0)
    np.testing.assert_allclose(s_t.numpy(), r.state, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(it_c.numpy(), r.iterations)
    np.testing.assert_array_equal(it_t.numpy(), r.iterations)
    np.testing.assert_allclose(r_c.numpy(), r.residual, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(r_t.numpy(), r.residual, rtol=1e-9, atol=1e-15)


def test_iteration_counts_are_per_system():
    """Systems of very different contraction stop at different steps, identically on both paths."""
    S, n = 4, 6
    W, b = _system(S, n, False, seed=5)
    W = W * torch.tensor([0.1, 0.5, 1.0, 1.5], dtype=D).reshape(S, 1, 1)
    out = [fixed_point(W, b, alpha=0.3, beta=0.9, tol=1e-9, max_iter=500, backend=k) for k in ("cpp", "torch")]
    assert len(set(out[0][1].tolist())) > 1
    torch.testing.assert_close(out[0][1], out[1][1], rtol=0, atol=0)
    torch.testing.assert_close(out[0][0], out[1][0], rtol=0, atol=1e-12)


def _grads(backend, W, b, alpha, beta, clamp):
    args = [t.detach().clone().requires_grad_() for t in (W, b, alpha, beta)]
    s, _, res = fixed_point(args[0], args[1], alpha=args[2], beta=args[3], clamp=clamp, tol=1e-13,
                            max_iter=3000, backward_tol=1e-13, backward_max_iter=3000, backend=backend)
    assert (res <= 1e-13).all()
    w = torch.linspace(-1, 1, s.numel(), dtype=D).reshape(s.shape)
    loss = (w * s).sum() + (s ** 2).sum()
    return s, torch.autograd.grad(loss, args), 2 * s + w


@pytest.mark.parametrize("shared,per_system,clamp", [c[:3] for c in CASES if c[3] == 0.0])
def test_gradients_cpp_torch_reference_agree(shared, per_system, clamp):
    S, n = 5, 8
    W, b = _system(S, n, shared, seed=11)
    alpha, beta = _scalars(S, per_system, seed=11)
    s_c, g_c, dl_ds = _grads("cpp", W, b, alpha, beta, clamp)
    _, g_t, _ = _grads("torch", W, b, alpha, beta, clamp)
    for a, c, name in zip(g_c, g_t, ("W", "b", "alpha", "beta")):
        assert a.shape == c.shape, name
        torch.testing.assert_close(a, c, atol=1e-10, rtol=1e-9, msg=name)
    r = ref.fixed_point_adjoint(W.numpy(), b.numpy(), s_c.detach().numpy(), dl_ds.detach().numpy(),
                                alpha=_np(alpha), beta=_np(beta), clamp=clamp, tol=1e-13, max_iter=3000)
    np.testing.assert_allclose(g_c[0].numpy(), r.grad_W, atol=1e-10)
    np.testing.assert_allclose(g_c[1].numpy(), r.grad_b, atol=1e-10)
    np.testing.assert_allclose(g_c[2].numpy(), r.grad_alpha, atol=1e-10)
    np.testing.assert_allclose(g_c[3].numpy(), r.grad_beta, atol=1e-10)


@pytest.mark.parametrize("clamp", [None, (-0.7, 0.7)])
def test_cpp_gradcheck_all_parameters(clamp):
    W, b = _system(3, 4, False, seed=2)
    alpha, beta = torch.tensor([0.3, 0.4, 0.25], dtype=D), torch.tensor(0.9, dtype=D)
    ins = tuple(t.clone().requires_grad_() for t in (W, b, alpha, beta))

    def f(W, b, alpha, beta):
        return fixed_point(W, b, alpha=alpha, beta=beta, clamp=clamp, tol=1e-14, max_iter=5000,
                           backward_tol=1e-14, backward_max_iter=5000, backend="cpp")[0]
    assert torch.autograd.gradcheck(f, ins, eps=1e-6, atol=1e-6)


def test_float32_is_float64_rounded_once():
    W, b = _system(6, 16, False, seed=4)
    beta = torch.tensor(0.9, dtype=D)
    W32, b32, beta32 = (t.float().requires_grad_() for t in (W, b, beta))
    s32, it32, r32 = fixed_point(W32, b32, alpha=0.5, beta=beta32, clamp=(-1, 1), tol=1e-4, backend="cpp")
    s64, it64, _ = fixed_point(W32.detach().double(), b32.detach().double(), alpha=0.5,
                               beta=beta32.detach().double(), clamp=(-1, 1), tol=1e-4, backend="cpp")
    assert s32.dtype == torch.float32 and r32.dtype == torch.float32
    torch.testing.assert_close(s32, s64.float(), rtol=0, atol=0)
    torch.testing.assert_close(it32, it64, rtol=0, atol=0)
    s32.sum().backward()
    assert W32.grad.dtype == b32.grad.dtype == beta32.grad.dtype == torch.float32
    # the float32 torch loop agrees to float32 accuracy
    s_t, _, _ = fixed_point(W32.detach(), b32.detach(), alpha=0.5, beta=beta32.detach(), clamp=(-1, 1),
                            tol=1e-4, backend="torch")
    torch.testing.assert_close(s32, s_t, atol=1e-5, rtol=0)


def test_auto_uses_cpp_on_cpu_and_falls_back_without_extension(monkeypatch):
    W, b = _system(3, 5, False, seed=1)
    calls = []
    real = _fixed_point_cpu.forward_cpu
    monkeypatch.setattr(_fixed_point_cpu, "forward_cpu", lambda *a, **k: calls.append(1) or real(*a, **k))
    s_auto = fixed_point(W, b)[0]
    assert calls == [1]
    monkeypatch.setattr(_fixed_point_cpu, "native", lambda: None)
    s_fallback = fixed_point(W, b)[0]
    assert calls == [1]
    torch.testing.assert_close(s_auto, s_fallback, atol=1e-12, rtol=0)
    with pytest.raises(RuntimeError, match="backend='cpp'"):
        fixed_point(W, b, backend="cpp")


def test_bad_backend_and_unsupported_dtype():
    W, b = _system(2, 3, False, seed=0)
    with pytest.raises(ValueError, match="'backend'"):
        fixed_point(W, b, backend="gpu")
    with pytest.raises(RuntimeError, match="backend='cuda' needs"):  # CPU tensors
        fixed_point(W, b, backend="cuda")
    with pytest.raises(RuntimeError, match="dtype torch.float16"):
        fixed_point(W.half(), b.half(), backend="cpp")
