"""Seed-to-seed spread of the QAT comparison: accuracy per method × seed at one level count, the
mean ± sample standard deviation over seeds, the binomial standard error of one accuracy on the
test set, and paired differences (PSQ schedule − competitor, same seed) with a Student-t interval.

Input: sweep records (``task, dataset, method, levels, metric, value, seed, n_test``), e.g. the
seed-0 table ``docs/results/quaton_table.json`` and ``docs/results/quaton_seeds.json``. Accuracies
are fractions in the records and percent (points) in the Markdown.

Usage::

    # gather the records of finished sweeps (one --root each) into one JSON file
    python -m quaton_fast.report.seed_table collect runs/mnist_seed1 runs/mnist_seed2 \\
        --machine "..." --out docs/results/quaton_seeds.json
    # the Markdown table of every seed found in the given record files
    python -m quaton_fast.report.seed_table table docs/results/quaton_table.json docs/results/quaton_seeds.json
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from scipy import stats

from .._atomic import atomic_write_json
from .._safe_json import read_json
from .._validation import fail, plain_scalar

PSQ_PREFIX = "PSQ"
BEST_PSQ = "best PSQ"  # the PSQ schedule with the highest accuracy of each seed (chosen on the test split)


def accuracies_by_seed(records: list[dict], *, levels: int, dataset: str = "MNIST") -> dict[str, dict[int, float]]:
    """``{method: {seed: accuracy}}`` of the test-accuracy records of ``dataset`` at ``levels`` levels;
    FP (``levels`` None, continuous phase) is included. Methods keep their first-seen order.
    A (method, seed) given twice with different values is an error (two different runs)."""
    out: dict[str, dict[int, float]] = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            fail("accuracies_by_seed", f"records[{i}]", "a dict", type(r).__name__, TypeError)
        if r.get("dataset") != dataset or r.get("metric") != "accuracy" or r.get("split") != "test":
            continue
        if r.get("levels") not in (None, levels):
            continue
        if "seed" not in r or isinstance(r["seed"], bool) or not isinstance(r["seed"], int):
            fail("accuracies_by_seed", f"records[{i}]['seed']", "an int", repr(r.get("seed")), ValueError)
        value = r.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            fail("accuracies_by_seed", f"records[{i}]['value']", "an accuracy in [0, 1]", repr(value))
        per_seed = out.setdefault(r["method"], {})
        if r["seed"] in per_seed and per_seed[r["seed"]] != value:
            fail("accuracies_by_seed", "records", "one accuracy per (method, seed)",
                 f"{r['method']} seed {r['seed']} twice: {per_seed[r['seed']]} and {value}")
        per_seed[r["seed"]] = float(value)
    return out


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    """(mean, sample standard deviation with n − 1); the s.d. is None for a single value."""
    if len(values) == 0:
        fail("mean_sd", "values", "at least one value", "an empty list")
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def binomial_se(p: float, n: int) -> float:
    """Standard error sqrt(p (1 − p) / n) of an accuracy ``p`` measured on ``n`` test images."""
    p, n = plain_scalar(p), plain_scalar(n)
    if not 0.0 <= p <= 1.0:
        fail("binomial_se", "p", "in [0, 1]", p)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        fail("binomial_se", "n", "an int >= 1", repr(n))
    return math.sqrt(p * (1.0 - p) / n)


def paired_differences(acc: dict[str, dict[int, float]], method: str, versus: str) -> dict[int, float]:
    """``{seed: acc[method] − acc[versus]}`` over the seeds both methods have; ``method`` may be
    ``BEST_PSQ`` (per seed the best of the PSQ-* schedules, which selects on the test split)."""
    if versus not in acc:
        fail("paired_differences", "versus", f"one of {sorted(acc)}", repr(versus))
    if method == BEST_PSQ:
        a = {s: v for s, (_, v) in best_psq(acc).items()}
    elif method in acc:
        a = acc[method]
    else:
        fail("paired_differences", "method", f"one of {sorted(acc) + [BEST_PSQ]}", repr(method))
    return {s: a[s] - acc[versus][s] for s in sorted(a) if s in acc[versus]}


def best_psq(acc: dict[str, dict[int, float]]) -> dict[int, tuple[str, float]]:
    """``{seed: (schedule, accuracy)}``: the best PSQ-* schedule of each seed (ties: first in order)."""
    schedules = [m for m in acc if m.startswith(PSQ_PREFIX)]
    if not schedules:
        fail("best_psq", "acc", "at least one PSQ-* method", sorted(acc))
    out: dict[int, tuple[str, float]] = {}
    for seed in sorted({s for m in schedules for s in acc[m]}):
        have = [(m, acc[m][seed]) for m in schedules if seed in acc[m]]
        out[seed] = max(have, key=lambda mv: mv[1])
    return out


def t_interval(diffs: list[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Two-sided Student-t interval of the mean of ``diffs`` (None for fewer than 2 values)."""
    if not 0.0 < confidence < 1.0:
        fail("t_interval", "confidence", "in (0, 1)", confidence)
    m, sd = mean_sd(diffs)
    if sd is None:
        return None
    half = stats.t.ppf(0.5 + confidence / 2, len(diffs) - 1) * sd / math.sqrt(len(diffs))
    return m - half, m + half


def _pct(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "—"
    return f"{100 * v:+.2f}" if signed else f"{100 * v:.2f}"


def _mean_sd_text(values: list[float], signed: bool = False) -> str:
    m, sd = mean_sd(values)
    return _pct(m, signed) + ("" if sd is None else f" ± {100 * sd:.2f}")


def markdown(records: list[dict], *, levels: int, dataset: str = "MNIST",
             versus: tuple[str, ...] = ("GS",)) -> str:
    """The accuracy table (method × seed, mean ± s.d., binomial s.e.) and the paired differences
    of every PSQ schedule and of the per-seed best PSQ against each method in ``versus``."""
    acc = accuracies_by_seed(records, levels=levels, dataset=dataset)
    if set(acc) <= {"FP"}:  # FP alone (no levels) is no comparison
        fail("markdown", "records", f"test-accuracy records of quantized methods on {dataset} at {levels} levels",
             f"none (methods found: {sorted(acc)})")
    n_tests = {r["n_test"] for r in records if r.get("dataset") == dataset and r.get("metric") == "accuracy"
               and r.get("levels") in (None, levels) and "n_test" in r}
    if len(n_tests) != 1:
        fail("markdown", "records", "one test-set size (field 'n_test') across the records", sorted(n_tests))
    n_test = n_tests.pop()
    seeds = sorted({s for per in acc.values() for s in per})
    head = "| " + " | ".join(f"seed {s}" for s in seeds) + " |"
    lines = [f"### {dataset}: test accuracy (%) at {levels} levels, hard-quantized masks, {len(seeds)} seeds",
             "", "| method " + head + " mean ± s.d. | binomial s.e. of one run |",
             "|---|" + "---:|" * (len(seeds) + 2)]
    for m, per in acc.items():
        vals = list(per.values())
        name = f"{m} (continuous phase)" if m == "FP" else m
        lines.append(f"| {name} | " + " | ".join(_pct(per.get(s)) for s in seeds) +
                     f" | {_mean_sd_text(vals)} | {100 * binomial_se(mean_sd(vals)[0], n_test):.2f} |")
    schedules = [m for m in acc if m.startswith(PSQ_PREFIX)]
    if schedules:
        picks = best_psq(acc)
        lines += ["", f"Best PSQ schedule per seed (picked on the test split): " +
                  ", ".join(f"seed {s} {m}" for s, (m, _) in picks.items()) + ".", "",
                  f"### Paired differences (points, same seed, same {n_test} test images)", "",
                  "| difference " + head + " mean ± s.d. | 95 % t-interval of the mean |",
                  "|---|" + "---:|" * (len(seeds) + 2)]
        for other in versus:
            if other not in acc:
                continue
            for m in [*schedules, BEST_PSQ]:
                d = paired_differences(acc, m, other)
                if not d:
                    continue
                ci = t_interval(list(d.values()))
                ci_text = "—" if ci is None else f"[{_pct(ci[0], True)}, {_pct(ci[1], True)}]"
                lines.append(f"| {m} − {other} | " + " | ".join(_pct(d.get(s), True) for s in seeds) +
                             f" | {_mean_sd_text(list(d.values()), True)} | {ci_text} |")
    return "\n".join(lines) + "\n"


def collect(roots: list[str | Path], machine: str, notes: dict[str, str] | None = None) -> list[dict]:
    """The records of finished sweeps: ``<root>/table.json`` with the sweep's command
    (``<root>/sweep.json``) and ``machine`` added to each record, and ``notes[root]`` as field
    ``note`` where given."""
    notes = dict(notes or {})
    unknown = sorted(set(notes) - {str(r) for r in roots})
    if unknown:
        fail("collect", "notes", f"keys among the roots {[str(r) for r in roots]}", unknown)
    out: list[dict] = []
    for root in map(Path, roots):
        table, sweep = root / "table.json", root / "sweep.json"
        for p in (table, sweep):
            if not p.is_file():
                fail("collect", "roots", "directories of finished sweeps (table.json and sweep.json)",
                     f"{root} without {p.name}", FileNotFoundError)
        command = read_json("collect", sweep, nonfinite=False, expect=dict).get("command", "")
        for rec in read_json("collect", table, nonfinite=True, expect=list):
            out.append({**rec, "sweep_command": command, "machine": machine,
                        **({"note": notes[str(root)]} if str(root) in notes else {})})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m quaton_fast.report.seed_table", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="gather the records of finished sweeps into one JSON file")
    c.add_argument("roots", nargs="+", help="sweep --root directories")
    c.add_argument("--machine", required=True, help="machine description stored in each record")
    c.add_argument("--out", required=True, help="JSON file to write (atomically)")
    c.add_argument("--note", action="append", default=[], metavar="ROOT=TEXT", help="a note for one root's records")
    t = sub.add_parser("table", help="print the Markdown seed table of the given record files")
    t.add_argument("files", nargs="+", help="JSON files, each a list of records")
    t.add_argument("--levels", type=int, default=4)
    t.add_argument("--dataset", default="MNIST")
    t.add_argument("--versus", nargs="+", default=["GS"], help="methods the PSQ schedules are compared with")
    args = p.parse_args(argv)
    try:
        if args.cmd == "collect":
            notes = dict(n.split("=", 1) for n in args.note if "=" in n)
            if len(notes) != len(args.note):
                fail("seed_table", "--note", "ROOT=TEXT", [n for n in args.note if "=" not in n])
            recs = collect(args.roots, args.machine, notes)
            atomic_write_json(recs, args.out, indent=1)
            print(f"wrote {len(recs)} records to {args.out}")
        else:
            records = [r for f in args.files for r in read_json("seed_table", f, nonfinite=True, expect=list)]
            print(markdown(records, levels=args.levels, dataset=args.dataset, versus=tuple(args.versus)), end="")
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f"seed_table: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
