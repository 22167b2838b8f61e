"""``AOCSampler``: the AOC-DT solver as a dimod sampler (D-Wave Ocean's sampler API), CPU or GPU.

Needs the optional dependency dimod (``pip install quaton_fast[dimod]``); importing this module
without it raises ImportError naming that command. ``quaton_fast.solve.AOCSampler`` loads it lazily.

A read is one independent :func:`~quaton_fast.solve.algorithms.aoc_solver.solve` of the whole model (its own
Sobol exploration and exploitation of the replica hyperparameters, ``replicas`` replicas per
restart) from its own seed; the read's sample is that solve's best state. Reads are returned one
row each, in read order (``num_occurrences`` 1), with the energy of the sample evaluated by this
package's own problem class (:func:`~quaton_fast.solve.formats.dimod_models.bqm_to_problem`) in float64 --
the value ``bqm.energies(sampleset)`` gives, up to float64 rounding.

Budget per read: ``time_limit / num_reads`` seconds when ``time_limit`` is given (each read runs at
least one restart), else ``max_iterations`` steps (default: 20 restarts, ``solve``'s default).
Reproducibility: the same ``seed`` and an iteration budget (no ``time_limit``) give the same samples
on the same backend; with ``time_limit`` the number of restarts, hence the samples, depend on the
machine's speed. ``seed=None`` draws a fresh seed (recorded in ``sampleset.info['seed']``).
"""
from __future__ import annotations

import time as _time

import numpy as np

from ..._validation import plain_scalar
from ..formats.dimod_models import bqm_to_problem, cqm_to_problem, require_dimod
from ..models.entry_checks import int_option, real_option, seed_option
from ..models.problems import QUBO

dimod = require_dimod()

__all__ = ["AOCSampler"]


def _read_seeds(seed, num_reads: int) -> tuple[int, list[int]]:
    """(the call's seed, one seed per read): read k's seed is word k of SeedSequence(seed)."""
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))
    seed = seed_option("AOCSampler.sample", seed)
    words = np.random.SeedSequence(seed).generate_state(num_reads, dtype=np.uint32)
    return seed, [int(w) for w in words]


def _budget(num_reads, seed, time_limit, max_iterations, replicas):
    num_reads = int_option("AOCSampler.sample", "num_reads", plain_scalar(num_reads))
    time_limit = real_option("AOCSampler.sample", "time_limit", time_limit, allow_none=True, positive=True)
    max_iterations = int_option("AOCSampler.sample", "max_iterations", max_iterations, allow_none=True)
    replicas = int_option("AOCSampler.sample", "replicas", replicas, allow_none=True)
    seed, seeds = _read_seeds(plain_scalar(seed), num_reads)
    per_read = None if time_limit is None else time_limit / num_reads
    return num_reads, seed, seeds, per_read, max_iterations, replicas


class AOCSampler(dimod.Sampler):
    """The AOC digital-twin solver (replica dynamics of the analog optical computer (Kalinin et al., Nature 2025)) as a
    ``dimod.Sampler``: ``sample(bqm)``, ``sample_ising(h, J)``, ``sample_qubo(Q)`` (the last two from
    dimod's Sampler base class), and ``sample_cqm(cqm)`` for constrained models.

    Parameters of every sample call (``sampler.parameters``):

    * ``num_reads`` (int >= 1, default 1): independent solves, one row each in the SampleSet;
    * ``seed`` (int >= 0 or None): reproducible reads for an iteration budget (module docstring);
    * ``time_limit`` (seconds > 0 or None): total wall-clock budget, split evenly over the reads;
    * ``max_iterations`` (int or None): steps per read (all restarts of that read);
    * ``replicas`` (int or None): replicas per restart (None: 64 on the CPU, 1024 on a GPU);
    * ``device`` (str, default 'cpu'): a torch device, e.g. 'cuda' -- off the CPU the torch backend
      runs the replicas (``sampler.properties['devices']`` lists what this machine has).

    Returns a ``dimod.SampleSet`` of the model's vartype and variables; ``info`` holds 'seed',
    'read_seeds', 'device', 'backend', 'wall_time' (s), 'restarts' and 'iterations' per read.
    Raises ValueError/TypeError naming the parameter for bad values; unknown keyword arguments are
    dropped with dimod's SamplerUnknownArgWarning.
    """

    def __init__(self):
        import torch
        devices = ["cpu"] + ([f"cuda:{k}" for k in range(torch.cuda.device_count())]
                             if torch.cuda.is_available() else [])
        self._properties = {"devices": devices,
                            "description": "AOC digital-twin replica dynamics (quaton_fast.solve.solve)"}
        self._parameters = {"num_reads": [], "seed": [], "time_limit": [], "max_iterations": [],
                            "replicas": [], "device": ["devices"]}

    @property
    def properties(self) -> dict:
        return self._properties

    @property
    def parameters(self) -> dict:
        return self._parameters

    def _solve_reads(self, problem, seeds, per_read, max_iterations, replicas, device):
        from .aoc_solver import solve
        results = []
        for s in seeds:
            results.append(solve(problem, time_limit=per_read, max_iterations=max_iterations, replicas=replicas,
                                 seed=s, device=device, progress=False))
        return results

    @staticmethod
    def _info(seed, seeds, results, t0, device) -> dict:
        hp = results[0].hyperparameters if results else {}
        return {"seed": seed, "read_seeds": seeds, "device": hp.get("device", str(device)),
                "backend": hp.get("backend"), "wall_time": _time.perf_counter() - t0,
                "restarts": [r.restarts for r in results], "iterations": [r.iterations for r in results]}

    def sample(self, bqm, num_reads: int = 1, seed: int | None = None, time_limit: float | None = None,
               max_iterations: int | None = None, replicas: int | None = None, device: str = "cpu",
               **kwargs) -> "dimod.SampleSet":
        """Sample a dimod BinaryQuadraticModel (SPIN or BINARY); see the class docstring."""
        self.remove_unknown_kwargs(**kwargs)
        t0 = _time.perf_counter()
        num_reads, seed, seeds, per_read, max_iterations, replicas = _budget(
            num_reads, seed, time_limit, max_iterations, replicas)
        if not isinstance(bqm, dimod.BinaryQuadraticModel):
            bqm = dimod.BinaryQuadraticModel(bqm)   # a QuadraticModel of binary/spin variables, or refused by dimod
        labels = list(bqm.variables)
        if not labels:   # nothing to solve: num_reads empty samples, each of energy bqm.offset
            return dimod.SampleSet.from_samples((np.zeros((num_reads, 0), np.int8), labels), bqm.vartype,
                                                energy=np.full(num_reads, float(bqm.offset)),
                                                info=self._info(seed, seeds, [], t0, device))
        problem = bqm_to_problem(bqm)
        results = self._solve_reads(problem, seeds, per_read, max_iterations, replicas, device)
        spins = np.stack([r.best_state for r in results])            # (num_reads, n) in {-1, 1}
        if bqm.vartype is dimod.SPIN:
            samples, energy = spins, problem.energy(spins)
        else:   # QUBO over {0, 1}; above DENSE_LIMIT a QUMO whose energy takes the canonical spins
            samples = (1.0 + spins) / 2.0
            energy = problem.energy(samples) if isinstance(problem, QUBO) else problem.energy(spins)
        energy = np.atleast_1d(energy)
        return dimod.SampleSet.from_samples((samples.astype(np.int8), labels), bqm.vartype, energy=energy,
                                            info=self._info(seed, seeds, results, t0, device))

    def sample_cqm(self, cqm, num_reads: int = 1, seed: int | None = None, time_limit: float | None = None,
                   max_iterations: int | None = None, replicas: int | None = None, device: str = "cpu",
                   **kwargs) -> "dimod.SampleSet":
        """Sample a dimod ConstrainedQuadraticModel (the subset of
        :func:`~quaton_fast.solve.formats.dimod_models.cqm_to_problem`) with the constrained AOC-DT solver
        (:func:`~quaton_fast.solve.algorithms.constrained_solve.solve_constrained`). A read that found no
        feasible point returns its least violating point. The SampleSet comes from
        ``dimod.SampleSet.from_samples_cqm`` (dimod's own energies and 'is_feasible' /
        'is_satisfied' fields); ``info['phase']`` says per read which phase produced the point."""
        self.remove_unknown_kwargs(**kwargs)
        t0 = _time.perf_counter()
        num_reads, seed, seeds, per_read, max_iterations, replicas = _budget(
            num_reads, seed, time_limit, max_iterations, replicas)
        problem = cqm_to_problem(cqm)
        results = self._solve_reads(problem, seeds, per_read, max_iterations, replicas, device)
        Z = np.stack([r.solution if r.solution is not None else r.least_violating for r in results])
        info = self._info(seed, seeds, results, t0, device)
        info["phase"] = [r.phase for r in results]
        return dimod.SampleSet.from_samples_cqm((Z, problem.meta["labels"]), cqm, info=info)
