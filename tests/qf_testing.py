"""Shared test tolerances and helpers. Tolerances are relative errors ‖out − ref‖/‖ref‖."""
from __future__ import annotations

import numpy as np

#: float32 elementwise ops vs the float64 reference
RTOL_FP32_ELEMENTWISE = 1e-5
#: float32 through FFTs (propagation) vs the float64 reference
RTOL_FP32_FFT = 1e-4
#: float64 torch path vs float64 reference (same algorithm, different library)
RTOL_FP64 = 1e-10


def rel_err(out, ref) -> float:
    out = np.asarray(out)
    ref = np.asarray(ref)
    return float(np.linalg.norm((out - ref).ravel()) / max(np.linalg.norm(ref.ravel()), 1e-300))


# ------------------------------------------------ AOC fixed-point test systems (C++ and CUDA tests)
def contractive_W(rng, shape, n, norm):
    W = rng.normal(size=(*shape, n, n))
    return W * (norm / np.linalg.norm(W, 2, axis=(-2, -1)))[..., None, None]


def random_fixed_point_case(rng, S, n, *, shared_W, codes, momentum, anneal, clamp, noise, tol, T):
    W = contractive_W(rng, () if shared_W else (S,), n, 0.45)
    b = rng.normal(size=(S, n)) * 0.5 if rng.random() < 0.7 else rng.normal(size=n) * 0.5
    kw = dict(s0=rng.uniform(-0.5, 0.5, size=(S, n)),
              alpha=(0.2, rng.uniform(0.4, 0.5, size=S)) if anneal else 0.5,
              beta=rng.uniform(0.5, 1.0, size=S) if rng.random() < 0.5 else 0.8,
              gamma=rng.uniform(0.0, 0.3, size=S) if momentum else 0.0,
              nonlinearity=codes, clamp=(-1.0, 1.0) if clamp else None,
              noise_std=0.02 if noise else 0.0, seed=int(rng.integers(0, 2 ** 63)) * 2 + 1,
              tol=tol, max_iter=T)
    return W, b, kw


def random_adjoint_case(rng, S, n, *, shared, clamp):
    """A converged fixed point s* (S, n) of a random contractive system and an upstream gradient g,
    for the adjoint tests of every backend (C++, CUDA, the CPU emulator). Returns (W, b, s*, g, kw)
    with kw = alpha, beta, nonlinearity codes (mixed, tanh first), clamp."""
    from quaton_fast.reference import fixed_point as ref
    W = contractive_W(rng, () if shared else (S,), n, 0.4)
    b = rng.normal(size=(n,) if shared else (S, n))
    codes = rng.integers(0, 3, size=n).astype(np.int8)
    codes[0] = 0
    beta = 0.9 if shared else rng.uniform(0.5, 1.0, S)
    alpha = 0.45 if shared else rng.uniform(0.3, 0.5, S)
    kw = dict(alpha=alpha, beta=beta, nonlinearity=codes, clamp=clamp)
    s = ref.fixed_point_forward(W, b, tol=1e-13, max_iter=2000, systems=S, **kw).state
    g = rng.normal(size=(S, n))
    return W, b, s, g, kw


#: (S, n, shared_W, nonlinearity, momentum, anneal, clamp, noise, tol, T): random fixed-point systems
#: shared by the C++ and CUDA kernel tests
FIXED_POINT_CASES = [
    # S, n, shared_W, nonlinearity, momentum, anneal, clamp, noise, tol, T
    (5, 1, False, "tanh", False, False, False, False, 1e-10, 200),
    (64, 16, False, "tanh", False, False, True, False, 1e-9, 300),
    (33, 16, True, "mixed", True, False, True, True, 1e-4, 150),
    (17, 37, False, "mixed", True, True, True, True, 0.0, 80),
    (9, 64, True, "mixed", False, True, False, False, 1e-8, 200),
    (3, 16, False, "sign", True, True, True, True, 1e-3, 100),
    (40, 16, True, "identity", False, False, False, True, 0.0, 50),
    (1, 256, False, "tanh", False, False, True, False, 1e-9, 200),
]


class Interrupted(Exception):
    """Raised by interrupt_after to simulate a run killed between epochs."""


def interrupt_after(monkeypatch, module, epoch_function: str, epochs_done: int) -> None:
    """Make ``module.epoch_function`` raise Interrupted once it has run ``epochs_done`` times."""
    real = getattr(module, epoch_function)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        if calls["n"] == epochs_done:
            raise Interrupted()
        calls["n"] += 1
        return real(*args, **kwargs)
    monkeypatch.setattr(module, epoch_function, wrapper)


# ------------------------------------------------ AOC hardware calibration files (shared/data)
def aoc_calibration_dir() -> str:
    """shared/data/aoc_hardware next to (any parent of) the checkout, or $QUATON_AOC_HARDWARE_DIR;
    '' when absent (the tests that need the files skip)."""
    import os
    from pathlib import Path
    env = os.environ.get("QUATON_AOC_HARDWARE_DIR")
    if env:
        return env
    for parent in Path(__file__).resolve().parents:
        cand = parent / "shared" / "data" / "aoc_hardware"
        if cand.is_dir():
            return str(cand)
    return ""
