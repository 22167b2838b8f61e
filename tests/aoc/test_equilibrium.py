import pytest
import torch

from quaton_fast.aoc.equilibrium import EquilibriumClassifier, EquilibriumRegressor, quantize_for_hardware
from quaton_fast.aoc.quantize import quantize_int_9bit, quantize_weights_9bit
from quaton_fast.functional.fixed_point import fixed_point


@pytest.mark.parametrize("cells", [1, 16])
def test_shapes(cells):
    m = EquilibriumClassifier(cells=cells)
    out = m(torch.rand(5, 28, 28))
    assert out.shape == (5, 10)
    out.sum().backward()
    assert m.W.grad.shape == (cells, 16, 16) and m.beta.grad is not None
    assert EquilibriumRegressor()(torch.rand(7, 1)).shape == (7, 1)


def test_cells_independent():
    m = EquilibriumClassifier(cells=16)
    x = torch.rand(3, 784)
    with torch.no_grad():
        z0 = m.equilibrium(x)
        m.W[5] += 0.05 * torch.randn(16, 16)
        z1 = m.equilibrium(x)
    d = (z1 - z0).abs().reshape(3, 16, 16).amax(dim=(0, 2))
    assert d[5] > 0 and torch.all(d[torch.arange(16) != 5] == 0)


def test_quantization_grid_and_error():
    W = torch.randn(3, 16, 16, dtype=torch.float64)
    q, m = quantize_int_9bit(W, "maxabs")
    Wq = quantize_weights_9bit(W, "maxabs")
    assert q.min() >= -256 and q.max() <= 255
    assert torch.allclose(Wq, q.double() * m.reshape(-1, 1, 1) / 255)
    assert ((Wq - W).abs() <= m.reshape(-1, 1, 1) / 255 / 2 + 1e-12).all()


def test_paper_mode_clips_maxabs_does_not():
    W = torch.tensor([[0.5, -2.0], [0.1, 0.2]])
    qp, mp = quantize_int_9bit(W, "paper")
    assert mp.item() == 0.5 and qp.min().item() == -256  # -2.0 clips to -256/255*0.5
    qa, ma = quantize_int_9bit(W, "maxabs")
    assert ma.item() == 2.0 and qa.min().item() == -255
    assert torch.allclose(quantize_weights_9bit(W, "maxabs"), W, atol=2.0 / 255 / 2)


def test_export_reproduces_quantized_fixed_point():
    m = EquilibriumClassifier(cells=2).double()
    x = torch.rand(4, 784, dtype=torch.float64)
    exp = quantize_for_hardware(m)
    with torch.no_grad(), m.quantized():
        zq = m.equilibrium(x)
        beff = (m.ip(x) + m.b).clamp(*exp["clamp"]).reshape(4 * 2, 16)
    Wc = torch.stack([(c["W_pos"] - c["W_neg"]).double() for c in exp["cells"]])
    assert (torch.stack([c["W_pos"] for c in exp["cells"]]) >= 0).all()
    beta = torch.tensor([c["beta_hw"] for c in exp["cells"]], dtype=torch.float64).repeat(4)
    z, _, _ = fixed_point(Wc.repeat(4, 1, 1), beff, alpha=exp["alpha"], beta=beta, tol=m.tol,
                          max_iter=m.max_iter)
    torch.testing.assert_close(z.reshape(4, 32), zq, atol=1e-9, rtol=0)


def test_project_bounds_the_gain_per_cell_and_keeps_small_cells():
    m = EquilibriumClassifier(cells=4, max_gain=0.4)
    with torch.no_grad():
        m.W[1] *= 3.0
        m.W[2] *= 0.5
        m.beta.fill_(-1.5)
    W_before = m.W.detach().clone()
    m.project_()
    gain = m.beta.detach().abs() * torch.linalg.matrix_norm(m.W.detach(), ord=2)
    assert torch.all(gain <= 0.4 * (1 + 1e-6))
    torch.testing.assert_close(gain[[0, 1, 3]], torch.full((3,), 0.4), rtol=1e-5, atol=0)
    torch.testing.assert_close(m.W[2], W_before[2], rtol=0, atol=0)  # 1.5*0.2 = 0.3 < 0.4: untouched
    m2 = EquilibriumClassifier(cells=1, max_gain=None)
    with torch.no_grad():
        m2.W *= 5
    w = m2.W.detach().clone()
    m2.project_()
    torch.testing.assert_close(m2.W.detach(), w, rtol=0, atol=0)
    with pytest.raises(ValueError, match="max_gain"):
        EquilibriumClassifier(max_gain=0.0)
