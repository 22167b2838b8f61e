"""Transaction settlement (the AOC paper's mixed binary/continuous QUMO), solved by AOC-DT.

Generates a seeded instance (default 8 parties, 33 transactions: 41 variables as in the paper),
computes its exact optimum (MILP, exact for the penalised QUMO with integer data), then runs
``restarts`` independent AOC-DT solves of the whole QUMO and ``bcd_restarts`` block coordinate
descents with 7-variable blocks (+1 auxiliary binary for the linear term: 8-variable sub-QUMOs),
and ``hybrid_restarts`` AOC-DT solves refined by that BCD, and reports the success probability
(Beta(1,1) posterior mean +- std), the best settlement found and a PNG plot.

    python examples/transaction_settlement.py --out runs/examples/settlement.png
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from quaton_fast._atomic import atomic_path
from quaton_fast.solve import settlement as S
from quaton_fast.solve.algorithms.aoc_solver import solve
from quaton_fast.solve.algorithms.aux_bcd import bcd_auxiliary
from quaton_fast.solve.statistics.trials import run_restarts, update_records

DEVICE = "Intel Xeon, 2 cores (shared with other jobs at the time)"


def run_example(n_parties: int = 8, n_transactions: int = 33, *, seed: int = 0, max_amount: int = 5,
                restarts: int = 16, bcd_restarts: int = 5, hybrid_restarts: int = 5, solve_iterations: int = 1000,
                solve_replicas: int = 256, block_iterations: int = 100, block_replicas: int = 8) -> dict:
    """Build, solve exactly, solve with AOC-DT and BCD; returns a summary dict (no printing)."""
    inst = S.settlement_instance(n_parties, n_transactions, seed=seed, max_amount=max_amount)
    qumo = S.settlement_qumo(inst)
    t0 = time.perf_counter()
    opt_settled, opt_energy = S.settlement_optimum(inst)
    _, hard_value = S.max_settled_value(inst)
    exact_s = time.perf_counter() - t0
    blocks = S.settlement_blocks(inst, 7)
    methods = {
        "aoc-dt": (f"solve: {solve_replicas} replicas x {solve_iterations} iterations per restart",
                   lambda s: solve(qumo, max_iterations=solve_iterations, iterations_per_run=solve_iterations,
                                   replicas=solve_replicas, seed=s, progress=False).best_state, restarts),
        "bcd-7+1": (f"BCD, 7-variable blocks (transaction + its parties' slacks) + 1 auxiliary binary, "
                    f"each block {block_replicas} replicas x {block_iterations} iterations",
                    lambda s: bcd_auxiliary(qumo, block_size=7, blocks=blocks, block_iterations=block_iterations,
                                            block_replicas=block_replicas, seed=s).x, bcd_restarts),
        "aoc-dt+bcd": ("the aoc-dt solve above, then the BCD above started from its state",
                       lambda s: bcd_auxiliary(qumo, block_size=7, blocks=blocks, block_iterations=block_iterations,
                                               block_replicas=block_replicas, seed=s,
                                               x0=solve(qumo, max_iterations=solve_iterations,
                                                        iterations_per_run=solve_iterations, replicas=solve_replicas,
                                                        seed=s, progress=False).best_state).x, hybrid_restarts),
    }
    results = {}
    for name, (config, method, n) in methods.items():
        if n <= 0:
            continue
        trials = run_restarts(qumo, method, n, opt_energy)
        best = S.decode_settlement(inst, trials.states[trials.best])
        results[name] = {"config": f"{config}; {n} restarts", "trials": trials, "best": best}
    return {"instance": inst, "seed": seed, "qumo": qumo, "optimum_energy": opt_energy, "optimum_settled": opt_settled,
            "max_settled_value": hard_value, "penalty_exact": bool(abs(opt_energy + hard_value) < 1e-9),
            "exact_seconds": exact_s, "results": results}


def print_table(summary: dict) -> None:
    inst = summary["instance"]
    print(f"instance: {inst.n_parties} parties, {inst.n_transactions} transactions, {inst.n_variables} QUMO "
          f"variables, penalty lambda = {inst.penalty:g}")
    print(f"exact optimum F* = {summary['optimum_energy']:.6g} (settled value "
          f"{-summary['optimum_energy']:.6g}); hard-constrained MILP value {summary['max_settled_value']:.6g}; "
          f"penalty exact: {summary['penalty_exact']}")
    print(f"{'method':11s} {'k/n':>7s} {'P(success)':>16s} {'best F':>9s} {'median F':>9s} {'value':>7s} "
          f"{'feasible':>8s} {'s/restart':>9s}")
    for name, r in summary["results"].items():
        t, b = r["trials"], r["best"]
        p = t.probability
        print(f"{name:11s} {p.successes:>3d}/{p.trials:<3d} {p.mean:>8.3f} +- {p.std:.3f} {t.energies.min():>9.4g} "
              f"{np.median(t.energies):>9.4g} {b.settled_value:>7.4g} {str(b.feasible):>8s} {t.seconds.mean():>9.3f}")


def save_plot(summary: dict, path: str) -> None:

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inst = summary["instance"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    t = np.arange(inst.n_transactions)
    opt = summary["optimum_settled"]
    ax1.bar(t, inst.amounts, color=np.where(opt, "tab:green", "lightgray"), label="optimal: settled (green)")
    for k, (name, r) in enumerate(summary["results"].items()):
        s = r["best"].settled
        ax1.scatter(t[s], inst.amounts[s] + 0.3 + 0.4 * k, marker="v", s=18, label=f"{name} best: settled")
    ax1.set_xlabel("transaction")
    ax1.set_ylabel("amount")
    ax1.set_title("settlement decision")
    ax1.legend(fontsize=7)
    p = np.arange(inst.n_parties)
    best_name = min(summary["results"], key=lambda k: summary["results"][k]["trials"].energies.min())
    pos = summary["results"][best_name]["best"].positions
    ax2.bar(p - 0.2, inst.balances, width=0.4, label="balance before")
    ax2.bar(p + 0.2, pos, width=0.4, label=f"after ({best_name} best)")
    ax2.scatter(p, -inst.credit_limits, marker="_", s=200, color="k", label="-credit limit")
    ax2.axhline(0, color="gray", lw=0.5)
    ax2.set_xlabel("party")
    ax2.set_ylabel("position")
    ax2.set_title("liquidity")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def records(summary: dict, command: str) -> list[dict]:
    inst = summary["instance"]
    ds = (f"generated settlement P{inst.n_parties} T{inst.n_transactions} seed {summary['seed']} "
          f"({inst.n_variables} vars)")
    out = [{"task": "transaction-settlement", "dataset": ds, "method": "exact (MILP)", "model": "-",
            "metric": "optimum_energy", "value": summary["optimum_energy"], "split": "-", "device": DEVICE,
            "command": command}]
    for name, r in summary["results"].items():
        t, p = r["trials"], r["trials"].probability
        base = {"task": "transaction-settlement", "dataset": ds, "method": name, "model": r["config"],
                "split": "-", "device": DEVICE, "command": command}
        out += [dict(base, metric="success_probability", value=p.mean, std=p.std, successes=p.successes,
                     trials=p.trials),
                dict(base, metric="best_energy", value=float(t.energies.min())),
                dict(base, metric="seconds_per_restart", value=float(t.seconds.mean()))]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parties", type=int, default=8)
    ap.add_argument("--transactions", type=int, default=33)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--restarts", type=int, default=16, help="independent AOC-DT solves")
    ap.add_argument("--bcd-restarts", type=int, default=5, help="independent BCD runs")
    ap.add_argument("--hybrid-restarts", type=int, default=5, help="independent AOC-DT solve + BCD runs")
    ap.add_argument("--out", default="runs/examples/transaction_settlement.png", help="PNG plot path")
    ap.add_argument("--json", default=None, help="merge result records into this JSON list file")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    summary = run_example(a.parties, a.transactions, seed=a.seed, restarts=a.restarts, bcd_restarts=a.bcd_restarts,
                          hybrid_restarts=a.hybrid_restarts)
    print_table(summary)
    save_plot(summary, a.out)
    print(f"plot: {a.out}; total {time.perf_counter() - t0:.1f} s")
    if a.json:
        update_records(a.json, records(summary, "python examples/transaction_settlement.py " + " ".join(
            sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
