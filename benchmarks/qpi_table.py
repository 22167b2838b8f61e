"""QPI table: SSIM / MSE per quantization method on the synthetic RBC set and the real cell tiles.

One shared full-precision warm-up per dataset, then every method continues from a copy of the
warm-up model for the same number of epochs with the same batch order (seeded); 'fp' continues
in full precision, 'pq' trains in full precision and is rounded at evaluation. Evaluation always
uses hard-quantized masks (model.eval()). Writes the records to ``--json`` and a Markdown table to
``--fragment`` (both atomically, after every method, so a cut-short run keeps what it measured).

    OMP_NUM_THREADS=1 python benchmarks/qpi_table.py            # the default (CPU) configuration
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import sys
import time

import numpy as np
import torch

import quaton_fast as qf
from quaton_fast._atomic import atomic_write_text
from quaton_fast.data import load_dataset
from quaton_fast.nn import D2NN
from quaton_fast.reference.ssim import ssim as ssim_ref
from quaton_fast.train.qpi import evaluate_qpi, fit_readout, train_qpi

WAVELENGTH = 632.8e-9
OPTICS = dict(dx=WAVELENGTH / 2, wavelength=WAVELENGTH, z_in=3.373e-6, dz=3.373e-6, z_out=5.904e-6, pad=2)
LABELS = {"zero-prediction": "baseline ŷ = 0", "constant-prediction": "baseline ŷ = mean train target",
          "untrained": "untrained (free space + fitted s, b)", "fp": "FP", "pq": "PQ", "ste": "STE", "dsq": "DSQ", "gs": "GS", "psq-ft": "PSQ-FT",
          "psq-li": "PSQ-LI", "psq-lt": "PSQ-LT"}


def write_atomic(path, text: str) -> None:
    atomic_write_text(text, path)


def tensors(pair):
    return tuple(torch.from_numpy(a) for a in pair)


def run_dataset(args, dataset: str, methods: list[str], train, test, epochs_warm: int, epochs_qat: int,
                records: list, emit) -> None:
    n = args.grid
    model = D2NN(n=n, num_layers=args.layers, readout="qpi", quantizer=qf.quant.FullPrecision(), seed=args.seed,
                 init="zeros", **OPTICS)
    baseline = float(ssim_ref(np.zeros(test[1].shape), test[1].numpy().astype(np.float64)).mean())
    records.append(dict(task="qpi", dataset=dataset, method="zero-prediction", levels=None, metric="ssim",
                        value=round(baseline, 6), split="test", device=args.machine, command=args.command,
                        train_size=len(train[0]), test_size=len(test[0]), config=args.config,
                        config_text=args.config_text,
                        note="trivial baseline: prediction 0 everywhere (no network)"))
    records.append(dict(records[-1], metric="mse", value=round(float((test[1].double() ** 2).mean()), 6)))
    mean = float(train[1].double().mean())
    const = float(ssim_ref(np.full(test[1].shape, mean), test[1].numpy().astype(np.float64)).mean())
    records.append(dict(records[-1], method="constant-prediction", metric="ssim", value=round(const, 6),
                        note=f"trivial baseline: prediction = mean training target {mean:.4f} everywhere"))
    records.append(dict(records[-1], metric="mse", value=round(float(((test[1].double() - mean) ** 2).mean()), 6)))
    fit_readout(model, *train, device=args.device)
    untrained = evaluate_qpi(model, *test, device=args.device)
    for metric in ("ssim", "mse"):
        records.append(dict(records[-1], method="untrained", metric=metric, value=round(untrained[metric], 6),
                            note="no training: transparent masks (free-space propagation) and the least-squares "
                                 "read-out s, b"))
    warm = train_qpi(model, train, test, epochs=epochs_warm, loss=args.loss, batch_size=args.batch, lr=args.lr,
                     readout_lr=args.readout_lr, seed=args.seed, device=args.device, progress=False,
                     description=f"{dataset} warm-up")
    print(f"[{dataset}] FP warm-up {epochs_warm} epochs: SSIM {warm.test_ssim:.4f} ({warm.seconds:.0f} s)", flush=True)
    for method in methods:
        m = copy.deepcopy(model)
        quantizer = None if method == "fp" else qf.quant.make_quantizer(method, args.levels)
        res = train_qpi(m, train, test, epochs=epochs_qat, quantizer=quantizer, loss=args.loss,
                        batch_size=args.batch, lr=args.qat_lr, readout_lr=args.readout_lr, init_readout=False,
                        seed=args.seed + 1, device=args.device, progress=False, description=f"{dataset} {method}")
        check = evaluate_qpi(m, *test, device=args.device)  # hard masks, recomputed independently
        assert abs(check["ssim"] - res.test_ssim) < 1e-6, (check, res.test_ssim)
        print(f"[{dataset}] {LABELS[method]:7s} SSIM {res.test_ssim:.4f}  MSE {res.test_mse:.5f}  "
              f"({res.seconds:.0f} s)", flush=True)
        for metric, value in (("ssim", res.test_ssim), ("mse", res.test_mse)):
            records.append(dict(task="qpi", dataset=dataset, method=method, levels=None if method == "fp" else
                                args.levels, metric=metric, value=round(float(value), 6), split="test",
                                device=args.machine, command=args.command, warmup_epochs=epochs_warm,
                                qat_epochs=epochs_qat, train_size=len(train[0]),
                                test_size=len(test[0]), train_seconds=round(warm.seconds + res.seconds, 1),
                                final_train_loss=round(res.history[-1]["loss"], 6), config=args.config,
                                config_text=args.config_text))
        emit()


def fragment(records: list, args) -> str:
    """Markdown: one section per command (configuration, then a table per dataset)."""
    lines = ["## All-optical QPI: SSIM per quantization method (issue 4)", "",
             f"Machine: {args.machine}. Test metrics with hard-quantized masks (`model.eval()`); SSIM: 11×11 "
             "Gaussian window, σ = 1.5, data range 1, on the object window; MSE per image against φ/φ_max. "
             "Train time = the shared FP warm-up + the method's own epochs. One seed per row.", "",
             "Read every row against the three baselines: ŷ = 0 scores well on the RBC fields because most "
             "11×11 windows are background (target 0), a constant ŷ scores well on flat targets, and "
             "'untrained' is free-space propagation through transparent masks with the least-squares read-out "
             "s, b. A quantized design is worth making only where it beats them.", ""]
    for command in dict.fromkeys(r["command"] for r in records):
        run = [r for r in records if r["command"] == command]
        text = next((r["config_text"] for r in run if "config_text" in r), args.config_text)
        lines += [f"`{command}`", "", f"Configuration: {text}", ""]
        for dataset in dict.fromkeys(r["dataset"] for r in run):
            lines += _dataset_table([r for r in run if r["dataset"] == dataset], dataset)
    return "\n".join(lines)


def _dataset_table(run: list, dataset: str) -> list[str]:
    rows = [r for r in run if r["metric"] == "ssim"]
    mse = {r["method"]: r["value"] for r in run if r["metric"] == "mse"}
    last = rows[-1]
    lines = [f"**{dataset}** ({last['train_size']} train / {last['test_size']} test images; FP warm-up "
             f"{last.get('warmup_epochs', '?')} epochs, then {last.get('qat_epochs', '?')} epochs per method)", "",
             "| method | levels | test SSIM | test MSE | train time |", "|---|---|---|---|---|"]
    for r in rows:
        secs = f"{r['train_seconds']:.0f} s" if "train_seconds" in r else "–"
        lines.append(f"| {LABELS[r['method']]} | {r['levels'] or '–'} | {r['value']:.4f} | "
                     f"{mse[r['method']]:.5f} | {secs} |")
    lines.append("")
    ssim_of = {r["method"]: r["value"] for r in rows}
    if "pq" in ssim_of:
        checks = [f"{LABELS[m]} {ssim_of[m]:.4f} {'≥' if ssim_of[m] >= ssim_of['pq'] else '<'} PQ {ssim_of['pq']:.4f}"
                  for m in ("psq-ft", "psq-li", "psq-lt") if m in ssim_of]
        if checks:
            lines += [f"Claim PSQ ≥ PQ ({dataset}, {last['levels']} levels): " + "; ".join(checks) + ".", ""]
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--grid", type=int, default=32, help="neurons per side; also the object (field/tile) size")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--levels", type=int, default=4)
    p.add_argument("--rbc-train", type=int, default=512)
    p.add_argument("--rbc-test", type=int, default=128)
    p.add_argument("--rbc-radius", type=float, nargs=2, default=(4.0, 6.0), help="cell radius range, px")
    p.add_argument("--rbc-cells", type=int, nargs=2, default=(2, 4), help="cells per field, range")
    p.add_argument("--rbc-warmup", type=int, default=40)
    p.add_argument("--rbc-epochs", type=int, default=20, help="epochs per method after the shared warm-up")
    p.add_argument("--methods", default="fp,pq,ste,dsq,gs,psq-ft,psq-li,psq-lt")
    p.add_argument("--cells-methods", default="fp,pq,psq-ft", help="'' to skip the real cell tiles")
    p.add_argument("--cells-warmup", type=int, default=40)
    p.add_argument("--cells-epochs", type=int, default=20)
    p.add_argument("--loss", default="ssim", choices=["ssim", "mse", "berhu"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.2, help="Adam learning rate of the phases (rad)")
    p.add_argument("--readout-lr", type=float, default=0.02, help="Adam learning rate of the read-out s, b")
    p.add_argument("--qat-lr", type=float, default=None, help="phase learning rate after the warm-up (default --lr)")
    p.add_argument("--append", action="store_true", help="keep the records of other commands in --json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--machine", default="Intel Xeon, 2 cores (shared with other jobs at the time)")
    p.add_argument("--json", default="docs/results/qpi.json")
    p.add_argument("--fragment", default="runs/qpi_table.md")
    p.add_argument("--fragment-only", action="store_true",
                   help="rewrite --fragment from the records in --json (no training)")
    args = p.parse_args(argv)
    args.qat_lr = args.lr if args.qat_lr is None else args.qat_lr
    torch.set_num_threads(args.threads)
    args.command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0].replace(os.getcwd() + "/", ""),
                                                               *(argv if argv is not None else sys.argv[1:])])
    args.config = dict(grid=args.grid, layers=args.layers, pitch_m=OPTICS["dx"], wavelength_m=WAVELENGTH,
                       z_in_m=OPTICS["z_in"], dz_m=OPTICS["dz"], z_out_m=OPTICS["z_out"], pad=OPTICS["pad"],
                       loss=args.loss, batch=args.batch, lr=args.lr, qat_lr=args.qat_lr, readout_lr=args.readout_lr,
                       seed=args.seed,
                       optimizer="Adam", init="zeros", rbc_train=args.rbc_train, rbc_test=args.rbc_test,
                       rbc_radius_px=list(args.rbc_radius), rbc_cells_per_field=list(args.rbc_cells),
                       object_size=args.grid,
                       torch=torch.__version__, python=platform.python_version(), threads=args.threads)
    args.config_text = (
        f"{args.grid}×{args.grid} neurons, {args.layers} phase layers, λ = 632.8 nm, pitch λ/2 = 316.4 nm, "
        f"z_in = dz = 3.373 µm, z_out = 5.904 µm, pad 2; masks start transparent (init 'zeros'); input u0 = "
        f"exp(iφ) on the full grid (one image pixel per neuron), read-out s·|u|² + b (learnable, started at "
        f"the least-squares fit); loss {args.loss} ('ssim' = 1 − SSIM); Adam lr {args.lr} (phases; "
        f"{args.qat_lr} after the warm-up), "
        f"{args.readout_lr} (s, b), batch {args.batch}, seed "
        f"{args.seed}, {args.threads} thread(s). RBC: {args.rbc_train} train / {args.rbc_test} test synthetic "
        f"{args.grid}×{args.grid} fields ({args.rbc_cells[0]}–{args.rbc_cells[1]} non-overlapping Evans–Fung "
        f"cells per field, radius {args.rbc_radius[0]:g}–{args.rbc_radius[1]:g} px, ellipticity 0.8–1, "
        f"φ_peak ∈ [1, 3] rad, targets φ/3), shared FP warm-up {args.rbc_warmup} epochs + "
        f"{args.rbc_epochs} epochs per method. Cells: skimage.data.cell() cut into non-overlapping "
        f"{args.grid}×{args.grid} tiles, seeded 80/20 split of the tiles, each tile's gray range mapped to phase "
        f"[0, π] (normalize='tile'), warm-up "
        f"{args.cells_warmup} + {args.cells_epochs} epochs. Levels: {args.levels} uniform over 2π; quantizer "
        "options are the library defaults (`qf.quant.make_quantizer(name, levels)`).")
    if args.fragment_only:  # the configuration text comes from the records, else from these arguments
        with open(args.json) as fh:
            records = json.load(fh)
        args.command, args.machine = records[0]["command"], records[0]["device"]
        args.config_text = records[0].get("config_text", args.config_text)
        write_atomic(args.fragment, fragment(records, args) + "\n")
        return 0
    kept: list = []
    if args.append and os.path.exists(args.json):
        with open(args.json) as fh:
            kept = [r for r in json.load(fh) if r["command"] != args.command]
    records: list = []

    def emit():
        write_atomic(args.json, json.dumps(kept + records, indent=1) + "\n")
        write_atomic(args.fragment, fragment(kept + records, args) + "\n")

    t0 = time.perf_counter()
    methods = [m for m in args.methods.split(",") if m]
    if methods:
        kw = dict(size=args.grid, seed=args.seed, radius_px=tuple(args.rbc_radius), cells_per_field=tuple(args.rbc_cells))
        rbc_train = tensors(load_dataset("rbc", "train", count=args.rbc_train, **kw))
        rbc_test = tensors(load_dataset("rbc", "test", count=args.rbc_test, **kw))
        run_dataset(args, "rbc", methods, rbc_train, rbc_test, args.rbc_warmup, args.rbc_epochs, records, emit)
    cell_methods = [m for m in args.cells_methods.split(",") if m]
    if cell_methods:
        cells_train = tensors(load_dataset("cells", "train", tile=args.grid, seed=args.seed))
        cells_test = tensors(load_dataset("cells", "test", tile=args.grid, seed=args.seed))
        run_dataset(args, "cells", cell_methods, cells_train, cells_test, args.cells_warmup, args.cells_epochs,
                    records, emit)
    print(f"total {time.perf_counter() - t0:.0f} s; wrote {args.json} and {args.fragment}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
