"""Broadband height-quantized D2NN as a single-detector spectral filter and a two-band demultiplexer
(issue 28, item 4; a SHORT CPU study, not the issue's full programme).

Set-up (CPU, about a minute per configuration): a plane wave over the central 16×16 px of a 32×32
grid (pitch 0.5 µm), 8 sample vacuum wavelengths 500–710 nm (uniform spectrum), 3 fused-silica
relief layers in vacuum (heights quantized; λ_ref = 590 nm), 8 µm between planes. Detectors: 4×4 px.

* filter: one detector at the centre; pass band = the samples 590 and 620 nm. Loss
  ``−log η_in + 4·η_out/η_in`` with η the detector energy / input energy averaged over the in-band
  / out-of-band samples. Metric: η_in, η_out, contrast η_in/η_out of the hard (fabricated) masks.
* demux: two detectors left/right of centre; band A = 500–560 nm → detector 0, band B =
  650–710 nm → detector 1. Metric: the worst of the two "right detector share" ratios
  E_right/(E_0 + E_1) over the bands' samples (1 = perfect routing, 0.5 = none).

Flow per quantizer: full precision for STEPS_FP Adam steps (lr 0.05), then the quantizer for
STEPS_QAT steps (PQ: none, post-training rounding), evaluated with hard height levels.
Run: ``OMP_NUM_THREADS=1 python benchmarks/studies/broadband/spectral_filter.py [--out FILE]``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np
import torch

from quaton_fast import quant
from quaton_fast.nn import SpectralD2NN
from quaton_fast.quant.quantizers import make_quantizer
from quaton_fast.reference.materials import named_material

torch.set_num_threads(1)
N, DX, LAYERS, Z = 32, 0.5e-6, 3, 8e-6
WL = [500e-9 + 30e-9 * i for i in range(8)]
STEPS_FP, STEPS_QAT, LR = 150, 100, 0.05
LEVELS = (2, 4, 8)
METHODS = ("pq", "ste", "psq-ft")


def _input(dtype=torch.complex64):
    u = torch.zeros(1, N, N, dtype=dtype)
    o = (N - 16) // 2
    u[:, o:o + 16, o:o + 16] = 1.0
    return u


def build(task: str) -> SpectralD2NN:
    c = N // 2
    boxes = [[c - 2, c - 2, 4, 4]] if task == "filter" else [[c - 2, c - 10, 4, 4], [c - 2, c + 6, 4, 4]]
    return SpectralD2NN(n=N, dx=DX, wavelengths=WL, num_layers=LAYERS, z_in=Z, dz=Z, z_out=Z,
                        material=named_material("fused-silica"), reference_wavelength=590e-9,
                        quantizer=quant.FullPrecision(), readout="intensity", boxes=boxes,
                        num_classes=len(boxes), seed=0, evanescent="decay")


def metrics(net: SpectralD2NN, task: str) -> dict:
    u = _input()
    e = net.detectors.energies_per_wavelength(net(u))[0] * len(WL)   # (C, W): p_w = 1/W undone
    e_in = float((u.abs() ** 2).sum())
    e = e / e_in
    spectrum = e.detach().tolist()          # (C, W) detector energy / input energy, per sample
    if task == "filter":
        band = torch.tensor([i in (3, 4) for i in range(len(WL))])   # 590 and 620 nm
        eta_in, eta_out = e[0, band].mean(), e[0, ~band].mean()
        return {"eta_in": float(eta_in), "eta_out": float(eta_out), "contrast": float(eta_in / eta_out),
                "spectrum": spectrum, "loss": -torch.log(eta_in) + 4 * eta_out / eta_in}
    share = e / e.sum(0, keepdim=True).clamp_min(1e-30)
    a, b = share[0, :3], share[1, 5:]
    worst = torch.minimum(a.min(), b.min())
    return {"share_a": float(a.mean()), "share_b": float(b.mean()), "worst_share": float(worst),
            "efficiency": float(e.sum(0).mean()), "spectrum": spectrum,
            "loss": -(torch.log(a).mean() + torch.log(b).mean()) - 0.1 * torch.log(e.sum(0).mean())}


def train(net: SpectralD2NN, task: str, steps: int) -> None:
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    for epoch in range(steps):
        net.set_epoch(epoch * 10 // max(steps, 1))
        opt.zero_grad()
        loss = metrics(net, task)["loss"] + net.regularization()
        loss.backward()
        opt.step()


def hard(net: SpectralD2NN, task: str) -> dict:
    net.eval()
    with torch.no_grad():
        m = metrics(net, task)
    m.pop("loss")
    return m


def plot(records, masks, path) -> None:
    """Spectra (hard masks, 4 height levels vs FP) of both tasks and the PSQ-FT 4-level filter masks."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2 + len(masks), figsize=(4 * (2 + len(masks)), 3.4))
    nm = [w * 1e9 for w in WL]
    for a, task in zip(ax[:2], ("filter", "demux")):
        for r in records:
            if r["task"] == task and r["levels"] in (None, 4):
                for c, spec in enumerate(r["spectrum"]):
                    a.plot(nm, spec, marker="o", ls="-" if c == 0 else "--",
                           label=f"{r['method']}{'' if r['levels'] is None else ' L4'}" + (f" det {c}" if task == "demux" else ""))
        a.set_xlabel("vacuum wavelength (nm)")
        a.set_ylabel("detector energy / input energy")
        a.set_title(task)
        a.legend(fontsize=6)
    for i, (a, h) in enumerate(zip(ax[2:], masks)):
        im = a.imshow(h * 1e9, cmap="viridis")
        a.set_title(f"filter PSQ-FT L4: layer {i} height (nm)", fontsize=8)
        fig.colorbar(im, ax=a, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--figure", default=None, help="PNG of the spectra and masks")
    ap.add_argument("--tasks", default="filter,demux")
    args = ap.parse_args(argv)
    records, masks = [], []
    t0 = time.time()
    for task in args.tasks.split(","):
        torch.manual_seed(0)
        fp = build(task)
        train(fp, task, STEPS_FP)
        records.append({"task": task, "method": "FP", "levels": None, **hard(fp, task)})
        print(records[-1], flush=True)
        state = fp.state_dict()
        for levels in LEVELS:
            for method in METHODS:
                net = build(task)
                net.load_state_dict(state)
                net.switch_quantizer(make_quantizer(method, levels))
                if method != "pq":
                    train(net, task, STEPS_QAT)
                records.append({"task": task, "method": method.upper(), "levels": levels, **hard(net, task)})
                if task == "filter" and method == "psq-ft" and levels == 4:
                    masks = list(net.fabrication_heights().numpy())
                print(records[-1], flush=True)
    out = {"study": "broadband spectral filter / demultiplexer (issue 28, short CPU study)",
           "command": "OMP_NUM_THREADS=1 python benchmarks/studies/broadband/spectral_filter.py "
                      + " ".join(sys.argv[1:] if argv is None else argv),
           "setup": {"n": N, "dx_m": DX, "layers": LAYERS, "z_m": Z, "wavelengths_m": WL, "material": "fused-silica",
                     "medium": "vacuum", "reference_wavelength_m": 590e-9, "steps_fp": STEPS_FP,
                     "steps_qat": STEPS_QAT, "lr": LR, "optimizer": "Adam"},
           "device": f"CPU ({platform.processor() or platform.machine()}), 1 thread, torch {torch.__version__}",
           "seconds": round(time.time() - t0, 1), "records": records}
    if args.figure:
        plot(records, masks, args.figure)
        out["figure"] = args.figure
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
