"""Complex (absorbing) level tables (issue 18): the NumPy reference against the material formula
and finite differences, the torch quantizers against the reference, a phase-only complex table
bit-identical to today's phase path, and bad tables refused with the argument named."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import quaton_fast as qf
from quaton_fast.functional import transmission as FT
from quaton_fast.functional.propagation import angular_spectrum_transfer, propagate
from quaton_fast.quant import levels as L
from quaton_fast.reference import complex_levels as R
from quaton_fast.reference.levels import uniform_levels

TWO_PI = 2 * math.pi
#: float64 torch vs float64 NumPy, same formulas: rounding only
F64_RTOL = 1e-12
#: float32 torch vs float64 reference, O(1) values and O(k) slopes
F32_ATOL = 2e-5
#: quantizer modules hold their tables in float32 buffers (as the phase quantizers do): a float64
#: run sees the levels rounded to float32 (relative 6e-8), thresholds too (slope k·|δ| ≲ 10 → 1e-6)
MODULE_TABLE_ATOL = 5e-6
#: central differences, step 1e-6, smooth functions of O(1) curvature·k²
FD_RTOL = 1e-6


def _absorbing(k=4, kappa=0.05, n=1.7):
    return L.from_material(n, kappa, 750e-9, levels=k)


def _measured():
    """A non-uniform measured table: phases and amplitudes out of a lab notebook."""
    ph = np.array([0.1, 1.3, 2.0, 3.9, 5.1])
    a = np.array([0.95, 0.7, 0.88, 0.5, 0.99])
    return L.complex_level_table(a * np.exp(1j * ph))


TABLES = {"material4": lambda: _absorbing(4), "material8": lambda: _absorbing(8, 0.1, 1.5),
          "material2": lambda: _absorbing(2, 0.2), "measured5": _measured}


# ----------------------------------------------------------------------------- the tables
def test_from_material_matches_the_relief_formula():
    n, kappa, lam, nm = 1.72, 0.031, 0.75e-3, 1.0003
    h = np.array([0.0, 0.2e-3, 0.41e-3, 0.77e-3])
    t = L.from_material(n, kappa, lam, heights=h, n_medium=nm)
    want = np.exp(-2 * np.pi * kappa * h / lam) * np.exp(1j * 2 * np.pi * (n - nm) * h / lam)
    np.testing.assert_allclose(t.transmissions, want, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(t.phases, 2 * np.pi * (n - nm) * h / lam, rtol=1e-15)
    assert t.phase_table.period == TWO_PI and not t.phase_only


def test_from_material_levels_are_evenly_spaced_heights_over_one_period():
    n, kappa, lam, k = 1.6, 0.04, 532e-9, 8
    t = L.from_material(n, kappa, lam, levels=k)
    h = np.arange(k) * lam / (k * (n - 1.0))
    want = np.exp(-2 * np.pi * kappa * h / lam) * np.exp(1j * 2 * np.pi * (n - 1.0) * h / lam)
    np.testing.assert_allclose(t.transmissions, want, rtol=1e-13, atol=1e-15)
    assert np.array_equal(t.phases, uniform_levels(k).levels)  # the phase table is today's uniform table
    assert np.all(np.diff(t.amplitudes) < 0) and t.amplitudes[0] == 1.0  # deeper absorbs more


def test_measured_table_keeps_order_and_unwraps_phases():
    ph = np.array([5.5, 0.3, 2.0])  # increasing mod 2π from level 0: 5.5, 6.58, 8.28
    t = L.complex_level_table(0.9 * np.exp(1j * ph))
    np.testing.assert_allclose(np.mod(t.phases, TWO_PI), np.mod(ph, TWO_PI), atol=1e-14)
    assert np.all(np.diff(t.phases) > 0) and t.phases[-1] - t.phases[0] < TWO_PI
    np.testing.assert_allclose(t.transmissions, 0.9 * np.exp(1j * ph), atol=1e-15)


def test_unit_amplitudes_count_as_phase_only():
    t = L.complex_level_table(np.exp(1j * np.array([0.0, 1.0, 2.5, 4.0])))
    assert t.phase_only and np.all(t.amplitudes == 1.0)
    assert L.from_material(1.5, 0.0, 1e-6, levels=4).phase_only


@pytest.mark.parametrize("call, arg", [
    (lambda: L.complex_level_table(np.array([1.0, 1.01j])), "transmissions"),          # |t| > 1
    (lambda: L.complex_level_table(np.array([1.0, 0.0, -0.5])), "transmissions"),      # zero amplitude
    (lambda: L.complex_level_table(np.array([1.0, 0.5j, 0.5j])), "transmissions"),     # duplicate phase
    (lambda: L.complex_level_table(np.array([1.0, -0.5, 0.5j])), "transmissions"),     # not phase-sorted
    (lambda: L.complex_level_table(np.array([1.0])), "transmissions"),                 # one level
    (lambda: L.complex_level_table(np.array([1.0, np.nan])), "transmissions"),
    (lambda: L.complex_level_table(np.ones((2, 2))), "transmissions"),
    (lambda: L.from_material(1.5, 0.01, 1e-6, heights=[0.0, 1e-6, 2.1e-6]), "heights"),  # > one period
    (lambda: L.from_material(1.5, 0.01, 1e-6, heights=[0.0, 0.5e-6, 0.5e-6]), "heights"),
    (lambda: L.from_material(1.5, 0.01, 1e-6, heights=[-1e-7, 0.5e-6]), "heights"),
    (lambda: L.from_material(1.5, 0.01, 1e-6), "heights"),                               # neither
    (lambda: L.from_material(1.5, 0.01, 1e-6, heights=[0, 1e-7], levels=4), "heights"),  # both
    (lambda: L.from_material(1.5, -0.01, 1e-6, levels=4), "kappa"),
    (lambda: L.from_material(1.0, 0.01, 1e-6, levels=4), "n"),                           # n == n_medium
    (lambda: L.from_material(1.5, 0.01, -1e-6, levels=4), "wavelength"),
    (lambda: L.from_material(1.5, 0.01, 1e-6, levels=1), "levels"),
    (lambda: L.from_material(1.5, 1e5, 1e-6, levels=4), "kappa"),                        # underflow to 0
])
def test_bad_tables_are_refused_naming_the_argument(call, arg):
    with pytest.raises((ValueError, TypeError), match=rf"argument '{arg}'"):
        call()


# ----------------------------------------------------------------------------- reference vs FD
def _fd(f, w, c, h=1e-6):
    """d/dw_j of L(w) = Σ Re(conj(c)·f(w)) by central differences (f elementwise, so one shift of
    all w_j at once gives every partial derivative)."""
    return (np.conj(c) * (f(w + h) - f(w - h))).real / (2 * h)


def _scalar_fd(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("name", list(TABLES))
def test_psq_reference_backward_matches_finite_differences(name):
    t = TABLES[name]()
    rng = np.random.default_rng(1)
    w = rng.uniform(-7, 14, size=(6, 5))
    c = rng.normal(size=w.shape) + 1j * rng.normal(size=w.shape)
    k = 3.0
    gw, gk = R.psq_transmission_backward(c, w, t, k)
    np.testing.assert_allclose(gw, _fd(lambda v: R.psq_transmission(v, t, k), w, c), rtol=FD_RTOL, atol=1e-8)
    loss = lambda kk: float(np.sum((np.conj(c) * R.psq_transmission(w, t, kk)).real))  # noqa: E731
    assert gk == pytest.approx(_scalar_fd(loss, k), rel=FD_RTOL, abs=1e-8)


@pytest.mark.parametrize("name", list(TABLES))
def test_dsq_reference_backward_matches_finite_differences(name):
    t = TABLES[name]()
    rng = np.random.default_rng(2)
    # stay away from the interval ends (the soft curve's slope jumps there)
    w = rng.uniform(-7, 14, size=(40,))
    ends = t.phase_table.extended_levels
    x = np.asarray(R.fold_latent(w, t.phase_table))
    w = w[np.min(np.abs(x[:, None] - ends[None, :]), axis=1) > 1e-3]
    c = rng.normal(size=w.shape) + 1j * rng.normal(size=w.shape)
    a = 0.3
    soft = lambda v, aa=a: R.dsq_transmission(v, t, aa, hard_forward=False)  # noqa: E731
    gw, ga = R.dsq_transmission_backward(c, w, t, a)
    np.testing.assert_allclose(gw, _fd(soft, w, c), rtol=FD_RTOL, atol=1e-7)
    loss = lambda aa: float(np.sum((np.conj(c) * soft(w, aa)).real))  # noqa: E731
    assert ga == pytest.approx(_scalar_fd(loss, a), rel=FD_RTOL, abs=1e-7)
    # the soft curve joins the levels: at the interval ends it equals t_i
    np.testing.assert_allclose(soft(t.phases), t.transmissions, atol=1e-13)


@pytest.mark.parametrize("name", list(TABLES))
def test_gumbel_reference_backward_matches_finite_differences_of_the_soft_value(name):
    t = TABLES[name]()
    rng = np.random.default_rng(3)
    z = rng.normal(size=(4, t.n))
    g = rng.gumbel(size=z.shape)
    c = rng.normal(size=(4,)) + 1j * rng.normal(size=(4,))
    tau = 0.7
    grad = R.gumbel_transmission_backward(c, z, t, tau, g)

    def soft(zz):
        y = np.exp((zz + g) / tau)
        y /= y.sum(-1, keepdims=True)
        return float(np.sum((np.conj(c) * (y @ t.transmissions)).real))
    fd = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = 1e-6
        fd[idx] = (soft(z + e) - soft(z - e)) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=FD_RTOL, atol=1e-8)


def test_hard_reference_picks_the_level_nearest_in_phase_periodically():
    t = _measured()
    rng = np.random.default_rng(4)
    w = rng.uniform(-20, 20, size=500)
    # brute force: periodic distance to every level, nearest wins
    d = np.abs(np.mod(w[:, None] - t.phases[None, :] + np.pi, TWO_PI) - np.pi)
    want = t.transmissions[np.argmin(d, axis=1)]
    np.testing.assert_array_equal(R.hard_transmission(w, t), want)
    # PSQ tends to it as k grows (away from thresholds)
    far = np.min(np.abs(np.mod(w[:, None] - t.phase_table.thresholds + np.pi, TWO_PI) - np.pi), axis=1) > 0.05
    np.testing.assert_allclose(R.psq_transmission(w[far], t, 2000.0), want[far], atol=1e-12)


# ----------------------------------------------------------------------------- torch vs reference
def _tt(t, dtype):
    return FT.complex_table_tensors(t, dtype=dtype)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, F64_RTOL), (torch.float32, F32_ATOL)])
@pytest.mark.parametrize("name", list(TABLES))
def test_torch_psq_and_dsq_match_the_reference(name, dtype, tol):
    t = TABLES[name]()
    rng = np.random.default_rng(5)
    w_np = rng.uniform(-7, 14, size=(7, 7))
    c_np = rng.normal(size=w_np.shape) + 1j * rng.normal(size=w_np.shape)
    a = _tt(t, dtype)
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    scale = 1.0 if dtype == torch.float64 else 10.0  # float32 slopes: k·|δ| with k = 3
    # PSQ with a learnable k
    w = torch.tensor(w_np, dtype=dtype, requires_grad=True)
    k = torch.tensor(3.0, dtype=dtype, requires_grad=True)
    out = FT.psq_transmission(w, k, a["thresholds"], a["transmissions"], a["base"], period=a["period"])
    out.backward(torch.tensor(c_np, dtype=cdt))
    gw, gk = R.psq_transmission_backward(c_np, w_np, t, 3.0)
    atol = tol if dtype == torch.float32 else 1e-13
    np.testing.assert_allclose(out.detach().numpy(), R.psq_transmission(w_np, t, 3.0), rtol=tol, atol=atol)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=tol, atol=atol * scale)
    assert float(k.grad) == pytest.approx(gk, rel=tol * scale, abs=atol * 100)
    # DSQ soft with a learnable alpha, and the hard forward
    lv = torch.tensor(t.phases, dtype=dtype)
    w = torch.tensor(w_np, dtype=dtype, requires_grad=True)
    al = torch.tensor(0.3, dtype=dtype, requires_grad=True)
    out = FT.dsq_transmission(w, al, lv, a["thresholds"], a["transmissions"], a["base"], hard_forward=False)
    out.backward(torch.tensor(c_np, dtype=cdt))
    gw, ga = R.dsq_transmission_backward(c_np, w_np, t, 0.3)
    np.testing.assert_allclose(out.detach().numpy(), R.dsq_transmission(w_np, t, 0.3, hard_forward=False),
                               rtol=tol, atol=atol)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=tol, atol=atol * scale)
    assert float(al.grad) == pytest.approx(ga, rel=tol * scale, abs=atol * 100)
    w = torch.tensor(w_np, dtype=dtype, requires_grad=True)
    out = FT.dsq_transmission(w, 0.3, lv, a["thresholds"], a["transmissions"], a["base"], hard_forward=True)
    out.backward(torch.tensor(c_np, dtype=cdt))
    np.testing.assert_allclose(out.detach().numpy(), R.hard_transmission(w_np, t), rtol=tol, atol=atol)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=tol, atol=atol * scale)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-13), (torch.float32, F32_ATOL)])
@pytest.mark.parametrize("name", list(TABLES))
def test_torch_hard_ste_gumbel_match_the_reference(name, dtype, tol):
    t = TABLES[name]()
    rng = np.random.default_rng(6)
    w_np = rng.uniform(-7, 14, size=(5, 6))
    c_np = rng.normal(size=w_np.shape) + 1j * rng.normal(size=w_np.shape)
    a = _tt(t, dtype)
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    w = torch.tensor(w_np, dtype=dtype, requires_grad=True)
    hard = FT.hard_transmission(w, a["thresholds"], a["transmissions"], a["base"])
    np.testing.assert_allclose(hard.numpy(), R.hard_transmission(w_np, t), atol=tol)
    out = FT.ste_transmission(w, a["thresholds"], a["transmissions"], a["base"])
    out.backward(torch.tensor(c_np, dtype=cdt))
    np.testing.assert_allclose(out.detach().numpy(), R.ste_transmission(w_np, t), atol=tol)
    np.testing.assert_allclose(w.grad.numpy(), R.ste_transmission_backward(c_np, w_np, t), atol=tol * 10)
    z_np = rng.normal(size=(5, 6, t.n))
    g_np = rng.gumbel(size=z_np.shape)
    z = torch.tensor(z_np, dtype=dtype, requires_grad=True)
    out = FT.gumbel_softmax_transmission(z, a["transmissions"], 0.7, torch.tensor(g_np, dtype=dtype))
    out.backward(torch.tensor(c_np, dtype=cdt))
    np.testing.assert_allclose(out.detach().numpy(), R.gumbel_transmission(z_np, t, 0.7, g_np), atol=tol)
    np.testing.assert_allclose(z.grad.numpy(), R.gumbel_transmission_backward(c_np, z_np, t, 0.7, g_np),
                               atol=tol * 10)


def test_nonfinite_latent_gives_nan_not_a_level():
    t = _absorbing(4)
    a = _tt(t, torch.float32)
    w = torch.tensor([0.3, float("nan"), float("inf")])
    for out in (FT.hard_transmission(w, a["thresholds"], a["transmissions"], a["base"]),
                FT.psq_transmission(w, 5.0, a["thresholds"], a["transmissions"], a["base"]),
                FT.ste_transmission(w, a["thresholds"], a["transmissions"], a["base"])):
        assert torch.isfinite(out[0]) and not torch.isfinite(out[1]) and not torch.isfinite(out[2])


# ----------------------------------------------------------------------------- quantizer modules
def _modules(table):
    return {"pq": qf.quant.PostTraining(table), "ste": qf.quant.STE(table), "dsq": qf.quant.DSQ(table),
            "psq": qf.quant.PSQ(table, qf.quant.FixedTemperature(k=6.0)),
            "psq-lt": qf.quant.PSQ(table, qf.quant.LearnableTemperature())}


@pytest.mark.parametrize("name", ["pq", "ste", "dsq", "psq", "psq-lt"])
def test_modules_train_and_eval_on_the_reference(name):
    t = _absorbing(4, 0.1)
    q = _modules(t)[name].double()
    assert q.is_complex
    w_np = np.random.default_rng(7).uniform(-3, 9, size=(6, 6))
    w = torch.tensor(w_np)
    q.train()
    out = q.transmission(w).detach().numpy()
    want = {"pq": lambda: np.exp(1j * w_np), "ste": lambda: R.ste_transmission(w_np, t),
            "dsq": lambda: R.dsq_transmission(w_np, t, 0.2),
            "psq": lambda: R.psq_transmission(w_np, t, 6.0),
            "psq-lt": lambda: R.psq_transmission(w_np, t, float(q.sharpness().detach()))}[name]()
    np.testing.assert_allclose(out, want, atol=MODULE_TABLE_ATOL)
    q.eval()
    np.testing.assert_allclose(q.transmission(w).numpy(), R.hard_transmission(w_np, t), atol=1e-7)
    np.testing.assert_allclose(q.hard_phase(w).numpy(), t.phases[np.searchsorted(
        t.phase_table.thresholds, np.asarray(R.fold_latent(w_np, t.phase_table)), side="right") % t.n])


def test_gumbel_module_eval_is_the_argmax_level():
    t = _absorbing(4, 0.1)
    q = qf.quant.GumbelSoftmax(t, seed=1).double()
    z = torch.randn(5, 5, 4, dtype=torch.float64)
    q.eval()
    np.testing.assert_allclose(q.transmission(z).numpy(), t.transmissions[z.argmax(-1).numpy()], atol=1e-7)
    q.train()
    out = q.transmission(z)  # a straight-through sample: always one of the levels
    assert np.all(np.min(np.abs(out.detach().numpy()[..., None] - t.transmissions), axis=-1) < 1e-7)


def _tiny_net(quantizer, seed=0):
    torch.manual_seed(seed)
    return qf.nn.D2NN(n=16, dx=316.4e-9, wavelength=632.8e-9, num_layers=2, z_in=3e-6, dz=3e-6, z_out=3e-6,
                      object_size=8, quantizer=quantizer, seed=seed)


@pytest.mark.parametrize("name", ["pq", "ste", "dsq", "psq-ft", "psq-lt", "gs"])
def test_phase_only_complex_table_reproduces_todays_results_exactly(name):
    """from_material with κ = 0 is a phase-only complex table: forward, gradients and eval output
    of a D2NN are bit-identical to the plain 4-level phase table."""
    ct = L.from_material(1.5, 0.0, 632.8e-9, levels=4)
    make = lambda lv: (qf.quant.make_quantizer(name, lv, seed=3) if name == "gs"  # noqa: E731
                       else qf.quant.make_quantizer(name, lv))
    outs = []
    for levels in (4, ct):
        net = _tiny_net(make(levels)).train()
        assert not net.layers[0].quantizer.is_complex
        x = net.encode(torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1)))
        y = net(x)
        y.sum().backward()
        net.eval()
        outs.append((y.detach(), [p.grad.clone() for p in net.parameters()], net(x).detach()))
    (y0, g0, e0), (y1, g1, e1) = outs
    assert torch.equal(y0, y1) and torch.equal(e0, e1)
    assert all(torch.equal(a, b) for a, b in zip(g0, g1))


def test_layer_multiplies_the_field_by_the_complex_level_and_absorbs():
    t = _absorbing(4, 0.2)
    layer = qf.nn.PhaseLayer(8, qf.quant.PSQ(t)).double().eval()
    h = angular_spectrum_transfer(16, 316.4e-9, 632.8e-9, 3e-6, dtype=torch.complex128)
    u = torch.randn(2, 8, 8, dtype=torch.complex128)
    ref_t = R.hard_transmission(layer.latent.detach().numpy(), t)
    np.testing.assert_allclose(layer(u).numpy(), u.numpy() * ref_t, atol=1e-7 * float(u.abs().max()))
    np.testing.assert_allclose(layer.modulate_propagate(u, h).numpy(),
                               propagate(u * torch.tensor(ref_t), h).numpy(), atol=1e-6)
    # passive: the absorbing mask removes power (|t| < 1 except on level 0)
    assert float((layer(u).abs() ** 2).sum()) < float((u.abs() ** 2).sum())


def test_material_options_of_make_quantizer():
    q = qf.quant.make_quantizer("psq-ft", 4, material_n=1.7, material_kappa=0.05, k=10.0)
    assert q.is_complex and q.complex_table == L.from_material(1.7, 0.05, 1.0, levels=4)
    assert q.schedule.sharpness(0) == 10.0
    with pytest.raises(ValueError, match="argument 'material_n'"):
        qf.quant.make_quantizer("psq-ft", 4, material_kappa=0.05)
    with pytest.raises(ValueError, match="argument 'kappa'"):
        qf.quant.make_quantizer("ste", 4, material_n=1.7, material_kappa=-1.0)


# ----------------------------------------------------------------------------- transmission-domain STE
@pytest.mark.parametrize("table", ["phase2", "material2", "measured5"])
def test_transmission_ste_forwards_the_hard_level_and_backs_through_the_soft_chord(table):
    t = {"phase2": lambda: L.complex_level_table(np.array([1.0, -1.0])), "material2": lambda: _absorbing(2, 0.2),
         "measured5": _measured}[table]()
    q = qf.quant.STE(t, transmission_backward=True, k=2.0).double().train()
    assert q.uses_transmission
    rng = np.random.default_rng(8)
    w_np = rng.uniform(-7, 14, size=(6, 6))
    c_np = rng.normal(size=w_np.shape) + 1j * rng.normal(size=w_np.shape)
    w = torch.tensor(w_np, requires_grad=True)
    out = q.transmission(w)
    out.backward(torch.tensor(c_np))
    np.testing.assert_allclose(out.detach().numpy(), R.hard_transmission(w_np, t), atol=1e-7)
    # float32-stored table (MODULE_TABLE_ATOL): gradient is that of the soft chord PSQ at k = 2
    np.testing.assert_allclose(w.grad.numpy(), R.psq_transmission_backward(c_np, w_np, t, 2.0)[0],
                               atol=MODULE_TABLE_ATOL)


def test_transmission_ste_on_a_plain_two_level_phase_table_trains_a_layer():
    """2 phase levels {0, π}: the layer multiplies by ±1 in the forward pass (the same mask as the
    phase STE) and the latents get a non-zero gradient from the amplitude (chord) signal."""
    q = qf.quant.make_quantizer("ste", 2, transmission_backward=True, k=2.0)
    net = _tiny_net(q).train()
    x = net.encode(torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1)))
    t = net.layers[0].transmission()
    assert torch.allclose(t.imag, torch.zeros_like(t.imag), atol=1e-6)
    assert torch.allclose(t.real.abs(), torch.ones_like(t.real), atol=1e-6)
    net(x).sum().backward()
    assert all(float(layer.latent.grad.abs().sum()) > 0 for layer in net.layers)
    net.eval()
    np.testing.assert_allclose(net.layers[0].transmission().detach().numpy(),
                               np.exp(1j * net.layers[0].hard_phase().numpy()), atol=1e-6)


@pytest.mark.parametrize("complex_table", [False, True])
def test_layer_phase_error_multiplies_the_transmission_by_exp_i_error(complex_table):
    """The hook D2NN uses for fabrication phase errors: same result as adding the error to the
    phase (phase table) / multiplying the level's transmission by exp(i·error) (complex table)."""
    levels = _absorbing(4, 0.2) if complex_table else 4
    layer = qf.nn.PhaseLayer(8, qf.quant.PSQ(levels)).double().train()
    h = angular_spectrum_transfer(16, 316.4e-9, 632.8e-9, 3e-6, dtype=torch.complex128)
    u = torch.randn(2, 8, 8, dtype=torch.complex128)
    err = torch.randn(8, 8, dtype=torch.float64) * 0.3
    want = propagate(u * layer.transmission() * torch.exp(1j * err), h)
    torch.testing.assert_close(layer.modulate_propagate(u, h, phase_error=err), want, rtol=1e-12, atol=1e-12)
