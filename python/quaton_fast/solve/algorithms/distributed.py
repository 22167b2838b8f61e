"""The AOC-DT solver with its replicas sharded over ``torch.distributed`` ranks.

Every rank runs the same restart loop: the replica hyperparameters of each restart come from the
same seeded Sobol / exploitation sampler on every rank, the initial state of replica r from the
stream (seed, restart, r), and rank ``q`` of ``world`` runs the contiguous replica slice
``[R*q//world, R*(q+1)//world)``. After each restart the ranks all-gather their best
(energy, replica index), pick the lowest energy (lowest index on ties, as ``argmin`` does in one
process) and the owner broadcasts that state. So with an iteration budget (``max_iterations``)
and a fixed seed, the result -- best energy, state, hyperparameters, trace energies -- is
identical to ``solve()`` in one process with the same total ``replicas``. With a ``time_limit``
the clock decisions (stop, explore vs exploit) are rank 0's, broadcast to all.

Launch: ``torchrun --nproc-per-node 4 my_script.py`` where the script calls
``quaton_fast.distributed.init_from_env()`` then :func:`solve_sharded`. Outside a process group
:func:`solve_sharded` is :func:`~quaton_fast.solve.algorithms.aoc_solver.solve`.
"""
from __future__ import annotations

import numpy as np
import torch

from ... import distributed as qdist
from .aoc_solver import LocalReplicas, SolveResult, _drive, _plan, _validate_budget

__all__ = ["solve_sharded", "ShardedReplicas"]


class ShardedReplicas(LocalReplicas):
    """This rank's replica slice; best() and agree() communicate over the default process group."""

    def __init__(self, plan, rank: int, world: int, device: torch.device):
        super().__init__(plan, plan.replicas * rank // world, plan.replicas * (rank + 1) // world)
        self.rank, self.world, self.device = rank, world, device

    def best(self, params, restart):
        e, S = self.run_slice(params, restart)
        k = int(np.argmin(e))
        mine = torch.tensor([e[k], float(self.lo + k)], dtype=torch.float64, device=self.device)
        every = [torch.empty_like(mine) for _ in range(self.world)]
        torch.distributed.all_gather(every, mine)
        table = torch.stack(every).cpu().numpy()          # (world, 2): energy, global index
        owner = int(np.argmin(table[:, 0]))               # first minimum = lowest replica index
        state = torch.from_numpy(S[:, k].copy()).to(self.device) if owner == self.rank else \
            torch.empty(S.shape[0], dtype=torch.float32, device=self.device)
        torch.distributed.broadcast(state, src=owner)
        return float(table[owner, 0]), int(table[owner, 1]), state.cpu().numpy()

    def agree(self, flags):
        t = torch.tensor([int(f) for f in flags], dtype=torch.int64, device=self.device)
        torch.distributed.broadcast(t, src=0)
        return tuple(bool(v) for v in t.tolist())


def solve_sharded(problem, *, time_limit: float | None = None, max_iterations: int | None = None,
                  replicas: int | None = None, iterations_per_run: int | None = None, seed: int = 0,
                  target: float | None = None, target_cut: float | None = None, stop_at_target: bool = True,
                  exploration_share: float = 0.3, check_every: int = 5, sparse: bool | None = None,
                  device: str = "cpu", backend: str | None = None, threads: int = 0,
                  precision: str | None = None, progress: bool = True) -> SolveResult:
    """``solve()`` with the ``replicas`` (total, over all ranks) split across the process group.

    Arguments as in :func:`quaton_fast.solve.algorithms.aoc_solver.solve`; every rank must pass the same
    values and returns the same result (the progress bar shows on rank 0 only). ``replicas``
    must be >= the world size. The group's backend may be gloo or nccl (then the small
    all-gather/broadcast tensors live on this rank's current GPU). The replicas run on ``device``:
    with ``device='cuda'`` each rank uses its current GPU (init_from_env sets it to the local rank).
    """
    _validate_budget(time_limit, max_iterations, target_cut, problem)
    plan = _plan(problem, max_iterations=max_iterations, replicas=replicas, iterations_per_run=iterations_per_run,
                 seed=seed, check_every=check_every, sparse=sparse, backend=backend, threads=threads,
                 device=device, precision=precision)
    if qdist.is_initialized() and qdist.world_size() > 1:
        world = qdist.world_size()
        if plan.replicas < world:
            raise ValueError(f"solve_sharded(): argument 'replicas' must be >= the world size {world}, "
                             f"got {plan.replicas}")
        nccl = torch.distributed.get_backend() == "nccl"
        dev = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
        reps = ShardedReplicas(plan, qdist.rank(), world, dev)
        progress = progress and qdist.is_main_process()
    else:
        reps = LocalReplicas(plan)
    return _drive(plan, reps, time_limit=time_limit, max_iterations=max_iterations, target=target,
                  target_cut=target_cut, stop_at_target=stop_at_target, exploration_share=exploration_share,
                  progress=progress)
