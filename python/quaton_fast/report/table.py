"""The combined sweep table: Markdown (method × levels per dataset, configuration, commands) and
JSON records (task, dataset, method, levels, metric, value, split, device, command)."""
from __future__ import annotations

from pathlib import Path

from .._atomic import atomic_write_json, atomic_write_text
from .._safe_json import read_json


def collect_records(runs, root: Path) -> tuple[list[dict], list[dict], list[str]]:
    """(records, results, missing run names) of the planned ``runs`` under ``root``."""
    records, results, missing = [], [], []
    for r in runs:
        path = r.directory(root) / "result.json"
        if not path.is_file():
            missing.append(r.name)
            continue
        res = read_json("collect_results", path, nonfinite=True, expect=dict)
        results.append(res)
        for rec in res["records"]:
            records.append({**rec, "run_dir": str(r.directory(root))})
    return records, results, missing


def _fmt(v: float | None, metric: str = "accuracy") -> str:
    if v is None:
        return "—"
    return f"{100 * v:.2f}" if metric == "accuracy" else f"{v:.4f}"


def markdown(records: list[dict], results: list[dict], sweep_command: str, missing: list[str]) -> str:
    """One table per (dataset, metric) with hard-quantized masks: accuracy in %, other metrics
    (e.g. SSIM of a QPI task) as they are."""
    lines: list[str] = []
    for ds, metric in dict.fromkeys((r["dataset"], r["metric"]) for r in records):
        recs = [r for r in records if r["dataset"] == ds and r["metric"] == metric]
        levels = sorted({r["levels"] for r in recs if r["levels"] is not None})
        methods = list(dict.fromkeys(r["method"] for r in recs))
        n_test = {r.get("n_test") for r in recs}
        what = "accuracy (%)" if metric == "accuracy" else metric
        lines += [f"### {ds}: test {what}, hard-quantized masks, {'/'.join(str(n) for n in n_test)} test images",
                  "", "| method | " + " | ".join(f"{lv} levels" for lv in levels) + " |",
                  "|---|" + "---|" * len(levels)]
        for m in methods:
            row = {r["levels"]: r["value"] for r in recs if r["method"] == m}
            if None in row:  # FP: no levels
                lines.append(f"| {m} (continuous phase) | " + " | ".join(_fmt(row[None], metric) for _ in levels) + " |")
            else:
                lines.append(f"| {m} | " + " | ".join(_fmt(row.get(lv), metric) for lv in levels) + " |")
        lines.append("")
        best = _best_psq(recs, 4) if metric == "accuracy" else ""
        if best:
            lines.append(best)
            lines.append("")
    if missing:
        lines += [f"Not finished: {', '.join(missing)}.", ""]
    lines += _configuration(results, sweep_command)
    return "\n".join(lines) + "\n"


def _best_psq(recs: list[dict], levels: int) -> str:
    at = {r["method"]: r["value"] for r in recs if r["levels"] == levels}
    psq = {m: v for m, v in at.items() if m.startswith("PSQ")}
    if not psq or "PQ" not in at:
        return ""
    m, v = max(psq.items(), key=lambda kv: kv[1])
    others = ", ".join(f"{k} {100 * at[k]:.2f}" for k in ("STE", "DSQ", "GS") if k in at)
    return (f"At {levels} levels the best PSQ schedule is {m}: {100 * v:.2f} % vs PQ {100 * at['PQ']:.2f} % "
            f"({100 * (v - at['PQ']):+.2f} points); {others}.")


def _configuration(results: list[dict], sweep_command: str) -> list[str]:
    if not results:
        return [f"Command: `{sweep_command}`"]
    fp = next((r for r in results if r["method"] == "FP"), results[0])
    if "geometry" not in fp or "data" not in fp:  # a task whose results do not describe the D2NN
        return [f"Command: `{sweep_command}`"]
    g, c = fp["geometry"], fp["config"]
    qat = next((r for r in results if r["method"] not in ("FP", "PQ")), None)
    qat_epochs = qat["config"]["epochs"] if qat else None
    lines = ["**Configuration.**",
             f"- Network: phase-only D2NN, preset `{c['preset']}` shrunk: {g['n']}×{g['n']} neurons, {g['layers']} layers, "
             f"pitch {g['dx_m'] * 1e9:.1f} nm, wavelength {g['wavelength_m'] * 1e9:.1f} nm, distances input→layer 1 "
             f"{g['z_in_m'] * 1e6:.3f} µm, between layers {g['dz_m'] * 1e6:.3f} µm, last layer→detector "
             f"{g['z_out_m'] * 1e6:.3f} µm; FFT padding ×{g['pad']}; images resized to {g['object_size']}×{g['object_size']} "
             f"px, {_readout_text(fp)}",
             f"- Data: {fp['data']}.",
             f"- Training: Adam lr {c['lr']}, batch {c['batch']}, seed {c['seed']}; FP run {c['epochs']} epochs; " +
             (f"every QAT method starts from the FP model after {c['epochs'] - qat_epochs} warm-up "
              f"epoch{'' if c['epochs'] - qat_epochs == 1 else 's'} and "
              f"trains {qat_epochs} QAT epoch{'' if qat_epochs == 1 else 's'}; " if qat_epochs is not None else "no QAT run finished; ") +
             f"PQ = the final FP model rounded to the nearest level (no training). "
             f"Quantizer settings: library defaults unless the command says otherwise. Test: hard-quantized masks "
             f"(eval mode) on every test image; nothing was tuned on the test split.",
             f"- Device: {fp['device']}; torch {fp['torch']}.",
             "", f"Command: `{sweep_command}`", "",
             "Each row's own `quaton-fast train` command is in the JSON records (`command`)."]
    return lines


def _readout_text(result: dict) -> str:
    if any(r.get("task") == "qpi" for r in result.get("records", [])):
        return ("phase objects exp(iφ) (one image pixel per neuron), masks start transparent, read-out s·|u|² + b "
                "(least-squares start, trained at lr/10); loss 1 − SSIM; SSIM with an 11×11 Gaussian window "
                "(σ 1.5, data range 1) and MSE per image against φ/φ_max.")
    return "phase objects exp(iπI); 10 square detectors (3-4-3)."


def write_tables(runs, root: Path, sweep_command: str, md_path: str | None = None,
                 json_path: str | None = None) -> list[Path]:
    """Write ``root/table.md`` and ``root/table.json`` (and copies at the given paths)."""
    records, results, missing = collect_records(runs, root)
    text = markdown(records, results, sweep_command, missing)
    paths = [root / "table.md", root / "table.json"]
    atomic_write_text(text, paths[0])
    atomic_write_json(records, paths[1])
    if md_path:
        atomic_write_text(text, md_path)
        paths.append(Path(md_path))
    if json_path:
        atomic_write_json(records, json_path)
        paths.append(Path(json_path))
    return paths
