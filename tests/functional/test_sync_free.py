"""A D2NN training step makes no host synchronisation (issue 13), for every quantizer.

CPU (always runs): one full training step -- forward, loss (+ the quantizer's regulariser),
backward, optimizer step -- under :class:`sync_guard.SyncGuard`, which records every op that would
synchronise a GPU with the host (``aten::item`` / ``_local_scalar_dense`` / ``is_nonzero``,
``torch.isfinite``, ``.tolist()``, ``torch.equal`` / ``allclose``, data-dependent shapes). The
step must record none. The first step runs outside the guard: it fills the per-device caches
(transfer functions copied to the device, H^T / conj(H)), which is one-time work by design.

GPU (``cuda`` marker, skipped without one): the same step under
``torch.cuda.set_sync_debug_mode("error")``, and the whole step of ``qf.nn.D2NN`` captured in one
CUDA graph and replayed, checked against the same steps run eagerly.

Any recorded sync fails the test, with the op and the file:line that made it.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import quaton_fast as qf
from quaton_fast.functional import angular_spectrum_transfer, propagate
from quaton_fast.functional.fused_propagation import modulate_propagate
from quaton_fast.quant.quantizers import QUANTIZER_NAMES, make_quantizer
from sync_guard import SyncGuard

WL, DX = 632.8e-9, 316.4e-9


def _net(name: str, device="cpu", n: int = 16, layers: int = 2) -> qf.nn.D2NN:
    torch.manual_seed(0)
    q = make_quantizer(name, 4)
    return qf.nn.D2NN(n=n, dx=DX, wavelength=WL, num_layers=layers, z_in=3e-6, dz=3e-6, z_out=3e-6,
                      object_size=8, quantizer=q, seed=0).to(device).train()


def _data(net: qf.nn.D2NN, batch: int = 3, device="cpu", seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 8, 8, generator=g).to(device)
    labels = torch.randint(0, 10, (batch,), generator=g).to(device)
    return images, labels


def _step(net, opt, x, y):
    """One training step: zero grads, forward, loss + regulariser, backward, optimizer step."""
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(net(x), y) + net.regularization()
    loss.backward()
    opt.step()
    return loss


def _cpu_hits(name: str) -> SyncGuard:
    net = _net(name)
    opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)  # Adam keeps a CPU step counter and .item()s it
    images, labels = _data(net)
    x = net.encode(images)          # data enters here (value checks allowed: CPU, once per batch)
    _step(net, opt, x, labels)      # first step: fills the per-device caches
    with SyncGuard() as guard:
        _step(net, opt, x, labels)
    return guard


def _fail_on_hits(guard: SyncGuard, what: str) -> None:
    if guard.hits:
        pytest.fail(f"{what}: host synchronisations in the hot path: {guard.report()}")


# --------------------------------------------------------------------------------- the guard itself
@pytest.mark.parametrize("sync", [
    lambda t: t.sum().item(), lambda t: bool(t.sum() > 0), lambda t: float(t.sum()), lambda t: int(t[0]),
    lambda t: t.tolist(), lambda t: torch.isfinite(t).all(), lambda t: torch.equal(t, t),
    lambda t: torch.allclose(t, t), lambda t: t.nonzero(), lambda t: t[t > 0], lambda t: t.__setitem__(t > 0, 0.0),
])
def test_guard_catches_every_kind_of_sync(sync):
    t = torch.randn(5)
    with SyncGuard() as guard:
        sync(t)
    assert guard.hits, "the guard missed a host synchronisation"


def test_guard_catches_the_old_per_call_finite_check():
    """The pattern main had in functional/_checks.py: ``if not torch.isfinite(u).all(): fail``."""
    u = torch.randn(2, 8, 8, dtype=torch.complex64)
    with SyncGuard() as guard:
        if not torch.isfinite(u).all():
            raise AssertionError
    assert {h.op for h in guard.hits} >= {"torch.isfinite", "aten::_local_scalar_dense"}


def test_guard_sees_syncs_inside_backward():
    """A sync hidden in an autograd Function's backward (run by the autograd engine) is caught."""
    class _SyncingBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            if float(g.abs().max()) > 0:  # a value read, as the old per-call checks did
                return g * 2
            return g

    x = torch.randn(4, requires_grad=True)
    y = _SyncingBackward.apply(x).sum()
    with SyncGuard() as guard:
        y.backward()
    assert any(h.op == "aten::_local_scalar_dense" for h in guard.hits), guard.report()


def test_guard_lets_plain_math_through():
    u = torch.randn(2, 8, 8, dtype=torch.complex64, requires_grad=True)
    with SyncGuard() as guard:
        (torch.fft.ifft2(torch.fft.fft2(u) * 2).abs() ** 2).sum().backward()
    assert not guard.hits, guard.report()


# --------------------------------------------------------------------------------- hot path, CPU
@pytest.mark.parametrize("name", QUANTIZER_NAMES)
def test_training_step_makes_no_host_sync(name):
    guard = _cpu_hits(name)
    _fail_on_hits(guard, f"D2NN training step with quantizer {name!r}")


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_propagation_calls_make_no_sync_forward_and_backward(dtype):
    h = angular_spectrum_transfer(32, DX, WL, 4e-6, dtype=dtype)
    u = torch.randn(2, 16, 16, dtype=dtype, requires_grad=True)
    phase = torch.rand(16, 16, dtype=torch.float64 if dtype == torch.complex128 else torch.float32,
                       requires_grad=True)
    modulate_propagate(u, phase, h).abs().sum().backward()  # warm the caches (conj(H))
    with SyncGuard() as guard:
        out = propagate(modulate_propagate(u, phase, h), h)
        (out.real ** 2 + out.imag ** 2).sum().backward()
    assert not guard.hits, guard.report()


def test_finite_check_is_opt_in_and_names_the_argument():
    h = angular_spectrum_transfer(16, DX, WL, 1e-6)
    bad = torch.full((1, 8, 8), float("nan"), dtype=torch.complex64)
    propagate(bad, h)  # default: metadata only, no value read
    for call, func in ((lambda: propagate(bad, h, check_finite=True), "propagate"),
                       (lambda: modulate_propagate(bad, None, h, check_finite=True), "modulate_propagate")):
        with pytest.raises(ValueError, match=rf"{func}\(\): argument 'u' must be finite"):
            call()
    net = _net("fp", n=8, layers=1)
    with pytest.raises(ValueError, match=r"D2NN.output_field\(\): argument 'u' must be finite"):
        net(bad, check_finite=True)


def test_finite_check_on_an_accelerator_tensor_is_queued_not_read(monkeypatch):
    """Off the CPU, the value check is handed to torch._assert_async (a device-side assertion)
    with the project's message, and nothing is read to the host. A meta tensor stands in for a
    CUDA one (same code path: device type is not 'cpu')."""
    from quaton_fast.functional import _checks
    queued = []
    monkeypatch.setattr(torch, "_assert_async", lambda ok, msg: queued.append((ok, msg)))
    u = torch.empty(2, 8, 8, dtype=torch.complex64, device="meta")
    with SyncGuard() as guard:
        assert _checks.finite("propagate", "u", u) is u
    assert [h for h in guard.hits if h.op != "torch.isfinite"] == [], guard.report()
    assert len(queued) == 1
    ok, msg = queued[0]
    assert ok.device.type == "meta" and ok.dtype == torch.bool and ok.dim() == 0
    assert msg == "propagate(): argument 'u' must be finite (no NaN or Inf), got non-finite values"


def test_transfer_derivatives_are_computed_once_per_transfer():
    """conj(H) (adjoint) is made once per transfer tensor, not once per backward call."""
    from quaton_fast.functional import _derived
    h = angular_spectrum_transfer(16, DX, WL, 2e-6)
    u = torch.randn(1, 8, 8, dtype=torch.complex64, requires_grad=True)
    propagate(u, h).abs().sum().backward()
    first = _derived.conj_transfer(h)
    assert torch.equal(first, h.conj())
    for _ in range(3):
        propagate(u, h).abs().sum().backward()
    assert _derived.conj_transfer(h) is first
    h.mul_(1j)  # in-place change: recomputed
    assert torch.equal(_derived.conj_transfer(h), h.conj())


def test_sync_free_step_still_learns_the_right_gradient():
    """The step the guard watched computes the gradient the NumPy reference does (the guard
    changes nothing, and removing the checks removed no computation)."""
    from quaton_fast.reference import fields as ref_fields
    from quaton_fast.reference import propagation as ref
    rng = np.random.default_rng(5)
    n, P = 8, 16
    u = rng.standard_normal((2, n, n)) + 1j * rng.standard_normal((2, n, n))
    phase = rng.uniform(0, 2 * math.pi, (n, n))
    g = rng.standard_normal((2, n, n)) + 1j * rng.standard_normal((2, n, n))
    h = ref.angular_spectrum_transfer(P, DX, WL, 3e-6)
    ut, pt = torch.from_numpy(u).requires_grad_(True), torch.from_numpy(phase).requires_grad_(True)
    ht = torch.from_numpy(h)
    modulate_propagate(ut, pt, ht).abs().sum().backward()
    ut.grad = pt.grad = None
    with SyncGuard() as guard:
        (torch.from_numpy(g).conj() * modulate_propagate(ut, pt, ht)).real.sum().backward()
    assert not guard.hits, guard.report()
    grad_u, grad_phase = ref_fields.phase_modulate_backward(ref.propagate_adjoint(g, h), u, phase)
    assert np.allclose(ut.grad.numpy(), grad_u, rtol=1e-10, atol=1e-12)
    assert np.allclose(pt.grad.numpy(), grad_phase, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------- GPU
def _skip_unless_cpu_clean(name: str) -> None:
    """The GPU cases of a quantizer fail at once when its CPU step already shows syncs (naming them)."""
    _fail_on_hits(_cpu_hits(name), f"D2NN training step with quantizer {name!r} (CPU guard)")


@pytest.mark.cuda
@pytest.mark.parametrize("name", QUANTIZER_NAMES)
def test_training_step_under_cuda_sync_debug_mode(name):
    _skip_unless_cpu_clean(name)
    net = _net(name, "cuda", n=128, layers=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    images, labels = _data(net, batch=5, device="cuda")
    _step(net, opt, net.encode(images), labels)  # warm-up: caches, cuFFT plans, allocator
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            loss = _step(net, opt, net.encode(images), labels)  # encode: the sync-free finite check
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert torch.isfinite(loss).item()


@pytest.mark.cuda
@pytest.mark.parametrize("name", QUANTIZER_NAMES)
def test_whole_training_step_captured_in_a_cuda_graph(name):
    """Capture zero_grad + forward + loss + backward + Adam(capturable) step of qf.nn.D2NN once,
    replay it on new batches, and compare with the same steps run eagerly."""
    _skip_unless_cpu_clean(name)
    net = _net(name, "cuda", n=128, layers=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, capturable=True)
    batches = [_data(net, batch=4, device="cuda", seed=s) for s in range(4)]
    static_x = net.encode(batches[0][0]).clone()
    static_y = batches[0][1].clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            _step(net, opt, static_x, static_y)
    torch.cuda.current_stream().wait_stream(side)
    twin = copy.deepcopy(net)
    twin_opt = torch.optim.Adam(twin.parameters(), lr=1e-2, capturable=True)
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))  # load_state_dict aliases same-device state
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = torch.nn.functional.cross_entropy(net(static_x), static_y) + net.regularization()
        static_loss.backward()
        opt.step()
    start = [p.detach().clone() for p in net.parameters()]
    losses = []
    for images, labels in batches[1:]:
        static_x.copy_(net.encode(images))
        static_y.copy_(labels)
        graph.replay()
        losses.append(static_loss.detach().clone())
    want = [_step(twin, twin_opt, twin.encode(images), labels).detach() for images, labels in batches[1:]]
    torch.cuda.synchronize()
    for a, b in zip(losses, want):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), (a, b)
    for p, q in zip(net.parameters(), twin.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-5)
    assert any(not torch.equal(p, s) for p, s in zip(net.parameters(), start))  # the replays trained
