"""Synthetic red-blood-cell phase maps: profile, reproducibility, ranges, shapes."""
import numpy as np
import pytest

from quaton_fast.data import load_dataset
from quaton_fast.data.rbc import evans_fung_thickness, make_rbc_phase_maps


def test_evans_fung_profile_is_biconcave():
    rho = np.linspace(0, 1.2, 1201)
    t = evans_fung_thickness(rho) * 3.91  # µm for R = 3.91 µm
    assert t[0] == pytest.approx(0.81, abs=0.01)            # dimple at the centre
    assert t.max() == pytest.approx(2.57, abs=0.02)          # rim
    assert 0.65 < rho[t.argmax()] < 0.75
    assert np.all(t[rho >= 1] == 0) and np.all(t >= 0)


def test_seeded_reproducible_shapes_and_ranges():
    phi, target = make_rbc_phase_maps(6, 48, radius_px=(7, 10), cells_per_field=(1, 3), seed=3)
    phi2, target2 = make_rbc_phase_maps(6, 48, radius_px=(7, 10), cells_per_field=(1, 3), seed=3)
    other, _ = make_rbc_phase_maps(6, 48, radius_px=(7, 10), cells_per_field=(1, 3), seed=4)
    assert phi.shape == target.shape == (6, 48, 48) and phi.dtype == target.dtype == np.float32
    np.testing.assert_array_equal(phi, phi2)
    np.testing.assert_array_equal(target, target2)
    assert not np.array_equal(phi, other)
    assert phi.min() >= 0 and phi.max() <= 3.0 + 1e-6
    assert 0 <= target.min() and target.max() <= 1
    np.testing.assert_allclose(target, phi / 3.0, rtol=1e-6)
    for k in range(6):  # every field has a cell, and the border pixels stay empty
        assert phi[k].max() > 0.5
        assert np.all(phi[k, [0, -1], :] == 0) and np.all(phi[k, :, [0, -1]] == 0)


def test_single_round_cell_peak_and_area():
    phi, _ = make_rbc_phase_maps(1, 64, radius_px=(12, 12), ellipticity=(1, 1), peak_phase=(2, 2), seed=0)
    assert phi.max() == pytest.approx(2.0, rel=0.02)          # rim height = peak phase
    area = np.count_nonzero(phi[0] > 1e-6)
    assert area == pytest.approx(np.pi * 12 ** 2, rel=0.08)   # disc of radius 12 px (supersampled edge)


def test_bad_arguments():
    with pytest.raises(ValueError, match="make_rbc_phase_maps\\(\\): argument 'radius_px'"):
        make_rbc_phase_maps(1, 16, radius_px=(10, 12))
    with pytest.raises(ValueError, match="argument 'phi_max' must be >= the largest peak phase"):
        make_rbc_phase_maps(1, 32, phi_max=1.0)
    with pytest.raises(ValueError, match="argument 'ellipticity'"):
        make_rbc_phase_maps(1, 32, ellipticity=(0.9, 1.2))
    with pytest.raises(TypeError, match="argument 'count'"):
        make_rbc_phase_maps(2.5)


def test_load_dataset_splits_differ_and_are_seeded():
    a, ta = load_dataset("rbc", "train", count=3, size=40, radius_px=(6, 8))
    b, _ = load_dataset("rbc", "test", count=3, size=40, radius_px=(6, 8))
    a2, _ = load_dataset("rbc", "train", count=3, size=40, radius_px=(6, 8))
    assert a.shape == (3, 40, 40) and not np.array_equal(a, b)
    np.testing.assert_array_equal(a, a2)
    assert len(load_dataset("rbc", "test", size=32, radius_px=(5, 6))[0]) == 128
