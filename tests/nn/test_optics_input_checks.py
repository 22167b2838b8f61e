"""Bad input to the optics entry points: images outside [0, 1] (rel06), detector boxes outside the
grid (rel07), D2NN / read-out errors that name the argument (rel17)."""
import math

import numpy as np
import pytest
import torch

from quaton_fast import encode, quant
from quaton_fast.nn import D2NN, DetectorReadout, QPIReadout
from quaton_fast.reference import fields

SMALL = dict(n=16, dx=316.4e-9, wavelength=632.8e-9, num_layers=1, z_in=3e-6, dz=3e-6, z_out=3e-6,
             object_size=16)


def _img(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- rel06: encode
@pytest.mark.parametrize("fn", [encode.phase, encode.amplitude])
@pytest.mark.parametrize("size", [16, 32])                  # without and with resizing
@pytest.mark.parametrize("bad,pattern", [
    (lambda x: x * 255, r"'images'.*\[0, 1\].*255"),          # forgot the /255
    (lambda x: -x, r"'images'.*\[0, 1\]"),                    # negative images
    (lambda x: x - 0.5, r"'images'.*\[0, 1\]"),               # zero-mean normalised
    (lambda x: torch.where(x > 0.5, float("nan"), x), r"'images'.*finite"),
    (lambda x: torch.where(x > 0.5, float("inf"), x), r"'images'.*finite"),
])
def test_encode_refuses_images_outside_0_1_on_both_paths(fn, size, bad, pattern):
    x = bad(_img(2, size, size))
    with pytest.raises(ValueError, match=r"encode\.(phase|amplitude)\(\): argument " + pattern):
        fn(x, 16, object_size=16)


def test_encode_refuses_integer_images_and_names_the_fix():
    with pytest.raises(TypeError, match=r"'images'.*floating-point.*255.*uint8"):
        encode.phase(torch.randint(0, 256, (1, 16, 16), dtype=torch.uint8), 16)
    with pytest.raises(TypeError, match=r"'images'.*torch.Tensor"):
        encode.phase(np.zeros((1, 16, 16)), 16)
    with pytest.raises(TypeError, match=r"'validate'"):
        encode.phase(_img(1, 16, 16), 16, validate="no")


def test_encode_accepts_the_range_edges_and_treats_both_paths_alike():
    x = _img(1, 16, 16)
    x[0, 0, 0], x[0, 0, 1] = 0.0, 1.0
    big = torch.nn.functional.interpolate(x[:, None], size=(32, 32), mode="nearest")[:, 0]
    a, b = encode.phase(x, 16, object_size=16), encode.phase(big, 16, object_size=16)
    assert torch.allclose(a, b, atol=1e-6)
    # the opt-out (dataset checked once): out-of-range values are clamped alike on both paths
    x255, big255 = x * 255, big * 255
    a = encode.phase(x255, 16, object_size=16, validate=False)
    b = encode.phase(big255, 16, object_size=16, validate=False)
    assert torch.allclose(a, b, atol=1e-6)


def test_check_images_and_d2nn_encode():
    x = _img(3, 28, 28)
    assert encode.check_images(x) is x
    with pytest.raises(ValueError, match=r"encode\.check_images\(\): argument 'images'.*got values in \[0, 2"):
        encode.check_images(torch.tensor([[0.0, 2.0]]))
    with pytest.raises(ValueError, match=r"train_one_epoch\(\): argument 'images'"):
        encode.check_images(torch.tensor([[0.0, 2.0]]), "train_one_epoch")
    net = D2NN(**SMALL)
    with pytest.raises(ValueError, match=r"'images'"):
        net.encode(x * 255)
    assert net.encode(x).shape == (3, 16, 16)


# ----------------------------------------------------------------------------- rel07: boxes
@pytest.mark.parametrize("boxes", [
    [[-2, 0, 4, 4], [4, 4, 4, 4]],          # negative row offset (was an empty detector)
    [[14, 14, 4, 4], [0, 0, 4, 4]],         # crosses the edge (was clipped)
    [[0, 0, 0, 4], [4, 4, 4, 4]],           # empty
    [[0, 17, 1, 1], [4, 4, 4, 4]],          # outside
])
def test_detector_boxes_outside_the_grid_are_refused_like_the_reference(boxes):
    with pytest.raises(ValueError, match=r"detector_mask\(\): argument 'boxes'"):
        fields.detector_mask(16, np.array(boxes))
    with pytest.raises(ValueError, match=r"DetectorReadout\(\): argument 'boxes'.*inside the 16x16 grid"):
        DetectorReadout(16, 2, boxes=np.array(boxes))


def test_detector_readout_accepts_exactly_what_the_reference_accepts():
    rng = np.random.default_rng(0)
    for _ in range(200):
        b = rng.integers(-3, 18, size=(2, 4))
        try:
            ref_mask = fields.detector_mask(16, b)
        except ValueError:
            with pytest.raises(ValueError, match="'boxes'"):
                DetectorReadout(16, 2, boxes=b)
            continue
        r = DetectorReadout(16, 2, boxes=b)
        assert np.array_equal(r.mask.numpy().astype(bool), ref_mask)
        u = torch.ones(1, 16, 16, dtype=torch.complex64)
        assert r.energies(u.abs() ** 2)[0].tolist() == ref_mask.sum((1, 2)).astype(float).tolist()


@pytest.mark.parametrize("kwargs,exc,pattern", [
    (dict(boxes=np.array([[0, 0, 4], [4, 4, 4]])), ValueError, r"'boxes'.*\(C, 4\)"),
    (dict(boxes=[[0, 0, 4, 4], [1, 2]]), ValueError, r"'boxes'"),
    (dict(boxes=np.array([[0.5, 0, 4, 4], [4, 4, 4, 4]])), TypeError, r"'boxes'.*integer"),
    (dict(boxes=np.array([[0, 0, 4, 4]])), ValueError, r"'boxes'.*one box per class"),
    (dict(boxes=torch.tensor([[0, 0, 4, 4], [-1, 0, 2, 2]])), ValueError, r"'boxes'"),
    (dict(detector_size=9), ValueError, r"'detector_size'"),
    (dict(detector_size=0), ValueError, r"'detector_size'"),
    (dict(detector_size=2, boxes=np.array([[0, 0, 4, 4], [4, 4, 4, 4]])), ValueError, r"'detector_size'"),
    (dict(temperature=float("nan")), ValueError, r"'temperature'"),
])
def test_detector_readout_constructor_errors_name_the_argument(kwargs, exc, pattern):
    with pytest.raises(exc, match=r"DetectorReadout\(\): argument " + pattern):
        DetectorReadout(16, 2, **kwargs)


def test_readout_forward_errors_name_the_argument():
    r = DetectorReadout(16, 2, boxes=np.array([[0, 0, 4, 4], [4, 4, 4, 4]]))
    with pytest.raises(ValueError, match=r"DetectorReadout\.forward\(\): argument 'u'.*\(B, 16, 16\)"):
        r(torch.ones(16, 16, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"'u'.*\(B, 16, 16\)"):
        r(torch.ones(2, 8, 8, dtype=torch.complex64))
    with pytest.raises(TypeError, match=r"'u'"):
        r(np.ones((2, 16, 16)))
    with pytest.raises(TypeError, match=r"DetectorReadout\.energies\(\): argument 'intensity'"):
        r.energies(torch.ones(2, 16, 16, dtype=torch.complex64))
    q = QPIReadout()
    with pytest.raises(ValueError, match=r"QPIReadout\.forward\(\): argument 'u'"):
        q(torch.ones(16, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"QPIReadout\(\): argument 'scale'"):
        QPIReadout(scale=float("inf"))
    # real input is an amplitude: |u|² = u²
    assert torch.allclose(q(torch.full((1, 4, 4), 2.0)), torch.full((1, 4, 4), 4.0))


# ----------------------------------------------------------------------------- rel17: D2NN
@pytest.mark.parametrize("u", [torch.ones(16, 16, dtype=torch.complex64),
                               torch.ones(2, 1, 16, 16, dtype=torch.complex64),
                               torch.ones(2, 8, 8, dtype=torch.complex64)])
def test_d2nn_forward_shape_errors_name_u(u):
    net = D2NN(**SMALL)
    with pytest.raises(ValueError, match=r"D2NN\.forward\(\): argument 'u' must be of shape \(B, 16, 16\)"):
        net(u)


def test_d2nn_errors_name_the_argument():
    net = D2NN(**SMALL)
    with pytest.raises(TypeError, match=r"D2NN\.forward\(\): argument 'u'.*torch.Tensor"):
        net(np.ones((1, 16, 16)))
    with pytest.raises(TypeError, match=r"D2NN\.forward\(\): argument 'u'.*complex"):
        net(torch.ones(1, 16, 16, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"D2NN\(\): argument 'quantizer'"):
        D2NN(**SMALL, quantizer="psq")
    with pytest.raises(TypeError, match=r"D2NN\.switch_quantizer\(\): argument 'quantizer'"):
        net.switch_quantizer("psq")
    for kw, pattern in [(dict(evanescent="none"), "'evanescent'"), (dict(n_medium=0.0), "'n_medium'"),
                        (dict(object_size=0), "'object_size'"), (dict(encoding="x"), "'encoding'"),
                        (dict(seed=1.5), "'seed'"), (dict(pad=0), "'pad'"),
                        (dict(readout="logits"), "'readout'"), (dict(detector_size=100), "'detector_size'"),
                        (dict(num_classes=0), "'num_classes'"), (dict(band_limited="no"), "'band_limited'")]:
        with pytest.raises((ValueError, TypeError), match=pattern):
            D2NN(**SMALL, **kw)
    with pytest.raises(ValueError, match=r"encode\.phase\(\): argument 'object_size' must be <= n = 16"):
        D2NN(**dict(SMALL, object_size=17)).encode(_img(1, 28, 28))
    with pytest.raises(TypeError, match=r"D2NN\.preset\(\): argument 'wavelenght'"):
        D2NN.preset("visible-128", wavelenght=1e-6)
    # output_field keeps accepting (..., N, N)
    out = net.output_field(torch.ones(2, 3, 16, 16, dtype=torch.complex64))
    assert out.shape == (2, 3, 16, 16)
    assert net(torch.ones(2, 16, 16)).shape == (2, 10)   # a real field is promoted
    assert math.isfinite(float(net(torch.ones(1, 16, 16, dtype=torch.complex64)).detach().sum()))


def test_quantized_d2nn_still_builds_with_a_quantizer_instance():
    net = D2NN(**SMALL, quantizer=quant.PSQ(4))
    net.switch_quantizer(quant.STE(4))
    assert isinstance(net.layers[0].quantizer, quant.STE)
