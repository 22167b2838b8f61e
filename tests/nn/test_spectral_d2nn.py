"""Broadband, height-quantized, partially coherent D2NN (nn/spectral_d2nn.py and friends):
the one-wavelength limit bit for bit, the torch path against the NumPy reference (float64),
export consistency, the training step without host synchronisation, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import quaton_fast as qf
from quaton_fast.functional import propagate, propagate_spectral
from quaton_fast.quant.quantizers import make_quantizer
from quaton_fast.reference import coherence as C
from quaton_fast.reference import materials as M
from quaton_fast.reference import spectral as S
from sync_guard import SyncGuard

WL, DX = 632.8e-9, 316.4e-9
GEOM = dict(n=16, dx=DX, num_layers=2, z_in=3e-6, dz=3e-6, z_out=3e-6, object_size=8, seed=0)
BAND = [550e-9, 632.8e-9, 700e-9]
SILICA = M.named_material("fused-silica")
ABSORBER = M.Cauchy(1.52, 0.005, extinction=0.01, name="absorbing-resin")


def _quantizer(name):
    if name == "ste-t":
        return qf.quant.STE(4, transmission_backward=True)
    return make_quantizer(name, 4)


@pytest.mark.parametrize("name", ["fp", "pq", "ste", "ste-t", "dsq", "gs", "psq-ft", "psq-li", "psq-lt"])
def test_one_wavelength_is_todays_d2nn_bit_for_bit(name):
    torch.manual_seed(0)
    ref = qf.nn.D2NN(wavelength=WL, quantizer=_quantizer(name), **GEOM).train()
    torch.manual_seed(0)
    net = qf.nn.SpectralD2NN(wavelengths=[WL], material=M.Constant(1.5), quantizer=_quantizer(name), **GEOM).train()
    for a, b in zip(ref.layers, net.layers):
        assert torch.equal(a.latent, b.latent)
    x = ref.encode(torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1)))
    torch.manual_seed(2)
    out_ref = ref.output_field(x)
    torch.manual_seed(2)
    out = net.output_field(x.unsqueeze(1))[:, 0]
    assert torch.equal(out, out_ref)
    g = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(3))
    (out_ref.conj() * g).real.sum().backward()
    (out.conj() * g).real.sum().backward()
    for a, b in zip(ref.layers, net.layers):
        assert torch.equal(a.latent.grad, b.latent.grad)
    ref.eval(), net.eval()
    assert torch.equal(ref.hard_quantized_phases(), net.hard_quantized_phases())
    logits_ref, logits = ref(x), net(x)
    torch.testing.assert_close(logits, logits_ref, rtol=1e-5, atol=1e-6)


def _float64_net(coherence=None, quantizer=None, readout="intensity"):
    net = qf.nn.SpectralD2NN(wavelengths=BAND, material=ABSORBER, medium=M.Constant(1.0), quantizer=quantizer,
                             readout=readout, coherence=coherence, **GEOM).double()
    return net


def _reference_intensity(net, x, thetas):
    tr = [net.to_first.transfers.numpy()] + [(net.to_detector if i == len(net.layers) - 1 else net.between)
                                            .transfers.numpy() for i in range(len(net.layers))]
    layer = net.layers[0]
    u = np.repeat(x.detach().numpy()[:, None], len(BAND), axis=1)
    if net.coherence is None:
        out, _ = S.network_forward(u, thetas, layer.scales, layer.attenuations, tr)
        return np.abs(out) ** 2, tr, u
    modes, w = C.gsm_modes(net.n, net.dx, net.coherence.sigma_s, net.coherence.sigma_g, net.coherence.num_modes)
    total = 0
    for m in range(len(w)):
        out, _ = S.network_forward(u * modes[m], thetas, layer.scales, layer.attenuations, tr)
        total = total + w[m] * np.abs(out) ** 2
    return total, tr, u


def test_torch_forward_and_backward_match_the_reference_in_float64():
    net = _float64_net().train()
    # full precision: the applied height is the latent folded into [0, 2π)
    thetas = np.stack([np.mod(l.latent.detach().numpy(), 2 * np.pi) for l in net.layers])
    x = net.encode(torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))).to(torch.complex128)
    inten = net(x)
    ref, tr, u = _reference_intensity(net, x, thetas)
    np.testing.assert_allclose(inten.detach().numpy(), ref, rtol=1e-10, atol=1e-14)
    weight = torch.rand(inten.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (inten * weight).sum().backward()
    out, _ = S.network_forward(u, thetas, net.layers[0].scales, net.layers[0].attenuations, tr)
    _, g_th = S.network_backward(u, thetas, net.layers[0].scales, net.layers[0].attenuations, tr,
                                 2 * weight.numpy() * out)
    for l, layer in enumerate(net.layers):
        np.testing.assert_allclose(layer.latent.grad.numpy(), g_th[l], rtol=1e-9, atol=1e-12)


def test_partially_coherent_intensity_is_the_sum_over_reference_modes():
    net = _float64_net(coherence=(2e-6, 1e-6, 6)).train()
    thetas = np.stack([np.mod(l.latent.detach().numpy(), 2 * np.pi) for l in net.layers])
    x = net.encode(torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))).to(torch.complex128)
    ref, _, _ = _reference_intensity(net, x, thetas)
    np.testing.assert_allclose(net(x).detach().numpy(), ref, rtol=1e-6, atol=1e-12)  # modes held in float32
    weight = torch.rand(ref.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (net(x) * weight).sum().backward()
    modes, beta = C.gsm_modes(net.n, net.dx, 2e-6, 1e-6, 6)
    tr = [net.to_first.transfers.numpy(), net.between.transfers.numpy(), net.to_detector.transfers.numpy()]
    u = np.repeat(x.detach().numpy()[:, None], len(BAND), axis=1)
    g_th = S.partially_coherent_backward(u, modes, beta, thetas, net.layers[0].scales, net.layers[0].attenuations,
                                         tr, weight.numpy())
    for l, layer in enumerate(net.layers):
        # the module holds the modes in float32: relative 1e-6 of the gradient's scale
        np.testing.assert_allclose(layer.latent.grad.numpy(), g_th[l], rtol=1e-5, atol=1e-6 * np.abs(g_th[l]).max())
    q = C.gsm_parameters(2e-6, 1e-6)[3]     # 6 modes = every m + n <= 2: (1 + 2q + 3q²)(1 − q)²
    assert net.coherence.captured_fraction == pytest.approx((1 + 2 * q + 3 * q * q) * (1 - q) ** 2, rel=1e-12)


def test_export_heights_give_the_layers_transmission_at_every_wavelength(tmp_path):
    net = _float64_net(quantizer=qf.quant.PSQ(4)).eval()
    path = tmp_path / "masks.npz"
    net.export_masks(path)
    d = np.load(path)
    lam = net.reference_wavelength
    np.testing.assert_allclose(d["heights"], d["phases"] * lam / (2 * np.pi * (d["n_material"] - d["n_medium"])),
                               rtol=1e-12)
    steps = d["heights"] / (lam / (ABSORBER.n(lam)[0] - 1)) * 4   # in units of a quarter 2π height
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)     # levels held in float32
    assert set(np.unique(np.round(steps))) <= {0.0, 1.0, 2.0, 3.0}
    # the fabrication exporter reads the same file: its level heights are the network's heights
    from quaton_fast.export import export_fabrication
    r = export_fabrication(path, tmp_path / "fab", base_thickness=1e-6, stl=False, gds=False)
    np.testing.assert_allclose(np.sort(r["level_heights"]), np.unique(d["heights"]), rtol=1e-6)
    for l, layer in enumerate(net.layers):
        t = M.relief_transmission(ABSORBER, M.Constant(1.0), d["heights"][l], BAND)
        np.testing.assert_allclose(layer.spectral_transmission().detach().numpy(), t, rtol=1e-10, atol=1e-12)


def test_transmission_domain_ste_forward_is_the_hard_network():
    net = qf.nn.SpectralD2NN(wavelengths=BAND, material=SILICA, quantizer=qf.quant.STE(4, transmission_backward=True),
                             readout="intensity", **GEOM).double()
    x = net.encode(torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))).to(torch.complex128)
    train_out = net.train()(x)
    train_out.sum().backward()
    assert all(torch.isfinite(l.latent.grad).all() and l.latent.grad.abs().sum() > 0 for l in net.layers)
    torch.testing.assert_close(train_out.detach(), net.eval()(x), rtol=1e-12, atol=1e-14)


def test_spectral_detectors_integrate_with_weights_and_filters():
    rng = np.random.default_rng(0)
    weights, response = rng.random(3), rng.random((4, 3))
    det = qf.nn.SpectralDetectors(16, 3, 4, weights=weights, response=response, detector_size=3)
    inten = torch.from_numpy(rng.random((2, 3, 16, 16)))
    masks = det.mask.numpy()
    ref = S.spectral_energies(np.sqrt(inten.numpy()), weights, masks, response)
    np.testing.assert_allclose(det.energies(inten.double()).numpy(), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        qf.nn.SpectralDetectors(16, 3, 4, weights=[1, 2])
    with pytest.raises(ValueError, match="response"):
        qf.nn.SpectralDetectors(16, 3, 4, response=-np.ones((4, 3)))


def test_propagate_spectral_is_propagate_per_wavelength():
    net = _float64_net()
    h = net.between.transfers
    u = torch.randn(2, 3, 16, 16, dtype=torch.complex128)
    out = propagate_spectral(u, h)
    for w in range(3):
        torch.testing.assert_close(out[:, w], propagate(u[:, w], h[w]), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="transfers"):
        propagate_spectral(u, h[:2])
    with pytest.raises(ValueError, match="transfers"):
        propagate_spectral(u, h[:, :8, :8])


def test_training_step_makes_no_host_sync():
    torch.manual_seed(0)
    net = qf.nn.SpectralD2NN(wavelengths=BAND, material=ABSORBER, quantizer=make_quantizer("psq-lt", 4),
                             coherence=(2e-6, 1e-6, 3), **GEOM).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
    x = net.encode(torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)))
    y = torch.tensor([1, 4, 7])

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y) + net.regularization()
        loss.backward()
        opt.step()

    step()                       # fills the per-device caches
    with SyncGuard() as guard:
        step()
    assert not guard.hits, guard.report()


def test_bad_input():
    with pytest.raises(ValueError, match="quantizer"):
        qf.nn.SpectralD2NN(wavelengths=BAND, material=SILICA,
                           quantizer=qf.quant.STE(qf.quant.levels.from_material(1.5, 0.01, WL, levels=4)), **GEOM)
    with pytest.raises(ValueError, match="denser"):
        qf.nn.SpectralD2NN(wavelengths=BAND, material=M.Constant(1.2), medium=M.Constant(1.33), **GEOM)
    with pytest.raises(ValueError, match="wavelengths"):
        qf.nn.SpectralD2NN(wavelengths=[500e-9, -1.0], material=SILICA, **GEOM)
    with pytest.raises(TypeError, match="coherence"):
        qf.nn.SpectralD2NN(wavelengths=BAND, material=SILICA, coherence=(1e-6, 1e-6), **GEOM)
    net = qf.nn.SpectralD2NN(wavelengths=BAND, material=SILICA, **GEOM)
    with pytest.raises(ValueError, match="'u'"):
        net(torch.zeros(2, 8, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match="'u'"):
        net.output_field(torch.zeros(2, 2, 16, 16, dtype=torch.complex64))


def test_a_measured_height_table_is_what_the_masks_are_made_of(tmp_path):
    fab = np.array([0.0, 95e-9, 205e-9, 330e-9, 440e-9])          # a fab's measured step heights (m)
    table = M.height_level_table(fab, SILICA, M.named_material("vacuum"), 632.8e-9)
    net = qf.nn.SpectralD2NN(wavelengths=BAND, material=SILICA, reference_wavelength=632.8e-9,
                             quantizer=qf.quant.STE(table, period=None), **GEOM)
    net.eval()
    heights = net.fabrication_heights().numpy()
    nearest = fab[np.abs(heights[..., None] - fab).argmin(-1)]
    np.testing.assert_allclose(heights, nearest, rtol=1e-6, atol=1e-15)   # float32 level table
    assert len(np.unique(nearest)) > 2
    with pytest.raises(ValueError, match="heights"):
        M.height_level_table([1e-7], SILICA, M.named_material("vacuum"), 632.8e-9)


def test_transfer_functions_are_built_once_per_device_and_dtype():
    net = qf.nn.SpectralD2NN(wavelengths=BAND, material=SILICA, **GEOM)
    u = torch.zeros(1, 3, 16, 16, dtype=torch.complex64)
    a, b = net.between.transfers_like(u), net.between.transfers_like(u)
    assert a[0] is b[0] and all(x is y for x, y in zip(a[1], b[1]))
    assert a[0].dtype == torch.complex64 and a[0].shape == (3, 32, 32)
    assert net.between.transfers_like(u.to(torch.complex128))[0].dtype == torch.complex128
    # each wavelength's H is the monochromatic one (medium: vacuum)
    for w, lam in enumerate(BAND):
        h = qf.nn.FreeSpace(16, DX, lam, 3e-6, evanescent="decay").transfer
        assert torch.equal(net.between.transfers[w], h)


@pytest.mark.cuda
@pytest.mark.parametrize("material", [SILICA, ABSORBER])
def test_cuda_matches_cpu_and_steps_without_sync(material):
    """On a GPU: lossless layers take one fused launch per wavelength, absorbing ones the batched
    torch path; both equal the CPU network, and a training step passes the sync debug mode."""
    torch.manual_seed(0)
    cpu = qf.nn.SpectralD2NN(wavelengths=BAND, material=material, quantizer=make_quantizer("psq-ft", 4),
                             n=128, dx=DX, num_layers=2, z_in=3e-6, dz=3e-6, z_out=3e-6, object_size=32, seed=0)
    gpu = qf.nn.SpectralD2NN(wavelengths=BAND, material=material, quantizer=make_quantizer("psq-ft", 4),
                             n=128, dx=DX, num_layers=2, z_in=3e-6, dz=3e-6, z_out=3e-6, object_size=32, seed=0).cuda()
    x = cpu.encode(torch.rand(4, 28, 28, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(gpu(x.cuda()).cpu(), cpu(x), rtol=1e-4, atol=1e-5)
    opt = torch.optim.SGD(gpu.parameters(), lr=1e-2)
    y = torch.tensor([0, 1, 2, 3], device="cuda")
    for debug in ("default", "error"):
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode(debug)
        try:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(gpu(x.cuda()), y).backward()
            opt.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
