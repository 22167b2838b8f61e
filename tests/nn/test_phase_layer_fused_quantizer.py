"""PhaseLayer.modulate_propagate hands the quantizer to the fused op (issue 22 item 1): on the CPU
it must compute exactly what the layer computed before -- ``propagate(layer(u), H)``, the
quantizer's phase or transmission composed with the modulation -- with the same gradients, for
every quantizer, phase and complex tables, training and evaluation. (The kernels themselves are
judged against the NumPy reference in tests/kernels/ and tests/cuda/.)"""
from __future__ import annotations

import pytest
import torch

from quaton_fast.functional.fused_quantizer import FusedQuantizer
from quaton_fast.functional.propagation import propagate
from quaton_fast.nn.phase_layer import PhaseLayer
from quaton_fast.quant.quantizers import STE, QUANTIZER_NAMES, make_quantizer


def _quantizers():
    out = [(name, lambda name=name: make_quantizer(name, 4)) for name in QUANTIZER_NAMES]
    out += [(name + "-material", lambda name=name: make_quantizer(name, 4, material_n=1.5, material_kappa=0.05))
            for name in ("pq", "ste", "dsq", "psq-ft", "psq-lt")]
    out += [("ste-transmission", lambda: STE(2, transmission_backward=True, k=3.0))]
    return out


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name,make", _quantizers(), ids=lambda v: v if isinstance(v, str) else None)
def test_modulate_propagate_is_the_old_composition(name, make, training):
    torch.manual_seed(0)
    n, P = 6, 12
    layer = PhaseLayer(n, make()).double().train(training)
    u = torch.randn(2, n, n, dtype=torch.complex128, requires_grad=True)
    H = torch.randn(P, P, dtype=torch.complex128)
    g = torch.randn(2, n, n, dtype=torch.complex128)

    def run(f):
        if isinstance(layer.quantizer, type(make_quantizer("gs", 4))):
            torch.manual_seed(1)  # the same Gumbel draw in both runs
            layer.quantizer._noise_host[1] = 0
        layer.zero_grad(set_to_none=True)
        u.grad = None
        out = f()
        (g.conj() * out).real.sum().backward()
        return out, u.grad.clone(), [None if p.grad is None else p.grad.clone() for p in layer.parameters()]

    new, gu_new, grads_new = run(lambda: layer.modulate_propagate(u, H))
    old, gu_old, grads_old = run(lambda: propagate(layer(u), H))
    assert torch.equal(new, old)
    assert torch.equal(gu_new, gu_old)
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(grads_new, grads_old))
    spec = layer.quantizer.fused_spec(layer.latent)
    if name == "gs":
        assert spec is None  # logits and noise: the layer composes
    else:
        assert isinstance(spec, FusedQuantizer)
