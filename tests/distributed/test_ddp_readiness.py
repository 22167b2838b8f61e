"""Single-process checks of what DDP relies on: no complex buffers, noise that is module state,
dtype kept across a quantizer switch, and the batch-sharding arithmetic."""
from __future__ import annotations

import pytest
import torch

from quaton_fast import distributed as qd
from quaton_fast import quant
from quaton_fast.nn import D2NN, FreeSpace

SMALL = dict(n=16, dx=316.4e-9, wavelength=632.8e-9, num_layers=2, z_in=3e-6, dz=3e-6, z_out=5e-6,
             object_size=12, pad=2, detector_size=2, seed=0)


def test_d2nn_has_no_complex_buffers_and_survives_dtype_casts():
    # DDP broadcasts every buffer when it wraps a model and NCCL has no complex dtype, so a
    # complex buffer breaks DDP on GPUs; H is kept outside the buffers, per device and dtype.
    model = D2NN(**SMALL, quantizer=quant.PSQ(4))
    assert not any(b.is_complex() for b in model.buffers())
    u = torch.polar(torch.ones(3, 16, 16, dtype=torch.float64), torch.rand(3, 16, 16, dtype=torch.float64))
    before = model.double()(u)
    model.to(torch.float32)  # would have cast a complex128 buffer to float32, dropping Im(H)
    fs = model.between
    assert fs.transfer.dtype == torch.complex128
    assert torch.allclose(model.double()(u), before, rtol=0, atol=1e-12)
    assert fs.transfer_like(u.to(torch.complex64)).dtype == torch.complex64
    assert fs.transfer_like(u) is fs.transfer_like(u)  # cached, not rebuilt per call
    assert "transfer" not in str(list(model.state_dict()))


def test_free_space_transfer_is_the_exact_float64_function():
    fs = FreeSpace(16, 316.4e-9, 632.8e-9, 4e-6, pad=2)
    u = torch.randn(2, 16, 16, dtype=torch.complex128)
    assert torch.equal(fs.transfer_like(u), fs.transfer)


def _gumbel_draws(q: quant.GumbelSoftmax, logits: torch.Tensor, count: int) -> list[torch.Tensor]:
    return [q(logits).detach().clone() for _ in range(count)]


def test_gumbel_noise_is_module_state_not_global_rng():
    logits = torch.zeros(8, 8, 4)  # flat logits: the chosen level is decided by the noise alone
    a, b = quant.GumbelSoftmax(4, seed=3).train(), quant.GumbelSoftmax(4, seed=3).train()
    torch.manual_seed(0)
    da = _gumbel_draws(a, logits, 3)
    torch.manual_seed(12345)  # another global RNG state (e.g. another rank) draws the same noise
    db = _gumbel_draws(b, logits, 3)
    assert all(torch.equal(x, y) for x, y in zip(da, db))
    assert not torch.equal(da[0], da[1])  # successive draws differ
    # a checkpoint carries the stream: resuming after one draw continues with the second
    c = quant.GumbelSoftmax(4, seed=99).train()
    fresh = quant.GumbelSoftmax(4, seed=3).train()
    fresh(logits)
    c.load_state_dict(fresh.state_dict())
    assert torch.equal(c(logits), da[1])
    # evaluation draws nothing
    a.eval()
    state = a.noise_state.clone()
    a(logits)
    assert torch.equal(a.noise_state, state)


def test_each_layer_of_a_d2nn_has_its_own_gumbel_stream():
    model = D2NN(**SMALL, quantizer=quant.GumbelSoftmax(4, seed=5))
    seeds = {int(layer.quantizer.noise_state[0]) for layer in model.layers}
    assert len(seeds) == len(model.layers)
    with pytest.raises(ValueError, match="GumbelSoftmax.*'seed'"):
        quant.GumbelSoftmax(4, seed=-1)


def test_switch_quantizer_keeps_the_model_dtype():
    model = D2NN(**SMALL).double()
    model.switch_quantizer(quant.PSQ(4, quant.LearnableTemperature()))
    for layer in model.layers:
        assert layer.quantizer.kappa.dtype == torch.float64
        assert layer.quantizer.thresholds.dtype == torch.float64
        assert layer.latent.dtype == torch.float64


def test_single_process_helpers_are_no_ops():
    assert not qd.is_initialized() and qd.rank() == 0 and qd.world_size() == 1 and qd.is_main_process()
    idx = torch.arange(5)
    assert torch.equal(qd.shard_batch(idx), idx)
    assert qd.shard_loss_scale(5) == 1.0
    m = torch.nn.Linear(2, 2)
    assert qd.wrap_ddp(m) is m and qd.unwrap(m) is m
    with pytest.raises(ValueError, match="shard_loss_scale.*'global_size'"):
        qd.shard_loss_scale(0)


@pytest.mark.parametrize("world,size", [(2, 7), (3, 7), (4, 9), (3, 3)])
def test_scaled_shard_means_average_to_the_global_mean(monkeypatch, world, size):
    losses = torch.rand(size, dtype=torch.float64)
    averaged = 0.0
    for r in range(world):
        monkeypatch.setattr(qd, "world_size", lambda: world)
        monkeypatch.setattr(qd, "rank", lambda r=r: r)
        shard = qd.shard_batch(torch.arange(size))
        averaged += float(losses[shard].mean()) * qd.shard_loss_scale(size) / world  # DDP's average
    assert averaged == pytest.approx(float(losses.mean()), rel=1e-14)
    monkeypatch.setattr(qd, "world_size", lambda: size + 1)
    with pytest.raises(ValueError, match="at least one item per rank"):
        qd.shard_loss_scale(size)


def test_backend_names_are_checked(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    for bad in ("tcp", "cpu:gloo,cuda", "cpu:nccl2"):
        with pytest.raises(ValueError, match="init_from_env.*'backend'.*cpu:gloo,cuda:nccl"):
            qd.init_from_env(bad)
    monkeypatch.setenv(qd.BACKEND_ENV, "smoke-signals")
    with pytest.raises(ValueError, match="init_from_env.*'backend'.*'smoke-signals'"):
        qd.init_from_env()


def test_only_torchrun_rank_0_is_main_even_outside_the_process_group(monkeypatch):
    # e.g. a CLI that prints "wrote ..." after shutdown(): rank 1 must not claim to be rank 0
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert not qd.is_main_process()
    monkeypatch.setenv("RANK", "0")
    assert qd.is_main_process()
