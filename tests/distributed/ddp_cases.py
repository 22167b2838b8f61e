"""Training cases run both in one process (the reference) and under DDP by ``ddp_worker.py``.

The same function :func:`run_case` does both: outside ``torchrun`` ``wrap_ddp``, ``shard_batch``
and ``shard_loss_scale`` are no-ops, so the single-process run takes the whole global batch;
under ``torchrun`` each rank takes ``global[rank::world]`` and DDP averages the gradients.
Everything runs in float64 so that the only differences left are the order of floating-point
sums (per-rank means averaged by the all-reduce vs one mean over the global batch).
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from quaton_fast import distributed as qd
from quaton_fast import encode, quant
from quaton_fast.aoc import EquilibriumClassifier
from quaton_fast.aoc import equilibrium as aoc_equilibrium
from quaton_fast.nn import D2NN

#: a small D2NN: 16×16 neurons, 2 layers, padded to 32×32, 10 detector squares of 2×2
SMALL_D2NN = dict(n=16, dx=316.4e-9, wavelength=632.8e-9, num_layers=2, z_in=3e-6, dz=3e-6, z_out=5e-6,
                  object_size=12, pad=2, detector_size=2, seed=0)
#: global batch sizes of the successive steps: 8 splits evenly over 2 ranks, 7 does not
GLOBAL_BATCHES = (8, 7)
LR = 0.05
MOMENTUM = 0.9


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]  # (global size, step) -> (x, y)
    switch_to: Callable[[], quant.Quantizer] | None = None  # switch quantizer after step 0
    rewrap: bool = True  # re-wrap in DDP after the switch (False: the mistake, ranks must diverge)
    adjoint_tol: float | None = None  # AOC: tolerance of the implicit backward (None: the model's default)


def _d2nn_inputs(size: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Global batch of phase-encoded random images: u (B, 16, 16) complex128, labels (B,)."""
    rng = np.random.default_rng(100 + step)
    images = torch.from_numpy(rng.uniform(0, 1, (size, 12, 12)))
    u = encode.phase(images, SMALL_D2NN["n"], object_size=SMALL_D2NN["object_size"]).to(torch.complex128)
    return u, torch.from_numpy(rng.integers(0, 10, size))


def _aoc_inputs(size: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Global batch of random 784-pixel images x (B, 784) float64 in [0, 1], labels (B,)."""
    rng = np.random.default_rng(200 + step)
    return torch.from_numpy(rng.uniform(0, 1, (size, 784))), torch.from_numpy(rng.integers(0, 10, size))


def _aoc_256() -> torch.nn.Module:
    """The '256' AOC equilibrium classifier: 784 → 16 → fixed point of one 16×16 cell → 10."""
    return EquilibriumClassifier(in_features=784, width=16, cells=1, seed=0).double()


def _d2nn(quantizer: quant.Quantizer | None) -> Callable[[], torch.nn.Module]:
    return lambda: D2NN(**SMALL_D2NN, quantizer=quantizer).double()


CASES: dict[str, Case] = {c.name: c for c in [
    Case("fp", _d2nn(quant.FullPrecision()), _d2nn_inputs),
    Case("psq-lt", _d2nn(quant.PSQ(4, quant.LearnableTemperature())), _d2nn_inputs),
    Case("dsq-learnable-alpha", _d2nn(quant.DSQ(4, alpha=0.3, learnable_alpha=True)), _d2nn_inputs),
    Case("gs", _d2nn(quant.GumbelSoftmax(4, seed=7)), _d2nn_inputs),
    Case("switch-fp-to-psq-lt", _d2nn(None), _d2nn_inputs,
         switch_to=lambda: quant.PSQ(4, quant.LearnableTemperature())),
    Case("switch-without-rewrap", _d2nn(None), _d2nn_inputs,
         switch_to=lambda: quant.PSQ(4, quant.LearnableTemperature()), rewrap=False),
    Case("aoc-256", _aoc_256, _aoc_inputs),
    Case("aoc-256-tight-adjoint", _aoc_256, _aoc_inputs, adjoint_tol=1e-13),
]}


@contextlib.contextmanager
def _adjoint_tolerance(tol: float | None) -> Iterator[None]:
    """Solve the equilibrium model's implicit backward to ``tol`` (the model has no argument for
    it, so the module's ``fixed_point`` is swapped for the duration; restored afterwards)."""
    if tol is None:
        yield
        return
    original = aoc_equilibrium.fixed_point
    aoc_equilibrium.fixed_point = functools.partial(original, backward_tol=tol, backward_max_iter=20000)
    try:
        yield
    finally:
        aoc_equilibrium.fixed_point = original


def _regularization(model: torch.nn.Module) -> torch.Tensor | float:
    reg = getattr(model, "regularization", None)
    return reg() if reg is not None else 0.0


def run_case(name: str) -> dict[str, torch.Tensor]:
    """Train case ``name`` for ``len(GLOBAL_BATCHES)`` SGD steps; return its parameters after
    the last step (``param/<name>``) and the gradients of the last step (``grad/<name>``)."""
    case = CASES[name]
    with _adjoint_tolerance(case.adjoint_tol):
        return _run(case)


def _run(case: Case) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)  # the same initial model on every rank (DDP also broadcasts rank 0's)
    model = qd.wrap_ddp(case.build())
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    grads: dict[str, torch.Tensor] = {}
    for step, size in enumerate(GLOBAL_BATCHES):
        # a different global RNG on every rank: nothing may depend on it (e.g. Gumbel noise)
        torch.manual_seed(1000 + 17 * qd.rank() + step)
        x, y = case.inputs(size, step)
        idx = qd.shard_batch(torch.arange(size))
        inner = qd.unwrap(model)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx]) * qd.shard_loss_scale(size)
        loss = loss + _regularization(inner)
        opt.zero_grad()
        loss.backward()
        grads = {n: p.grad.detach().clone() for n, p in inner.named_parameters() if p.grad is not None}
        opt.step()
        if step == 0 and case.switch_to is not None:
            inner.switch_quantizer(case.switch_to())
            model = qd.wrap_ddp(inner) if case.rewrap else model
            opt = torch.optim.SGD(inner.parameters(), lr=LR, momentum=MOMENTUM)
    out = {f"param/{n}": p.detach().clone() for n, p in qd.unwrap(model).named_parameters()}
    out.update({f"grad/{n}": g for n, g in grads.items()})
    return out
