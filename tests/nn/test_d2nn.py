"""D2NN modules: shapes, physics composition, quantized evaluation, state, export, bad input."""
import math

import numpy as np
import pytest
import torch

from qf_testing import rel_err
from quaton_fast import encode, quant
from quaton_fast.nn import D2NN, FreeSpace, PhaseLayer, preset_config
from quaton_fast.reference import propagation as ref

SMALL = dict(n=24, dx=316.4e-9, wavelength=632.8e-9, num_layers=3, z_in=3e-6, dz=3e-6, z_out=5e-6,
             object_size=12, pad=2, detector_size=2, seed=0)


def _images(b=4, size=28, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).uniform(0, 1, (b, size, size)).astype(np.float32))


def test_free_space_buffer_is_not_persistent_and_matches_reference():
    fs = FreeSpace(16, 316.4e-9, 632.8e-9, 4e-6, pad=2)
    assert "transfer" not in fs.state_dict()
    assert fs.transfer.shape == (32, 32) and fs.transfer.dtype == torch.complex128
    h = ref.angular_spectrum_transfer(32, 316.4e-9, 632.8e-9, 4e-6)
    assert rel_err(fs.transfer.numpy(), h) < 1e-15
    with pytest.raises(ValueError, match="'u'.*16, 16"):
        fs(torch.zeros(1, 8, 8, dtype=torch.complex64))


@pytest.mark.parametrize("evanescent", ["decay", "cut"])
def test_zero_phase_network_equals_one_long_propagation_on_a_periodic_grid(evanescent):
    # With pad = 1 (periodic window) transfer functions compose exactly: H(a)·H(b) = H(a + b),
    # for decaying evanescent waves too (exp(−2πaκ)·exp(−2πbκ) = exp(−2π(a+b)κ) for a, b > 0).
    cfg = dict(SMALL, pad=1)
    model = D2NN(**cfg, readout="field", evanescent=evanescent).double()
    for layer in model.layers:
        with torch.no_grad():
            layer.latent.zero_()
    u = encode.phase(_images(2), cfg["n"], object_size=cfg["object_size"]).to(torch.complex128)
    total = cfg["z_in"] + (cfg["num_layers"] - 1) * cfg["dz"] + cfg["z_out"]
    expected = ref.propagate_free_space(u.numpy(), cfg["dx"], cfg["wavelength"], total, pad=1,
                                        evanescent=evanescent)
    assert rel_err(model(u).detach().numpy(), expected) < 1e-10


def test_every_layer_is_an_n_by_n_aperture():
    # pad 2: each propagation crops to the N×N window, so the network is the chain of cropped
    # propagations (reference), NOT one long propagation of the padded field; light is lost.
    cfg = dict(SMALL, n=16, object_size=12)
    model = D2NN(**cfg, readout="field").double()
    for layer in model.layers:
        with torch.no_grad():
            layer.latent.zero_()
    u = encode.phase(_images(2), 16, object_size=12).to(torch.complex128).numpy()
    chain = u
    for z in [cfg["z_in"]] + [cfg["dz"]] * (cfg["num_layers"] - 1) + [cfg["z_out"]]:
        chain = ref.propagate_free_space(chain, cfg["dx"], cfg["wavelength"], z, pad=2, evanescent="decay")
    got = model(torch.from_numpy(u)).detach().numpy()
    assert rel_err(got, chain) < 1e-10
    total = cfg["z_in"] + (cfg["num_layers"] - 1) * cfg["dz"] + cfg["z_out"]
    one = ref.propagate_free_space(u, cfg["dx"], cfg["wavelength"], total, pad=2 * 4, evanescent="decay")
    assert rel_err(got, one) > 1e-2
    assert np.sum(np.abs(got) ** 2) < 0.99 * np.sum(np.abs(u) ** 2)


def test_evanescent_default_is_decay_and_matters_at_the_lab_preset():
    from quaton_fast.nn.presets import PRESETS, evanescent_default
    assert D2NN(**SMALL).evanescent == "decay"
    for name, cfg in PRESETS.items():
        assert cfg["evanescent"] == evanescent_default(cfg["dx"], cfg["wavelength"], cfg["n_medium"]) == "decay"
        assert cfg["n_medium"] == 1.0
    assert evanescent_default(0.75e-6, 1e-6) == "cut" and evanescent_default(0.7e-6, 1e-6) == "decay"
    assert evanescent_default(0.6e-6, 1e-6, n_medium=1.5) == "cut"
    # visible preset (dx = λ/2, layers 5.3 λ apart), shrunk to 64 px: the detector field of the
    # same masks differs between the two by percents of its peak
    kw = dict(n=64, object_size=32, num_layers=4, readout="field", seed=0)
    a = D2NN.preset("visible-128", **kw).double()
    b = D2NN.preset("visible-128", **kw, evanescent="cut").double()
    assert a.between.evanescent == "decay" and b.between.evanescent == "cut"
    u = a.encode(_images(2)).to(torch.complex128)
    with torch.no_grad():
        ua, ub = a(u), b(u)
    assert float((ua - ub).abs().max() / ua.abs().max()) > 0.01


def test_heights_use_the_vacuum_wavelength_in_a_medium():
    lam0, n_mat, n_med = 632.8e-9, 1.5, 1.33
    model = D2NN(**dict(SMALL, wavelength=lam0, dx=lam0 / n_med / 2), n_medium=n_med, quantizer=quant.PSQ(4)).eval()
    assert model.wavelength_in_medium == pytest.approx(lam0 / n_med, rel=1e-15)
    # the propagation uses λ0/n_medium
    h = ref.angular_spectrum_transfer(48, lam0 / n_med / 2, lam0 / n_med, SMALL["dz"], evanescent="decay")
    assert rel_err(model.between.transfer.numpy(), h) < 1e-15
    phi = model.hard_quantized_phases()
    closed = phi.double() * lam0 / (2 * math.pi * (n_mat - n_med))       # h = φ λ0 / (2π (n_mat − n_med))
    assert torch.allclose(model.fabrication_heights(n_mat).double(), closed, rtol=1e-6, atol=0)
    sel = (phi - math.pi / 2).abs() < 1e-6
    assert float(model.fabrication_heights(n_mat)[sel][0]) == pytest.approx(930.59e-9, abs=0.01e-9)
    # a network built with the in-medium wavelength (old convention) and exported for that medium
    # keeps its simulated diffraction: the heights are for λ0 = λ_medium·n_medium (and it says so)
    old = D2NN(**dict(SMALL, wavelength=lam0 / n_med, dx=lam0 / n_med / 2), quantizer=quant.PSQ(4)).eval()
    with pytest.warns(UserWarning, match="vacuum wavelength 6.328e-07"):
        h_old = old.fabrication_heights(n_mat, n_med)
    ph_old = old.hard_quantized_phases().double()
    assert torch.allclose(h_old.double(), ph_old * lam0 / (2 * math.pi * (n_mat - n_med)), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match=r"fabrication_heights\(\).*'n_material'.*n_medium"):
        model.fabrication_heights(1.2)
    with pytest.raises(ValueError, match=r"'n_medium'"):
        model.fabrication_heights(1.5, n_medium=float("nan"))


def test_export_masks_records_the_medium(tmp_path):
    lam0 = 632.8e-9
    model = D2NN(**dict(SMALL, wavelength=lam0), n_medium=1.33, quantizer=quant.STE(4))
    path = tmp_path / "masks.npz"
    model.export_masks(path, n_material=1.5)
    data = np.load(path)
    phases = model.hard_quantized_phases().numpy()
    assert np.allclose(data["heights"], phases * lam0 / (2 * math.pi * (1.5 - 1.33)), rtol=1e-6, atol=0)
    assert float(data["wavelength"]) == lam0 and float(data["n_medium"]) == 1.33
    assert float(data["wavelength_in_medium"]) == pytest.approx(lam0 / 1.33)
    assert str(data["evanescent"]) == "decay"


@pytest.mark.parametrize("readout,shape", [("classify", (4, 10)), ("qpi", (4, 24, 24)), ("field", (4, 24, 24))])
def test_forward_shapes_and_gradients_reach_every_layer(readout, shape):
    model = D2NN(**SMALL, readout=readout, quantizer=quant.PSQ(4))
    out = model(model.encode(_images()))
    assert out.shape == shape
    loss = (out.abs() ** 2).sum() if out.is_complex() else out.square().sum()
    loss.backward()
    for layer in model.layers:
        assert layer.latent.grad is not None and torch.isfinite(layer.latent.grad).all()
        assert layer.latent.grad.abs().sum() > 0


@pytest.mark.parametrize("q", [quant.PostTraining(4), quant.STE(4), quant.DSQ(4), quant.PSQ(4),
                               quant.GumbelSoftmax(4), quant.PSQ(4, quant.LearnableTemperature())])
def test_evaluation_uses_hard_levels(q):
    model = D2NN(**SMALL, quantizer=q)
    model.eval()
    levels = np.arange(4) * (2 * math.pi / 4)
    for layer in model.layers:
        phase = layer.phase().detach().numpy()
        # hard phases are levels up to the wrap step q_0 + 2π ≡ q_0
        d = np.abs(np.mod(phase[..., None] - levels + math.pi, 2 * math.pi) - math.pi).min(axis=-1)
        assert d.max() < 1e-5
    masks = model.hard_quantized_phases().numpy()
    assert masks.shape == (3, 24, 24)
    assert np.isin(np.round(masks / (math.pi / 2)).astype(int), [0, 1, 2, 3]).all()
    assert np.abs(masks - np.round(masks / (math.pi / 2)) * (math.pi / 2)).max() < 1e-5


def test_switch_quantizer_wraps_full_precision_phases_into_one_period():
    model = D2NN(**SMALL)  # full precision
    with torch.no_grad():
        for layer in model.layers:
            layer.latent.add_(torch.linspace(-20, 20, 24 * 24).reshape(24, 24))
    before = [layer.latent.detach().clone() for layer in model.layers]
    model.switch_quantizer(quant.PSQ(4))
    for old, layer in zip(before, model.layers):
        new = layer.latent.detach()
        assert new.min() >= 0 and new.max() < 2 * math.pi
        assert torch.allclose(torch.polar(torch.ones_like(new), new), torch.polar(torch.ones_like(old), old), atol=1e-4)
        assert isinstance(layer.quantizer, quant.PSQ)
    assert model.layers[0].quantizer is not model.layers[1].quantizer


def test_gumbel_switch_makes_logits_that_pick_the_nearest_level():
    model = D2NN(**SMALL)
    model.switch_quantizer(quant.GumbelSoftmax(4))
    layer = model.layers[0]
    assert layer.latent.shape == (24, 24, 4)


def test_psq_lt_has_one_temperature_per_layer_and_the_regulariser():
    q = quant.PSQ(4, quant.LearnableTemperature(lambda1=0.01, beta=5))
    model = D2NN(**SMALL, quantizer=q)
    kappas = [layer.quantizer.kappa for layer in model.layers]
    assert len({id(k) for k in kappas}) == 3
    with torch.no_grad():
        for i, k in enumerate(kappas):
            k.fill_(0.1 * (i + 1))
    expected = 0.5 * 0.01 * sum((0.1 * (i + 1)) ** 2 for i in range(3))
    model.set_epoch(0)
    assert float(model.regularization()) == pytest.approx(expected, rel=1e-6)
    model.set_epoch(5)   # λ doubles every β = 5 epochs
    assert float(model.regularization()) == pytest.approx(2 * expected, rel=1e-6)
    model.set_epoch(12)
    assert float(model.regularization()) == pytest.approx(4 * expected, rel=1e-6)
    out = model(model.encode(_images()))
    (torch.nn.functional.cross_entropy(out, torch.arange(4)) + model.regularization()).backward()
    assert all(k.grad is not None and float(k.grad) != 0.0 for k in kappas)


def test_state_dict_round_trip_keeps_outputs_and_epoch():
    q = quant.PSQ(4, quant.LearnableTemperature())
    a = D2NN(**SMALL, quantizer=q)
    a.set_epoch(7)
    b = D2NN(**dict(SMALL, seed=1), quantizer=q)
    b.load_state_dict(a.state_dict())
    x = a.encode(_images())
    assert torch.equal(a(x), b(x))
    assert int(b.layers[0].quantizer.epoch) == 7
    assert not any("transfer" in k for k in a.state_dict())


def test_export_masks_writes_heights_atomically(tmp_path):
    model = D2NN(**SMALL, quantizer=quant.STE(4))
    path = tmp_path / "masks.npz"
    model.export_masks(path, n_material=1.5)
    data = np.load(path)
    phases = model.hard_quantized_phases().numpy()
    assert np.allclose(data["heights"], phases * 632.8e-9 / (2 * math.pi * 0.5))
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(ValueError, match="n_material"):
        model.fabrication_heights(n_material=1.0)


def test_presets_build_and_bad_arguments_are_named():
    cfg = preset_config("visible-128")
    assert cfg["dx"] == pytest.approx(632.8e-9 / 2) and cfg["num_layers"] == 8 and cfg["n"] == 128
    model = D2NN.preset("thz-200", n=20, object_size=10, detector_size=1)
    assert model.between.z == pytest.approx(30e-3) and model.wavelength == pytest.approx(0.75e-3)
    with pytest.raises(ValueError, match="'name'"):
        D2NN.preset("nope")
    with pytest.raises(ValueError, match="'readout'"):
        D2NN(**SMALL, readout="x")
    with pytest.raises(ValueError, match="'num_layers'"):
        D2NN(**dict(SMALL, num_layers=0))
    with pytest.raises(ValueError, match="'wavelength'"):
        D2NN(**dict(SMALL, wavelength=-1.0))
    with pytest.raises(TypeError, match="'quantizer'"):
        PhaseLayer(4, quantizer="psq")
    with pytest.raises(ValueError, match="'object_size'"):
        encode.phase(_images(), 8, object_size=12)


def test_phase_encoding_is_unit_modulus_and_transparent_outside_the_object():
    u = encode.phase(_images(2), 40, object_size=20)
    assert u.shape == (2, 40, 40) and u.dtype == torch.complex64
    assert torch.allclose(u.abs(), torch.ones(2, 40, 40))
    assert torch.equal(u[:, :10, :], torch.ones(2, 10, 40, dtype=torch.complex64))
    a = encode.amplitude(_images(2), 40, object_size=20)
    assert float(a[:, :10].abs().max()) == 0.0
