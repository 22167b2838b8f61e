"""Feasibility on generated crossdock instances (QPLIB_3614's family, issue 24 item 1).

For every generator seed: ``crossdock_instance(trucks_in, trucks_out, doors, tightness, seed)``
(one-hot rows per truck, capacity rows per door, feasibility planted), then
``solve(problem, time_limit=budget, seed=0, threads=--threads)``: feasible?, time of the first
feasible point (from the solver's trace), objective, the phase that produced the returned point
and whether the HiGHS fallback ran. A Markdown table on stdout; ``--out-json`` records the command,
machine and load with every row.

    python benchmarks/bench_crossdock.py --budget 10 --seeds 0,1,2,3,4 --out-json docs/results/crossdock_10s.json
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time

from quaton_fast._atomic import atomic_write_text
from quaton_fast._backend import cpu_model
from quaton_fast.solve import solve
from quaton_fast.solve.models.generators import crossdock_instance


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=10.0)
    ap.add_argument("--seeds", default="0,1,2", help="generator seeds")
    ap.add_argument("--trucks", default="15,15", help="inbound,outbound trucks")
    ap.add_argument("--doors", type=int, default=8)
    ap.add_argument("--tightness", type=float, default=0.92)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-json", default=None)
    a = ap.parse_args(argv)
    ti, to = (int(x) for x in a.trucks.split(","))
    import torch  # noqa: F401  (imported once here, so that no run pays for it)
    rows, load_before = [], load()
    for s in (int(x) for x in a.seeds.split(",")):
        p = crossdock_instance(ti, to, a.doors, a.tightness, seed=s).problem
        r = solve(p, time_limit=a.budget, seed=0, threads=a.threads, progress=False)
        row = {"instance": p.meta["name"], "n": p.n, "m_eq": p.m_eq, "m_ineq": p.m_ineq,
               "feasible": bool(r.feasible), "objective": r.objective,
               "first_feasible_s": r.trace[0][0] if r.trace else None,
               "max_violation": r.max_violation, "phase": getattr(r, "phase", None),
               "fallback": None if getattr(r, "fallback", None) is None else r.fallback["status"],
               "restarts": r.restarts, "wall": r.wall_time}
        rows.append(row)
        print(f"| {row['instance']} | {'yes' if row['feasible'] else 'NO'} | "
              f"{'-' if row['first_feasible_s'] is None else format(row['first_feasible_s'], '.3g')} | "
              f"{'-' if row['objective'] is None else format(row['objective'], '.10g')} | {row['phase']} | "
              f"{row['fallback'] or '-'} | {row['max_violation']:.3g} |", flush=True)
    if a.out_json:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        rec = {"benchmark": "crossdock", "command": "python " + " ".join(shlex.quote(x) for x in [sys.argv[0], *(argv or sys.argv[1:])]),
               "git_commit": commit, "machine": cpu_model(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "load_before": load_before, "load_after": load(), "budget_s": a.budget, "rows": rows}
        atomic_write_text(json.dumps(rec, indent=1, default=float) + "\n", a.out_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
