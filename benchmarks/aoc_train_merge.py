"""Merge the per-run JSONs of benchmarks/aoc_train_sweep.sh into docs/results/aoc_train.json and print
the Markdown table of docs/results.md ("AOC equilibrium models").

For every (task, model) the run (learning rate) with the best float *validation* metric is marked
``"selected": true``; test numbers are only read off, never used to choose.

    python benchmarks/aoc_train_merge.py [--runs runs/aoc_train] [--out docs/results/aoc_train.json]
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from quaton_fast._atomic import atomic_write_text


def _atomic_write(path, text: str) -> None:
    atomic_write_text(text, path)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", default="runs/aoc_train")
    p.add_argument("--repeats", default="runs/aoc_train_seed1",
                   help="runs of a selected configuration with another seed (recorded, never selected)")
    p.add_argument("--out", default="docs/results/aoc_train.json")
    p.add_argument("--machine", default="Intel Xeon, 2 cores (shared with other jobs at the time)")
    a = p.parse_args()
    runs = []
    for f in sorted(Path(a.runs).glob("*.json")):
        recs = json.loads(f.read_text())
        runs.append(recs)
    groups = defaultdict(list)
    for recs in runs:
        r0 = recs[0]
        val = next(r["value"] for r in recs if r["split"] == "val" and r["levels"] == "float")
        groups[(r0["task"], r0["model"])].append((val, recs))
    out = []
    rows = []
    for (task, model), lst in sorted(groups.items()):
        reg = lst[0][1][0]["metric"] == "mse"
        best = min(lst, key=lambda t: t[0]) if reg else max(lst, key=lambda t: t[0])
        for val, recs in lst:
            sel = recs is best[1]
            for r in recs:
                out.append({**r, "selected": sel})
            get = {(r["levels"], r["split"]): r["value"] for r in recs}
            r0 = recs[0]
            fmt = (lambda v: f"{v:.2e}") if reg else (lambda v: f"{100 * v:.2f}")
            cost = (get[("9bit", "test")] - get[("float", "test")]) * (1 if reg else -100)
            cost_s = (f"{cost:+.1e}" if reg else ("0" if abs(cost) < 5e-3 else f"{cost:+.2f}"))
            rows.append(
                f"| {r0['dataset']} | {model} | {r0['lr']:g}{' cosine' if r0.get('lr_schedule') == 'cosine' else ''} | {r0['selected_epoch']}/{r0['epochs']} | "
                f"{fmt(get[('float', 'val')])} | {fmt(get[('9bit', 'val')])} | "
                f"{fmt(get[('float', 'test')])} | {fmt(get[('9bit', 'test')])} | "
                f"{cost_s} | {r0['train_time_s'] / 60:.0f} | {'**yes**' if sel else 'no'} |")
    rep_rows = []
    for f in sorted(Path(a.repeats).glob("*.json")) if Path(a.repeats).is_dir() else []:
        recs = json.loads(f.read_text())
        out.extend({**r, "selected": False, "seed_repeat": True} for r in recs)
        get = {(r["levels"], r["split"]): r["value"] for r in recs}
        r0 = recs[0]
        fmt = (lambda v: f"{v:.2e}") if r0["metric"] == "mse" else (lambda v: f"{100 * v:.2f}")
        sch = " cosine" if r0.get("lr_schedule") == "cosine" else ""
        rep_rows.append(f"| {r0['dataset']} | {r0['model']} | {r0['lr']:g}{sch} | {r0['seed']} | "
                        f"{r0['selected_epoch']}/{r0['epochs']} | {fmt(get[('float', 'val')])} | "
                        f"{fmt(get[('float', 'test')])} | {fmt(get[('9bit', 'test')])} |")
    for r in out:  # the per-epoch history once per run (in its float validation record)
        r["machine"] = a.machine
        if (r["levels"], r["split"]) != ("float", "val"):
            r.pop("val_history", None)
    _atomic_write(Path(a.out), "[\n" + ",\n".join(json.dumps(r) for r in out) + "\n]\n")
    print("| dataset | model | lr | epoch (sel./run) | val float | val 9-bit | test float | test 9-bit | "
          "9-bit cost | train min | selected |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if rep_rows:
        print("\n| dataset | model | lr | seed | epoch (sel./run) | val float | test float | test 9-bit |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(rep_rows))
    print(f"\n{len(out)} records -> {a.out}")


if __name__ == "__main__":
    main()
