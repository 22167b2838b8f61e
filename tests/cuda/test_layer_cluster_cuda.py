"""The on-chip layer kernel (thread-block clusters, sm_90) == the NumPy reference == the three-pass
kernels, forward and adjoint with dphi reduced over the batch; its dispatch and launcher caches.

Runs only on an sm_90 GPU with a CUDA + cuFFTDx build (otherwise skips). Never run yet: written
and proven on the CPU emulator (tests/kernels/test_cluster_emulated.py) without a GPU (issue 22).
"""
import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP32_FFT, rel_err
from quaton_fast._backend import native
from quaton_fast.functional import _dispatch as D
from quaton_fast.functional import angular_spectrum_transfer
from quaton_fast.functional.fused_propagation import _ModulatePropagateFused, modulate_propagate
from quaton_fast.functional.layer_cluster import _LayerClusterFn
from quaton_fast.reference import fields as ref_fields
from quaton_fast.reference import propagation as ref

pytestmark = pytest.mark.cuda
WL, DX = 632.8e-9, 316.4e-9


def _need_on_chip(n, P):
    mod = native()
    if mod is None or not hasattr(mod, "layer_cluster_cuda") or not torch.cuda.is_available():
        pytest.skip("no CUDA + cuFFTDx build or no GPU")
    code, cluster = mod.layer_cluster_support(n, P, torch.cuda.current_device())
    if code != 0:
        pytest.skip(f"on-chip kernel unavailable here for (N, P) = ({n}, {P}): code {code}")
    return cluster


def _data(n, P, batch, seed):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
    phase = rng.uniform(0, 2 * np.pi, (n, n))
    g = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
    h = ref.angular_spectrum_transfer(P, DX, WL, 3.373e-6 * (1 + n / 100))
    return u, phase, g, h


def _run(fn, u, phase, g, h):
    ut = torch.as_tensor(u, dtype=torch.complex64, device="cuda").requires_grad_(True)
    pt = torch.as_tensor(phase, dtype=torch.float32, device="cuda").requires_grad_(True)
    ht = torch.as_tensor(h, dtype=torch.complex64, device="cuda")
    out = fn.apply(ut, pt, ht)
    (torch.as_tensor(g, dtype=torch.complex64, device="cuda").conj() * out).real.sum().backward()
    return out.detach().cpu().numpy(), ut.grad.cpu().numpy(), pt.grad.cpu().numpy()


@pytest.mark.parametrize("n,P,batch", [(128, 256, 3), (200, 400, 5), (128, 512, 2), (256, 512, 2),
                                       (100, 256, 1), (255, 512, 7), (1, 256, 2)])
def test_on_chip_matches_reference_and_three_pass(n, P, batch):
    _need_on_chip(n, P)
    u, phase, g, h = _data(n, P, batch, n + P + batch)
    out_ref = ref.propagate(ref_fields.phase_modulate(u, phase), h)
    grad_u_ref, grad_phase_ref = ref_fields.phase_modulate_backward(ref.propagate_adjoint(g, h), u, phase)
    oc = _run(_LayerClusterFn, u, phase, g, h)
    tp = _run(_ModulatePropagateFused, u, phase, g, h)
    for got, want in zip(oc, (out_ref, grad_u_ref, grad_phase_ref)):
        assert rel_err(got, want) < RTOL_FP32_FFT
    for a, b in zip(oc, tp):
        assert rel_err(a, b) < RTOL_FP32_FFT


def test_three_pass_larger_n_after_smaller_n_of_the_same_p():
    """The column pass's shared-memory attribute follows the N being launched (it was set once,
    for the first N of a P): N = 100 then N = 512 at P = 512 both match the reference."""
    mod = native()
    if mod is None or not hasattr(mod, "fused_propagate_cuda") or not torch.cuda.is_available():
        pytest.skip("no CUDA + cuFFTDx build or no GPU")
    for n in (100, 512):
        if mod.fused_propagate_support(n, 512, torch.cuda.current_device()) != 0:
            pytest.skip("three-pass P = 512 unsupported here")
        u, phase, g, h = _data(n, 512, 2, n)
        out = _run(_ModulatePropagateFused, u, phase, g, h)[0]
        assert rel_err(out, ref.propagate(ref_fields.phase_modulate(u, phase), h)) < RTOL_FP32_FFT


def test_dispatch_uses_on_chip_and_its_geometry_matches_the_launcher():
    n, P = 200, 400
    cluster = _need_on_chip(n, P)
    dev = torch.device("cuda", torch.cuda.current_device())
    props, kernels = D.device_props(dev), D.build_kernels()
    assert (props.major, props.minor) == (9, 0) and props.cluster_launch
    assert D.on_chip_plan(props, kernels.on_chip_workspace[P], n, P)[0] == cluster
    u = torch.zeros(64, n, n, dtype=torch.complex64, device="cuda")
    h = angular_spectrum_transfer(P, DX, WL, 4e-6, device="cuda")
    assert D.layer_path(u, h).path == "on_chip"


def test_on_chip_op_is_sync_free_and_capturable_in_a_cuda_graph():
    n, P, batch = 128, 256, 4
    _need_on_chip(n, P)
    rng = np.random.default_rng(3)

    def draw():
        x = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
        return torch.as_tensor(x, dtype=torch.complex64, device="cuda")

    h = angular_spectrum_transfer(P, DX, WL, 4e-6, device="cuda")
    u = draw().requires_grad_(True)
    phase = torch.as_tensor(rng.uniform(0, 2 * np.pi, (n, n)), dtype=torch.float32, device="cuda")
    phase.requires_grad_(True)
    g = draw()

    def step():
        u.grad = phase.grad = None
        out = modulate_propagate(u, phase, h)
        (g.conj() * out).real.sum().backward()
        return out

    assert D.layer_path(u, h).path == "on_chip"
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    graph = torch.cuda.CUDAGraph()
    u.grad = phase.grad = None
    with torch.cuda.graph(graph):
        out = modulate_propagate(u, phase, h)
        (g.conj() * out).real.sum().backward()
    with torch.no_grad():
        u.copy_(draw())
        g.copy_(draw())
    graph.replay()
    torch.cuda.synchronize()
    got = (out.detach().clone(), u.grad.clone(), phase.grad.clone())
    eager = (step().detach(), u.grad, phase.grad)
    for a, b in zip(got, eager):
        assert rel_err(a.cpu().numpy(), b.cpu().numpy()) < RTOL_FP32_FFT
