"""Combine the per-experiment result files into the two files the issues ask for.

docs/results/aoc.json     = every record of docs/results/aoc_*.json     (AOC twin: training, solver, examples)
docs/results/quaton.json  = every record of quaton_*.json and qpi*.json (QuATON: tables, QPI, demo)
Each record keeps the exact command that produced it; each part file is written by that command.
Run after any experiment (with quaton_fast installed): `python scripts/merge_results.py`. Writes atomically.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from quaton_fast._atomic import atomic_write_json

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
REQUIRED = ("task", "dataset", "method", "metric", "value", "split", "device", "command")
GROUPS = {"aoc.json": ["aoc_*.json"], "quaton.json": ["quaton_*.json", "qpi*.json"]}


def combine(patterns: list[str]) -> list[dict]:
    records = []
    for pattern in patterns:
        for part in sorted(RESULTS.glob(pattern)):
            for rec in json.loads(part.read_text()):
                missing = [k for k in REQUIRED if k not in rec] + ([] if ("levels" in rec or "model" in rec)
                                                                    else ["levels or model"])
                if missing:
                    sys.exit(f"merge_results: a record in {part.name} lacks {missing}: {rec}")
                records.append({**rec, "source": part.name})
    return records


def write_atomic(path: Path, records: list[dict]) -> None:
    atomic_write_json(records, path, indent=1)


def main() -> None:
    for target, patterns in GROUPS.items():
        records = combine(patterns)
        write_atomic(RESULTS / target, records)
        print(f"{target}: {len(records)} records")


if __name__ == "__main__":
    main()
