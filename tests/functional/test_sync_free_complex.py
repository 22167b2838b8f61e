"""A D2NN training step on a complex (absorbing) level table makes no host synchronisation (issue
18; the phase-table steps are covered by test_sync_free.py): forward, loss (+ regulariser),
backward and optimizer step of every quantizer that has a table, recorded by SyncGuard."""
from __future__ import annotations

import pytest
import torch

import quaton_fast as qf
from quaton_fast.quant.quantizers import QUANTIZER_NAMES, make_quantizer
from sync_guard import SyncGuard

WL, DX = 632.8e-9, 316.4e-9


CASES = [(n, 4, {"material_n": 1.7, "material_kappa": 0.08}) for n in QUANTIZER_NAMES if n != "fp"] + [
    ("ste", 2, {"transmission_backward": True}),                                   # phase table, T-domain STE
    ("ste", 4, {"transmission_backward": True, "material_n": 1.7, "material_kappa": 0.08})]


@pytest.mark.parametrize("name, levels, options", CASES)
def test_complex_table_training_step_makes_no_host_sync(name, levels, options):
    torch.manual_seed(0)
    q = make_quantizer(name, levels, **options)
    net = qf.nn.D2NN(n=16, dx=DX, wavelength=WL, num_layers=2, z_in=3e-6, dz=3e-6, z_out=3e-6,
                     object_size=8, quantizer=q, seed=0).train()
    assert all(layer.quantizer.uses_transmission for layer in net.layers)
    opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x = net.encode(torch.rand(3, 8, 8, generator=g))
    y = torch.randint(0, 10, (3,), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y) + net.regularization()
        loss.backward()
        opt.step()
        return loss

    step()  # fills the per-device caches
    before = [p.detach().clone() for p in net.parameters()]
    with SyncGuard() as guard:
        step()
    if guard.hits:
        pytest.fail(f"complex table, quantizer {name!r}: host synchronisations: {guard.report()}")
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))  # the step did train
