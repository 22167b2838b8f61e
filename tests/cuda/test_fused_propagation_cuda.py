"""Fused modulation + propagation kernels (cuFFTDx, sm_80/86/89/90) == NumPy reference, forward and backward.

Runs only with a GPU and a CUDA build; the fused path additionally needs a supported device (8.0, 8.6, 8.7, 8.9, 9.0) and a
build with nvidia-mathdx (``fused_sizes()`` non-empty), otherwise these tests skip.
"""
import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP32_FFT, rel_err
from quaton_fast.functional import angular_spectrum_transfer
from quaton_fast.functional.fused_propagation import fused_available, fused_sizes, modulate_propagate
from quaton_fast.reference import fields as ref_fields
from quaton_fast.reference import propagation as ref

pytestmark = pytest.mark.cuda
WL, DX = 632.8e-9, 316.4e-9


def _need_fused(u, h):
    if not fused_available(u, h):
        pytest.skip(f"fused kernels unavailable here (sizes compiled: {fused_sizes()})")


@pytest.mark.parametrize("n,P,batch", [(128, 256, 3), (200, 400, 5), (100, 256, 1), (256, 512, 2),
                                       (512, 1024, 1), (255, 512, 7)])
def test_forward_and_backward_match_reference(n, P, batch):
    rng = np.random.default_rng(n + P + batch)
    u = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
    phase = rng.uniform(0, 2 * np.pi, (n, n))
    g = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
    h = ref.angular_spectrum_transfer(P, DX, WL, 3.373e-6 * (1 + n / 100))
    out_ref = ref.propagate(ref_fields.phase_modulate(u, phase), h)
    grad_mod = ref.propagate_adjoint(g, h)
    grad_u_ref, grad_phase_ref = ref_fields.phase_modulate_backward(grad_mod, u, phase)

    ut = torch.as_tensor(u, dtype=torch.complex64, device="cuda").requires_grad_(True)
    pt = torch.as_tensor(phase, dtype=torch.float32, device="cuda").requires_grad_(True)
    ht = angular_spectrum_transfer(P, DX, WL, 3.373e-6 * (1 + n / 100), device="cuda")
    _need_fused(ut, ht)
    out = modulate_propagate(ut, pt, ht)
    assert rel_err(out.detach().cpu().numpy(), out_ref) < RTOL_FP32_FFT
    (torch.as_tensor(g, dtype=torch.complex64, device="cuda").conj() * out).real.sum().backward()
    assert rel_err(ut.grad.cpu().numpy(), grad_u_ref) < RTOL_FP32_FFT
    assert rel_err(pt.grad.cpu().numpy(), grad_phase_ref) < RTOL_FP32_FFT


def test_no_modulation_and_leading_dims():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((2, 3, 128, 128)) + 1j * rng.standard_normal((2, 3, 128, 128))
    h = ref.angular_spectrum_transfer(256, DX, WL, 5e-6)
    ut = torch.as_tensor(u, dtype=torch.complex64, device="cuda")
    ht = torch.as_tensor(h, dtype=torch.complex64, device="cuda")
    _need_fused(ut, ht)
    out = modulate_propagate(ut, None, ht).cpu().numpy()
    assert out.shape == u.shape
    assert rel_err(out, ref.propagate(u, h)) < RTOL_FP32_FFT


def test_d2nn_on_cuda_matches_cpu_float64():
    """A D2NN training step on the GPU (fused path) == the same step on the CPU in float64."""
    import copy

    import quaton_fast as qf
    cpu = qf.nn.D2NN.preset("visible-128", n=128, num_layers=3, object_size=None, seed=0,
                            quantizer=qf.quant.PSQ(16, qf.quant.FixedTemperature(20.0))).double()
    gpu = copy.deepcopy(cpu).float().cuda()
    rng = np.random.default_rng(1)
    u = np.exp(1j * np.pi * rng.random((4, 128, 128)))
    y = torch.tensor([0, 3, 7, 9])
    _need_fused(torch.zeros(1, 128, 128, dtype=torch.complex64, device="cuda"),
                gpu.between.transfer_like(torch.zeros(1, dtype=torch.complex64, device="cuda")))
    losses = []
    for model, dev, dtype in ((cpu, "cpu", torch.complex128), (gpu, "cuda", torch.complex64)):
        logits = model(torch.as_tensor(u, dtype=dtype, device=dev))
        loss = torch.nn.functional.cross_entropy(logits, y.to(dev))
        loss.backward()
        losses.append(float(loss))
    # float32 GPU vs float64 CPU through 4 propagations (8 FFT passes each way) and the PSQ
    # sigmoids (k = 20/rad amplifies phase round-off): RTOL_FP32_FFT per propagation, compounded
    assert abs(losses[0] - losses[1]) < 4 * RTOL_FP32_FFT * abs(losses[0])
    for lc, lg in zip(cpu.layers, gpu.layers):
        assert rel_err(lg.latent.grad.cpu().numpy(), lc.latent.grad.numpy()) < 10 * RTOL_FP32_FFT


@pytest.mark.parametrize("n,P,batch", [(128, 256, 3), (100, 256, 2)])
def test_cupy_arrays_match_cupy_fft_reference(n, P, batch):
    """CuPy in, CuPy out, against an independent GPU reference written with CuPy's FFT
    (centred zero-padding to P, fft2, x H, ifft2, crop)."""
    cp = pytest.importorskip("cupy")
    from quaton_fast.functional.fused_propagation import modulate_propagate_array
    rng = np.random.default_rng(n + batch)
    u = (rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))).astype(np.complex64)
    phase = rng.uniform(0, 2 * np.pi, (n, n)).astype(np.float32)
    h = ref.angular_spectrum_transfer(P, DX, WL, 20e-6).astype(np.complex64)
    cu, cph, ch = cp.asarray(u), cp.asarray(phase), cp.asarray(h)
    out = modulate_propagate_array(cu, cph, ch)
    assert isinstance(out, cp.ndarray) and out.shape == (batch, n, n) and out.dtype == cp.complex64
    o = (P - n) // 2
    padded = cp.zeros((batch, P, P), cp.complex64)
    padded[:, o:o + n, o:o + n] = cu * cp.exp(1j * cph).astype(cp.complex64)
    want = cp.fft.ifft2(cp.fft.fft2(padded) * ch)[:, o:o + n, o:o + n]
    assert rel_err(cp.asnumpy(out), cp.asnumpy(want)) < RTOL_FP32_FFT


def test_fused_op_is_sync_free_and_capturable_in_a_cuda_graph():
    """The fused op alone (no quantizer), forward and backward: no host sync under the sync
    debugger, and a CUDA graph of fwd+bwd replays to the eager values on new inputs."""
    rng = np.random.default_rng(7)
    n, P, batch = 128, 256, 3

    def draw():
        u = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
        return torch.as_tensor(u, dtype=torch.complex64, device="cuda")

    h = angular_spectrum_transfer(P, DX, WL, 4e-6, device="cuda")
    u = draw().requires_grad_(True)
    phase = torch.as_tensor(rng.uniform(0, 2 * np.pi, (n, n)), dtype=torch.float32, device="cuda")
    phase.requires_grad_(True)
    g = draw()
    _need_fused(u, h)

    def fwd_bwd():
        u.grad = phase.grad = None
        out = modulate_propagate(u, phase, h)
        (g.conj() * out).real.sum().backward()
        return out

    fwd_bwd()  # warm-up: caches (H^T, conj(H)^T), allocator
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        fwd_bwd()
    finally:
        torch.cuda.set_sync_debug_mode("default")

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fwd_bwd()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = fwd_bwd()
    with torch.no_grad():
        u.copy_(draw())
        g.copy_(draw())
    graph.replay()
    torch.cuda.synchronize()
    got = (static_out.detach().clone(), u.grad.clone(), phase.grad.clone())
    want = fwd_bwd()
    want = (want.detach(), u.grad, phase.grad)
    for a, b in zip(got, want):
        assert rel_err(a.cpu().numpy(), b.cpu().numpy()) < 1e-6
