"""The on-chip diffractive layer (cuda/fused/layer_cluster.cuh, issue 22 item 2) run on the CPU
emulator with thread-block clusters, against the NumPy reference (quaton_fast.reference.propagation).

One cluster of C blocks per sample keeps the N x P half-transformed field in the blocks' shared
memory; the column pass reads and writes it through distributed shared memory (map_shared_rank).
Sizes are small but hit the edge cases: odd N, N = P, N = 1, blocks that own no row (N < C * R),
a partial last step of rows and columns, FFT slots beyond P, cluster sizes 2, 4 and 8, shuffled
cluster order. Plain, ThreadSanitizer (every block of a cluster runs concurrently: a missing
cluster.sync() is a race) and AddressSanitizer+UBSan builds. Tolerance: the CUDA FFT tests'.
"""
from __future__ import annotations

import numpy as np
import pytest

import emu_runner as emu
from qf_testing import RTOL_FP32_FFT, rel_err
from quaton_fast.reference import propagation as ref_prop

pytestmark = pytest.mark.skipif(not emu.compiler_available(), reason=f"no host C++ compiler ({emu.CXX})")

VARIANTS = list(emu.VARIANTS)
ALL, PLAIN = VARIANTS, ["plain"]

# (P, elements per thread, FFTs per block, N, B, cluster, variants)
CASES = [
    (16, 4, 2, 8, 2, 2, ALL),
    (24, 5, 2, 11, 3, 4, ALL),      # odd N, P not a power of two (slot 24 beyond P), R = 3: last block 2 rows
    (32, 4, 3, 9, 1, 8, ["plain", "tsan"]),  # R = 2: blocks 5-7 own no row; K = 4 columns in steps of 3
    (64, 8, 2, 24, 2, 4, PLAIN),
    (64, 8, 2, 21, 1, 8, PLAIN),
    (16, 4, 2, 16, 1, 2, PLAIN),    # N = P: no padding
    (16, 4, 2, 1, 2, 2, PLAIN),     # N = 1: one block owns the only row
]


def _ids(c):
    return f"P{c[0]}-E{c[1]}-F{c[2]}-N{c[3]}-B{c[4]}-C{c[5]}"


@pytest.fixture(scope="module")
def drivers():
    return emu.build_all(VARIANTS, ("layer_cluster",))


def _crandn(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _run(exe, P, E, F, N, B, C, arrays, *, conj=False, want_dphi=False, seed=0):
    args = {"batch": B, "n": N, "p": P, "ept": E, "fpb": F, "cluster": C, "conj_transfer": int(conj),
            "want_dphi": int(want_dphi), "block_seed": seed}
    outs = {"out": ("c64", B * N * N)}
    if want_dphi:
        outs["dphi"] = ("f32", N * N)
    return emu.run(exe, "layer_cluster", args, arrays, outs)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_layer_forward_matches_the_reference(drivers, variant, case):
    P, E, F, N, B, C, variants = case
    if variant not in variants:
        pytest.skip("not in this build's share of the cases")
    rng = np.random.default_rng(P * 100 + N)
    u, H = _crandn(rng, B, N, N), _crandn(rng, P, P)
    t = np.exp(1j * rng.uniform(0, 2 * np.pi, (N, N))).astype(np.complex64)
    out = _run(drivers[("layer_cluster", variant)], P, E, F, N, B, C,
               {"u": u, "modulation_in": t, "transfer_t": np.ascontiguousarray(H.T)}, seed=N + C)["out"]
    ref = ref_prop.propagate(t.astype(np.complex128) * u, H)
    assert rel_err(out.reshape(B, N, N), ref) < RTOL_FP32_FFT


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_layer_adjoint_and_phase_gradient_match_the_reference(drivers, variant, case):
    """grad_u = conj(t) . A^H g and dphi = sum over the batch of Im(conj(t u) . A^H g)."""
    P, E, F, N, B, C, variants = case
    if variant not in variants:
        pytest.skip("not in this build's share of the cases")
    rng = np.random.default_rng(P * 100 + N + 1)
    g, u, H = _crandn(rng, B, N, N), _crandn(rng, B, N, N), _crandn(rng, P, P)
    t = np.exp(1j * rng.uniform(0, 2 * np.pi, (N, N))).astype(np.complex64)
    res = _run(drivers[("layer_cluster", variant)], P, E, F, N, B, C,
               {"u": g, "transfer_t": np.ascontiguousarray(H.T), "modulation_out": t, "saved_u": u},
               conj=True, want_dphi=True, seed=2 * N + C)
    gp = ref_prop.propagate_adjoint(g, H)
    assert rel_err(res["out"].reshape(B, N, N), np.conj(t) * gp) < RTOL_FP32_FFT
    ref_dphi = np.imag(np.conj(t * u) * gp).sum(axis=0)
    assert rel_err(res["dphi"].reshape(N, N), ref_dphi) < RTOL_FP32_FFT


def test_phase_gradient_is_the_derivative_of_the_loss(drivers):
    """Independent of the adjoint formula: for L = Re sum(conj(w) . A(exp(i phi) u)), the kernel's
    dphi (adjoint run with g = w) equals the central finite difference of L computed in float64."""
    P, E, F, N, B, C = 16, 4, 2, 6, 2, 2
    rng = np.random.default_rng(7)
    u, w, H = _crandn(rng, B, N, N), _crandn(rng, B, N, N), _crandn(rng, P, P)
    phi = rng.uniform(0, 2 * np.pi, (N, N))
    t = np.exp(1j * phi)
    res = _run(drivers[("layer_cluster", "plain")], P, E, F, N, B, C,
               {"u": w, "transfer_t": np.ascontiguousarray(H.T), "modulation_out": t.astype(np.complex64),
                "saved_u": u}, conj=True, want_dphi=True)
    loss = lambda p: np.real(np.sum(np.conj(w) * ref_prop.propagate(np.exp(1j * p) * u, H)))  # noqa: E731
    h = 1e-6
    fd = np.zeros((N, N))
    for idx in np.ndindex(N, N):
        d = np.zeros((N, N))
        d[idx] = h
        fd[idx] = (loss(phi + d) - loss(phi - d)) / (2 * h)
    assert rel_err(res["dphi"].reshape(N, N), fd) < RTOL_FP32_FFT


def test_layer_with_a_physical_transfer_function(drivers):
    """The angular-spectrum H of the default optics (evanescent cut), no modulation."""
    P, E, F, N, B, C = 64, 8, 2, 24, 1, 4
    H = ref_prop.angular_spectrum_transfer(P, 316.4e-9, 632.8e-9, 3.373e-6)
    rng = np.random.default_rng(11)
    u = _crandn(rng, B, N, N)
    out = _run(drivers[("layer_cluster", "plain")], P, E, F, N, B, C,
               {"u": u, "transfer_t": np.ascontiguousarray(H.T.astype(np.complex64))})["out"]
    assert rel_err(out.reshape(B, N, N), ref_prop.propagate(u, H)) < RTOL_FP32_FFT
