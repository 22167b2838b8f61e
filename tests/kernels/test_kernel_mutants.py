"""Bug injection into the real kernels (issue 21): each kind of GPU bug, planted once in a copy of a
kernel header of cuda/, must make the emulated run fail — a ThreadSanitizer race for a missing
barrier, a kernel error for a barrier in divergent code or a misused warp mask, an
AddressSanitizer overflow for a read past a buffer, NaN for shared memory nobody wrote, and a
mismatch with the NumPy reference for a group reading another system's broadcast buffer. The
unmutated kernels pass the same runs (test_kernels_emulated.py), so these failures are the bugs' and
nothing else's.

Each mutation names the exact source text it replaces; when a kernel is edited so that the text no
longer occurs, the test fails (update the mutation, do not delete it).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import emu_runner as emu
from qf_testing import contractive_W, rel_err
from quaton_fast.reference import fixed_point as ref_fp
from quaton_fast.reference import levels as ref_levels

pytestmark = pytest.mark.skipif(not emu.compiler_available(), reason=f"no host C++ compiler ({emu.CXX})")

# name: (header, old text, new text, driver, variant)
MUTANTS = {
    "psq_missing_barrier": (
        "quantizer.cuh",
        "  block_sum[threadIdx.x] = local_dk;\n  __syncthreads();\n",
        "  block_sum[threadIdx.x] = local_dk;\n",
        "quantizer", "tsan"),
    "psq_divergent_barrier": (
        "quantizer.cuh",
        "    if (threadIdx.x < width) block_sum[threadIdx.x] += block_sum[threadIdx.x + width];\n    __syncthreads();\n",
        "    if (threadIdx.x < width) {\n      block_sum[threadIdx.x] += block_sum[threadIdx.x + width];\n"
        "      __syncthreads();\n    }\n",
        "quantizer", "plain"),
    "psq_unwritten_shared": (
        "quantizer.cuh",
        "  block_sum[threadIdx.x] = local_dk;\n",
        "  if (threadIdx.x > 0) block_sum[threadIdx.x] = local_dk;\n",
        "quantizer", "plain"),
    "fused_column_missing_barrier": (
        "fused/propagate_fused.cuh",
        "  }\n  __syncthreads();\n  V td[FwdFFT::storage_size];\n",
        "  }\n  V td[FwdFFT::storage_size];\n",
        "fused", "tsan"),
    "fused_fft_smem_reuse": (
        "fused/propagate_fused.cuh",
        "  __syncthreads();  // the inverse FFT reuses the forward FFT's shared memory\n",
        "",
        "fused", "tsan"),
    "fused_row_read_past_p": (
        "fused/propagate_fused.cuh",
        "td[i] = from_f2<V>((valid && j < P) ? X[j] : make_float2(0.f, 0.f));",
        "td[i] = from_f2<V>(valid ? X[j] : make_float2(0.f, 0.f));",
        "fused", "asan"),
    "fused_quant_missing_reduction_barrier": (  # issue 22: the adjoint's sum over the block's rows
        "fused/quant_rows.cuh",
        "  __syncthreads();  // every thread row's accumulators are complete\n",
        "",
        "fused", "tsan"),
    "fixed_point_half_mask": (
        "fixed_point.cuh",
        "x += __shfl_xor_sync(kFullMask, x, offset, TPS);",
        "x += __shfl_xor_sync(kFullMask >> 16, x, offset, TPS);",
        "fixed_point", "plain"),
    # issue 23's broadcast: a group reading its neighbour's buffer (the successor of the wrong
    # shuffle width, which made a group read another system's state)
    "fixed_point_neighbour_buffer": (
        "fixed_point.cuh",
        "  return mine;\n",
        "  return mine + ((place.slot & 1) ? -Geo::kStride : Geo::kStride);\n",
        "fixed_point", "plain"),
    # the warp barrier between the writes of f(s) and the broadcast reads
    "fixed_point_broadcast_missing_barrier": (
        "fixed_point.cuh",
        "  __syncwarp();  // the group's values are in shared memory (and ordered before the reads)\n",
        "",
        "fixed_point", "tsan"),
}


@pytest.fixture(scope="module")
def mutant_exes(tmp_path_factory):
    def make(item):
        name, (header, old, new, driver, variant) = item
        d = emu.mutant(tmp_path_factory.mktemp(name), header, old, new)
        return name, emu.build(driver, variant, mutant_dir=d)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(make, MUTANTS.items()))


def _psq_request(count=700):
    table = ref_levels.uniform_levels(4)
    rng = np.random.default_rng(0)
    args = {"count": count, "num_steps": len(table.steps), "base": repr(float(table.base)),
            "period": repr(float(table.period)), "sharpness": "9.0", "hard": 0}
    arrays = {"thresholds": np.asarray(table.thresholds, np.float32), "steps": np.asarray(table.steps, np.float32),
              "latent": rng.uniform(0, 6.3, count).astype(np.float32),
              "grad_phase": rng.standard_normal(count).astype(np.float32)}
    return args, arrays, {"grad_latent": ("f32", count), "grad_sharpness": ("f32", 1)}


def test_missing_barrier_in_the_psq_reduction_is_a_race(mutant_exes):
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["psq_missing_barrier"], "psq_backward", *_psq_request())
    assert "ThreadSanitizer: data race" in err.value.stderr and "psq_backward_kernel" in err.value.stderr


def test_barrier_in_divergent_code_is_reported(mutant_exes):
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["psq_divergent_barrier"], "psq_backward", *_psq_request())
    assert err.value.returncode == 3 and "quantizer.cuh:" in err.value.stderr
    # which thread notices first depends on scheduling: each of these names the barrier's misuse
    assert any(k in err.value.stderr for k in ("in divergent code", "after other threads of the block exited",
                                               "exited while", "deadlock"))


def test_unwritten_shared_memory_poisons_the_result(mutant_exes):
    out = emu.run(mutant_exes["psq_unwritten_shared"], "psq_backward", *_psq_request())
    assert np.isnan(out["grad_sharpness"][0])


def _fused_request(P=24, N=11, B=2):
    rng = np.random.default_rng(1)
    c = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(np.complex64)  # noqa: E731
    u, H = c(B, N, N), c(P, P)
    args = {"batch": B, "n": N, "p": P, "ept": 5, "fpb": 2, "want_dphi": 0}
    arrays = {"u": u, "transfer_t": np.ascontiguousarray(H.T)}
    return args, arrays, {"out": ("c64", B * N * N), "scratch": ("c64", B * N * P)}


def test_missing_barrier_in_the_column_pass_is_a_race(mutant_exes):
    args, arrays, outs = _fused_request()
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["fused_column_missing_barrier"], "fused_propagate", args, arrays, outs)
    assert "ThreadSanitizer: data race" in err.value.stderr and "column_transfer_kernel" in err.value.stderr


def test_inverse_fft_reusing_shared_memory_without_a_barrier_is_a_race(mutant_exes):
    """The stand-in FFT, like cuFFTDx's documentation, promises no barrier on exit: the column
    pass's inverse FFT overwrites the forward FFT's shared memory while slower threads read it."""
    args, arrays, outs = _fused_request()
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["fused_fft_smem_reuse"], "fused_propagate", args, arrays, outs)
    assert "ThreadSanitizer: data race" in err.value.stderr and "column_transfer_kernel" in err.value.stderr


def test_read_past_the_padded_row_is_an_overflow(mutant_exes):
    """P = 24 in 5 slots of stride 5: slot 24 exists; without the j < P guard the last row's read
    runs one element past the (B, N, P) intermediate."""
    args, arrays, outs = _fused_request()
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["fused_row_read_past_p"], "fused_propagate", args, arrays, outs)
    assert "heap-buffer-overflow" in err.value.stderr and "row_ifft_crop_kernel" in err.value.stderr


def test_missing_barrier_in_the_quantized_adjoints_row_reduction_is_a_race(mutant_exes):
    """Issue 22 item 1: after its samples, the block sums its thread rows' accumulators of conj(u) g
    in shared memory, each element by another thread than the ones that accumulated it; without the
    barrier before that sum it reads them while they are being written."""
    P, N, B = 24, 11, 4
    rng = np.random.default_rng(3)
    c = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(np.complex64)  # noqa: E731
    table = ref_levels.uniform_levels(4)
    stair = np.cumsum(np.concatenate([[table.base], table.steps])).astype(np.float32)
    args = {"batch": B, "n": N, "p": P, "ept": 5, "fpb": 2, "kind": 4, "complex_table": 0, "hard_forward": 0,
            "num_steps": len(table.steps), "base": repr(float(table.base)), "period": repr(float(table.period)),
            "param": "9.0"}
    arrays = {"u": c(B, N, N), "saved_u": c(B, N, N), "transfer_t": c(P, P),
              "latent": rng.uniform(0, 6.3, (N, N)).astype(np.float32),
              "thresholds": np.asarray(table.thresholds, np.float32), "ends": stair,
              "d_re": np.asarray(table.steps, np.float32), "v_re": stair}
    outs = {"out": ("c64", B * N * N), "geometry": ("i32", 2)}
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["fused_quant_missing_reduction_barrier"], "fused_quant_adjoint", args, arrays, outs)
    assert "ThreadSanitizer: data race" in err.value.stderr and "row_ifft_crop_quant_kernel" in err.value.stderr


def _fp_request(S=4, n=16):
    rng = np.random.default_rng(2)
    W = contractive_W(rng, (S,), n, 0.45)
    b = rng.normal(size=(S, n)) * 0.5
    kw = dict(alpha=0.5, beta=0.8, nonlinearity="tanh", tol=0.0, max_iter=20)
    args = {"dtype": 1, "systems": S, "n": n, "W_shared": 0, "b_shared": 0, "has_clamp": 0, "clamp_lo": "-1",
            "clamp_hi": "1", "tol": "0", "max_iter": 20}
    ones = np.ones(S)
    arrays = {"W": W, "b": b, "alpha_start": 0.5 * ones, "alpha_end": 0.5 * ones, "beta": 0.8 * ones,
              "gamma": 0 * ones, "nonlinearity": np.zeros(n, np.int8)}
    outs = {"state": ("f64", S * n), "iterations": ("i32", S), "residual": ("f64", S)}
    return args, arrays, outs, ref_fp.fixed_point_forward(W, b, **kw)


def test_shuffle_with_a_mask_that_leaves_out_its_caller(mutant_exes):
    args, arrays, outs, _ = _fp_request()
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["fixed_point_half_mask"], "fixed_point_forward", args, arrays, outs)
    assert err.value.returncode == 3 and "is not in its own mask 0x0000ffff" in err.value.stderr
    assert "fixed_point.cuh:" in err.value.stderr


def test_reading_the_neighbours_broadcast_buffer_is_caught_by_the_reference(mutant_exes):
    """Each group of 4 lanes (n = 16) reads the f(s) its neighbouring group of the warp published:
    written before the same barrier, so no race and no crash; only the comparison with the NumPy
    reference sees it."""
    args, arrays, outs, r = _fp_request()
    out = emu.run(mutant_exes["fixed_point_neighbour_buffer"], "fixed_point_forward", args, arrays, outs)
    assert rel_err(out["state"].reshape(r.state.shape), r.state) > 1e-3


def test_missing_barrier_in_the_fixed_point_broadcast_is_a_race(mutant_exes):
    """Without the __syncwarp between publishing f(s) and reading it back, lanes read values other
    lanes of their group write in the same iteration: ThreadSanitizer reports the race."""
    args, arrays, outs, _ = _fp_request()
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["fixed_point_broadcast_missing_barrier"], "fixed_point_forward", args, arrays, outs)
    assert "ThreadSanitizer: data race" in err.value.stderr and "fixed_point" in err.value.stderr


def test_every_mutation_still_applies():
    """The mutated source texts exist exactly once (emu.mutant asserts it): a kernel edit that
    removes one must update the mutation, not silently skip it."""
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        for name, (header, old, new, _, _) in MUTANTS.items():
            emu.mutant(Path(tmp) / name, header, old, new)

