"""Sharded solver (solve/algorithms/distributed.py) == single-process solver, on 2 gloo processes.

The test spawns the two ranks itself (torch.multiprocessing, a free local port, a bounded join);
rank 0 saves its result, every rank checks it got the same result as rank 0.
"""
import pickle
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from quaton_fast.solve.algorithms.aoc_solver import solve
from quaton_fast.solve.algorithms.distributed import solve_sharded
from quaton_fast.solve.models.generators import random_sk

KW = dict(max_iterations=360, iterations_per_run=60, replicas=21, seed=4, check_every=3, threads=1,
          exploration_share=0.5, progress=False)
TIMEOUT_S = 120


def _problem():
    return -random_sk(40, seed=11).J  # canonical J of an SK instance (E = 1/2 s^T J_sk s)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out_dir):
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                         world_size=world)
    try:
        res = solve_sharded(_problem(), **KW)
        with open(f"{out_dir}/rank{rank}.pkl", "wb") as f:
            pickle.dump(res, f)
    finally:
        torch.distributed.destroy_process_group()


def _summary(res):
    return (res.best_energy, res.best_state.tolist(), res.iterations, res.restarts, res.target_hits,
            [e for _, e in res.trace], res.hyperparameters["a"], res.hyperparameters["g"],
            res.hyperparameters["gamma"])


@pytest.mark.slow
def test_sharded_equals_single_process(tmp_path):
    ctx = mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False,
                             start_method="spawn")
    try:
        import time
        deadline = time.monotonic() + TIMEOUT_S
        while not ctx.join(timeout=1.0):
            if time.monotonic() > deadline:
                pytest.fail(f"sharded solver did not finish within {TIMEOUT_S} s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    results = []
    for r in range(2):
        with open(tmp_path / f"rank{r}.pkl", "rb") as f:
            results.append(pickle.load(f))
    single = solve(_problem(), **KW)
    assert single.restarts == 6 and len(single.trace) >= 2  # several restarts, exploration and exploitation
    for res in results:
        assert _summary(res) == _summary(single)
    np.testing.assert_array_equal(results[0].best_state, single.best_state)


def test_sharded_without_process_group_is_solve():
    a = solve_sharded(_problem(), **KW)
    b = solve(_problem(), **KW)
    assert _summary(a) == _summary(b)


def test_sharded_rejects_bad_arguments():
    with pytest.raises(ValueError, match="replicas"):
        solve_sharded(_problem(), replicas=0, progress=False)
    with pytest.raises(ValueError, match="max_iterations"):
        solve_sharded(_problem(), max_iterations=-5, progress=False)
