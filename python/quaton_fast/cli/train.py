"""``quaton-fast train``: one D2NN training run (warm-up in FP, then QAT; hard-quantized test).

Works in one process or under ``torchrun`` (DistributedDataParallel: each global batch is
sharded over the ranks, rank 0 writes the files).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
from pathlib import Path

import torch

from .. import distributed as dist
from .._rundir import settings_fingerprint
from ..nn.presets import PRESETS
from ..quant.quantizers import QUANTIZER_NAMES
from ..train.config import RunConfig
from ..train.tasks import TASKS, get_task
from . import _types as _A
from ._types import device, levels as _levels, nonnegative_int as _nonnegative_int, positive as _positive


def _qopt(text: str) -> tuple[str, float | int | bool]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. k=30), got {text!r}")
    key, value = text.split("=", 1)
    if not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a non-empty KEY, got {text!r}")
    for kind in (int, float):
        try:
            v = kind(value)
        except ValueError:
            continue
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number after {key}=, got {value!r}")
        return key, v
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    raise argparse.ArgumentTypeError(f"expected a number or true/false after {key}=, got {value!r}")


#: most wavelength samples / coherent modes one option may ask for (each is a full propagation per layer)
MAX_SAMPLES = 1024


def _wavelengths(text: str) -> list[float]:
    """'L1,L2,...' or 'START:STOP:COUNT' (metres, finite, > 0; at most MAX_SAMPLES values)."""
    positive_m = _A.real(0.0, strict_minimum=True)
    try:
        if ":" in text:
            a, b, k = text.split(":")
            a, b, k = positive_m(a), positive_m(b), _A.integer(1, MAX_SAMPLES)(k)
            vals = [a] if k == 1 else [a + (b - a) * i / (k - 1) for i in range(k)]
        else:
            parts = text.split(",")
            if len(parts) > MAX_SAMPLES:
                raise argparse.ArgumentTypeError(f"at most {MAX_SAMPLES} wavelengths")
            vals = [positive_m(v) for v in parts]
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise argparse.ArgumentTypeError(f"expected wavelengths in metres > 0, 'L1,L2,...' or 'START:STOP:COUNT' "
                                         f"(COUNT 1..{MAX_SAMPLES}), got {text!r} ({e})") from None
    return vals


def _coherence(text: str) -> list[float]:
    """'SIGMA_S,SIGMA_G,MODES': Gaussian Schell-model widths (metres, > 0) and mode count (1..MAX_SAMPLES)."""
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise argparse.ArgumentTypeError("three comma-separated values")
        s = _A.real(0.0, strict_minimum=True)(parts[0])
        g = _A.real(0.0, strict_minimum=True)(parts[1])
        m = _A.integer(1, MAX_SAMPLES)(parts[2])
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"expected SIGMA_S,SIGMA_G,MODES (metres > 0, metres > 0, integer "
                                         f"1..{MAX_SAMPLES}), got {text!r} ({e})") from None
    return [s, g, m]


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = RunConfig()
    p.add_argument("--task", required=True, choices=sorted(TASKS), help="dataset / task")
    p.add_argument("--quantizer", default=d.quantizer, choices=QUANTIZER_NAMES, help="QAT method (default %(default)s)")
    p.add_argument("--levels", type=_levels, default=d.levels, help="phase levels over 2π (default %(default)s)")
    p.add_argument("--qopt", type=_qopt, action="append", default=[], metavar="KEY=VALUE",
                   help="quantizer option, repeatable (e.g. k=30 for psq-ft, alpha=0.2 for dsq)")
    p.add_argument("--preset", default=d.preset, choices=sorted(PRESETS), help="optical setup (default %(default)s)")
    p.add_argument("--neurons", "--n", dest="n", type=_positive(int), default=None,
                   help="neurons per side (default: the preset's); under torchrun write --neurons")
    p.add_argument("--layers", "--num-layers", dest="layers", type=_positive(int), default=None,
                   help="phase layers (Python: num_layers; default: the preset's)")
    p.add_argument("--object-size", type=_positive(int), default=None,
                   help="image size on the grid, px (default: the preset's, at most --neurons)")
    p.add_argument("--pad", type=_positive(int), default=None, help="FFT zero-padding factor (default: the preset's)")
    p.add_argument("--evanescent", choices=("cut", "decay"), default=None,
                   help="evanescent waves: decay (exact) or cut (results recorded before 2026-12 used cut); "
                        "default: the preset's (decay)")
    p.add_argument("--epochs", type=_nonnegative_int, default=d.epochs,
                   help="total epochs, warm-up included (0 with --init-from: evaluate only)")
    p.add_argument("--warmup", type=_nonnegative_int, default=None,
                   help=f"full-precision epochs before QAT (default: {d.warmup}, at most --epochs minus 1)")
    p.add_argument("--batch", type=_positive(int), default=d.batch, help="global batch size")
    p.add_argument("--lr", type=_positive(float), default=d.lr, help="Adam learning rate")
    p.add_argument("--seed", type=_nonnegative_int, default=d.seed,
                   help="seed of the initial phases, the data subset and the batch order")
    p.add_argument("--train-limit", type=_positive(int), default=None,
                   help="train on a seeded random subset of K training images (default: all)")
    p.add_argument("--test-limit", type=_positive(int), default=None, help="smoke runs: test on the first K images (default: all)")
    p.add_argument("--init-from", default=None, metavar="CKPT", help="start from this full-precision checkpoint (default: from scratch)")
    p.add_argument("--snapshot-epochs", type=_positive(int), nargs="*", default=[],
                   help="also keep epoch{K}.pt after these epochs")
    p.add_argument("--n-material", type=_positive(float), default=None,
                   help="refractive index of the mask material for the height export (default: the preset's material, "
                        "1.457 fused silica at 632.8 nm for visible-128)")
    b = p.add_argument_group("broadband / partially coherent light, height-quantized layers (docs/physics.md)")
    b.add_argument("--wavelengths", type=_wavelengths, default=None, metavar="L1,L2,...",
                   help="sample vacuum wavelengths in metres, comma-separated, or START:STOP:COUNT "
                        "(e.g. 550e-9:700e-9:5); trains a SpectralD2NN (default: the preset's one wavelength)")
    b.add_argument("--material", default=None, metavar="MATERIAL",
                   help="relief material: fused-silica, n-bk7, pmma, constant:n[,kappa], cauchy:A,B[,C[,kappa]], "
                        "sellmeier:B1,C1[,...], table:PATH[@nm] (default: constant n-material)")
    b.add_argument("--coherence", type=_coherence, default=None, metavar="SIGMA_S,SIGMA_G,MODES",
                   help="Gaussian Schell-model illumination: rms width and coherence width (m), coherent modes kept "
                        "(default: fully coherent)")
    g = p.add_argument_group("fabrication errors during training (0 = off; docs/fabrication.md)")
    g.add_argument("--fab-phase", type=_A.real(minimum=0.0), default=0.0, metavar="RAD",
                   help="phase error per neuron (rad), drawn at every training step")
    g.add_argument("--fab-shift", type=_A.real(minimum=0.0), default=0.0, metavar="PX",
                   help="lateral misalignment of each layer per axis, in neuron pitches (sub-pixel allowed)")
    g.add_argument("--fab-dz", type=_A.real(minimum=0.0), default=0.0, metavar="M",
                   help="axial spacing error of each gap (m)")
    g.add_argument("--fab-distribution", choices=("uniform", "normal"), default="uniform",
                   help="errors uniform in [-size, size] (default, as Mengu et al. 2020) or normal with s.d. size")
    p.add_argument("--data-root", default=None, help="directory of the dataset files instead of the installed dataset (default: the installed one)")
    p.add_argument("--out", default=None, metavar="RUN_DIR",
                   help="run directory (default: runs/<task>/<quantizer>[-L<levels>]-n<neurons>-layers<L>-seed<S>-<8 hex "
                        "of the settings fingerprint>, so runs with other settings never share a directory)")
    p.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cpu, cuda or cuda:K (default %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue the run directory's checkpoint (only with the settings in its "
                        "settings.json); on a finished run (result.json) nothing is done")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


#: RunConfig field -> the option that sets it (errors name the option, not the field)
FIELD_OPTIONS = {"task": "--task", "quantizer": "--quantizer", "levels": "--levels", "quantizer_options": "--qopt",
                 "preset": "--preset", "n": "--neurons", "layers": "--layers", "object_size": "--object-size",
                 "pad": "--pad", "evanescent": "--evanescent", "epochs": "--epochs", "warmup": "--warmup",
                 "batch": "--batch", "lr": "--lr", "seed": "--seed", "train_limit": "--train-limit",
                 "test_limit": "--test-limit", "init_from": "--init-from", "snapshot_epochs": "--snapshot-epochs",
                 "n_material": "--n-material", "fab_phase": "--fab-phase", "fab_shift": "--fab-shift",
                 "fab_dz": "--fab-dz", "fab_distribution": "--fab-distribution", "wavelengths": "--wavelengths",
                 "material": "--material", "coherence": "--coherence", "data_root": "--data-root",
                 "device": "--device", "out_dir": "--out"}

_INTERNAL_ARG = re.compile(r"\b[A-Za-z_][\w.]*\(\): argument '(\w+)'(?: \((--[\w-]+)\))?")


def option_message(text: str) -> str:
    """``RunConfig(): argument 'warmup' must be ...`` -> ``argument --warmup must be ...``: the
    library names its Python arguments; the command line names its options."""
    def sub(m: re.Match) -> str:
        return f"argument {m.group(2) or FIELD_OPTIONS.get(m.group(1), m.group(1))}"
    return _INTERNAL_ARG.sub(sub, text)


def _as_option_error(e: Exception) -> Exception:
    text = option_message(str(e))
    if text == str(e):
        return e
    try:
        new = type(e)(text)
    except Exception:  # noqa: BLE001 - an exception type with another signature
        new = ValueError(text)
    return new


def default_run_dir(cfg: RunConfig) -> Path:
    """``runs/<task>/<quantizer>[-L<levels>]-n<N>-layers<L>-seed<S>-<fp>``: what distinguishes the run
    in the name, ``fp`` = the first 8 hex digits of the fingerprint of every training setting
    (``settings.json``), so two runs with other settings never meet in one directory and the same
    command finds its own run again (``--resume``)."""
    preset = PRESETS[cfg.preset]
    n = cfg.n if cfg.n is not None else preset.get("n")
    layers = cfg.layers if cfg.layers is not None else preset.get("num_layers")
    levels = "" if cfg.quantizer == "fp" else f"-L{cfg.levels}"
    fp = settings_fingerprint(cfg.training_settings())[:8]
    return Path("runs") / cfg.task / f"{cfg.quantizer}{levels}-n{n}-layers{layers}-seed{cfg.seed}-{fp}"


def config_from_args(args: argparse.Namespace) -> RunConfig:
    cfg = RunConfig(task=args.task, quantizer=args.quantizer, levels=args.levels, quantizer_options=dict(args.qopt),
                    preset=args.preset, n=args.n, layers=args.layers, object_size=args.object_size, pad=args.pad,
                    evanescent=args.evanescent,
                    epochs=args.epochs,
                    warmup=min(RunConfig.warmup, max(args.epochs - 1, 0)) if args.warmup is None else args.warmup,
                    batch=args.batch, lr=args.lr, seed=args.seed,
                    train_limit=args.train_limit, test_limit=args.test_limit, init_from=args.init_from,
                    snapshot_epochs=sorted(set(args.snapshot_epochs)), n_material=args.n_material,
                    fab_phase=args.fab_phase, fab_shift=args.fab_shift, fab_dz=args.fab_dz,
                    fab_distribution=args.fab_distribution, wavelengths=args.wavelengths,
                    material=args.material, coherence=args.coherence,
                    data_root=args.data_root, device=args.device, plots=not args.no_plots)
    if args.quantizer == "fp":
        cfg.warmup = 0  # nothing to warm up for
    try:
        return cfg.validate(tuple(TASKS))
    except (ValueError, TypeError) as e:
        new = _as_option_error(e)
        if new is e:
            raise
        raise new from e


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    cfg = config_from_args(args)  # ValueError/TypeError naming the option: one line from cli.main
    out = Path(args.out) if args.out else default_run_dir(cfg)
    words = sys.argv[1:] if argv is None else argv
    command = "quaton-fast " + " ".join(shlex.quote(w) for w in words)
    distributed = dist.init_from_env()
    try:  # errors go up to quaton_fast.cli.main, which prints one line
        result = get_task(cfg.task).trainer(cfg, get_task(cfg.task), out, resume=args.resume,
                                            progress=not args.no_progress, command=command)
    except (ValueError, TypeError, OSError) as e:
        new = _as_option_error(e)
        if new is e:
            raise
        raise new from e
    finally:
        if distributed and dist.is_initialized():
            torch.distributed.destroy_process_group()
    if dist.is_main_process():
        print(json.dumps(result["records"], indent=1))
        if result.get("already_finished"):
            print(f"{out / 'result.json'} already holds this run's result (command: {result.get('command', '?')}); "
                  f"nothing was trained or written")
        else:
            print(f"wrote {out / 'result.json'}")
    return 0
