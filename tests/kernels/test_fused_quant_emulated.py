"""The fused passes with the quantizer inside the row passes (issue 22 item 1), run on the CPU
emulator (cuda/emu/) from the kernel sources cuda/fused/quant_rows.cuh + cuda/quantizer_math.cuh,
against the NumPy reference: the forward field ``propagate(u·T(w), H)``, the adjoint's input
gradient ``conj(T)·g``, ``dL/dw`` and the parameter gradient (PSQ's k, DSQ's α), for every kind
the kernel implements (identity, hard, STE, transmission-domain STE, PSQ, DSQ soft and
hard-forward) on periodic uniform, periodic non-uniform and open phase tables and on complex
(absorbing) tables; odd batch sizes, partial row blocks, several samples per thread row (J > 1),
the parameter in device memory; plain, ThreadSanitizer and AddressSanitizer+UBSan builds.

The kernel's tables come from :class:`quaton_fast.functional.fused_quantizer.FusedQuantizer`
(the same code the CUDA path launches with), so its table conversion is judged here too.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import emu_runner as emu
from qf_testing import RTOL_FP32_FFT, rel_err
from quaton_fast.functional.fused_quantizer import KINDS, FusedQuantizer
from quaton_fast.reference import complex_levels as ref_cl
from quaton_fast.reference import levels as ref_levels
from quaton_fast.reference import propagation as ref_prop
from quaton_fast.reference import quantizers as ref_q

pytestmark = pytest.mark.skipif(not emu.compiler_available(), reason=f"no host C++ compiler ({emu.CXX})")

TWO_PI = 2 * math.pi
FUSED_CONFIGS = {16: (4, 2), 20: (4, 3), 24: (5, 2), 64: (8, 2)}  # P: (ept, row fpb) compiled in fused_driver


def _tables():
    return {
        "uniform4": ref_levels.uniform_levels(4),
        "nonuniform5": ref_levels.level_table([0.0, 0.9, 2.5, 4.0, 5.1], TWO_PI),
        "open3": ref_levels.level_table([0.3, 1.2, 2.0], None),
        "material4": ref_cl.from_material(1.5, 0.05, 1.0, levels=4),
        "phase_as_complex3": ref_cl.complex_level_table(np.exp(1j * ref_levels.uniform_levels(3).levels)),
    }


# (table, kind, param, param in device memory, hard_forward, (P, N, B, J), variants)
ALL = list(emu.VARIANTS)
CASES = [
    (None, "identity", None, False, False, (16, 7, 3, 1), ALL),
    ("uniform4", "hard", None, False, False, (20, 13, 2, 1), ["plain"]),
    ("uniform4", "ste", None, False, False, (24, 11, 3, 1), ["plain", "asan"]),
    ("uniform4", "psq", 20.0, False, False, (20, 13, 5, 2), ALL),   # odd batch, J = 2, partial slab
    ("uniform4", "psq", 4.0, True, False, (16, 7, 3, 1), ["plain"]),  # learnable k (device memory)
    ("uniform4", "dsq", 0.3, True, True, (24, 11, 3, 2), ["plain", "tsan"]),
    ("uniform4", "dsq", 0.2, False, False, (16, 16, 1, 1), ["plain"]),  # N = P
    ("nonuniform5", "psq", 8.0, True, False, (20, 13, 3, 1), ["plain"]),
    ("nonuniform5", "dsq", 0.4, True, False, (16, 7, 5, 3), ["plain", "asan"]),
    ("open3", "psq", 6.0, True, False, (16, 7, 3, 1), ["plain"]),
    ("open3", "dsq", 0.3, True, False, (20, 13, 2, 1), ["plain"]),  # clip: no gradient outside
    ("open3", "hard", None, False, False, (24, 1, 3, 1), ["plain"]),  # N = 1
    ("material4", "hard", None, False, False, (16, 7, 3, 1), ["plain"]),
    ("material4", "ste", None, False, False, (20, 13, 3, 1), ["plain"]),
    ("material4", "ste_soft", 2.0, False, False, (24, 11, 2, 1), ["plain"]),
    ("material4", "psq", 10.0, True, False, (20, 13, 3, 2), ALL),
    ("material4", "dsq", 0.25, True, True, (16, 7, 3, 1), ["plain", "asan"]),
    ("material4", "dsq", 0.35, True, False, (64, 33, 2, 1), ["plain"]),
    ("phase_as_complex3", "ste_soft", 2.0, False, False, (16, 7, 3, 1), ["plain"]),
]


class _Exes(dict):
    """The fused driver per (driver, variant), built on first use (a -k selection builds only its own)."""

    def __missing__(self, key):
        self[key] = emu.build(*key)
        return self[key]


@pytest.fixture(scope="module")
def fused_exes():
    return _Exes()


def _latent(rng, N, table):
    """Latents over more than one period (the fold), kept 2e-3 rad away from every threshold so
    that float32 and float64 pick the same staircase level."""
    w = rng.uniform(-1.0, TWO_PI + 1.0, (N, N))
    if table is None:
        return w
    pt = table.phase_table if isinstance(table, ref_cl.ComplexLevelTable) else table
    for c in pt.thresholds:
        d = w - c if pt.period is None else np.remainder(w - c + pt.period / 2, pt.period) - pt.period / 2
        w = np.where(np.abs(d) < 2e-3, w + 4e-3, w)
    return w.astype(np.float32).astype(np.float64)


def _spec(table, kind, param, hard_forward):
    """The FusedQuantizer the quant modules build for this table (float64 tensors; the kernel
    tables come out float32)."""
    if table is None:
        return FusedQuantizer("identity")
    if isinstance(table, ref_cl.ComplexLevelTable):
        pt = table.phase_table
        return FusedQuantizer(kind, torch.tensor(pt.thresholds), torch.tensor(pt.steps), float(pt.base), pt.period,
                              torch.tensor(table.transmissions), torch.tensor(pt.levels), param, hard_forward)
    return FusedQuantizer(kind, torch.tensor(table.thresholds), torch.tensor(table.steps), float(table.base),
                          table.period, None, None, param, hard_forward)


def _reference_quant(table, kind, w, p, hard_forward, G):
    """T(w) (N, N) complex128 and the VJP (grad_w (N, N), per-element grad_p (N, N)) for the
    gradient G = dL/dT (PyTorch's convention), from the NumPy reference."""
    N = w.shape[0]
    zeros = np.zeros((N, N))

    def per_element(fn):  # the parameter gradient of each element alone (its sum is the answer)
        out = np.zeros(N * N)
        for e in range(N * N):
            Ge = np.zeros(N * N, dtype=G.dtype)
            Ge[e] = G.reshape(-1)[e]
            out[e] = fn(Ge.reshape(N, N))
        return out.reshape(N, N)

    if table is None:
        T = np.exp(1j * w)
        return T, np.real(np.conj(1j * T) * G), zeros
    if isinstance(table, ref_cl.ComplexLevelTable):
        if kind == "hard":
            return ref_cl.hard_transmission(w, table), zeros, zeros
        if kind == "ste":
            return ref_cl.ste_transmission(w, table), ref_cl.ste_transmission_backward(G, w, table), zeros
        if kind == "ste_soft":
            return ref_cl.hard_transmission(w, table), ref_cl.psq_transmission_backward(G, w, table, p)[0], zeros
        if kind == "psq":
            gw = ref_cl.psq_transmission_backward(G, w, table, p)[0]
            gp = per_element(lambda Ge: ref_cl.psq_transmission_backward(Ge, w, table, p)[1])
            return ref_cl.psq_transmission(w, table, p), gw, gp
        gw = ref_cl.dsq_transmission_backward(G, w, table, p)[0]
        gp = per_element(lambda Ge: ref_cl.dsq_transmission_backward(Ge, w, table, p)[1])
        return ref_cl.dsq_transmission(w, table, p, hard_forward), gw, gp
    if kind in ("hard", "ste"):
        phi = ref_q.staircase(w, table)
    elif kind == "psq":
        phi = ref_q.psq_forward(w, table, p)
    else:
        phi = ref_q.dsq_forward(w, table, p, hard_forward)
    T = np.exp(1j * phi)
    gphi = np.imag(np.conj(T) * G)  # dL/dphi = Re(conj(i T) G)
    if kind == "hard":
        return T, zeros, zeros
    if kind == "ste":
        return T, ref_q.ste_backward(gphi), zeros
    bwd = ref_q.psq_backward if kind == "psq" else ref_q.dsq_backward
    return T, bwd(gphi, w, table, p)[0], per_element_phase(bwd, gphi, w, table, p)


def per_element_phase(bwd, gphi, w, table, p):
    """Per-element parameter gradient of a phase quantizer: bwd's summed grad_p, one element at a time."""
    N = w.shape[0]
    out = np.zeros(N * N)
    flat = gphi.reshape(-1)
    for e in range(N * N):
        ge = np.zeros(N * N)
        ge[e] = flat[e]
        out[e] = bwd(ge.reshape(N, N), w, table, p)[1]
    return out.reshape(N, N)


def _request(spec, w, p_dev, P, N, B, J):
    tabs = spec.kernel_tables(torch.device("cpu"))
    ept, fpb = FUSED_CONFIGS[P]
    param = spec.param
    args = {"batch": B, "n": N, "p": P, "ept": ept, "fpb": fpb, "kind": KINDS[spec.kind],
            "complex_table": int(spec.complex_table), "hard_forward": int(spec.hard_forward),
            "num_steps": tabs["num_steps"], "base": repr(float(spec.base)),
            "period": repr(float(spec.period or 0.0)),
            "param": repr(float(param) if param is not None and not p_dev else -1.0),  # -1: must not be used
            "samples_per_thread": J}
    arrays = {"latent": w.astype(np.float32)}
    for name in ("thresholds", "ends", "d_re", "d_im", "v_re", "v_im"):
        if tabs[name] is not None:
            arrays[name] = tabs[name].numpy().astype(np.float32)
    if tabs["num_steps"] == 0:  # identity: the driver still reads (m+1)- and m-sized arrays
        arrays = {**arrays, "thresholds": np.zeros(0, np.float32), "d_re": np.zeros(0, np.float32)}
    if p_dev:
        arrays["param"] = np.array([param], np.float32)
    return args, arrays


def _slabs(B, P, J):
    fpb = FUSED_CONFIGS[P][1]
    return -(-B // (fpb * J))


@pytest.mark.parametrize("variant", list(emu.VARIANTS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{'hf' if c[4] else ''}{c[5]}")
def test_fused_quantized_forward_and_adjoint(fused_exes, variant, case):
    table_name, kind, param, p_dev, hard_forward, (P, N, B, J), variants = case
    if variant not in variants:
        pytest.skip("not in this build's share of the cases")
    exe = fused_exes[("fused", variant)]
    table = _tables()[table_name] if table_name else None
    rng = np.random.default_rng(hash((table_name, kind, P, N, B)) % 2 ** 32)
    c = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(np.complex64)  # noqa: E731
    u, g, H = c(B, N, N), c(B, N, N), c(P, P)
    w = _latent(rng, N, table)
    spec = _spec(table, kind, param, hard_forward)
    args, arrays = _request(spec, w, p_dev, P, N, B, J)

    # forward: propagate(u T(w), H)
    fwd = emu.run(exe, "fused_quant_forward", dict(args, block_seed=P + N),
                  dict(arrays, u=u, transfer_t=np.ascontiguousarray(H.T)),
                  {"out": ("c64", B * N * N), "geometry": ("i32", 2)})
    grad_mod = ref_prop.propagate_adjoint(g, H)
    G = np.sum(np.conj(u.astype(np.complex128)) * grad_mod, axis=0)
    T, gw_ref, gp_el = _reference_quant(table, kind, w, param, hard_forward, G)
    assert rel_err(fwd["out"].reshape(B, N, N), ref_prop.propagate(u * T, H)) < RTOL_FP32_FFT

    # adjoint: conj(T) g, and the per-slab partials of dL/dw and dL/dp
    S = _slabs(B, P, J)
    adj = emu.run(exe, "fused_quant_adjoint", dict(args, block_seed=2 * P + N),
                  dict(arrays, u=g, transfer_t=np.ascontiguousarray(np.conj(H).T), saved_u=u),
                  {"out": ("c64", B * N * N), "geometry": ("i32", 2),
                   "grad_latent_partial": ("f32", S * N * N), "grad_param_partial": ("f32", S * N)})
    assert tuple(adj["geometry"]) == (S, J)
    assert rel_err(adj["out"].reshape(B, N, N), np.conj(T) * grad_mod) < RTOL_FP32_FFT
    gw = adj["grad_latent_partial"].reshape(S, N, N).sum(0, dtype=np.float64)
    if kind == "hard":
        assert np.all(gw == 0) and np.all(adj["grad_param_partial"] == 0)
        return
    assert rel_err(gw, gw_ref) < RTOL_FP32_FFT
    if kind in ("psq", "dsq"):
        gp = float(adj["grad_param_partial"].sum(dtype=np.float64))
        tol = 2e-4 * np.abs(gp_el).sum()
        assert abs(gp - gp_el.sum()) <= tol, (gp, gp_el.sum(), tol)
        assert tol < 0.5 * np.abs(gp_el).max()  # the bound resolves one element's contribution
    else:
        assert np.all(adj["grad_param_partial"] == 0)


def test_fused_quantized_nonfinite_latent_gives_nan(fused_exes):
    """A NaN/Inf latent gives NaN in its row of the output (never a valid-looking level)."""
    P, N, B = 16, 7, 1
    rng = np.random.default_rng(5)
    table = _tables()["uniform4"]
    u = np.ones((B, N, N), np.complex64)
    H = np.ones((P, P), np.complex64)
    w = _latent(rng, N, table)
    w[2, 3], w[4, 0] = np.nan, np.inf
    args, arrays = _request(_spec(table, "psq", 20.0, False), w, False, P, N, B, 1)
    out = emu.run(fused_exes[("fused", "plain")], "fused_quant_forward", args,
                  dict(arrays, u=u, transfer_t=H), {"out": ("c64", B * N * N), "geometry": ("i32", 2)})["out"]
    assert np.all(np.isnan(out))  # H = 1 everywhere: every output point sees every input point
