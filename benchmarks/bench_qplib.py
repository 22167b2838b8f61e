"""QPLIB benchmark: the augmented-Lagrangian AOC-DT solver next to SCIP, same wall-clock budgets,
same machine, same run (sequentially, never two at once).

For every instance of ``../shared/data/qplib`` (read from its GAMS convert file), every budget
and every seed:

- ours: ``quaton_fast.solve.solve(problem, time_limit=budget, seed=s, threads=--threads)`` (the
  constrained solver, docs/constraints.md): feasible?, best objective (file's sense, constant
  included), relative gap to the .prop SOLOBJVALUE (positive = worse), time until the best feasible
  objective first came within 1 % of SOLOBJVALUE (from the solver's trace; '-' if never).
- scip: pyscipopt (benchmark-only dependency, ``pip install pyscipopt``) on the same model
  (binary/continuous variables with bounds, the linear rows, the quadratic objective through an
  epigraph variable t: minimise t s.t. t >= 1/2 z^T H z + g^T z + f, or maximise t s.t. t <= ...),
  ``limits/time = budget``, one thread, default settings, its own seed = s (``randomization/
  randomseedshift``): incumbent, proven dual bound, gap, time of the first solution within 1 %
  (``getSolTime``). Model construction is outside the budget for both.

Records (atomically): ``--out-json`` (default docs/results/qplib.json) with the command, machine,
load, versions and every row; a Markdown table on stdout.

Full run (about 19 x 2 x (10 + 60) x 3 s x 2 methods = 4 h 26 min on one core):
    python benchmarks/bench_qplib.py --budgets 10,60 --seeds 0,1,2 --threads 1
A slice:
    python benchmarks/bench_qplib.py --budgets 10 --seeds 0 --instances QPLIB_0067,QPLIB_3762 \\
        --out-json docs/results/qplib_slice.json
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from quaton_fast._atomic import atomic_write_text
from quaton_fast._backend import cpu_model
from quaton_fast.solve import solve
from quaton_fast.cli.solve import best_known_from_prop, relative_gap
from quaton_fast.solve.formats.readers import read_gams

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "qplib"
OUT_JSON = ROOT / "docs" / "results" / "qplib.json"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def time_to_gap(trace, best, sense, gap=0.01):
    """First time in [(seconds, objective)] whose objective is within ``gap`` of best."""
    for t, obj in trace:
        if relative_gap(obj, best, sense) <= gap + 1e-12:
            return float(t)
    return None


def run_ours(p, budget, seed, threads, best):
    r = solve(p, time_limit=budget, seed=seed, threads=threads, progress=False)
    wall = r.wall_time                      # the timed loop (set-up before it is not counted)
    return {"method": "aoc-dt", "feasible": bool(r.feasible), "objective": r.objective,
            "gap": None if not r.feasible else relative_gap(r.objective, best, p.sense),
            "time_to_1pct": time_to_gap(r.trace, best, p.sense), "max_violation": r.max_violation,
            "first_feasible_s": r.trace[0][0] if r.trace else None, "restarts": r.restarts, "wall": wall,
            "phase": getattr(r, "phase", None),
            "fallback": None if getattr(r, "fallback", None) is None else r.fallback["status"]}


def scip_model(p):
    from pyscipopt import Model, quicksum
    m = Model()
    m.hideOutput()
    z = [m.addVar(name=(p.names[i] if p.names else f"z{i}"), vtype="B" if p.binary[i] else "C",
                  lb=float(p.lower[i]), ub=float(p.upper[i])) for i in range(p.n)]
    for A, b, eq in ((p.A_eq.tocsr(), p.b_eq, True), (p.A_ineq.tocsr(), p.b_ineq, False)):
        for i in range(A.shape[0]):
            lo, hi = A.indptr[i], A.indptr[i + 1]
            expr = quicksum(float(v) * z[j] for j, v in zip(A.indices[lo:hi], A.data[lo:hi]))
            m.addCons(expr == float(b[i]) if eq else expr <= float(b[i]))
    U = __import__("scipy.sparse", fromlist=["triu"]).triu(p.H, format="coo")
    quad = quicksum((0.5 if i == j else 1.0) * float(v) * z[i] * z[j] for i, j, v in zip(U.row, U.col, U.data))
    lin = quicksum(float(p.g[i]) * z[i] for i in np.flatnonzero(p.g))
    t = m.addVar(name="objvar", lb=None, ub=None)
    if p.sense == "minimize":
        m.addCons(t >= quad + lin + p.f)
    else:
        m.addCons(t <= quad + lin + p.f)
    m.setObjective(t, p.sense)
    return m


def run_scip(p, budget, seed, best):
    m = scip_model(p)
    m.setParam("limits/time", float(budget))
    m.setParam("parallel/maxnthreads", 1)
    m.setParam("randomization/randomseedshift", int(seed))
    t0 = time.perf_counter()
    m.optimize()
    wall = time.perf_counter() - t0
    sols = m.getSols()
    feasible = len(sols) > 0
    obj = float(m.getObjVal()) if feasible else None
    trace = sorted((float(m.getSolTime(s)), float(m.getSolObjVal(s))) for s in sols)
    dual = float(m.getDualbound())
    return {"method": "scip", "feasible": feasible, "objective": obj,
            "gap": None if not feasible else relative_gap(obj, best, p.sense),
            "time_to_1pct": time_to_gap(trace, best, p.sense), "dual_bound": dual, "status": m.getStatus(),
            "first_feasible_s": trace[0][0] if trace else None, "wall": wall}


def fmt(v, spec=".4g"):
    return "-" if v is None else format(v, spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", default="10,60", help="seconds, comma-separated")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--instances", default="all", help="comma-separated stems (QPLIB_0067,...) or 'all'")
    ap.add_argument("--threads", type=int, default=1, help="C++ solver threads (SCIP runs one thread)")
    ap.add_argument("--methods", default="aoc-dt,scip")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out-json", default=str(OUT_JSON))
    a = ap.parse_args(argv)
    budgets = [float(x) for x in a.budgets.split(",")]
    seeds = [int(x) for x in a.seeds.split(",")]
    methods = a.methods.split(",")
    data = Path(a.data)
    names = sorted(q.stem for q in data.glob("QPLIB_*.gms")) if a.instances == "all" else a.instances.split(",")
    if not names:
        print(f"bench_qplib: no instances under {data}", file=sys.stderr)
        return 1
    versions = {"python": platform.python_version()}
    if "scip" in methods:
        import pyscipopt
        versions["pyscipopt"] = pyscipopt.__version__
        versions["scip"] = str(pyscipopt.Model().version())
    import torch  # noqa: F401  (imported once here, so that no run pays for it)
    rows = []
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_before = load()
    for name in names:
        gms = data / f"{name}.gms"
        p = read_gams(gms)
        best = best_known_from_prop(str(gms))
        kind = "ineq" if p.m_ineq else ("eq" if p.m_eq else "none")
        for budget in budgets:
            for seed in seeds:
                for meth in methods:
                    r = run_ours(p, budget, seed, a.threads, best) if meth == "aoc-dt" else run_scip(p, budget, seed, best)
                    r.update({"instance": name, "budget_s": budget, "seed": seed, "sense": p.sense,
                              "best_known": best, "constraints": kind, "n": p.n, "m_eq": p.m_eq,
                              "m_ineq": p.m_ineq})
                    rows.append(r)
                    print(f"{name} {kind:4s} {budget:5.0f}s seed {seed} {meth:6s} feasible={r['feasible']!s:5s} "
                          f"obj={fmt(r['objective'], '.10g')} gap={fmt(None if r['gap'] is None else 100 * r['gap'], '.3g')}% "
                          f"t1%={fmt(r['time_to_1pct'], '.3g')} "
                          + (f"phase={r.get('phase')} " if meth == "aoc-dt" else "")
                          + (f"dual={fmt(r.get('dual_bound'), '.10g')}" if meth == "scip" else ""), flush=True)
    summary = {}
    for budget in budgets:
        for meth in methods:
            sel = [r for r in rows if r["budget_s"] == budget and r["method"] == meth]
            gaps = [r["gap"] for r in sel if r["gap"] is not None]
            summary[f"{meth}@{budget:g}s"] = {
                "runs": len(sel), "feasible": sum(r["feasible"] for r in sel),
                "median_gap": statistics.median(gaps) if gaps else None,
                "median_gap_all_feasible": statistics.median(gaps) if len(gaps) == len(sel) and gaps else None}
        if {"aoc-dt", "scip"} <= set(methods):
            wins = []
            for name in names:
                for seed in seeds:
                    o = [r for r in rows if r["instance"] == name and r["seed"] == seed and r["budget_s"] == budget]
                    ours = next((r for r in o if r["method"] == "aoc-dt"), None)
                    sc = next((r for r in o if r["method"] == "scip"), None)
                    if ours and sc and ours["constraints"] == "ineq":
                        ok = ours["feasible"] and (not sc["feasible"] or relative_gap(
                            ours["objective"], sc["objective"], ours["sense"]) <= 1e-12)
                        wins.append((name, seed, bool(ok)))
            summary[f"ineq_at_least_as_good_as_scip@{budget:g}s"] = {
                "count": sum(w[2] for w in wins), "of": len(wins), "cases": wins}
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.strip())
    rec = {"benchmark": "qplib", "git_commit": commit + (" (uncommitted changes)" if dirty else ""), "command": "python " + " ".join(shlex.quote(x) for x in [sys.argv[0], *(argv or sys.argv[1:])]),
           "machine": cpu_model(), "platform": platform.platform(), "started": started,
           "load_before": load_before, "load_after": load(), "threads_ours": a.threads, "versions": versions,
           "budgets_s": budgets, "seeds": seeds, "instances": names, "rows": rows, "summary": summary,
           "notes": "gap = (objective - SOLOBJVALUE)/|SOLOBJVALUE|, signed so that worse is positive; model "
                    "construction outside the budget; both methods single-threaded unless --threads says otherwise"}
    atomic_write_text(json.dumps(rec, indent=1, default=float) + "\n", a.out_json)
    print("\n| instance | rows | budget | method | feasible | objective | gap % | time to 1 % (s) | SCIP dual bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['instance']} | {r['constraints']} | {r['budget_s']:g} s | {r['method']} (seed {r['seed']}) | "
              f"{'yes' if r['feasible'] else 'NO'} | {fmt(r['objective'], '.10g')} | "
              f"{fmt(None if r['gap'] is None else 100 * r['gap'], '.3g')} | {fmt(r['time_to_1pct'], '.3g')} | "
              f"{fmt(r.get('dual_bound'), '.10g')} |")
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
