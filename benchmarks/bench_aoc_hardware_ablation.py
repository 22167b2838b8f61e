"""Which calibration / which effect limits a trained equilibrium model on the calibrated twin (issue 27).

Loads the selected (best-validation) weights of a finished ``quaton-fast aoc-train`` run and evaluates
its 9-bit test metric (MSE for regression, accuracy for classification) on: the ideal twin, the
released profile, the calibrated profile, the calibrated profile with one calibration switched off
at a time, the profile recalibrated with one non-ideal effect switched off at a time, and recalibrated
with the fitted curve as the only effect (the curve's shape alone).

Usage (after the ideal-trained run of docs/aoc_hardware.md):
  OMP_NUM_THREADS=1 python benchmarks/bench_aoc_hardware_ablation.py --task gauss --model 256 \
      --checkpoint runs/aoc_hw/gauss_256_seed0-6058234fb3.pt \
      --profile ../shared/data/aoc_hardware/June2024_saturation_pieces_clip2p6.yaml \
      [--crosstalk] [--out docs/results/aoc_hardware.json]
``--crosstalk``: "calibrated" also pre-compensates the photodiode crosstalk (``calibrate(crosstalk=True)``,
the CLI's ``--hardware-calibration operator+crosstalk``); the ablations are then taken from that profile.
Records (``method`` = ``aoc-dt-hardware-ablation``, one per profile) are merged into --out, replacing
earlier records of the same task, model and checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from quaton_fast._atomic import atomic_write_json
from quaton_fast.aoc.splits import load_splits
from quaton_fast.aoc.train import build_model
from quaton_fast.aoc.hardware import HardwareTwin
from quaton_fast.reference.aoc_hardware_calibration import calibrate
from quaton_fast.reference.aoc_hardware_profile import AOCHardware

METHOD = "aoc-dt-hardware-ablation"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, choices=("gauss", "sine", "mnist", "fashion"))
    ap.add_argument("--model", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-gain", type=float, default=0.4)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--quant-mode", default="maxabs")
    ap.add_argument("--out", default="docs/results/aoc_hardware.json")
    ap.add_argument("--crosstalk", action="store_true",
                    help="calibrate with the photodiode-crosstalk pre-compensation (cal_crosstalk)")
    a = ap.parse_args(argv)
    for opt, p in (("--checkpoint", a.checkpoint), ("--profile", a.profile)):
        if not os.path.isfile(p):
            print(f"bench_aoc_hardware_ablation: option {opt}: no such file {p!r}", file=sys.stderr)
            return 2
    st = torch.load(a.checkpoint, weights_only=False, map_location="cpu")
    model = build_model(a.task, a.model, a.seed, max_gain=a.max_gain if a.max_gain > 0 else None)
    model.load_state_dict(st["best"]["model"] if st.get("best") else st["model"])
    (_, _, (xs, ys)), dataset = load_splits(a.task, seed=a.seed)
    reg = a.task in ("gauss", "sine")
    model.eval()

    def metric(hw):
        model.hardware = None if hw is None else HardwareTwin(hw, unconverged="zero")
        with torch.no_grad(), model.quantized(a.quant_mode):
            out = torch.cat([model(xs[i:i + 1000]) for i in range(0, len(xs), 1000)])
        return float(((out - ys) ** 2).mean()) if reg else float((out.argmax(1) == ys).float().mean())

    rel = AOCHardware.from_yaml(a.profile)
    cal = calibrate(rel, width=model.width, crosstalk=a.crosstalk)
    profs = [("ideal", None), ("released", rel), ("calibrated", cal)]
    profs += [(f"calibrated without {k}", cal.with_calibrations(**{k: False})) for k, v in cal.calibrations.items() if v]
    profs += [(f"recalibrated with effect {e} off", calibrate(rel.with_effects(**{e: False}), width=model.width,
                                                                         crosstalk=a.crosstalk))
              for e, v in rel.effects.items() if v and e not in ("input_clamp", "slm_darkness", "led_dc_offset")]
    # the fitted curve alone (every other effect off, recalibrated): what a tanh-trained model loses to
    # the machine's saturating curve itself, which no calibration of the optics removes
    only = rel.with_effects(**{e: False for e, v in rel.effects.items()
                               if v and e not in ("fitted_nonlinearity", "input_clamp")})
    profs.append(("recalibrated with only fitted_nonlinearity (and input_clamp) on",
                  calibrate(only, width=model.width, crosstalk=a.crosstalk)))
    command = "OMP_NUM_THREADS=1 python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:]))
    recs = []
    for name, hw in profs:
        v = metric(hw)
        print(f"{dataset} {a.model} 9-bit test {'mse' if reg else 'accuracy'} on {name:45s} {v:.5f}", flush=True)
        recs.append({"task": a.task, "dataset": dataset, "model": a.model, "method": METHOD, "split": "test",
                     "levels": "9bit", "metric": "mse" if reg else "accuracy", "value": v, "profile": name,
                     "profile_file": os.path.relpath(a.profile), "checkpoint": a.checkpoint,
                     "calibration": "operator+crosstalk" if a.crosstalk else "operator",
                     "trained_on": "ideal" if "hardware" not in json.dumps(st.get("settings", {})) else "see checkpoint",
                     "command": command})
    old = []
    if os.path.isfile(a.out):
        with open(a.out) as fh:
            old = [r for r in json.load(fh) if not (r.get("method") == METHOD and r.get("task") == a.task
                                                     and r.get("model") == a.model
                                                     and r.get("checkpoint") == a.checkpoint
                                                     and r.get("calibration", "operator") == recs[0]["calibration"])]
    atomic_write_json(old + recs, a.out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
