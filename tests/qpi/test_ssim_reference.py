"""NumPy SSIM reference against scikit-image and against hand-checked properties."""
import numpy as np
import pytest

from quaton_fast.reference.ssim import gaussian_window_1d, ssim, ssim_map


def _pair(rng, shape, noise):
    x = rng.random(shape)
    return x, np.clip(x + noise * rng.standard_normal(shape), 0, 1)


@pytest.mark.parametrize("shape,noise", [((32, 32), 0.05), ((40, 27), 0.3), ((11, 11), 0.1), ((64, 50), 1.0)])
def test_matches_skimage(rng, shape, noise):
    metrics = pytest.importorskip("skimage.metrics")
    x, y = _pair(rng, shape, noise)
    expect = metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                           data_range=1)
    assert ssim(x, y) == pytest.approx(expect, rel=1e-12, abs=1e-12)


def test_matches_skimage_on_smooth_images(rng):
    metrics = pytest.importorskip("skimage.metrics")
    from quaton_fast.data.rbc import make_rbc_phase_maps
    _, t = make_rbc_phase_maps(2, 48, radius_px=(8, 12), seed=0)
    expect = metrics.structural_similarity(t[0].astype(np.float64), t[1].astype(np.float64), gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False, data_range=1)
    assert ssim(t[0], t[1]) == pytest.approx(expect, rel=1e-9)


def test_properties(rng):
    x, y = _pair(rng, (3, 24, 24), 0.2)
    np.testing.assert_allclose(ssim(x, x), 1.0, rtol=1e-12)
    s = ssim(x, y)
    assert s.shape == (3,) and np.all(s < 1) and np.all(s > -1)
    np.testing.assert_allclose(s, ssim(y, x), rtol=1e-12)                     # symmetric
    np.testing.assert_allclose(s, [ssim(a, b) for a, b in zip(x, y)], rtol=1e-12)
    assert ssim_map(x, y).shape == (3, 14, 14)                                 # valid region
    g = gaussian_window_1d()
    assert g.shape == (11,) and g.sum() == pytest.approx(1) and g[5] == g.max()
    # constant images: SSIM reduces to the luminance term (2ab + C1)/(a² + b² + C1)
    c1 = 0.01 ** 2
    assert ssim(np.full((16, 16), 0.2), np.full((16, 16), 0.6)) == pytest.approx(
        (2 * 0.12 + c1) / (0.04 + 0.36 + c1))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"ssim_map\(\): argument 'x' must be at least 11×11"):
        ssim(np.zeros((10, 30)), np.zeros((10, 30)))
    with pytest.raises(ValueError, match="argument 'y' must be of the same shape"):
        ssim(np.zeros((12, 12)), np.zeros((12, 13)))
    with pytest.raises(ValueError, match="argument 'data_range' must be > 0"):
        ssim(np.zeros((12, 12)), np.zeros((12, 12)), data_range=0)
