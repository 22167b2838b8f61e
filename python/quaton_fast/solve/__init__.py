"""QUBO / Ising / Max-Cut / QUMO problems, readers, generators and the AOC-DT solver.

Laid out by role (each sub-package depends only on those listed before it):

* ``models/``        the problem classes and their entry checks: QUMO, Ising, QUBO, MaxCut (problems),
                     ConstrainedProblem (constraints) and its row classes, instance generators;
* ``formats/``       reading and writing them: G-set/rudy and SK (readers), QPLIB (qplib_io),
                     GAMS convert (read_gams), D-Wave dimod BQM/CQM (dimod_models);
* ``algorithms/``    the solvers: AOC-DT replica dynamics (aoc_solver, replica_*; sharded in
                     distributed, through the hardware twin in hardware_solver), block coordinate
                     descent (bcd, aux_bcd), exact enumeration (qumo_exact, constrained_exact), the
                     constrained solver (constrained_solve with its phases, repair and HiGHS
                     feasibility fallback), the dimod sampler (dimod_sampler);
* ``applications/``  the paper's worked problems: transaction settlement, compressed sensing;
* ``statistics/``    success probabilities and time to solution over restarts (stats, tts, trials).

The ``quaton-fast solve`` command is :mod:`quaton_fast.cli.solve`. Every public name is importable from
``quaton_fast.solve`` itself (``__all__``); the module paths from before this layout
(``quaton_fast.solve.aoc_solver``, ...) still import, as the same modules (``_moved.py``).
"""
from . import _moved

_moved.install()

from .algorithms.aoc_solver import SolveResult, solve
from .algorithms.aux_bcd import AuxBCDResult, bcd_auxiliary, homogeneous_block
from .algorithms.bcd import bcd
from .applications.compressed_sensing import (CSInstance, cs_blocks, cs_instance, cs_objective, cs_qumo,
                                              decode_reconstruction, measurement_matrix, planted_state,
                                              reconstruction_errors, shepp_logan_image, shepp_logan_line)
from .models.problems import QUBO, QUMO, Ising, MaxCut, brute_force
from .algorithms.qumo_exact import brute_force_qumo, continuous_optimum
from .formats.readers import (read_gams, read_gset, read_instance, read_qplib, read_rudy, read_sk,
                              read_sk_ground_energies, write_qplib)
from .models.constraints import ConstrainedProblem
from .algorithms.constrained_exact import brute_force_constrained
from .algorithms.constrained_solve import ConstrainedSolveResult, bcd_constrained, solve_constrained
from .applications.settlement import (SettlementDecision, SettlementInstance, decode_settlement,
                                      max_settled_value, settlement_blocks, settlement_instance,
                                      settlement_objective, settlement_optimum, settlement_qumo)
from .statistics.trials import RestartTrials, run_restarts
from .statistics.stats import SuccessProbability, success_probability
from .statistics.tts import TimeToSolution, time_to_solution

__all__ = ["solve", "SolveResult", "bcd", "QUBO", "QUMO", "Ising", "MaxCut", "brute_force", "read_gset",
           "read_rudy", "read_sk", "read_sk_ground_energies", "read_qplib",
           # linearly constrained problems (QPLIB / GAMS convert), docs/constraints.md
           "ConstrainedProblem", "ConstrainedSolveResult", "solve_constrained", "bcd_constrained",
           "brute_force_constrained", "read_gams", "write_qplib", "read_instance",
           # worked problems of the paper (settlement, Shepp-Logan compressed sensing) and their tools
           "bcd_auxiliary", "homogeneous_block", "AuxBCDResult", "continuous_optimum", "brute_force_qumo",
           "run_restarts", "RestartTrials",
           # statistics over independent runs: Beta posteriors, time to solution
           "success_probability", "SuccessProbability", "time_to_solution", "TimeToSolution",
           "SettlementInstance", "SettlementDecision", "settlement_instance", "settlement_qumo",
           "decode_settlement", "settlement_objective", "settlement_optimum", "max_settled_value",
           "settlement_blocks",
           "CSInstance", "cs_instance", "cs_qumo", "cs_objective", "cs_blocks", "decode_reconstruction",
           "planted_state", "reconstruction_errors", "measurement_matrix", "shepp_logan_line",
           "shepp_logan_image"]

# The dimod (D-Wave Ocean) interface: an optional dependency (pip install quaton_fast[dimod]), loaded
# on first use so that this package imports without dimod; these names stay out of __all__ so that
# ``from quaton_fast.solve import *`` never needs it.
_DIMOD_NAMES = {"AOCSampler": "algorithms.dimod_sampler", "bqm_to_problem": "formats.dimod_models",
                "cqm_to_problem": "formats.dimod_models", "problem_to_bqm": "formats.dimod_models"}


def __getattr__(name):
    if name in _DIMOD_NAMES:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_DIMOD_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
