"""NumPy reference of broadband height-parametrized networks: finite differences (float64),
energy conservation per wavelength, reciprocity, the one-wavelength limit."""
from __future__ import annotations

import numpy as np

from quaton_fast.reference import propagation as P
from quaton_fast.reference import spectral as S

WL = np.array([500e-9, 600e-9, 700e-9])
DX = 400e-9


def _case(n=8, pad=2, layers=2, seed=0, evanescent="decay"):
    rng = np.random.default_rng(seed)
    zs = [3e-6, 2e-6, 4e-6][:layers + 1]
    transfers = [S.spectral_transfers(pad * n, DX, WL, z, n_medium=np.array([1.0, 1.01, 1.02]),
                                      evanescent=evanescent) for z in zs]
    thetas = rng.uniform(0, 2 * np.pi, (layers, n, n))
    u = rng.normal(size=(2, len(WL), n, n)) + 1j * rng.normal(size=(2, len(WL), n, n))
    scales = np.array([1.25, 1.0, 0.8])
    atten = np.array([0.05, 0.02, 0.0])
    return u, thetas, scales, atten, transfers


def _loss(u, thetas, scales, atten, transfers, masks, resp, ge):
    out, _ = S.network_forward(u, thetas, scales, atten, transfers)
    return float(np.sum(ge * S.spectral_energies(out, [0.2, 0.5, 0.3], masks, resp)))


def test_backward_matches_float64_finite_differences():
    u, thetas, s, a, tr = _case()
    rng = np.random.default_rng(1)
    masks = (rng.random((3, 8, 8)) < 0.3).astype(float)
    resp = rng.random((3, 3))
    ge = rng.normal(size=(2, 3))
    out, _ = S.network_forward(u, thetas, s, a, tr)
    g_out = S.spectral_energies_backward(out, [0.2, 0.5, 0.3], masks, resp, ge)
    g_u, g_th = S.network_backward(u, thetas, s, a, tr, g_out)
    eps = 1e-6
    for (l, i, j) in [(0, 1, 2), (1, 5, 3), (0, 7, 7), (1, 0, 4)]:
        tp, tm = thetas.copy(), thetas.copy()
        tp[l, i, j] += eps
        tm[l, i, j] -= eps
        fd = (_loss(u, tp, s, a, tr, masks, resp, ge) - _loss(u, tm, s, a, tr, masks, resp, ge)) / (2 * eps)
        assert abs(fd - g_th[l, i, j]) <= 1e-6 * max(1.0, abs(fd))
    for idx in [(0, 0, 3, 4), (1, 2, 6, 1)]:
        for d, part in ((eps, np.real), (1j * eps, np.imag)):
            up, um = u.copy(), u.copy()
            up[idx] += d
            um[idx] -= d
            fd = (_loss(up, thetas, s, a, tr, masks, resp, ge) - _loss(um, thetas, s, a, tr, masks, resp, ge)) / (2 * eps)
            assert abs(fd - part(g_u[idx])) <= 1e-6 * max(1.0, abs(fd))


def test_energy_is_conserved_per_wavelength_without_loss_or_crop():
    # P = N (no crop) and dx >= λ/√2 (no evanescent waves): every propagation is unitary, a
    # lossless relief is a pure phase: each wavelength keeps its energy
    u, thetas, s, _, _ = _case(pad=1)
    tr = [S.spectral_transfers(8, 0.5e-6, WL, z) for z in (3e-6, 2e-6, 4e-6)]
    out, _ = S.network_forward(u, thetas, s, None, tr)
    np.testing.assert_allclose(np.sum(np.abs(out) ** 2, axis=(-2, -1)), np.sum(np.abs(u) ** 2, axis=(-2, -1)),
                               rtol=1e-12)


def test_absorbing_relief_loses_energy_at_the_absorbing_wavelengths_only():
    u, thetas, s, a, _ = _case(pad=1)
    tr = [S.spectral_transfers(8, 0.5e-6, WL, z) for z in (3e-6, 2e-6, 4e-6)]
    out, _ = S.network_forward(u, thetas, s, a, tr)
    e_in, e_out = (np.sum(np.abs(x) ** 2, axis=(-2, -1)) for x in (u, out))
    assert np.all(e_out[:, :2] < e_in[:, :2] * (1 - 1e-3))
    np.testing.assert_allclose(e_out[:, 2], e_in[:, 2], rtol=1e-12)


def test_reciprocity():
    # T = A_L M_L … M_1 A_0 is symmetric per element: xᵀ T y = yᵀ T_rev x with T_rev the same
    # network traversed backwards (layers and distances in reverse order)
    u, thetas, s, a, tr = _case(layers=2)
    rng = np.random.default_rng(3)
    y = rng.normal(size=u.shape) + 1j * rng.normal(size=u.shape)
    t_u, _ = S.network_forward(u, thetas, s, a, tr)
    t_rev_y, _ = S.network_forward(y, thetas[::-1], s, a, tr[::-1])
    lhs = np.sum(t_u * y, axis=(-2, -1))
    rhs = np.sum(u * t_rev_y, axis=(-2, -1))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-11)


def test_one_wavelength_is_the_monochromatic_phase_network():
    rng = np.random.default_rng(4)
    n, p = 8, 16
    thetas = rng.uniform(0, 2 * np.pi, (2, n, n))
    u = rng.normal(size=(n, n)) + 0j
    hs = [P.angular_spectrum_transfer(p, DX, 600e-9, z, evanescent="decay") for z in (3e-6, 2e-6, 4e-6)]
    ref = P.propagate(u, hs[0])
    for l in range(2):
        ref = P.propagate(ref * np.exp(1j * thetas[l]), hs[l + 1])
    out, _ = S.network_forward(u[None, None], thetas, [1.0], None, [h[None] for h in hs])
    np.testing.assert_array_equal(out[0, 0], ref)


def test_partially_coherent_backward_matches_finite_differences():
    from quaton_fast.reference import coherence as C
    u, thetas, s, a, tr = _case()
    modes, beta = C.gsm_modes(8, DX, 1e-6, 0.6e-6, 3)
    gi = np.random.default_rng(5).random(u.shape)
    loss = lambda th: float(np.sum(gi * S.partially_coherent_intensity(u, modes, beta, th, s, a, tr)))  # noqa: E731
    g = S.partially_coherent_backward(u, modes, beta, thetas, s, a, tr, gi)
    eps = 1e-6
    for (l, i, j) in [(0, 2, 3), (1, 6, 1)]:
        tp, tm = thetas.copy(), thetas.copy()
        tp[l, i, j] += eps
        tm[l, i, j] -= eps
        fd = (loss(tp) - loss(tm)) / (2 * eps)
        assert abs(fd - g[l, i, j]) <= 1e-6 * max(1.0, abs(fd))
