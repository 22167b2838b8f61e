"""Differentiable torch SSIM / MSE / BerHu against the NumPy reference and by hand."""
import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP32_ELEMENTWISE, RTOL_FP64
from quaton_fast.qpi import berhu, crop_to_object, encode_phase_object, mse, pad_to_grid, qpi_loss, ssim, ssim_loss
from quaton_fast.reference.ssim import ssim as ssim_ref


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, RTOL_FP64), (torch.float32, 1e-4)])
def test_ssim_matches_reference(rng, dtype, rtol):
    x = rng.random((4, 30, 26))
    y = np.clip(x + 0.2 * rng.standard_normal(x.shape), 0, 1)
    ref = ssim_ref(x, y)
    got = ssim(torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype), reduction="none")
    assert got.dtype == dtype and got.shape == (4,)
    np.testing.assert_allclose(got.numpy(), ref, rtol=rtol)
    assert float(ssim(torch.tensor(x), torch.tensor(y))) == pytest.approx(ref.mean(), rel=1e-10)
    assert float(ssim(torch.tensor(x[0]), torch.tensor(y[0]))) == pytest.approx(ref[0], rel=1e-10)  # (H, W)


def test_ssim_gradient_matches_finite_differences(rng):
    x = torch.tensor(rng.random((2, 14, 13)), requires_grad=True)
    y = torch.tensor(rng.random((2, 14, 13)))
    assert torch.autograd.gradcheck(lambda a: ssim_loss(a, y), (x,), eps=1e-6, atol=1e-7)
    # and the gradient of the reference by central differences at one pixel
    g, = torch.autograd.grad(ssim(x, y), x)
    xa = x.detach().numpy().copy()
    h = 1e-6
    xa[1, 6, 4] += h
    up = ssim_ref(xa, y.numpy()).mean()
    xa[1, 6, 4] -= 2 * h
    down = ssim_ref(xa, y.numpy()).mean()
    assert float(g[1, 6, 4]) == pytest.approx((up - down) / (2 * h), rel=1e-5)


def test_ssim_loss_zero_at_identity_and_mse(rng):
    x = torch.tensor(rng.random((2, 16, 16)), dtype=torch.float32)
    assert float(ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    y = x + 0.1
    assert float(mse(x, y)) == pytest.approx(0.01, rel=RTOL_FP32_ELEMENTWISE * 10)
    assert mse(x, y, reduction="none").shape == (2,)


def test_berhu_by_hand():
    x = torch.tensor([[0.0, 0.1, 1.0]], dtype=torch.float64)
    y = torch.zeros_like(x)
    # adaptive threshold: c = 0.2 · max|e| = 0.2 → |0.1| = 0.1, (1 + 0.04) / 0.4 = 2.6 for the large error
    assert float(berhu(x, y)) == pytest.approx((0.0 + 0.1 + 2.6) / 3)
    # fixed threshold c = 0.5: 0.1 linear, (1 + 0.25) / 1 = 1.25
    assert float(berhu(x, y, threshold=0.5)) == pytest.approx((0.1 + 1.25) / 3)
    # continuous at |e| = c and L1 below it
    e = torch.tensor([[0.3]], dtype=torch.float64)
    assert float(berhu(e, torch.zeros_like(e), threshold=0.3)) == pytest.approx(0.3)
    assert float(berhu(y, y)) == 0.0
    x.requires_grad_(True)
    g, = torch.autograd.grad(berhu(x, y), x)
    np.testing.assert_allclose(g.numpy(), [[0.0, 1 / 3, (1.0 / 0.2) / 3]])  # the threshold is not differentiated


def test_qpi_loss_names_and_errors(rng):
    x = torch.tensor(rng.random((1, 12, 12)))
    y = torch.tensor(rng.random((1, 12, 12)))
    assert float(qpi_loss("ssim", x, y)) == pytest.approx(float(1 - ssim(x, y)))
    assert float(qpi_loss("mse", x, y)) == pytest.approx(float(mse(x, y)))
    assert float(qpi_loss("berhu", x, y)) == pytest.approx(float(berhu(x, y)))
    with pytest.raises(ValueError, match=r"qpi_loss\(\): argument 'name' must be one of ssim, mse, berhu"):
        qpi_loss("l1", x, y)
    with pytest.raises(ValueError, match=r"ssim\(\): argument 'x' must be at least 11×11"):
        ssim(x[:, :10], y[:, :10])
    with pytest.raises(ValueError, match="argument 'y' must be of the same shape"):
        mse(x, y[:, :5])
    with pytest.raises(TypeError, match="argument 'x' must be a floating-point tensor"):
        ssim(torch.zeros(1, 12, 12, dtype=torch.complex64), torch.zeros(1, 12, 12))


def test_phase_object_encoding_and_crop():
    phi = torch.rand(2, 5, 7) * 3
    u = encode_phase_object(phi, 12)
    assert u.shape == (2, 12, 12) and u.dtype == torch.complex64
    np.testing.assert_allclose(u.abs().numpy(), 1.0, rtol=1e-6)
    back = crop_to_object(torch.angle(u), (5, 7))
    np.testing.assert_allclose(back.numpy(), phi.numpy(), atol=1e-6)   # φ < π: angle recovers it
    padded = pad_to_grid(phi, 12)
    assert float(padded.sum()) == pytest.approx(float(phi.sum()), rel=1e-6)
    assert torch.equal(crop_to_object(padded, (5, 7)), phi)
    with pytest.raises(ValueError, match=r"pad_to_grid\(\): argument 'n' must be >= the object size"):
        pad_to_grid(phi, 6)
