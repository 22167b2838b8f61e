"""Robustness of a trained D2NN to fabrication errors: accuracy against the size of one error kind.

For each size, ``draws`` devices are "fabricated": one realisation of the errors (drawn with the
network's :class:`~quaton_fast.nn.fabrication_errors.FabricationErrors` rules, seeded per draw) is
frozen and the whole test set is classified through it with the hard-quantized masks. The result
is the mean, standard deviation and per-draw accuracies per size, so that the robustness of a
design is one curve (``quaton-fast robustness RUN_DIR --kind shift --sizes 0,0.25,0.5,1``).

Kinds and units: ``phase`` (rad, per neuron), ``shift`` (neuron pitches, per layer and axis),
``dz`` (metres, per gap). ``distribution``: 'uniform' (each error in [−size, size]) or 'normal'.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_write_json
from .._safe_json import read_json
from .._validation import fail, finite_real, positive_int
from ..nn.fabrication_errors import FabricationErrors

__all__ = ["KINDS", "robustness_sweep", "robustness_of_run"]

#: error kind -> (FabricationErrors field, unit of the sizes given here)
KINDS = {"phase": ("phase", "rad"), "shift": ("shift", "pitch"), "dz": ("dz", "m")}


def _accuracy(net, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    correct = torch.zeros((), dtype=torch.int64, device=y.device)
    with torch.no_grad():
        for s in range(0, len(x), batch):
            u = net.encode(x[s:s + batch], validate=False)
            correct += (net(u).argmax(dim=-1) == y[s:s + batch]).sum()
    return float(correct) / len(x)          # one host read per evaluation


def robustness_sweep(net, images: torch.Tensor, labels: torch.Tensor, *, kind: str, sizes, draws: int = 5,
                     seed: int = 0, distribution: str = "uniform", batch: int = 250) -> list[dict]:
    """Accuracy of ``net`` (a trained :class:`~quaton_fast.nn.D2NN`, evaluated with hard-quantized
    masks) on ``images`` (B, H, W) in [0, 1] / ``labels`` (B,) under fabrication errors of one
    ``kind`` ('phase' | 'shift' | 'dz') for each of ``sizes`` (units in :data:`KINDS`).

    Returns one dict per size: ``size``, ``unit``, ``accuracy_mean``, ``accuracy_std``, ``per_draw``.
    Size 0 gives the error-free accuracy (every draw identical). Raises ValueError/TypeError
    naming the argument."""
    func = "robustness_sweep"
    if kind not in KINDS:
        fail(func, "kind", f"one of {sorted(KINDS)}", repr(kind))
    sizes = [finite_real(func, "sizes", s, nonnegative=True) for s in sizes]
    if not sizes:
        fail(func, "sizes", "at least one size", "an empty list")
    draws = positive_int(func, "draws", draws)
    seed = positive_int(func, "seed", seed, minimum=0)
    from ..encode import check_images
    check_images(images, func)
    device = next(net.parameters()).device
    x, y = images.to(device), labels.to(device)
    field, unit = KINDS[kind]
    was_training = net.training
    net.eval()
    out = []
    try:
        for size in sizes:
            accs = []
            for d in range(draws if size > 0 else 1):
                metres = size * net.dx if kind == "shift" else size
                fe = FabricationErrors(**{field: metres}, distribution=distribution)
                gen = torch.Generator(device=device).manual_seed(seed * 1_000_003 + d)
                net.use_sampled_errors(fe.sample(len(net.layers), net.n, device=device, generator=gen))
                accs.append(_accuracy(net, x, y, batch))
            net.use_sampled_errors(None)
            a = np.asarray(accs)
            out.append({"kind": kind, "size": size, "unit": unit, "distribution": distribution,
                        "draws": len(accs), "accuracy_mean": float(a.mean()), "accuracy_std": float(a.std()),
                        "per_draw": [float(v) for v in a]})
    finally:
        net.use_sampled_errors(None)
        net.train(was_training)
    return out


def robustness_of_run(run_dir: str | os.PathLike, *, kind: str, sizes, draws: int = 5, seed: int = 0,
                      distribution: str = "uniform", device: str = "cpu", plot: bool = True,
                      command: str | None = None, out_dir: str | os.PathLike | None = None) -> dict:
    """Load the trained network of a finished ``quaton-fast train`` classification run (its
    ``checkpoint.pt`` and ``result.json``), sweep one error kind on the run's test set, write
    ``robustness_<kind>.json`` (and ``robustness_<kind>.png``) into ``out_dir`` (default
    ``<run_dir>/figures``, beside the run's other figures), atomically. The returned report holds
    the paths written (``json``, ``figure``). Raises FileNotFoundError/ValueError naming the run
    directory."""
    from .config import RunConfig
    from .run_classify import build_model
    from .stages import finish_stages, resume_run
    from .tasks import get_task
    func = "robustness_of_run"
    run = Path(run_dir)
    ckpt, res = run / "checkpoint.pt", run / "result.json"
    for f in (ckpt, res):
        if not f.is_file():
            raise FileNotFoundError(f"{func}(): argument 'run_dir' ({run}) must hold a finished classification "
                                    f"run (checkpoint.pt and result.json of `quaton-fast train`); {f.name} is missing")
    result = read_json(func, res, nonfinite=True, expect=dict)
    cfg = RunConfig.from_dict(result["config"])
    cfg.device = device
    task = get_task(cfg.task)
    if getattr(task, "kind", "classify") != "classify":
        fail(func, "run_dir", "a classification run", f"task {cfg.task!r} in {run}")
    data = task.load(cfg)
    net = build_model(cfg, data.num_classes).to(device)
    net.set_fabrication_errors(None)             # the sweep draws its own errors
    state = resume_run(ckpt, cfg, net, lambda m: torch.optim.Adam(m.parameters(), lr=cfg.lr),
                       torch.device(device), func)
    finish_stages(cfg, net, state, torch.device(device))   # as the run did before its test (e.g. PQ)
    x = torch.as_tensor(data.test_x, dtype=torch.float32)
    y = torch.as_tensor(data.test_y, dtype=torch.int64)
    rows = robustness_sweep(net, x, y, kind=kind, sizes=sizes, draws=draws, seed=seed,
                            distribution=distribution)
    cmd = command or "quaton-fast " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    trained = {k: getattr(cfg, k) for k in ("fab_phase", "fab_shift", "fab_dz", "fab_distribution")}
    report = {"run_dir": str(run), "task": cfg.task, "method": result.get("method"), "levels": result.get("levels"),
              "trained_with_errors": trained, "n_test": int(len(x)), "command": cmd, "rows": rows}
    out = run / "figures" if out_dir is None else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(report, out / f"robustness_{kind}.json")
    report["json"] = str(out / f"robustness_{kind}.json")
    if plot:
        from ..report.plots import robustness_curve
        report["figure"] = robustness_curve({str(run.name): rows}, out / f"robustness_{kind}.png")
    return report
