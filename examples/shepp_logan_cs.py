"""Compressed sensing of a Shepp-Logan phantom line (32 pixels, 12 of 32 measurements dropped) by AOC-DT.

Builds the line, a partial Walsh-Hadamard measurement (20 of 32 rows), the 64-variable QUMO
(32 continuous amplitudes + 32 binary supports, see ``quaton_fast.solve.applications.compressed_sensing``),
runs ``restarts`` independent AOC-DT solves of the whole QUMO and ``bcd_restarts`` block
coordinate descents with 7-variable blocks (+1 auxiliary binary: 8-variable sub-QUMOs), and
reports the success probability of reaching the planted solution's energy (Beta(1,1) posterior
mean +- std), reconstruction errors against the ground truth (next to the minimum-norm least-squares
reconstruction) and a PNG plot.

    python examples/shepp_logan_cs.py --out runs/examples/shepp_logan_cs.png
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from quaton_fast._atomic import atomic_path
from quaton_fast.solve import compressed_sensing as C
from quaton_fast.solve.algorithms.aoc_solver import solve
from quaton_fast.solve.algorithms.aux_bcd import bcd_auxiliary
from quaton_fast.solve.algorithms.qumo_exact import continuous_optimum
from quaton_fast.solve.statistics.trials import run_restarts, update_records

DEVICE = "Intel Xeon, 2 cores (shared with other jobs at the time)"


def run_example(n_pixels: int = 32, n_dropped: int = 12, *, seed: int = 0, restarts: int = 20,
                bcd_restarts: int = 6, solve_iterations: int = 2000, solve_replicas: int = 64,
                block_iterations: int = 100, block_replicas: int = 8, **instance_kw) -> dict:
    """Build, solve with AOC-DT and BCD; returns a summary dict (no printing)."""
    inst = C.cs_instance(n_pixels, n_dropped, seed=seed, **instance_kw)
    qumo = C.cs_qumo(inst)
    planted = C.planted_state(inst)
    _, target = continuous_optimum(qumo, planted[n_pixels:])   # planted support, exact amplitudes
    methods = {
        "aoc-dt": (f"solve: {solve_replicas} replicas x {solve_iterations} iterations per restart",
                   lambda s: solve(qumo, max_iterations=solve_iterations, iterations_per_run=solve_iterations,
                                   replicas=solve_replicas, seed=s, progress=False).best_state, restarts),
        "bcd-7+1": (f"BCD, random 7-variable blocks + 1 auxiliary binary, each block {block_replicas} "
                    f"replicas x {block_iterations} iterations",
                    lambda s: bcd_auxiliary(qumo, block_size=7, block_iterations=block_iterations,
                                            block_replicas=block_replicas, seed=s).x, bcd_restarts),
    }
    results = {}
    for name, (config, method, n) in methods.items():
        if n <= 0:
            continue
        trials = run_restarts(qumo, method, n, target)
        recon = [C.decode_reconstruction(inst, x)[0] for x in trials.states]
        errors = [C.reconstruction_errors(inst, u) for u in recon]
        results[name] = {"config": f"{config}; {n} restarts", "trials": trials, "best_u": recon[trials.best],
                         "recovered": int(sum(e["wrong_pixels"] == 0 for e in errors)),
                         "best_errors": errors[trials.best],
                         "median_rmse": float(np.median([e["rmse"] for e in errors]))}
    lsq = np.linalg.pinv(inst.A) @ inst.measurements
    return {"instance": inst, "seed": seed, "y": float(instance_kw.get("y", C.DEFAULT_Y)), "qumo": qumo,
            "target": target, "least_squares": lsq,
            "least_squares_errors": C.reconstruction_errors(inst, lsq), "results": results}


def print_table(summary: dict) -> None:
    inst = summary["instance"]
    print(f"line: {inst.n_pixels} pixels, {int(np.count_nonzero(inst.truth))} nonzero; {inst.A.shape[0]} "
          f"measurements ({inst.n_pixels - inst.A.shape[0]} dropped); QUMO {inst.n_variables} variables; "
          f"lam = {inst.lam:g}, mu = {inst.mu:.4g}; target (planted) F = {summary['target']:.6g}")
    e = summary["least_squares_errors"]
    print(f"min-norm least squares: RMSE {e['rmse']:.4f}, rel. L2 {e['rel_l2']:.3f}, wrong pixels {e['wrong_pixels']}")
    print(f"{'method':10s} {'k/n':>7s} {'P(success)':>16s} {'best F':>9s} {'median F':>9s} {'best RMSE':>10s} "
          f"{'wrong px':>8s} {'med RMSE':>9s} {'recovered':>9s} {'s/restart':>9s}")
    for name, r in summary["results"].items():
        t, p, be = r["trials"], r["trials"].probability, r["best_errors"]
        print(f"{name:10s} {p.successes:>3d}/{p.trials:<3d} {p.mean:>8.3f} +- {p.std:.3f} {t.energies.min():>9.4g} "
              f"{np.median(t.energies):>9.4g} {be['rmse']:>10.2e} {be['wrong_pixels']:>8d} {r['median_rmse']:>9.2e} "
              f"{r['recovered']:>5d}/{p.trials:<3d} {t.seconds.mean():>9.3f}")


def save_plot(summary: dict, path: str) -> None:

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inst = summary["instance"]
    n = inst.n_pixels
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 2.2]})
    img = C.shepp_logan_image(n)
    ax0.imshow(img, cmap="gray", vmin=0, vmax=1)
    rows = [r for r in range(n) if np.array_equal(img[r], inst.truth)]
    if rows:
        ax0.axhline(rows[0], color="tab:red", lw=1)
    ax0.set_title("phantom (line in red)")
    ax0.axis("off")
    x = np.arange(n)
    ax1.step(x, inst.truth, where="mid", color="k", lw=2, label="ground truth")
    ax1.plot(x, summary["least_squares"], "x--", color="gray", label="min-norm least squares")
    for name, r in summary["results"].items():
        ax1.plot(x, r["best_u"], "o", ms=4, label=f"{name} best (RMSE {r['best_errors']['rmse']:.1e})")
    ax1.set_xlabel("pixel")
    ax1.set_ylabel("intensity")
    ax1.set_title(f"{inst.A.shape[0]} of {n} Walsh-Hadamard measurements")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def records(summary: dict, command: str) -> list[dict]:
    inst = summary["instance"]
    ds = (f"Shepp-Logan line y={summary['y']:.5f} {inst.n_pixels} px ({int(np.count_nonzero(inst.truth))} nonzero), "
          f"{inst.A.shape[0]}/{inst.n_pixels} Hadamard rows seed {summary['seed']} ({inst.n_variables} vars)")
    base0 = {"task": "compressed-sensing", "dataset": ds, "split": "-", "device": DEVICE, "command": command}
    out = [dict(base0, method="min-norm least squares", model="-", metric="rmse",
                value=summary["least_squares_errors"]["rmse"])]
    for name, r in summary["results"].items():
        t, p = r["trials"], r["trials"].probability
        base = dict(base0, method=name, model=r["config"])
        out += [dict(base, metric="success_probability", value=p.mean, std=p.std, successes=p.successes,
                     trials=p.trials),
                dict(base, metric="best_energy", value=float(t.energies.min()), target=summary["target"]),
                dict(base, metric="rmse", value=r["best_errors"]["rmse"], note="best restart"),
                dict(base, metric="median_rmse", value=r["median_rmse"]),
                dict(base, metric="restarts_with_exact_image", value=r["recovered"], trials=p.trials,
                     note="all pixels within 0.05 of the truth"),
                dict(base, metric="seconds_per_restart", value=float(t.seconds.mean()))]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pixels", type=int, default=32)
    ap.add_argument("--dropped", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0, help="measurement-row selection seed")
    ap.add_argument("--row", type=int, default=29, help="phantom row (of a pixels x pixels grid) to reconstruct")
    ap.add_argument("--restarts", type=int, default=20, help="independent AOC-DT solves")
    ap.add_argument("--bcd-restarts", type=int, default=6, help="independent BCD runs")
    ap.add_argument("--out", default="runs/examples/shepp_logan_cs.png", help="PNG plot path")
    ap.add_argument("--json", default=None, help="merge result records into this JSON list file")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    if not 0 <= a.row < a.pixels:
        ap.error(f"--row must be in [0, {a.pixels - 1}], got {a.row}")
    y = 1.0 - (2.0 * a.row + 1.0) / a.pixels
    summary = run_example(a.pixels, a.dropped, seed=a.seed, restarts=a.restarts, bcd_restarts=a.bcd_restarts, y=y)
    print_table(summary)
    save_plot(summary, a.out)
    print(f"plot: {a.out}; total {time.perf_counter() - t0:.1f} s")
    if a.json:
        update_records(a.json, records(summary, "python examples/shepp_logan_cs.py " + " ".join(
            sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
