"""Bug injection into the on-chip layer kernel (cuda/fused/layer_cluster.cuh, issue 22): each of the
two ways a thread-block cluster kernel goes wrong on Hopper, planted once in a copy of the header,
makes the emulated run fail; the unmutated kernel passes the same runs (test_cluster_emulated.py).

- a missing cluster.sync() between the row pass's writes to shared memory and the column pass's
  remote reads: a ThreadSanitizer data race (the emulator's cluster barrier creates exactly CUDA's
  release/acquire orderings, nothing more);
- a block that exits while others may still access its shared memory (the cluster.sync() after the
  last distributed-shared-memory access removed): an emulator kernel error in the plain build.

Each mutation names the exact source text it replaces (fails when the kernel no longer has it).
"""
from __future__ import annotations

import numpy as np
import pytest

import emu_runner as emu

pytestmark = pytest.mark.skipif(not emu.compiler_available(), reason=f"no host C++ compiler ({emu.CXX})")

HEADER = "fused/layer_cluster.cuh"
MUTANTS = {  # name: (old text, new text, variant)
    "missing_row_to_column_sync": (
        "    __syncthreads();  // the next step's FFT reuses the shared workspace\n  }\n  cluster.sync();\n",
        "    __syncthreads();  // the next step's FFT reuses the shared workspace\n  }\n",
        "tsan"),
    "exit_without_final_sync": (
        "  cluster.sync();  // the last access to other blocks' shared memory: every block may exit after stage 3\n",
        "",
        "plain"),
}


def _request(P=16, N=8, B=2, C=4):
    rng = np.random.default_rng(3)
    c = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(np.complex64)  # noqa: E731
    args = {"batch": B, "n": N, "p": P, "ept": 4, "fpb": 2, "cluster": C}
    return args, {"u": c(B, N, N), "transfer_t": c(P, P)}, {"out": ("c64", B * N * N)}


@pytest.fixture(scope="module")
def mutant_exes(tmp_path_factory):
    return {name: emu.build("layer_cluster", variant,
                            mutant_dir=emu.mutant(tmp_path_factory.mktemp(name), HEADER, old, new))
            for name, (old, new, variant) in MUTANTS.items()}


def test_missing_cluster_sync_between_rows_and_columns_is_a_race(mutant_exes):
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["missing_row_to_column_sync"], "layer_cluster", *_request())
    assert "ThreadSanitizer: data race" in err.value.stderr and "layer_cluster_kernel" in err.value.stderr


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_exit_while_its_shared_memory_is_in_use_is_an_error(mutant_exes, seed):
    args, arrays, outs = _request()
    with pytest.raises(emu.EmuError) as err:
        emu.run(mutant_exes["exit_without_final_sync"], "layer_cluster", dict(args, block_seed=seed), arrays, outs)
    assert err.value.returncode == 3
    assert ("may still access its shared memory" in err.value.stderr
            or "whose threads have all exited" in err.value.stderr)
    assert "layer_cluster.cuh:" in err.value.stderr


def test_every_mutation_still_applies(tmp_path):
    for name, (old, new, _) in MUTANTS.items():
        emu.mutant(tmp_path / name, HEADER, old, new)
