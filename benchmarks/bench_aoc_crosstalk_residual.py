"""Effective-matrix residual of the AOC twin with the photodiode-crosstalk pre-compensation (issue 27).

For each calibration file and cell width (16 and the file's channel count): ``calibration_residual``
(20 random symmetric W with both signs, beta = 1, 2,000 states uniform in [-1, 1]; relative error of
the fitted ``J_eff`` against ``beta W``) of

* ``calibrated``                       ``calibrate(hw, width=n)`` (the default operator profile),
* ``calibrated+crosstalk``             ``calibrate(hw, width=n, crosstalk=True)``,
* ``calibrated+crosstalk without cal_X`` one calibration off at a time (the others' data kept),
* ``calibrated, pd_crosstalk off``     the machine without crosstalk at all: what no crosstalk
                                        correction can beat,

plus, for ``calibrated+crosstalk``, the share of programmed entries where the exact inverse needed a
negative transmission (the shared shift is active) and where it was clipped at full transmission.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_aoc_crosstalk_residual.py \
           --profiles ../shared/data/aoc_hardware/June2024_saturation_pieces_clip2p6.yaml,../shared/data/aoc_hardware/April2025_corrected_pd_3.yaml \
           [--out docs/results/aoc_hardware.json]
Records (``method`` = ``aoc-hw-crosstalk-residual``) replace earlier records of this method in --out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from quaton_fast._atomic import atomic_write_json
from quaton_fast.reference.aoc_hardware import programmed_weights
from quaton_fast.reference.aoc_hardware_calibration import calibrate, calibration_residual, random_symmetric
from quaton_fast.reference.aoc_hardware_profile import AOCHardware

METHOD = "aoc-hw-crosstalk-residual"


def shift_and_clip_share(hw: AOCHardware, systems: int = 20, seed: int = 1):
    """(share of entries with the shared shift active, share clipped at 1) over random symmetric W."""
    W = random_symmetric(hw.n_channels, systems, seed)
    Wn = W / np.abs(W).reshape(systems, -1).max(axis=1)[:, None, None]
    _, _, aux = programmed_weights(np.maximum(Wn, 0.0), np.maximum(-Wn, 0.0), hw)
    if aux is None:
        return 0.0, 0.0
    shift = float(np.mean(aux["sel_a"] + aux["sel_b"]))
    clip = float(np.mean(np.concatenate([1 - aux["mask_p"], 1 - aux["mask_m"]])))
    return shift, clip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", required=True, help="comma-separated calibration files")
    ap.add_argument("--out", default="docs/results/aoc_hardware.json")
    a = ap.parse_args(argv)
    paths = [p for p in a.profiles.split(",") if p]
    for p in paths:
        if not os.path.isfile(p):
            print(f"bench_aoc_crosstalk_residual: option --profiles: no such file {p!r}", file=sys.stderr)
            return 2
    command = "OMP_NUM_THREADS=1 python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:]))
    recs = []
    t0 = time.time()
    for path in paths:
        released = AOCHardware.from_yaml(path)
        for n in sorted({16, released.n_channels}):
            base = calibrate(released, width=n)
            xt = calibrate(released, width=n, crosstalk=True)
            profs = [("calibrated", base), ("calibrated+crosstalk", xt)]
            profs += [(f"calibrated+crosstalk without {k}", xt.with_calibrations(**{k: False}))
                      for k, v in xt.calibrations.items() if v]
            profs.append(("calibrated, pd_crosstalk off", calibrate(released.with_effects(pd_crosstalk=False), width=n)))
            shift, clip = shift_and_clip_share(xt)
            for pname, prof in profs:
                r = calibration_residual(prof, systems=20, samples=2000)
                rec = {"task": "aoc-hw-effective-matrix", "method": METHOD, "metric": "rel_error_max",
                       "value": r["rel_error_max"], "profile": pname, "profile_file": os.path.relpath(path),
                       "width": n, **r, "command": command}
                if pname == "calibrated+crosstalk":
                    rec.update(shift_share=shift, clip_share=clip)
                recs.append(rec)
                print(f"{os.path.basename(path)} width {n} {pname:52s} "
                      + " ".join(f"{k} {v:.4f}" for k, v in r.items()), flush=True)
            print(f"  shared shift active on {shift:.3f} of the entries, clipped at 1 on {clip:.4f}", flush=True)
    print(f"total {time.time() - t0:.1f} s")
    old = []
    if os.path.isfile(a.out):
        with open(a.out) as fh:
            old = [r for r in json.load(fh) if r.get("method") != METHOD]
    atomic_write_json(old + recs, a.out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
