"""modulate_propagate on the torch path (CPU) == reference modulation then propagation, with gradients."""
import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP64, rel_err
from quaton_fast.functional.fused_propagation import modulate_propagate
from quaton_fast.reference import fields as ref_fields
from quaton_fast.reference import propagation as ref

WL, DX = 632.8e-9, 316.4e-9


@pytest.mark.parametrize("n,pad", [(16, 2), (9, 3)])
def test_torch_path_matches_reference(rng, n, pad):
    u = rng.standard_normal((2, n, n)) + 1j * rng.standard_normal((2, n, n))
    phase = rng.uniform(0, 2 * np.pi, (n, n))
    g = rng.standard_normal((2, n, n)) + 1j * rng.standard_normal((2, n, n))
    h = ref.angular_spectrum_transfer(pad * n, DX, WL, 4e-6)
    ut = torch.from_numpy(u).requires_grad_(True)
    pt = torch.from_numpy(phase).requires_grad_(True)
    out = modulate_propagate(ut, pt, torch.from_numpy(h))
    assert rel_err(out.detach().numpy(), ref.propagate(ref_fields.phase_modulate(u, phase), h)) < RTOL_FP64
    (torch.from_numpy(g).conj() * out).real.sum().backward()
    grad_u, grad_phase = ref_fields.phase_modulate_backward(ref.propagate_adjoint(g, h), u, phase)
    assert rel_err(ut.grad.numpy(), grad_u) < RTOL_FP64
    assert rel_err(pt.grad.numpy(), grad_phase) < RTOL_FP64


def test_phase_shape_is_checked():
    u = torch.zeros(1, 8, 8, dtype=torch.complex64)
    with pytest.raises(ValueError, match="argument 'phase'"):
        modulate_propagate(u, torch.zeros(4, 4), torch.ones(16, 16, dtype=torch.complex64))


def test_transposed_transfers_are_cached_and_follow_in_place_changes():
    from quaton_fast.functional.fused_propagation import transposed_transfers
    h = torch.randn(8, 8, dtype=torch.complex64)
    ht, hct = transposed_transfers(h)
    assert torch.equal(ht, h.T) and torch.equal(hct, h.conj().T)
    assert transposed_transfers(h)[0] is ht  # cached
    h.mul_(2)  # in-place change bumps the version: recomputed
    assert torch.equal(transposed_transfers(h)[0], h.T)
