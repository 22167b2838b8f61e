"""Every CUDA kernel of cuda/ run on the CPU under the execution model, against the NumPy reference
(issue 21): the PSQ quantizer forward/backward, the AOC fixed point forward/adjoint (noise,
momentum, annealing, clamp, per-system early exit, convergence judged at the returned state) and
the three fused propagation passes forward and adjoint (modulation, the phase gradient dphi).

The kernels' own device code (cuda/**/*.cuh) is compiled by the host compiler in three builds —
plain, ThreadSanitizer, AddressSanitizer+UBSan — and launched with the CUDA launchers' geometry
(shared in the headers). Sizes are small but chosen to hit edge tiles: partial warps of systems,
partial row blocks, a padded size that is not a multiple of the column group, FFT slots beyond P,
odd N, N = P, N = 1, grid-stride loops with fewer blocks than elements, shuffled block orders.
Tolerances are those of the CUDA tests (tests/cuda/): the emulator runs the same arithmetic.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import emu_runner as emu
from qf_testing import RTOL_FP32_ELEMENTWISE, RTOL_FP32_FFT, contractive_W, random_adjoint_case, rel_err
from qf_testing import random_fixed_point_case as random_case
from quaton_fast.reference import fields as ref_fields
from quaton_fast.reference import fixed_point as ref_fp
from quaton_fast.reference import levels as ref_levels
from quaton_fast.reference import propagation as ref_prop
from quaton_fast.reference import quantizers as ref_q

pytestmark = pytest.mark.skipif(not emu.compiler_available(), reason=f"no host C++ compiler ({emu.CXX})")

VARIANTS = list(emu.VARIANTS)
RTOL_FP32_FIXED_POINT = 2e-5  # as tests/cuda/test_fixed_point_cuda.py


@pytest.fixture(scope="module")
def drivers():
    return emu.build_all(VARIANTS, ("quantizer", "fixed_point", "fused"))


# ---------------------------------------------------------------------------------------- PSQ
def _table_args(table, count, k, hard, blocks=None, seed=0):
    args = {"count": count, "num_steps": len(table.steps), "base": repr(float(table.base)),
            "period": repr(float(table.period or 0.0)), "sharpness": repr(float(k)), "hard": int(hard),
            "seed": seed}
    if blocks is not None:
        args["blocks"] = blocks
    arrays = {"thresholds": np.asarray(table.thresholds, np.float32), "steps": np.asarray(table.steps, np.float32)}
    return args, arrays


PSQ_CASES = [  # (levels or table, count, blocks (None: the launcher's), k on device, variants)
    (4, 1, None, False, VARIANTS),
    (2, 257, None, False, VARIANTS),
    (16, 1000, 2, True, VARIANTS),  # grid-stride: 2 blocks of 256 threads for 1000 elements
    ("open", 300, None, False, ["plain"]),  # a non-periodic table: clamped ends, no fold
]


def _table(spec):
    if spec == "open":
        return ref_levels.level_table([0.3, 1.1, 2.0, 4.5])
    return ref_levels.uniform_levels(spec)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spec,count,blocks,k_dev,variants", PSQ_CASES, ids=lambda c: str(c))
def test_psq_forward_backward(drivers, variant, spec, count, blocks, k_dev, variants):
    if variant not in variants:
        pytest.skip("plain build only for this case")
    exe = drivers[("quantizer", variant)]
    table = _table(spec)
    rng = np.random.default_rng(count)
    w = rng.uniform(-9.0, 2 * math.pi + 9.0, count).astype(np.float32)  # several periods
    g = rng.standard_normal(count).astype(np.float32)
    k = 9.0
    args, arrays = _table_args(table, count, k, hard=False, blocks=blocks, seed=count)
    arrays["latent"] = w
    if k_dev:
        arrays["sharpness"] = np.array([k], np.float32)
        args["sharpness"] = "-1"  # must be ignored: k comes from device memory
    out = emu.run(exe, "psq_forward", args, arrays, {"phase": ("f32", count)})
    ref_out = ref_q.psq_forward(w.astype(np.float64), table, k)
    assert rel_err(out["phase"], ref_out) < RTOL_FP32_ELEMENTWISE

    back = emu.run(exe, "psq_backward", args, {**arrays, "grad_phase": g},
                   {"grad_latent": ("f32", count), "grad_sharpness": ("f32", 1)})
    ref_gw, ref_gk = ref_q.psq_backward(g.astype(np.float64), w.astype(np.float64), table, k)
    assert rel_err(back["grad_latent"], ref_gw) < RTOL_FP32_ELEMENTWISE
    _assert_dk_close(back["grad_sharpness"][0], g, w, table, k)


def _assert_dk_close(got, g, w, table, k):
    """dL/dk = sum_i c_i, reduced in float32 over threads and blocks: within 1e-4 of sum_i |c_i|,
    far below any one thread's share (a dropped or doubled partial sum fails)."""
    c = np.array([ref_q.psq_backward(g[i:i + 1].astype(np.float64), w[i:i + 1].astype(np.float64), table, k)[1]
                  for i in range(len(w))])
    tol = 1e-4 * np.abs(c).sum()
    assert abs(float(got) - c.sum()) <= tol
    assert tol < 0.5 * np.abs(c).max() or len(c) == 1  # the bound resolves one element's contribution


def test_psq_hard_staircase_and_nonfinite(drivers):
    exe = drivers[("quantizer", "plain")]
    table = ref_levels.uniform_levels(8)
    w = np.concatenate([np.random.default_rng(1).uniform(-20, 20, 500), [np.nan, np.inf, -np.inf]]).astype(np.float32)
    args, arrays = _table_args(table, w.size, 1.0, hard=True)
    q = emu.run(exe, "psq_forward", args, {**arrays, "latent": w}, {"phase": ("f32", w.size)})["phase"]
    ref = ref_q.hard_phase(w[:-3].astype(np.float64), table)
    np.testing.assert_allclose(np.exp(1j * q[:-3]), np.exp(1j * ref), atol=1e-5)  # same level mod 2π
    assert np.isnan(q[-3:]).all()


def test_psq_backward_without_grad_latent(drivers):
    """grad_latent not requested: only dL/dk is reduced (and no output is written)."""
    exe = drivers[("quantizer", "plain")]
    table = ref_levels.uniform_levels(4)
    rng = np.random.default_rng(5)
    w, g = rng.uniform(0, 6.3, 700).astype(np.float32), rng.standard_normal(700).astype(np.float32)
    args, arrays = _table_args(table, 700, 5.0, hard=False)
    args["want_grad_latent"] = 0
    out = emu.run(exe, "psq_backward", args, {**arrays, "latent": w, "grad_phase": g},
                  {"grad_latent": ("f32", 700), "grad_sharpness": ("f32", 1)})
    assert np.isnan(out["grad_latent"]).all()  # untouched (the driver's NaN poison)
    _assert_dk_close(out["grad_sharpness"][0], g, w, table, 5.0)


# -------------------------------------------------------------------------------- fixed point
def _fp_forward_request(W, b, kw, S, n, dtype):
    T = np.float32 if dtype == 0 else np.float64
    alpha = kw.get("alpha", 0.5)
    a0, a1 = (alpha if isinstance(alpha, tuple) else (alpha, alpha))
    clamp = kw.get("clamp")
    args = {"dtype": dtype, "systems": S, "n": n, "W_shared": int(W.ndim == 2), "b_shared": int(b.ndim == 1),
            "has_clamp": int(clamp is not None), "clamp_lo": repr(clamp[0] if clamp else -1.0),
            "clamp_hi": repr(clamp[1] if clamp else 1.0), "noise_std": repr(float(kw.get("noise_std", 0.0))),
            "seed": int(kw.get("seed", 0)), "tol": repr(float(kw["tol"])), "max_iter": int(kw["max_iter"])}
    per = lambda v: np.broadcast_to(np.asarray(v, np.float64), (S,)).astype(T)  # noqa: E731
    arrays = {"W": W.astype(T), "b": b.astype(T), "alpha_start": per(a0), "alpha_end": per(a1),
              "beta": per(kw.get("beta", 1.0)), "gamma": per(kw.get("gamma", 0.0)),
              "nonlinearity": ref_fp.nonlinearity_codes("test", kw.get("nonlinearity", "tanh"), n).astype(np.int8)}
    if kw.get("s0") is not None:
        arrays["s0"] = np.asarray(kw["s0"]).astype(T)
    return args, arrays


FP_CASES = [
    # S, n, shared_W, nonlinearity, momentum, anneal, clamp, noise, tol, T, variants
    (5, 1, False, "tanh", False, False, False, False, 1e-10, 200, VARIANTS),  # 16 systems per warp, 5 used
    (8, 16, False, "tanh", False, False, True, False, 1e-9, 120, VARIANTS),
    (6, 16, True, "mixed", True, False, True, True, 1e-4, 60, ["plain", "asan"]),
    (3, 37, False, "mixed", True, True, True, True, 0.0, 30, VARIANTS),  # two variables per lane
    (2, 64, True, "mixed", False, True, False, False, 1e-8, 60, ["plain", "tsan"]),
    (3, 16, False, "sign", True, True, True, True, 1e-3, 40, ["plain"]),
    (5, 5, True, "identity", False, False, False, True, 0.0, 20, ["plain"]),
    (40, 3, False, "tanh", False, False, True, False, 1e-7, 50, ["plain"]),  # 4 warps x 8 systems, 2 blocks
    # issue 23's geometry: n = 17 and 31 in groups of 16 lanes x 2 rows (padding 15 and 1 rows),
    # n = 3 in one lane x 4 rows (33 systems: a second block), odd system counts
    (7, 17, False, "mixed", True, False, True, True, 1e-5, 40, ["plain", "tsan"]),
    (5, 31, True, "tanh", False, True, True, False, 1e-9, 60, ["plain", "asan"]),
    (33, 3, False, "mixed", True, True, False, True, 1e-6, 40, ["plain"]),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", FP_CASES, ids=lambda c: f"S{c[0]}-n{c[1]}-{c[3]}-T{c[9]}")
def test_fixed_point_forward_float64(drivers, variant, case):
    S, n, shared, nl, mom, anneal, clamp, noise, tol, T, variants = case
    if variant not in variants:
        pytest.skip("not in this build's share of the cases")
    rng = np.random.default_rng(S * 1000 + n)
    codes = rng.integers(0, 3, size=n).astype(np.int8) if nl == "mixed" else nl
    W, b, kw = random_case(rng, S, n, shared_W=shared, codes=codes, momentum=mom, anneal=anneal,
                           clamp=clamp, noise=noise, tol=tol, T=T)
    r = ref_fp.fixed_point_forward(W, b, **kw)
    args, arrays = _fp_forward_request(W, np.asarray(b), kw, S, n, 1)
    args["block_seed"] = S + n
    out = emu.run(drivers[("fixed_point", variant)], "fixed_point_forward", args, arrays,
                  {"state": ("f64", S * n), "iterations": ("i32", S), "residual": ("f64", S)})
    np.testing.assert_array_equal(out["iterations"], r.iterations)
    np.testing.assert_allclose(out["state"].reshape(S, n), r.state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["residual"], r.residual, rtol=1e-6, atol=1e-15)


@pytest.mark.parametrize("S,n,shared", [(1, 1, False), (9, 16, True), (5, 17, False), (3, 31, True), (7, 33, False),
                                        (3, 64, True)])
def test_fixed_point_forward_float32_fixed_budget(drivers, S, n, shared):
    rng = np.random.default_rng(S + n)
    W, b, kw = random_case(rng, S, n, shared_W=shared, codes="tanh", momentum=False, anneal=False,
                           clamp=True, noise=False, tol=0.0, T=40)
    r = ref_fp.fixed_point_forward(W, b, **kw)
    args, arrays = _fp_forward_request(W, np.asarray(b), kw, S, n, 0)
    out = emu.run(drivers[("fixed_point", "plain")], "fixed_point_forward", args, arrays,
                  {"state": ("f32", S * n), "iterations": ("i32", S), "residual": ("f32", S)})
    assert (out["iterations"] == 40).all()
    err = np.linalg.norm(out["state"].reshape(S, n) - r.state) / np.linalg.norm(r.state)
    assert err < RTOL_FP32_FIXED_POINT


def test_fixed_point_divergence_is_reported_at_the_returned_state(drivers):
    """A diverging system stops with residual +inf and is never reported converged (bug01)."""
    W, b = np.eye(4), np.ones((1, 4))
    kw = dict(alpha=0.5, beta=10.0, nonlinearity="identity", tol=1e-3, max_iter=1000)
    r = ref_fp.fixed_point_forward(W, b, **kw)
    args, arrays = _fp_forward_request(W, b, kw, 1, 4, 1)
    out = emu.run(drivers[("fixed_point", "plain")], "fixed_point_forward", args, arrays,
                  {"state": ("f64", 4), "iterations": ("i32", 1), "residual": ("f64", 1)})
    assert np.isinf(out["residual"][0]) and np.isinf(r.residual[0])
    assert out["iterations"][0] == r.iterations[0]


def _fp_forward_run(exe, W, b, kw, S, n):
    args, arrays = _fp_forward_request(W, np.asarray(b), kw, S, n, 1)
    return emu.run(exe, "fixed_point_forward", args, arrays,
                   {"state": ("f64", S * n), "iterations": ("i32", S), "residual": ("f64", S)})


def test_fixed_point_early_exit_in_some_systems_only(drivers):
    """Eight systems of n = 16 share a warp (4 lanes each): two are nearly linear and contract
    fast, the others slowly; each stops at its own iteration (as in the reference) while the warp
    runs on, and the stopped ones' states stay what they were when they stopped."""
    S, n = 11, 16
    rng = np.random.default_rng(23)
    W = np.stack([contractive_W(rng, (), n, 0.05 if s in (2, 9) else 0.6) for s in range(S)])
    b = rng.normal(size=(S, n)) * 0.3
    kw = dict(alpha=0.3, beta=0.9, nonlinearity="tanh", tol=1e-9, max_iter=300)
    r = ref_fp.fixed_point_forward(W, b, **kw)
    out = _fp_forward_run(drivers[("fixed_point", "plain")], W, b, kw, S, n)
    np.testing.assert_array_equal(out["iterations"], r.iterations)
    assert r.iterations[2] < r.iterations[0] - 5 and r.iterations[9] < r.iterations[8] - 5  # really different
    assert (r.residual <= 1e-9).all()
    np.testing.assert_allclose(out["state"].reshape(S, n), r.state, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["residual"], r.residual, rtol=1e-6, atol=1e-15)


def test_fixed_point_noise_is_reproducible(drivers):
    """The counter-based noise: the same seed gives the same bits (whatever the block order),
    another seed another trajectory, and both are the reference's stream (the reference draws
    xi[system, t, j] from the same recipe)."""
    S, n = 9, 17
    rng = np.random.default_rng(5)
    W, b, kw = random_case(rng, S, n, shared_W=False, codes="tanh", momentum=True, anneal=False, clamp=True,
                           noise=True, tol=0.0, T=25)
    exe = drivers[("fixed_point", "plain")]
    args, arrays = _fp_forward_request(W, np.asarray(b), kw, S, n, 1)
    outs = {"state": ("f64", S * n), "iterations": ("i32", S), "residual": ("f64", S)}
    a = emu.run(exe, "fixed_point_forward", dict(args, block_seed=1), arrays, outs)["state"]
    a2 = emu.run(exe, "fixed_point_forward", dict(args, block_seed=2), arrays, outs)["state"]
    c = emu.run(exe, "fixed_point_forward", dict(args, seed=int(kw["seed"]) ^ 6), arrays, outs)["state"]
    np.testing.assert_array_equal(a, a2)
    assert np.abs(a - c).max() > 1e-3 * kw["noise_std"]
    np.testing.assert_allclose(a.reshape(S, n), ref_fp.fixed_point_forward(W, b, **kw).state, rtol=0, atol=1e-12)
    kw_c = dict(kw, seed=int(kw["seed"]) ^ 6)
    np.testing.assert_allclose(c.reshape(S, n), ref_fp.fixed_point_forward(W, b, **kw_c).state, rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shared,clamp,n", [(True, None, 1), (False, None, 3), (False, (-0.6, 0.6), 16),
                                             (True, None, 17), (False, (-0.6, 0.6), 31), (True, (-0.6, 0.6), 37),
                                             (False, None, 64)])
def test_fixed_point_adjoint_float64(drivers, variant, shared, clamp, n):
    if variant != "plain" and n not in (16, 31):
        pytest.skip("sanitizer builds: two adjoint cases")
    rng = np.random.default_rng(n + 100 * shared + (7 if clamp else 0))
    S = 7 if n <= 16 else 3  # 16 or 32 lanes per system beyond 16 variables: keep the emulated work small
    W, b, s, g, kw = random_adjoint_case(rng, S, n, shared=shared, clamp=clamp)
    r = ref_fp.fixed_point_adjoint(W, b, s, g, tol=1e-12, max_iter=400, **kw)
    args, arrays = _fp_forward_request(W, b, dict(kw, tol=1e-12, max_iter=400), S, n, 1)
    adj_arrays = {"W": arrays["W"], "b": arrays["b"], "nonlinearity": arrays["nonlinearity"], "state": s,
                  "grad_state": g, "alpha": arrays["alpha_start"], "beta": arrays["beta"]}
    out = emu.run(drivers[("fixed_point", variant)], "fixed_point_adjoint", args, adj_arrays,
                  {"u": ("f64", S * n), "W_f": ("f64", S * n), "iterations": ("i32", S), "residual": ("f64", S)})
    np.testing.assert_array_equal(out["iterations"], r.iterations)
    u = out["u"].reshape(S, n)
    scale = max(np.abs(r.grad_b).max(), 1.0)
    np.testing.assert_allclose(u.sum(0) if b.ndim == 1 else u, r.grad_b, rtol=0, atol=1e-11 * scale)
    # the caller's dense step (fixed_point_cuda.h): grad_beta = u . (W f(s*)), per system
    # grad_W = beta u f(s*)^T (summed over systems when W is shared) and grad_alpha = u . s*
    beta = np.broadcast_to(np.asarray(kw["beta"], np.float64), (S,))
    fs = ref_fp.apply_nonlinearity(s, np.asarray(kw["nonlinearity"], np.int8))
    gW = beta[:, None, None] * u[:, :, None] * fs[:, None, :]
    np.testing.assert_allclose(gW.sum(0) if shared else gW, r.grad_W, rtol=0,
                               atol=1e-11 * max(np.abs(r.grad_W).max(), 1.0))
    if r.grad_alpha is not None:
        ga = np.einsum("si,si->s", u, s)
        np.testing.assert_allclose(ga.sum() if shared else ga, r.grad_alpha, rtol=0,
                                   atol=1e-11 * max(np.abs(r.grad_alpha).max(), 1.0))
    grad_beta = np.einsum("si,si->s", u, out["W_f"].reshape(S, n))
    np.testing.assert_allclose(grad_beta.sum() if shared else grad_beta, r.grad_beta, rtol=0,
                               atol=1e-11 * max(np.abs(r.grad_beta).max(), 1.0))


# ------------------------------------------------------------------------------ fused passes
FUSED_CONFIGS = {16: (4, 2), 20: (4, 3), 24: (5, 2), 64: (8, 2), 256: (8, 4)}  # P: (ept, row fpb)
FUSED_CASES = [  # (P, N, B, modulation, variants)
    (16, 7, 3, True, VARIANTS),   # odd N, offset 4, 21 rows in blocks of 2
    (16, 16, 1, True, ["plain"]),  # N = P: no padding
    (20, 13, 2, True, VARIANTS),  # P not a multiple of the 8-column group: a partial column tile
    (24, 11, 2, False, VARIANTS),  # 25 register slots for 24 points: slots beyond P; no modulation
    (24, 1, 2, True, ["plain"]),   # N = 1
    (64, 33, 2, True, ["plain", "asan"]),
    (256, 5, 1, True, ["plain"]),  # a production size (the stand-in FFT, not cuFFTDx's layout)
]


def _fused_run(exe, P, N, B, arrays, want_dphi, seed):
    ept, fpb = FUSED_CONFIGS[P]
    args = {"batch": B, "n": N, "p": P, "ept": ept, "fpb": fpb, "want_dphi": int(want_dphi), "block_seed": seed}
    outs = {"out": ("c64", B * N * N), "scratch": ("c64", B * N * P)}
    if want_dphi:
        outs["dphi"] = ("f32", B * N * N)
    return emu.run(exe, "fused_propagate", args, arrays, outs)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("P,N,B,modulated,variants", FUSED_CASES, ids=lambda c: str(c))
def test_fused_forward_and_adjoint(drivers, variant, P, N, B, modulated, variants):
    if variant not in variants:
        pytest.skip("not in this build's share of the cases")
    exe = drivers[("fused", variant)]
    rng = np.random.default_rng(P * 100 + N * 10 + B)
    c = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(np.complex64)  # noqa: E731
    u, g = c(B, N, N), c(B, N, N)
    H = c(P, P)  # not symmetric: a transposed transfer function would be caught
    phase = rng.uniform(0, 2 * np.pi, (N, N)) if modulated else np.zeros((N, N))
    m = np.exp(1j * phase).astype(np.complex64)

    fwd_in = {"u": u, "transfer_t": np.ascontiguousarray(H.T)}
    if modulated:
        fwd_in["modulation_in"] = m
    out = _fused_run(exe, P, N, B, fwd_in, False, seed=P + N)["out"].reshape(B, N, N)
    ref_out = ref_prop.propagate(ref_fields.phase_modulate(u, phase.astype(np.float32)), H)
    assert rel_err(out, ref_out) < RTOL_FP32_FFT

    adj_in = {"u": g, "transfer_t": np.ascontiguousarray(np.conj(H).T), "saved_u": u}
    if modulated:
        adj_in["modulation_out"] = m
    adj = _fused_run(exe, P, N, B, adj_in, True, seed=2 * P + N)
    grad_mod = ref_prop.propagate_adjoint(g, H)
    grad_u_ref, _ = ref_fields.phase_modulate_backward(grad_mod, u, phase.astype(np.float32))
    assert rel_err(adj["out"].reshape(B, N, N), grad_u_ref) < RTOL_FP32_FFT
    _assert_dphi_per_sample(adj["dphi"].reshape(B, N, N), grad_mod, u, phase)


def _assert_dphi_per_sample(dphi, grad_mod, u, phase):
    """Each sample's phase gradient in its own slot (the caller sums them over the batch)."""
    for b in range(u.shape[0]):
        _, ref_b = ref_fields.phase_modulate_backward(grad_mod[b:b + 1], u[b:b + 1], phase.astype(np.float32))
        assert rel_err(dphi[b], ref_b) < RTOL_FP32_FFT, f"sample {b}"


def _cufftdx_triples():
    """(P, elements per thread, row FFTs per block) of every cuFFTDx descriptor the CUDA build
    instantiates, per architecture, as recorded by benchmarks/kernel_model.py."""
    import json
    traits = json.loads((emu.ROOT / "docs" / "results" / "kernels.json").read_text())["cufftdx_traits"]
    by = {}
    for t in traits:
        by.setdefault((t["P"], t["arch"]), {})[t["role"]] = (t["elements_per_thread"], t["ffts_per_block"])
    triples = {}
    for (P, arch), roles in sorted(by.items()):
        # the driver shapes all four FFTs from one (E, FPB): these equalities are what cuFFTDx chose
        assert roles["row_forward"] == roles["row_inverse"], (P, arch, roles)
        assert roles["column_forward"] == roles["column_inverse"] == (roles["row_forward"][0], 8), (P, arch, roles)
        triples.setdefault((P, *roles["row_forward"]), []).append(arch)
    return triples


CUFFTDX_TRIPLES = _cufftdx_triples()


@pytest.fixture(scope="module")
def fused_arch():
    return emu.build("fused_arch", "plain")


@pytest.mark.parametrize("triple", sorted(CUFFTDX_TRIPLES),
                         ids=lambda t: f"P{t[0]}-ept{t[1]}-fpb{t[2]}-" + "-".join(CUFFTDX_TRIPLES[t]))
def test_fused_with_each_architectures_cufftdx_shape(fused_arch, triple):
    """The fused passes with the stand-in FFT shaped like the real descriptor of each architecture
    (sm_80/86/89/90): N = 7 rows in blocks of up to 19 FFTs, forward and adjoint."""
    P, ept, fpb = triple
    N, B = 7, 1
    rng = np.random.default_rng(P + ept + fpb)
    c = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(np.complex64)  # noqa: E731
    u, g, H = c(B, N, N), c(B, N, N), c(P, P)
    phase = rng.uniform(0, 2 * np.pi, (N, N))
    m = np.exp(1j * phase).astype(np.complex64)
    args = {"batch": B, "n": N, "p": P, "ept": ept, "fpb": fpb, "want_dphi": 0}
    out = emu.run(fused_arch, "fused_propagate", args,
                  {"u": u, "transfer_t": np.ascontiguousarray(H.T), "modulation_in": m},
                  {"out": ("c64", B * N * N), "scratch": ("c64", B * N * P)})["out"].reshape(B, N, N)
    assert rel_err(out, ref_prop.propagate(ref_fields.phase_modulate(u, phase.astype(np.float32)), H)) < RTOL_FP32_FFT
    adj = emu.run(fused_arch, "fused_propagate", dict(args, want_dphi=1),
                  {"u": g, "transfer_t": np.ascontiguousarray(np.conj(H).T), "modulation_out": m, "saved_u": u},
                  {"out": ("c64", B * N * N), "scratch": ("c64", B * N * P), "dphi": ("f32", B * N * N)})
    grad_mod = ref_prop.propagate_adjoint(g, H)
    grad_u, _ = ref_fields.phase_modulate_backward(grad_mod, u, phase.astype(np.float32))
    assert rel_err(adj["out"].reshape(B, N, N), grad_u) < RTOL_FP32_FFT
    _assert_dphi_per_sample(adj["dphi"].reshape(B, N, N), grad_mod, u, phase)


def test_fused_physical_transfer_function(drivers):
    """An angular-spectrum H (evanescent waves decaying): the forward is the reference propagation."""
    exe = drivers[("fused", "plain")]
    P, N, B = 64, 40, 2
    rng = np.random.default_rng(11)
    u = np.exp(1j * np.pi * rng.random((B, N, N))).astype(np.complex64)
    H = ref_prop.angular_spectrum_transfer(P, 316.4e-9, 632.8e-9, 3.4e-6, evanescent="decay").astype(np.complex64)
    out = _fused_run(exe, P, N, B, {"u": u, "transfer_t": np.ascontiguousarray(H.T)}, False, seed=3)["out"]
    assert rel_err(out.reshape(B, N, N), ref_prop.propagate(u, H)) < RTOL_FP32_FFT
