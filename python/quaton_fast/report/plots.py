"""Plot functions on plain arrays; each writes one PNG atomically and returns its path.

Print quality: every PNG is at least :data:`MIN_WIDTH_PX` pixels wide (the resolution is raised
for small figures), and a path ending in ``.pdf`` or ``.svg`` writes a vector file instead.
matplotlib (the ``plot`` extra) is imported lazily with the non-interactive Agg backend.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np

from .._atomic import atomic_path


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("quaton_fast.report needs matplotlib: pip install 'quaton_fast[plot]'") from e
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


MIN_WIDTH_PX = 1200   # a saved PNG is never narrower (print quality)
VECTOR_SUFFIXES = (".pdf", ".svg")


def _save(fig, path: str | os.PathLike, dpi: int) -> str:
    """Write ``fig`` atomically: PNG at ≥ MIN_WIDTH_PX px wide, or vector for .pdf/.svg."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    fmt = suffix[1:] if suffix in VECTOR_SUFFIXES else "png"
    # bbox_inches="tight" crops the margins: size the resolution on the tight box, not the canvas
    fig.canvas.draw()
    tight_w_in = fig.get_tightbbox(fig.canvas.get_renderer()).width
    dpi = max(dpi, math.ceil(MIN_WIDTH_PX / max(tight_w_in, 1e-3)))
    try:
        with atomic_path(path, suffix="." + fmt) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
    finally:
        fig.clf()
        _pyplot().close(fig)
    return str(path)


def _check(func: str, arg: str, a: np.ndarray, ndim: int) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != ndim or a.size == 0:
        raise ValueError(f"{func}(): argument '{arg}' must be a non-empty {ndim}-d array, got shape {a.shape}")
    return a


def plot_phase_masks(phases: np.ndarray, path: str | os.PathLike, *, levels: int | None = None,
                     title: str = "", dpi: int = 150) -> str:
    """``phases`` (L, N, N) hard-quantized mask phases in [0, 2π) (radians), one panel per layer."""
    phases = _check("plot_phase_masks", "phases", phases, 3)
    plt = _pyplot()
    n_layers = len(phases)
    fig, axes = plt.subplots(1, n_layers, figsize=(2.2 * n_layers + 0.6, 2.5), squeeze=False)
    cmap = plt.get_cmap("twilight", levels) if levels else plt.get_cmap("twilight")
    for i, ax in enumerate(axes[0]):
        im = ax.imshow(phases[i], cmap=cmap, vmin=0.0, vmax=2 * math.pi, interpolation="nearest")
        ax.set_title(f"layer {i + 1}", fontsize=9)
        ax.set_xticks([]); ax.set_yticks([])
    cb = fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.02)
    cb.set_label("phase (rad)", fontsize=8)
    fig.suptitle(title or "hard-quantized phase masks", fontsize=10)
    return _save(fig, path, dpi)


def plot_output_intensity(images: np.ndarray, intensity: np.ndarray, boxes: np.ndarray, labels: Sequence[int],
                          predictions: Sequence[int], path: str | os.PathLike, *, dpi: int = 150) -> str:
    """Input ``images`` (K, H, W) above the detector-plane ``intensity`` (K, N, N) with the
    detector ``boxes`` (C, 4) = (row0, col0, rows, cols) drawn: the true class's detector green,
    the predicted one red when the prediction is wrong, the others white (all three in the legend)."""
    images = _check("plot_output_intensity", "images", images, 3)
    intensity = _check("plot_output_intensity", "intensity", intensity, 3)
    boxes = _check("plot_output_intensity", "boxes", boxes, 2)
    if len(images) != len(intensity) or len(labels) != len(images) or len(predictions) != len(images):
        raise ValueError("plot_output_intensity(): arguments 'images', 'intensity', 'labels' and 'predictions' "
                         f"must have the same length, got {len(images)}, {len(intensity)}, {len(labels)}, "
                         f"{len(predictions)}")
    plt = _pyplot()
    from matplotlib.patches import Patch, Rectangle
    k = len(images)
    fig, axes = plt.subplots(2, k, figsize=(2.1 * k, 4.3), squeeze=False)
    for j in range(k):
        axes[0, j].imshow(images[j], cmap="gray")
        axes[0, j].set_title(f"input, class {labels[j]}", fontsize=8)
        axes[1, j].imshow(intensity[j], cmap="inferno")
        for c, (r0, c0, h, w) in enumerate(boxes):
            colour = "lime" if c == labels[j] else ("red" if c == predictions[j] else "white")
            axes[1, j].add_patch(Rectangle((c0 - 0.5, r0 - 0.5), w, h, fill=False, lw=1.0, ec=colour))
        axes[1, j].set_title(f"|u|², predicted {predictions[j]}", fontsize=8)
        for ax in axes[:, j]:
            ax.set_xticks([]); ax.set_yticks([])
    fig.suptitle("input images (top) and detector-plane intensity |u|² of the hard-quantized network (bottom)",
                 fontsize=9)
    handles = [Patch(fill=False, ec="lime", label="detector of the true class"),
               Patch(fill=False, ec="red", label="predicted detector (when wrong)"),
               Patch(fill=False, ec="0.6", label="other class detectors (white)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    return _save(fig, path, dpi)


def plot_confusion(confusion: np.ndarray, path: str | os.PathLike, *, title: str = "", dpi: int = 150) -> str:
    """``confusion`` (C, C) counts, rows = true class, columns = predicted class."""
    cm = _check("plot_confusion", "confusion", confusion, 2).astype(float)
    if cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion(): argument 'confusion' must be square, got shape {cm.shape}")
    plt = _pyplot()
    c = len(cm)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1.0)
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(c):
        for j in range(c):
            if cm[i, j]:
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(c)); ax.set_yticks(range(c))
    ax.set_xlabel("predicted"); ax.set_ylabel("true")
    acc = np.trace(cm) / max(cm.sum(), 1.0)
    ax.set_title(title or f"confusion matrix (accuracy {100 * acc:.2f} %)", fontsize=9)
    return _save(fig, path, dpi)


def plot_phase_histograms(hist: np.ndarray, path: str | os.PathLike, *, levels: int | None = None,
                          epoch_labels: Sequence[str] | None = None, title: str = "", dpi: int = 150) -> str:
    """Progressive quantization: ``hist`` (E, L, bins) counts of each layer's training phase over
    [0, 2π) after each epoch; one row per epoch, one column per layer; level positions dashed."""
    hist = _check("plot_phase_histograms", "hist", hist, 3)
    plt = _pyplot()
    n_epochs, n_layers, bins = hist.shape
    edges = np.linspace(0.0, 2 * math.pi, bins + 1)
    fig, axes = plt.subplots(n_epochs, n_layers, figsize=(1.9 * n_layers + 0.8, 1.1 * n_epochs + 0.8),
                             squeeze=False, sharex=True)
    for e in range(n_epochs):
        for i in range(n_layers):
            ax = axes[e, i]
            ax.bar(edges[:-1], hist[e, i], width=edges[1] - edges[0], align="edge", color="tab:blue")
            if levels:
                for q in np.arange(levels) * 2 * math.pi / levels:
                    ax.axvline(q, color="tab:red", lw=0.6, ls="--")
            ax.tick_params(axis="y", labelsize=6)
            if e == 0:
                ax.set_title(f"layer {i + 1}", fontsize=8)
            if i == 0:
                ax.set_ylabel(epoch_labels[e] if epoch_labels else f"epoch {e + 1}", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlim(0, 2 * math.pi)
        ax.set_xticks([0, math.pi, 2 * math.pi], ["0", "π", "2π"], fontsize=7)
    fig.supxlabel("training phase φ (rad)", fontsize=8)
    fig.supylabel("neurons per bin (one row per epoch)", fontsize=8)
    marks = f"; red dashed: the {levels} quantization levels" if levels else ""
    fig.suptitle((title or "phase histograms per epoch (progressive quantization)") + marks, fontsize=9)
    return _save(fig, path, dpi)


def robustness_curve(curves: dict, path: str | os.PathLike, *, title: str = "", dpi: int = 150) -> str:
    """Accuracy (%) against error size, one line with ±1 s.d. band per entry of ``curves``
    (label -> rows of :func:`quaton_fast.train.robustness.robustness_sweep`, one error kind)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    unit = kind = ""
    for label, rows in curves.items():
        s = np.array([r["size"] for r in rows])
        m = 100 * np.array([r["accuracy_mean"] for r in rows])
        sd = 100 * np.array([r["accuracy_std"] for r in rows])
        ax.plot(s, m, marker="o", label=label)
        ax.fill_between(s, m - sd, m + sd, alpha=0.2)
        unit, kind = rows[0]["unit"], rows[0]["kind"]
    ax.set_xlabel(f"{kind} error size ({unit})")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or f"robustness to {kind} errors")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path, dpi)
