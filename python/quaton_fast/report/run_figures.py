"""The figures of one classification run, drawn from the trained (hard-quantized) network."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .plots import plot_confusion, plot_output_intensity, plot_phase_histograms, plot_phase_masks


@torch.no_grad()
def write_run_figures(net, data, confusion, phase_hist, cfg, out_dir: str | os.PathLike,
                      examples: int = 4, init_hist=None) -> dict[str, str]:
    """Write masks.png, output_intensity.png, confusion.png and phase_histograms.png (the last
    only when epochs were trained) into ``out_dir``; returns {name: path}.

    net: a D2NN (its readout must have detector ``boxes``); data: ClassificationData;
    confusion: (C, C) counts; phase_hist: (E, L, bins) counts per epoch; init_hist: (L, bins)
    of the checkpoint the run started from (drawn as the first row), or None."""
    out = Path(out_dir)
    levels = None if cfg.quantizer == "fp" else cfg.levels
    method = cfg.quantizer.upper()
    paths = {"masks": plot_phase_masks(net.hard_quantized_phases().cpu().numpy(), out / "masks.png", levels=levels,
                                       title=f"{method} masks, {levels or 'continuous'} levels")}
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    # the first test image of each of the first `examples` classes
    picks = [int(torch.nonzero(data.test_y == c)[0]) for c in range(examples) if bool((data.test_y == c).any())]
    x = data.test_x[picks]
    if hasattr(net, "band_intensity"):   # SpectralD2NN: Σ_w p_w I_w (and Σ over coherent modes)
        intensity = net.band_intensity(net.encode(x.to(device))).cpu().numpy()
    else:
        u = net.output_field(net.encode(x.to(device)))
        intensity = (u.real ** 2 + u.imag ** 2).cpu().numpy()
    pred = net(net.encode(x.to(device))).argmax(-1).cpu().tolist()
    net.train(was_training)
    paths["output_intensity"] = plot_output_intensity(x.numpy(), intensity, np.asarray(net.readout.boxes),
                                                      data.test_y[picks].tolist(), pred,
                                                      out / "output_intensity.png")
    paths["confusion"] = plot_confusion(np.asarray(confusion), out / "confusion.png",
                                        title=f"{method} ({levels or 'FP'} levels): confusion on the test set")
    if phase_hist:
        labels = [f"ep {h['epoch']} {h['stage']}" for h in _history_labels(cfg, len(phase_hist))]
        hist = np.asarray(([init_hist] if init_hist is not None else []) + list(phase_hist))
        if init_hist is not None:
            labels = ["start (FP)"] + labels
        paths["phase_histograms"] = plot_phase_histograms(hist, out / "phase_histograms.png", levels=levels,
                                                          epoch_labels=labels,
                                                          title=f"{method}: training phases per epoch")
    return paths


def _history_labels(cfg, n: int) -> list[dict]:
    quantize = cfg.quantizer != "fp"
    return [{"epoch": e + 1, "stage": "qat" if quantize and e >= cfg.warmup else "fp"} for e in range(n)]
