"""Tests of the NumPy reference masks, intensity, detectors and encodings (float64)."""
from __future__ import annotations

import numpy as np
import pytest

from quaton_fast.reference.fields import (
    detector_energies,
    detector_energies_backward,
    detector_mask,
    encode_amplitude,
    encode_phase,
    intensity,
    intensity_backward,
    phase_modulate,
    phase_modulate_backward,
    square_detector_layout,
)

STEP = 1e-6


def crandn(rng, *shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def fd_complex(loss, u):
    """Finite-difference gradient ∂L/∂Re + i·∂L/∂Im of a real loss (central differences)."""
    g = np.zeros(u.shape, dtype=np.complex128)
    for idx in np.ndindex(u.shape):
        for unit in (1.0, 1j):
            e = np.zeros(u.shape, dtype=np.complex128)
            e[idx] = unit * STEP
            g[idx] += unit * (loss(u + e) - loss(u - e)) / (2 * STEP)
    return g


def fd_real(loss, x):
    g = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[idx] = STEP
        g[idx] = (loss(x + e) - loss(x - e)) / (2 * STEP)
    return g


# ----------------------------------------------------------------------------- phase modulation
def test_phase_modulate_values_and_sign():
    u = np.ones((2, 2), complex)
    phase = np.array([[0.0, np.pi / 2], [np.pi, -np.pi / 2]])
    out = phase_modulate(u, phase)
    np.testing.assert_allclose(out, [[1, 1j], [-1, -1j]], atol=1e-15)   # exp(+i φ)
    amp = np.array([[0.5, 1.0], [2.0, 0.0]])
    np.testing.assert_allclose(phase_modulate(u, phase, amp), amp * np.exp(1j * phase), atol=1e-15)
    assert out.dtype == np.complex128


@pytest.mark.parametrize("phase_shape", [(4, 4), (1, 4, 4), (3, 4, 4), (3, 1, 4)])
@pytest.mark.parametrize("with_amplitude", [False, True])
def test_phase_modulate_gradients_match_finite_differences(rng, phase_shape, with_amplitude):
    u = crandn(rng, 3, 4, 4)
    phase = rng.uniform(-np.pi, np.pi, phase_shape)
    amp = rng.uniform(0.2, 1.0, (4, 4)) if with_amplitude else None
    c = crandn(rng, 3, 4, 4)

    def loss_u(v):
        return np.sum(np.real(np.conj(c) * phase_modulate(v, phase, amp)))

    def loss_phase(p):
        return np.sum(np.real(np.conj(c) * phase_modulate(u, p, amp)))

    grad_u, grad_phase = phase_modulate_backward(c, u, phase, amp)
    assert grad_phase.shape == phase_shape and grad_u.shape == u.shape
    np.testing.assert_allclose(grad_u, fd_complex(loss_u, u), atol=1e-8)
    np.testing.assert_allclose(grad_phase, fd_real(loss_phase, phase), atol=1e-8)


def test_phase_modulate_bad_input():
    u = np.ones((2, 4, 4), complex)
    with pytest.raises(ValueError, match=r"phase_modulate\(\).*'phase'.*broadcastable.*\(2, 4, 4\)"):
        phase_modulate(u, np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"'phase'.*broadcastable"):
        phase_modulate(u, np.zeros((3, 2, 4, 4)))          # would enlarge the field
    with pytest.raises(TypeError, match=r"'phase'.*real array"):
        phase_modulate(u, np.zeros((4, 4), complex))
    with pytest.raises(ValueError, match=r"'phase'.*finite"):
        phase_modulate(u, np.full((4, 4), np.inf))
    with pytest.raises(ValueError, match=r"'amplitude'.*broadcastable"):
        phase_modulate(u, np.zeros((4, 4)), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"'u'.*square"):
        phase_modulate(np.ones((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"phase_modulate_backward\(\).*'grad_out'.*\(2, 4, 4\)"):
        phase_modulate_backward(np.ones((4, 4), complex), u, np.zeros((4, 4)))


# ----------------------------------------------------------------------------- intensity
def test_intensity_and_gradient(rng):
    u = crandn(rng, 2, 3, 3)
    i = intensity(u)
    assert i.dtype == np.float64
    np.testing.assert_allclose(i, u.real ** 2 + u.imag ** 2, rtol=1e-15)
    w = rng.standard_normal((2, 3, 3))
    grad = intensity_backward(w, u)
    np.testing.assert_allclose(grad, 2 * u * w, rtol=1e-15)
    np.testing.assert_allclose(grad, fd_complex(lambda v: np.sum(w * intensity(v)), u), atol=1e-8)
    with pytest.raises(TypeError, match=r"intensity_backward\(\).*'grad_i'.*real"):
        intensity_backward(u, u)
    with pytest.raises(ValueError, match=r"intensity_backward\(\).*'grad_i'.*\(2, 3, 3\)"):
        intensity_backward(w[0], u)
    with pytest.raises(ValueError, match=r"intensity\(\).*'u'.*at least 2"):
        intensity(np.ones(3))


# ----------------------------------------------------------------------------- detectors
def _check_layout(boxes, n):
    m = detector_mask(n, boxes)
    assert m.sum(axis=0).max() == 1                          # no overlap
    np.testing.assert_array_equal(m.sum(axis=(1, 2)), boxes[:, 2] * boxes[:, 3])   # inside


def test_ten_class_layout_is_3_4_3_centred_and_disjoint():
    n = 128
    b = square_detector_layout(n)
    assert b.shape == (10, 4) and b.dtype.kind == "i"
    assert np.all(b[:, 2:] == 12)                            # default size N // 10
    rows = sorted(set(b[:, 0].tolist()))
    assert [int((b[:, 0] == r).sum()) for r in rows] == [3, 4, 3]
    _check_layout(b, n)
    # block centred: the detectors' bounding box is symmetric within one pixel
    top, left = b[:, 0].min(), b[:, 1].min()
    bottom, right = (b[:, 0] + b[:, 2]).max(), (b[:, 1] + b[:, 3]).max()
    assert abs(top - (n - bottom)) <= 1 and abs(left - (n - right)) <= 1


@pytest.mark.parametrize("c", range(1, 17))
def test_general_layouts_fit_and_do_not_overlap(c):
    b = square_detector_layout(64, c, 5)
    assert b.shape == (c, 4)
    _check_layout(b, 64)


def test_layout_shrinks_gap_then_raises():
    b = square_detector_layout(20, 10, 5)                    # touching in the 4-row: 4·5 = 20
    _check_layout(b, 20)
    assert square_detector_layout(5, 10).tolist()[0][2] == 1   # default size at least 1
    with pytest.raises(ValueError, match=r"square_detector_layout\(\).*'size'.*fit"):
        square_detector_layout(19, 10, 5)
    with pytest.raises(ValueError, match=r"'num_classes'"):
        square_detector_layout(64, 0)


def test_detector_energies_and_gradient(rng):
    n = 12
    boxes = np.array([[0, 0, 2, 3], [5, 5, 4, 4], [10, 1, 2, 2], [4, 4, 2, 2]])   # last overlaps
    i = rng.uniform(0, 1, (2, n, n))
    e = detector_energies(i, boxes)
    assert e.shape == (2, 4)
    mask = detector_mask(n, boxes)
    np.testing.assert_allclose(e, np.einsum("bij,cij->bc", i, mask.astype(float)), rtol=1e-14)
    w = rng.standard_normal((2, 4))
    grad = detector_energies_backward(w, boxes, n)
    assert grad.shape == (2, n, n)
    np.testing.assert_allclose(grad, fd_real(lambda x: np.sum(w * detector_energies(x, boxes)), i),
                               atol=1e-8)
    assert grad[0, 5, 5] == pytest.approx(w[0, 1] + w[0, 3])   # overlapping boxes add


def test_detector_bad_input():
    with pytest.raises(ValueError, match=r"detector_mask\(\).*'boxes'.*inside the 8x8 grid.*box 1"):
        detector_mask(8, np.array([[0, 0, 2, 2], [7, 7, 2, 2]]))
    with pytest.raises(ValueError, match=r"'boxes'.*inside.*box 0"):
        detector_mask(8, np.array([[-1, 0, 2, 2]]))
    with pytest.raises(ValueError, match=r"'boxes'.*\(C, 4\)"):
        detector_mask(8, np.array([[0, 0, 2]]))
    with pytest.raises(TypeError, match=r"'boxes'.*integer"):
        detector_mask(8, np.array([[0.0, 0, 2, 2]]))
    with pytest.raises(TypeError, match=r"detector_energies\(\).*'i'.*real"):
        detector_energies(np.ones((8, 8), complex), np.array([[0, 0, 2, 2]]))
    with pytest.raises(ValueError, match=r"detector_energies_backward\(\).*'grad_e'.*C = 1"):
        detector_energies_backward(np.ones((3, 2)), np.array([[0, 0, 2, 2]]), 8)


# ----------------------------------------------------------------------------- encodings
def test_encodings():
    img = np.array([[0.0, 0.5], [1.0, 0.25]])
    np.testing.assert_allclose(encode_phase(img), np.exp(1j * np.pi * img), atol=1e-15)
    np.testing.assert_allclose(encode_phase(img)[1, 0], -1.0, atol=1e-15)
    np.testing.assert_allclose(encode_phase(img, scale=2.0), np.exp(2j * img), atol=1e-15)
    a = encode_amplitude(img)
    assert a.dtype == np.complex128
    np.testing.assert_array_equal(a, img)
    with pytest.raises(TypeError, match=r"encode_phase\(\).*'image'.*real"):
        encode_phase(img.astype(complex))
    with pytest.raises(ValueError, match=r"encode_amplitude\(\).*'image'.*finite"):
        encode_amplitude(np.full((2, 2), np.nan))
