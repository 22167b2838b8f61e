"""`quaton-fast train --wavelengths/--material/--coherence`: parsing, validation, the model built."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from quaton_fast.nn import SpectralD2NN
from quaton_fast.reference.materials import named_material
from quaton_fast.cli.train import add_arguments, config_from_args
from quaton_fast.train.run_classify import build_model


def _parse(*argv):
    p = argparse.ArgumentParser()
    add_arguments(p)
    return config_from_args(p.parse_args(["--task", "mnist", *argv]))


def test_flags_build_a_spectral_network():
    cfg = _parse("--neurons", "16", "--layers", "2", "--object-size", "8", "--wavelengths", "550e-9:700e-9:4",
                 "--material", "n-bk7", "--coherence", "2e-6,1e-6,3")
    np.testing.assert_allclose(cfg.wavelengths, [550e-9, 600e-9, 650e-9, 700e-9])
    net = build_model(cfg, 10)
    assert isinstance(net, SpectralD2NN)
    assert net.material is named_material("n-bk7") and net.coherence.num_modes == 3 and len(net.layers) == 2
    assert net.reference_wavelength == cfg.wavelengths[2]
    # the default run stays the monochromatic D2NN
    assert not isinstance(build_model(_parse("--neurons", "16", "--layers", "1"), 10), SpectralD2NN)


def test_comma_list_and_constant_material_default():
    cfg = _parse("--neurons", "16", "--layers", "1", "--wavelengths", "600e-9,650e-9", "--n-material", "1.6")
    net = build_model(cfg, 10)
    assert net.material.n(600e-9)[0] == 1.6 and list(net.wavelengths) == [600e-9, 650e-9]


@pytest.mark.parametrize("argv", [["--wavelengths", "abc"], ["--wavelengths", "-5e-7"], ["--coherence", "1e-6,2e-6"],
                                  ["--coherence", "1e-6,0,3"], ["--wavelengths", "5e-7:6e-7:0"]])
def test_bad_flags_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit):
        _parse(*argv)


def test_bad_material_and_fab_errors_name_the_option():
    with pytest.raises(ValueError, match="spec|name"):
        _parse("--material", "unobtainium")
    with pytest.raises(ValueError, match="fab_"):
        _parse("--wavelengths", "6e-7", "--fab-phase", "0.1")
