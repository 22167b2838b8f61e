"""The shared-W fixed-point kernels (cuda/fixed_point_shared.cuh, issue 23 item 2) on the CPU
emulator, against the NumPy reference and against the per-system kernels with W repeated.

One W (n, n) or one per ensemble cell (C, n, n; system s uses W[s % C]) and a batch of systems:
states, iteration counts, residuals (hence convergence flags), the noise stream, the adjoint's u,
grad_W (per-block partials summed over the tiles), grad_alpha and grad_beta, at n = 1, 3, 16, 17,
64 (every instantiation's padding: NP = 4, 16, 32, 64), odd batch sizes and partially filled
tiles and warps, early exit in some columns only; plain, ThreadSanitizer and ASan+UBSan builds.
Two planted bugs (a missing barrier after W is loaded, a tile that writes past the batch) fail.
"""
from __future__ import annotations

import numpy as np
import pytest

import emu_runner as emu
from qf_testing import contractive_W, random_adjoint_case
from qf_testing import random_fixed_point_case as random_case
from quaton_fast.reference import fixed_point as ref_fp

pytestmark = pytest.mark.skipif(not emu.compiler_available(), reason=f"no host C++ compiler ({emu.CXX})")

VARIANTS = list(emu.VARIANTS)
DRIVER = "fixed_point_shared"


@pytest.fixture(scope="module")
def exes():
    return emu.build_all(VARIANTS, (DRIVER,))


@pytest.fixture(scope="module")
def per_system_exe():
    return emu.build("fixed_point", "plain")


def _per(v, S, T):
    return np.broadcast_to(np.asarray(v, np.float64), (S,)).astype(T)


def _request(W, b, kw, S, n, dtype, cells=0, momentum=None):
    """args/arrays of one forward request; W (n, n) shared or (cells, n, n) with cells > 0."""
    T = np.float32 if dtype == 0 else np.float64
    alpha = kw.get("alpha", 0.5)
    a0, a1 = alpha if isinstance(alpha, tuple) else (alpha, alpha)
    clamp = kw.get("clamp")
    gamma = kw.get("gamma", 0.0)
    if momentum is None:
        momentum = int(np.any(np.asarray(gamma) != 0))
    args = {"dtype": dtype, "systems": S, "n": n, "W_shared": int(cells == 0), "W_cells": cells,
            "b_shared": int(np.ndim(b) == 1), "has_clamp": int(clamp is not None),
            "clamp_lo": repr(clamp[0] if clamp else -1.0), "clamp_hi": repr(clamp[1] if clamp else 1.0),
            "noise_std": repr(float(kw.get("noise_std", 0.0))), "seed": int(kw.get("seed", 0)),
            "tol": repr(float(kw["tol"])), "max_iter": int(kw["max_iter"]), "momentum": momentum}
    arrays = {"W": np.asarray(W).astype(T), "b": np.asarray(b).astype(T), "alpha_start": _per(a0, S, T),
              "alpha_end": _per(a1, S, T), "beta": _per(kw.get("beta", 1.0), S, T), "gamma": _per(gamma, S, T),
              "nonlinearity": ref_fp.nonlinearity_codes("test", kw.get("nonlinearity", "tanh"), n).astype(np.int8)}
    if kw.get("s0") is not None:
        arrays["s0"] = np.asarray(kw["s0"]).astype(T)
    return args, arrays


def _outs(S, n, dtype):
    f = "f32" if dtype == 0 else "f64"
    return {"state": (f, S * n), "iterations": ("i32", S), "residual": (f, S)}


def _per_system_W(W, S, cells):
    """The reference's (S, n, n): W repeated (shared) or W[s % cells]."""
    W = np.asarray(W)
    return np.broadcast_to(W, (S, *W.shape)).copy() if cells == 0 else W[np.arange(S) % cells]


def _case(seed, S, n, cells, **kw):
    rng = np.random.default_rng(seed)
    W, b, kwargs = random_case(rng, S, n, shared_W=True, **kw)
    if cells:
        W = contractive_W(rng, (cells,), n, 0.45)
    return W, b, kwargs


# S, n, cells, nonlinearity, momentum, anneal, clamp, noise, tol, T, builds
FORWARD_CASES = [
    (5, 1, 0, "tanh", False, False, False, False, 1e-10, 120, VARIANTS),    # NP = 4, one partial tile
    (7, 3, 0, "mixed", True, True, True, True, 1e-6, 40, VARIANTS),         # NP = 4, noise + momentum
    (37, 16, 0, "mixed", True, False, True, True, 1e-4, 50, ["plain", "tsan"]),  # two warps, one partial
    (45, 16, 3, "tanh", False, True, True, False, 1e-9, 60, ["plain", "asan"]),  # 3 cells x 15 columns
    (9, 17, 0, "mixed", False, False, True, False, 1e-8, 60, VARIANTS),     # NP = 32: 15 padding rows
    (70, 17, 2, "sign", True, True, True, True, 1e-3, 30, ["plain"]),        # 35 columns per cell: 2 blocks
    (5, 64, 0, "mixed", False, True, False, False, 1e-8, 50, ["plain", "tsan"]),  # NP = 64
    (12, 64, 4, "identity", False, False, True, True, 0.0, 20, ["plain", "asan"]),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", FORWARD_CASES, ids=lambda c: f"S{c[0]}-n{c[1]}-C{c[2]}-{c[3]}-T{c[9]}")
def test_shared_forward_float64_matches_the_reference(exes, variant, case):
    S, n, cells, nl, mom, anneal, clamp, noise, tol, T, builds = case
    if variant not in builds:
        pytest.skip("not in this build's share of the cases")
    rng = np.random.default_rng(S * 31 + n)
    codes = rng.integers(0, 3, size=n).astype(np.int8) if nl == "mixed" else nl
    W, b, kw = _case(S * 1000 + n, S, n, cells, codes=codes, momentum=mom, anneal=anneal, clamp=clamp, noise=noise,
                     tol=tol, T=T)
    r = ref_fp.fixed_point_forward(_per_system_W(W, S, cells), b, **kw)
    args, arrays = _request(W, b, kw, S, n, 1, cells)
    args["block_seed"] = S + n
    out = emu.run(exes[(DRIVER, variant)], "fixed_point_shared_forward", args, arrays, _outs(S, n, 1))
    np.testing.assert_array_equal(out["iterations"], r.iterations)
    np.testing.assert_allclose(out["state"].reshape(S, n), r.state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["residual"], r.residual, rtol=1e-6, atol=1e-15)
    np.testing.assert_array_equal(out["residual"] <= tol, r.converged)


@pytest.mark.parametrize("S,n,cells,dtype,noise", [(37, 16, 0, 0, True), (45, 16, 3, 0, False), (9, 3, 0, 0, True),
                                                  (11, 17, 0, 0, False), (7, 64, 0, 0, True), (5, 17, 0, 1, True)])
def test_shared_equals_per_system_with_W_repeated(exes, per_system_exe, S, n, cells, dtype, noise):
    """The same systems through the per-system kernel (W repeated per system) give the same bits:
    states always (same f, same product sums, same per-element helpers), and iterations; the
    residual's sums run in the same order at n <= 16 (bits) and otherwise to rounding."""
    W, b, kw = _case(S + 7 * n, S, n, cells, codes="tanh", momentum=True, anneal=True, clamp=True, noise=noise,
                     tol=0.0, T=30)
    args, arrays = _request(W, b, kw, S, n, dtype, cells)
    shared = emu.run(exes[(DRIVER, "plain")], "fixed_point_shared_forward", args, arrays, _outs(S, n, dtype))
    args_ps = {k: v for k, v in args.items() if k not in ("W_cells", "momentum")}
    args_ps["W_shared"] = 0
    arrays_ps = dict(arrays, W=_per_system_W(arrays["W"], S, cells))
    per = emu.run(per_system_exe, "fixed_point_forward", args_ps, arrays_ps, _outs(S, n, dtype))
    np.testing.assert_array_equal(shared["state"], per["state"])
    np.testing.assert_array_equal(shared["iterations"], per["iterations"])
    if n <= 16 and dtype == 0:
        np.testing.assert_array_equal(shared["residual"], per["residual"])
    else:
        np.testing.assert_allclose(shared["residual"], per["residual"], rtol=1e-5 if dtype == 0 else 1e-12)
    # and with a tolerance: the same stops (a tolerance far from every system's residuals)
    args_t, args_pt = dict(args, tol="1e-4", max_iter=200), dict(args_ps, tol="1e-4", max_iter=200)
    a = emu.run(exes[(DRIVER, "plain")], "fixed_point_shared_forward", args_t, arrays, _outs(S, n, dtype))
    c = emu.run(per_system_exe, "fixed_point_forward", args_pt, arrays_ps, _outs(S, n, dtype))
    np.testing.assert_array_equal(a["iterations"], c["iterations"])
    np.testing.assert_array_equal(a["state"], c["state"])


def test_shared_early_exit_in_some_columns_only(exes):
    """One W, per-system beta: columns with a tiny beta contract fast and stop early while their
    warp runs on; each stops at the reference's iteration and its state stays put."""
    S, n = 41, 16
    rng = np.random.default_rng(23)
    W = contractive_W(rng, (), n, 0.9)
    b = rng.normal(size=(S, n)) * 0.3
    beta = np.where(np.arange(S) % 5 == 2, 0.02, 0.95)
    kw = dict(alpha=0.1, beta=beta, nonlinearity="tanh", tol=1e-9, max_iter=400)
    r = ref_fp.fixed_point_forward(_per_system_W(W, S, 0), b, **kw)
    args, arrays = _request(W, b, kw, S, n, 1)
    out = emu.run(exes[(DRIVER, "plain")], "fixed_point_shared_forward", args, arrays, _outs(S, n, 1))
    np.testing.assert_array_equal(out["iterations"], r.iterations)
    fast, slow = r.iterations[beta < 0.5], r.iterations[beta > 0.5]
    assert fast.max() < slow.min() - 5 and (r.residual <= 1e-9).all()
    np.testing.assert_allclose(out["state"].reshape(S, n), r.state, rtol=0, atol=1e-12)


def test_shared_noise_is_reproducible(exes):
    """Same seed, other block order: same bits; another seed: another trajectory; both the
    reference's counter-based stream (xi[system, t, j])."""
    S, n = 19, 17
    W, b, kw = _case(5, S, n, 0, codes="tanh", momentum=True, anneal=False, clamp=True, noise=True, tol=0.0, T=25)
    args, arrays = _request(W, b, kw, S, n, 1)
    exe = exes[(DRIVER, "plain")]
    a = emu.run(exe, "fixed_point_shared_forward", dict(args, block_seed=1), arrays, _outs(S, n, 1))["state"]
    a2 = emu.run(exe, "fixed_point_shared_forward", dict(args, block_seed=2), arrays, _outs(S, n, 1))["state"]
    c = emu.run(exe, "fixed_point_shared_forward", dict(args, seed=int(kw["seed"]) ^ 6), arrays, _outs(S, n, 1))["state"]
    np.testing.assert_array_equal(a, a2)
    assert np.abs(a - c).max() > 1e-3 * kw["noise_std"]
    Wp = _per_system_W(W, S, 0)
    np.testing.assert_allclose(a.reshape(S, n), ref_fp.fixed_point_forward(Wp, b, **kw).state, rtol=0, atol=1e-12)
    kw_c = dict(kw, seed=int(kw["seed"]) ^ 6)
    np.testing.assert_allclose(c.reshape(S, n), ref_fp.fixed_point_forward(Wp, b, **kw_c).state, rtol=0, atol=1e-12)


def _adjoint_request(W, b, s, g, kw, S, n, cells, dtype=1):
    args, arrays = _request(W, b, dict(kw, tol=1e-12, max_iter=400), S, n, dtype, cells)
    adj = {"W": arrays["W"], "b": arrays["b"], "nonlinearity": arrays["nonlinearity"], "state": s.astype(arrays["W"].dtype),
           "grad_state": g.astype(arrays["W"].dtype), "alpha": arrays["alpha_start"], "beta": arrays["beta"]}
    f = "f32" if dtype == 0 else "f64"
    C = max(cells, 1)
    outs = {"u": (f, S * n), "W_f": (f, S * n), "iterations": ("i32", S), "residual": (f, S), "grad_alpha": (f, S),
            "grad_beta": (f, S), "grad_W": (f, C * n * n), "tiles": ("i32", 1)}
    return args, adj, outs


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("S,n,cells,clamp", [(7, 1, 0, None), (9, 3, 0, (-0.6, 0.6)), (37, 16, 0, None),
                                             (30, 16, 3, (-0.6, 0.6)), (11, 17, 0, (-0.6, 0.6)), (5, 64, 0, None),
                                             (8, 64, 2, (-0.6, 0.6))])
def test_shared_adjoint_float64_matches_the_reference(exes, variant, S, n, cells, clamp):
    if variant != "plain" and (S, n) not in ((37, 16), (11, 17)):
        pytest.skip("sanitizer builds: two adjoint cases")
    rng = np.random.default_rng(S * 7 + n + (3 if clamp else 0))
    W, b, s, g, kw = random_adjoint_case(rng, S, n, shared=False, clamp=clamp)  # per-system b, alpha, beta
    W = contractive_W(rng, (cells,) if cells else (), n, 0.4)
    Wp = _per_system_W(W, S, cells)
    s = ref_fp.fixed_point_forward(Wp, b, tol=1e-13, max_iter=2000, **kw).state
    r = ref_fp.fixed_point_adjoint(Wp, b, s, g, tol=1e-12, max_iter=400, **kw)
    args, arrays, outs = _adjoint_request(W, b, s, g, kw, S, n, cells)
    out = emu.run(exes[(DRIVER, variant)], "fixed_point_shared_adjoint", args, arrays, outs)
    np.testing.assert_array_equal(out["iterations"], r.iterations)
    assert (out["residual"] <= 1e-12).all() and r.converged.all()

    def close(got, want):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-11 * max(np.abs(want).max(), 1.0))

    close(out["u"].reshape(S, n), r.grad_b)
    close(out["grad_alpha"], r.grad_alpha)
    close(out["grad_beta"], r.grad_beta)
    gW = r.grad_W.sum(0) if cells == 0 else np.stack([r.grad_W[c::cells].sum(0) for c in range(cells)])
    close(out["grad_W"].reshape(gW.shape), gW)
    W_f = np.einsum("sij,sj->si", Wp, ref_fp.apply_nonlinearity(s, np.asarray(kw["nonlinearity"], np.int8)))
    close(out["W_f"].reshape(S, n), W_f)


def test_shared_adjoint_grad_W_is_deterministic_across_block_orders(exes):
    """Per-block partials summed in tile order: the same bits whatever order the blocks ran in."""
    S, n = 300, 16  # three tiles of 128 columns
    rng = np.random.default_rng(4)
    W, b, s, g, kw = random_adjoint_case(rng, S, n, shared=True, clamp=None)
    args, arrays, outs = _adjoint_request(W, b, s, g, kw, S, n, 0, dtype=0)
    args["tol"] = "1e-6"  # float32; fewer emulated iterations
    a = emu.run(exes[(DRIVER, "plain")], "fixed_point_shared_adjoint", dict(args, block_seed=1), arrays, outs)
    c = emu.run(exes[(DRIVER, "plain")], "fixed_point_shared_adjoint", dict(args, block_seed=9), arrays, outs)
    assert a["tiles"][0] == 3
    np.testing.assert_array_equal(a["grad_W"], c["grad_W"])
    r = ref_fp.fixed_point_adjoint(W, b, s, g, tol=1e-12, max_iter=400, **kw)
    err = np.linalg.norm(a["grad_W"].reshape(n, n) - r.grad_W) / np.linalg.norm(r.grad_W)
    assert err < 1e-5  # float32


# ------------------------------------------------------------------------------- planted bugs
def _mutant_exe(tmp_path, old, new, variant):
    return emu.build(DRIVER, variant, mutant_dir=emu.mutant(tmp_path, "fixed_point_shared.cuh", old, new))


def test_missing_barrier_after_loading_W_is_a_race(tmp_path):
    """Without the __syncthreads after W is written to shared memory, a warp reads W while others
    still write it: ThreadSanitizer reports the race (or a warp reads the NaN poison)."""
    exe = _mutant_exe(tmp_path, "  __syncthreads();  // W is in shared memory\n", "", "tsan")
    S, n = 37, 16
    W, b, kw = _case(1, S, n, 0, codes="tanh", momentum=False, anneal=False, clamp=False, noise=False, tol=0.0, T=3)
    args, arrays = _request(W, b, kw, S, n, 1)
    with pytest.raises(emu.EmuError) as err:
        emu.run(exe, "fixed_point_shared_forward", args, arrays, _outs(S, n, 1))
    assert "ThreadSanitizer: data race" in err.value.stderr and "fixed_point_shared" in err.value.stderr


def test_tile_writing_past_the_batch_is_an_overflow(tmp_path):
    """Columns of the last tile beyond the batch treated as valid: the state write runs past the
    (S, n) buffer, which AddressSanitizer reports."""
    exe = _mutant_exe(tmp_path, "  __device__ __forceinline__ bool valid(int c) const { return col0 + col(c) < batch; }",
                      "  __device__ __forceinline__ bool valid(int c) const { return col0 + col(c) < batch + 8; }",
                      "asan")
    S, n = 37, 16
    W, b, kw = _case(2, S, n, 0, codes="tanh", momentum=False, anneal=False, clamp=False, noise=False, tol=0.0, T=3)
    args, arrays = _request(W, b, kw, S, n, 1)
    with pytest.raises(emu.EmuError) as err:
        emu.run(exe, "fixed_point_shared_forward", args, arrays, _outs(S, n, 1))
    assert "AddressSanitizer" in err.value.stderr
