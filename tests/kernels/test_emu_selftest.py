"""The CPU execution model itself (cuda/emu/cuda_emu.h) and the stand-in block FFT (issue 21).

Semantics are checked against values computed here by hand from the CUDA programming guide's
definitions; each misuse kind is a deliberately broken micro-kernel (emu_selftest_driver.cpp) that
must fail with the right diagnosis: a kernel error naming the call site, a ThreadSanitizer race,
an AddressSanitizer overflow, or NaN from the poisoned shared memory.
"""
from __future__ import annotations

import numpy as np
import pytest

import emu_runner as emu

pytestmark = pytest.mark.skipif(not emu.compiler_available(), reason=f"no host C++ compiler ({emu.CXX})")


@pytest.fixture(scope="module")
def selftest():
    return {v: emu.build("emu_selftest", v) for v in emu.VARIANTS}


def _expected_intrinsics(threads: int, width: int) -> np.ndarray:
    out = np.zeros((threads, 9), dtype=np.int64)
    for t in range(threads):
        lane, warp0 = t % 32, t - t % 32
        base = lane & ~(width - 1)
        v = lambda src_lane: (warp0 + src_lane) * 10  # noqa: E731
        out[t, 0] = v(base + (3 & (width - 1)))
        out[t, 1] = v(lane - 2) if lane - base >= 2 else t * 10
        out[t, 2] = v(lane + 2) if lane - base + 2 < width else t * 10
        src = lane ^ 5
        out[t, 3] = t * 10 if src >= base + width else v(src)
        out[t, 4] = sum(1 << ln for ln in range(32) if ln % 3 == 0)
        out[t, 5] = int(warp0 <= 7 < warp0 + 32)
        out[t, 6] = 1
        out[t, 7] = 0
        out[t, 8] = warp0 + (0 if lane < 16 else 16)
    return out


@pytest.mark.parametrize("variant", list(emu.VARIANTS))
@pytest.mark.parametrize("width", [32, 16, 8, 4, 2])
def test_warp_intrinsics_follow_the_cuda_definitions(selftest, variant, width):
    if variant != "plain" and width not in (32, 8):
        pytest.skip("sanitizer builds: two widths are enough")
    out = emu.run(selftest[variant], "intrinsics", {"threads": 64, "width": width}, {}, {"out": ("i32", 64 * 9)})
    got = out["out"].reshape(64, 9).astype(np.int64)
    got[:, 4] &= 0xFFFFFFFF
    np.testing.assert_array_equal(got, _expected_intrinsics(64, width))


@pytest.mark.parametrize("variant", list(emu.VARIANTS))
def test_block_reduction_with_shared_memory_and_atomics(selftest, variant):
    x = np.random.default_rng(0).integers(-50, 50, 300).astype(np.float32)  # exact in float32
    out = emu.run(selftest[variant], "reduce", {"count": 300, "seed": 7}, {"x": x}, {"total": ("f32", 1)})
    assert out["total"][0] == x.astype(np.float64).sum()


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("p,rows", [(8, 5), (24, 3), (400, 3)])
def test_standin_block_fft_is_the_dft(selftest, p, rows, inverse):
    """StandInBlockFFT == numpy.fft (forward exp(-2πi jk/P), inverse unnormalised exp(+...))."""
    rng = np.random.default_rng(p + rows)
    x = (rng.standard_normal((rows, p)) + 1j * rng.standard_normal((rows, p))).astype(np.complex64)
    out = emu.run(selftest["plain"], "fft", {"p": p, "rows": rows, "inverse": int(inverse)}, {"x": x},
                  {"y": ("c64", rows * p)})
    y = out["y"].reshape(rows, p)
    ref = np.fft.ifft(x.astype(np.complex128), axis=1) * p if inverse else np.fft.fft(x.astype(np.complex128), axis=1)
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 1e-6


# --- each misuse kind is reported -----------------------------------------------------------------
@pytest.mark.parametrize("kernel,needle", [
    ("divergent_barrier", "__syncthreads in divergent code"),
    ("barrier_after_return", "exited"),  # reported by whichever comes second: the exit or the barrier
    ("lane_not_in_mask", "is not in its own mask 0x0000ffff"),
    ("deadlock", "deadlock: every live thread of the block waits"),
    ("mixed_intrinsics", "with the same mask 0xffffffff"),
])
def test_misuse_is_a_kernel_error_with_its_call_site(selftest, kernel, needle):
    with pytest.raises(emu.EmuError) as err:
        emu.run(selftest["plain"], kernel, {}, {}, {})
    assert err.value.returncode == 3 and needle in err.value.stderr
    assert "emu_selftest_driver.cpp:" in err.value.stderr  # the call site(s)
    if kernel == "barrier_after_return":
        assert "__syncthreads at emu_selftest_driver.cpp:" in err.value.stderr


def test_shuffle_outside_the_mask_reads_the_poison(selftest):
    """Reading a lane outside the mask is undefined on the GPU: here it is the poison pattern (-1)."""
    out = emu.run(selftest["plain"], "shuffle_outside_mask", {}, {}, {"ints": ("i32", 64 * 9)})["ints"][:64]
    lane = np.arange(64) % 32
    np.testing.assert_array_equal(out, np.where(lane < 16, -1, 7))


def test_exited_lanes_named_in_a_mask_are_not_waited_for(selftest):
    """CUDA: all NON-exited threads named in the mask execute the intrinsic. Lanes 20-31 have
    returned: the vote counts lanes 0-19, a shuffle from an exited lane reads the poison."""
    out = emu.run(selftest["plain"], "exited_lanes", {}, {}, {"ints": ("i32", 64 * 9)})["ints"][:64 * 3]
    out = out.reshape(64, 3)
    alive = np.arange(64) % 32 < 20
    np.testing.assert_array_equal(out[alive, 0], 0x000FFFFF)
    np.testing.assert_array_equal(out[alive, 1], 1)
    np.testing.assert_array_equal(out[alive, 2], -1)
    assert (out[~alive] == -1).all()  # never written


def test_half_warp_then_full_warp_ops_never_collide(selftest):
    """Lanes 0-15 shuffle among themselves, then all 32 shuffle: whichever half gets there first,
    the two masks are different rendezvous (30 launches, shuffled timing)."""
    out = emu.run(selftest["plain"], "halves", {}, {}, {"ints": ("i32", 64 * 9)})["ints"][:64]
    # lane 0's value after the half-warp shuffle_down by 1: 0 + 1; warp 1 likewise
    np.testing.assert_array_equal(out, 1)


def test_shuffle_arguments_have_cudas_types(selftest):
    out = emu.run(selftest["plain"], "offsets", {}, {}, {"ints": ("i32", 64 * 9)})["ints"][:64 * 4].reshape(64, 4)
    t = np.arange(64)
    warp0 = t - t % 32
    np.testing.assert_array_equal(out[:, 0], t)
    np.testing.assert_array_equal(out[:, 1], warp0 + ((t % 32) ^ 31))
    np.testing.assert_array_equal(out[:, 2], t)
    np.testing.assert_array_equal(out[:, 3], warp0 + 31)


@pytest.mark.parametrize("kernel,where", [("race_after_barrier", "race_after_barrier_kernel"),
                                          ("cross_mask_race", "cross_mask_race_kernel"),
                                          ("shuffle_orders_nothing", "shuffle_orders_nothing_kernel")])
def test_races_the_models_own_locks_must_not_hide(selftest, kernel, where):
    """The model's locks are invisible to TSan: a race after a barrier, or between lanes whose
    only contact is rendezvous of other masks, is reported every time (5 runs)."""
    for _ in range(5):
        with pytest.raises(emu.EmuError) as err:
            emu.run(selftest["tsan"], kernel, {}, {}, {})
        assert "ThreadSanitizer: data race" in err.value.stderr and where in err.value.stderr


def test_syncwarp_orders_memory_among_its_lanes(selftest):
    """The positive control of shuffle_orders_nothing: the same exchange through __syncwarp is no race
    under TSan (5 runs) and reads the written value."""
    for _ in range(5):
        out = emu.run(selftest["tsan"], "syncwarp_orders", {}, {}, {"floats": ("f32", 64), "ints": ("i32", 64 * 9)})
        assert out["floats"][1] == 19.0


def test_missing_barrier_is_a_tsan_data_race(selftest):
    emu.run(selftest["plain"], "missing_barrier", {}, {}, {})  # silently wrong without TSan
    with pytest.raises(emu.EmuError) as err:
        emu.run(selftest["tsan"], "missing_barrier", {}, {}, {})
    assert "ThreadSanitizer: data race" in err.value.stderr and "missing_barrier_kernel" in err.value.stderr


def test_out_of_bounds_read_is_an_asan_overflow(selftest):
    with pytest.raises(emu.EmuError) as err:
        emu.run(selftest["asan"], "out_of_bounds", {}, {}, {})
    assert "heap-buffer-overflow" in err.value.stderr and "out_of_bounds_kernel" in err.value.stderr


def test_unwritten_shared_memory_reads_as_nan(selftest):
    out = emu.run(selftest["plain"], "unwritten_shared", {}, {}, {"floats": ("f32", 64)})["floats"]
    assert (out[0::2] == 1.0).all() and np.isnan(out[1::2]).all()


# --- thread-block clusters (issue 22): cooperative_groups' cluster API and distributed shared memory
CLUSTER_FIELDS = 12


def _cluster_args(gx=4, gy=2, cx=2, cy=2, **kw):
    return {"gx": gx, "gy": gy, "cx": cx, "cy": cy, **kw}


def _expected_cluster(gx, gy, cx, cy):
    """What CUDA's cluster API returns (block rank x-fastest within the cluster) and what the ring
    reads through map_shared_rank give, computed from the definitions."""
    size = cx * cy
    out = np.zeros((gy, gx, 32, CLUSTER_FIELDS), np.int64)
    for by in range(gy):
        for bx in range(gx):
            ix, iy = bx % cx, by % cy
            rank = ix + cx * iy
            nxt, prev = (rank + 1) % size, (rank - 1) % size
            for t in range(32):
                out[by, bx, t] = [rank, size, cx, cy, ix, iy, rank * 32 + t, size * 32,
                                  nxt * 100 + (t + 1) % 32, nxt * 1000 + (t + 1) % 32, prev * 10 + t, 1]
    return out


@pytest.mark.parametrize("variant", list(emu.VARIANTS))
@pytest.mark.parametrize("shape", [(4, 2, 2, 2), (8, 1, 8, 1), (6, 1, 3, 1), (4, 4, 1, 4)])
def test_cluster_api_and_distributed_shared_memory(selftest, variant, shape):
    """block_rank/num_blocks/dim_blocks/block_index/thread_rank/num_threads, reads of the next
    block's dynamic and static shared memory, a write into it, each ordered by cluster.sync()."""
    if variant != "plain" and shape != (4, 2, 2, 2):
        pytest.skip("sanitizer builds: one shape")
    gx, gy, cx, cy = shape
    out = emu.run(selftest[variant], "cluster_basics", _cluster_args(gx, gy, cx, cy, seed=5), {},
                  {"out": ("i32", gx * gy * 32 * CLUSTER_FIELDS)})["out"]
    np.testing.assert_array_equal(out.reshape(gy, gx, 32, CLUSTER_FIELDS), _expected_cluster(gx, gy, cx, cy))


def test_sixteen_block_clusters_need_the_non_portable_attribute(selftest):
    with pytest.raises(emu.EmuError) as err:
        emu.run(selftest["plain"], "cluster_basics", _cluster_args(16, 1, 16, 1), {}, {})
    assert err.value.returncode == 3 and "8 is the portable limit" in err.value.stderr
    out = emu.run(selftest["plain"], "cluster_basics", _cluster_args(16, 1, 16, 1, non_portable=1), {},
                  {"out": ("i32", 16 * 32 * CLUSTER_FIELDS)})["out"]
    np.testing.assert_array_equal(out.reshape(1, 16, 32, CLUSTER_FIELDS), _expected_cluster(16, 1, 16, 1))


def test_grid_not_a_multiple_of_the_cluster_is_refused(selftest):
    with pytest.raises(emu.EmuError) as err:
        emu.run(selftest["plain"], "cluster_basics", _cluster_args(3, 1, 2, 1), {}, {})
    assert err.value.returncode == 3 and "not a multiple of the cluster dims" in err.value.stderr


@pytest.mark.parametrize("kernel,needle", [
    ("cluster_rank_out_of_range", "asks for rank 4, outside [0, 4)"),
    ("cluster_map_global", "not in its block's shared memory"),
    ("cluster_divergent_sync", "cluster.sync() in divergent code"),
    ("cluster_sync_after_exit", "exited"),  # the exit or the sync, whichever comes second, reports it
])
def test_cluster_misuse_is_a_kernel_error_with_its_call_site(selftest, kernel, needle):
    with pytest.raises(emu.EmuError) as err:
        emu.run(selftest["plain"], kernel, _cluster_args(), {}, {})
    assert err.value.returncode == 3 and needle in err.value.stderr
    assert "emu_selftest_driver.cpp:" in err.value.stderr


@pytest.mark.parametrize("variant", ["plain", "asan"])
def test_block_exit_while_others_may_access_its_shared_memory(selftest, variant):
    """A block reads the next block's shared memory after the last cluster.sync() and nobody
    syncs again: whichever comes first — the next block's exit or the mapping — is an error,
    every time (10 launches with shuffled cluster order)."""
    with pytest.raises(emu.EmuError) as err:
        emu.run(selftest[variant], "cluster_exit_without_sync", _cluster_args(seed=3, reps=10), {}, {})
    assert err.value.returncode == 3
    assert ("may still access its shared memory" in err.value.stderr
            or "whose threads have all exited" in err.value.stderr)
    assert "map_shared_rank at emu_selftest_driver.cpp:" in err.value.stderr


@pytest.mark.parametrize("kernel,where", [
    ("cluster_missing_sync", "cluster_missing_sync_kernel"),    # remote write, local read, no sync between
    ("cluster_stale_pointer", "cluster_stale_pointer_kernel"),  # mapped before the last sync, read after it
])
def test_cluster_races_are_tsan_data_races(selftest, kernel, where):
    """cluster.sync() creates exactly CUDA's orderings: without it between a remote write and the
    owner's read, or between a remote read and the owner's exit, TSan reports a race (5 runs)."""
    emu.run(selftest["plain"], kernel, _cluster_args(), {}, {})  # silently wrong without TSan
    for _ in range(5):
        with pytest.raises(emu.EmuError) as err:
            emu.run(selftest["tsan"], kernel, _cluster_args(), {}, {})
        assert "ThreadSanitizer: data race" in err.value.stderr and where in err.value.stderr


def test_cluster_deadlock_names_every_blocks_wait_site(selftest):
    """Threads of rank 0 wait at cluster.sync() while rank 1 waits at a __syncthreads nobody else
    reaches: no block-local deadlock, a cluster-wide one."""
    with pytest.raises(emu.EmuError) as err:
        emu.run(selftest["plain"], "cluster_deadlock", _cluster_args(2, 1, 2, 1), {}, {})
    assert err.value.returncode == 3 and "deadlock: every live thread of the cluster waits" in err.value.stderr
    assert "cluster.sync() at emu_selftest_driver.cpp:" in err.value.stderr
    assert "__syncthreads at emu_selftest_driver.cpp:" in err.value.stderr
