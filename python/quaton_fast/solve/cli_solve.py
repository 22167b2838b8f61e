"""`quaton-fast solve FILE ...`: run the AOC-DT solver on an instance file."""
from __future__ import annotations

import argparse
import re

from .. import _argtypes as _A
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


# --- argument types (one-line argparse errors naming the option; see quaton_fast._argtypes) ---
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
    parser.add_argument("file", help="instance file (G-set/rudy, SK .npz, QPLIB)")
    parser.add_argument("--time", type=_duration_arg, default="10s", help="time budget: 10s, 2m, 500ms, 1.5")
    parser.add_argument("--replicas", type=_replicas_arg, default=None,
                        help="replicas per restart (default 64 on the CPU, 1024 on a GPU)")
    parser.add_argument("--device", type=_device_arg, default="cpu",
                        help="cpu, cuda or cuda:K (the GPU runs the torch backend, tensor-core products where exact)")
    parser.add_argument("--precision", default=None, choices=["fp32", "tf32", "bf16"],
                        help="GPU spin-product precision (default: the fastest exact one)")
    parser.add_argument("--seed", type=_seed_arg, default=0)
    parser.add_argument("--target", type=_target_arg, default=None,
                        help="target: the cut for Max-Cut instances, else the energy")
    parser.add_argument("--format", default="auto", choices=["auto", "gset", "rudy", "sk", "qplib"])
    parser.add_argument("--json", default=None, help="write the result as JSON here (atomic)")
    parser.add_argument("--no-progress", action="store_true")


def _read(path: str, fmt: str):
    from . import readers
    if fmt == "auto":
        low = path.lower()
        fmt = "sk" if low.endswith(".npz") else "qplib" if low.endswith(".qplib") else "gset"
    if fmt not in ("gset", "rudy", "sk", "qplib"):
        raise ValueError(f"solve: argument 'format' expected gset|rudy|sk|qplib|auto, got {fmt!r}")
    return {"gset": readers.read_gset, "rudy": readers.read_rudy, "sk": readers.read_sk,
            "qplib": readers.read_qplib}[fmt](path)


def run(args) -> int:
    """Solve one file. Under ``torchrun`` the replicas are sharded over the ranks
    (solve/distributed.py; rank 0's clock decides the time budget) and only rank 0 prints and writes."""
    from .. import distributed as qdist
    from .aoc_solver import solve
    budget = parse_duration(args.time)
    problem = _read(args.file, args.format)
    is_cut = hasattr(problem, "cut_value")
    if qdist.init_from_env():
        from .distributed import solve_sharded as solve  # noqa: F811
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
