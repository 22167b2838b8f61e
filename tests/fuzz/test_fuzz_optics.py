"""Fuzz the optics entry points: malformed input must raise a clear exception naming the argument.

Entry points: reference and torch ``propagate_free_space``, ``FreeSpace``, ``D2NN`` (constructor,
``preset``, ``forward``, ``encode``), ``encode.phase`` / ``amplitude``, ``DetectorReadout`` and
``QPIReadout`` (constructors and forward). Each example makes ONE argument bad (wrong type, dtype,
shape, non-finite or out-of-range value, extreme size) and keeps the others valid, so the message
must name that argument. Non-finite *fields* are fuzzed only where values are checked (the NumPy
reference and the image encoders, where the user hands data in); the torch forward passes are the
training hot path and check metadata only (shape, dtype, type).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_checks import assert_rejects
from quaton_fast import encode
from quaton_fast.functional import propagate_free_space as torch_propagate
from quaton_fast.nn import D2NN, DetectorReadout, FreeSpace, QPIReadout, preset_config
from quaton_fast.reference.propagation import propagate_free_space as ref_propagate

LAM = 632.8e-9
SETTINGS = dict(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: bad values of a positive length / index (metres or dimensionless)
BAD_POSITIVE = [0.0, -1e-6, float("nan"), float("inf"), -float("inf"), "1e-6", None, True, 1j, [1e-6]]
#: bad values of a signed distance
BAD_REAL = [float("nan"), float("inf"), "3e-6", None, 1j, np.array([1.0, 2.0])]
#: bad positive integers (sizes, padding factors, class counts), including absurd sizes
BAD_INT = [0, -3, 1.5, "2", None, True, 2 ** 40, float("nan")]
BAD_MODE = ["Decay", "", "none", None, 1, ["cut"]]
BAD_BOOL = ["yes", None, 1.0, [True]]


def _bad_numpy_field(kind: str, rng: np.random.Generator):
    return {
        "1d": rng.standard_normal(5) + 0j,
        "nonsquare": rng.standard_normal((2, 4, 5)) + 0j,
        "empty": np.zeros((0, 4, 4), complex),
        "empty_grid": np.zeros((2, 0, 0), complex),
        "nan": np.where(rng.random((4, 4)) > 0.5, np.nan, 1.0) + 0j,
        "inf": np.full((1, 4, 4), np.inf + 0j),
        "bool": np.ones((4, 4), bool),
        "object": np.array([[None] * 4] * 4, dtype=object),
        "str": np.array([["a"] * 4] * 4),
        "list": [[1.0, 2.0], [3.0, 4.0]],
        "tensor": torch.ones(4, 4, dtype=torch.complex64),
        "none": None,
    }[kind]


def _bad_torch_field(kind: str, n: int = 8):
    return {
        "1d": torch.ones(n, dtype=torch.complex64),
        "0d": torch.tensor(1.0 + 0j),
        "nonsquare": torch.ones(2, n, n + 1, dtype=torch.complex64),
        "empty": torch.ones(2, 0, 0, dtype=torch.complex64),
        "int": torch.ones(2, n, n, dtype=torch.int64),
        "bool": torch.ones(2, n, n, dtype=torch.bool),
        "numpy": np.ones((2, n, n), np.complex64),
        "list": [[1.0] * n] * n,
        "none": None,
    }[kind]


# ----------------------------------------------------------------------------- propagation
_REF_BAD = st.one_of(
    st.tuples(st.just("u"), st.sampled_from(["1d", "nonsquare", "empty", "empty_grid", "nan", "inf", "bool",
                                             "object", "str", "list", "tensor", "none"])),
    st.tuples(st.sampled_from(["dx", "wavelength", "n_medium"]), st.sampled_from(BAD_POSITIVE)),
    st.tuples(st.just("z"), st.sampled_from(BAD_REAL)),
    st.tuples(st.just("pad"), st.sampled_from(BAD_INT)),
    st.tuples(st.just("band_limited"), st.sampled_from(BAD_BOOL)),
    st.tuples(st.just("evanescent"), st.sampled_from(BAD_MODE)),
)


@settings(**SETTINGS)
@given(bad=_REF_BAD, n=st.integers(1, 6), seed=st.integers(0, 2 ** 16))
def test_fuzz_reference_propagate_free_space(bad, n, seed):
    rng = np.random.default_rng(seed)
    arg, value = bad
    kw = dict(u=rng.standard_normal((2, n, n)) + 0j, dx=LAM / 2, wavelength=LAM, z=3e-6, pad=2,
              band_limited=False, n_medium=1.0, evanescent="decay")
    kw[arg] = _bad_numpy_field(value, rng) if arg == "u" else value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_rejects(lambda: ref_propagate(**kw), f"'{arg}'")


_TORCH_BAD = st.one_of(
    st.tuples(st.just("u"), st.sampled_from(["1d", "0d", "nonsquare", "empty", "int", "bool", "numpy", "list",
                                             "none"])),
    st.tuples(st.sampled_from(["dx", "wavelength", "n_medium"]), st.sampled_from(BAD_POSITIVE)),
    st.tuples(st.just("z"), st.sampled_from(BAD_REAL)),
    st.tuples(st.just("pad"), st.sampled_from(BAD_INT)),
    st.tuples(st.just("band_limited"), st.sampled_from(BAD_BOOL)),
    st.tuples(st.just("evanescent"), st.sampled_from(BAD_MODE)),
)


@settings(**SETTINGS)
@given(bad=_TORCH_BAD, n=st.integers(1, 8), double=st.booleans())
def test_fuzz_torch_propagate_free_space(bad, n, double):
    arg, value = bad
    dtype = torch.complex128 if double else torch.complex64
    kw = dict(u=torch.ones(2, n, n, dtype=dtype), dx=LAM / 2, wavelength=LAM, z=3e-6, pad=2,
              band_limited=False, n_medium=1.0, evanescent="decay")
    kw[arg] = _bad_torch_field(value, n) if arg == "u" else value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_rejects(lambda: torch_propagate(**kw), f"'{arg}'")


@settings(**SETTINGS)
@given(bad=st.one_of(
    st.tuples(st.sampled_from(["n", "pad"]), st.sampled_from(BAD_INT)),
    st.tuples(st.sampled_from(["dx", "wavelength", "n_medium"]), st.sampled_from(BAD_POSITIVE)),
    st.tuples(st.just("z"), st.sampled_from(BAD_REAL)),
    st.tuples(st.just("band_limited"), st.sampled_from(BAD_BOOL)),
    st.tuples(st.just("evanescent"), st.sampled_from(BAD_MODE))))
def test_fuzz_free_space_layer(bad):
    arg, value = bad
    kw = dict(n=8, dx=LAM / 2, wavelength=LAM, z=3e-6, pad=2, band_limited=False, n_medium=1.0, evanescent="cut")
    kw[arg] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_rejects(lambda: FreeSpace(**kw), f"'{arg}'")


# ----------------------------------------------------------------------------- D2NN
SMALL = dict(n=8, dx=LAM / 2, wavelength=LAM, num_layers=1, z_in=2e-6, dz=2e-6, z_out=2e-6, object_size=8,
             detector_size=1)


@pytest.fixture(scope="module")
def net():
    return D2NN(**SMALL, seed=0)


@settings(**SETTINGS)
@given(bad=st.one_of(
    st.tuples(st.sampled_from(["n", "num_layers", "pad", "num_classes", "object_size", "detector_size"]),
              st.sampled_from(BAD_INT)),
    st.tuples(st.sampled_from(["dx", "wavelength", "n_medium"]), st.sampled_from(BAD_POSITIVE)),
    st.tuples(st.sampled_from(["z_in", "dz", "z_out"]), st.sampled_from(BAD_REAL)),
    st.tuples(st.just("evanescent"), st.sampled_from(BAD_MODE)),
    st.tuples(st.just("band_limited"), st.sampled_from(BAD_BOOL)),
    st.tuples(st.sampled_from(["readout", "encoding", "init"]), st.sampled_from(["", "Phase", None, 3])),
    st.tuples(st.just("quantizer"), st.sampled_from(["psq", 4, object(), torch.nn.Identity()])),
    st.tuples(st.just("seed"), st.sampled_from([1.5, "0", True]))))
def test_fuzz_d2nn_constructor(bad):
    arg, value = bad
    kw = dict(SMALL)
    if value is None and arg == "detector_size":
        value = 9   # None is valid there (the default); larger than the 8-px grid is not
    if value is None and arg == "object_size":
        value = 0   # None is valid (no resize)
    kw[arg] = value
    # an object_size larger than the grid is refused when images are encoded (QPI networks never do)
    call = (lambda: D2NN(**kw).encode(torch.rand(1, 8, 8))) if arg == "object_size" else (lambda: D2NN(**kw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_rejects(call, f"'{arg}'")


@settings(**SETTINGS)
@given(name=st.one_of(st.text(max_size=12), st.none(), st.integers()),
       bad=st.one_of(st.tuples(st.sampled_from(["wavelength", "dx", "n_medium"]), st.sampled_from(BAD_POSITIVE)),
                     st.tuples(st.sampled_from(["evanescent"]), st.sampled_from(BAD_MODE)),
                     st.tuples(st.sampled_from(["wavelenght", "layers", "neurons"]), st.just(1))))
def test_fuzz_presets(name, bad):
    if name not in ("visible-128", "thz-200"):
        assert_rejects(lambda: preset_config(name), "'name'")
        assert_rejects(lambda: D2NN.preset(name), "'name'")
    arg, value = bad
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_rejects(lambda: D2NN.preset("visible-128", n=8, object_size=8, num_layers=1, **{arg: value}),
                       f"'{arg}'")


@settings(**SETTINGS)
@given(kind=st.sampled_from(["1d", "0d", "nonsquare", "empty", "int", "bool", "numpy", "list", "none",
                             "2d", "4d", "wrong_n"]))
def test_fuzz_d2nn_forward(net, kind):
    u = {"2d": torch.ones(8, 8, dtype=torch.complex64), "4d": torch.ones(2, 1, 8, 8, dtype=torch.complex64),
         "wrong_n": torch.ones(2, 6, 6, dtype=torch.complex64)}.get(kind) if kind in ("2d", "4d", "wrong_n") \
        else _bad_torch_field(kind, 8)
    assert_rejects(lambda: net(u), "'u'")


_IMAGE_BAD = st.sampled_from(["255", "negative", "centred", "nan", "inf", "uint8", "int64", "complex", "bool",
                              "1d", "4d", "empty", "numpy", "none"])


def _bad_images(kind: str, size: int):
    x = torch.rand(2, size, size, generator=torch.Generator().manual_seed(size))
    return {"255": x * 255, "negative": -x - 1e-3, "centred": x - 0.5,
            "nan": torch.where(x > 0.5, float("nan"), x), "inf": torch.where(x > 0.5, float("inf"), x),
            "uint8": (x * 255).to(torch.uint8), "int64": (x * 255).long(), "complex": x.to(torch.complex64),
            "bool": x > 0.5, "1d": x.flatten(), "4d": x[None], "empty": x[:0], "numpy": x.numpy(),
            "none": None}[kind]


@settings(**SETTINGS)
@given(kind=_IMAGE_BAD, size=st.sampled_from([8, 16]))
def test_fuzz_d2nn_encode(net, kind, size):
    assert_rejects(lambda: net.encode(_bad_images(kind, size)), "'images'")


@settings(**SETTINGS)
@given(fn=st.sampled_from(["phase", "amplitude"]), size=st.sampled_from([8, 12]),
       bad=st.one_of(st.tuples(st.just("images"), _IMAGE_BAD),
                     st.tuples(st.sampled_from(["n", "object_size"]), st.sampled_from(BAD_INT + [5])),
                     st.tuples(st.just("scale"), st.sampled_from([float("nan"), float("inf"), "pi", None, 1j])),
                     st.tuples(st.just("validate"), st.sampled_from(["no", None, 1]))))
def test_fuzz_encode(fn, size, bad):
    arg, value = bad
    if arg == "scale" and fn == "amplitude":
        return
    kw = dict(object_size=8)
    images = torch.rand(2, size, size)
    names = [f"'{arg}'"]
    if arg == "images":
        images = _bad_images(value, size)
    elif arg == "object_size" and value in (None, 5):
        kw[arg] = 9                                     # None (no resize) and 5 are valid; 9 > n = 8 is not
    else:
        kw[arg] = value
    if arg == "n":
        names.append("'object_size'")                   # n = 5 < object_size: either may be blamed
    n = kw.pop("n", 8)
    assert_rejects(lambda: getattr(encode, fn)(images, n, **kw), names)


# ----------------------------------------------------------------------------- read-outs
_BOXES_BAD = st.sampled_from(["outside", "negative", "empty_box", "shape3", "ragged", "float", "one", "string",
                              "3d", "empty"])


def _bad_boxes(kind: str):
    return {"outside": np.array([[0, 0, 2, 2], [7, 7, 2, 2]]), "negative": np.array([[-1, 0, 2, 2], [4, 4, 2, 2]]),
            "empty_box": np.array([[0, 0, 0, 2], [4, 4, 2, 2]]), "shape3": np.array([[0, 0, 2], [4, 4, 2]]),
            "ragged": [[0, 0, 2, 2], [1, 1]], "float": np.array([[0.0, 0, 2, 2], [4, 4, 2, 2]]),
            "one": np.array([[0, 0, 2, 2]]), "string": "boxes", "3d": np.zeros((2, 4, 1), int),
            "empty": np.zeros((0, 4), int)}[kind]


@settings(**SETTINGS)
@given(bad=st.one_of(
    st.tuples(st.just("boxes"), _BOXES_BAD),
    st.tuples(st.sampled_from(["n", "num_classes", "detector_size"]), st.sampled_from(BAD_INT + [9])),
    st.tuples(st.just("temperature"), st.sampled_from(BAD_POSITIVE))))
def test_fuzz_detector_readout(bad):
    arg, value = bad
    kw = dict(n=8, num_classes=2)
    if arg == "boxes":
        kw["boxes"] = _bad_boxes(value)
    else:
        if value in (None, 9) and arg != "detector_size":
            value = 0                                    # 9 is a valid n / num_classes, None a valid default
        kw[arg] = 9 if value is None else value          # None: the default detector size
    assert_rejects(lambda: DetectorReadout(**kw), f"'{arg}'")


@settings(**SETTINGS)
@given(kind=st.sampled_from(["1d", "0d", "nonsquare", "empty", "int", "bool", "numpy", "list", "none", "2d",
                             "wrong_n"]), which=st.sampled_from(["detector", "qpi"]))
def test_fuzz_readout_forward(kind, which):
    if which == "qpi" and kind == "wrong_n":
        return  # the QPI read-out is elementwise: any grid size is fine
    u = {"2d": torch.ones(8, 8, dtype=torch.complex64),
         "wrong_n": torch.ones(2, 6, 6, dtype=torch.complex64)}.get(kind) if kind in ("2d", "wrong_n") \
        else _bad_torch_field(kind, 8)
    r = DetectorReadout(8, 2, detector_size=1) if which == "detector" else QPIReadout()
    assert_rejects(lambda: r(u), "'u'")


@settings(**SETTINGS)
@given(arg=st.sampled_from(["scale", "bias", "learnable"]),
       value=st.sampled_from([float("nan"), float("inf"), "1", None, 1j, [1.0]]))
def test_fuzz_qpi_readout_constructor(arg, value):
    if arg == "learnable" and value is None:
        value = "yes"
    assert_rejects(lambda: QPIReadout(**{arg: value}), f"'{arg}'")


def test_fuzz_sanity_valid_calls_pass():
    """The fuzzed entry points accept the valid baseline each test perturbs (so a rejection is the
    bad argument's doing)."""
    u = np.ones((2, 4, 4), complex)
    assert ref_propagate(u, LAM / 2, LAM, 3e-6, pad=2, n_medium=1.0, evanescent="decay").shape == (2, 4, 4)
    assert torch_propagate(torch.ones(2, 4, 4, dtype=torch.complex64), dx=LAM / 2, wavelength=LAM, z=3e-6,
                           evanescent="decay").shape == (2, 4, 4)
    net = D2NN(**SMALL, seed=0)
    assert net(net.encode(torch.rand(2, 8, 8))).shape == (2, 10)
    assert DetectorReadout(8, 2)(torch.ones(2, 8, 8, dtype=torch.complex64)).shape == (2, 2)
    assert encode.amplitude(torch.rand(8, 8), 8, object_size=8).shape == (1, 8, 8)
    assert math.isfinite(float(QPIReadout(2.0, 0.5)(torch.ones(1, 4, 4)).detach().sum()))
