"""Options of ``quaton-fast aoc-train`` for the non-ideal twin (kept apart from cli/aoc_train.py).

``--hardware FILE.yaml|ideal``: train (and select the epoch) through that twin (default ideal).
``--eval-hardware FILE.yaml|ideal``: additionally evaluate the selected model on the test set through
this twin (float and 9-bit) and, for classification, the agreement rate of the 9-bit predicted classes
between the training twin and this one; so ``--eval-hardware June2024...yaml`` alone gives the
ideal-trained model on the ideal twin and on the machine in one command.
``--hardware-off EFFECT,...``: switch effects (or operator calibrations, ``cal_*``) off in both
profiles (ablations).
``--hardware-calibration operator|operator+crosstalk|released``: a calibration file is run as an
operator runs the machine (default, ``calibrate()``: dark floor, gains, SLM pre-compensation, state
scale, closed loop; issue 27), the same plus the photodiode-crosstalk pre-compensation
(``operator+crosstalk``), or as released (uncalibrated; the behaviour before issue 27).
``--readout-noise SIGMA`` [V], ``--readout-samples 40``, ``--readout-repeats 1``: read-out noise on the
sampled fixed point of the evaluation twin (test evaluation only).
"""
from __future__ import annotations

import argparse
from typing import Dict, List, Optional

import torch

from . import _types as _A
from ..aoc.hardware import CALIBRATION_MODES, CALIBRATIONS, EFFECTS, HardwareFileError, HardwareTwin, load_profile

__all__ = ["add_arguments", "setup", "record_fields", "eval_records"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hardware twin: the measured non-idealities of the analog optical computer")
    g.add_argument("--hardware", default=None, metavar="FILE.yaml|ideal",
                   help="train through the non-ideal twin of this calibration file (default: ideal twin)")
    g.add_argument("--eval-hardware", default=None, metavar="FILE.yaml|ideal",
                   help="also evaluate the test set through this twin (transfer gap, agreement rate; default: no "
                        "second evaluation)")
    g.add_argument("--hardware-off", default="", metavar="EFFECT,...",
                   help="switch these effects or calibrations off in both profiles: " + ", ".join(EFFECTS + CALIBRATIONS))
    g.add_argument("--hardware-calibration", default=None, choices=CALIBRATION_MODES,
                   help="run a calibration file as an operator calibrates the machine ('operator', the "
                        "default), the same plus the photodiode-crosstalk pre-compensation "
                        "('operator+crosstalk') or as released, uncalibrated ('released')")
    g.add_argument("--readout-noise", type=_A.real(minimum=0.0), default=0.0, metavar="SIGMA",
                   help="Gaussian read-out noise per sample in volts on the evaluation twin (default 0)")
    g.add_argument("--readout-samples", type=_A.positive_int, default=40, help="samples averaged per read-out (paper: 40)")
    g.add_argument("--readout-repeats", type=_A.positive_int, default=1, help="repeats averaged (paper regression: 11)")


def _die(opt: str, exc: BaseException) -> None:
    """A bad calibration file or option: a ValueError naming the option, which the CLI prints as one
    line and exits 2 (a user error), with the original error chained for --traceback."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    raise ValueError(f"argument {opt}: {first}") from exc


def _profile(opt: str, spec: Optional[str], off: List[str], calibration: Optional[str] = None,
             width: Optional[int] = None):
    try:
        return load_profile(spec or "ideal", off, calibration or "operator", width)
    except (FileNotFoundError, HardwareFileError, ValueError, TypeError, ImportError) as exc:
        _die(opt, exc)


def setup(args: argparse.Namespace, model) -> Dict[str, Optional[HardwareTwin]]:
    """Validate the options, attach the training twin to ``model`` and return the twins.

    ``--hardware`` and ``--hardware-off`` are part of the run's settings fingerprint (cli/aoc_train.py),
    so an ideal run's checkpoint is never resumed as a hardware-aware one (and vice versa); the
    evaluation-only options are not, so an evaluation on another twin resumes a finished run."""
    off = [e.strip() for e in (args.hardware_off or "").split(",") if e.strip()]
    for e in off:
        if e not in EFFECTS + CALIBRATIONS:
            _die("--hardware-off", ValueError(f"must name effects among {', '.join(EFFECTS + CALIBRATIONS)}, "
                                              f"got {e!r}"))
    if not args.readout_noise >= 0 or args.readout_samples < 1 or args.readout_repeats < 1:
        _die("--readout-noise", ValueError("--readout-noise must be >= 0, --readout-samples and "
                                           "--readout-repeats >= 1"))
    cal, width = getattr(args, "hardware_calibration", None), getattr(model, "width", None)
    train_hw = HardwareTwin(_profile("--hardware", args.hardware, off, cal, width), unconverged="zero")
    model.hardware = train_hw
    eval_hw = None
    if args.eval_hardware is not None:
        eval_hw = HardwareTwin(_profile("--eval-hardware", args.eval_hardware, off, cal, width),
                               readout_sigma=args.readout_noise, samples=args.readout_samples,
                               repeats=args.readout_repeats, seed=args.seed, unconverged="raise")
    return {"train": train_hw, "eval": eval_hw}


def record_fields(args: argparse.Namespace, twins: Dict) -> Dict:
    """Fields every result record carries: which twin trained the model."""
    return {"trained_on": twins["train"].describe(), "evaluated_on": twins["train"].describe(),
            "hardware": args.hardware or "ideal",
            "hardware_off": args.hardware_off or "",
            "hardware_calibration": getattr(args, "hardware_calibration", None) or "operator"}


def _predict(model, x: torch.Tensor, quant: Optional[str], batch: int = 1000) -> torch.Tensor:
    was = model.training
    model.eval()
    outs = []
    with torch.no_grad(), (model.quantized(quant) if quant else _Null()):
        for i in range(0, len(x), batch):
            outs.append(model(x[i:i + batch]))
    model.train(was)
    return torch.cat(outs)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def eval_records(args, model, xs, ys, regression: bool, quant_mode: str, common: Dict, twins: Dict,
                 dataset: str) -> List[Dict]:
    """Test metrics through the evaluation twin (float, 9-bit) and the 9-bit agreement rate."""
    ev = twins.get("eval")
    if ev is None:
        return []
    recs = []
    train_hw = model.hardware
    preds = {}
    for lv, q in (("float", None), ("9bit", quant_mode)):
        out = {}
        for name, tw in (("train", train_hw), ("eval", ev)):
            model.hardware = tw
            out[name] = _predict(model, xs, q)
        model.hardware = train_hw
        preds[lv] = out
        val = float(((out["eval"] - ys) ** 2).mean()) if regression else \
            float((out["eval"].argmax(1) == ys).float().mean())
        metric = "mse" if regression else "accuracy"
        print(f"{dataset} model {args.model} {lv} on {ev.describe()}: test {metric} = {val:.5f}")
        recs.append({**common, "levels": lv, "split": "test", "value": val, "evaluated_on": ev.describe(),
                     "eval_hardware": args.eval_hardware, "readout_noise_v": args.readout_noise,
                     "readout_samples": args.readout_samples, "readout_repeats": args.readout_repeats})
    if not regression:
        a, b = preds["9bit"]["train"].argmax(1), preds["9bit"]["eval"].argmax(1)
        agree = float((a == b).float().mean())
        print(f"{dataset} model {args.model} 9bit agreement (trained twin vs {ev.describe()}): {agree:.5f}")
        recs.append({**common, "levels": "9bit", "split": "test", "metric": "agreement", "value": agree,
                     "evaluated_on": ev.describe(), "eval_hardware": args.eval_hardware,
                     "readout_noise_v": args.readout_noise, "readout_samples": args.readout_samples,
                     "readout_repeats": args.readout_repeats})
    return recs
