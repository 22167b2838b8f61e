"""One meaning for numbers (NumPy scalars, 0-d arrays and 0-d tensors count as Python numbers) and
the physical limits of a propagation, named after the user's argument (issue 26)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from quaton_fast._validation import finite_real, plain_scalar, positive_int
from quaton_fast.functional import propagate_free_space
from quaton_fast.nn import D2NN, FreeSpace
from quaton_fast.reference import propagation as ref

KW = dict(dx=316.4e-9, wavelength=632.8e-9, z=3.4e-6)


@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), np.array(3), torch.tensor(3), np.uint8(3)])
def test_integers_of_every_kind_are_ints(value):
    assert plain_scalar(value) == 3 and type(plain_scalar(value)) is int
    assert positive_int("f", "n", value) == 3


@pytest.mark.parametrize("value", [np.float32(0.5), np.float64(0.5), np.array(0.5), torch.tensor(0.5)])
def test_reals_of_every_kind_are_floats(value):
    assert finite_real("f", "x", value) == 0.5


@pytest.mark.parametrize("value", [np.bool_(True), torch.tensor(True), np.array([1, 2]), torch.tensor([2]), "2"])
def test_bools_and_non_scalars_stay_refused(value):
    with pytest.raises((TypeError, ValueError), match="'n'"):
        positive_int("f", "n", value)


def test_functional_takes_the_numbers_nn_takes():
    u = torch.ones(1, 8, 8, dtype=torch.complex64)
    for pad in (np.int64(2), torch.tensor(2)):
        a = propagate_free_space(u, pad=pad, dx=np.float32(KW["dx"]), wavelength=torch.tensor(KW["wavelength"]),
                                 z=np.array(KW["z"]))
        b = FreeSpace(8, pad=pad, **KW)(u)
        assert torch.allclose(a, b.to(a.dtype), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("over, name", [(dict(wavelength=1e-200, dx=1e-201), "wavelength"),
                                        (dict(z=1e305), "z"), (dict(dx=1e-300), "dx"),
                                        (dict(n_medium=1e300), "n_medium"), (dict(wavelength=1e40), "wavelength")])
def test_extreme_but_finite_scales_name_the_argument(over, name):
    u = torch.ones(1, 8, 8, dtype=torch.complex64)
    for call in (lambda: propagate_free_space(u, **dict(KW, **over)),
                 lambda: FreeSpace(8, **dict(KW, **over)),
                 lambda: ref.propagate_free_space(u.numpy(), **dict(KW, **over))):
        with pytest.raises(ValueError, match=f"argument '{name}'"):
            call()


def test_d2nn_names_its_own_distance():
    with pytest.raises(ValueError, match="argument 'dz'"):
        D2NN(8, 4e-4, 7.5e-4, 2, z_in=0.01, dz=1e300, z_out=0.01)
