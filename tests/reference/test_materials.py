"""Material models (reference/materials.py) against catalogue values and the monochromatic formula."""
from __future__ import annotations

import numpy as np
import pytest

from quaton_fast.reference import materials as M
from quaton_fast.reference.complex_levels import from_material


@pytest.mark.parametrize("name, lam, n_ref, tol", [
    ("fused-silica", 587.56e-9, 1.4585, 1e-4),   # Malitson 1965 n_d
    ("fused-silica", 1064e-9, 1.4496, 1e-4),     # Malitson 1965 at 1.064 µm
    ("n-bk7", 587.56e-9, 1.5168, 1e-4),          # Schott catalogue n_d
    ("n-bk7", 486.13e-9, 1.5224, 1e-4),          # Schott catalogue n_F
    ("pmma", 589.3e-9, 1.4905, 5e-4),            # Sultanova 2009 n_D
])
def test_named_materials_match_catalogue_indices(name, lam, n_ref, tol):
    assert abs(M.named_material(name).n(lam)[0] - n_ref) < tol


@pytest.mark.parametrize("name", ["fused-silica", "n-bk7", "pmma"])
def test_normal_dispersion_and_range(name):
    m = M.named_material(name)
    lo, hi = m.valid_range
    w = np.linspace(max(lo, 0.45e-6), min(hi, 1.0e-6), 50)
    assert np.all(np.diff(m.n(w)) < 0)          # index falls with wavelength in the visible/NIR
    with pytest.raises(ValueError, match="wavelengths"):
        m.n(hi * 1.1)


def test_cauchy_and_sellmeier_formulas():
    lam = np.array([0.5e-6, 0.8e-6])
    c = M.Cauchy(1.5, 0.004, 0.0001)
    np.testing.assert_allclose(c.n(lam), 1.5 + 0.004 / np.array([0.25, 0.64]) + 0.0001 / np.array([0.25, 0.64]) ** 2)
    s = M.Sellmeier(B=(1.0,), C=(0.01,))
    np.testing.assert_allclose(s.n(lam) ** 2, 1 + np.array([0.25, 0.64]) / (np.array([0.25, 0.64]) - 0.01))


def test_tabulated_interpolates_and_refuses_extrapolation():
    t = M.Tabulated([1e-6, 2e-6, 3e-6], [1.5, 1.7, 1.6], [0.0, 0.02, 0.01])
    np.testing.assert_allclose(t.n([1e-6, 1.5e-6, 2.5e-6]), [1.5, 1.6, 1.65])
    np.testing.assert_allclose(t.kappa([1.5e-6]), [0.01])
    assert not t.lossless
    with pytest.raises(ValueError, match="wavelengths"):
        t.n(3.5e-6)
    with pytest.raises(ValueError, match="strictly increasing"):
        M.Tabulated([1e-6, 1e-6], [1.5, 1.6])
    with pytest.raises(ValueError, match="extinction"):
        M.Tabulated([1e-6, 2e-6], [1.5, 1.6], [0.0, -0.1])


def test_read_material_table(tmp_path):
    p = tmp_path / "resin.csv"
    p.write_text("# wavelength_nm, n, kappa\n500, 1.52, 0.001\n\n600, 1.51, 0.002  # comment\n700,1.50,0.003\n")
    t = M.read_material_table(p, unit="nm")
    np.testing.assert_allclose(t.n(650e-9), [1.505])
    np.testing.assert_allclose(t.kappa(550e-9), [0.0015])
    assert t.name == "resin"
    assert isinstance(M.material_from_spec(f"table:{p}@nm"), M.Tabulated)
    bad = tmp_path / "bad.txt"
    for text, match in [("500 1.5\n600 1.5 0.1\n", "columns"), ("500 1.5\n", "at least 2 rows"),
                        ("500 x\n600 1.5\n", "numbers only"), ("1 2 3 4\n", "2 or 3 columns"),
                        ("600 1.5\n500 1.5\n", "strictly increasing")]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=match):
            M.read_material_table(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        M.read_material_table(tmp_path / "missing.txt")


def test_read_material_table_checks_size_before_reading(tmp_path, monkeypatch):
    p = tmp_path / "big.txt"
    p.write_text("500e-9 1.5\n600e-9 1.5\n" * 10)
    monkeypatch.setattr(M, "MAX_TABLE_BYTES", 64)
    with pytest.raises(ValueError, match="at most 64 bytes"):
        M.read_material_table(p)


def test_material_from_spec():
    assert M.material_from_spec("fused-silica") is M.NAMED_MATERIALS["fused-silica"]
    c = M.material_from_spec("constant:1.7,0.03")
    assert (c.index, c.extinction) == (1.7, 0.03)
    assert M.material_from_spec("cauchy:1.5,0.004").n(1e-6)[0] == pytest.approx(1.504)
    s = M.material_from_spec("sellmeier:1.0,0.01,0.5,100")
    assert s.B == (1.0, 0.5) and s.C == (0.01, 100.0)
    for spec in ("unobtainium", "cauchy:1", "sellmeier:1,2,3", "constant:a"):
        with pytest.raises(ValueError, match="spec|name"):
            M.material_from_spec(spec)


def test_relief_transmission_matches_the_monochromatic_material_table():
    # from_material (the existing one-wavelength table) is the independent formula at one λ
    h = np.array([0.0, 0.2e-6, 0.5e-6, 0.9e-6])
    lam = 633e-9
    ref = from_material(1.6, 0.01, lam, heights=h, n_medium=1.33).transmissions
    t = M.relief_transmission(M.Constant(1.6, 0.01), M.Constant(1.33), h, [lam])
    np.testing.assert_allclose(t[0], ref, rtol=1e-13, atol=1e-15)


def test_relief_transmission_dispersion():
    # two wavelengths of fused silica in vacuum: phase 2π(n(λ)−1)h/λ, amplitude 1
    m, med = M.named_material("fused-silica"), M.named_material("vacuum")
    lam = np.array([500e-9, 700e-9])
    h = 1e-6
    t = M.relief_transmission(m, med, h, lam)
    np.testing.assert_allclose(np.angle(t), np.angle(np.exp(2j * np.pi * (m.n(lam) - 1) * h / lam)))
    np.testing.assert_allclose(np.abs(t), 1.0)


def test_errors():
    with pytest.raises(ValueError, match="denser"):
        M.phase_per_height(M.Constant(1.2), M.Constant(1.33), 500e-9)
    with pytest.raises(ValueError, match="lossless"):
        M.phase_per_height(M.Constant(1.5), M.Constant(1.2, 0.1), 500e-9)
    with pytest.raises(ValueError, match="wavelengths"):
        M.phase_per_height(M.Constant(1.5), M.Constant(1.0), [-1e-6])
    with pytest.raises(TypeError, match="material"):
        M.phase_per_height(1.5, M.Constant(1.0), 1e-6)
    with pytest.raises(ValueError, match="heights"):
        M.relief_transmission(M.Constant(1.5), M.Constant(1.0), [-1e-7], 1e-6)
    with pytest.raises(ValueError, match="index"):
        M.Constant(-1.0)


@pytest.mark.parametrize("bad", ["500e-9", True, [[500e-9]], ["a"], None])
def test_wavelengths_must_be_numbers(bad):
    with pytest.raises((TypeError, ValueError), match="wavelengths"):
        M.named_material("fused-silica").n(bad)
