"""`quaton-fast solve FILE ...`: run the AOC-DT solver on an instance file.

QPLIB (.qplib) and GAMS convert (.gms) files are read as ConstrainedProblem and reported in the
file's own sense and variables: objective (constant included), feasibility, max violation, gap to
``--best`` (default: SOLOBJVALUE of the .prop file next to the instance); ``--target`` is an
objective in the file's sense; JSON ``solution``/``best_state`` are the file's variables z (0/1 for
binaries), and the phase that produced the returned point (dynamics / repair / fallback /
fallback-start, docs/constraints.md). Exit status 2 when no feasible point was found."""
from __future__ import annotations

import argparse
import re

from . import _types as _A
from .._atomic import atomic_write_json

_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text) -> float:
    """'10s', '2m', '500ms', '1.5' (seconds), '1h' -> seconds (float > 0)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|min|m|h)?\s*", str(text))
    if not m:
        raise ValueError(f"parse_duration: argument 'text' expected a duration like 10s, 2m, 500ms or 1.5, got {text!r}")
    value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if value <= 0:
        raise ValueError(f"parse_duration: argument 'text' expected a positive duration, got {text!r}")
    return value


# --- argument types (one-line argparse errors naming the option; see quaton_fast.cli._types) ---
def _duration_arg(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite positive duration like 10s, 2m, 500ms or 1.5, "
                                         f"got {text!r}")
    return value


_device_arg = _A.device
_replicas_arg = _A.positive_int
_seed_arg = _A.integer(0, 2**32 - 1)   # NumPy / Sobol seed range
_target_arg = _A.real()
# --- end of argument types ---


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="instance file (G-set/rudy, SK .npz, QPLIB .qplib, GAMS convert .gms)")
    parser.add_argument("--time", type=_duration_arg, default="10s", help="time budget: 10s, 2m, 500ms, 1.5")
    parser.add_argument("--replicas", type=_replicas_arg, default=None,
                        help="replicas per restart (default 64 on the CPU, 1024 on a GPU)")
    parser.add_argument("--device", type=_device_arg, default="cpu",
                        help="cpu, cuda or cuda:K (the GPU runs the torch backend, tensor-core products where exact)")
    parser.add_argument("--precision", default=None, choices=["fp32", "tf32", "bf16"],
                        help="GPU spin-product precision (default: the fastest exact one)")
    parser.add_argument("--seed", type=_seed_arg, default=0, help="seed of the initial states (0 .. 2^32-1)")
    parser.add_argument("--target", type=_target_arg, default=None,
                        help="target: the cut for Max-Cut instances, the objective in the file's own sense "
                             "for QPLIB/GAMS files (min: reached at <= target, max: at >= target), else the energy "
                             "(default: none, run for the whole --time)")
    parser.add_argument("--best", type=_target_arg, default=None,
                        help="best known objective (file's sense) for the gap; default: SOLOBJVALUE of a .prop "
                             "file next to a QPLIB/GAMS instance")
    parser.add_argument("--format", default="auto", choices=["auto", "gset", "rudy", "sk", "qplib", "gams"],
                        help="instance format (auto: from the file name and header)")
    parser.add_argument("--json", default=None, help="write the result as JSON here (atomic; default: none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _read(path: str, fmt: str):
    """Instance by format; QPLIB and GAMS files come back as a ConstrainedProblem (file's sense and
    variables, constraints or not)."""
    from ..solve import read_instance
    return read_instance(path, fmt)


def best_known_from_prop(path: str) -> float | None:
    """SOLOBJVALUE of ``<stem>.prop`` next to an instance file (QPLIB metadata), or None."""
    from pathlib import Path
    prop = Path(path).with_suffix(".prop")
    if not prop.is_file():
        return None
    for line in prop.read_text(errors="replace").splitlines():
        key, _, val = line.partition("=")
        if key.strip() == "SOLOBJVALUE":
            try:
                return float(val)
            except ValueError:
                return None
    return None


def relative_gap(objective: float, best: float, sense: str) -> float:
    """(objective - best)/max(|best|, 1e-9) signed so that a WORSE objective gives a positive gap
    (minimise: objective above best; maximise: below)."""
    d = objective - best if sense == "minimize" else best - objective
    return d / max(abs(best), 1e-9)


def _run_constrained(args, problem, budget) -> int:
    from ..solve import solve
    res = solve(problem, time_limit=budget, replicas=args.replicas, seed=args.seed, device=args.device,
                precision=args.precision, target=args.target, progress=not args.no_progress)
    best = args.best if getattr(args, "best", None) is not None else best_known_from_prop(args.file)
    ttt = res.time_to_target
    gap = relative_gap(res.objective, best, problem.sense) if (res.feasible and best is not None) else None
    print(f"problem: {problem.meta.get('name', args.file)}  ({problem.sense}, {problem.n} variables, "
          f"{problem.n_binary} binary, {problem.m_eq} equality and {problem.m_ineq} inequality rows)")
    if res.feasible:
        print(f"objective ({problem.sense}): {res.objective:.10g}   feasible: yes   max violation: {res.max_violation:.3g}")
    else:
        print(f"NO FEASIBLE SOLUTION FOUND (least max violation seen: {res.max_violation:.3g})")
    fb = res.fallback
    print(f"phase: {res.phase}   (feasibility fallback: "
          + ("not run" if fb is None else f"{fb['status']} after {fb['seconds']:.2f} s") + ")")
    if fb is not None and fb["status"] == "infeasible":
        print("the constraints have NO feasible point (proved by HiGHS)")
    if best is not None:
        print(f"best known: {best:.10g}   gap: {'-' if gap is None else f'{100 * gap:.4g} %'}")
    print(f"time-to-target: {'-' if ttt is None else f'{ttt:.3f} s'}")
    print(f"iterations: {res.iterations}  restarts: {res.restarts}  wall: {res.wall_time:.2f} s  "
          f"({res.hyperparameters['backend']} on {res.hyperparameters['device']})")
    if args.json:
        atomic_write_json({"file": args.file, "sense": problem.sense, "feasible": res.feasible,
                           "objective": res.objective, "best_known": best, "gap": gap,
                           "max_violation": res.max_violation, "time_to_target": ttt, "target": args.target,
                           "phase": res.phase, "fallback": res.fallback,
                           "solution": None if res.solution is None else res.solution.tolist(),
                           "variables": problem.names,
                           # the energy the solver minimised (sign*objective) and the state in the FILE's variables
                           "best_energy": None if not res.feasible else res.best_energy,
                           "best_state": None if res.solution is None else res.solution.tolist(),
                           "iterations": res.iterations, "wall_time": res.wall_time,
                           "hyperparameters": res.hyperparameters, "trace": res.trace}, args.json)
    return 0 if res.feasible else 2


def run(args, argv: list[str] | None = None) -> int:
    """Solve one file. Under ``torchrun`` the replicas are sharded over the ranks
    (solve/distributed.py; rank 0's clock decides the time budget) and only rank 0 prints and writes."""
    from .. import distributed as qdist
    from ..solve import solve
    budget = parse_duration(args.time)
    problem = _read(args.file, args.format)
    if hasattr(problem, "aoc_solve"):          # QPLIB / GAMS: report in the file's sense and variables
        return _run_constrained(args, problem, budget)
    is_cut = hasattr(problem, "cut_value")
    if qdist.init_from_env():
        from ..solve.algorithms.distributed import solve_sharded as solve  # noqa: F811
    res = solve(problem, time_limit=budget, replicas=args.replicas, seed=args.seed, device=args.device,
                precision=args.precision,
                target=None if is_cut else args.target, target_cut=args.target if is_cut else None,
                progress=not args.no_progress)
    if not qdist.is_main_process():
        return 0
    ttt = res.time_to_target
    print(f"best energy: {res.best_energy:.6g}")
    if res.cut is not None:
        print(f"best cut: {res.cut:.6g}")
    print(f"time-to-target: {'-' if ttt is None else f'{ttt:.3f} s'}")
    print(f"iterations: {res.iterations}  restarts: {res.restarts}  wall: {res.wall_time:.2f} s  "
          f"({res.hyperparameters['backend']} on {res.hyperparameters['device']})")
    if args.json:
        atomic_write_json({"file": args.file, "best_energy": res.best_energy, "cut": res.cut,
                           "time_to_target": ttt, "iterations": res.iterations,
                           "wall_time": res.wall_time, "hyperparameters": res.hyperparameters,
                           "best_state": res.best_state.tolist(), "trace": res.trace}, args.json)
    return 0
